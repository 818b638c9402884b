//! The OAuth endpoints integrations call: token (RFC 6749 §4.4, and §4.1.3
//! for authorization codes), its compatibility alias, introspection (RFC 7662), revocation (RFC 7009), the
//! JWK Set, the RFC 8414 metadata, and client registration (RFC 7591/7592).
//!
//! These are plain axum handlers rather than server functions: the wire
//! format (form-encoded in, RFC 6749 §5.2 JSON errors out, `WWW-Authenticate`,
//! `Cache-Control: no-store`) is the whole contract here, and a handler
//! states it directly.

mod error;
pub mod registration;
mod request;

pub use error::OAuthError;
pub use request::{granted_scope, ClientAuth, Params, TokenRequest};

use std::sync::Arc;

use app::domain::apis::grant_target;
use app::domain::authorization::{CodeExchange, RefreshRequest};
use app::domain::clients::Client;
use app::domain::ids::Scope;
use app::domain::tokens::TokenError;
use app::domain::Keyport;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use self::error::no_store;
use crate::metrics::Metrics;

/// contract §4: a token request body over 16 KiB is refused with 413.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Reads a token endpoint's body; `bare_ok` as for `Params::parse`.
async fn read_form(
    request: Request,
    bare_ok: bool,
) -> Result<(HeaderMap, String, Params), OAuthError> {
    let (parts, body): (_, Body) = request.into_parts();
    let address = crate::proxies::address_text(&parts);
    let bytes = to_bytes(body, BODY_LIMIT).await.map_err(|_| OAuthError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        ..OAuthError::invalid_request(format!("the body is larger than {} KiB", BODY_LIMIT / 1024))
    })?;
    let params = Params::parse(&parts.headers, &bytes, bare_ok)?;
    Ok((parts.headers, address, params))
}

/// `POST /oauth2/token`.
pub async fn token(
    State(keyport): State<Keyport>,
    State(metrics): State<Arc<Metrics>>,
    request: Request,
) -> Response {
    counted(&metrics, issue(keyport, request, false).await)
}

/// `POST /v4/oauth2/token`: HTTP Basic only; a missing `grant_type` means
/// client credentials.
pub async fn token_v4(
    State(keyport): State<Keyport>,
    State(metrics): State<Arc<Metrics>>,
    request: Request,
) -> Response {
    counted(&metrics, issue(keyport, request, true).await)
}

/// Counts a token endpoint's answer: issued by grant, refused by reason.
fn counted(metrics: &Metrics, answer: Result<(&str, Response), OAuthError>) -> Response {
    match answer {
        Ok((grant, response)) => {
            metrics.issued(grant);
            response
        }
        Err(e) => {
            metrics.refused(e.reason());
            e.into_response()
        }
    }
}

async fn issue(
    keyport: Keyport,
    request: Request,
    compat: bool,
) -> Result<(&'static str, Response), OAuthError> {
    let (headers, address, params) = read_form(request, compat).await?;
    let grant = TokenRequest::parse(&params, compat.then_some("client_credentials"))?;
    let auth = ClientAuth::from_request(&headers, &params, compat)?;
    let client = auth.authenticate(&keyport, &address).await?;
    let grant_type = grant.grant_type();
    if !client.allows(grant_type) {
        return Err(OAuthError::unauthorized_client(format!(
            "this client did not register for the {grant_type} grant"
        )));
    }
    let mut refresh_token = None;
    let (issued, scope) = match grant {
        TokenRequest::ClientCredentials { .. } if client.public => {
            return Err(OAuthError::unauthorized_client(
                "a public client has no credentials of its own: use the authorization code grant",
            ));
        }
        TokenRequest::ClientCredentials { scope, resource } => {
            let apis = keyport
                .apis()
                .await
                .map_err(|e| OAuthError::from_domain(e, false))?;
            let held = client.permissions.iter().map(|p| p.as_str());
            let (api, held) = grant_target(&apis, resource.as_deref(), None, held)
                .map_err(OAuthError::invalid_target)?;
            let held: Vec<Scope> = held.into_iter().map(Scope::new).collect();
            let scope = granted_scope(scope.as_deref(), &held)?;
            let issued = keyport
                .sign_for(
                    &api.identifier,
                    &client.client_id,
                    &client.client_id,
                    &client.domain_id,
                    &scope,
                )
                .map_err(|e| OAuthError::from_domain(e, false))?;
            (issued, scope)
        }
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
            resource,
        } => {
            let exchange = CodeExchange {
                code: &code,
                redirect_uri: &redirect_uri,
                code_verifier: &code_verifier,
                resource: resource.as_deref(),
            };
            let (issued, refresh) = keyport
                .exchange_code(&client, &address, &exchange)
                .await
                .map_err(OAuthError::from_grant)?;
            refresh_token = refresh;
            let scope = issued.claims.scope.clone();
            (issued, scope)
        }
        TokenRequest::RefreshToken {
            refresh_token: presented,
            scope,
            resource,
        } => {
            let request = RefreshRequest {
                token: &presented,
                scope: scope.as_deref(),
                resource: resource.as_deref(),
            };
            let refreshed = keyport
                .refresh(&client, &address, request)
                .await
                .map_err(OAuthError::from_grant)?;
            refresh_token = Some(refreshed.refresh_token);
            let scope = refreshed.issued.claims.scope.clone();
            (refreshed.issued, scope)
        }
    };
    keyport.usage.issued(&client, issued.claims.iat);
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": scope,
    });
    if let Some(refresh_token) = refresh_token {
        body["refresh_token"] = refresh_token.into();
    }
    let response = (StatusCode::OK, no_store(), Json(body));
    Ok((grant_type, response.into_response()))
}

/// Introspection and revocation: an authenticated client and the `token`
/// it asks about. A public client may revoke its own tokens (RFC 7009
/// §2.1), never introspect (`public_ok` false).
async fn client_and_token(
    keyport: &Keyport,
    request: Request,
    public_ok: bool,
) -> Result<(Client, String), OAuthError> {
    let (headers, address, params) = read_form(request, false).await?;
    let auth = ClientAuth::from_request(&headers, &params, false)?;
    if !public_ok && matches!(auth, ClientAuth::Public { .. }) {
        return Err(OAuthError::invalid_client(false));
    }
    let client = auth.authenticate(keyport, &address).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    Ok((client, token.to_owned()))
}

/// `POST /oauth2/introspect` (RFC 7662): for an authenticated client, whether
/// a token of its domain is active, and its claims if so.
pub async fn introspect(State(keyport): State<Keyport>, request: Request) -> Response {
    async {
        let (client, token) = client_and_token(&keyport, request, false).await?;
        let token = token.as_str();
        let claims = match keyport.verify_for_any_api(token).await {
            // Active only while its application is in use and its user enabled.
            Ok(claims)
                if keyport
                    .token_user(&claims)
                    .await
                    .map_err(|e| OAuthError::from_domain(e, false))?
                    .is_some() =>
            {
                Some(claims)
            }
            Err(TokenError::Unavailable) => return Err(OAuthError::unavailable()),
            _ => None,
        };
        let body = match claims {
            Some(claims) if claims.domain_id == client.domain_id => json!({
                "active": true,
                "scope": claims.scope,
                "client_id": claims.client_id,
                "sub": claims.sub,
                "token_type": "Bearer",
                "exp": claims.exp,
                "iat": claims.iat,
                "nbf": claims.nbf,
                "iss": claims.iss,
                "aud": claims.aud,
                "jti": claims.jti,
                "domain_id": claims.domain_id,
            }),
            _ => json!({"active": false}),
        };
        Ok::<_, OAuthError>((StatusCode::OK, no_store(), Json(body)).into_response())
    }
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// `POST /oauth2/revoke` (RFC 7009): a client revokes its own token, an
/// access token or a refresh token (with its whole family and the access
/// tokens it issued, §2.1), whatever `token_type_hint` says. The answer
/// is 200 whether or not there was anything to revoke (§2.2).
pub async fn revoke(State(keyport): State<Keyport>, request: Request) -> Response {
    async {
        let (client, token) = client_and_token(&keyport, request, true).await?;
        let token = token.as_str();
        let refresh = keyport
            .revoke_refresh_token(&client, token)
            .await
            .map_err(|e| OAuthError::from_domain(e, false))?;
        if refresh {
            return Ok((StatusCode::OK, no_store()).into_response());
        }
        if let Ok(claims) = keyport.verify_signed(token).await {
            if claims.client_id == client.client_id {
                keyport
                    .revoke(&claims)
                    .await
                    .map_err(|e| OAuthError::from_domain(e, false))?;
            }
        }
        Ok::<_, OAuthError>((StatusCode::OK, no_store()).into_response())
    }
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// `GET /.well-known/jwks.json`. Short caching: a rotated key must reach
/// verifiers soon.
pub async fn jwks(State(keyport): State<Keyport>) -> Response {
    match keyport.key_ring() {
        Ok(ring) => (
            [(header::CACHE_CONTROL, "public, max-age=60")],
            Json(ring.jwks.clone()),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "signing keys unavailable");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414).
pub async fn metadata(State(keyport): State<Keyport>) -> Response {
    let base = keyport.issuer_id();
    let scopes: Vec<String> = match keyport.permissions().await {
        Ok(list) => list
            .into_iter()
            .map(|p| p.scope)
            .chain([app::domain::authorization::OFFLINE_ACCESS.to_owned()])
            .collect(),
        Err(e) => return OAuthError::from_domain(e, false).into_response(),
    };
    let algs = [keyport.signing_alg.jwa()];
    Json(json!({
        "issuer": base,
        "token_endpoint": format!("{base}/oauth2/token"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "introspection_endpoint": format!("{base}/oauth2/introspect"),
        "revocation_endpoint": format!("{base}/oauth2/revoke"),
        "authorization_endpoint": format!("{base}/oauth2/authorize"),
        "registration_endpoint": format!("{base}/oauth2/register"),
        "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": scopes,
        "access_token_signing_alg_values_supported": algs,
    }))
    .into_response()
}
