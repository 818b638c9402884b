//! Domains for super admins: list with their counts, create, rename, limit
//! and delete; move a user to another domain; find an application in any
//! domain. A domain admin reads their own domain's settings.

use crate::api::codec::JsonText;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::AppError;

/// One domain as the domains page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainRow {
    pub id: String,
    pub name: String,
    pub app_limit: i64,
    pub applications: i64,
    pub removed: i64,
    pub users: i64,
    pub created_at: i64,
    pub last_activity: Option<i64>,
    /// Whether the viewer may delete it now (empty, not the default), or
    /// why not.
    pub deletable: Result<(), String>,
}

/// An application a search found, with its domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundView {
    pub id: String,
    pub name: String,
    pub client_id: String,
    pub domain_id: String,
    pub domain_name: String,
    pub owner_email: String,
}

/// The answer to a search: what was looked for, the applications found (at
/// most `FOUND_MAX`) and whether there were more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Search {
    pub query: String,
    pub found: Vec<FoundView>,
    pub more: bool,
    /// Whether it looked in every domain (super admins) or one.
    pub everywhere: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainListing {
    /// Whether the viewer may change domains (super admins); domain admins
    /// read their own.
    pub manage: bool,
    pub domains: Vec<DomainRow>,
    pub search: Option<Search>,
    pub max_limit: i64,
    pub default_limit: i64,
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use crate::domain::tenancy::{plural, DomainSummary, Found};

    pub fn row(summary: DomainSummary, default_domain: &str) -> DomainRow {
        let deletable = if summary.domain.id.as_str() == default_domain {
            Err("The default domain stays: new administrators start in it.".to_owned())
        } else if summary.users > 0 || summary.applications > 0 {
            let mut left = Vec::new();
            if summary.users > 0 {
                left.push(plural(summary.users, "user", "users"));
            }
            if summary.applications > 0 {
                left.push(plural(summary.applications, "application", "applications"));
            }
            Err(format!(
                "Holds {}: move or remove them to delete it.",
                left.join(" and ")
            ))
        } else {
            Ok(())
        };
        DomainRow {
            id: summary.domain.id.into(),
            name: summary.domain.name,
            app_limit: summary.domain.app_limit,
            applications: summary.applications,
            removed: summary.removed,
            users: summary.users,
            created_at: summary.created_at,
            last_activity: summary.last_activity,
            deletable,
        }
    }

    impl From<Found> for FoundView {
        fn from(f: Found) -> Self {
            Self {
                id: f.id,
                name: f.name,
                client_id: f.client_id,
                domain_id: f.domain_id,
                domain_name: f.domain_name,
                owner_email: f.owner_email,
            }
        }
    }
}

/// The domains the viewer may see, and what a search (`q`) found.
#[server(output = JsonText, prefix = "/rpc", endpoint = "domains/page")]
pub async fn domains_page(q: Option<String>) -> Result<DomainListing, AppError> {
    use super::request::keyport;
    use crate::api::access::allow;
    use crate::domain::accounts::Role;
    use crate::domain::tenancy::{DEFAULT_APP_LIMIT, MAX_APP_LIMIT};

    let admin = allow::<DomainsPage>().await?.user()?;
    let keyport = keyport()?;
    let default_domain = keyport.tenancy.default_domain_id.clone();
    let domains = keyport
        .domain_summaries(&admin)
        .await?
        .into_iter()
        .map(|s| ssr::row(s, &default_domain))
        .collect();
    let search = match q.filter(|q| !q.trim().is_empty()) {
        Some(query) => {
            let (found, more) = keyport.find_applications(&admin, &query).await?;
            Some(Search {
                query,
                found: found.into_iter().map(Into::into).collect(),
                more,
                everywhere: admin.role == Role::SuperAdmin,
            })
        }
        None => None,
    };
    Ok(DomainListing {
        manage: admin.role == Role::SuperAdmin,
        domains,
        search,
        max_limit: MAX_APP_LIMIT,
        default_limit: DEFAULT_APP_LIMIT,
    })
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "domains/create")]
pub async fn create_domain(name: String, app_limit: String) -> Result<(), AppError> {
    use super::request::{form, keyport};
    use crate::api::access::allow;
    use crate::domain::tenancy::{checked_domain_name, parse_app_limit};

    form(
        "domain",
        &[("name", &name), ("app_limit", &app_limit)],
        async {
            let access = allow::<CreateDomain>().await?.access()?;
            let limit = match app_limit.trim() {
                "" => Ok(None),
                typed => parse_app_limit(typed).map(Some),
            };
            // Every refused field at once.
            let (_, limit) = crate::domain::both(checked_domain_name(&name), limit)?;
            keyport()?.create_domain(&access, &name, limit).await?;
            Ok(())
        },
    )
    .await
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "domains/rename")]
pub async fn rename_domain(id: String, name: String) -> Result<(), AppError> {
    use super::request::{form, keyport};
    use crate::api::access::allow;

    form("domains", &[("id", &id), ("name", &name)], async {
        let access = allow::<RenameDomain>().await?.access()?;
        keyport()?.rename_domain(&access, &id, &name).await?;
        Ok(())
    })
    .await
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "domains/limit")]
pub async fn set_domain_limit(id: String, app_limit: String) -> Result<(), AppError> {
    use super::request::{form, keyport};
    use crate::api::access::allow;
    use crate::domain::tenancy::parse_app_limit;

    form(
        "domains",
        &[("id", &id), ("app_limit", &app_limit)],
        async {
            let access = allow::<SetDomainLimit>().await?.access()?;
            let limit = parse_app_limit(&app_limit)?;
            keyport()?.set_app_limit(&access, &id, limit).await?;
            Ok(())
        },
    )
    .await
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "domains/delete")]
pub async fn delete_domain(id: String) -> Result<(), AppError> {
    use super::request::{form, keyport};
    use crate::api::access::allow;

    form("domains", &[("id", &id)], async {
        let access = allow::<DeleteDomain>().await?.access()?;
        keyport()?.delete_domain(&access, &id).await?;
        Ok(())
    })
    .await
}

/// Moves a user, with the applications they own, to another domain.
#[server(output = JsonText, prefix = "/rpc", endpoint = "users/move")]
pub async fn move_user(id: String, domain: String) -> Result<(), AppError> {
    use super::request::{form, keyport};
    use crate::api::access::allow;

    form("users", &[("id", &id)], async {
        let access = allow::<MoveUser>().await?.access()?;
        keyport()?.move_user(&access, &id, &domain).await?;
        Ok(())
    })
    .await
}
