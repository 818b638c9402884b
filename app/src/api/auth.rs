//! Signing in and out, the first-run setup, and who is signed in.

use crate::api::codec::JsonText;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::{AppError, Flash};

/// The signed-in user as the page shell shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub is_admin: bool,
    pub is_super_admin: bool,
    pub customer_id: String,
    /// The domain the page shows: the viewer's own, or for a super admin
    /// the one chosen with `?domain=`.
    pub domain_id: String,
    pub domain_name: String,
    /// Their role needs a second factor they have not set up: until when
    /// they may go on without.
    pub enrol_by: Option<i64>,
    /// That time has passed: only the Account page works until they do.
    pub must_enrol: bool,
}

/// Where to go after signing in: only a path on this site, never another
/// origin (`//evil.example`, `/\evil.example`).
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n
        }
        _ => "/applications",
    }
}

/// Who is signed in, and the domain the page shows (`domain`, as the
/// page's `?domain=` names it).
#[server(output = JsonText, prefix = "/rpc", endpoint = "viewer")]
pub async fn current_viewer(domain: Option<String>) -> Result<Option<Viewer>, AppError> {
    use super::request::{current_user, keyport};
    use crate::domain::accounts::Role;
    use crate::domain::applications::visible_domain;

    let Some(user) = current_user().await? else {
        return Ok(None);
    };
    let keyport = keyport()?;
    let enrol_by = super::request::enrol_by().await?;
    let domain = match visible_domain(&keyport, &user, domain.as_deref()).await {
        Err(crate::domain::Error::NotFound) => visible_domain(&keyport, &user, None).await?,
        shown => shown?,
    };
    Ok(Some(Viewer {
        user_id: user.id.into(),
        email: user.email,
        role: user.role.as_str().into(),
        is_admin: user.role.is_admin(),
        is_super_admin: user.role == Role::SuperAdmin,
        customer_id: keyport.tenancy.customer_id.clone(),
        domain_id: domain.id.into(),
        domain_name: domain.name,
        enrol_by,
        must_enrol: enrol_by.is_some_and(|by| keyport.now() >= by),
    }))
}

/// A new password typed twice must match.
#[cfg(feature = "ssr")]
pub(crate) fn confirmed(password: &str, confirm: &str) -> Result<(), AppError> {
    if password == confirm {
        Ok(())
    } else {
        Err(AppError::Invalid(vec![super::FieldError {
            field: "confirm".into(),
            message: "The two passwords do not match".into(),
        }]))
    }
}

/// Whether `/setup` still accepts the one-time token.
#[server(output = JsonText, prefix = "/rpc", endpoint = "setup_status")]
pub async fn setup_status() -> Result<bool, AppError> {
    Ok(super::request::keyport()?.setup_open())
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "setup")]
pub async fn complete_setup(
    token: String,
    email: String,
    password: String,
    confirm: String,
) -> Result<(), AppError> {
    use super::request::{client_address, form, keyport, start_session};
    use crate::domain::secrets::{Password, SetupToken};

    // Not the token: the session table never holds it. The page reads it
    // from its address again.
    form("setup", &[("email", &email)], async {
        confirmed(&password, &confirm)?;
        let user = keyport()?
            .complete_setup(
                &SetupToken::new(token),
                &email,
                Password::new(password),
                &client_address(),
            )
            .await?;
        start_session(&user).await
    })
    .await?;
    leptos_axum::redirect("/applications");
    Ok(())
}

/// The cookie a browser that signed in keeps, so that it signs in again on
/// a budget of its own, whatever strangers guessed for the account.
#[cfg(feature = "ssr")]
const DEVICE_COOKIE: &str = "keyport_device";
/// A year: a browser stays known for as long as it is used.
#[cfg(feature = "ssr")]
const DEVICE_COOKIE_MAX_AGE: u64 = 365 * 24 * 3600;

/// Keeps the browser known to the account it completed a sign-in to.
#[cfg(feature = "ssr")]
pub(crate) fn remember_device(device: &str) {
    super::request::set_cookie(DEVICE_COOKIE, device, DEVICE_COOKIE_MAX_AGE);
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "sign_in")]
pub async fn sign_in(
    email: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    use super::request::{actor, begin_session, client_address, form, keyport, request_cookie};
    use crate::domain::factors::Requirement;
    use crate::domain::secrets::Password;

    let next = safe_next(next.as_deref()).to_owned();
    let second_factor = form("sign_in", &[("email", &email)], async {
        let keyport = keyport()?;
        let device = request_cookie(DEVICE_COOKIE);
        let signed_in = keyport
            .sign_in(
                &email,
                Password::new(password),
                &client_address(),
                device.as_deref(),
            )
            .await?;
        let user = &signed_in.user;
        match keyport.requirement(user).await? {
            Requirement::SecondFactor => {
                super::factors::await_second_factor(user, Some(signed_in.device)).await?;
                Ok(true)
            }
            requirement => {
                remember_device(&signed_in.device);
                keyport
                    .record_sign_in(&actor(user), user, "password")
                    .await?;
                begin_session(user, requirement, true).await?;
                Ok(false)
            }
        }
    })
    .await?;
    if second_factor {
        let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        leptos_axum::redirect(&format!("/login/verify?next={next}"));
    } else {
        leptos_axum::redirect(&next);
    }
    Ok(())
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use super::request::{actor, current_user, keyport, session, session_error};
    use crate::domain::audit::Action;

    if let Some(user) = current_user().await? {
        keyport()?
            .audit(Some(&user.domain_id), &actor(&user), Action::SignOut, None)
            .await?;
    }
    session().await?.flush().await.map_err(session_error)?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// The values and error a refused plain form post left for `form`, once.
#[server(output = JsonText, prefix = "/rpc", endpoint = "flash")]
pub async fn take_flash(form: String) -> Result<Option<Flash>, AppError> {
    super::request::take_flash(&form).await
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(
            safe_next(Some("/applications/abc?x=1")),
            "/applications/abc?x=1"
        );
        for hostile in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/applications", "{hostile}");
        }
        assert_eq!(safe_next(None), "/applications");
    }
}
