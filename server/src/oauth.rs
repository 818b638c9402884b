//! The OAuth endpoints integrations call: token (RFC 6749 §4.4, and §4.1.3
//! for authorization codes), its compatibility alias, introspection (RFC 7662), revocation (RFC 7009), the
//! JWK Set and the RFC 8414 metadata.
//!
//! These are plain axum handlers rather than server functions: the wire
//! format (form-encoded in, RFC 6749 §5.2 JSON errors out, `WWW-Authenticate`,
//! `Cache-Control: no-store`) is the whole contract here, and a handler
//! states it directly.

use std::sync::Arc;

use app::domain::authorization::GrantError;
use app::domain::clients::Client;
use app::domain::form;
use app::domain::secrets::ClientSecret;
use app::domain::tokens::TokenError;
use app::domain::{Error, Keyport};
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;

use crate::metrics::Metrics;

/// SPEC §4: a token request body over 16 KiB is refused with 413.
pub const BODY_LIMIT: usize = 16 * 1024;

/// An RFC 6749 §5.2 error response.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: String,
    /// Basic authentication was attempted: a 401 carries the challenge.
    basic: bool,
    retry_after: Option<u64>,
}

impl OAuthError {
    fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            basic: false,
            retry_after: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 503: the database is out of reach, or the request ran out of time.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the service is temporarily unavailable; try again shortly",
        )
    }

    /// The refusal reason `/metrics` counts: the error code, with
    /// "temporarily unavailable" told apart as rate limiting or an outage.
    pub fn reason(&self) -> &'static str {
        match (self.status, self.code) {
            (StatusCode::TOO_MANY_REQUESTS, _) => "rate_limited",
            (StatusCode::SERVICE_UNAVAILABLE, _) => "unavailable",
            (StatusCode::PAYLOAD_TOO_LARGE, _) => "body_too_large",
            (_, code) => code,
        }
    }

    fn invalid_client(basic: bool) -> Self {
        Self {
            basic,
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            )
        }
    }

    fn from_domain(e: Error, basic: bool) -> Self {
        match e {
            Error::BadCredentials => Self::invalid_client(basic),
            Error::RateLimited { retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "temporarily_unavailable",
                    format!("too many failed authentications; retry after {retry_after} seconds"),
                )
            },
            Error::Busy { retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::unavailable()
            },
            unavailable if unavailable.is_unavailable() => {
                tracing::warn!(error = %unavailable, "OAuth endpoint: database unavailable");
                Self::unavailable()
            }
            other => {
                tracing::error!(error = %other, "token endpoint failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "the server could not complete the request",
                )
            }
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            no_store(),
            Json(json!({"error": self.code, "error_description": self.description})),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED && self.basic {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"keyport\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

/// A form-encoded body: each parameter at most once (RFC 6749 §3.2), all
/// of it valid UTF-8.
#[derive(Debug, Default)]
pub struct Params(form::Params);

impl Params {
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        form::Params::parse(body)
            .map(Self)
            .map_err(|e| OAuthError::invalid_request(format!("the body is malformed: {e}")))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name)
    }

    fn owned(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }
}

/// How the client presented its credentials.
#[derive(Debug)]
pub enum ClientAuth {
    /// `client_secret_basic`: id and secret form-encoded, then base64 (RFC 6749 §2.3.1).
    Basic {
        client_id: String,
        secret: ClientSecret,
    },
    /// `client_secret_post`: both in the body.
    Post {
        client_id: String,
        secret: ClientSecret,
    },
}

impl ClientAuth {
    pub fn from_request(
        headers: &HeaderMap,
        params: &Params,
        basic_only: bool,
    ) -> Result<Self, OAuthError> {
        let in_body = params.get("client_secret").is_some();
        match headers.get(header::AUTHORIZATION) {
            Some(value) => {
                if in_body {
                    return Err(OAuthError::invalid_request(
                        "use one client authentication method, not two",
                    ));
                }
                Self::basic(value).ok_or_else(|| OAuthError::invalid_client(true))
            }
            None if basic_only => Err(OAuthError::invalid_client(true)),
            None => match (params.get("client_id"), params.get("client_secret")) {
                (Some(id), Some(secret)) if !id.is_empty() => Ok(Self::Post {
                    client_id: id.to_owned(),
                    secret: ClientSecret::new(secret),
                }),
                _ => Err(OAuthError::invalid_client(false)),
            },
        }
    }

    fn basic(value: &HeaderValue) -> Option<Self> {
        let value = value.to_str().ok()?;
        let (scheme, encoded) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let id = form::decode(id.as_bytes()).ok()?;
        let secret = form::decode(secret.as_bytes()).ok()?;
        (!id.is_empty()).then(|| Self::Basic {
            client_id: id,
            secret: ClientSecret::new(secret),
        })
    }

    fn is_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }

    pub async fn authenticate(
        &self,
        keyport: &Keyport,
        address: &str,
    ) -> Result<Client, OAuthError> {
        let (Self::Basic { client_id, secret } | Self::Post { client_id, secret }) = self;
        keyport
            .authenticate_client(client_id, secret, address)
            .await
            .map_err(|e| OAuthError::from_domain(e, self.is_basic()))
    }
}

/// A token request, by grant type: combinations that make no sense cannot
/// be built.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenRequest {
    ClientCredentials {
        scope: Option<String>,
    },
    /// RFC 6749 §4.1.3 with the RFC 7636 verifier; what is missing is
    /// reported once the client is known.
    AuthorizationCode {
        code: Option<String>,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
}

impl TokenRequest {
    pub fn grant_type(&self) -> &'static str {
        match self {
            Self::ClientCredentials { .. } => "client_credentials",
            Self::AuthorizationCode { .. } => "authorization_code",
        }
    }

    /// `default_grant` is what a missing `grant_type` means (the v4 alias).
    pub fn parse(params: &Params, default_grant: Option<&str>) -> Result<Self, OAuthError> {
        let grant = params
            .get("grant_type")
            .or(default_grant)
            .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
        match grant {
            "client_credentials" => Ok(Self::ClientCredentials {
                scope: params.owned("scope"),
            }),
            "authorization_code" if default_grant.is_none() => Ok(Self::AuthorizationCode {
                code: params.owned("code"),
                redirect_uri: params.owned("redirect_uri"),
                code_verifier: params.owned("code_verifier"),
            }),
            "" => Err(OAuthError::invalid_request("grant_type is required")),
            _ => Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                if default_grant.is_none() {
                    "only client_credentials and authorization_code are supported"
                } else {
                    "only client_credentials is supported here"
                },
            )),
        }
    }
}

/// The scopes granted: the requested ones if all are the client's, all of
/// the client's when none are asked for (RFC 6749 §3.3).
pub fn granted_scope(
    requested: Option<&str>,
    permissions: &[String],
) -> Result<String, OAuthError> {
    let Some(requested) = requested else {
        return Ok(permissions.join(" "));
    };
    let mut scopes: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
    if scopes.is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "the scope is empty",
        ));
    }
    scopes.sort_unstable();
    scopes.dedup();
    if let Some(unknown) = scopes.iter().find(|s| !permissions.iter().any(|p| p == *s)) {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!("scope {unknown} is not granted to this client"),
        ));
    }
    Ok(scopes.join(" "))
}

async fn read_form(request: Request) -> Result<(HeaderMap, String, Params), OAuthError> {
    let (parts, body): (_, Body) = request.into_parts();
    let address = crate::proxies::address_text(&parts);
    let bytes = to_bytes(body, BODY_LIMIT).await.map_err(|_| OAuthError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        ..OAuthError::invalid_request(format!("the body is larger than {} KiB", BODY_LIMIT / 1024))
    })?;
    let params = Params::parse(&parts.headers, &bytes)?;
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
    let (headers, address, params) = read_form(request).await?;
    let grant = TokenRequest::parse(&params, compat.then_some("client_credentials"))?;
    let auth = ClientAuth::from_request(&headers, &params, compat)?;
    let client = auth.authenticate(&keyport, &address).await?;
    let grant_type = grant.grant_type();
    let (issued, scope) = match grant {
        TokenRequest::ClientCredentials { scope } => {
            let scope = granted_scope(scope.as_deref(), &client.permissions)?;
            let issued = keyport
                .sign(
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
        } => {
            let issued = keyport
                .exchange_code(
                    &client,
                    &address,
                    code.as_deref(),
                    redirect_uri.as_deref(),
                    code_verifier.as_deref(),
                )
                .await
                .map_err(|e| match e {
                    GrantError::InvalidRequest(d) => OAuthError::invalid_request(d),
                    GrantError::InvalidGrant(d) => {
                        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", d)
                    }
                    GrantError::Failed(e) => OAuthError::from_domain(e, false),
                })?;
            let scope = issued.claims.scope.clone();
            (issued, scope)
        }
    };
    keyport.usage.issued(&client, issued.claims.iat);
    let response = (
        StatusCode::OK,
        no_store(),
        Json(json!({
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "scope": scope,
        })),
    );
    Ok((grant_type, response.into_response()))
}

/// Introspection and revocation: an authenticated client and the `token`
/// it asks about.
async fn client_and_token(
    keyport: &Keyport,
    request: Request,
) -> Result<(Client, String), OAuthError> {
    let (headers, address, params) = read_form(request).await?;
    let client = ClientAuth::from_request(&headers, &params, false)?
        .authenticate(keyport, &address)
        .await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    Ok((client, token.to_owned()))
}

/// `POST /oauth2/introspect` (RFC 7662): for an authenticated client, whether
/// a token of its domain is active, and its claims if so.
pub async fn introspect(State(keyport): State<Keyport>, request: Request) -> Response {
    async {
        let (client, token) = client_and_token(&keyport, request).await?;
        let token = token.as_str();
        let claims = match keyport.verify_access_token(token).await {
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

/// `POST /oauth2/revoke` (RFC 7009): a client revokes its own token. The
/// answer is 200 whether or not there was anything to revoke (§2.2).
pub async fn revoke(State(keyport): State<Keyport>, request: Request) -> Response {
    async {
        let (client, token) = client_and_token(&keyport, request).await?;
        let token = token.as_str();
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
        Ok(list) => list.into_iter().map(|p| p.scope).collect(),
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
        "grant_types_supported": ["client_credentials", "authorization_code"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": scopes,
        "access_token_signing_alg_values_supported": algs,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str) -> Result<Params, OAuthError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        Params::parse(&headers, body.as_bytes())
    }

    #[test]
    fn requests_are_tagged_by_grant_type() {
        let p = form("grant_type=client_credentials&scope=clients%3Aread").unwrap();
        assert_eq!(
            TokenRequest::parse(&p, None).unwrap(),
            TokenRequest::ClientCredentials {
                scope: Some("clients:read".into())
            }
        );
        let p = form("grant_type=authorization_code&code=abc").unwrap();
        assert!(matches!(
            TokenRequest::parse(&p, None).unwrap(),
            TokenRequest::AuthorizationCode { code: Some(c), redirect_uri: None, .. } if c == "abc"
        ));
        assert_eq!(
            TokenRequest::parse(&p, Some("client_credentials"))
                .unwrap_err()
                .code,
            "unsupported_grant_type",
            "the v4 alias issues client credentials only"
        );
        let p = form("grant_type=password").unwrap();
        assert_eq!(
            TokenRequest::parse(&p, None).unwrap_err().code,
            "unsupported_grant_type"
        );
        let p = form("").unwrap();
        assert_eq!(
            TokenRequest::parse(&p, None).unwrap_err().code,
            "invalid_request"
        );
        assert!(TokenRequest::parse(&p, Some("client_credentials")).is_ok());
    }

    #[test]
    fn malformed_bodies_are_invalid_requests() {
        assert_eq!(form("a=1&a=2").unwrap_err().code, "invalid_request");
        assert_eq!(form("a=%FF").unwrap_err().code, "invalid_request");
        assert!(
            Params::parse(&HeaderMap::new(), b"a=1").is_err(),
            "no content type"
        );
        assert_eq!(form("a=x+y%20z").unwrap().get("a"), Some("x y z"));
    }

    #[test]
    fn basic_credentials_are_form_decoded_after_base64() {
        let mut headers = HeaderMap::new();
        let encoded = STANDARD.encode("my%3Aid:se%2Bcret");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        match ClientAuth::from_request(&headers, &Params::default(), false).unwrap() {
            ClientAuth::Basic { client_id, secret } => {
                assert_eq!(client_id, "my:id");
                assert_eq!(app::domain::secrets::Secret::expose(&secret), "se+cret");
            }
            other => panic!("{other:?}"),
        }
        for bad in ["Basic !!!", "Bearer abc", "Basic", "Basic Zm9v"] {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(bad));
            let e = ClientAuth::from_request(&headers, &Params::default(), false).unwrap_err();
            assert_eq!((e.code, e.basic), ("invalid_client", true), "{bad}");
        }
    }

    #[test]
    fn scopes_must_be_granted() {
        let granted = vec!["audit:read".to_string(), "clients:read".to_string()];
        assert_eq!(
            granted_scope(None, &granted).unwrap(),
            "audit:read clients:read"
        );
        assert_eq!(
            granted_scope(Some("clients:read clients:read"), &granted).unwrap(),
            "clients:read"
        );
        assert_eq!(
            granted_scope(Some("clients:write"), &granted)
                .unwrap_err()
                .code,
            "invalid_scope"
        );
        assert_eq!(
            granted_scope(Some(" "), &granted).unwrap_err().code,
            "invalid_scope"
        );
    }
}
