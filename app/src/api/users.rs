//! Users for admins: list, create with a one-time password link, change
//! role, disable and enable; and the page where a new user sets a password.

use crate::api::codec::JsonText;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::applications::DomainView;
use super::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub role: String,
    pub disabled: bool,
    pub has_password: bool,
    pub created_at: i64,
    /// Whether the viewer may change this user.
    pub manageable: bool,
    pub is_self: bool,
    /// Their second factors, in words ("passkey, authenticator app");
    /// empty: none.
    pub factors: String,
    /// Their role needs a second factor in this domain.
    pub factor_required: bool,
}

/// Which roles of the domain must have a second factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyView {
    pub roles: Vec<String>,
    pub grace_days: i64,
    /// The viewer (a super admin) may change it.
    pub editable: bool,
}

/// A one-time link to hand to a user: shown to the admin once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkView {
    pub email: String,
    pub url: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserListing {
    pub domain: DomainView,
    /// Every domain, for a super admin's choice; empty for anyone else.
    pub domains: Vec<DomainView>,
    pub users: Vec<UserView>,
    /// The roles the viewer may give.
    pub roles: Vec<String>,
    /// A link made by a plain form post just before this page.
    pub link: Option<LinkView>,
    pub policy: PolicyView,
}

#[cfg(feature = "ssr")]
fn link_view(
    keyport: &crate::domain::Keyport,
    email: String,
    link: &crate::domain::secrets::LinkToken,
) -> LinkView {
    use crate::domain::secrets::Secret;
    let mut url = keyport
        .issuer
        .join("welcome")
        .expect("a fixed path joins any URL");
    url.query_pairs_mut().append_pair("token", link.expose());
    LinkView {
        email,
        url: url.into(),
        expires_at: keyport.now() + crate::domain::users::LINK_TTL,
    }
}

/// Answers with a new link, never stored by the browser; a plain form post
/// keeps it (sealed) in the session for the page, which shows it once.
#[cfg(feature = "ssr")]
async fn hand_over(link: LinkView) -> LinkView {
    super::request::no_store();
    super::request::keep_result("user-link", &link).await;
    link
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "users/page")]
pub async fn users_page(domain: Option<String>) -> Result<UserListing, AppError> {
    use super::request::{keyport, no_store, take_result};
    use crate::api::access::allow;
    use crate::domain::accounts::Role;
    use crate::domain::applications;
    use crate::domain::rules::{may_grant_role, may_manage_user};

    let admin = allow::<UsersPage>().await?.user()?;
    let keyport = keyport()?;
    let domain = applications::visible_domain(&keyport, &admin, domain.as_deref()).await?;
    let policy = keyport.mfa_policy(&domain.id).await?;
    let factors = keyport.factor_kinds(&domain.id).await?;
    let users = keyport
        .list_users(&admin, &domain)
        .await?
        .into_iter()
        .map(|l| UserView {
            manageable: may_manage_user(&admin, &l.user) && l.user.id != admin.id,
            is_self: l.user.id == admin.id,
            factors: factors.get(l.user.id.as_str()).cloned().unwrap_or_default(),
            factor_required: policy.requires(l.user.role),
            id: l.user.id.into(),
            email: l.user.email,
            role: l.user.role.as_str().to_owned(),
            disabled: l.user.disabled_at.is_some(),
            has_password: l.has_password,
            created_at: l.created_at,
        })
        .collect();
    let domains = super::applications::switchable_domains(&keyport, &admin).await?;
    let link = take_result::<LinkView>("user-link").await?;
    if link.is_some() {
        no_store();
    }
    Ok(UserListing {
        domain: domain.into(),
        domains,
        users,
        roles: [Role::Member, Role::DomainAdmin, Role::SuperAdmin]
            .into_iter()
            .filter(|r| may_grant_role(&admin, *r))
            .map(|r| r.as_str().to_owned())
            .collect(),
        link,
        policy: PolicyView {
            roles: policy.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            grace_days: policy.grace_days,
            editable: admin.role == Role::SuperAdmin,
        },
    })
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "users/create")]
pub async fn create_user(
    email: String,
    role: String,
    domain: Option<String>,
) -> Result<LinkView, AppError> {
    use super::request::{form, keyport};
    use crate::api::access::allow;
    use crate::domain::applications;

    let link = form("user", &[("email", &email), ("role", &role)], async {
        let access = allow::<CreateUser>().await?.access()?;
        let admin = access.person()?;
        let keyport = keyport()?;
        let domain = applications::visible_domain(&keyport, admin, domain.as_deref()).await?;
        let role = role.parse().map_err(AppError::from)?;
        let (user, link) = keyport.create_user(&access, &domain, &email, role).await?;
        Ok(link_view(&keyport, user.email, &link))
    })
    .await?;
    Ok(hand_over(link).await)
}

/// A new password link for a user (the old one stops working).
#[server(output = JsonText, prefix = "/rpc", endpoint = "users/link")]
pub async fn password_link(id: String) -> Result<LinkView, AppError> {
    use super::request::{form, keyport};
    use crate::api::access::allow;

    let link = form("users", &[], async {
        let access = allow::<PasswordLink>().await?.access()?;
        let keyport = keyport()?;
        let (user, link) = keyport.issue_password_link(&access, &id).await?;
        Ok(link_view(&keyport, user.email, &link))
    })
    .await?;
    Ok(hand_over(link).await)
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "users/role")]
pub async fn change_role(id: String, role: String) -> Result<(), AppError> {
    use super::request::{form, keyport};
    use crate::api::access::allow;

    form("users", &[], async {
        let access = allow::<ChangeRole>().await?.access()?;
        let role = role.parse().map_err(AppError::from)?;
        Ok(keyport()?.change_role(&access, &id, role).await?)
    })
    .await
}

/// Disables (`disabled` = true) or enables a user.
#[server(output = JsonText, prefix = "/rpc", endpoint = "users/disable")]
pub async fn set_user_disabled(id: String, disabled: bool) -> Result<(), AppError> {
    use super::request::{form, keyport};
    use crate::api::access::allow;

    form("users", &[], async {
        let access = allow::<SetUserDisabled>().await?.access()?;
        Ok(keyport()?.set_disabled(&access, &id, disabled).await?)
    })
    .await
}

/// Whom a password link is for, while it works.
#[server(output = JsonText, prefix = "/rpc", endpoint = "welcome/user")]
pub async fn welcome_user(token: String) -> Result<Option<String>, AppError> {
    use crate::domain::secrets::LinkToken;

    super::request::no_store();
    Ok(super::request::keyport()?
        .password_link_user(&LinkToken::new(token))
        .await?
        .map(|u| u.email))
}

/// Sets the password of a link's user, signs them in and opens the portal.
#[server(output = JsonText, prefix = "/rpc", endpoint = "welcome/password")]
pub async fn set_password(
    token: String,
    password: String,
    confirm: String,
) -> Result<(), AppError> {
    use super::request::{actor, begin_session, client_address, form, keyport};
    use crate::domain::factors::Requirement;
    use crate::domain::secrets::{LinkToken, Password};

    // The link sets the password and nothing more: a user with a second
    // factor is asked for it as at any sign-in, and nobody is fresh for
    // step-up on the strength of a link.
    let second_factor = form("welcome", &[], async {
        super::auth::confirmed(&password, &confirm)?;
        let keyport = keyport()?;
        let user = keyport
            .set_password_with_link(
                &LinkToken::new(token),
                Password::new(password),
                &client_address(),
            )
            .await?;
        match keyport.requirement(&user).await? {
            Requirement::SecondFactor => {
                super::factors::await_second_factor(&user, None).await?;
                Ok(true)
            }
            requirement => {
                keyport
                    .record_sign_in(&actor(&user), &user, "password link")
                    .await?;
                begin_session(&user, requirement, false).await?;
                Ok(false)
            }
        }
    })
    .await?;
    leptos_axum::redirect(if second_factor {
        "/login/verify?next=%2Fapplications"
    } else {
        "/applications"
    });
    Ok(())
}

/// Removes every second factor of another user and ends their sessions:
/// they are asked to set one up again. Audited.
#[server(output = JsonText, prefix = "/rpc", endpoint = "users/reset_factors")]
pub async fn reset_user_factors(id: String) -> Result<(), AppError> {
    use super::request::{form, keyport};
    use crate::api::access::allow;

    form("users", &[], async {
        let access = allow::<ResetUserFactors>().await?.access()?;
        keyport()?.reset_factors(&access, &id).await?;
        Ok(())
    })
    .await
}

/// Sets which roles of `domain` must have a second factor, and the grace
/// period (super admins).
#[server(output = JsonText, prefix = "/rpc", endpoint = "users/mfa_policy")]
pub async fn set_mfa_policy(
    domain: String,
    #[server(default)] roles: Vec<String>,
    grace_days: String,
) -> Result<(), AppError> {
    use super::request::{form, keyport};
    use crate::api::access::allow;
    use crate::domain::factors::MfaPolicy;

    form("mfa_policy", &[("grace_days", &grace_days)], async {
        let access = allow::<SetMfaPolicy>().await?.access()?;
        let grace_days = grace_days.trim().parse().map_err(|_| {
            AppError::from(crate::domain::Error::invalid(
                "grace_days",
                "Give the grace period as a number of days",
            ))
        })?;
        let roles = roles
            .iter()
            .map(|r| r.parse())
            .collect::<Result<Vec<_>, _>>()
            .map_err(AppError::from)?;
        Ok(keyport()?
            .set_mfa_policy(&access, &domain, MfaPolicy { roles, grace_days })
            .await?)
    })
    .await
}
