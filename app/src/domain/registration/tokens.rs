//! Initial access tokens, which a domain's admins create, list and
//! revoke.

use uuid::Uuid;

use super::{require_domain_admin, words, Policy, GRANT_TYPES};
use crate::domain::access::Access;
use crate::domain::accounts::User;
use crate::domain::audit::{self, Action, Actor};
use crate::domain::clock::Timestamp;
use crate::domain::ids::{DomainId, UserId};
use crate::domain::secrets::{prefixed_token, token_digest, INITIAL_ACCESS_TOKEN_PREFIX};
use crate::domain::store::Write;
use crate::domain::tenancy::Domain;
use crate::domain::validate::{self, NAME_MAX};
use crate::domain::{Error, Invalid, Keyport, Result};

/// How many times an initial access token may be used, at most.
pub const USES_MAX: i64 = 1_000;
/// How long an initial access token may live: five minutes to a year.
pub const EXPIRES_IN_MIN: i64 = 300;
pub const EXPIRES_IN_MAX: i64 = 365 * 86_400;
/// What a new token defaults to: one use, seven days.
pub const DEFAULT_USES: i64 = 1;
pub const DEFAULT_EXPIRES_IN: i64 = 7 * 86_400;

/// An initial access token as its domain's admins see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RegistrationToken {
    pub id: String,
    pub domain_id: DomainId,
    pub creator_id: UserId,
    pub creator_email: String,
    pub label: String,
    /// Space-separated.
    pub permissions: String,
    pub grant_types: String,
    pub public_allowed: i64,
    pub max_uses: i64,
    pub uses_left: i64,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// Whether an initial access token still registers clients, and if not,
/// why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    Active,
    Revoked,
    UsedUp,
    Expired,
}

impl TokenState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Revoked => "revoked",
            Self::UsedUp => "used up",
            Self::Expired => "expired",
        }
    }
}

impl RegistrationToken {
    pub fn state(&self, now: Timestamp) -> TokenState {
        if self.revoked_at.is_some() {
            TokenState::Revoked
        } else if self.uses_left <= 0 {
            TokenState::UsedUp
        } else if self.expires_at <= now {
            TokenState::Expired
        } else {
            TokenState::Active
        }
    }

    pub(super) fn policy(&self) -> Policy {
        Policy {
            permissions: words(&self.permissions),
            grant_types: words(&self.grant_types),
            public_allowed: self.public_allowed != 0,
            confidential_allowed: true,
            source: "this initial access token",
        }
    }
}

pub(super) const SELECT_TOKEN: &str =
    "SELECT t.id, t.domain_id, t.creator_id, u.email AS creator_email, t.label, \
     t.permissions, t.grant_types, t.public_allowed, t.max_uses, t.uses_left, t.created_at, \
     t.expires_at, t.last_used_at, t.revoked_at \
     FROM registration_tokens t JOIN users u ON u.id = t.creator_id";

/// An initial access token to create.
#[derive(Debug, Clone)]
pub struct NewRegistrationToken {
    pub label: String,
    pub uses: i64,
    /// Seconds from now.
    pub expires_in: i64,
    /// `None`: every permission of the registered APIs, not Keyport's own
    /// management API (whose permissions manage clients and must be named).
    pub permissions: Option<Vec<String>>,
    /// Empty: every grant type.
    pub grant_types: Vec<String>,
    pub public_allowed: bool,
}

impl Keyport {
    /// Creates an initial access token for `domain`; the plaintext is
    /// returned once and kept only as a SHA-256.
    pub async fn create_registration_token(
        &self,
        access: &Access,
        domain: &Domain,
        new: NewRegistrationToken,
    ) -> Result<(RegistrationToken, String)> {
        let (actor, user) = (access.actor(), access.person()?);
        require_domain_admin(user, domain)?;
        let apis = self.apis().await?;
        let catalog: Vec<String> = apis
            .0
            .iter()
            .flat_map(|api| api.permissions.iter().map(|p| p.scope.clone()))
            .collect();
        let label = new.label.trim().to_owned();
        let mut problems = Vec::new();
        if label.is_empty() || label.chars().count() > NAME_MAX {
            problems.push(Invalid::new(
                "label",
                "Enter a label of 1 to 64 characters.",
            ));
        } else if label.chars().any(validate::is_hidden_control) {
            problems.push(Invalid::new(
                "label",
                "The label cannot contain control characters.",
            ));
        }
        if !(1..=USES_MAX).contains(&new.uses) {
            problems.push(Invalid::new("uses", "Allow from 1 to 1,000 registrations."));
        }
        if !(EXPIRES_IN_MIN..=EXPIRES_IN_MAX).contains(&new.expires_in) {
            problems.push(Invalid::new(
                "expires_in",
                "A token may live from five minutes to 365 days.",
            ));
        }
        let mut permissions = match new.permissions {
            Some(chosen) => chosen,
            None => apis.registered_permissions(),
        };
        permissions.sort();
        permissions.dedup();
        if permissions.is_empty() {
            problems.push(Invalid::new(
                "permissions",
                "Choose at least one permission its clients may ask for.",
            ));
        } else if permissions.iter().any(|p| !catalog.contains(p)) {
            problems.push(Invalid::new(
                "permissions",
                "Choose permissions from the list.",
            ));
        }
        let mut grant_types = match new.grant_types.is_empty() {
            true => GRANT_TYPES.iter().map(|g| (*g).to_owned()).collect(),
            false => new.grant_types,
        };
        grant_types.sort_by_key(|g| GRANT_TYPES.iter().position(|known| known == g));
        grant_types.dedup();
        if grant_types
            .iter()
            .any(|g| !GRANT_TYPES.contains(&g.as_str()))
        {
            problems.push(Invalid::new(
                "grant_types",
                "Choose grant types from the list.",
            ));
        }
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        let token = prefixed_token(INITIAL_ACCESS_TOKEN_PREFIX);
        let now = self.now();
        let id = Uuid::new_v4().to_string();
        let mut tx = self.db.write().await?;
        sqlx::query(
            "INSERT INTO registration_tokens (id, domain_id, creator_id, label, token_hash, permissions, \
             grant_types, public_allowed, max_uses, uses_left, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11)",
        )
        .bind(&id)
        .bind(&domain.id)
        .bind(&user.id)
        .bind(&label)
        .bind(token_digest(&token))
        .bind(permissions.join(" "))
        .bind(grant_types.join(" "))
        .bind(i64::from(new.public_allowed))
        .bind(new.uses)
        .bind(now)
        .bind(now + new.expires_in)
        .execute(&mut *tx)
        .await?;
        let detail = format!(
            "{} use(s), until {}",
            new.uses,
            crate::time::format_time(now + new.expires_in)
        );
        record(
            &mut tx,
            now,
            actor,
            &domain.id,
            Action::RegistrationTokenCreated,
            &label,
            &detail,
        )
        .await?;
        tx.commit().await?;
        let created = self.registration_token(&id).await?.ok_or(Error::NotFound)?;
        Ok((created, token))
    }

    /// Who owns what registers with a token made at the command line: the
    /// domain's first enabled admin, or else the first super admin.
    pub async fn first_admin_of(&self, domain: &Domain) -> Result<Option<User>> {
        Ok(sqlx::query_as(
            "SELECT id, domain_id, email, role, disabled_at FROM users WHERE disabled_at IS NULL \
             AND ((role = 'domain_admin' AND domain_id = $1) OR role = 'super_admin') \
             ORDER BY CASE WHEN role = 'domain_admin' THEN 0 ELSE 1 END, created_at LIMIT 1",
        )
        .bind(&domain.id)
        .fetch_optional(&self.db.pool)
        .await?)
    }

    /// A domain's initial access tokens, newest first.
    pub async fn registration_tokens(
        &self,
        user: &User,
        domain: &Domain,
    ) -> Result<Vec<RegistrationToken>> {
        require_domain_admin(user, domain)?;
        Ok(sqlx::query_as(&format!(
            "{SELECT_TOKEN} WHERE t.domain_id = $1 ORDER BY t.created_at DESC, t.label"
        ))
        .bind(&domain.id)
        .fetch_all(&self.db.pool)
        .await?)
    }

    pub(super) async fn registration_token(&self, id: &str) -> Result<Option<RegistrationToken>> {
        Ok(sqlx::query_as(&format!("{SELECT_TOKEN} WHERE t.id = $1"))
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?)
    }

    /// Revokes an initial access token: it registers nothing more. Clients
    /// it registered stay.
    pub async fn revoke_registration_token(
        &self,
        access: &Access,
        domain: &Domain,
        id: &str,
    ) -> Result<()> {
        let (actor, user) = (access.actor(), access.person()?);
        require_domain_admin(user, domain)?;
        let token = match validate::storable(id) {
            true => self.registration_token(id).await?,
            false => None,
        }
        .filter(|t| t.domain_id == domain.id)
        .ok_or(Error::NotFound)?;
        let now = self.now();
        let mut tx = self.db.write().await?;
        let revoked = sqlx::query(
            "UPDATE registration_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(&token.id)
        .execute(&mut *tx)
        .await?;
        if revoked.rows_affected() == 1 {
            record(
                &mut tx,
                now,
                actor,
                &domain.id,
                Action::RegistrationTokenRevoked,
                &token.label,
                "",
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

pub(super) async fn record(
    tx: &mut Write,
    at: Timestamp,
    actor: &Actor,
    domain_id: &str,
    action: Action,
    target: &str,
    detail: &str,
) -> Result<()> {
    audit::record(
        tx,
        audit::Entry {
            at,
            domain_id: Some(domain_id),
            actor,
            action,
            target: Some(target),
            client_id: None,
            detail: (!detail.is_empty()).then_some(detail),
        },
    )
    .await
}
