//! Refresh tokens (RFC 6749 §6) that rotate on every use (OAuth 2.1
//! §4.3.1, RFC 9700 §4.14.2): opaque, 256 random bits, stored as a SHA-256
//! only. Each approval that brought one starts a *family*; every use spends
//! the token and hands out its successor. A spent token used again after
//! `REUSE_GRACE` means two parties hold the family, so the whole family and
//! the access tokens it issued are revoked.
//!
//! The successor is a keyed hash of the token it replaces
//! (`MasterKey::refresh_successor`), not a fresh random value: two requests
//! racing with the same token, on one node or two, name the same successor,
//! and only one row of it is ever stored.

use super::super::accounts::User;
use super::super::apis::grant_target;
use super::super::audit::{self, Action, Actor};
use super::super::clients::Client;
use super::super::clock::Timestamp;
use super::super::ids::{ApplicationId, UserId};
use super::super::limiter::Key;
use super::super::secrets::{refresh_token, token_digest, REFRESH_TOKEN_PREFIX};
use super::super::store::Write;
use super::super::tokens::Issued;
use super::super::{Error, Keyport, Result};
use super::rotations::Rotation;
use super::GrantError;

/// The scope a client asks for to be given a refresh token (OpenID Connect
/// Core §11, which OAuth clients and MCP clients use alike).
pub const OFFLINE_ACCESS: &str = "offline_access";

/// How long, in seconds, a spent refresh token still answers with the
/// successor it was exchanged for, instead of counting as reuse. It covers
/// two refreshes a client fires at once (two tabs, two worker processes of
/// one agent) and a client that lost the answer to a refresh and sends it
/// again: both happen within a request's round trip and one retry, well
/// under 10 s. Longer would give whoever copied a spent token more time to
/// use it unnoticed.
pub const REUSE_GRACE: i64 = 10;

/// A refresh grant's answer: the access token and the refresh token that
/// replaces the one presented.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub issued: Issued,
    pub refresh_token: String,
}

/// One approval's refresh tokens, as Connected apps lists them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Family {
    pub id: String,
    pub application_id: ApplicationId,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
    pub last_address: String,
    pub absolute_expires_at: Timestamp,
}

/// Which families a revocation ends.
#[derive(Debug, Clone, Copy)]
pub enum Families<'a> {
    One(&'a str),
    Connection {
        user_id: &'a str,
        application_id: &'a str,
    },
    User(&'a str),
    Application(&'a str),
}

impl Families<'_> {
    /// The condition on `refresh_families` (aliased `f`), binding from `$2`.
    fn condition(&self) -> &'static str {
        match self {
            Self::One(_) => "f.id = $2",
            Self::Connection { .. } => "f.user_id = $2 AND f.application_id = $3",
            Self::User(_) => "f.user_id = $2",
            Self::Application(_) => "f.application_id = $2",
        }
    }

    fn binds(&self) -> Vec<&str> {
        match *self {
            Self::One(id) | Self::User(id) | Self::Application(id) => vec![id],
            Self::Connection {
                user_id,
                application_id,
            } => vec![user_id, application_id],
        }
    }
}

/// Ends the families `which` names in `tx`, and refuses from now on the
/// access tokens they issued that have not expired.
pub(crate) async fn revoke_families(
    tx: &mut Write,
    which: Families<'_>,
    now: Timestamp,
) -> Result<()> {
    let condition = which.condition();
    // The families first: a rotation holding one of their rows commits
    // before this goes on, and the access tokens it recorded are read
    // next, by a statement of their own.
    let end = format!(
        "UPDATE refresh_families SET revoked_at = $1 WHERE id IN \
         (SELECT f.id FROM refresh_families f WHERE f.revoked_at IS NULL AND {condition})"
    );
    let revoke_access = format!(
        "INSERT INTO revoked_tokens (jti, expires_at) SELECT t.jti, t.expires_at \
         FROM refresh_family_access_tokens t JOIN refresh_families f ON f.id = t.family_id \
         WHERE t.expires_at > $1 AND {condition} ON CONFLICT (jti) DO NOTHING"
    );
    for sql in [end, revoke_access] {
        let mut query = sqlx::query(&sql).bind(now);
        for bind in which.binds() {
            query = query.bind(bind);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// A refresh grant as the client sent it (RFC 6749 §6, RFC 8707 §2).
#[derive(Debug, Clone, Copy)]
pub struct RefreshRequest<'a> {
    pub token: &'a str,
    /// Narrower permissions, if asked for.
    pub scope: Option<&'a str>,
    /// The API the access token is for, if named.
    pub resource: Option<&'a str>,
}

/// An approval that brought a refresh token: whose, for which
/// permissions (of any API), which API its tokens are for unless a
/// request names another, and from where.
pub(crate) struct NewFamily<'a> {
    pub user_id: &'a str,
    pub scope: &'a str,
    pub resource: Option<&'a str>,
    pub address: &'a str,
}

/// A presented refresh token as stored, with its family.
#[derive(Debug, sqlx::FromRow)]
struct TokenRow {
    family_id: String,
    application_id: ApplicationId,
    user_id: UserId,
    scope: String,
    resource: Option<String>,
    expires_at: Timestamp,
    spent_at: Option<Timestamp>,
    absolute_expires_at: Timestamp,
    revoked_at: Option<Timestamp>,
    user_disabled_at: Option<Timestamp>,
    /// What the user consents to now, read with the token (`None`: the
    /// consent has ended).
    consented: Option<String>,
}

const INVALID: &str = "the refresh token is not valid";

impl Keyport {
    /// Starts a family for an approval that granted `offline_access`, with
    /// the access token just issued for the code, and returns its first
    /// refresh token.
    pub(crate) async fn start_family(
        &self,
        tx: &mut Write,
        client: &Client,
        family: NewFamily<'_>,
        issued: &Issued,
    ) -> Result<Option<String>> {
        let NewFamily {
            user_id,
            scope,
            resource,
            address,
        } = family;
        let Some(lifetimes) = client.refresh else {
            return Ok(None);
        };
        let now = self.now();
        // Named after the first access token it bought: a replayed
        // authorization code, which knows that token, finds its family.
        let family_id = issued.claims.jti.clone();
        let absolute = now + lifetimes.absolute;
        sqlx::query(
            "INSERT INTO refresh_families (id, application_id, user_id, created_at, \
             absolute_expires_at, last_used_at, last_address, resource) \
             VALUES ($1, $2, $3, $4, $5, $4, $6, $7)",
        )
        .bind(&family_id)
        .bind(&client.application_id)
        .bind(user_id)
        .bind(now)
        .bind(absolute)
        .bind(address)
        .bind(resource)
        .execute(&mut **tx)
        .await?;
        let token = refresh_token();
        insert_token(
            tx,
            &token_digest(&token),
            &family_id,
            scope,
            now,
            (now + lifetimes.idle).min(absolute),
        )
        .await?;
        record_access(tx, &family_id, issued).await?;
        Ok(Some(token))
    }

    /// Exchanges a refresh token for an access token and its successor
    /// (RFC 6749 §6). `requested` may narrow the scope, never widen it.
    /// What the user still consents to and what the application still
    /// holds bound the scope: a permission withdrawn since is left out, and
    /// a refresh with nothing left is refused.
    pub async fn refresh(
        &self,
        client: &Client,
        address: &str,
        request: RefreshRequest<'_>,
    ) -> Result<Refreshed, GrantError> {
        let token = request.token;
        if !may_be_refresh_token(token) {
            return Err(GrantError::InvalidGrant(INVALID));
        }
        let row = self
            .refresh_row(&token_digest(token))
            .await?
            .filter(|row| row.application_id == client.application_id)
            .ok_or(GrantError::InvalidGrant(INVALID))?;
        let now = self.now();
        if row.revoked_at.is_some() {
            return Err(GrantError::InvalidGrant(
                "the refresh token has been revoked",
            ));
        }
        if let Some(spent_at) = row.spent_at {
            return self
                .spent_again(client, address, request, &row, spent_at)
                .await;
        }
        if row.expires_at <= now || row.absolute_expires_at <= now {
            return Err(GrantError::InvalidGrant("the refresh token has expired"));
        }
        let lifetimes = client.refresh.ok_or(GrantError::InvalidGrant(
            "refresh tokens are turned off for this application",
        ))?;
        let family = Key::of("refresh family", row.family_id.as_bytes());
        self.limits
            .refresh_rotations
            .take(&family, now)
            .map_err(|retry_after| Error::RateLimited { retry_after })?;
        let issued = self.refreshed_token(client, &row, request).await?;
        let successor = self.master_key.refresh_successor(token);
        let rotation = Rotation {
            spent: token_digest(token),
            successor: token_digest(&successor),
            family_id: row.family_id.clone(),
            scope: row.scope.clone(),
            now,
            expires_at: (now + lifetimes.idle).min(row.absolute_expires_at),
            jti: issued.claims.jti.clone(),
            access_expires_at: issued.claims.exp,
            address: address.to_owned(),
        };
        if !self.rotations.write(rotation).await? {
            // Another request spent it first, here or on another node, or
            // the family was revoked meanwhile: either has committed by
            // now.
            let row = self
                .refresh_row(&token_digest(token))
                .await?
                .ok_or(GrantError::InvalidGrant(INVALID))?;
            if row.revoked_at.is_some() {
                return Err(GrantError::InvalidGrant(
                    "the refresh token has been revoked",
                ));
            }
            let spent_at = row.spent_at.unwrap_or(now);
            return self
                .spent_again(client, address, request, &row, spent_at)
                .await;
        }
        Ok(Refreshed {
            issued,
            refresh_token: successor,
        })
    }

    /// A spent token presented again: within `REUSE_GRACE` of its use the
    /// same successor answers (if it is unspent itself); otherwise the
    /// family is revoked.
    async fn spent_again(
        &self,
        client: &Client,
        address: &str,
        request: RefreshRequest<'_>,
        row: &TokenRow,
        spent_at: Timestamp,
    ) -> Result<Refreshed, GrantError> {
        let now = self.now();
        let successor = self.master_key.refresh_successor(request.token);
        if now - spent_at <= REUSE_GRACE {
            let next = self.refresh_row(&token_digest(&successor)).await?;
            if let Some(next) = next.filter(|n| n.spent_at.is_none() && n.revoked_at.is_none()) {
                let issued = self.refreshed_token(client, &next, request).await?;
                let mut tx = self.db.write().await.map_err(Error::from)?;
                // Revoked since it was read: the token is never handed out.
                if !hold_live_family(&mut tx, &next.family_id).await? {
                    return Err(GrantError::InvalidGrant(
                        "the refresh token has been revoked",
                    ));
                }
                record_access(&mut tx, &next.family_id, &issued).await?;
                tx.commit().await.map_err(Error::from)?;
                return Ok(Refreshed {
                    issued,
                    refresh_token: successor,
                });
            }
        }
        let mut tx = self.db.write().await.map_err(Error::from)?;
        revoke_families(&mut tx, Families::One(&row.family_id), now).await?;
        audit::record(
            &mut tx,
            audit::Entry {
                at: now,
                domain_id: Some(&client.domain_id),
                actor: &Actor {
                    user_id: None,
                    label: format!("client {}", client.client_id),
                    address: address.to_owned(),
                },
                action: Action::RefreshTokenReused,
                target: Some(&client.client_id),
                client_id: Some(&client.client_id),
                detail: Some("the grant's refresh and access tokens are revoked"),
            },
        )
        .await?;
        tx.commit().await.map_err(Error::from)?;
        Err(GrantError::InvalidGrant(
            "the refresh token was already used: every token of its grant is revoked",
        ))
    }

    /// The access token a refresh buys: for the API the request names (or
    /// the authorization request did, or Keyport's own), with the scope
    /// `refreshed_scope` leaves of that API's permissions.
    async fn refreshed_token(
        &self,
        client: &Client,
        row: &TokenRow,
        request: RefreshRequest<'_>,
    ) -> Result<Issued, GrantError> {
        let scope = self.refreshed_scope(client, row, request.scope).await?;
        let apis = self.apis().await?;
        let (api, scope) = grant_target(
            &apis,
            request.resource,
            row.resource.as_deref(),
            scope.split(' '),
        )?;
        Ok(self.sign_for(
            &api.identifier,
            &row.user_id,
            &client.client_id,
            &client.domain_id,
            &scope.join(" "),
        )?)
    }

    /// The scope a refresh grants: the token's, narrowed to what the
    /// request asks for, the user still consents to and the application
    /// still holds.
    async fn refreshed_scope(
        &self,
        client: &Client,
        row: &TokenRow,
        requested: Option<&str>,
    ) -> Result<String, GrantError> {
        if row.user_disabled_at.is_some() {
            return Err(GrantError::InvalidGrant(
                "the user who approved is disabled",
            ));
        }
        let consented = row.consented.as_deref().ok_or(GrantError::InvalidGrant(
            "the user's consent for this application has ended: ask them again",
        ))?;
        let granted: Vec<&str> = row.scope.split(' ').filter(|s| !s.is_empty()).collect();
        if let Some(requested) = requested {
            if requested
                .split(' ')
                .filter(|s| !s.is_empty())
                .any(|s| !granted.contains(&s))
            {
                return Err(GrantError::InvalidScope(
                    "the scope asks for more than the refresh token was granted",
                ));
            }
        }
        let scope: Vec<&str> = granted
            .into_iter()
            .filter(|s| requested.is_none_or(|r| r.split(' ').any(|w| w == *s)))
            .filter(|s| consented.split(' ').any(|c| c == *s))
            .filter(|s| client.permissions.iter().any(|p| p == *s))
            .collect();
        if scope.is_empty() {
            return Err(GrantError::InvalidGrant(
                "none of the refresh token's permissions are still granted",
            ));
        }
        Ok(scope.join(" "))
    }

    async fn refresh_row(&self, token_hash: &str) -> Result<Option<TokenRow>> {
        Ok(sqlx::query_as(
            "SELECT t.family_id, f.application_id, f.user_id, t.scope, f.resource, t.expires_at, t.spent_at, \
             f.absolute_expires_at, f.revoked_at, u.disabled_at AS user_disabled_at, \
             c.scope AS consented \
             FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
             JOIN users u ON u.id = f.user_id \
             LEFT JOIN consents c ON c.user_id = f.user_id AND c.application_id = f.application_id \
             WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.db.pool)
        .await?)
    }

    /// Revokes the family of `token` if it is a refresh token issued to
    /// `client` (RFC 7009 §2.1: with the access tokens of the same grant).
    /// Whether it was one.
    pub async fn revoke_refresh_token(&self, client: &Client, token: &str) -> Result<bool> {
        if !may_be_refresh_token(token) {
            return Ok(false);
        }
        let Some(row) = self
            .refresh_row(&token_digest(token))
            .await?
            .filter(|row| row.application_id == client.application_id)
        else {
            return Ok(false);
        };
        let mut tx = self.db.write().await.map_err(Error::from)?;
        revoke_families(&mut tx, Families::One(&row.family_id), self.now()).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The families of refresh tokens `user` holds that still work, most
    /// recently used first.
    pub async fn refresh_families(&self, user: &User) -> Result<Vec<Family>> {
        Ok(sqlx::query_as(
            "SELECT id, application_id, created_at, last_used_at, last_address, absolute_expires_at \
             FROM refresh_families WHERE user_id = $1 AND revoked_at IS NULL \
             AND absolute_expires_at > $2 ORDER BY last_used_at DESC",
        )
        .bind(&user.id)
        .bind(self.now())
        .fetch_all(&self.db.pool)
        .await?)
    }

    /// Forgets families that ended (revoked or past their absolute
    /// lifetime) longer ago than an access token lives: whatever they
    /// issued has expired, and a token of theirs is refused as unknown.
    ///
    /// In families that live on, a spent token is forgotten once its idle
    /// lifetime has passed (presented again, it would be refused as
    /// expired), and an access token's id once that token has expired
    /// (revoking it would change nothing): a long-lived family keeps a
    /// bounded number of rows whatever its clients do.
    pub async fn purge_refresh_families(&self) -> Result<u64> {
        let now = self.now();
        let before = now - self.token_ttl;
        let mut purged = 0;
        for (sql, at) in [
            (
                "DELETE FROM refresh_families WHERE absolute_expires_at < $1 \
                 OR revoked_at < $1",
                before,
            ),
            (
                "DELETE FROM refresh_tokens WHERE spent_at IS NOT NULL AND expires_at < $1",
                now,
            ),
            (
                "DELETE FROM refresh_family_access_tokens WHERE expires_at < $1",
                now,
            ),
        ] {
            purged += self
                .db
                .write_one(sqlx::query(sql).bind(at))
                .await?
                .rows_affected();
        }
        Ok(purged)
    }
}

/// Whether `token` has the form of a refresh token Keyport issued: anything
/// else is refused without a lookup.
fn may_be_refresh_token(token: &str) -> bool {
    token.starts_with(REFRESH_TOKEN_PREFIX) && token.len() <= 128
}

/// Stores a refresh token (by its hash) in its family.
async fn insert_token(
    tx: &mut Write,
    token_hash: &str,
    family_id: &str,
    scope: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, scope, issued_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token_hash) DO NOTHING",
    )
    .bind(token_hash)
    .bind(family_id)
    .bind(scope)
    .bind(now)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records an access token a family's grant bought, so that revoking the
/// family revokes it.
/// Locks the family's row unless it is revoked (`rotations` says why);
/// whether it lives.
async fn hold_live_family(tx: &mut Write, family_id: &str) -> Result<bool> {
    let held = sqlx::query(
        "UPDATE refresh_families SET last_used_at = last_used_at \
         WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(family_id)
    .execute(&mut **tx)
    .await?;
    Ok(held.rows_affected() == 1)
}

async fn record_access(tx: &mut Write, family_id: &str, issued: &Issued) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_family_access_tokens (family_id, jti, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(family_id)
    .bind(&issued.claims.jti)
    .bind(issued.claims.exp)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
