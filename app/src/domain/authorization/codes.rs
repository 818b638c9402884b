//! Authorization codes: 256 random bits handed to the application's
//! callback, stored as a SHA-256 only, single use, good for 60 s, bound to
//! the client, the redirect URI, the PKCE challenge and the user; and
//! their exchange for an access token that names the user (RFC 6749
//! §4.1.3, RFC 7636 §4.6).

use subtle::ConstantTimeEq;

use super::super::apis::grant_target;
use super::super::audit::{Action, Actor};
use super::super::clients::Client;
use super::super::clock::Timestamp;
use super::super::ids::{ApplicationId, ClientId, UserId};
use super::super::tokens::Issued;
use super::super::{Error, Keyport, Result};
use super::refresh::{self, OFFLINE_ACCESS};
use super::{hash_code, is_verifier, s256, CODE_TTL};

/// A code exchange as the application sent it: every field required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeExchange<'a> {
    pub code: &'a str,
    pub redirect_uri: &'a str,
    pub code_verifier: &'a str,
    /// The API the token is for, if the request names one (RFC 8707).
    pub resource: Option<&'a str>,
}

/// Why a code exchange failed (RFC 6749 §5.2).
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("{0}")]
    InvalidRequest(&'static str),
    #[error("{0}")]
    InvalidGrant(&'static str),
    #[error("{0}")]
    InvalidScope(&'static str),
    /// RFC 8707 §2: the resource names no API the grant covers.
    #[error(transparent)]
    InvalidTarget(#[from] super::super::apis::TargetError),
    #[error(transparent)]
    Failed(#[from] Error),
}

/// A code as stored, with whom it was issued to.
#[derive(sqlx::FromRow)]
struct CodeRow {
    application_id: ApplicationId,
    client_id: ClientId,
    user_id: UserId,
    redirect_uri: String,
    scope: String,
    resource: Option<String>,
    code_challenge: String,
    expires_at: Timestamp,
    used_at: Option<Timestamp>,
    user_disabled_at: Option<Timestamp>,
}

impl CodeRow {
    /// Why this code buys `client` no token now, if it does not.
    fn refusal(
        &self,
        client: &Client,
        now: Timestamp,
        exchange: &CodeExchange<'_>,
    ) -> Option<&'static str> {
        let verified = is_verifier(exchange.code_verifier)
            && bool::from(
                s256(exchange.code_verifier)
                    .as_bytes()
                    .ct_eq(self.code_challenge.as_bytes()),
            );
        if self.client_id != client.client_id {
            Some("the authorization code was issued to another client")
        } else if self.used_at.is_some() {
            Some("the authorization code has already been used")
        } else if self.expires_at <= now {
            Some("the authorization code has expired")
        } else if self.redirect_uri != exchange.redirect_uri {
            Some("redirect_uri differs from the authorization request")
        } else if !verified {
            Some("the code verifier does not match the code challenge")
        } else if self.user_disabled_at.is_some() {
            Some("the user who approved is disabled")
        } else {
            None
        }
    }
}

impl Keyport {
    /// Exchanges a code for an access token naming its user (RFC 6749
    /// §4.1.3, RFC 7636 §4.6), and a refresh token when the user approved
    /// `offline_access` and the application may have them. A code is used
    /// once: a second use is refused and revokes the token the first one
    /// got.
    pub async fn exchange_code(
        &self,
        client: &Client,
        address: &str,
        exchange: &CodeExchange<'_>,
    ) -> Result<(Issued, Option<String>), GrantError> {
        let code_hash = hash_code(exchange.code);
        let row: CodeRow = sqlx::query_as(
            "SELECT c.application_id, a.client_id, c.user_id, c.redirect_uri, c.scope, c.resource, \
             c.code_challenge, c.expires_at, c.used_at, u.disabled_at AS user_disabled_at \
             FROM authorization_codes c JOIN applications a ON a.id = c.application_id \
             JOIN users u ON u.id = c.user_id WHERE c.code_hash = $1",
        )
        .bind(&code_hash)
        .fetch_optional(&self.db.pool)
        .await
        .map_err(Error::from)?
        .ok_or(GrantError::InvalidGrant(
            "the authorization code is not valid",
        ))?;
        let now = self.now();
        if row.used_at.is_some() && row.client_id == client.client_id {
            self.code_replayed(&code_hash, &row, address).await?;
        }
        if let Some(refusal) = row.refusal(client, now, exchange) {
            return Err(GrantError::InvalidGrant(refusal));
        }
        // Permissions taken away from the application since the approval
        // are not granted.
        let granted: Vec<&str> = row
            .scope
            .split(' ')
            .filter(|s| client.permissions.iter().any(|p| p == s))
            .collect();
        let apis = self.apis().await?;
        let (api, scope) = grant_target(
            &apis,
            exchange.resource,
            row.resource.as_deref(),
            granted.iter().copied(),
        )?;
        let issued = self.sign_for(
            &api.identifier,
            &row.user_id,
            &client.client_id,
            &client.domain_id,
            &scope.join(" "),
        )?;
        let mut tx = self.db.write().await.map_err(Error::from)?;
        let claimed = sqlx::query(
            "UPDATE authorization_codes SET used_at = $1, token_id = $2, \
             token_expires_at = $3 WHERE code_hash = $4 AND used_at IS NULL",
        )
        .bind(now)
        .bind(&issued.claims.jti)
        .bind(issued.claims.exp)
        .bind(&code_hash)
        .execute(&mut *tx)
        .await
        .map_err(Error::from)?
        .rows_affected();
        if claimed == 0 {
            // Another exchange of the same code won the race: this is a replay.
            tx.rollback().await.map_err(Error::from)?;
            self.code_replayed(&code_hash, &row, address).await?;
            return Err(GrantError::InvalidGrant(
                "the authorization code has already been used",
            ));
        }
        let offline = row.scope.split(' ').any(|s| s == OFFLINE_ACCESS);
        let refresh_token = match offline {
            true => {
                let family = refresh::NewFamily {
                    user_id: &row.user_id,
                    scope: &granted.join(" "),
                    resource: row.resource.as_deref(),
                    address,
                };
                self.start_family(&mut tx, client, family, &issued).await?
            }
            false => None,
        };
        tx.commit().await.map_err(Error::from)?;
        Ok((issued, refresh_token))
    }

    /// Revokes what a replayed code gave (RFC 6749 §4.1.2): its access
    /// token and the refresh family it started, named after that token.
    /// Audits the replay.
    async fn code_replayed(&self, code_hash: &str, row: &CodeRow, address: &str) -> Result<()> {
        let issued: Option<(Option<String>, Option<Timestamp>)> = sqlx::query_as(
            "SELECT token_id, token_expires_at FROM authorization_codes WHERE code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(&self.db.pool)
        .await?;
        let domain_id: Option<String> =
            sqlx::query_scalar("SELECT domain_id FROM applications WHERE id = $1")
                .bind(&row.application_id)
                .fetch_optional(&self.db.pool)
                .await?;
        let mut tx = self.db.write().await.map_err(Error::from)?;
        if let Some((Some(jti), Some(expires_at))) = issued {
            sqlx::query(
                "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
            )
            .bind(&jti)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            refresh::revoke_families(&mut tx, refresh::Families::One(&jti), self.now()).await?;
        }
        super::super::audit::record(
            &mut tx,
            super::super::audit::Entry {
                at: self.now(),
                domain_id: domain_id.as_deref(),
                actor: &Actor {
                    user_id: None,
                    label: format!("client {}", row.client_id),
                    address: address.to_owned(),
                },
                action: Action::AuthorizationCodeReplayed,
                target: Some(&row.client_id),
                client_id: Some(&row.client_id),
                detail: None,
            },
        )
        .await?;
        Ok(tx.commit().await?)
    }

    /// Forgets codes whose tokens have expired too: a replay can no longer
    /// revoke anything.
    pub async fn purge_expired_codes(&self) -> Result<u64> {
        Ok(self
            .db
            .write_one(
                sqlx::query(
                    "DELETE FROM authorization_codes WHERE expires_at + $1 < $2 \
                     AND (token_expires_at IS NULL OR token_expires_at < $2)",
                )
                .bind(CODE_TTL)
                .bind(self.now()),
            )
            .await?
            .rows_affected())
    }
}
