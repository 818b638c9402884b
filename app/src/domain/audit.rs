//! The audit log: who did what, when, from where. It never holds a secret;
//! entries carry identifiers and names only.

use super::clock::Timestamp;
use super::store::Db;
use super::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SignIn,
    SignInFailed,
    SignOut,
    UserCreated,
    ApplicationRegistered,
    ApplicationEdited,
    SecretRevealed,
    ApplicationRemoved,
    PermissionAdded,
    PermissionDescribed,
    AuthorizationGranted,
    AuthorizationDenied,
    AuthorizationCodeReplayed,
    ConsentRevoked,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::SignInFailed => "sign_in_failed",
            Self::SignOut => "sign_out",
            Self::UserCreated => "user_created",
            Self::ApplicationRegistered => "application_registered",
            Self::ApplicationEdited => "application_edited",
            Self::SecretRevealed => "secret_revealed",
            Self::ApplicationRemoved => "application_removed",
            Self::PermissionAdded => "permission_added",
            Self::PermissionDescribed => "permission_described",
            Self::AuthorizationGranted => "authorization_granted",
            Self::AuthorizationDenied => "authorization_denied",
            Self::AuthorizationCodeReplayed => "authorization_code_replayed",
            Self::ConsentRevoked => "consent_revoked",
        }
    }
}

/// Who acted: a signed-in user, or someone who only typed an email.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<String>,
    pub label: String,
    pub address: String,
}

#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub at: Timestamp,
    pub domain_id: Option<&'a str>,
    pub actor: &'a Actor,
    pub action: Action,
    pub target: Option<&'a str>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Record {
    pub id: i64,
    pub at: Timestamp,
    pub domain_id: Option<String>,
    pub actor_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub address: String,
}

pub async fn record<'c, E>(executor: E, entry: Entry<'_>) -> Result<()>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO audit_log (at, domain_id, actor_id, actor, action, target, address) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(entry.at)
    .bind(entry.domain_id)
    .bind(entry.actor.user_id.as_deref())
    .bind(&entry.actor.label)
    .bind(entry.action.as_str())
    .bind(entry.target)
    .bind(&entry.actor.address)
    .execute(executor)
    .await?;
    Ok(())
}

/// Newest first; `domain_id` of `None` reads every domain.
pub async fn recent(db: &Db, domain_id: Option<&str>, limit: i64) -> Result<Vec<Record>> {
    Ok(sqlx::query_as(
        "SELECT id, at, domain_id, actor_id, actor, action, target, address FROM audit_log \
         WHERE ($1 IS NULL OR domain_id = $1) ORDER BY id DESC LIMIT $2",
    )
    .bind(domain_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}
