//! `/registration` for a domain's admins: the initial access tokens with
//! which clients register themselves (RFC 7591), and open registration.

use crate::api::codec::JsonText;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::applications::{DomainView, PermissionView};
use super::AppError;

/// An initial access token as the page lists it; never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: String,
    pub label: String,
    /// `active`, `revoked`, `used up` or `expired`.
    pub state: String,
    pub owner: String,
    pub uses_left: i64,
    pub max_uses: i64,
    pub permissions: Vec<String>,
    pub grant_types: Vec<String>,
    pub public_allowed: bool,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
}

/// A token just created: shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub label: String,
    pub token: String,
    pub expires_at: i64,
    pub uses: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationView {
    pub domain: DomainView,
    /// Every domain, for a super admin's switcher; empty for anyone else.
    pub domains: Vec<DomainView>,
    /// `POST` here to register (RFC 7591).
    pub endpoint: String,
    pub tokens: Vec<TokenView>,
    pub catalog: Vec<PermissionView>,
    /// What a new token allows by default: every permission of the
    /// registered APIs, not Keyport's own.
    pub default_permissions: Vec<String>,
    /// The admin who owns openly registered clients; `None`: off.
    pub open_by: Option<String>,
    /// The other domain where open registration is on: its name for a
    /// super admin, "another domain" for a domain admin.
    pub open_elsewhere: Option<String>,
    /// Clients that registered themselves in use, the most the domain
    /// takes (its admins' quota), and the most that quota may be.
    pub open_used: i64,
    pub open_quota: i64,
    pub open_ceiling: i64,
    /// A token a plain form post just created.
    pub created: Option<CreatedToken>,
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "registration/page")]
pub async fn registration_page(domain: Option<String>) -> Result<RegistrationView, AppError> {
    use super::request::{keyport, no_store, take_result};
    use crate::api::access::allow;
    use crate::domain::applications::visible_domain;

    let user = allow::<RegistrationPage>().await?.user()?;
    let keyport = keyport()?;
    let domain = visible_domain(&keyport, &user, domain.as_deref()).await?;
    let now = keyport.now();
    let tokens = keyport
        .registration_tokens(&user, &domain)
        .await?
        .into_iter()
        .map(|t| TokenView {
            state: t.state(now).as_str().to_owned(),
            permissions: t
                .permissions
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            grant_types: t
                .grant_types
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            public_allowed: t.public_allowed != 0,
            id: t.id,
            label: t.label,
            owner: t.creator_email,
            uses_left: t.uses_left,
            max_uses: t.max_uses,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
        })
        .collect();
    let default_permissions = keyport.apis().await?.registered_permissions();
    let created = take_result::<CreatedToken>("registration-token").await?;
    if created.is_some() {
        no_store();
    }
    let open_elsewhere = keyport
        .open_elsewhere(&domain)
        .await?
        .map(|(_, name)| match user.role {
            crate::domain::accounts::Role::SuperAdmin => name,
            _ => "another domain".to_owned(),
        });
    let room = keyport.open_room(&domain).await?;
    Ok(RegistrationView {
        endpoint: format!("{}/oauth2/register", keyport.issuer_id()),
        open_used: room.used,
        open_quota: room.quota,
        open_ceiling: room.ceiling,
        open_elsewhere,
        open_by: keyport.open_registration(&domain).await?,
        domains: super::applications::switchable_domains(&keyport, &user).await?,
        catalog: super::applications::catalog(&keyport).await?,
        domain: domain.into(),
        tokens,
        default_permissions,
        created,
    })
}

/// Creates an initial access token; answers with it, once. `expires_days`
/// is how many days it lasts.
#[allow(clippy::too_many_arguments)]
#[server(output = JsonText, prefix = "/rpc", endpoint = "registration/create")]
pub async fn create_registration_token(
    domain: Option<String>,
    label: String,
    uses: String,
    expires_days: String,
    permissions: Option<Vec<String>>,
    grant_types: Option<Vec<String>>,
    public: Option<String>,
) -> Result<CreatedToken, AppError> {
    use super::request::{form, keep_result, keyport, no_store};
    use crate::api::access::allow;
    use crate::domain::applications::visible_domain;
    use crate::domain::registration::NewRegistrationToken;
    use crate::domain::{Error, Invalid};

    let kept = [
        ("label", label.as_str()),
        ("uses", uses.as_str()),
        ("expires_days", expires_days.as_str()),
    ];
    let created = form("registration-token", &kept, async {
        let label = label.clone();
        let access = allow::<CreateRegistrationToken>().await?.access()?;
        let user = access.person()?;
        let keyport = keyport()?;
        let domain = visible_domain(&keyport, user, domain.as_deref()).await?;
        let mut problems = Vec::new();
        let uses = uses.trim().parse::<i64>().unwrap_or_else(|_| {
            problems.push(Invalid::new(
                "uses",
                "Enter a whole number of registrations.",
            ));
            0
        });
        let days = expires_days.trim().parse::<i64>().unwrap_or_else(|_| {
            problems.push(Invalid::new(
                "expires_days",
                "Enter a whole number of days.",
            ));
            0
        });
        if !(1..=365).contains(&days) && problems.iter().all(|p| p.field != "expires_days") {
            problems.push(Invalid::new(
                "expires_days",
                "A token may last from 1 to 365 days.",
            ));
        }
        // The domain reads no grant type as every one; here none is a slip.
        let grant_types = grant_types.unwrap_or_default();
        if grant_types.is_empty() {
            problems.push(Invalid::new(
                "grant_types",
                "Choose at least one grant type.",
            ));
        }
        if !problems.is_empty() {
            return Err(Error::Invalid(problems).into());
        }
        let new = NewRegistrationToken {
            label,
            uses,
            expires_in: days * 86_400,
            permissions: Some(permissions.unwrap_or_default()),
            grant_types,
            public_allowed: public.is_some(),
        };
        let (token, plaintext) = keyport
            .create_registration_token(&access, &domain, new)
            .await?;
        Ok(CreatedToken {
            label: token.label,
            token: plaintext,
            expires_at: token.expires_at,
            uses: token.max_uses,
        })
    })
    .await?;
    no_store();
    keep_result("registration-token", &created).await;
    Ok(created)
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "registration/revoke")]
pub async fn revoke_registration_token(domain: Option<String>, id: String) -> Result<(), AppError> {
    use super::request::{form, keyport};
    use crate::api::access::allow;
    use crate::domain::applications::visible_domain;

    form("registration", &[], async {
        let access = allow::<RevokeRegistrationToken>().await?.access()?;
        let user = access.person()?;
        let keyport = keyport()?;
        let domain = visible_domain(&keyport, user, domain.as_deref()).await?;
        Ok(keyport
            .revoke_registration_token(&access, &domain, &id)
            .await?)
    })
    .await
}

/// Turns open registration on (`on` = true) or off for the domain.
#[server(output = JsonText, prefix = "/rpc", endpoint = "registration/open")]
pub async fn set_open_registration(
    domain: Option<String>,
    on: bool,
    move_here: Option<bool>,
) -> Result<(), AppError> {
    use super::request::{form, keyport};
    use crate::api::access::allow;
    use crate::domain::applications::visible_domain;

    form("registration", &[], async {
        let access = allow::<SetOpenRegistration>().await?.access()?;
        let user = access.person()?;
        let keyport = keyport()?;
        let domain = visible_domain(&keyport, user, domain.as_deref()).await?;
        Ok(keyport
            .set_open_registration(&access, &domain, on, move_here.unwrap_or(false))
            .await?)
    })
    .await
}

/// Sets how many clients may register themselves in the domain.
#[server(output = JsonText, prefix = "/rpc", endpoint = "registration/quota")]
pub async fn set_open_quota(domain: Option<String>, quota: String) -> Result<(), AppError> {
    use super::request::{form, keyport};
    use crate::api::access::allow;
    use crate::domain::applications::visible_domain;

    form("registration-quota", &[("quota", &quota)], async {
        let access = allow::<SetOpenQuota>().await?.access()?;
        let user = access.person()?;
        let keyport = keyport()?;
        let domain = visible_domain(&keyport, user, domain.as_deref()).await?;
        let quota = quota.trim().parse().map_err(|_| {
            AppError::from(crate::domain::Error::invalid(
                "quota",
                "Give the quota as a whole number.",
            ))
        })?;
        Ok(keyport.set_open_quota(&access, &domain, quota).await?)
    })
    .await
}
