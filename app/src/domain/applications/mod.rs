//! Client applications: who may see which, reading them, reveal (contract
//! §3, §8); registering and editing them is `settings`.

mod settings;

pub(crate) use settings::Origin;

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sqlx::Row;

use super::access::Access;
use super::accounts::{Role, User};
use super::audit::{self, Action, Actor};
use super::ids::{ApplicationId, ClientId, DomainId, UserId};
use super::rules::{may_authorize, may_manage_application};
use super::secrets::{ClientSecret, Secret};
use super::store::Write;
use super::tenancy::Domain;
use super::usage::DAYS;
use super::validate::storable;
use super::{Error, Keyport, Result};

/// An application as stored, without its secret material.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Application {
    pub id: ApplicationId,
    pub domain_id: DomainId,
    pub owner_id: UserId,
    pub owner_email: String,
    /// Its owner's role now: a super admin's application is theirs alone.
    #[sqlx(try_from = "String")]
    pub owner_role: Role,
    pub name: String,
    pub description: String,
    pub website_url: String,
    pub callback_url: String,
    pub icon_type: Option<String>,
    pub client_id: ClientId,
    pub created_at: i64,
    pub updated_at: i64,
    /// The last use of any of its secrets.
    pub last_used_at: Option<i64>,
    pub secret_last_used_at: Option<i64>,
    /// Set while a rotated-out secret still works, until this time.
    pub previous_secret_expires_at: Option<i64>,
    pub previous_last_used_at: Option<i64>,
    pub rotated_at: Option<i64>,
    pub removed_at: Option<i64>,
    /// `confidential` or `public` (`clients::PUBLIC`).
    pub client_type: String,
    /// 1 when the authorization code grant may bring refresh tokens.
    pub refresh_tokens: i64,
    pub refresh_idle_seconds: i64,
    pub refresh_absolute_seconds: i64,
    /// How it registered itself (RFC 7591): `token` with an initial access
    /// token, `open` by open registration; `None` when a person did.
    pub registered_via: Option<String>,
    /// The initial access token it registered with, and its label.
    pub registration_token_id: Option<String>,
    pub registered_label: Option<String>,
    /// The grant types it registered for, space-separated; `None`: every
    /// grant its type allows.
    pub grant_types: Option<String>,
    /// Its `token_endpoint_auth_method`, as it registered.
    pub auth_method: Option<String>,
}

impl Application {
    /// A public client: no secret, nothing to reveal or rotate.
    pub fn is_public(&self) -> bool {
        self.client_type == super::clients::PUBLIC
    }

    /// "registered by API (label)", for a client that registered itself.
    pub fn registered_by(&self) -> Option<String> {
        let via = self.registered_via.as_deref()?;
        let label = match via {
            "open" => "open registration",
            _ => self
                .registered_label
                .as_deref()
                .unwrap_or("initial access token"),
        };
        Some(format!("registered by API ({label})"))
    }

    /// How the audit log names it: "name (client ID)".
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.client_id)
    }
}

#[derive(Debug, Clone)]
pub struct WithPermissions {
    pub app: Application,
    pub permissions: Vec<String>,
}

/// A domain's applications as the list and the management API show them,
/// read together: those in use (by name, with their permissions), those
/// removed and not yet purged (most recently removed first), and the tokens
/// each issued per day over the last 30 days.
#[derive(Debug, Default)]
pub struct DomainApplications {
    /// Which read this is, on this node: a view made from it names it.
    pub read: u64,
    pub domain_id: String,
    pub in_use: Vec<WithPermissions>,
    pub removed: Vec<Application>,
    pub issued: HashMap<ApplicationId, [i64; DAYS]>,
}

impl DomainApplications {
    /// What a view made from this read is made from (`Memory::view`).
    pub fn made_from(&self) -> [u8; 32] {
        let mut from = [0u8; 32];
        from[..8].copy_from_slice(&self.read.to_be_bytes());
        from
    }
}

/// The plaintext credentials, only ever built for a reveal or at creation.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub client_id: ClientId,
    pub client_secret: ClientSecret,
}

impl Credentials {
    /// `base64(client_id ":" client_secret)`, the value of an HTTP Basic header.
    pub fn oauth_credentials(&self) -> String {
        STANDARD.encode(format!(
            "{}:{}",
            self.client_id,
            self.client_secret.expose()
        ))
    }
}

pub(crate) const SELECT: &str = "SELECT a.id, a.domain_id, a.owner_id, u.email AS owner_email, u.role AS owner_role, a.name, a.description, \
     a.website_url, a.callback_url, a.icon_type, a.client_id, a.created_at, a.updated_at, a.last_used_at, a.secret_last_used_at, \
     a.previous_secret_expires_at, a.previous_last_used_at, a.rotated_at, a.removed_at, \
     a.client_type, a.refresh_tokens, a.refresh_idle_seconds, a.refresh_absolute_seconds, \
     a.registered_via, a.registration_token_id, rt.label AS registered_label, a.grant_types, a.auth_method \
     FROM applications a JOIN users u ON u.id = a.owner_id \
     LEFT JOIN registration_tokens rt ON rt.id = a.registration_token_id";

/// Which domain a user is looking at: their own, or for a super admin any
/// domain they pick.
pub async fn visible_domain(
    keyport: &Keyport,
    user: &User,
    requested: Option<&str>,
) -> Result<Domain> {
    let id = match requested {
        Some(id) if !id.is_empty() && user.role == Role::SuperAdmin => id,
        _ => &user.domain_id,
    };
    keyport.domain(id).await?.ok_or(Error::NotFound)
}

impl Keyport {
    /// Writes an audit entry about `app`.
    pub async fn audit_application(
        &self,
        actor: &Actor,
        app: &Application,
        action: Action,
        detail: Option<&str>,
    ) -> Result<()> {
        let target = app.label();
        let mut tx = self.db.write().await?;
        audit::record(
            &mut tx,
            app_entry(self.now(), actor, app, &target, action, detail),
        )
        .await?;
        Ok(tx.commit().await?)
    }

    /// What `user` may see of `domain`'s applications in use, by name.
    pub async fn list_applications(
        &self,
        user: &User,
        domain: &Domain,
    ) -> Result<Vec<WithPermissions>> {
        let all = self.domain_applications(&domain.id).await?;
        Ok(all
            .in_use
            .iter()
            .filter(|a| may_manage_application(user, &a.app))
            .cloned()
            .collect())
    }

    /// A domain's applications, as read within `cache::FRESH_FOR_MS`.
    pub async fn domain_applications(&self, domain_id: &str) -> Result<Arc<DomainApplications>> {
        self.memory
            .applications
            .get_or_read(domain_id, || async {
                Ok(Arc::new(self.read_domain_applications(domain_id).await?))
            })
            .await
    }

    async fn read_domain_applications(&self, domain_id: &str) -> Result<DomainApplications> {
        let apps: Vec<Application> = sqlx::query_as(&format!(
            "{SELECT} WHERE a.domain_id = $1 ORDER BY lower(a.name)"
        ))
        .bind(domain_id)
        .fetch_all(&self.db.pool)
        .await?;
        let grants: Vec<(String, String)> = sqlx::query_as(
            "SELECT p.application_id, p.scope FROM application_permissions p \
             JOIN applications a ON a.id = p.application_id \
             WHERE a.domain_id = $1 ORDER BY p.scope",
        )
        .bind(domain_id)
        .fetch_all(&self.db.pool)
        .await?;
        let mut permissions: HashMap<&str, Vec<String>> = HashMap::new();
        for (id, scope) in &grants {
            permissions.entry(id).or_default().push(scope.clone());
        }
        let (mut removed, in_use): (Vec<_>, Vec<_>) =
            apps.into_iter().partition(|a| a.removed_at.is_some());
        removed.sort_by_key(|a| std::cmp::Reverse(a.removed_at));
        Ok(DomainApplications {
            read: self.memory.next_read(),
            domain_id: domain_id.to_owned(),
            in_use: in_use
                .into_iter()
                .map(|app| WithPermissions {
                    permissions: permissions.remove(app.id.as_str()).unwrap_or_default(),
                    app,
                })
                .collect(),
            removed,
            issued: self.issued_by_application(domain_id).await?,
        })
    }

    /// How many applications of the domain are in use.
    pub async fn count_applications(&self, domain_id: &str) -> Result<usize> {
        Ok(self.domain_applications(domain_id).await?.in_use.len())
    }

    /// The application, if `user` may see it; otherwise `NotFound`, so that
    /// a guessed id tells nothing.
    pub async fn application_for(&self, user: &User, id: &str) -> Result<WithPermissions> {
        if !storable(id) {
            return Err(Error::NotFound);
        }
        let app: Application = sqlx::query_as(&format!(
            "{SELECT} WHERE a.id = $1 AND a.removed_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?
        .filter(|app| may_manage_application(user, app))
        .ok_or(Error::NotFound)?;
        let permissions = sqlx::query_scalar(
            "SELECT scope FROM application_permissions WHERE application_id = $1 ORDER BY scope",
        )
        .bind(&app.id)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(WithPermissions { app, permissions })
    }

    /// The id of the application holding `client_id`, if any.
    pub async fn application_id_for_client(&self, client_id: &str) -> Result<Option<String>> {
        if !storable(client_id) {
            return Ok(None);
        }
        Ok(sqlx::query_scalar(
            "SELECT id FROM applications WHERE client_id = $1 AND removed_at IS NULL",
        )
        .bind(client_id)
        .fetch_optional(&self.db.pool)
        .await?)
    }

    /// The icon, to whoever may manage the application or authorize it.
    pub async fn icon_for(&self, user: &User, id: &str) -> Result<(String, Vec<u8>)> {
        if !storable(id) {
            return Err(Error::NotFound);
        }
        let app: Application = sqlx::query_as(&format!(
            "{SELECT} WHERE a.id = $1 AND a.removed_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?
        .filter(|app| may_manage_application(user, app) || may_authorize(user, app))
        .ok_or(Error::NotFound)?;
        let row = sqlx::query("SELECT icon, icon_type FROM applications WHERE id = $1")
            .bind(&app.id)
            .fetch_one(&self.db.pool)
            .await?;
        let icon: Option<Vec<u8>> = row.try_get(0)?;
        let kind: Option<String> = row.try_get(1)?;
        icon.zip(kind)
            .map(|(bytes, kind)| (kind, bytes))
            .ok_or(Error::NotFound)
    }

    /// Decrypts the client secret for its owner or an admin, and audits it.
    pub async fn reveal_credentials(&self, access: &Access, id: &str) -> Result<Credentials> {
        let (actor, user) = (access.actor(), access.person()?);
        let app = self.application_for(user, id).await?.app;
        if app.is_public() {
            return Err(Error::invalid("secret", PUBLIC_HAS_NO_SECRET));
        }
        let sealed: Vec<u8> =
            sqlx::query_scalar("SELECT secret_sealed FROM applications WHERE id = $1")
                .bind(&app.id)
                .fetch_one(&self.db.pool)
                .await?;
        let plaintext = self.master_key.open(&sealed, app.client_id.as_bytes())?;
        let secret = String::from_utf8(plaintext).map_err(|_| Error::Decrypt)?;
        self.audit_application(actor, &app, Action::SecretRevealed, None)
            .await?;
        Ok(Credentials {
            client_id: app.client_id,
            client_secret: ClientSecret::new(secret),
        })
    }
}

/// Why a public application's secret cannot be revealed or rotated.
pub const PUBLIC_HAS_NO_SECRET: &str =
    "A public application has no client secret: it signs its users in with PKCE.";

/// Counts the applications in use in a domain.
const COUNT_IN_USE: &str =
    "SELECT COUNT(*) FROM applications WHERE domain_id = $1 AND removed_at IS NULL";

/// Refuses, naming `field`, when the domain is full. Call with the domain
/// locked: the limit and the count are read in the same transaction, so a
/// limit lowered on another node counts at once.
pub(crate) async fn check_room(tx: &mut Write, domain: &Domain, field: &'static str) -> Result<()> {
    let (count, limit) = room(tx, &domain.id).await?;
    if count >= limit {
        return Err(Error::invalid(
            field,
            format!(
                "This domain already holds {count} of its {limit} applications. Remove one first."
            ),
        ));
    }
    Ok(())
}

/// How many applications of the domain are in use, and its limit, as the
/// transaction sees them.
pub(crate) async fn room(tx: &mut Write, domain_id: &str) -> Result<(i64, i64)> {
    let count: i64 = sqlx::query_scalar(COUNT_IN_USE)
        .bind(domain_id)
        .fetch_one(&mut **tx)
        .await?;
    let limit: i64 = sqlx::query_scalar("SELECT app_limit FROM domains WHERE id = $1")
        .bind(domain_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound)?;
    Ok((count, limit))
}

/// Takes the domain's row lock for the rest of the transaction (PostgreSQL)
/// or the database write lock (SQLite), so that concurrent registrations in
/// one domain count one after another.
pub(crate) async fn lock_domain(tx: &mut Write, domain_id: &str) -> Result<()> {
    sqlx::query("UPDATE domains SET app_limit = app_limit WHERE id = $1")
        .bind(domain_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// An audit entry about `app`: its name and client ID as the target.
pub(crate) fn app_entry<'a>(
    at: i64,
    actor: &'a Actor,
    app: &'a Application,
    target: &'a str,
    action: Action,
    detail: Option<&'a str>,
) -> audit::Entry<'a> {
    audit::Entry {
        at,
        domain_id: Some(&app.domain_id),
        actor,
        action,
        target: Some(target),
        client_id: Some(&app.client_id),
        detail,
    }
}
