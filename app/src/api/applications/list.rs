//! The applications list: the rows (kept as markup while they stay the
//! same), the registration form's options, and removal and restore.

use crate::api::codec::JsonText;
use leptos::prelude::*;

use super::*;
use crate::api::AppError;

/// The list's rows as markup for `apps` (`domain`'s applications as
/// `row_param` filters them): as written before from the same rows, or
/// `write`'s, which is then kept (`Memory::view`). Rendering the rows was
/// most of a page's cost; a list showing a secret is never kept.
#[cfg(feature = "ssr")]
pub fn list_rows(
    domain: &str,
    row_param: &str,
    apps: &[ListedApp],
    write: impl FnOnce() -> String,
) -> std::sync::Arc<str> {
    use sha2::Digest as _;
    let Ok(keyport) = crate::api::request::keyport() else {
        return write().into();
    };
    let shown = serde_json::to_vec(apps).unwrap_or_default();
    let from: [u8; 32] = sha2::Sha256::digest(shown).into();
    let which = format!("{domain}?{row_param}");
    match keyport.memory.view("portal rows", which, from, || {
        Ok::<_, std::convert::Infallible>(write())
    }) {
        Ok(markup) => markup,
        Err(never) => match never {},
    }
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "applications/list")]
pub async fn list_applications(
    domain: Option<String>,
    unused: Option<String>,
) -> Result<AppList, AppError> {
    use crate::api::access::allow;
    use crate::api::request::keyport;
    use crate::domain::applications;

    let user = allow::<ListApplications>().await?.user()?;
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

#[server(output = JsonText, prefix = "/rpc", endpoint = "applications/options")]
pub async fn registration_options(domain: Option<String>) -> Result<FormOptions, AppError> {
    use crate::api::access::allow;
    use crate::api::request::keyport;
    use crate::domain::applications;

    let user = allow::<RegistrationOptions>().await?.user()?;
    let keyport = keyport()?;
    let domain = applications::visible_domain(&keyport, &user, domain.as_deref()).await?;
    Ok(FormOptions {
        count: keyport.count_applications(&domain.id).await? as i64,
        limit: domain.app_limit,
        domain: domain.into(),
        catalog: catalog(&keyport).await?,
    })
}

/// Names of the listed applications, for the confirmation page; any id the
/// user may not see makes the whole answer "not found".
#[server(output = JsonText, prefix = "/rpc", endpoint = "applications/named")]
pub async fn applications_named(ids: Vec<String>) -> Result<Vec<(String, String)>, AppError> {
    use crate::api::access::allow;
    use crate::api::request::keyport;

    let user = allow::<ApplicationsNamed>().await?.user()?;
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
            .any(|(known, _): &(String, String)| app.id == *known)
        {
            named.push((app.id.into(), app.name));
        }
    }
    Ok(named)
}

/// Removes every ticked application in one transaction.
#[server(output = JsonText, prefix = "/rpc", endpoint = "applications/remove")]
pub async fn remove_applications(ids: Vec<String>) -> Result<usize, AppError> {
    use crate::api::access::allow;
    use crate::api::request::keyport;

    let access = allow::<RemoveApplications>().await?.access()?;
    if ids.len() > REMOVE_MAX {
        return Err(AppError::BadRequest(format!(
            "at most {REMOVE_MAX} applications at once"
        )));
    }
    let removed = keyport()?.remove_applications(&access, &ids).await?;
    leptos_axum::redirect(&format!("/applications?removed={removed}"));
    Ok(removed)
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "applications/removed")]
pub async fn removed_applications(domain: Option<String>) -> Result<RemovedList, AppError> {
    use crate::api::access::allow;
    use crate::api::request::keyport;
    use crate::domain::applications;

    let user = allow::<RemovedApplications>().await?.user()?;
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
#[server(output = JsonText, prefix = "/rpc", endpoint = "applications/restore")]
pub async fn restore_application(id: String) -> Result<(), AppError> {
    use crate::api::access::allow;
    use crate::api::request::{form, keyport};

    form("restore", &[("id", &id)], async {
        let access = allow::<RestoreApplication>().await?.access()?;
        keyport()?.restore_application(&access, &id).await?;
        Ok(())
    })
    .await?;
    leptos_axum::redirect(&format!("/applications/{id}?restored=1"));
    Ok(())
}
