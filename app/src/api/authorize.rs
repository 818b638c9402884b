//! The authorization code flow as the signed-in user sees it (contract §5): the
//! request behind the consent page, the user's decision, and the
//! applications they have connected.

use crate::api::codec::JsonText;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use super::applications::icon_url;
use super::applications::PermissionView;
use super::AppError;

/// What the consent page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentView {
    pub app_name: String,
    pub icon_url: Option<String>,
    pub website_url: String,
    pub domain_name: String,
    /// The admin who registered the application; `None` for a client that
    /// registered itself (open registration), which no admin vouches for.
    pub registered_by: Option<String>,
    pub permissions: Vec<PermissionView>,
    /// Where the browser goes after the decision: scheme, host and port.
    pub returns_to: String,
    /// The host of that, shown on its own so that nobody misses it.
    pub returns_host: String,
    pub user_email: String,
    /// The API the request named (RFC 8707), by name, if it named one.
    pub api: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Authorization {
    /// The user decides. (Boxed: a redirect, the other answer, is a
    /// fraction of its size.)
    Consent(Box<ConsentView>),
    /// Nothing to decide: the consent is remembered, or the request goes back
    /// to the application with an error. The browser is sent there.
    Redirect(String),
}

/// An application the user has given access to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionView {
    pub application_id: String,
    pub name: String,
    pub website_url: String,
    pub domain_name: String,
    pub icon_url: Option<String>,
    pub permissions: Vec<String>,
    pub granted_at: i64,
    /// Its refresh tokens, one per approval that kept it connected.
    pub kept: Vec<KeptView>,
}

/// One approval's refresh tokens: since when, and their last use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptView {
    pub since: i64,
    pub last_used_at: i64,
    pub last_address: String,
    pub ends_at: i64,
}

/// Checks the query string of `/oauth2/authorize` for the signed-in user.
#[server(output = JsonText, prefix = "/rpc", endpoint = "authorize/request")]
pub async fn authorization_request(query: String) -> Result<Authorization, AppError> {
    use super::request::{keyport, no_store};
    use crate::api::access::allow;

    no_store();
    let access = allow::<AuthorizationRequest>().await?.access()?;
    let user = access.person()?;
    let keyport = keyport()?;
    let checked = match check(&keyport, user, &query).await {
        Ok(Ok(checked)) => checked,
        Ok(Err(url)) => return Ok(redirect(url)),
        Err(e) => {
            if let (AppError::Authorization(_), Some(response)) =
                (&e, use_context::<leptos_axum::ResponseOptions>())
            {
                // The error page of a refused request answers 400.
                response.set_status(http::StatusCode::BAD_REQUEST);
            }
            return Err(e);
        }
    };
    if keyport.consent_covers(user, &checked).await? {
        let url = keyport.approve_authorization(&access, &checked).await?;
        return Ok(redirect(url));
    }
    let redirect = url::Url::parse(&checked.redirect_uri).map_err(|_| AppError::Internal)?;
    let returns_to = redirect.origin().ascii_serialization();
    let returns_host = redirect.host_str().unwrap_or_default().to_owned();
    super::request::content_security_policy(Some(&returns_to));
    let app = &checked.app;
    let api = match &checked.resource {
        Some(resource) => keyport
            .apis()
            .await?
            .target(Some(resource))
            .ok()
            .map(|api| api.name.clone()),
        None => None,
    };
    Ok(Authorization::Consent(Box::new(ConsentView {
        api,
        app_name: app.name.clone(),
        icon_url: icon_url(&app.id, app.icon_type.as_deref(), app.updated_at),
        website_url: app.website_url.clone(),
        domain_name: checked.domain_name.clone(),
        registered_by: (app.registered_via.as_deref() != Some("open"))
            .then(|| app.owner_email.clone()),
        permissions: checked
            .permissions
            .iter()
            .map(|(scope, description)| PermissionView {
                least_role: super::applications::least_role_words(scope),
                scope: scope.clone(),
                description: description.clone(),
                api: String::new(),
            })
            .collect(),
        returns_to,
        returns_host,
        user_email: user.email.clone(),
    })))
}

/// Approve or deny, posted by the consent page's plain form: the answer is a
/// redirect to the application's callback.
#[server(output = JsonText, prefix = "/rpc", endpoint = "authorize/decide")]
pub async fn decide_authorization(request: String, decision: String) -> Result<(), AppError> {
    use super::request::{form, keyport};
    use crate::api::access::allow;

    let url = form("authorize", &[], async {
        let access = allow::<DecideAuthorization>().await?.access()?;
        let user = access.person()?;
        let keyport = keyport()?;
        let checked = match check(&keyport, user, &request).await? {
            Ok(checked) => checked,
            Err(url) => return Ok(url),
        };
        match decision.as_str() {
            "approve" => Ok(keyport.approve_authorization(&access, &checked).await?),
            "deny" => Ok(keyport.deny_authorization(access.actor(), &checked).await?),
            _ => Err(AppError::BadRequest(
                "decision must be approve or deny".into(),
            )),
        }
    })
    .await?;
    leptos_axum::redirect(&url);
    Ok(())
}

/// The checked request, or the callback URL carrying an error for the
/// application. A request that cannot be answered at its callback is an
/// error shown to the user.
#[cfg(feature = "ssr")]
async fn check(
    keyport: &crate::domain::Keyport,
    user: &crate::domain::accounts::User,
    query: &str,
) -> Result<Result<crate::domain::authorization::Checked, String>, AppError> {
    use crate::domain::authorization::{AuthorizationRequest, Rejection};

    let request =
        AuthorizationRequest::parse(query).map_err(|r| AppError::Authorization(r.to_string()))?;
    match keyport.check_authorization(user, &request).await {
        Ok(checked) => Ok(Ok(checked)),
        Err(Rejection::ToApplication(url)) => Ok(Err(url)),
        Err(Rejection::Refused(r)) => Err(AppError::Authorization(r.to_string())),
        Err(Rejection::Failed(e)) => Err(e.into()),
    }
}

#[cfg(feature = "ssr")]
fn redirect(url: String) -> Authorization {
    leptos_axum::redirect(&url);
    Authorization::Redirect(url)
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "connections/list")]
pub async fn list_connections() -> Result<Vec<ConnectionView>, AppError> {
    use super::request::keyport;
    use crate::api::access::allow;

    let user = allow::<ListConnections>().await?.user()?;
    let keyport = keyport()?;
    let families = keyport.refresh_families(&user).await?;
    Ok(keyport
        .connections(&user)
        .await?
        .into_iter()
        .map(|c| ConnectionView {
            kept: families
                .iter()
                .filter(|f| f.application_id == c.application_id)
                .map(|f| KeptView {
                    since: f.created_at,
                    last_used_at: f.last_used_at,
                    last_address: f.last_address.clone(),
                    ends_at: f.absolute_expires_at,
                })
                .collect(),
            icon_url: icon_url(&c.application_id, c.icon_type.as_deref(), c.updated_at),
            application_id: c.application_id.into(),
            name: c.name,
            website_url: c.website_url,
            domain_name: c.domain_name,
            permissions: c
                .scope
                .split(' ')
                .filter(|s| *s != crate::domain::authorization::OFFLINE_ACCESS)
                .map(str::to_owned)
                .collect(),
            granted_at: c.granted_at,
        })
        .collect())
}

/// Takes back the access given to an application: it must ask again, and the
/// tokens it holds for this user stop working.
#[server(output = JsonText, prefix = "/rpc", endpoint = "connections/disconnect")]
pub async fn disconnect_application(application_id: String) -> Result<(), AppError> {
    use super::request::{form, keyport};
    use crate::api::access::allow;

    form("connections", &[], async {
        let access = allow::<DisconnectApplication>().await?.access()?;
        Ok(keyport()?.disconnect(&access, &application_id).await?)
    })
    .await
}
