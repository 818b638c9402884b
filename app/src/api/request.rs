//! What a server function learns about its caller: the shared services, the
//! session, the signed-in user and the client's address.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use http::request::Parts;
use leptos::prelude::*;
use tower_sessions::Session;

use super::{cookie_name, AppError, ClientAddress, Flash, USER_ID_KEY as USER_ID};
use crate::domain::accounts::User;
use crate::domain::audit::Actor;
use crate::domain::Keyport;

const FLASH: &str = "flash";

pub fn keyport() -> Result<Keyport, AppError> {
    use_context::<Keyport>().ok_or_else(|| missing("Keyport's services"))
}

pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>()
        .await
        .map_err(|_| missing("the session layer"))
}

/// What to say when part of the request's context is missing. A page
/// whose client hung up mid-render has its owner, and with it the whole
/// context, cleaned up; what it had started finds nothing, and stops
/// without an answer anyone waits for. Anywhere else it is a bug.
fn missing(what: &str) -> AppError {
    if use_context::<Parts>().is_none() {
        tracing::debug!("{what} not found: the request has ended");
    } else {
        tracing::error!("{what} missing from the request's context");
    }
    AppError::Internal
}

/// The client's address: as a trusted proxy reported it, or the peer's.
pub fn client_address() -> String {
    use_context::<Parts>()
        .and_then(|p| {
            p.extensions
                .get::<ClientAddress>()
                .map(|a| a.0)
                .or_else(|| {
                    p.extensions
                        .get::<ConnectInfo<SocketAddr>>()
                        .map(|c| c.0.ip())
                })
        })
        .map_or_else(|| "unknown".into(), |ip| ip.to_string())
}

/// The value of one of this site's cookies (`cookie_name`) in the request.
pub fn request_cookie(base: &str) -> Option<String> {
    let name = cookie_name(base, keyport().ok()?.issuer.scheme() == "https");
    let parts = use_context::<Parts>()?;
    parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// Sets one of this site's cookies for `max_age` seconds: HttpOnly,
/// SameSite=Strict, Secure behind https.
pub fn set_cookie(base: &str, value: &str, max_age: u64) {
    let (Ok(keyport), Some(response)) = (keyport(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    let https = keyport.issuer.scheme() == "https";
    let cookie = cookie::Cookie::build((cookie_name(base, https), value))
        .path("/")
        .max_age(cookie::time::Duration::seconds(
            i64::try_from(max_age).unwrap_or(i64::MAX),
        ))
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(https)
        .build();
    if let Ok(value) = http::HeaderValue::from_str(&cookie.to_string()) {
        response.append_header(http::header::SET_COOKIE, value);
    }
}

/// True for a form posted by a browser without JavaScript: it asked for
/// HTML, and will be redirected back to the page it came from.
pub fn is_plain_form_post() -> bool {
    use_context::<Parts>().is_some_and(|p| asks_for_html(&p.headers))
}

/// Whether a request with `headers` asked for HTML: a browser's plain
/// form post, not a server function called from the WebAssembly.
pub fn asks_for_html(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// The enabled user `session` belongs to, if any. Every route that reads
/// a session asks this or `session_portal_user`: server functions through
/// their rule (`api::access`) or `current_user`, the CSV export and icons
/// directly.
pub async fn session_user(keyport: &Keyport, session: &Session) -> Result<Option<User>, AppError> {
    let Some(id) = session
        .get::<String>(USER_ID)
        .await
        .map_err(session_error)?
    else {
        return Ok(None);
    };
    let user = keyport.user(&id).await?;
    Ok(user.filter(|u| u.disabled_at.is_none()))
}

/// The session's user, unless the grace period to set up the second
/// factor their role needs has ended: then only their Account page works.
pub async fn session_portal_user(keyport: &Keyport, session: &Session) -> Result<User, AppError> {
    let user = session_user(keyport, session)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let enrol_by: Option<i64> = session.get(ENROL_BY).await.map_err(session_error)?;
    match enrol_by {
        Some(by) if keyport.now() >= by => Err(AppError::EnrolmentRequired),
        _ => Ok(user),
    }
}

/// The signed-in user, if the session names an enabled one.
pub async fn current_user() -> Result<Option<User>, AppError> {
    session_user(&keyport()?, &session().await?).await
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

/// How the audit log names `user` during a sign-in, before they have an
/// `Access`.
pub fn actor(user: &User) -> Actor {
    Actor::of(user, client_address())
}

/// Session keys of the second factor: a password sign-in waiting for it
/// (`PENDING`), when the user last proved who they are (`VERIFIED_AT`,
/// for step-up), the end of their grace period to set one up (`ENROL_BY`),
/// and a passkey ceremony's state between its two halves (`CEREMONY`).
pub const PENDING: &str = "pending_sign_in";
const VERIFIED_AT: &str = "verified_at";
const ENROL_BY: &str = "enrol_by";
const CEREMONY: &str = "webauthn";

/// Starts a signed-in session under a fresh id (no fixation), with the
/// user's check just made counting for step-up, and, when their role needs
/// a second factor they lack, the end of their grace period.
pub async fn start_session(user: &User) -> Result<(), AppError> {
    let requirement = keyport()?.requirement(user).await?;
    begin_session(user, requirement, true).await
}

/// `start_session` for a caller that has read the user's `requirement`.
/// `verified`: the sign-in counts for step-up (not so a password link's:
/// holding a link proves nothing about the person).
pub async fn begin_session(
    user: &User,
    requirement: crate::domain::factors::Requirement,
    verified: bool,
) -> Result<(), AppError> {
    use crate::domain::factors::Requirement;
    let keyport = keyport()?;
    let enrol_by = match requirement {
        Requirement::Enrol { by } => Some(by),
        Requirement::SecondFactor | Requirement::Nothing => None,
    };
    let session = session().await?;
    session.cycle_id().await.map_err(session_error)?;
    session
        .remove::<serde_json::Value>(PENDING)
        .await
        .map_err(session_error)?;
    if verified {
        session
            .insert(VERIFIED_AT, keyport.now())
            .await
            .map_err(session_error)?;
    }
    if let Some(by) = enrol_by {
        session.insert(ENROL_BY, by).await.map_err(session_error)?;
    }
    session
        .insert(USER_ID, &user.id)
        .await
        .map_err(session_error)
}

/// The end of the signed-in user's grace period to set up a second
/// factor, while they have none and their role needs one.
pub async fn enrol_by() -> Result<Option<i64>, AppError> {
    session().await?.get(ENROL_BY).await.map_err(session_error)
}

/// Their second factor is set up: nothing more to ask.
pub async fn enrolled() -> Result<(), AppError> {
    session()
        .await?
        .remove::<i64>(ENROL_BY)
        .await
        .map_err(session_error)
        .map(|_| ())
}

/// Notes that the user proved who they are just now: sensitive actions go
/// ahead for `KEYPORT_STEP_UP_TTL`.
pub async fn mark_verified() -> Result<(), AppError> {
    let now = keyport()?.now();
    session()
        .await?
        .insert(VERIFIED_AT, now)
        .await
        .map_err(session_error)
}

/// Seconds that sensitive actions still go ahead without asking again.
pub async fn verified_for() -> Result<i64, AppError> {
    verified_for_session(&keyport()?, &session().await?).await
}

/// `verified_for` for `session`.
pub async fn verified_for_session(keyport: &Keyport, session: &Session) -> Result<i64, AppError> {
    let at: Option<i64> = session.get(VERIFIED_AT).await.map_err(session_error)?;
    Ok(crate::domain::factors::fresh_for(
        at,
        keyport.now(),
        keyport.step_up_ttl,
    ))
}

/// Whether the request came with a session the store holds; if not,
/// keeping anything in it stores a new one.
pub async fn holds_session() -> Result<bool, AppError> {
    let session = session().await?;
    // Reading loads the record, and forgets an id the store does not know.
    session
        .get::<(String, String)>(CEREMONY)
        .await
        .map_err(session_error)?;
    Ok(session.id().is_some())
}

/// Keeps a passkey ceremony's state for its second half, for `purpose`.
pub async fn keep_ceremony(purpose: &str, state: String) -> Result<(), AppError> {
    session()
        .await?
        .insert(CEREMONY, (purpose, state))
        .await
        .map_err(session_error)
}

/// Takes the state `keep_ceremony` kept for `purpose`: each is answered
/// once.
pub async fn take_ceremony(purpose: &str) -> Result<String, AppError> {
    let kept: Option<(String, String)> = session()
        .await?
        .remove(CEREMONY)
        .await
        .map_err(session_error)?;
    match kept {
        Some((p, state)) if p == purpose => Ok(state),
        _ => Err(AppError::BadRequest(
            "start the passkey request again".into(),
        )),
    }
}

/// The body of a server function a form posts. Refused, a plain form post
/// (no JavaScript) keeps `values` (never a password) and the error in the
/// session for the page it returns to, which shows them once; with
/// JavaScript the page has them already.
pub async fn form<T>(
    name: &str,
    values: &[(&str, &str)],
    body: impl std::future::Future<Output = Result<T, AppError>>,
) -> Result<T, AppError> {
    let result = body.await;
    if let Err(e) = &result {
        keep_for_redirect(name, values, e).await;
    }
    result
}

/// Keeps a refused plain form post's values and error for the page it
/// returns to; with JavaScript the page already has them.
async fn keep_for_redirect(form: &str, values: &[(&str, &str)], error: &AppError) {
    // Step-up goes to its own page, which returns here with nothing to say.
    if !is_plain_form_post() || *error == AppError::StepUpRequired {
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
    // A browser without a session (a refused sign-in, say) gets the flash
    // in a sealed cookie of its own: a stranger's posts store nothing here.
    if !holds_session().await.unwrap_or(false) {
        keep_flash_in_cookie(flash);
        return;
    }
    if let Ok(session) = session().await {
        if let Err(e) = session.insert(FLASH, flash).await {
            tracing::warn!(error = %e, "could not keep form values for the redirect");
        }
    }
}

/// What a flash cookie is sealed to.
const FLASH_CONTEXT: &[u8] = b"flash cookie";
/// A flash cookie lives for the redirect that reads it.
const FLASH_COOKIE_MAX_AGE: u64 = 60;
/// Past this, the values typed are left out: the error alone still fits
/// in a cookie.
const FLASH_COOKIE_MAX: usize = 3000;

fn keep_flash_in_cookie(mut flash: Flash) {
    use base64::Engine as _;
    let Ok(keyport) = keyport() else { return };
    let seal = |flash: &Flash| {
        serde_json::to_vec(flash).ok().map(|json| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(keyport.master_key.seal(&json, FLASH_CONTEXT))
        })
    };
    let mut sealed = seal(&flash);
    if sealed.as_ref().is_some_and(|s| s.len() > FLASH_COOKIE_MAX) {
        flash.values.clear();
        sealed = seal(&flash).filter(|s| s.len() <= FLASH_COOKIE_MAX);
    }
    if let Some(sealed) = sealed {
        set_cookie(FLASH, &sealed, FLASH_COOKIE_MAX_AGE);
    }
}

/// The flash a cookie carries for `form`, taken so that it shows once.
fn take_flash_cookie(form: &str) -> Option<Flash> {
    use base64::Engine as _;
    let sealed = request_cookie(FLASH)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sealed)
        .ok()?;
    let json = keyport()
        .ok()?
        .master_key
        .open(&bytes, FLASH_CONTEXT)
        .ok()?;
    let flash: Flash = serde_json::from_slice(&json).ok()?;
    (flash.form == form).then(|| {
        set_cookie(FLASH, "", 0);
        flash
    })
}

pub async fn take_flash(form: &str) -> Result<Option<Flash>, AppError> {
    if let Some(flash) = take_flash_cookie(form) {
        return Ok(Some(flash));
    }
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

/// What a kept result is sealed to: a result's ciphertext opens as nothing
/// else.
const RESULT_CONTEXT: &[u8] = b"session result";

/// Keeps what a plain form post produced (a password link, an inspection)
/// for the page the browser is sent back to, which shows it once; with
/// JavaScript the page has the server function's answer already. It may
/// carry a secret (a password link opens an account), so the session table
/// holds it sealed under the master key, never in clear.
pub async fn keep_result<T: serde::Serialize>(form: &str, result: &T) {
    use base64::Engine as _;
    if !is_plain_form_post() {
        return;
    }
    let (Ok(keyport), Ok(json)) = (keyport(), serde_json::to_vec(result)) else {
        return;
    };
    let sealed = base64::engine::general_purpose::STANDARD
        .encode(keyport.master_key.seal(&json, RESULT_CONTEXT));
    if let Ok(session) = session().await {
        if let Err(e) = session.insert(RESULT, (form, sealed)).await {
            tracing::warn!(error = %e, "could not keep a result for the redirect");
        }
    }
}

/// The result `form` left for this page, taken so that it shows once.
pub async fn take_result<T: serde::de::DeserializeOwned>(
    form: &str,
) -> Result<Option<T>, AppError> {
    use base64::Engine as _;
    let session = session().await?;
    let kept: Option<(String, String)> = session.get(RESULT).await.ok().flatten();
    match kept {
        Some((kept_form, sealed)) if kept_form == form => {
            session
                .remove::<serde_json::Value>(RESULT)
                .await
                .map_err(session_error)?;
            let opened = base64::engine::general_purpose::STANDARD
                .decode(sealed)
                .ok()
                .and_then(|bytes| keyport().ok()?.master_key.open(&bytes, RESULT_CONTEXT).ok());
            Ok(opened.and_then(|json| serde_json::from_slice(&json).ok()))
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
