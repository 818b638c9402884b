//! Dynamic client registration: `POST /oauth2/register` (RFC 7591) with an
//! initial access token as Bearer, or without one where a domain's admin
//! turned open registration on; and the client configuration endpoint
//! `/oauth2/register/{client_id}` (RFC 7592), where the client reads,
//! replaces or deletes its registration with its registration access token.

use app::domain::registration::{ClientMetadata, Registration, RegistrationError};
use app::domain::secrets::Secret as _;
use app::domain::Keyport;
use axum::body::{to_bytes, Body};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::no_store;
use super::{OAuthError, BODY_LIMIT};

/// `POST /oauth2/register`.
pub async fn register(State(keyport): State<Keyport>, request: Request) -> Response {
    async {
        let (headers, address, metadata) = read_metadata(request).await?;
        let bearer = bearer(&headers).map_err(refused)?;
        let registered = keyport
            .register_client(bearer.as_deref(), metadata, &address)
            .await
            .map_err(refused)?;
        let body = answer(&keyport, &registered, None);
        Ok::<_, Response>((StatusCode::CREATED, no_store(), Json(body)).into_response())
    }
    .await
    .unwrap_or_else(|refusal| refusal)
}

/// `GET /oauth2/register/{client_id}` (RFC 7592 §2.1).
pub async fn read(
    State(keyport): State<Keyport>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    async {
        let token = access_token(&headers).map_err(refused)?;
        let registered = keyport
            .read_registration(&client_id, &token)
            .await
            .map_err(refused)?;
        let body = answer(&keyport, &registered, Some(&token));
        Ok::<_, Response>((StatusCode::OK, no_store(), Json(body)).into_response())
    }
    .await
    .unwrap_or_else(|refusal| refusal)
}

/// `PUT /oauth2/register/{client_id}` (RFC 7592 §2.2).
pub async fn update(
    State(keyport): State<Keyport>,
    Path(client_id): Path<String>,
    request: Request,
) -> Response {
    async {
        let token = access_token(request.headers()).map_err(refused)?;
        let (_, address, metadata) = read_metadata(request).await?;
        let registered = keyport
            .update_registration(&client_id, &token, metadata, &address)
            .await
            .map_err(refused)?;
        let body = answer(&keyport, &registered, Some(&token));
        Ok::<_, Response>((StatusCode::OK, no_store(), Json(body)).into_response())
    }
    .await
    .unwrap_or_else(|refusal| refusal)
}

/// `DELETE /oauth2/register/{client_id}` (RFC 7592 §2.3).
pub async fn delete(
    State(keyport): State<Keyport>,
    Path(client_id): Path<String>,
    request: Request,
) -> Response {
    async {
        let token = access_token(request.headers()).map_err(refused)?;
        let (parts, _) = request.into_parts();
        let address = crate::proxies::address_text(&parts);
        keyport
            .delete_registration(&client_id, &token, &address)
            .await
            .map_err(refused)?;
        Ok::<_, Response>((StatusCode::NO_CONTENT, no_store()).into_response())
    }
    .await
    .unwrap_or_else(|refusal| refusal)
}

/// The client information response (RFC 7591 §3.2.1, RFC 7592 §3): what
/// was registered, as Keyport keeps it. `presented` is the registration
/// access token a read or update came with; only the registration itself
/// issues one.
fn answer(keyport: &Keyport, registered: &Registration, presented: Option<&str>) -> Value {
    let app = &registered.app;
    let issuer = keyport.issuer_id();
    let has_code = registered
        .grant_types
        .iter()
        .any(|g| g == "authorization_code");
    let mut body = json!({
        "client_id": app.client_id,
        "client_id_issued_at": app.created_at,
        "client_name": app.name,
        "scope": registered.permissions.join(" "),
        "grant_types": registered.grant_types,
        "response_types": if has_code { vec!["code"] } else { vec![] },
        "token_endpoint_auth_method": registered.auth_method,
        "registration_client_uri": format!("{issuer}/oauth2/register/{}", app.client_id),
    });
    if !app.callback_url.is_empty() {
        body["redirect_uris"] = json!([app.callback_url]);
    }
    if !app.website_url.is_empty() {
        body["client_uri"] = json!(app.website_url);
    }
    if let Some(credentials) = &registered.credentials {
        body["client_secret"] = json!(credentials.client_secret.expose());
        body["client_secret_expires_at"] = json!(0);
    }
    if let Some(token) = registered
        .registration_access_token
        .as_deref()
        .or(presented)
    {
        body["registration_access_token"] = json!(token);
    }
    body
}

/// The client's address and its metadata: a JSON object of at most 16 KiB.
async fn read_metadata(request: Request) -> Result<(HeaderMap, String, ClientMetadata), Response> {
    let (parts, body): (_, Body) = request.into_parts();
    let address = crate::proxies::address_text(&parts);
    let json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    let bytes = to_bytes(body, BODY_LIMIT).await.map_err(|_| {
        OAuthError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            ..OAuthError::invalid_request(format!(
                "the body is larger than {} KiB",
                BODY_LIMIT / 1024
            ))
        }
        .into_response()
    })?;
    if !json {
        return Err(invalid_metadata(
            "send the client metadata as application/json",
        ));
    }
    let metadata = serde_json::from_slice::<ClientMetadata>(&bytes).map_err(|e| {
        invalid_metadata(&format!(
            "the client metadata is not a valid JSON object: {e}"
        ))
    })?;
    Ok((parts.headers, address, metadata))
}

/// The Bearer token of `Authorization`, if the header is there at all.
fn bearer(headers: &HeaderMap) -> Result<Option<String>, RegistrationError> {
    crate::headers::bearer_token(headers)
        .map_err(|_| RegistrationError::Token("send the token as Authorization: Bearer".into()))
}

/// The registration access token a configuration request must carry.
fn access_token(headers: &HeaderMap) -> Result<String, RegistrationError> {
    bearer(headers)?
        .ok_or_else(|| RegistrationError::Token("the registration access token is missing".into()))
}

fn refused(e: RegistrationError) -> Response {
    match e {
        RegistrationError::Token(description) => invalid_token(&description),
        RegistrationError::RedirectUri(description) => {
            OAuthError::new(StatusCode::BAD_REQUEST, "invalid_redirect_uri", description)
                .into_response()
        }
        RegistrationError::Metadata(description) => invalid_metadata(&description),
        RegistrationError::RateLimited { retry_after } => OAuthError {
            retry_after: Some(retry_after),
            ..OAuthError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                format!(
                    "too many registrations from this address; retry after {retry_after} seconds"
                ),
            )
        }
        .into_response(),
        RegistrationError::Failed(e) => OAuthError::from_domain(e, false).into_response(),
    }
}

fn invalid_metadata(description: &str) -> Response {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "invalid_client_metadata",
        description,
    )
    .into_response()
}

/// RFC 6750 §3.1: 401 with the challenge naming the error.
fn invalid_token(description: &str) -> Response {
    let mut response =
        OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_token", description).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"keyport\", error=\"invalid_token\""),
    );
    response
}
