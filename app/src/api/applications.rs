//! Server functions of the applications portal: list, register, view,
//! reveal, edit, remove. Each looks up the session user first; the domain
//! decides what that user may see.

use leptos::prelude::*;
use leptos::server_fn::codec::MultipartData;
use serde::{Deserialize, Serialize};

use super::multipart::SettingsForm;
use super::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainView {
    pub id: String,
    pub name: String,
}

/// One application as the portal shows it; never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub website_url: String,
    pub callback_url: String,
    pub client_id: String,
    /// Where the icon is served, if the application has one.
    pub icon_url: Option<String>,
    pub permissions: Vec<String>,
    pub owner: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// One row of the applications list: what the table shows and no more, since
/// the page carries it twice (as HTML, and as the data it hydrates from).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedApp {
    pub id: String,
    pub name: String,
    pub client_id: String,
    pub icon_url: Option<String>,
    pub permissions: Vec<String>,
    pub owner: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// Tokens issued on each of the last 30 days, oldest first.
    pub usage: Vec<i64>,
}

/// An application's secrets, without the secrets: when each was last used,
/// and until when the previous one works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretsView {
    pub rotated_at: Option<i64>,
    pub current_last_used: Option<i64>,
    pub previous_expires_at: Option<i64>,
    pub previous_last_used: Option<i64>,
}

/// One day of usage, for the application page's chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageDay {
    pub day: i64,
    pub issued: i64,
    pub failures: i64,
}

/// An application in "Recently removed".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedView {
    pub id: String,
    pub name: String,
    pub client_id: String,
    pub owner: String,
    pub removed_at: i64,
    pub purged_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedList {
    pub domain: DomainView,
    pub apps: Vec<RemovedView>,
}

/// The plaintext credentials: only in the answer to a reveal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialsView {
    pub client_id: String,
    pub client_secret: String,
    pub oauth_credentials: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppList {
    pub domain: DomainView,
    /// Every domain, for a super admin's switcher; empty for anyone else.
    pub domains: Vec<DomainView>,
    pub count: i64,
    pub limit: i64,
    pub apps: Vec<ListedApp>,
    /// The application whose secret a plain form post just revealed
    /// (pages without JavaScript reveal by a round trip), shown once.
    pub revealed: Option<(String, CredentialsView)>,
    /// Only applications not used for `unused_days` are listed.
    pub unused_only: bool,
    pub unused_days: i64,
    /// How many applications can still be restored.
    pub removed: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionView {
    pub scope: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppPage {
    pub app: AppView,
    pub catalog: Vec<PermissionView>,
    pub token_url: String,
    /// Credentials a plain form post just revealed, shown once, and which
    /// row asked for them.
    pub credentials: Option<CredentialsView>,
    pub shown: Option<String>,
    pub secrets: SecretsView,
    /// The last 30 days, oldest first.
    pub usage: Vec<UsageDay>,
    /// Whom the viewer may hand the application to, by id and email:
    /// empty unless the viewer is an admin.
    pub owners: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormOptions {
    pub domain: DomainView,
    pub count: i64,
    pub limit: i64,
    pub catalog: Vec<PermissionView>,
}

/// The most applications one removal may name: far above any domain's limit.
pub const REMOVE_MAX: usize = 1000;

/// Where an application's icon is served, if it has one. The update time in
/// the URL lets browsers keep it.
#[cfg(feature = "ssr")]
pub(crate) fn icon_url(id: &str, icon_type: Option<&str>, updated_at: i64) -> Option<String> {
    icon_type.map(|_| format!("/applications/{id}/icon?v={updated_at}"))
}

#[cfg(feature = "ssr")]
mod convert {
    use super::*;
    use crate::domain::applications::{Credentials, WithPermissions};
    use crate::domain::permissions::Permission;
    use crate::domain::secrets::Secret;
    use crate::domain::tenancy::Domain;

    impl From<WithPermissions> for AppView {
        fn from(WithPermissions { app, permissions }: WithPermissions) -> Self {
            let icon_url = icon_url(&app.id, app.icon_type.as_deref(), app.updated_at);
            Self {
                id: app.id,
                name: app.name,
                description: app.description,
                website_url: app.website_url,
                callback_url: app.callback_url,
                client_id: app.client_id,
                icon_url,
                permissions,
                owner: app.owner_email,
                created_at: app.created_at,
                last_used_at: app.last_used_at,
            }
        }
    }

    impl ListedApp {
        pub(crate) fn new(
            WithPermissions { app, permissions }: WithPermissions,
            usage: Vec<i64>,
        ) -> Self {
            let icon_url = icon_url(&app.id, app.icon_type.as_deref(), app.updated_at);
            Self {
                id: app.id,
                name: app.name,
                client_id: app.client_id,
                icon_url,
                permissions,
                owner: app.owner_email,
                created_at: app.created_at,
                last_used_at: app.last_used_at,
                usage,
            }
        }
    }

    impl From<&crate::domain::applications::Application> for SecretsView {
        fn from(app: &crate::domain::applications::Application) -> Self {
            Self {
                rotated_at: app.rotated_at,
                current_last_used: app.secret_last_used_at,
                previous_expires_at: app.previous_secret_expires_at,
                previous_last_used: app.previous_last_used_at,
            }
        }
    }

    impl From<crate::domain::usage::Day> for UsageDay {
        fn from(d: crate::domain::usage::Day) -> Self {
            Self {
                day: d.day,
                issued: d.issued,
                failures: d.failures,
            }
        }
    }

    impl From<crate::domain::applications::Application> for RemovedView {
        fn from(app: crate::domain::applications::Application) -> Self {
            let removed_at = app.removed_at.unwrap_or_default();
            Self {
                id: app.id,
                name: app.name,
                client_id: app.client_id,
                owner: app.owner_email,
                removed_at,
                purged_at: removed_at + crate::domain::removal::KEPT_FOR,
            }
        }
    }

    impl From<Credentials> for CredentialsView {
        fn from(c: Credentials) -> Self {
            Self {
                oauth_credentials: c.oauth_credentials(),
                client_secret: c.client_secret.expose().to_owned(),
                client_id: c.client_id,
            }
        }
    }

    impl From<Domain> for DomainView {
        fn from(d: Domain) -> Self {
            Self {
                id: d.id,
                name: d.name,
            }
        }
    }

    impl From<Permission> for PermissionView {
        fn from(p: Permission) -> Self {
            Self {
                scope: p.scope,
                description: p.description,
            }
        }
    }
}

/// The permission catalog, as the settings form shows it.
#[cfg(feature = "ssr")]
pub(super) async fn catalog(
    keyport: &crate::domain::Keyport,
) -> Result<Vec<PermissionView>, AppError> {
    Ok(keyport
        .permissions()
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Every domain, for a super admin's switcher; nothing for anyone else.
#[cfg(feature = "ssr")]
pub(super) async fn switchable_domains(
    keyport: &crate::domain::Keyport,
    user: &crate::domain::accounts::User,
) -> Result<Vec<DomainView>, AppError> {
    use crate::domain::accounts::Role;
    if user.role != Role::SuperAdmin {
        return Ok(Vec::new());
    }
    Ok(keyport
        .domains()
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// What a reveal posted without JavaScript leaves for the page it returns
/// to (sealed in the session, shown once).
#[cfg(feature = "ssr")]
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Revealed {
    id: String,
    /// Which of the application page's rows asked.
    row: Option<String>,
    credentials: CredentialsView,
}

/// The credentials a plain form post revealed for one of `ids` just
/// before this page, if any.
#[cfg(feature = "ssr")]
async fn just_revealed(ids: impl Fn(&str) -> bool) -> Result<Option<Revealed>, AppError> {
    let revealed = super::request::take_result::<Revealed>("reveal")
        .await?
        .filter(|r| ids(&r.id));
    if revealed.is_some() {
        super::request::no_store();
    }
    Ok(revealed)
}

#[server(prefix = "/rpc", endpoint = "applications/list")]
pub async fn list_applications(
    domain: Option<String>,
    unused: Option<String>,
) -> Result<AppList, AppError> {
    use super::request::{keyport, require_user};
    use crate::domain::applications;

    let user = require_user().await?;
    let keyport = keyport()?;
    let domain = applications::visible_domain(&keyport, &user, domain.as_deref()).await?;
    let unused_only = unused.is_some();
    let since = keyport.unused_since();
    let mut apps = keyport.list_applications(&user, &domain).await?;
    if unused_only {
        apps.retain(|a| a.app.last_used_at.is_none_or(|at| at < since));
    }
    let all = keyport.domain_applications(&domain.id).await?;
    let removed = keyport.removed_applications(&user, &domain).await?.len();
    let revealed = just_revealed(|id| apps.iter().any(|a| a.app.id == id))
        .await?
        .map(|r| (r.id, r.credentials));
    let domains = switchable_domains(&keyport, &user).await?;
    Ok(AppList {
        limit: domain.app_limit,
        domain: domain.into(),
        domains,
        count: all.in_use.len() as i64,
        apps: apps
            .into_iter()
            .map(|a| {
                let usage = all.issued.get(&a.app.id).copied().unwrap_or_default();
                ListedApp::new(a, usage.to_vec())
            })
            .collect(),
        revealed,
        unused_only,
        unused_days: keyport.unused_days,
        removed,
    })
}

#[server(prefix = "/rpc", endpoint = "applications/options")]
pub async fn registration_options(domain: Option<String>) -> Result<FormOptions, AppError> {
    use super::request::{keyport, require_user};
    use crate::domain::applications;

    let user = require_user().await?;
    let keyport = keyport()?;
    let domain = applications::visible_domain(&keyport, &user, domain.as_deref()).await?;
    Ok(FormOptions {
        count: keyport.count_applications(&domain.id).await? as i64,
        limit: domain.app_limit,
        domain: domain.into(),
        catalog: catalog(&keyport).await?,
    })
}

#[server(prefix = "/rpc", endpoint = "applications/page")]
pub async fn application_page(id: String) -> Result<AppPage, AppError> {
    use super::request::{keyport, require_user};

    let user = require_user().await?;
    let keyport = keyport()?;
    // What this node counted is written first, so the chart is current.
    keyport.flush_usage().await?;
    let app = keyport.application_for(&user, &id).await?;
    let secrets = SecretsView::from(&app.app);
    let usage = keyport
        .usage_days(&app.app.id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    let owners = keyport
        .possible_owners(&user, &app.app)
        .await?
        .into_iter()
        .map(|u| (u.id, u.email))
        .collect();
    let revealed = just_revealed(|revealed| revealed == app.app.id).await?;
    let (credentials, shown) = revealed.map_or((None, None), |r| (Some(r.credentials), r.row));
    Ok(AppPage {
        app: app.into(),
        catalog: catalog(&keyport).await?,
        token_url: keyport
            .issuer
            .join("oauth2/token")
            .map(|u| u.to_string())
            .unwrap_or_default(),
        credentials,
        shown,
        secrets,
        usage,
        owners,
    })
}

/// Decrypts an application's credentials for its owner or an admin;
/// audited. Only ever a POST: a link (which any site can make a browser
/// follow) never reveals. Posted without JavaScript, the credentials are
/// kept for the page the browser returns to, with the `row` that asked.
#[server(prefix = "/rpc", endpoint = "applications/reveal")]
pub async fn reveal_credentials(
    id: String,
    row: Option<String>,
) -> Result<CredentialsView, AppError> {
    use super::request::{actor, keep_result, keyport, no_store, require_user};

    let user = require_user().await?;
    no_store();
    let credentials: CredentialsView = keyport()?
        .reveal_credentials(&actor(&user), &user, &id)
        .await?
        .into();
    let revealed = Revealed {
        id,
        row,
        credentials,
    };
    keep_result("reveal", &revealed).await;
    Ok(revealed.credentials)
}

#[server(input = SettingsForm, input_derive = (), prefix = "/rpc", endpoint = "applications/create")]
pub async fn create_application(data: MultipartData) -> Result<String, AppError> {
    use super::request::{actor, keep_for_redirect, keyport, require_user};
    use crate::domain::applications;

    let form = form::read(data).await?;
    let result = async {
        let user = require_user().await?;
        let keyport = keyport()?;
        let domain = applications::visible_domain(&keyport, &user, form.get("domain")).await?;
        let (app, _) = keyport
            .register_application(&actor(&user), &user, &domain, form.input())
            .await?;
        Ok::<_, AppError>(app.id)
    }
    .await;
    match result {
        Ok(id) => {
            leptos_axum::redirect(&format!("/applications/{id}"));
            Ok(id)
        }
        Err(e) => {
            keep_for_redirect("application", &form.kept(), &e).await;
            Err(e)
        }
    }
}

#[server(input = SettingsForm, input_derive = (), prefix = "/rpc", endpoint = "applications/update")]
pub async fn update_application(data: MultipartData) -> Result<(), AppError> {
    use super::request::{actor, keep_for_redirect, keyport, require_user};

    let form = form::read(data).await?;
    let id = form.get("id").unwrap_or_default().to_owned();
    let result = async {
        let user = require_user().await?;
        keyport()?
            .update_application(&actor(&user), &user, &id, form.input())
            .await?;
        Ok::<_, AppError>(())
    }
    .await;
    match result {
        Ok(()) => {
            leptos_axum::redirect(&format!("/applications/{id}?saved=1"));
            Ok(())
        }
        Err(e) => {
            keep_for_redirect("application", &form.kept(), &e).await;
            Err(e)
        }
    }
}

/// Names of the listed applications, for the confirmation page; any id the
/// user may not see makes the whole answer "not found".
#[server(prefix = "/rpc", endpoint = "applications/named")]
pub async fn applications_named(ids: Vec<String>) -> Result<Vec<(String, String)>, AppError> {
    use super::request::{keyport, require_user};

    let user = require_user().await?;
    if ids.len() > REMOVE_MAX {
        return Err(AppError::BadRequest(format!(
            "at most {REMOVE_MAX} applications at once"
        )));
    }
    let keyport = keyport()?;
    let mut named = Vec::with_capacity(ids.len());
    for id in ids {
        let app = keyport.application_for(&user, &id).await?.app;
        if !named
            .iter()
            .any(|(known, _): &(String, String)| *known == app.id)
        {
            named.push((app.id, app.name));
        }
    }
    Ok(named)
}

/// Removes every ticked application in one transaction.
#[server(prefix = "/rpc", endpoint = "applications/remove")]
pub async fn remove_applications(ids: Vec<String>) -> Result<usize, AppError> {
    use super::request::{actor, keyport, require_user};

    let user = require_user().await?;
    if ids.len() > REMOVE_MAX {
        return Err(AppError::BadRequest(format!(
            "at most {REMOVE_MAX} applications at once"
        )));
    }
    let removed = keyport()?
        .remove_applications(&actor(&user), &user, &ids)
        .await?;
    leptos_axum::redirect(&format!("/applications?removed={removed}"));
    Ok(removed)
}

/// Issues a new secret; the current one keeps working for `grace_seconds`.
#[server(prefix = "/rpc", endpoint = "applications/rotate")]
pub async fn rotate_secret(id: String, grace_seconds: i64) -> Result<(), AppError> {
    use super::request::{actor, keep_for_redirect, keyport, require_user};

    let result = async {
        let user = require_user().await?;
        let rotated = keyport()?
            .rotate_secret(&actor(&user), &user, &id, grace_seconds)
            .await?;
        Ok::<_, AppError>(rotated.app.rotated_at.unwrap_or_default())
    }
    .await;
    match result {
        // The time makes each rotation a new address, which the page reloads.
        Ok(at) => {
            leptos_axum::redirect(&format!("/applications/{id}?rotated={at}"));
            Ok(())
        }
        Err(e) => {
            keep_for_redirect("rotate", &[], &e).await;
            Err(e)
        }
    }
}

/// Hands the application to another user of its domain (admins only).
#[server(prefix = "/rpc", endpoint = "applications/transfer")]
pub async fn transfer_application(id: String, owner: String) -> Result<(), AppError> {
    use super::request::{actor, keep_for_redirect, keyport, require_user};

    let result = async {
        let user = require_user().await?;
        let app = keyport()?
            .transfer_application(&actor(&user), &user, &id, &owner)
            .await?;
        Ok::<_, AppError>(app.updated_at)
    }
    .await;
    match result {
        // The time makes each transfer a new address, which the page reloads.
        Ok(at) => {
            leptos_axum::redirect(&format!("/applications/{id}?transferred={at}"));
            Ok(())
        }
        Err(e) => {
            keep_for_redirect("transfer", &[], &e).await;
            Err(e)
        }
    }
}

/// Retires the previous secret before its grace period ends.
#[server(prefix = "/rpc", endpoint = "applications/retire")]
pub async fn retire_secret(id: String) -> Result<(), AppError> {
    use super::request::{actor, keep_for_redirect, keyport, require_user};

    let result = async {
        let user = require_user().await?;
        keyport()?
            .retire_previous_secret(&actor(&user), &user, &id)
            .await?;
        Ok::<_, AppError>(())
    }
    .await;
    match &result {
        Ok(()) => leptos_axum::redirect(&format!("/applications/{id}?retired=1")),
        Err(e) => keep_for_redirect("rotate", &[], e).await,
    }
    result
}

#[server(prefix = "/rpc", endpoint = "applications/removed")]
pub async fn removed_applications(domain: Option<String>) -> Result<RemovedList, AppError> {
    use super::request::{keyport, require_user};
    use crate::domain::applications;

    let user = require_user().await?;
    let keyport = keyport()?;
    let domain = applications::visible_domain(&keyport, &user, domain.as_deref()).await?;
    let apps = keyport.removed_applications(&user, &domain).await?;
    Ok(RemovedList {
        domain: domain.into(),
        apps: apps.into_iter().map(Into::into).collect(),
    })
}

/// Restores a removed application with the same client ID and a fresh
/// secret, and lands on its page.
#[server(prefix = "/rpc", endpoint = "applications/restore")]
pub async fn restore_application(id: String) -> Result<(), AppError> {
    use super::request::{actor, keep_for_redirect, keyport, require_user};

    let result = async {
        let user = require_user().await?;
        keyport()?
            .restore_application(&actor(&user), &user, &id)
            .await?;
        Ok::<_, AppError>(())
    }
    .await;
    match &result {
        Ok(()) => leptos_axum::redirect(&format!("/applications/{id}?restored=1")),
        Err(e) => keep_for_redirect("restore", &[("id", &id)], e).await,
    }
    result
}

#[cfg(feature = "ssr")]
mod form {
    //! The Application Settings form, read from a multipart body.

    use super::AppError;
    use crate::domain::validate::{ApplicationInput, ICON_MAX};
    use leptos::server_fn::codec::MultipartData;

    #[derive(Default)]
    pub struct Form {
        fields: Vec<(String, String)>,
        icon: Option<Vec<u8>>,
    }

    fn malformed(e: impl std::fmt::Display) -> AppError {
        AppError::BadRequest(format!("unreadable form: {e}"))
    }

    pub async fn read(data: MultipartData) -> Result<Form, AppError> {
        let mut multipart = data
            .into_inner()
            .ok_or_else(|| malformed("not a multipart form"))?;
        let mut form = Form::default();
        while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
            let name = field.name().unwrap_or_default().to_owned();
            if name == "icon" {
                // Keep one byte past the limit, so that validation can say
                // "too large" without holding the whole upload.
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(malformed)? {
                    let room = (ICON_MAX + 1).saturating_sub(bytes.len());
                    bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                form.icon = Some(bytes).filter(|b| !b.is_empty());
            } else {
                let text = field.text().await.map_err(malformed)?;
                form.fields.push((name, text));
            }
        }
        Ok(form)
    }

    impl Form {
        pub fn get(&self, name: &str) -> Option<&str> {
            self.fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }

        pub fn input(&self) -> ApplicationInput {
            let text = |name| self.get(name).unwrap_or_default().to_owned();
            ApplicationInput {
                name: text("name"),
                description: text("description"),
                permissions: self
                    .fields
                    .iter()
                    .filter(|(k, _)| k == "permissions")
                    .map(|(_, v)| v.clone())
                    .collect(),
                website_url: text("website_url"),
                callback_url: text("callback_url"),
                icon: self.icon.clone(),
            }
        }

        /// What a refused plain post hands back to the form.
        pub fn kept(&self) -> Vec<(&str, &str)> {
            self.fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        }
    }
}
