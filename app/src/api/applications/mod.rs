//! Server functions of the applications portal, one file per group: the
//! list and removal (`list`), an application's page and what it does with
//! its credentials and owner (`page`), the settings form (`settings`), and
//! its secrets' rotation (`secrets`). Each looks up the session user first;
//! the domain decides what that user may see. The view types they answer
//! with are here.

use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use super::AppError;

mod list;
mod page;
mod secrets;
mod settings;

pub use list::*;
pub use page::*;
pub use secrets::*;
pub use settings::*;

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
    /// A public client: no secret.
    pub public: bool,
    pub refresh_tokens: bool,
    /// Refresh token lifetimes, in days.
    pub refresh_idle_days: i64,
    pub refresh_absolute_days: i64,
    /// "registered by API (label)" for a client that registered itself.
    pub registered_by: Option<String>,
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
    /// A public client: no secret to show.
    pub public: bool,
    /// "registered by API (label)" for a client that registered itself.
    pub registered_by: Option<String>,
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
    /// The name of the API it belongs to; empty where that goes unsaid.
    pub api: String,
    /// The least role whose user may hold it (`rules::least_role`), in words.
    pub least_role: String,
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
                registered_by: app.registered_by(),
                public: app.is_public(),
                refresh_tokens: app.refresh_tokens != 0,
                refresh_idle_days: app.refresh_idle_seconds / 86_400,
                refresh_absolute_days: app.refresh_absolute_seconds / 86_400,
                id: app.id.into(),
                name: app.name,
                description: app.description,
                website_url: app.website_url,
                callback_url: app.callback_url,
                client_id: app.client_id.into(),
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
                registered_by: app.registered_by(),
                public: app.is_public(),
                id: app.id.into(),
                name: app.name,
                client_id: app.client_id.into(),
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
                id: app.id.into(),
                name: app.name,
                client_id: app.client_id.into(),
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
                client_id: c.client_id.into(),
            }
        }
    }

    impl From<Domain> for DomainView {
        fn from(d: Domain) -> Self {
            Self {
                id: d.id.into(),
                name: d.name,
            }
        }
    }

    impl From<Permission> for PermissionView {
        fn from(p: Permission) -> Self {
            Self {
                least_role: least_role_words(&p.scope),
                scope: p.scope,
                description: p.description,
                api: String::new(),
            }
        }
    }
}

/// The least role that may hold `scope`, as the pages name roles.
#[cfg(feature = "ssr")]
pub(crate) fn least_role_words(scope: &str) -> String {
    use crate::domain::accounts::Role;
    match crate::domain::rules::least_role(scope) {
        Role::SuperAdmin => "Super admin",
        Role::DomainAdmin => "Domain admin",
        Role::Member => "Member",
    }
    .to_owned()
}

/// The permission catalog, as the settings form shows it.
#[cfg(feature = "ssr")]
pub(crate) async fn catalog(
    keyport: &crate::domain::Keyport,
) -> Result<Vec<PermissionView>, AppError> {
    let apis = keyport.apis().await?;
    let mut catalog: Vec<PermissionView> = apis
        .0
        .iter()
        .flat_map(|api| {
            api.permissions.iter().map(|p| PermissionView {
                least_role: least_role_words(&p.scope),
                scope: p.scope.clone(),
                description: p.description.clone(),
                api: api.name.clone(),
            })
        })
        .collect();
    catalog.sort_by(|a, b| a.scope.cmp(&b.scope));
    Ok(catalog)
}

/// Every domain, for a super admin's switcher; nothing for anyone else.
#[cfg(feature = "ssr")]
pub(crate) async fn switchable_domains(
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
