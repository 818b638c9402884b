//! Open registration: a client registers without a token (RFC 7591) in
//! the one domain where an admin turned it on. Public clients only, each
//! address limited, at most the domain's quota of them (never more than
//! the room its admins' applications leave), and those that got no token
//! within a day removed.

use super::tokens::record;
use super::{require_domain_admin, Policy, Registered, RegistrationError, Source, OPEN_UNUSED_FOR};
use crate::domain::access::Access;
use crate::domain::accounts::Role;
use crate::domain::applications::{Application, SELECT};
use crate::domain::audit::Action;
use crate::domain::clock::Timestamp;
use crate::domain::limiter::Key;
use crate::domain::store::Write;
use crate::domain::tenancy::Domain;
use crate::domain::{Error, Keyport, Result};

/// Clients that registered themselves a domain holds at most, unless its
/// admins set another quota.
pub const DEFAULT_OPEN_QUOTA: i64 = 20;

/// A domain's room for clients that register themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenRoom {
    /// What its admins set.
    pub quota: i64,
    /// Clients that registered themselves, in use.
    pub used: i64,
    /// The most the quota may be: the domain's limit less the
    /// applications its admins registered.
    pub ceiling: i64,
}

impl OpenRoom {
    /// Whether another client may register itself.
    pub fn has_room(&self) -> bool {
        self.used < self.quota.min(self.ceiling)
    }
}

/// The room of `domain_id`, as `executor` sees it.
async fn open_room<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    domain_id: &str,
) -> Result<OpenRoom> {
    let (quota, used, others, limit): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT d.open_registration_quota, \
         (SELECT COUNT(*) FROM applications a WHERE a.domain_id = d.id \
          AND a.removed_at IS NULL AND a.registered_via = 'open'), \
         (SELECT COUNT(*) FROM applications a WHERE a.domain_id = d.id \
          AND a.removed_at IS NULL AND (a.registered_via IS NULL OR a.registered_via <> 'open')), \
         d.app_limit FROM domains d WHERE d.id = $1",
    )
    .bind(domain_id)
    .fetch_optional(executor)
    .await?
    .ok_or(Error::NotFound)?;
    Ok(OpenRoom {
        quota,
        used,
        ceiling: (limit - others).max(0),
    })
}

/// Refuses an open registration once the domain's quota is taken (in the
/// transaction that registers, after `lock_domain`).
pub(super) async fn check_open_room(tx: &mut Write, domain: &Domain) -> Result<()> {
    let room = open_room(&mut **tx, &domain.id).await?;
    if room.has_room() {
        return Ok(());
    }
    Err(Error::invalid(
        "domain",
        format!(
            "This domain holds {} clients that registered themselves, all it takes. \
             Ask its admins for an initial access token.",
            room.used
        ),
    ))
}

impl Keyport {
    /// Who owns the clients that register openly in `domain`: the admin
    /// who turned open registration on. `None`: it is off.
    pub async fn open_registration(&self, domain: &Domain) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT u.email FROM domains d JOIN users u ON u.id = d.open_registration_by WHERE d.id = $1",
        )
        .bind(&domain.id)
        .fetch_optional(&self.db.pool)
        .await?)
    }

    /// The other domain where open registration is on, if any: its id and
    /// name.
    pub async fn open_elsewhere(&self, domain: &Domain) -> Result<Option<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT id, name FROM domains WHERE open_registration_by IS NOT NULL AND id <> $1",
        )
        .bind(&domain.id)
        .fetch_optional(&self.db.pool)
        .await?)
    }

    /// Turns open registration on for `domain`, or off. It is on in one
    /// domain at a time (a client that registers without a token names
    /// none): taking it from another domain is a super admin's move, made
    /// only when they confirm it (`move_here`), and audited in both.
    pub async fn set_open_registration(
        &self,
        access: &Access,
        domain: &Domain,
        on: bool,
        move_here: bool,
    ) -> Result<()> {
        let (actor, user) = (access.actor(), access.person()?);
        require_domain_admin(user, domain)?;
        let elsewhere = match on {
            true => self.open_elsewhere(domain).await?,
            false => None,
        };
        if let Some((_, name)) = &elsewhere {
            if user.role != Role::SuperAdmin {
                return Err(Error::invalid(
                    "on",
                    "Open registration is on in another domain: only a super admin can move it here.",
                ));
            }
            if !move_here {
                return Err(Error::invalid(
                    "on",
                    format!("Open registration is on in {name}: confirm to move it here, which turns it off there."),
                ));
            }
        }
        let now = self.now();
        let mut tx = self.db.write().await?;
        if let Some((other_id, other_name)) = &elsewhere {
            sqlx::query("UPDATE domains SET open_registration_by = NULL WHERE id = $1")
                .bind(other_id)
                .execute(&mut *tx)
                .await?;
            record(
                &mut tx,
                now,
                actor,
                other_id,
                Action::OpenRegistrationChanged,
                other_name,
                &format!("off: moved to {}", domain.name),
            )
            .await?;
        }
        sqlx::query("UPDATE domains SET open_registration_by = $1 WHERE id = $2")
            .bind(on.then_some(&user.id))
            .bind(&domain.id)
            .execute(&mut *tx)
            .await?;
        let (action, detail) = match on {
            true => (Action::OpenRegistrationChanged, "on, for public clients"),
            false => (Action::OpenRegistrationChanged, "off"),
        };
        record(
            &mut tx,
            now,
            actor,
            &domain.id,
            action,
            &domain.name,
            detail,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
    /// Removes clients that registered openly and got no token within a
    /// day. Run on a timer.
    pub async fn purge_unused_open_registrations(&self) -> Result<usize> {
        let cutoff = self.now() - OPEN_UNUSED_FOR;
        let due: Vec<Application> = sqlx::query_as(&format!(
            "{SELECT} WHERE a.registered_via = 'open' AND a.removed_at IS NULL \
             AND a.last_used_at IS NULL AND a.created_at < $1"
        ))
        .bind(cutoff)
        .fetch_all(&self.db.pool)
        .await?;
        let delete = "DELETE FROM applications WHERE id = $1 AND created_at < $2 \
             AND last_used_at IS NULL AND removed_at IS NULL";
        self.purge(
            &due,
            delete,
            cutoff,
            "registered openly and unused for a day",
        )
        .await
    }

    /// The domain open registration is on for, once this address may
    /// register again.
    pub(super) async fn open_source(&self, address: &str, now: Timestamp) -> Registered<Source> {
        let open: Option<(String, String)> = sqlx::query_as(
            "SELECT id, open_registration_by FROM domains WHERE open_registration_by IS NOT NULL",
        )
        .fetch_optional(&self.db.pool)
        .await?;
        let Some((domain_id, owner_id)) = open else {
            return Err(RegistrationError::Token(
                "registration needs an initial access token from an admin".into(),
            ));
        };
        self.limits
            .open_registrations
            .take(&Key::address_text(address), now)
            .map_err(|retry_after| RegistrationError::RateLimited { retry_after })?;
        Ok(Source::Open {
            domain_id,
            owner_id,
        })
    }

    /// The room `domain` has for clients that register themselves.
    pub async fn open_room(&self, domain: &Domain) -> Result<OpenRoom> {
        open_room(&self.db.pool, &domain.id).await
    }

    /// Sets how many clients may register themselves in `domain`: from 0
    /// to its limit less the applications its admins registered.
    pub async fn set_open_quota(&self, access: &Access, domain: &Domain, quota: i64) -> Result<()> {
        let (actor, user) = (access.actor(), access.person()?);
        require_domain_admin(user, domain)?;
        let mut tx = self.db.write().await?;
        let room = open_room(&mut *tx, &domain.id).await?;
        if !(0..=room.ceiling).contains(&quota) {
            return Err(Error::invalid(
                "quota",
                format!(
                    "Give a number from 0 to {}: the domain's limit less the applications its admins registered.",
                    room.ceiling
                ),
            ));
        }
        sqlx::query("UPDATE domains SET open_registration_quota = $1 WHERE id = $2")
            .bind(quota)
            .bind(&domain.id)
            .execute(&mut *tx)
            .await?;
        record(
            &mut tx,
            self.now(),
            actor,
            &domain.id,
            Action::OpenRegistrationChanged,
            &domain.name,
            &format!("quota {quota}"),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// What open registration allows: public clients, the authorization code
/// grant with refresh tokens, every permission of the registered APIs
/// (never Keyport's own management API).
pub(super) async fn open_policy(keyport: &Keyport) -> Result<Policy> {
    Ok(Policy {
        permissions: keyport.apis().await?.registered_permissions(),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        public_allowed: true,
        confidential_allowed: false,
        source: "open registration",
    })
}
