//! The applications a user has given access to, and taking that access
//! back: the consent, the codes not yet exchanged, the refresh tokens, and
//! the access tokens issued on the user's behalf.

use super::super::access::Access;
use super::super::accounts::User;
use super::super::audit::Action;
use super::super::clock::Timestamp;
use super::super::ids::ApplicationId;
use super::super::{Error, Keyport, Result};

/// An application the user has given access to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Connection {
    pub application_id: ApplicationId,
    pub name: String,
    pub website_url: String,
    pub domain_name: String,
    pub icon_type: Option<String>,
    pub updated_at: Timestamp,
    pub scope: String,
    pub granted_at: Timestamp,
}

impl Keyport {
    /// The applications `user` has given access to, by name.
    pub async fn connections(&self, user: &User) -> Result<Vec<Connection>> {
        Ok(sqlx::query_as(
            "SELECT a.id AS application_id, a.name, a.website_url, d.name AS domain_name, \
             a.icon_type, a.updated_at, c.scope, c.granted_at \
             FROM consents c JOIN applications a ON a.id = c.application_id \
             JOIN domains d ON d.id = a.domain_id WHERE c.user_id = $1 ORDER BY lower(a.name)",
        )
        .bind(&user.id)
        .fetch_all(&self.db.pool)
        .await?)
    }

    /// Forgets `user`'s consent for an application and revokes the tokens
    /// issued to it on their behalf that are still valid.
    pub async fn disconnect(&self, access: &Access, application_id: &str) -> Result<()> {
        let (actor, user) = (access.actor(), access.person()?);
        if !super::super::validate::storable(application_id) {
            return Err(Error::NotFound);
        }
        let now = self.now();
        let mut tx = self.db.write().await?;
        let app: Option<(String, String, String)> = sqlx::query_as(
            "SELECT a.name, a.client_id, a.domain_id FROM consents c \
             JOIN applications a ON a.id = c.application_id \
             WHERE c.user_id = $1 AND c.application_id = $2",
        )
        .bind(&user.id)
        .bind(application_id)
        .fetch_optional(&mut *tx)
        .await?;
        let (name, client_id, domain_id) = app.ok_or(Error::NotFound)?;
        sqlx::query("DELETE FROM consents WHERE user_id = $1 AND application_id = $2")
            .bind(&user.id)
            .bind(application_id)
            .execute(&mut *tx)
            .await?;
        // A code handed out before and not yet exchanged would otherwise
        // still buy a token after this.
        sqlx::query(
            "DELETE FROM authorization_codes WHERE user_id = $1 AND application_id = $2 \
             AND used_at IS NULL",
        )
        .bind(&user.id)
        .bind(application_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, expires_at) SELECT token_id, token_expires_at \
             FROM authorization_codes WHERE user_id = $1 AND application_id = $2 \
             AND token_id IS NOT NULL AND token_expires_at > $3 ON CONFLICT (jti) DO NOTHING",
        )
        .bind(&user.id)
        .bind(application_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        super::revoke_families(
            &mut tx,
            super::Families::Connection {
                user_id: &user.id,
                application_id,
            },
            now,
        )
        .await?;
        super::super::audit::record(
            &mut tx,
            super::super::audit::Entry {
                at: now,
                domain_id: Some(&domain_id),
                actor,
                action: Action::ConsentRevoked,
                target: Some(&format!("{name} ({client_id})")),
                client_id: Some(&client_id),
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
