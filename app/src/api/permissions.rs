//! The permission catalog, managed by super admins.

use leptos::prelude::*;

use super::applications::PermissionView;
use super::AppError;

#[cfg(feature = "ssr")]
async fn require_super_admin() -> Result<crate::domain::accounts::User, AppError> {
    let user = super::request::require_user().await?;
    if user.role == crate::domain::accounts::Role::SuperAdmin {
        Ok(user)
    } else {
        Err(AppError::Forbidden)
    }
}

#[server(prefix = "/rpc", endpoint = "permissions/list")]
pub async fn list_permissions() -> Result<Vec<PermissionView>, AppError> {
    require_super_admin().await?;
    super::applications::catalog(&super::request::keyport()?).await
}

#[server(prefix = "/rpc", endpoint = "permissions/add")]
pub async fn add_permission(scope: String, description: String) -> Result<(), AppError> {
    use super::request::{actor, form, keyport};

    let kept = [
        ("scope", scope.as_str()),
        ("description", description.as_str()),
    ];
    form("permission", &kept, async {
        let user = require_super_admin().await?;
        super::request::require_step_up().await?;
        keyport()?
            .add_permission(&actor(&user), &scope, &description)
            .await?;
        Ok(())
    })
    .await
}

#[server(prefix = "/rpc", endpoint = "permissions/describe")]
pub async fn describe_permission(scope: String, description: String) -> Result<(), AppError> {
    use super::request::{actor, form, keyport};

    form("permission", &[], async {
        let user = require_super_admin().await?;
        Ok(keyport()?
            .describe_permission(&actor(&user), &scope, &description)
            .await?)
    })
    .await
}
