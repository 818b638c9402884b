//! The management API (`/api/v1`, contract §6): Bearer-protected REST for
//! automation. A token acts with its scopes on behalf of a user, and never
//! beyond what that user may do: a client-credentials token for the user who
//! owns the client, a token from the authorization code flow for the user
//! who approved it.

use std::sync::Arc;

use app::api::audit::AuditQuery;
use app::domain::applications::WithPermissions;
use app::domain::secrets::Secret;
use app::domain::validate::ApplicationInput;
use app::domain::Keyport;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, MethodRouter};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

mod caller;
mod domains;

pub use caller::ApiError;
use caller::Caller;

/// A route of the management API and the scope a token needs for it
/// (none for the OpenAPI document). The routes are built from this table;
/// a handler's `Caller` checks the scope before the body is read.
#[derive(Clone, Copy)]
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub scope: Option<&'static str>,
    handler: fn() -> MethodRouter<Keyport>,
}

/// Every management API route.
/// A row of `ENDPOINTS` that needs `scope`.
const fn scoped(
    method: &'static str,
    path: &'static str,
    scope: &'static str,
    handler: fn() -> MethodRouter<Keyport>,
) -> Endpoint {
    Endpoint {
        method,
        path,
        scope: Some(scope),
        handler,
    }
}

pub const ENDPOINTS: &[Endpoint] = &[
    scoped("GET", "/api/v1/clients", "clients:read", || {
        get(list_clients)
    }),
    scoped("POST", "/api/v1/clients", "clients:write", || {
        post(create_client)
    }),
    scoped(
        "DELETE",
        "/api/v1/clients/{client_id}",
        "clients:write",
        || delete(delete_client),
    ),
    scoped(
        "POST",
        "/api/v1/clients/{client_id}/secret",
        "clients:write",
        || post(rotate_secret),
    ),
    scoped("GET", "/api/v1/audit", "audit:read", || get(audit)),
    scoped("GET", "/api/v1/domains", "domains:read", || {
        get(domains::list)
    }),
    scoped("POST", "/api/v1/domains", "domains:write", || {
        post(domains::create)
    }),
    scoped(
        "PATCH",
        "/api/v1/domains/{domain_id}",
        "domains:write",
        || patch(domains::change),
    ),
    Endpoint {
        method: "GET",
        path: "/api/v1/openapi.json",
        scope: None,
        handler: || get(openapi),
    },
];

/// The management API's routes. Each handler takes its `Caller`, whose
/// extraction checks the scope of the route's row. Their state is the
/// `Keyport` alone, cloned for each call.
pub fn routes() -> Router<Keyport> {
    ENDPOINTS.iter().fold(Router::new(), |router, endpoint| {
        router.route(endpoint.path, (endpoint.handler)())
    })
}

/// The scope the route of `parts` needs, by its row in `ENDPOINTS`.
fn scope_of(parts: &axum::http::request::Parts) -> Option<&'static str> {
    let path = parts
        .extensions
        .get::<axum::extract::MatchedPath>()?
        .as_str();
    ENDPOINTS
        .iter()
        .find(|e| e.path == path && e.method == parts.method.as_str())
        .and_then(|e| e.scope)
}

/// An application as the API shows it: never a secret.
#[derive(Serialize)]
struct ClientView<'a> {
    client_id: &'a str,
    name: &'a str,
    description: &'a str,
    permissions: &'a [String],
    website_url: &'a str,
    callback_url: &'a str,
    owner: &'a str,
    created_at: i64,
    last_used_at: Option<i64>,
    /// A public client: no secret (`token_endpoint_auth_method` `none`).
    public: bool,
    refresh_tokens: bool,
    refresh_idle_seconds: i64,
    refresh_absolute_seconds: i64,
}

impl<'a> From<&'a WithPermissions> for ClientView<'a> {
    fn from(a: &'a WithPermissions) -> Self {
        Self {
            client_id: &a.app.client_id,
            name: &a.app.name,
            description: &a.app.description,
            permissions: &a.permissions,
            website_url: &a.app.website_url,
            callback_url: &a.app.callback_url,
            owner: &a.app.owner_email,
            created_at: a.app.created_at,
            last_used_at: a.app.last_used_at,
            public: a.app.is_public(),
            refresh_tokens: a.app.refresh_tokens != 0,
            refresh_idle_seconds: a.app.refresh_idle_seconds,
            refresh_absolute_seconds: a.app.refresh_absolute_seconds,
        }
    }
}

/// A registered application with its secret: the answer to its creation only.
#[derive(Serialize)]
struct Created<'a> {
    #[serde(flatten)]
    client: ClientView<'a>,
    /// None for a public client.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
}

/// The applications of the token's domain that its user may see, by name.
/// Writing 63 clients' JSON was most of a call's cost, and a domain's
/// applications change far less often than integrations ask for them: the
/// list is written once per read of the domain and viewer.
async fn list_clients(
    State(keyport): State<Keyport>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let domain = caller.domain(&keyport).await?;
    let all = keyport.domain_applications(&domain.id).await?;
    // Admins see the whole domain; a member their own applications.
    let viewer = if caller.user.role.is_admin() {
        String::new()
    } else {
        caller.user.id.to_string()
    };
    let which = format!("{}/{viewer}", all.domain_id);
    let body = keyport
        .memory
        .view("api clients", which, all.made_from(), || {
            let visible: Vec<ClientView> = all
                .in_use
                .iter()
                .filter(|a| app::domain::rules::may_manage_application(&caller.user, &a.app))
                .map(ClientView::from)
                .collect();
            serde_json::to_string(&visible)
        });
    match body {
        Ok(body) => Ok((
            [(header::CONTENT_TYPE, "application/json")],
            Bytes::from_owner(Shared(body)),
        )
            .into_response()),
        Err(e) => {
            tracing::error!(error = %e, "client list could not be written");
            Err(ApiError::internal())
        }
    }
}

/// A kept view as a response body, sent without a copy.
struct Shared(Arc<str>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClient {
    name: String,
    #[serde(default)]
    description: String,
    permissions: Vec<String>,
    #[serde(default)]
    website_url: String,
    #[serde(default)]
    callback_url: String,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    refresh_tokens: bool,
    refresh_idle_seconds: Option<i64>,
    refresh_absolute_seconds: Option<i64>,
}

async fn create_client(
    State(keyport): State<Keyport>,
    caller: Caller,
    body: Result<Json<NewClient>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(ApiError::json)?;
    let domain = caller.domain(&keyport).await?;
    let input = ApplicationInput {
        name: body.name,
        description: body.description,
        permissions: body.permissions,
        website_url: body.website_url,
        callback_url: body.callback_url,
        icon: None,
        public: body.public,
        refresh_tokens: body.refresh_tokens,
        refresh_idle_seconds: body.refresh_idle_seconds,
        refresh_absolute_seconds: body.refresh_absolute_seconds,
    };
    let (app, credentials) = keyport
        .register_application(&caller.access(), &domain, input)
        .await?;
    let created = keyport.application_for(&caller.user, &app.id).await?;
    let body = Created {
        client: ClientView::from(&created),
        client_secret: credentials.as_ref().map(|c| c.client_secret.expose()),
    };
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response())
}

async fn delete_client(
    State(keyport): State<Keyport>,
    caller: Caller,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let app = managed_client(&keyport, &caller, &client_id).await?;
    keyport
        .remove_applications(&caller.access(), &[app.app.id.into()])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The application of `client_id` in the caller's domain, if they may
/// manage it.
async fn managed_client(
    keyport: &Keyport,
    caller: &Caller,
    client_id: &str,
) -> Result<WithPermissions, ApiError> {
    let id = keyport
        .application_id_for_client(client_id)
        .await?
        .ok_or(ApiError::not_found())?;
    let domain = caller.domain(keyport).await?;
    let app = keyport.application_for(&caller.user, &id).await?;
    if app.app.domain_id != domain.id {
        return Err(ApiError::not_found());
    }
    Ok(app)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotation {
    grace_seconds: i64,
}

/// Issues a new secret; the old one works for `grace_seconds` more (default
/// 24 h; 0 retires it at once).
async fn rotate_secret(
    State(keyport): State<Keyport>,
    caller: Caller,
    Path(client_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let grace = if body.iter().all(u8::is_ascii_whitespace) {
        app::domain::secret_rotation::GRACE_DEFAULT
    } else {
        serde_json::from_slice::<Rotation>(&body)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    400001,
                    format!("invalid JSON body: {e}"),
                )
            })?
            .grace_seconds
    };
    let app = managed_client(&keyport, &caller, &client_id).await?;
    let rotated = keyport
        .rotate_secret(&caller.access(), &app.app.id, grace)
        .await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "client_id": rotated.credentials.client_id,
            "client_secret": rotated.credentials.client_secret.expose(),
            "previous_secret_expires_at": rotated.previous_expires_at,
        })),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    limit: Option<i64>,
    actor: Option<String>,
    action: Option<String>,
    client_id: Option<String>,
    from: Option<String>,
    until: Option<String>,
    before: Option<i64>,
}

/// Audit entries of the token's domain, newest first, with the filters of
/// the portal's page. A full page carries a `Link` to the next (older) one.
async fn audit(
    State(keyport): State<Keyport>,
    caller: Caller,
    query: Result<Query<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, 400001, e.body_text()))?;
    let limit = params.limit.unwrap_or(100).clamp(1, 500);
    let query = AuditQuery {
        actor: params.actor,
        action: params.action,
        client_id: params.client_id,
        from: params.from,
        until: params.until,
        before: params.before,
    };
    let domain = caller.domain(&keyport).await?;
    let filter = query.parse(Some(domain.id.into()))?;
    let entries = app::domain::audit::search(&keyport.db, &filter, limit).await?;
    let next = entries
        .last()
        .filter(|_| entries.len() as i64 == limit)
        .map(|last| {
            let mut pairs = url::form_urlencoded::Serializer::new(String::new());
            pairs.extend_pairs(query.filters());
            pairs.append_pair("limit", &limit.to_string());
            pairs.append_pair("before", &last.id.to_string());
            format!("</api/v1/audit?{}>; rel=\"next\"", pairs.finish())
        })
        .and_then(|link| HeaderValue::from_str(&link).ok());
    let mut response =
        Json(Value::Array(entries.into_iter().map(audit_json).collect())).into_response();
    if let Some(link) = next {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

fn audit_json(e: app::domain::audit::Record) -> Value {
    json!({
        "id": e.id,
        "at": e.at,
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "client_id": e.client_id,
        "detail": e.detail,
        "address": e.address,
    })
}

async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}
