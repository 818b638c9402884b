//! The permission catalog, managed by super admins.

use crate::api::codec::JsonText;
use leptos::prelude::*;

use super::applications::PermissionView;
use super::AppError;

#[server(output = JsonText, prefix = "/rpc", endpoint = "permissions/list")]
pub async fn list_permissions() -> Result<Vec<PermissionView>, AppError> {
    use crate::api::access::allow;
    allow::<ListPermissions>().await?.user()?;
    super::applications::catalog(&super::request::keyport()?).await
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "permissions/add")]
pub async fn add_permission(scope: String, description: String) -> Result<(), AppError> {
    use super::request::{form, keyport};
    use crate::api::access::allow;

    let kept = [
        ("scope", scope.as_str()),
        ("description", description.as_str()),
    ];
    form("permission", &kept, async {
        let access = allow::<AddPermission>().await?.access()?;
        keyport()?
            .add_permission(&access, &scope, &description)
            .await?;
        Ok(())
    })
    .await
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "permissions/describe")]
pub async fn describe_permission(scope: String, description: String) -> Result<(), AppError> {
    use super::request::{form, keyport};
    use crate::api::access::allow;

    form("permission", &[], async {
        let access = allow::<DescribePermission>().await?.access()?;
        Ok(keyport()?
            .describe_permission(&access, &scope, &description)
            .await?)
    })
    .await
}
