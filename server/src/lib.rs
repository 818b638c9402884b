#![recursion_limit = "256"]
//! The `keyport` server: configuration, router assembly, sessions and the
//! HTTP protections around the portal.

mod access;
pub mod alloc;
pub mod api_v1;
mod audit_csv;
#[cfg(feature = "bench")]
mod bench_routes;
pub mod cli;
pub mod config;
mod deadline;
mod headers;
pub mod metrics;
pub mod oauth;
mod openapi;
pub mod proxies;
mod request_owner;
pub mod sessions;
mod turns;

use std::sync::{Arc, OnceLock};

use app::domain::clock::{Clock, SystemClock};
use app::domain::secrets::MasterKey;
use app::domain::{Keyport, Settings};
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::{middleware, Router};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use tower_http::limit::RequestBodyLimitLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::config::Config;
use crate::deadline::Deadline;
use crate::headers::AllowedOrigin;
use crate::metrics::Metrics;
use crate::proxies::TrustedProxies;
use crate::sessions::DbSessionStore;
use crate::turns::Turns;

/// Console sessions end after this long without a request.
pub const SESSION_IDLE: time::Duration = time::Duration::hours(8);
/// The largest request body accepted anywhere: room for an oversized icon to
/// be refused with a message next to its field rather than a bare 413.
const BODY_LIMIT: usize = 2 * 1024 * 1024;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub keyport: Keyport,
    pub public_url: url::Url,
    /// How long any request may take (`KEYPORT_REQUEST_TIMEOUT`).
    pub request_timeout: std::time::Duration,
    pub metrics: Arc<Metrics>,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Seconds a console session lasts at most (`KEYPORT_SESSION_LIFETIME`).
    pub session_lifetime: i64,
}

impl AppState {
    /// Opens the database (migrating it) and the master key.
    pub async fn open(config: &Config, clock: Arc<dyn Clock>) -> app::domain::Result<Self> {
        let master_key = MasterKey::load_or_create(&config.master_key_file)?;
        let keyport = Keyport::open(Settings {
            database_url: config.database_url.clone(),
            issuer: config.public_url(),
            master_key,
            clock,
            token_ttl: i64::try_from(config.token_ttl)
                .ok()
                .filter(|ttl| (60..=86_400).contains(ttl))
                .ok_or_else(|| {
                    app::domain::Error::Config(
                        "KEYPORT_TOKEN_TTL must be 60 to 86400 seconds".into(),
                    )
                })?,
            signing_alg: config.signing_alg,
            unused_days: Some(i64::from(config.unused_days))
                .filter(|days| (1..=3650).contains(days))
                .ok_or_else(|| {
                    app::domain::Error::Config("KEYPORT_UNUSED_DAYS must be 1 to 3650".into())
                })?,
            step_up_ttl: Some(i64::from(config.step_up_ttl))
                .filter(|secs| (1..=3_600).contains(secs))
                .ok_or_else(|| {
                    app::domain::Error::Config(
                        "KEYPORT_STEP_UP_TTL must be 1 to 3600 seconds".into(),
                    )
                })?,
            refresh_rotations: Some(config.refresh_rotations)
                .filter(|n| (1..=100_000).contains(n))
                .ok_or_else(|| {
                    app::domain::Error::Config(
                        "KEYPORT_REFRESH_ROTATIONS must be 1 to 100000 a minute".into(),
                    )
                })?,
        })
        .await?;
        Ok(Self {
            leptos_options: leptos_options(),
            keyport,
            public_url: config.public_url(),
            request_timeout: Some(config.request_timeout)
                .filter(|seconds| (1..=300).contains(seconds))
                .map(std::time::Duration::from_secs)
                .ok_or_else(|| {
                    app::domain::Error::Config("KEYPORT_REQUEST_TIMEOUT must be 1 to 300".into())
                })?,
            metrics: Arc::new(Metrics::new(config.metrics_token.clone())),
            session_lifetime: i64::try_from(config.session_lifetime)
                .ok()
                .filter(|seconds| (300..=2_592_000).contains(seconds))
                .ok_or_else(|| {
                    app::domain::Error::Config(
                        "KEYPORT_SESSION_LIFETIME must be 300 to 2592000 seconds".into(),
                    )
                })?,
            trusted_proxies: Arc::new(
                TrustedProxies::parse(
                    config.trusted_proxies.as_deref().unwrap_or_default(),
                    config.proxy_headers,
                )
                .map_err(app::domain::Error::Config)?,
            ),
        })
    }

    pub async fn open_with_system_clock(config: &Config) -> app::domain::Result<Self> {
        Self::open(config, Arc::new(SystemClock)).await
    }
}

/// Where the built site (WASM, JS, CSS) lives: `LEPTOS_*` variables as set
/// by cargo-leptos, or the defaults of this workspace. The site's file
/// names carry a hash of their content when the build left its list of
/// hashes beside this executable (`hash-files` in Cargo.toml): the file
/// decides, so a server never links to names its site does not have.
fn leptos_options() -> LeptosOptions {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let hash_file = var("LEPTOS_HASH_FILE_NAME", "hash.txt");
    let hash_files = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(&hash_file)))
        .is_some_and(|path| path.is_file());
    LeptosOptions::builder()
        .output_name(var("LEPTOS_OUTPUT_NAME", "keyport"))
        .site_root(var("LEPTOS_SITE_ROOT", "target/site"))
        .site_pkg_dir(var("LEPTOS_SITE_PKG_DIR", "pkg"))
        .hash_files(hash_files)
        .hash_file(hash_file.into())
        .build()
}

/// The portal's pages, listed once per process. Listing them runs the app
/// with resource loading switched off for the whole process (a global in
/// `leptos_server`), so a page another router in this process rendered at
/// that moment would wait for its data forever.
fn pages() -> Vec<AxumRouteListing> {
    static PAGES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    PAGES
        .get_or_init(|| generate_route_list(app::ui::App))
        .clone()
}

/// Who may call a route besides the pages and server functions (whose
/// rules are `app::api::access::RULES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Anyone: health, signing keys, metadata, the OpenAPI document.
    Anyone,
    /// The scraper's Bearer token, once `KEYPORT_METRICS_TOKEN` is set.
    MetricsToken,
    /// A console session, as server functions' `Who::User` (signed in,
    /// enabled, within any grace period), for what that user may see.
    Session,
    /// A client authenticating itself (RFC 6749 §2.3), or a public client
    /// naming itself where the grant allows it.
    Client,
    /// An initial access token (`kpi_`), or nobody while open registration
    /// is on (RFC 7591).
    Registration,
    /// The registration access token of the very client (RFC 7592).
    RegistrationAccess,
    /// A management API token with this scope, whose user may hold it now.
    Scope(&'static str),
}

/// A route besides the pages and server functions. The router is built
/// from `ROUTES` and the management API's `api_v1::ENDPOINTS`; the rules
/// test (`server/tests/rules.rs`) calls each one as each kind of caller.
#[derive(Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub gate: Gate,
    handler: fn() -> MethodRouter<AppState>,
}

/// A row of `ROUTES`.
const fn route(
    method: &'static str,
    path: &'static str,
    gate: Gate,
    handler: fn() -> MethodRouter<AppState>,
) -> Route {
    Route {
        method,
        path,
        gate,
        handler,
    }
}

pub const ROUTES: &[Route] = &[
    route("GET", "/healthz", Gate::Anyone, || get(healthz)),
    route("GET", "/metrics", Gate::MetricsToken, || {
        get(metrics::scrape)
    }),
    route("GET", "/applications/{id}/icon", Gate::Session, || {
        get(icon)
    }),
    route("GET", "/audit.csv", Gate::Session, || {
        get(audit_csv::export)
    }),
    route("POST", "/oauth2/token", Gate::Client, || post(oauth::token)),
    route("POST", "/v4/oauth2/token", Gate::Client, || {
        post(oauth::token_v4)
    }),
    route("POST", "/oauth2/introspect", Gate::Client, || {
        post(oauth::introspect)
    }),
    route("POST", "/oauth2/revoke", Gate::Client, || {
        post(oauth::revoke)
    }),
    route("POST", "/oauth2/register", Gate::Registration, || {
        post(oauth::registration::register)
    }),
    route(
        "GET",
        "/oauth2/register/{client_id}",
        Gate::RegistrationAccess,
        || get(oauth::registration::read),
    ),
    route(
        "PUT",
        "/oauth2/register/{client_id}",
        Gate::RegistrationAccess,
        || put(oauth::registration::update),
    ),
    route(
        "DELETE",
        "/oauth2/register/{client_id}",
        Gate::RegistrationAccess,
        || delete(oauth::registration::delete),
    ),
    route("GET", "/.well-known/jwks.json", Gate::Anyone, || {
        get(oauth::jwks)
    }),
    route(
        "GET",
        "/.well-known/oauth-authorization-server",
        Gate::Anyone,
        || get(oauth::metadata),
    ),
];

/// Every route besides the pages and server functions, with its gate.
pub fn routes() -> impl Iterator<Item = (&'static str, &'static str, Gate)> {
    ROUTES.iter().map(|r| (r.method, r.path, r.gate)).chain(
        api_v1::ENDPOINTS
            .iter()
            .map(|e| (e.method, e.path, e.scope.map_or(Gate::Anyone, Gate::Scope))),
    )
}

pub fn router(state: AppState) -> Router {
    let pages = pages();
    let keyport = state.keyport.clone();
    let options = state.leptos_options.clone();
    let allowed = AllowedOrigin(state.public_url.origin().ascii_serialization());
    let https = state.public_url.scheme() == "https";
    let sessions = SessionManagerLayer::new(DbSessionStore::new(
        state.keyport.clone(),
        state.session_lifetime,
    ))
    .with_name(app::api::cookie_name("keyport_session", https))
    .with_http_only(true)
    .with_same_site(SameSite::Lax)
    .with_secure(https)
    .with_expiry(Expiry::OnInactivity(SESSION_IDLE));

    let routes = ROUTES
        .iter()
        .fold(Router::new(), |router, route| {
            router.route(route.path, (route.handler)())
        })
        .merge(api_v1::routes().with_state(state.keyport.clone()));
    // Routes that only `keyport-bench` has (`make bench`), behind the same
    // middleware as everything else.
    #[cfg(feature = "bench")]
    let routes = routes.merge(bench_routes::routes());
    let portal = Router::new()
        .leptos_routes_with_context(
            &state,
            pages,
            move || {
                provide_context(keyport.clone());
                request_owner::note();
            },
            move || app::ui::shell(options.clone()),
        )
        .layer(middleware::from_fn_with_state(
            state.request_timeout,
            request_owner::own_owner,
        ))
        .layer(middleware::from_fn_with_state(
            Turns::per_core(),
            turns::in_turn,
        ))
        .layer(middleware::from_fn(headers::page_redirects))
        // Server functions are portal routes: each call meets its rule
        // here; the token endpoint and the management API never pass it.
        .layer(middleware::from_fn_with_state(
            state.keyport.clone(),
            access::rpc_access,
        ));
    routes
        .merge(portal)
        .route_layer(middleware::from_fn(metrics::note_route))
        .fallback(site_file)
        .layer(middleware::from_fn(headers::server_fn_statuses))
        .layer(middleware::from_fn(headers::plain_form_returns))
        .layer(sessions)
        .layer(middleware::from_fn_with_state(
            allowed,
            headers::same_origin_only,
        ))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(
            Deadline(state.request_timeout),
            deadline::within_deadline,
        ))
        .layer(middleware::from_fn_with_state(
            headers::Transport { https },
            headers::security_headers,
        ))
        .layer(middleware::from_fn_with_state(
            state.trusted_proxies.clone(),
            proxies::client_address,
        ))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// The site's files (WebAssembly, JavaScript, CSS), and the 404 page for
/// any other path, including one no file system could name.
///
/// Not `leptos_axum::file_and_error_handler`: it serves a file inside a
/// reactive owner made a child of whichever page last rendered on the
/// thread, so the file takes that page's response headers (its
/// Content-Security-Policy, its `no-store`) and leaves the page without
/// them. Files are served here outside any owner; the 404 page renders
/// under a root of its own.
async fn site_file(
    State(options): State<LeptosOptions>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::http::header::ACCEPT_ENCODING;
    use axum::response::IntoResponse;
    use tower::ServiceExt;

    let mut file = axum::http::Request::builder().uri(request.uri().clone());
    if let Some(encodings) = request.headers().get(ACCEPT_ENCODING) {
        file = file.header(ACCEPT_ENCODING, encodings);
    }
    if let Ok(file) = file.body(axum::body::Body::empty()) {
        let Ok(found) = leptos_axum::site_pkg_dir_service(&options)
            .oneshot(file)
            .await;
        if found.status() == StatusCode::OK || found.status() == StatusCode::NOT_MODIFIED {
            return cached(request.uri().path(), found.into_response());
        }
    }
    let Ok(page) = leptos_axum::ErrorHandler::new(app::ui::shell, options)
        .oneshot(request)
        .await;
    page
}

/// How long a browser keeps a site file: for good when its name carries
/// its content's hash (`keyport.<hash>.wasm`), otherwise until it asks
/// again (`Last-Modified` answers that cheaply). Each file is sent brotli-
/// or gzip-compressed when the build made those copies and the browser
/// takes them, so caches keep one copy per encoding.
fn cached(path: &str, mut file: axum::response::Response) -> axum::response::Response {
    use axum::http::header::{HeaderValue, CACHE_CONTROL, VARY};

    let policy = if content_hashed(path) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let headers = file.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(policy));
    headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    file
}

/// A file name with a content hash as cargo-leptos writes it: a part of
/// 22 URL-safe base64 characters (MD5) between the name and its extension.
fn content_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let Some((inner, _extension)) = name.rsplit_once('.') else {
        return false;
    };
    inner.split('.').skip(1).any(|part| {
        part.len() == 22
            && part.bytes().any(|b| b != b'_')
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The user a console session may act for now, as the server functions
/// see them (`app::api::request::session_portal_user`): signed in, enabled,
/// and within any grace period to set up a second factor.
pub(crate) async fn session_user(
    keyport: &Keyport,
    session: &tower_sessions::Session,
) -> Option<app::domain::accounts::User> {
    app::api::request::session_portal_user(keyport, session)
        .await
        .ok()
}

/// An application's icon, from the database, to whoever may see the
/// application. The URL carries the application's update time, so the
/// browser may keep it.
async fn icon(
    State(keyport): State<Keyport>,
    session: tower_sessions::Session,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;

    let Some(user) = session_user(&keyport, &session).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match keyport.icon_for(&user, &id).await {
        Ok((content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (
                    header::CACHE_CONTROL,
                    "private, max-age=31536000, immutable".to_string(),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => match e.failure("icon") {
            Some(failure) => StatusCode::from_u16(failure.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                .into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        },
    }
}

async fn healthz(State(keyport): State<Keyport>) -> (StatusCode, &'static str) {
    if keyport.db.is_healthy().await {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
    }
}

#[cfg(test)]
mod tests {
    use super::content_hashed;

    #[test]
    fn only_a_name_with_its_content_hash_is_kept_for_good() {
        for hashed in [
            "/pkg/keyport.Ab3_x-9Zq0Lm4Nn5Oo6Pp7.wasm",
            "/pkg/keyport.Ab3_x-9Zq0Lm4Nn5Oo6Pp7.js",
            "/pkg/__wasm_split.Ab3_x-9Zq0Lm4Nn5Oo6Pp7.js",
        ] {
            assert!(content_hashed(hashed), "{hashed}");
        }
        for plain in [
            "/pkg/keyport.wasm",
            "/pkg/keyport.css",
            "/pkg/__wasm_split.______________________.js",
            "/pkg/snippets/leptos-abc/inline0.js",
            "/pkg/keyport.Ab3_x-9Zq0Lm4Nn5Oo6Pp.wasm",
            "/pkg/keyport.Ab3/x-9Zq0Lm4Nn5Oo6Pp7.wasm",
        ] {
            assert!(!content_hashed(plain), "{plain}");
        }
    }
}
