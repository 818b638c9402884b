//! The audit log: who did what, when, from where. It never holds a secret;
//! entries carry identifiers and names only.

use super::clock::Timestamp;
use super::ids::UserId;
use super::store::{Db, Write};
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
    ApiCreated,
    AuthorizationGranted,
    AuthorizationDenied,
    AuthorizationCodeReplayed,
    ConsentRevoked,
    RefreshTokenReused,
    SecretRotated,
    SecretRetired,
    ApplicationRestored,
    ApplicationPurged,
    ApplicationTransferred,
    UserRoleChanged,
    UserDisabled,
    UserEnabled,
    PasswordLinkIssued,
    PasswordSet,
    UserMoved,
    DomainCreated,
    DomainRenamed,
    DomainLimitChanged,
    DomainDeleted,
    RegistrationTokenCreated,
    RegistrationTokenRevoked,
    OpenRegistrationChanged,
    FactorEnrolled,
    FactorRemoved,
    FactorsReset,
    RecoveryCodesGenerated,
    RecoveryCodeUsed,
    SecondFactorFailed,
    StepUp,
    MfaPolicyChanged,
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
            Self::ApiCreated => "api_created",
            Self::AuthorizationGranted => "authorization_granted",
            Self::AuthorizationDenied => "authorization_denied",
            Self::AuthorizationCodeReplayed => "authorization_code_replayed",
            Self::ConsentRevoked => "consent_revoked",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::SecretRotated => "secret_rotated",
            Self::SecretRetired => "secret_retired",
            Self::ApplicationRestored => "application_restored",
            Self::ApplicationPurged => "application_purged",
            Self::ApplicationTransferred => "application_transferred",
            Self::UserRoleChanged => "user_role_changed",
            Self::UserDisabled => "user_disabled",
            Self::UserEnabled => "user_enabled",
            Self::PasswordLinkIssued => "password_link_issued",
            Self::PasswordSet => "password_set",
            Self::UserMoved => "user_moved",
            Self::DomainCreated => "domain_created",
            Self::DomainRenamed => "domain_renamed",
            Self::DomainLimitChanged => "domain_limit_changed",
            Self::DomainDeleted => "domain_deleted",
            Self::RegistrationTokenCreated => "registration_token_created",
            Self::RegistrationTokenRevoked => "registration_token_revoked",
            Self::OpenRegistrationChanged => "open_registration_changed",
            Self::FactorEnrolled => "factor_enrolled",
            Self::FactorRemoved => "factor_removed",
            Self::FactorsReset => "factors_reset",
            Self::RecoveryCodesGenerated => "recovery_codes_generated",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::SecondFactorFailed => "second_factor_failed",
            Self::StepUp => "step_up",
            Self::MfaPolicyChanged => "mfa_policy_changed",
        }
    }

    pub const ALL: [Self; 42] = [
        Self::SignIn,
        Self::SignInFailed,
        Self::SignOut,
        Self::StepUp,
        Self::SecondFactorFailed,
        Self::FactorEnrolled,
        Self::FactorRemoved,
        Self::RecoveryCodesGenerated,
        Self::RecoveryCodeUsed,
        Self::FactorsReset,
        Self::MfaPolicyChanged,
        Self::UserCreated,
        Self::UserRoleChanged,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::PasswordLinkIssued,
        Self::PasswordSet,
        Self::UserMoved,
        Self::DomainCreated,
        Self::DomainRenamed,
        Self::DomainLimitChanged,
        Self::DomainDeleted,
        Self::ApplicationRegistered,
        Self::ApplicationEdited,
        Self::SecretRevealed,
        Self::SecretRotated,
        Self::SecretRetired,
        Self::ApplicationRemoved,
        Self::ApplicationRestored,
        Self::ApplicationPurged,
        Self::ApplicationTransferred,
        Self::PermissionAdded,
        Self::PermissionDescribed,
        Self::ApiCreated,
        Self::RegistrationTokenCreated,
        Self::RegistrationTokenRevoked,
        Self::OpenRegistrationChanged,
        Self::AuthorizationGranted,
        Self::AuthorizationDenied,
        Self::AuthorizationCodeReplayed,
        Self::ConsentRevoked,
        Self::RefreshTokenReused,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// Who acted: a signed-in user, or someone who only typed an email.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<UserId>,
    pub label: String,
    pub address: String,
}

impl Actor {
    /// `user`, asking from `address`.
    pub fn of(user: &super::accounts::User, address: String) -> Self {
        Self {
            user_id: Some(user.id.clone()),
            label: user.email.clone(),
            address,
        }
    }

    /// The operator at the server's command line.
    pub fn command_line() -> Self {
        Self {
            user_id: None,
            label: "cli".into(),
            address: "cli".into(),
        }
    }

    /// Keyport itself, for what happens on a schedule (a grace period
    /// ending, a purge).
    pub fn keyport() -> Self {
        Self {
            user_id: None,
            label: "keyport".into(),
            address: "-".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub at: Timestamp,
    pub domain_id: Option<&'a str>,
    pub actor: &'a Actor,
    pub action: Action,
    pub target: Option<&'a str>,
    /// The application concerned, by client ID.
    pub client_id: Option<&'a str>,
    /// What else there is to say (a grace period, a new role); never a secret.
    pub detail: Option<&'a str>,
}

impl<'a> Entry<'a> {
    /// An entry about `target` (a user, a domain) in `domain_id`, not about
    /// an application.
    pub fn about(
        at: Timestamp,
        domain_id: &'a str,
        actor: &'a Actor,
        action: Action,
        target: &'a str,
        detail: Option<&'a str>,
    ) -> Self {
        Self {
            at,
            domain_id: Some(domain_id),
            actor,
            action,
            target: Some(target),
            client_id: None,
            detail,
        }
    }
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
    pub client_id: Option<String>,
    pub detail: Option<String>,
}

/// Adds an entry, as part of the write it records.
pub async fn record(tx: &mut Write, entry: Entry<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, domain_id, actor_id, actor, action, target, address, client_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(entry.at)
    .bind(entry.domain_id)
    .bind(entry.actor.user_id.as_deref())
    .bind(&entry.actor.label)
    .bind(entry.action.as_str())
    .bind(entry.target)
    .bind(&entry.actor.address)
    .bind(entry.client_id)
    .bind(entry.detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Which entries to read. Every filter is optional; `before` pages back
/// from an entry id (keyset paging: each page costs the same however deep).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `None` reads every domain (super admins).
    pub domain_id: Option<String>,
    /// An email: the entries of that user, and of anyone who typed it.
    pub actor: Option<String>,
    pub action: Option<Action>,
    pub client_id: Option<String>,
    /// Inclusive lower and exclusive upper bound, Unix seconds.
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub before: Option<i64>,
}

/// Filters as a form or query string sends them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Typed<'a> {
    pub actor: Option<&'a str>,
    pub action: Option<&'a str>,
    pub client_id: Option<&'a str>,
    /// `YYYY-MM-DD`, inclusive.
    pub from: Option<&'a str>,
    /// `YYYY-MM-DD`, inclusive.
    pub until: Option<&'a str>,
}

impl Filter {
    /// Reads typed filters; every field that does not parse is named.
    pub fn parse(domain_id: Option<String>, typed: Typed<'_>, before: Option<i64>) -> Result<Self> {
        use super::{Error, Invalid};
        use crate::time::parse_day;

        let text = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let mut problems = Vec::new();
        let mut day = |field: &'static str, value: Option<String>| {
            let value = value?;
            let parsed = parse_day(&value);
            if parsed.is_none() {
                problems.push(Invalid::new(field, "Enter a date as YYYY-MM-DD."));
            }
            parsed
        };
        let from = day("from", text(typed.from));
        let until = day("until", text(typed.until)).map(|d| d + 86_400);
        let action = text(typed.action).and_then(|a| {
            let parsed = Action::parse(&a);
            if parsed.is_none() {
                // Named back, but never more of it than a real one is long.
                let shown: String = a.chars().take(40).collect();
                let more = if shown.len() < a.len() { "…" } else { "" };
                problems.push(Invalid::new(
                    "action",
                    format!("There is no action \u{201c}{shown}{more}\u{201d}."),
                ));
            }
            parsed
        });
        if let (Some(from), Some(until)) = (from, until) {
            if until <= from {
                problems.push(Invalid::new(
                    "until",
                    "The end date is before the start date.",
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        Ok(Self {
            domain_id,
            actor: text(typed.actor),
            action,
            client_id: text(typed.client_id),
            from,
            until,
            before,
        })
    }
}

const COLUMNS: &str =
    "id, at, domain_id, actor_id, actor, action, target, address, client_id, detail";

/// The entry ids a filter's times and page cover, highest and lowest
/// (`None`: no entry can match). Times become id bounds through the
/// (at, id) index: ids grow with time, so the search walks one index
/// backwards from its upper bound and stops after `limit` rows. (`before`
/// comes from a query string: i64::MIN is a number too.)
async fn id_bounds(db: &Db, filter: &Filter) -> Result<Option<(Option<i64>, Option<i64>)>> {
    let mut upper = filter.before.map(|id| id.saturating_sub(1));
    let mut lower = None;
    if let Some(until) = filter.until {
        let last: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM audit_log WHERE at < $1 ORDER BY at DESC, id DESC LIMIT 1",
        )
        .bind(until)
        .fetch_optional(&db.pool)
        .await?;
        let Some(last) = last else {
            return Ok(None);
        };
        upper = Some(upper.map_or(last, |u| u.min(last)));
    }
    if let Some(from) = filter.from {
        let first: Option<i64> =
            sqlx::query_scalar("SELECT id FROM audit_log WHERE at >= $1 ORDER BY at, id LIMIT 1")
                .bind(from)
                .fetch_optional(&db.pool)
                .await?;
        let Some(first) = first else {
            return Ok(None);
        };
        lower = Some(first);
    }
    Ok(Some((upper, lower)))
}

/// Newest first, at most `limit` entries.
pub async fn search(db: &Db, filter: &Filter, limit: i64) -> Result<Vec<Record>> {
    // No entry names what the database cannot store.
    let texts = [filter.actor.as_deref(), filter.client_id.as_deref()];
    if !texts.into_iter().flatten().all(super::validate::storable) {
        return Ok(Vec::new());
    }
    let Some((upper, lower)) = id_bounds(db, filter).await? else {
        return Ok(Vec::new());
    };
    let actor_ids: Vec<String> = match &filter.actor {
        Some(email) => {
            sqlx::query_scalar("SELECT id FROM users WHERE lower(email) = lower($1)")
                .bind(email)
                .fetch_all(&db.pool)
                .await?
        }
        None => Vec::new(),
    };
    let mut sql = format!("SELECT {COLUMNS} FROM audit_log WHERE 1 = 1");
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if filter.domain_id.is_some() {
        sql += &format!(" AND domain_id = {}", next());
    }
    if filter.actor.is_some() {
        let label = next();
        match actor_ids.first() {
            Some(_) => sql += &format!(" AND (actor = {label} OR actor_id = {})", next()),
            None => sql += &format!(" AND actor = {label}"),
        }
    }
    if filter.action.is_some() {
        sql += &format!(" AND action = {}", next());
    }
    if filter.client_id.is_some() {
        sql += &format!(" AND client_id = {}", next());
    }
    if upper.is_some() {
        sql += &format!(" AND id <= {}", next());
    }
    if lower.is_some() {
        sql += &format!(" AND id >= {}", next());
    }
    sql += &format!(" ORDER BY id DESC LIMIT {}", next());
    let mut query = sqlx::query_as(&sql);
    if let Some(domain) = &filter.domain_id {
        query = query.bind(domain);
    }
    if let Some(actor) = &filter.actor {
        query = query.bind(actor);
        if let Some(id) = actor_ids.first() {
            query = query.bind(id);
        }
    }
    if let Some(action) = filter.action {
        query = query.bind(action.as_str());
    }
    if let Some(client_id) = &filter.client_id {
        query = query.bind(client_id);
    }
    if let Some(upper) = upper {
        query = query.bind(upper);
    }
    if let Some(lower) = lower {
        query = query.bind(lower);
    }
    Ok(query.bind(limit).fetch_all(&db.pool).await?)
}
