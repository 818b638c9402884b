//! The APIs tokens are issued for (RFC 8707 resources): listed for admins,
//! registered by super admins, each with what its owner must publish and
//! check.

use crate::api::codec::JsonText;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::applications::PermissionView;
use super::AppError;

/// An API as the page shows it, with its owner's snippets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiView {
    /// `None`: Keyport's own management API.
    pub id: Option<String>,
    pub name: String,
    pub identifier: String,
    pub permissions: Vec<PermissionView>,
    /// Where the API publishes its protected-resource metadata (RFC 9728
    /// §3.1), and the document.
    pub metadata_url: String,
    pub metadata: String,
    /// Ten lines that verify its tokens with `jose`.
    pub verify: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApisPage {
    pub issuer: String,
    pub jwks_uri: String,
    pub apis: Vec<ApiView>,
    /// A super admin registers APIs; domain admins read.
    pub can_register: bool,
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "apis/list")]
pub async fn list_apis() -> Result<ApisPage, AppError> {
    use super::request::keyport;
    use crate::api::access::allow;
    use crate::domain::accounts::Role;

    let user = allow::<ListApis>().await?.user()?;
    let keyport = keyport()?;
    let issuer = keyport.issuer_id();
    let apis = keyport.apis().await?;
    Ok(ApisPage {
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        apis: apis.0.iter().map(|api| view(api, &issuer)).collect(),
        issuer,
        can_register: user.role == Role::SuperAdmin,
    })
}

/// Registers an API; `permissions` holds one per line, its name first and
/// then what it allows.
#[server(output = JsonText, prefix = "/rpc", endpoint = "apis/create")]
pub async fn create_api(
    name: String,
    identifier: String,
    permissions: String,
) -> Result<(), AppError> {
    use super::request::{form, keyport};
    use crate::api::access::allow;
    use crate::domain::apis::NewApi;

    let kept = [
        ("name", name.as_str()),
        ("identifier", identifier.as_str()),
        ("permissions", permissions.as_str()),
    ];
    form("api", &kept, async {
        let access = allow::<CreateApi>().await?.access()?;
        let permissions = permissions
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(|line| match line.split_once(char::is_whitespace) {
                Some((scope, description)) => (scope.to_owned(), description.trim().to_owned()),
                None => (line.to_owned(), String::new()),
            })
            .collect();
        let new = NewApi {
            name: name.clone(),
            identifier: identifier.clone(),
            permissions,
        };
        keyport()?.create_api(&access, new).await?;
        Ok(())
    })
    .await?;
    leptos_axum::redirect("/apis?registered=1");
    Ok(())
}

#[cfg(feature = "ssr")]
fn view(api: &crate::domain::apis::Api, issuer: &str) -> ApiView {
    let scopes: Vec<&str> = api.permissions.iter().map(|p| p.scope.as_str()).collect();
    let metadata = serde_json::json!({
        "resource": api.identifier,
        "authorization_servers": [issuer],
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
    });
    ApiView {
        id: api.id.clone(),
        name: api.name.clone(),
        identifier: api.identifier.clone(),
        permissions: api.permissions.iter().cloned().map(Into::into).collect(),
        metadata_url: metadata_url(&api.identifier),
        metadata: serde_json::to_string_pretty(&metadata).unwrap_or_default(),
        verify: format!(
            r#"import {{ createRemoteJWKSet, jwtVerify }} from "jose";

const keys = createRemoteJWKSet(new URL("{issuer}/.well-known/jwks.json"));

// Authorization: Bearer <token> → the token's claims, or a thrown error.
export async function verify(token) {{
  const {{ payload }} = await jwtVerify(token, keys, {{
    issuer: "{issuer}", audience: "{aud}", typ: "at+jwt", clockTolerance: 5,
  }});
  return payload; // payload.scope: space-separated permissions, payload.sub: who
}}"#,
            aud = api.identifier,
        ),
    }
}

/// RFC 9728 §3.1: the well-known segment goes between the host and the
/// identifier's path.
#[cfg(feature = "ssr")]
fn metadata_url(identifier: &str) -> String {
    match url::Url::parse(identifier) {
        Ok(url) => {
            let path = url.path().trim_end_matches('/');
            let origin = url.origin().ascii_serialization();
            format!("{origin}/.well-known/oauth-protected-resource{path}")
        }
        Err(_) => String::new(),
    }
}
