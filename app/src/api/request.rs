//! What a server function learns about its caller: the shared services, the
//! session, the signed-in user and the client's address.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use http::request::Parts;
use leptos::prelude::*;
use tower_sessions::Session;

use super::{AppError, Flash, USER_ID_KEY as USER_ID};
use crate::domain::accounts::User;
use crate::domain::audit::Actor;
use crate::domain::Keyport;

const FLASH: &str = "flash";

pub fn keyport() -> Result<Keyport, AppError> {
    use_context::<Keyport>().ok_or_else(|| {
        tracing::error!("Keyport services missing from the server function context");
        AppError::Internal
    })
}

pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(|e| {
        tracing::error!(error = %e, "session layer missing");
        AppError::Internal
    })
}

/// The peer address, as the listener saw it.
pub fn client_address() -> String {
    use_context::<Parts>()
        .and_then(|p| {
            p.extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// True for a form posted by a browser without JavaScript: it asked for
/// HTML, and will be redirected back to the page it came from.
pub fn is_plain_form_post() -> bool {
    use_context::<Parts>().is_some_and(|p| {
        p.headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
    })
}

/// The signed-in user, if the session names an enabled one.
pub async fn current_user() -> Result<Option<User>, AppError> {
    let session = session().await?;
    let Some(id) = session
        .get::<String>(USER_ID)
        .await
        .map_err(session_error)?
    else {
        return Ok(None);
    };
    let user = keyport()?.user(&id).await?;
    Ok(user.filter(|u| u.disabled_at.is_none()))
}

pub async fn require_user() -> Result<User, AppError> {
    current_user().await?.ok_or(AppError::Unauthenticated)
}

/// Marks the response as never to be stored by a browser or proxy: it
/// carries a secret.
pub fn no_store() {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.insert_header(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
    }
}

/// Sets the page's Content-Security-Policy, whose nonce lets the hydration
/// script run. Forms post to this site only, or also to `form_target` (an
/// origin): the consent page's decision redirects the browser to the
/// application's callback, and browsers hold that redirect to `form-action`.
pub fn content_security_policy(form_target: Option<&str>) {
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    let form_target = form_target.map(|t| format!(" {t}")).unwrap_or_default();
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'{form_target}"
    );
    if let Ok(value) = http::HeaderValue::from_str(&policy) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

pub fn actor(user: &User) -> Actor {
    Actor {
        user_id: Some(user.id.clone()),
        label: user.email.clone(),
        address: client_address(),
    }
}

/// Starts a signed-in session under a fresh id (no fixation).
pub async fn start_session(user: &User) -> Result<(), AppError> {
    let session = session().await?;
    session.cycle_id().await.map_err(session_error)?;
    session
        .insert(USER_ID, &user.id)
        .await
        .map_err(session_error)
}

/// Keeps a refused plain form post's values and error for the page it
/// returns to; with JavaScript the page already has them.
pub async fn keep_for_redirect(form: &str, values: &[(&str, &str)], error: &AppError) {
    if !is_plain_form_post() {
        return;
    }
    let flash = Flash {
        form: form.into(),
        values: values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        error: error.clone(),
    };
    if let Ok(session) = session().await {
        if let Err(e) = session.insert(FLASH, flash).await {
            tracing::warn!(error = %e, "could not keep form values for the redirect");
        }
    }
}

pub async fn take_flash(form: &str) -> Result<Option<Flash>, AppError> {
    let session = session().await?;
    let flash: Option<Flash> = session.get(FLASH).await.map_err(session_error)?;
    match flash {
        Some(f) if f.form == form => {
            session
                .remove::<Flash>(FLASH)
                .await
                .map_err(session_error)?;
            Ok(Some(f))
        }
        _ => Ok(None),
    }
}

const RESULT: &str = "result";

/// Keeps what a plain form post produced (a password link, an inspection)
/// for the page the browser is sent back to, which shows it once; with
/// JavaScript the page has the server function's answer already.
pub async fn keep_result<T: serde::Serialize>(form: &str, result: &T) {
    if !is_plain_form_post() {
        return;
    }
    if let Ok(session) = session().await {
        if let Err(e) = session.insert(RESULT, (form, result)).await {
            tracing::warn!(error = %e, "could not keep a result for the redirect");
        }
    }
}

/// The result `form` left for this page, taken so that it shows once.
pub async fn take_result<T: serde::de::DeserializeOwned>(
    form: &str,
) -> Result<Option<T>, AppError> {
    let session = session().await?;
    let kept: Option<(String, serde_json::Value)> =
        session.get(RESULT).await.map_err(session_error)?;
    match kept {
        Some((kept_form, value)) if kept_form == form => {
            session
                .remove::<serde_json::Value>(RESULT)
                .await
                .map_err(session_error)?;
            Ok(serde_json::from_value(value).ok())
        }
        _ => Ok(None),
    }
}

/// The session store is the database: when it cannot be read or written,
/// the database is unavailable.
pub fn session_error(e: tower_sessions::session::Error) -> AppError {
    use tower_sessions::session::Error as E;
    use tower_sessions::session_store::Error as Store;
    match e {
        E::Store(Store::Backend(_)) => {
            tracing::warn!(error = %e, "session store unavailable");
            AppError::Unavailable
        }
        _ => {
            tracing::error!(error = %e, "session store failed");
            AppError::Internal
        }
    }
}
