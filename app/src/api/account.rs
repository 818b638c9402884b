//! `/account`: the signed-in user's own second factors (passkeys, an
//! authenticator app) and recovery codes. Every change asks for step-up;
//! right after sign-in that check is fresh.

use crate::api::codec::JsonText;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactorView {
    pub id: String,
    /// `totp` or `passkey`.
    pub kind: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// An authenticator app being set up: its QR code and the secret as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpSetupView {
    pub secret: String,
    pub qr_svg: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub email: String,
    pub role: String,
    pub factors: Vec<FactorView>,
    pub recovery_left: i64,
    /// How many recovery codes a user gets at a time.
    pub recovery_total: usize,
    /// Passkeys work at this deployment's address.
    pub passkeys_available: bool,
    /// The role needs a second factor and the user has none: until when
    /// they may go on without (in the past: only this page works).
    pub enrol_by: Option<i64>,
    /// An authenticator app a plain form post just started to set up.
    pub totp_setup: Option<TotpSetupView>,
    /// Recovery codes a plain form post just made: shown once.
    pub new_codes: Option<Vec<String>>,
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "account/page")]
pub async fn account_page() -> Result<AccountView, AppError> {
    use super::request::{enrol_by, keyport, no_store, take_result};
    use crate::api::access::allow;

    let user = allow::<AccountPage>().await?.user()?;
    no_store();
    let keyport = keyport()?;
    let factors = keyport.factors(&user).await?;
    let enrol_by = if factors.factors.is_empty() {
        enrol_by().await?
    } else {
        None
    };
    Ok(AccountView {
        email: user.email.clone(),
        role: user.role.as_str().into(),
        factors: factors
            .factors
            .into_iter()
            .map(|f| FactorView {
                id: f.id,
                kind: f.kind,
                name: f.name,
                created_at: f.created_at,
                last_used_at: f.last_used_at,
            })
            .collect(),
        recovery_left: factors.recovery_left,
        recovery_total: crate::domain::factors::RECOVERY_CODES,
        passkeys_available: keyport.passkeys_available(),
        enrol_by,
        totp_setup: take_result("totp").await?,
        new_codes: take_result("codes").await?,
    })
}

/// Starts setting up an authenticator app.
#[server(output = JsonText, prefix = "/rpc", endpoint = "account/totp")]
pub async fn begin_totp() -> Result<TotpSetupView, AppError> {
    use super::request::{form, keep_result, keyport, no_store};
    use crate::api::access::allow;

    let setup = form("totp", &[], async {
        let access = allow::<BeginTotp>().await?.access()?;
        no_store();
        let setup = keyport()?.begin_totp(&access).await?;
        Ok(TotpSetupView {
            secret: setup.secret,
            qr_svg: setup.qr_svg,
        })
    })
    .await?;
    keep_result("totp", &setup).await;
    Ok(setup)
}

/// Turns the authenticator app on with a code from it; the first factor
/// brings recovery codes, shown once.
#[server(output = JsonText, prefix = "/rpc", endpoint = "account/totp_confirm")]
pub async fn confirm_totp(code: String) -> Result<Option<Vec<String>>, AppError> {
    use super::request::{enrolled, form, keep_result, keyport, no_store};
    use crate::api::access::allow;

    let codes = form("totp_confirm", &[], async {
        let access = allow::<ConfirmTotp>().await?.access()?;
        no_store();
        let codes = keyport()?.confirm_totp(&access, &code).await?;
        enrolled().await?;
        Ok(codes)
    })
    .await?;
    if let Some(codes) = &codes {
        keep_result("codes", codes).await;
    }
    Ok(codes)
}

/// Options for the browser to make a passkey.
#[server(output = JsonText, prefix = "/rpc", endpoint = "account/passkey_options")]
pub async fn new_passkey_options() -> Result<String, AppError> {
    use super::request::{keep_ceremony, keyport};
    use crate::api::access::allow;

    let user = allow::<NewPasskeyOptions>().await?.user()?;
    let ceremony = keyport()?.begin_passkey(&user).await?;
    keep_ceremony("add passkey", ceremony.state).await?;
    Ok(ceremony.options)
}

/// Keeps the passkey the browser made; the first factor brings recovery
/// codes, shown once.
#[server(output = JsonText, prefix = "/rpc", endpoint = "account/passkey")]
pub async fn add_passkey(
    name: String,
    credential: String,
) -> Result<Option<Vec<String>>, AppError> {
    use super::request::{enrolled, keyport, no_store, take_ceremony};
    use crate::api::access::allow;

    let access = allow::<AddPasskey>().await?.access()?;
    no_store();
    let state = take_ceremony("add passkey").await?;
    let codes = keyport()?
        .finish_passkey(&access, &name, &state, &credential)
        .await?;
    enrolled().await?;
    Ok(codes)
}

/// Removes one of the user's own factors.
#[server(output = JsonText, prefix = "/rpc", endpoint = "account/remove_factor")]
pub async fn remove_factor(id: String) -> Result<(), AppError> {
    use super::request::{form, keyport};
    use crate::api::access::allow;

    form("remove_factor", &[], async {
        let access = allow::<RemoveFactor>().await?.access()?;
        Ok(keyport()?.remove_factor(&access, &id).await?)
    })
    .await?;
    leptos_axum::redirect("/account");
    Ok(())
}

/// New recovery codes in place of those left; shown once.
#[server(output = JsonText, prefix = "/rpc", endpoint = "account/recovery_codes")]
pub async fn new_recovery_codes() -> Result<Vec<String>, AppError> {
    use super::request::{form, keep_result, keyport, no_store};
    use crate::api::access::allow;

    let codes = form("codes", &[], async {
        let access = allow::<NewRecoveryCodes>().await?.access()?;
        no_store();
        Ok(keyport()?.regenerate_recovery_codes(&access).await?)
    })
    .await?;
    keep_result("codes", &codes).await;
    Ok(codes)
}
