//! In-process test harness: the real router over a fresh database (a
//! temporary SQLite file, or a PostgreSQL database created for the test and
//! dropped after it), driven through `tower::ServiceExt::oneshot`.

#![allow(dead_code)] // each test file uses a different part of the harness

pub mod authorize;
pub mod factors;

use std::net::SocketAddr;
use std::sync::Arc;

use app::domain::accounts::{NewUser, Role, User};
use app::domain::clock::ManualClock;
use app::domain::secrets::Password;
use app::domain::Keyport;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use keyport::config::Config;
use keyport::AppState;
use keyport_scratch::{postgres_admin_url, Scratch};
use tower::ServiceExt;

pub const ORIGIN: &str = "http://127.0.0.1:3000";
pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Debug, Clone, Copy)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(TestApp)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let app = $crate::common::TestApp::new($crate::common::Engine::Sqlite).await;
                super::$name(&app).await;
                app.finish().await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let app = $crate::common::TestApp::new($crate::common::Engine::Postgres).await;
                super::$name(&app).await;
                app.finish().await;
            })*
        }
    };
}

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub keyport: Keyport,
    pub clock: ManualClock,
    pub config: Config,
    scratch: Scratch,
}

/// The identifier of the reporting API (`TestApp::reports_api`).
pub const REPORTS: &str = "https://reports.example.com/api";

/// What the names of the tests' scratch databases start with.
const SCRATCH: &str = "keyport_test";

impl TestApp {
    pub async fn new(engine: Engine) -> Self {
        Self::with(engine, |_| {}).await
    }

    /// A test app whose configuration `tweak` changed first.
    pub async fn with(engine: Engine, tweak: impl FnOnce(&mut Config)) -> Self {
        let scratch = match engine {
            Engine::Sqlite => Scratch::sqlite(SCRATCH).expect("a scratch folder"),
            Engine::Postgres => {
                Scratch::postgres(SCRATCH, &postgres_admin_url("KEYPORT_TEST_POSTGRES"))
                    .await
                    .expect("PostgreSQL at 127.0.0.1:5432")
            }
        };
        let mut config = Config {
            database_url: scratch.url().to_owned(),
            bind: "127.0.0.1:3000".parse().unwrap(),
            public_url: None,
            master_key_file: scratch.dir().join("master.key"),
            token_ttl: 3600,
            signing_alg: app::domain::signing_keys::SigningAlg::Es256,
            log_format: keyport::config::LogFormat::Text,
            unused_days: 90,
            step_up_ttl: 300,
            refresh_rotations: 30,
            // The deadline has its own test (faults.rs); a debug build under a
            // parallel suite must not meet it here.
            request_timeout: 300,
            metrics_token: None,
            trusted_proxies: None,
            proxy_headers: keyport::config::ProxyHeader::XForwarded,
            session_lifetime: 43_200,
        };
        tweak(&mut config);
        let clock = ManualClock::new(1_800_000_000);
        let state = AppState::open(&config, Arc::new(clock.clone()))
            .await
            .expect("Keyport opens");
        let keyport = state.keyport.clone();
        Self {
            router: keyport::router(state.clone()),
            state,
            keyport,
            clock,
            config,
            scratch,
        }
    }

    /// Another node on the same database, master key and clock.
    pub async fn second_node(&self) -> AppState {
        AppState::open(&self.config, Arc::new(self.clock.clone()))
            .await
            .expect("a second node opens")
    }

    /// Closes the pool and removes the scratch database.
    pub async fn finish(self) {
        self.keyport.db.pool.close().await;
        self.scratch
            .finish()
            .await
            .expect("the scratch database is dropped");
    }

    /// The reporting API (`REPORTS`), with two permissions of its own.
    pub async fn reports_api(&self) {
        let new = app::domain::apis::NewApi {
            name: "Reporting API".into(),
            identifier: REPORTS.into(),
            permissions: vec![
                ("reports:read".into(), "Read the reports".into()),
                ("reports:write".into(), "Schedule reports".into()),
            ],
        };
        self.keyport
            .create_api(&app::domain::access::Access::operator(), new)
            .await
            .expect("the reporting API registers");
    }

    pub async fn user(&self, email: &str, role: Role) -> User {
        let new = NewUser {
            domain_id: self.keyport.tenancy.default_domain_id.clone(),
            email: email.into(),
            role,
            password: Password::new(PASSWORD),
        };
        self.keyport
            .insert_user(new, None, "test", None)
            .await
            .unwrap()
    }

    /// No role of the default domain must have a second factor: for tests
    /// whose admin signs in with a password alone for weeks of clock time
    /// (the rule itself is tested in factors.rs).
    pub async fn factors_not_required(&self) {
        sqlx::query("UPDATE domains SET mfa_roles = '' WHERE id = $1")
            .bind(&self.keyport.tenancy.default_domain_id)
            .execute(&self.keyport.db.pool)
            .await
            .unwrap();
    }

    /// A browser with no cookies yet, from the given address.
    pub fn browser(&self) -> Browser<'_> {
        Browser {
            app: self,
            cookie: None,
            address: "10.0.0.1:5555".parse().unwrap(),
        }
    }

    /// A browser already signed in as a new user with `role`.
    pub async fn signed_in(&self, email: &str, role: Role) -> (Browser<'_>, User) {
        let user = self.user(email, role).await;
        let mut browser = self.browser();
        let response = browser.sign_in(email, PASSWORD).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text);
        (browser, user)
    }
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub bytes: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

/// A cookie-keeping client. Server functions are called as the hydrated
/// page calls them (`rpc`), or as a plain HTML form posts (`form_post`).
pub struct Browser<'a> {
    app: &'a TestApp,
    /// Every cookie the browser holds, as its `Cookie` header sends them.
    pub cookie: Option<String>,
    pub address: SocketAddr,
}

impl Browser<'_> {
    pub async fn send(&mut self, request: Request<Body>) -> Response {
        let mut request = request;
        request.extensions_mut().insert(ConnectInfo(self.address));
        if let Some(cookie) = &self.cookie {
            request
                .headers_mut()
                .insert(header::COOKIE, cookie.parse().unwrap());
        }
        let response = self.app.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        // A cookie jar: each Set-Cookie replaces its name's value, an empty
        // value (or Max-Age=0) drops it.
        let mut jar: Vec<(String, String)> = self
            .cookie
            .iter()
            .flat_map(|c| c.split("; "))
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        for set in headers.get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (name, value) = set.split(';').next().unwrap().split_once('=').unwrap();
            jar.retain(|(k, _)| k != name);
            if !value.is_empty() && !set.contains("Max-Age=0") {
                jar.push((name.to_owned(), value.to_owned()));
            }
        }
        self.cookie = (!jar.is_empty()).then(|| {
            jar.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        });
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Response {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            bytes: bytes.to_vec(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Response {
        let request = Request::builder()
            .uri(path)
            .header(header::ACCEPT, "text/html")
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    /// A server-function call as the hydrated page makes it.
    pub async fn rpc(&mut self, name: &str, form: &[(&str, &str)]) -> Response {
        self.rpc_from(name, form, Some(ORIGIN)).await
    }

    pub async fn rpc_from(
        &mut self,
        name: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Response {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!("/rpc/{name}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json");
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        self.send(request.body(Body::from(encode(form))).unwrap())
            .await
    }

    /// A plain HTML form post from `page`, as a browser without JavaScript sends it.
    pub async fn form_post(&mut self, name: &str, form: &[(&str, &str)], page: &str) -> Response {
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("/rpc/{name}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "text/html,application/xhtml+xml")
            .header(header::ORIGIN, ORIGIN)
            .header(header::REFERER, format!("{ORIGIN}{page}"))
            .body(Body::from(encode(form)))
            .unwrap();
        self.send(request).await
    }

    /// Sets a password with a password link's token, as the welcome page
    /// posts it.
    pub async fn set_password(&mut self, token: &str, password: &str) -> Response {
        self.rpc(
            "welcome/password",
            &[
                ("token", token),
                ("password", password),
                ("confirm", password),
            ],
        )
        .await
    }

    pub async fn sign_in(&mut self, email: &str, password: &str) -> Response {
        self.rpc("sign_in", &[("email", email), ("password", password)])
            .await
    }
}

pub fn encode(form: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish()
}

/// A part of a multipart form: a text field, or a file.
pub enum Part<'a> {
    Text(&'a str, &'a str),
    File(&'a str, &'a str, &'a [u8]),
}

pub fn multipart(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let boundary = "----keyport-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match part {
            Part::Text(name, value) => {
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                        .as_bytes(),
                );
            }
            Part::File(name, filename, bytes) => {
                body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                    )
                    .as_bytes(),
                );
                body.extend_from_slice(bytes);
                body.extend_from_slice(b"\r\n");
            }
        }
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The smallest valid PNG: one transparent pixel.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

impl Browser<'_> {
    /// A multipart server-function call, as the hydrated settings form sends it.
    pub async fn rpc_multipart(&mut self, name: &str, parts: &[Part<'_>]) -> Response {
        let (content_type, body) = multipart(parts);
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("/rpc/{name}"))
            .header(header::CONTENT_TYPE, content_type)
            .header(header::ACCEPT, "application/json")
            .header(header::ORIGIN, ORIGIN)
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    /// Registers an application with sensible settings; returns its id.
    pub async fn register(&mut self, name: &str) -> String {
        let response = self
            .rpc_multipart(
                "applications/create",
                &[
                    Part::Text("name", name),
                    Part::Text("description", "An integration"),
                    Part::Text("permissions", "clients:read"),
                    Part::Text("website_url", "https://example.com"),
                    Part::Text("callback_url", "http://127.0.0.1/opswat"),
                    Part::File("icon", "icon.png", PNG),
                ],
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text);
        response
            .json()
            .as_str()
            .expect("the new application's id")
            .to_owned()
    }
}

impl TestApp {
    /// Registers an application straight through the domain, as the
    /// portal does; returns (client_id, client_secret).
    pub async fn client(&self, owner: &User, name: &str, permissions: &[&str]) -> (String, String) {
        self.client_with_callback(owner, name, permissions, "")
            .await
    }

    pub async fn client_with_callback(
        &self,
        owner: &User,
        name: &str,
        permissions: &[&str],
        callback_url: &str,
    ) -> (String, String) {
        use app::domain::secrets::Secret;
        let domain = app::domain::tenancy::find_domain(&self.keyport.db, &owner.domain_id)
            .await
            .unwrap()
            .unwrap();
        let input = app::domain::validate::ApplicationInput {
            name: name.into(),
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
            callback_url: callback_url.into(),
            ..Default::default()
        };
        let (_, credentials) = self
            .keyport
            .register_application(&authorize::access(owner), &domain, input)
            .await
            .unwrap();
        let credentials = credentials.expect("a confidential client has a secret");
        (
            credentials.client_id.into(),
            credentials.client_secret.expose().to_owned(),
        )
    }

    /// The id of the application in use holding `client_id`.
    pub async fn application_id(&self, client_id: &str) -> String {
        self.keyport
            .application_id_for_client(client_id)
            .await
            .unwrap()
            .expect("an application holds this client ID")
    }

    /// One request through the router, from an integration's address.
    pub async fn call(&self, request: Request<Body>) -> Response {
        let mut browser = self.browser();
        browser.address = "10.20.0.1:40000".parse().unwrap();
        browser.send(request).await
    }

    pub async fn token_request(&self, basic: Option<(&str, &str)>, form: &str) -> Response {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/oauth2/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some((id, secret)) = basic {
            let encoded = base64::engine::general_purpose::STANDARD.format_basic(id, secret);
            request = request.header(header::AUTHORIZATION, format!("Basic {encoded}"));
        }
        self.call(request.body(Body::from(form.to_owned())).unwrap())
            .await
    }

    pub async fn bearer_get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = Request::builder().uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.call(request.body(Body::empty()).unwrap()).await
    }
}

/// The router as the OAuth library's HTTP client.
pub type Pending<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, std::io::Error>> + 'a>,
>;

pub fn http_client<'a>(app: &'a TestApp) -> impl Fn(oauth2::HttpRequest) -> Pending<'a> + 'a {
    move |request: oauth2::HttpRequest| {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let mut builder = Request::builder()
                .method(parts.method)
                .uri(parts.uri.path());
            for (name, value) in &parts.headers {
                builder = builder.header(name, value);
            }
            let response = app.call(builder.body(Body::from(body)).unwrap()).await;
            let mut out = oauth2::http::Response::builder().status(response.status.as_u16());
            for (name, value) in &response.headers {
                out = out.header(name.as_str(), value.as_bytes());
            }
            Ok(out.body(response.bytes).unwrap())
        })
    }
}

/// RFC 6749 §2.3.1: form-encode, then base64.
pub trait BasicCredentials {
    fn format_basic(&self, id: &str, secret: &str) -> String;
}

impl BasicCredentials for base64::engine::GeneralPurpose {
    fn format_basic(&self, id: &str, secret: &str) -> String {
        use base64::Engine as _;
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        self.encode(format!("{}:{}", enc(id), enc(secret)))
    }
}
