//! The second factor at sign-in (`/login/verify`), signing in with a
//! passkey alone, and the fresh check sensitive actions ask for (step-up:
//! the dialog, or `/confirm` without JavaScript).

use crate::api::codec::JsonText;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::AppError;

/// What a user can prove themselves with, for the second step of sign-in
/// and for step-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactorChoice {
    pub email: String,
    /// An authenticator app's code works.
    pub totp: bool,
    /// A passkey works (and this address allows passkeys).
    pub passkey: bool,
    /// Recovery codes left.
    pub recovery_left: i64,
    /// No second factor: step-up asks for the password.
    pub password_only: bool,
    /// Seconds sensitive actions still go ahead without asking (step-up).
    pub verified_for: i64,
    /// Seconds a check lasts (`KEYPORT_STEP_UP_TTL`).
    pub step_up_ttl: i64,
}

#[cfg(feature = "ssr")]
async fn choice(
    keyport: &crate::domain::Keyport,
    user: &crate::domain::accounts::User,
) -> Result<FactorChoice, AppError> {
    let factors = keyport.factors(user).await?;
    Ok(FactorChoice {
        email: user.email.clone(),
        totp: factors.has_totp(),
        passkey: factors.has_passkey() && keyport.passkeys_available(),
        recovery_left: factors.recovery_left,
        password_only: factors.factors.is_empty(),
        verified_for: super::request::verified_for().await?,
        step_up_ttl: keyport.step_up_ttl,
    })
}

/// The user whose password was right and whose second factor is awaited,
/// for `factors::PENDING_SECS`.
#[cfg(feature = "ssr")]
async fn pending_user() -> Result<crate::domain::accounts::User, AppError> {
    use super::request::{keyport, session, session_error, PENDING};
    use crate::domain::factors::PENDING_SECS;

    let session = session().await?;
    let pending: Option<Pending> = session.get(PENDING).await.map_err(session_error)?;
    let keyport = keyport()?;
    let Some((id, _, _)) = pending.filter(|(_, since, _)| keyport.now() - since < PENDING_SECS)
    else {
        return Err(AppError::Unauthenticated);
    };
    keyport
        .user(&id)
        .await?
        .filter(|u| u.disabled_at.is_none())
        .ok_or(AppError::Unauthenticated)
}

/// A sign-in waiting for its second factor: the user, since when, and the
/// device cookie the browser gets once it is complete (none after a
/// password link).
#[cfg(feature = "ssr")]
type Pending = (String, i64, Option<String>);

/// After a right password, when the user has a second factor: the session
/// (under a fresh id) waits for it. Nothing is recorded as a sign-in, and
/// the browser is not yet known, until it is given.
#[cfg(feature = "ssr")]
pub(crate) async fn await_second_factor(
    user: &crate::domain::accounts::User,
    device: Option<String>,
) -> Result<(), AppError> {
    use super::request::{keyport, session, session_error, PENDING};

    let session = session().await?;
    session.cycle_id().await.map_err(session_error)?;
    let pending: Pending = (user.id.to_string(), keyport()?.now(), device);
    session
        .insert(PENDING, pending)
        .await
        .map_err(session_error)
}

/// Completes a sign-in whose second factor was just checked: it is
/// recorded, and the browser becomes known (`auth::remember_device`).
#[cfg(feature = "ssr")]
async fn second_factor_passed(
    user: &crate::domain::accounts::User,
    method: &str,
) -> Result<(), AppError> {
    use super::request::{actor, keyport, session, session_error, start_session, PENDING};

    let pending: Option<Pending> = session().await?.get(PENDING).await.map_err(session_error)?;
    if let Some(device) = pending.and_then(|(_, _, device)| device) {
        super::auth::remember_device(&device);
    }
    keyport()?
        .record_sign_in(&actor(user), user, &format!("password and {method}"))
        .await?;
    start_session(user).await
}

/// What the second step of sign-in offers; `None` once the password step
/// has expired (sign in again).
#[server(output = JsonText, prefix = "/rpc", endpoint = "factors/pending")]
pub async fn pending_choice() -> Result<Option<FactorChoice>, AppError> {
    use super::request::keyport;

    match pending_user().await {
        Ok(user) => Ok(Some(choice(&keyport()?, &user).await?)),
        Err(AppError::Unauthenticated) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The second step of sign-in with a code: from the authenticator app, or
/// a recovery code.
#[server(output = JsonText, prefix = "/rpc", endpoint = "factors/verify")]
pub async fn verify_code(code: String, next: Option<String>) -> Result<(), AppError> {
    use super::request::{actor, form, keyport};

    form("verify", &[], async {
        let user = pending_user().await?;
        let method = keyport()?.check_code(&actor(&user), &user, &code).await?;
        second_factor_passed(&user, method).await
    })
    .await?;
    leptos_axum::redirect(super::auth::safe_next(next.as_deref()));
    Ok(())
}

/// Options for the browser to check one of the pending user's passkeys.
#[server(output = JsonText, prefix = "/rpc", endpoint = "factors/passkey_options")]
pub async fn pending_passkey_options() -> Result<String, AppError> {
    use super::request::{keep_ceremony, keyport};

    let user = pending_user().await?;
    let ceremony = keyport()?.begin_passkey_check(&user).await?;
    keep_ceremony("second factor", ceremony.state).await?;
    Ok(ceremony.options)
}

/// The second step of sign-in with a passkey. Answers where to go.
#[server(output = JsonText, prefix = "/rpc", endpoint = "factors/passkey")]
pub async fn verify_passkey(credential: String, next: Option<String>) -> Result<String, AppError> {
    use super::request::{actor, keyport, take_ceremony};

    let user = pending_user().await?;
    let state = take_ceremony("second factor").await?;
    keyport()?
        .finish_passkey_check(&actor(&user), &user, &state, &credential)
        .await?;
    second_factor_passed(&user, "passkey").await?;
    Ok(super::auth::safe_next(next.as_deref()).to_owned())
}

/// Options for the browser to sign in with any passkey it holds for this
/// site.
#[server(output = JsonText, prefix = "/rpc", endpoint = "factors/sign_in_options")]
pub async fn passkey_sign_in_options() -> Result<String, AppError> {
    use super::request::{client_address, holds_session, keep_ceremony, keyport};

    let address = client_address();
    let opens_session = (!holds_session().await?).then_some(address.as_str());
    let ceremony = keyport()?.begin_passkey_sign_in(opens_session)?;
    keep_ceremony("sign in", ceremony.state).await?;
    Ok(ceremony.options)
}

/// Signs in with a passkey alone (it verified its user). Answers where to
/// go.
#[server(output = JsonText, prefix = "/rpc", endpoint = "factors/sign_in")]
pub async fn passkey_sign_in(credential: String, next: Option<String>) -> Result<String, AppError> {
    use super::request::{client_address, keyport, start_session, take_ceremony};

    let state = take_ceremony("sign in").await?;
    let user = keyport()?
        .finish_passkey_sign_in(&client_address(), &state, &credential)
        .await?;
    start_session(&user).await?;
    Ok(super::auth::safe_next(next.as_deref()).to_owned())
}

/// What the signed-in user can confirm it is them with.
#[server(output = JsonText, prefix = "/rpc", endpoint = "factors/step_up")]
pub async fn step_up_choice() -> Result<FactorChoice, AppError> {
    use super::request::keyport;
    use crate::api::access::allow;

    let user = allow::<StepUpChoice>().await?.user()?;
    choice(&keyport()?, &user).await
}

/// Step-up with what the user types: a code from the authenticator app or
/// a recovery code, or, for a user without a second factor, their
/// password. Without JavaScript, returns to `next`.
#[server(output = JsonText, prefix = "/rpc", endpoint = "factors/confirm")]
pub async fn confirm_identity(secret: String, next: Option<String>) -> Result<(), AppError> {
    use super::request::{form, is_plain_form_post, keyport, mark_verified};
    use crate::api::access::allow;
    use crate::domain::secrets::Password;

    form("confirm", &[], async {
        let access = allow::<ConfirmIdentity>().await?.access()?;
        let user = access.person()?;
        let keyport = keyport()?;
        let actor = access.actor();
        let method = if keyport.has_second_factor(&user.id).await? {
            keyport.check_code(actor, user, &secret).await?
        } else {
            keyport
                .check_password(actor, user, Password::new(secret))
                .await?;
            "password"
        };
        keyport.record_step_up(actor, user, method).await?;
        mark_verified().await
    })
    .await?;
    if is_plain_form_post() {
        leptos_axum::redirect(super::auth::safe_next(next.as_deref()));
    }
    Ok(())
}

/// Options for the browser to confirm with one of the user's passkeys.
#[server(output = JsonText, prefix = "/rpc", endpoint = "factors/step_up_options")]
pub async fn step_up_passkey_options() -> Result<String, AppError> {
    use super::request::{keep_ceremony, keyport};
    use crate::api::access::allow;

    let user = allow::<StepUpPasskeyOptions>().await?.user()?;
    let ceremony = keyport()?.begin_passkey_check(&user).await?;
    keep_ceremony("step up", ceremony.state).await?;
    Ok(ceremony.options)
}

/// Step-up with a passkey.
#[server(output = JsonText, prefix = "/rpc", endpoint = "factors/step_up_passkey")]
pub async fn confirm_with_passkey(credential: String) -> Result<(), AppError> {
    use super::request::{keyport, mark_verified, take_ceremony};
    use crate::api::access::allow;

    let access = allow::<ConfirmWithPasskey>().await?.access()?;
    let user = access.person()?;
    let state = take_ceremony("step up").await?;
    let keyport = keyport()?;
    let actor = access.actor();
    keyport
        .finish_passkey_check(actor, user, &state, &credential)
        .await?;
    keyport.record_step_up(actor, user, "passkey").await?;
    mark_verified().await
}
