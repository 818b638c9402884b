//! Registering an application with generated credentials, and editing
//! it: the checks (its domain's room, its name, the permissions its owner
//! may give) and the rows, audited.

use uuid::Uuid;

use super::{check_room, lock_domain, Application, Credentials, WithPermissions};
use crate::domain::access::Access;
use crate::domain::accounts::User;
use crate::domain::audit::{self, Action, Actor};
use crate::domain::authorization::{revoke_families, Families};
use crate::domain::ids::{ApplicationId, ClientId};
use crate::domain::rules::beyond_role;
use crate::domain::store::Write;
use crate::domain::tenancy::Domain;
use crate::domain::validate::{self, ApplicationInput, Icon, ValidApplication};
use crate::domain::{Error, Invalid, Keyport, Result};

impl Keyport {
    /// Registers an application in `domain` owned by `user`, with fresh
    /// credentials (a public one has a client ID only: `None`). The
    /// per-domain limit holds under concurrent submissions: the domain row
    /// is locked before counting.
    pub async fn register_application(
        &self,
        access: &Access,
        domain: &Domain,
        input: ApplicationInput,
    ) -> Result<(Application, Option<Credentials>)> {
        let (actor, user) = (access.actor(), access.person()?);
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
        access: &Access,
        id: &str,
        input: ApplicationInput,
    ) -> Result<Application> {
        let (actor, user) = (access.actor(), access.person()?);
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

/// `applications.client_type` for a public client or a confidential one.
fn client_type(public: bool) -> &'static str {
    match public {
        true => crate::domain::clients::PUBLIC,
        false => "confidential",
    }
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
    crate::domain::store::on_constraint(result, &[("applications_name_key", taken)]).map(|_| ())
}

fn split_icon(icon: Option<&Icon>) -> (Option<&[u8]>, Option<&'static str>) {
    match icon {
        Some(icon) => (Some(icon.bytes.as_slice()), Some(icon.kind.content_type())),
        None => (None, None),
    }
}
