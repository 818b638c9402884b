//! Client applications: registration with generated credentials, who may see
//! which, editing, reveal and removal (contract §3, §8).

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sqlx::Row;
use uuid::Uuid;

use super::accounts::{Role, User};
use super::audit::{self, Action, Actor};
use super::authorization::{revoke_families, Families};
use super::ids::{ApplicationId, ClientId, DomainId, UserId};
use super::rules::{beyond_role, may_authorize, may_manage_application};
use super::secrets::{ClientSecret, Secret};
use super::store::Write;
use super::tenancy::Domain;
use super::usage::DAYS;
use super::validate::{self, storable, ApplicationInput, Icon, ValidApplication};
use super::{Error, Invalid, Keyport, Result};

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

    /// Registers an application in `domain` owned by `user`, with fresh
    /// credentials (a public one has a client ID only: `None`). The
    /// per-domain limit holds under concurrent submissions: the domain row
    /// is locked before counting.
    pub async fn register_application(
        &self,
        actor: &Actor,
        user: &User,
        domain: &Domain,
        input: ApplicationInput,
    ) -> Result<(Application, Option<Credentials>)> {
        let input = validate::application(self, input).await?;
        let mut tx = self.db.write().await?;
        lock_domain(&mut tx, &domain.id).await?;
        check_room(&mut tx, domain, "name").await?;
        let (id, credentials) = self
            .insert_application(&mut tx, actor, user, domain, &input, None)
            .await?;
        tx.commit().await?;
        let app = self.application_for(user, &id).await?.app;
        Ok((app, credentials))
    }

    /// Inserts a validated application with fresh credentials (none for a
    /// public one) and its permissions, and audits it. The caller holds
    /// the domain's lock and has checked its room; `origin` says how a
    /// client that registered itself did so.
    pub(crate) async fn insert_application(
        &self,
        tx: &mut Write,
        actor: &Actor,
        owner: &User,
        domain: &Domain,
        input: &ValidApplication,
        origin: Option<&Origin<'_>>,
    ) -> Result<(ApplicationId, Option<Credentials>)> {
        refuse_beyond_role(owner, &input.permissions)?;
        let client_id = ClientId::new(Uuid::new_v4().simple().to_string());
        let (secret, secret_hash, sealed) = match input.public {
            false => {
                let (secret, hash, sealed) = self.fresh_secret(&client_id);
                (Some(secret), hash, sealed)
            }
            true => (None, String::new(), Vec::new()),
        };
        let now = self.now();
        let id = ApplicationId::new(Uuid::new_v4().to_string());
        let (icon, icon_type) = split_icon(input.icon.as_ref());
        let inserted = sqlx::query(
            "INSERT INTO applications (id, domain_id, owner_id, name, description, website_url, callback_url, \
             icon, icon_type, client_id, secret_hash, secret_sealed, created_at, updated_at, client_type, \
             refresh_tokens, refresh_idle_seconds, refresh_absolute_seconds, registered_via, \
             registration_token_id, registration_access_hash, grant_types, auth_method) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15, $16, $17, \
             $18, $19, $20, $21, $22)",
        )
        .bind(&id)
        .bind(&domain.id)
        .bind(&owner.id)
        .bind(&input.name)
        .bind(&input.description)
        .bind(&input.website_url)
        .bind(&input.callback_url)
        .bind(icon)
        .bind(icon_type)
        .bind(&client_id)
        .bind(&secret_hash)
        .bind(&sealed)
        .bind(now)
        .bind(client_type(input.public))
        .bind(i64::from(input.refresh_tokens))
        .bind(input.refresh.idle)
        .bind(input.refresh.absolute)
        .bind(origin.map(|o| o.via))
        .bind(origin.and_then(|o| o.token_id))
        .bind(origin.map(|o| o.access_hash))
        .bind(origin.map(|o| o.grant_types))
        .bind(origin.map(|o| o.auth_method))
        .execute(&mut **tx)
        .await;
        name_taken(inserted)?;
        grant(tx, &id, &input.permissions).await?;
        let detail = match origin {
            Some(origin) => Some(origin.described()),
            None => input.public.then(|| "public client".to_owned()),
        };
        audit::record(
            tx,
            audit::Entry {
                at: now,
                domain_id: Some(&domain.id),
                actor,
                action: Action::ApplicationRegistered,
                target: Some(&format!("{} ({client_id})", input.name)),
                client_id: Some(&client_id),
                detail: detail.as_deref(),
            },
        )
        .await?;
        let credentials = secret.map(|client_secret| Credentials {
            client_id,
            client_secret,
        });
        Ok((id, credentials))
    }

    /// Changes an application's settings; without a new icon the old one stays.
    pub async fn update_application(
        &self,
        actor: &Actor,
        user: &User,
        id: &str,
        input: ApplicationInput,
    ) -> Result<Application> {
        let WithPermissions {
            app: current,
            permissions: before,
        } = self.application_for(user, id).await?;
        // Public or confidential is chosen at registration.
        let public = current.is_public();
        let input = validate::application(self, ApplicationInput { public, ..input }).await?;
        refuse_beyond_role(
            user,
            input.permissions.iter().filter(|s| !before.contains(s)),
        )?;
        let now = self.now();
        let mut tx = self.db.write().await?;
        let updated = sqlx::query(
            "UPDATE applications SET name = $1, description = $2, website_url = $3, callback_url = $4, \
             updated_at = $5, refresh_tokens = $7, refresh_idle_seconds = $8, \
             refresh_absolute_seconds = $9 WHERE id = $6",
        )
        .bind(&input.name)
        .bind(&input.description)
        .bind(&input.website_url)
        .bind(&input.callback_url)
        .bind(now)
        .bind(&current.id)
        .bind(i64::from(input.refresh_tokens))
        .bind(input.refresh.idle)
        .bind(input.refresh.absolute)
        .execute(&mut *tx)
        .await;
        name_taken(updated)?;
        if let Some(icon) = &input.icon {
            sqlx::query("UPDATE applications SET icon = $1, icon_type = $2 WHERE id = $3")
                .bind(&icon.bytes)
                .bind(icon.kind.content_type())
                .bind(&current.id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM application_permissions WHERE application_id = $1")
            .bind(&current.id)
            .execute(&mut *tx)
            .await?;
        grant(&mut tx, &current.id, &input.permissions).await?;
        let (mut before, mut after) = (before, input.permissions.clone());
        before.sort_unstable();
        after.sort_unstable();
        let changed_face = input.name != current.name
            || input.website_url != current.website_url
            || input.callback_url != current.callback_url;
        if after != before || changed_face {
            // Users approved the old permissions, for the application as it
            // was shown to them and the callback they were returned to, not
            // these: ask them again.
            sqlx::query("DELETE FROM consents WHERE application_id = $1")
                .bind(&current.id)
                .execute(&mut *tx)
                .await?;
        }
        if after != before || changed_face || !input.refresh_tokens {
            // Refresh tokens rest on that consent, and on the setting.
            revoke_families(&mut tx, Families::Application(&current.id), now).await?;
        }
        audit::record(
            &mut tx,
            audit::Entry {
                at: now,
                domain_id: Some(&current.domain_id),
                actor,
                action: Action::ApplicationEdited,
                target: Some(&format!("{} ({})", input.name, current.client_id)),
                client_id: Some(&current.client_id),
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(self.application_for(user, id).await?.app)
    }

    /// Decrypts the client secret for its owner or an admin, and audits it.
    pub async fn reveal_credentials(
        &self,
        actor: &Actor,
        user: &User,
        id: &str,
    ) -> Result<Credentials> {
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

/// How a client that registered itself did so (RFC 7591).
pub(crate) struct Origin<'a> {
    /// `token` or `open` (`applications.registered_via`).
    pub via: &'a str,
    pub token_id: Option<&'a str>,
    /// The initial access token's label, for the audit log.
    pub label: Option<&'a str>,
    /// The SHA-256 of its registration access token (RFC 7592).
    pub access_hash: &'a str,
    pub grant_types: &'a str,
    pub auth_method: &'a str,
}

impl Origin<'_> {
    fn described(&self) -> String {
        format!(
            "registered by API ({})",
            self.label.unwrap_or("open registration")
        )
    }
}

/// Why a public application's secret cannot be revealed or rotated.
pub const PUBLIC_HAS_NO_SECRET: &str =
    "A public application has no client secret: it signs its users in with PKCE.";

/// `applications.client_type` for a public client or a confidential one.
/// Refuses permissions above `user`'s own role: nobody gives an
/// application more than they may hold themselves.
fn refuse_beyond_role<'a>(user: &User, added: impl IntoIterator<Item = &'a String>) -> Result<()> {
    let beyond = beyond_role(user, added);
    if beyond.is_empty() {
        return Ok(());
    }
    Err(Error::invalid(
        "permissions",
        format!(
            "Your role cannot give {}: ask a super admin.",
            beyond.join(", ")
        ),
    ))
}

fn client_type(public: bool) -> &'static str {
    match public {
        true => super::clients::PUBLIC,
        false => "confidential",
    }
}

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

async fn grant(tx: &mut Write, id: &str, scopes: &[String]) -> Result<()> {
    for scope in scopes {
        sqlx::query("INSERT INTO application_permissions (application_id, scope) VALUES ($1, $2)")
            .bind(id)
            .bind(scope)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// An application's insert or update, with a name already used in the
/// domain named next to its field.
fn name_taken(result: std::result::Result<sqlx::any::AnyQueryResult, sqlx::Error>) -> Result<()> {
    let taken = Invalid::new(
        "name",
        "An application with this name already exists in this domain.",
    );
    super::store::on_constraint(result, &[("applications_name_key", taken)]).map(|_| ())
}

fn split_icon(icon: Option<&Icon>) -> (Option<&[u8]>, Option<&'static str>) {
    match icon {
        Some(icon) => (Some(icon.bytes.as_slice()), Some(icon.kind.content_type())),
        None => (None, None),
    }
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
