//! An application's page: what it shows, revealing its credentials (only
//! ever by a POST), and handing it to another owner.

use crate::api::codec::JsonText;
use leptos::prelude::*;

use super::*;
use crate::api::AppError;

/// What a reveal posted without JavaScript leaves for the page it returns
/// to (sealed in the session, shown once).
#[cfg(feature = "ssr")]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Revealed {
    pub(super) id: String,
    /// Which of the application page's rows asked.
    pub(super) row: Option<String>,
    pub(super) credentials: CredentialsView,
}

/// The credentials a plain form post revealed for one of `ids` just
/// before this page, if any.
#[cfg(feature = "ssr")]
pub(super) async fn just_revealed(
    ids: impl Fn(&str) -> bool,
) -> Result<Option<Revealed>, AppError> {
    let revealed = crate::api::request::take_result::<Revealed>("reveal")
        .await?
        .filter(|r| ids(&r.id));
    if revealed.is_some() {
        crate::api::request::no_store();
    }
    Ok(revealed)
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "applications/page")]
pub async fn application_page(id: String) -> Result<AppPage, AppError> {
    use crate::api::access::allow;
    use crate::api::request::keyport;

    let user = allow::<ApplicationPage>().await?.user()?;
    let keyport = keyport()?;
    // What this node counted is written first, so the chart is current.
    keyport.flush_usage().await?;
    let app = keyport.application_for(&user, &id).await?;
    let secrets = SecretsView::from(&app.app);
    let usage = keyport
        .usage_days(&app.app.id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    let owners = keyport
        .possible_owners(&user, &app.app)
        .await?
        .into_iter()
        .map(|u| (u.id.into(), u.email))
        .collect();
    let revealed = just_revealed(|revealed| app.app.id == revealed).await?;
    let (credentials, shown) = revealed.map_or((None, None), |r| (Some(r.credentials), r.row));
    Ok(AppPage {
        app: app.into(),
        catalog: catalog(&keyport).await?,
        token_url: keyport
            .issuer
            .join("oauth2/token")
            .map(|u| u.to_string())
            .unwrap_or_default(),
        credentials,
        shown,
        secrets,
        usage,
        owners,
    })
}

/// Decrypts an application's credentials for its owner or an admin;
/// audited. Only ever a POST: a link (which any site can make a browser
/// follow) never reveals. Posted without JavaScript, the credentials are
/// kept for the page the browser returns to, with the `row` that asked.
#[server(output = JsonText, prefix = "/rpc", endpoint = "applications/reveal")]
pub async fn reveal_credentials(
    id: String,
    row: Option<String>,
) -> Result<CredentialsView, AppError> {
    use crate::api::access::allow;
    use crate::api::request::{keep_result, keyport, no_store};

    let access = allow::<RevealCredentials>().await?.access()?;
    no_store();
    let credentials: CredentialsView = keyport()?.reveal_credentials(&access, &id).await?.into();
    let revealed = Revealed {
        id,
        row,
        credentials,
    };
    keep_result("reveal", &revealed).await;
    Ok(revealed.credentials)
}

/// Hands the application to another user of its domain (admins only).
#[server(output = JsonText, prefix = "/rpc", endpoint = "applications/transfer")]
pub async fn transfer_application(id: String, owner: String) -> Result<(), AppError> {
    use crate::api::access::allow;
    use crate::api::request::{form, keyport};

    let at = form("transfer", &[], async {
        let access = allow::<TransferApplication>().await?.access()?;
        let app = keyport()?
            .transfer_application(&access, &id, &owner)
            .await?;
        Ok(app.updated_at)
    })
    .await?;
    // The time makes each transfer a new address, which the page reloads.
    leptos_axum::redirect(&format!("/applications/{id}?transferred={at}"));
    Ok(())
}
