//! Rotating an application's secret with a grace period, and retiring the
//! previous one early.

use crate::api::codec::JsonText;
use leptos::prelude::*;

use crate::api::AppError;

/// Issues a new secret; the current one keeps working for `grace_seconds`.
#[server(output = JsonText, prefix = "/rpc", endpoint = "applications/rotate")]
pub async fn rotate_secret(id: String, grace_seconds: i64) -> Result<(), AppError> {
    use crate::api::access::allow;
    use crate::api::request::{form, keyport};

    let at = form("rotate", &[], async {
        let access = allow::<RotateSecret>().await?.access()?;
        let rotated = keyport()?
            .rotate_secret(&access, &id, grace_seconds)
            .await?;
        Ok(rotated.app.rotated_at.unwrap_or_default())
    })
    .await?;
    // The time makes each rotation a new address, which the page reloads.
    leptos_axum::redirect(&format!("/applications/{id}?rotated={at}"));
    Ok(())
}

/// Retires the previous secret before its grace period ends.
#[server(output = JsonText, prefix = "/rpc", endpoint = "applications/retire")]
pub async fn retire_secret(id: String) -> Result<(), AppError> {
    use crate::api::access::allow;
    use crate::api::request::{form, keyport};

    form("rotate", &[], async {
        let access = allow::<RetireSecret>().await?.access()?;
        Ok(keyport()?.retire_previous_secret(&access, &id).await?)
    })
    .await?;
    leptos_axum::redirect(&format!("/applications/{id}?retired=1"));
    Ok(())
}
