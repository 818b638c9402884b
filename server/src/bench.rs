//! `make bench`: Keyport measured against its own limits on this machine,
//! every figure from one run. Compiled only with the `bench` feature (into
//! `keyport-bench`); the `keyport` binary has none of this.
//!
//! `measure` starts `keyport-bench serve` on an empty SQLite file and on a
//! fresh PostgreSQL database, seeds them through the CLI and the management
//! API, then drives each row with a keep-alive HTTP/1.1 load generator on the
//! same cores: a fixed number of connections, each sending its next request
//! as soon as the last is answered.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::domain::Keyport;
use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::AppState;

/// The two rows that have no route in Keyport itself: a route that does
/// nothing (the server's ceiling) and one that only signs a token (the
/// physical limit of issuing one).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/bench/noop", get(|| async { StatusCode::OK }))
        .route("/bench/sign", get(sign))
}

/// Signs one access token with the configured key and answers as the token
/// endpoint does.
async fn sign(State(keyport): State<Keyport>) -> Response {
    let scope = "clients:read";
    let client_id = app::domain::ids::ClientId::new("bench");
    match keyport.sign(
        "bench",
        &client_id,
        &keyport.tenancy.default_domain_id,
        scope,
    ) {
        Ok(issued) => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            Json(json!({
                "access_token": issued.access_token,
                "token_type": "Bearer",
                "expires_in": issued.expires_in,
                "scope": scope,
            })),
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

type Result<T, E = String> = std::result::Result<T, E>;

const EMAIL: &str = "bench@keyport.test";
const PASSWORD: &str = "bench password, never used for anything else";
const CONNECTIONS: [usize; 2] = [16, 64];
/// Applications in the domain the page row renders (the per-domain limit).
const APPLICATIONS: usize = 63;

/// One request, sent over and over.
#[derive(Clone)]
pub(crate) struct Load {
    method: Method,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl Load {
    pub(crate) fn get(path: &str) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub(crate) fn header(mut self, name: HeaderName, value: &str) -> Self {
        self.headers
            .push((name, HeaderValue::from_str(value).expect("valid header")));
        self
    }

    fn request(&self, host: &HeaderValue) -> Request<Full<Bytes>> {
        let mut request = Request::builder()
            .method(self.method.clone())
            .uri(&self.path)
            .header(header::HOST, host.clone());
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        request
            .body(Full::new(self.body.clone()))
            .expect("valid request")
    }
}

/// What one row at one concurrency measured.
pub(crate) struct Run {
    pub(crate) requests: usize,
    pub(crate) not_ok: usize,
    pub(crate) errors: usize,
    seconds: f64,
    p50_ms: f64,
    pub(crate) p99_ms: f64,
    /// Each request's time, in microseconds, sorted.
    latencies: Vec<u32>,
}

impl Run {
    pub(crate) fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    fn from_latencies(mut latencies: Vec<u32>, not_ok: usize, errors: usize, seconds: f64) -> Self {
        latencies.sort_unstable();
        let at = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
                .map_or(f64::NAN, |us| f64::from(*us) / 1000.0)
        };
        Self {
            requests: latencies.len(),
            not_ok,
            errors,
            seconds,
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            latencies,
        }
    }

    /// Rounds of the same row at the same concurrency as one: the median
    /// round's rate (one disturbed round does not move it), and the
    /// latencies of all rounds together.
    fn of_rounds(mut rounds: Vec<Run>) -> Run {
        rounds.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
        let median = rounds.get(rounds.len() / 2).map_or(0.0, Run::rate);
        let (mut latencies, mut not_ok, mut errors) = (Vec::new(), 0, 0);
        for round in rounds {
            latencies.extend(round.latencies);
            not_ok += round.not_ok;
            errors += round.errors;
        }
        let mut run = Run::from_latencies(latencies, not_ok, errors, 1.0);
        run.seconds = run.requests as f64 / median;
        run
    }
}

/// Drives `load` over `connections` keep-alive connections: `warm_up`
/// unmeasured, then `measured`.
pub(crate) async fn drive(
    addr: SocketAddr,
    load: &Load,
    connections: usize,
    warm_up: Duration,
    measured: Duration,
) -> Run {
    let start = Instant::now();
    let (from, until) = (start + warm_up, start + warm_up + measured);
    let host = HeaderValue::from_str(&addr.to_string()).expect("an address is a valid host");
    let load = Arc::new(load.clone());
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (load, host) = (load.clone(), host.clone());
            tokio::spawn(async move { connection(addr, &load, &host, from, until).await })
        })
        .collect();
    let (mut latencies, mut not_ok, mut errors) = (Vec::new(), 0, 0);
    for task in tasks {
        match task.await {
            Ok(done) => {
                latencies.extend(done.latencies);
                not_ok += done.not_ok;
                errors += done.errors;
            }
            Err(_) => errors += 1,
        }
    }
    Run::from_latencies(latencies, not_ok, errors, measured.as_secs_f64())
}

struct Connection {
    latencies: Vec<u32>,
    not_ok: usize,
    errors: usize,
}

async fn connection(
    addr: SocketAddr,
    load: &Load,
    host: &HeaderValue,
    from: Instant,
    until: Instant,
) -> Connection {
    let mut done = Connection {
        latencies: Vec::with_capacity(64 * 1024),
        not_ok: 0,
        errors: 0,
    };
    while Instant::now() < until {
        let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
            done.errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok((mut sender, driver)) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
        else {
            done.errors += 1;
            continue;
        };
        tokio::spawn(driver);
        loop {
            let sent = Instant::now();
            if sent >= until {
                return done;
            }
            let answered = match sender.send_request(load.request(host)).await {
                Ok(response) => {
                    let status = response.status();
                    response.into_body().collect().await.map(|_| status)
                }
                Err(_) => {
                    done.errors += 1;
                    break; // reconnect
                }
            };
            let Ok(status) = answered else {
                done.errors += 1;
                break;
            };
            if sent >= from {
                let micros = sent.elapsed().as_micros();
                done.latencies
                    .push(u32::try_from(micros).unwrap_or(u32::MAX));
                if status != StatusCode::OK {
                    done.not_ok += 1;
                }
            }
        }
    }
    done
}

/// A `keyport-bench serve` process.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
    env: Vec<(&'static str, String)>,
    started_in: Duration,
}

impl Server {
    pub(crate) async fn start(database_url: &str, dir: &Path) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let env = vec![
            ("KEYPORT_BIND", addr.to_string()),
            ("KEYPORT_DATABASE_URL", database_url.to_owned()),
            (
                "KEYPORT_MASTER_KEY_FILE",
                dir.join("master.key").display().to_string(),
            ),
            ("KEYPORT_LOG", "warn".into()),
        ];
        let started = Instant::now();
        let child = Command::new(exe()?)
            .arg("serve")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start the server: {e}"))?;
        let deadline = started + Duration::from_secs(30);
        loop {
            if let Ok((StatusCode::OK, _, _)) = fetch(addr, &Load::get("/healthz")).await {
                break;
            }
            if Instant::now() > deadline {
                return Err("the server did not become healthy in 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(Self {
            child,
            addr,
            env,
            started_in: started.elapsed(),
        })
    }

    /// Runs a `keyport-bench` command against this server's database.
    async fn cli(&self, args: &[&str], input: Option<&str>) -> Result<String> {
        use tokio::io::AsyncWriteExt;
        let mut child = Command::new(exe()?)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin
                .write_all(input.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().await.map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "keyport-bench {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The most memory the process has held, in MiB (`VmHWM`), since it
    /// started or since `forget_peak`.
    fn peak_rss_mib(&self) -> Option<f64> {
        self.memory_mib("VmHWM:")
    }

    /// Starts the peak over from what the process holds now (Linux's
    /// `clear_refs`), so that seeding does not count as load.
    fn forget_peak(&self) -> Option<()> {
        let pid = self.child.id()?;
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5").ok()
    }

    /// The memory the process holds now, in MiB (`VmRSS`).
    pub(crate) fn rss_mib(&self) -> Option<f64> {
        self.memory_mib("VmRSS:")
    }

    fn memory_mib(&self, field: &str) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()?)).ok()?;
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib / 1024.0)
    }

    /// An administrator, a client with `clients:read clients:write`, its
    /// access token, and a signed-in session cookie.
    pub(crate) async fn seed(&self) -> Result<Seeded> {
        self.cli(
            &[
                "admin",
                "create",
                "--email",
                EMAIL,
                "--role",
                "super_admin",
                "--password-stdin",
            ],
            Some(&format!("{PASSWORD}\n")),
        )
        .await?;
        let created: Value = serde_json::from_str(
            &self
                .cli(
                    &[
                        "client",
                        "create",
                        "--email",
                        EMAIL,
                        "--name",
                        "Bench client",
                        "--permissions",
                        "clients:read,clients:write",
                    ],
                    None,
                )
                .await?,
        )
        .map_err(|e| e.to_string())?;
        let basic = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                created["client_id"].as_str().unwrap_or_default(),
                created["client_secret"].as_str().unwrap_or_default()
            ))
        };
        let token_load = Load {
            method: Method::POST,
            path: "/oauth2/token".into(),
            headers: Vec::new(),
            body: Bytes::from_static(b"grant_type=client_credentials"),
        }
        .header(header::AUTHORIZATION, &format!("Basic {basic}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        let (status, _, body) = fetch(self.addr, &token_load).await?;
        if status != StatusCode::OK {
            return Err(format!("token request failed: {status}"));
        }
        let token: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let access_token = token["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();

        let origin = format!("http://{}", self.addr);
        let sign_in = Load {
            method: Method::POST,
            path: "/rpc/sign_in".into(),
            headers: Vec::new(),
            body: Bytes::from(format!(
                "email={}&password={}",
                EMAIL,
                url::form_urlencoded::byte_serialize(PASSWORD.as_bytes()).collect::<String>()
            )),
        }
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .header(header::ORIGIN, &origin);
        let (status, headers, _) = fetch(self.addr, &sign_in).await?;
        let cookie = headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|v| v.starts_with("keyport_session="))
            .ok_or(format!("sign-in failed: {status}"))?
            .to_owned();
        Ok(Seeded {
            token_load,
            access_token,
            cookie,
        })
    }

    /// Registers applications through the management API until the domain
    /// holds `APPLICATIONS`.
    pub(crate) async fn fill_domain(&self, seeded: &Seeded) -> Result<()> {
        for n in 1..APPLICATIONS {
            let create = Load {
                method: Method::POST,
                path: "/api/v1/clients".into(),
                headers: Vec::new(),
                body: Bytes::from(
                    json!({
                        "name": format!("Gateway {n:02}"),
                        "description": "Posture checks before VPN access",
                        "permissions": ["clients:read"],
                        "website_url": "https://gateway.example.com",
                        "callback_url": format!("https://gateway.example.com/{n}/callback"),
                    })
                    .to_string(),
                ),
            }
            .header(
                header::AUTHORIZATION,
                &format!("Bearer {}", seeded.access_token),
            )
            .header(header::CONTENT_TYPE, "application/json");
            let (status, _, body) = fetch(self.addr, &create).await?;
            if status != StatusCode::CREATED {
                return Err(format!(
                    "registering application {n}: {status} {}",
                    String::from_utf8_lossy(&body)
                ));
            }
        }
        Ok(())
    }
}

pub(crate) struct Seeded {
    pub(crate) token_load: Load,
    pub(crate) access_token: String,
    pub(crate) cookie: String,
}

fn exe() -> Result<PathBuf> {
    std::env::current_exe().map_err(|e| format!("cannot find keyport-bench: {e}"))
}

/// One request on a fresh connection.
async fn fetch(
    addr: SocketAddr,
    load: &Load,
) -> Result<(StatusCode, axum::http::HeaderMap, Bytes)> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(driver);
    let host = HeaderValue::from_str(&addr.to_string()).map_err(|e| e.to_string())?;
    let response = sender
        .send_request(load.request(&host))
        .await
        .map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((parts.status, parts.headers, body))
}

/// A PostgreSQL database of its own, dropped at the end.
struct Scratch {
    admin_url: String,
    name: String,
}

impl Scratch {
    async fn create() -> Result<(Self, String)> {
        let admin_url = std::env::var("KEYPORT_BENCH_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!(
            "keyport_bench_{}",
            app::domain::secrets::random_token(6)
                .to_lowercase()
                .replace(['-', '_'], "x")
        );
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(&admin_url)
            .await
            .map_err(|e| format!("PostgreSQL at {admin_url}: {e}"))?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .map_err(|e| e.to_string())?;
        admin.close().await;
        let url = format!("{}/{name}", admin_url.rsplit_once('/').map_or("", |p| p.0));
        Ok((Self { admin_url, name }, url))
    }

    async fn drop_database(&self) {
        if let Ok(admin) = sqlx::AnyPool::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&admin)
            .await;
            admin.close().await;
        }
    }
}

/// The release `.wasm`, raw and as `gzip -9` compresses it (the measure
/// `make test` holds to its budget), in bytes.
fn wasm_size() -> Option<(usize, usize)> {
    let root = std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".into());
    let path = Path::new(&root).join("pkg/keyport.wasm");
    let raw = std::fs::metadata(&path).ok()?.len();
    let gzipped = std::process::Command::new("gzip")
        .args(["-9", "-c"])
        .arg(&path)
        .output()
        .ok()
        .filter(|out| out.status.success())?
        .stdout
        .len();
    Some((usize::try_from(raw).ok()?, gzipped))
}

struct Row {
    name: &'static str,
    runs: Vec<(usize, Run)>,
}

impl Row {
    fn at(&self, connections: usize) -> Option<&Run> {
        self.runs
            .iter()
            .find(|(c, _)| *c == connections)
            .map(|(_, r)| r)
    }
}

/// Every row at every concurrency, `rounds` times over, one after another,
/// so that a disturbance of the machine (another process, a flush) lands in
/// one round of many rows rather than in all of one row.
async fn measure_rows(
    loads: &[(&'static str, SocketAddr, Load)],
    rounds: usize,
    warm_up: Duration,
    measured: Duration,
) -> Vec<Row> {
    let mut measured_runs: Vec<Vec<Vec<Run>>> = loads
        .iter()
        .map(|_| CONNECTIONS.iter().map(|_| Vec::new()).collect())
        .collect();
    for round in 1..=rounds {
        for ((name, addr, load), runs) in loads.iter().zip(&mut measured_runs) {
            for (connections, runs) in CONNECTIONS.iter().zip(runs.iter_mut()) {
                eprintln!("bench: round {round}/{rounds}, {name} at {connections} connections");
                runs.push(drive(*addr, load, *connections, warm_up, measured).await);
            }
        }
    }
    loads
        .iter()
        .zip(measured_runs)
        .map(|((name, _, _), runs)| Row {
            name,
            runs: CONNECTIONS
                .iter()
                .copied()
                .zip(runs.into_iter().map(Run::of_rounds))
                .collect(),
        })
        .collect()
}

/// `keyport-bench measure`: prints the table and writes it under `target/`.
pub async fn measure() -> ExitCode {
    match measure_all().await {
        Ok(report) => {
            println!("{report}");
            let path = Path::new("target/bench");
            let written = std::fs::create_dir_all(path)
                .and_then(|()| std::fs::write(path.join("report.md"), &report));
            match written {
                Ok(()) => eprintln!("bench: table written to target/bench/report.md"),
                Err(e) => eprintln!("bench: could not write target/bench/report.md: {e}"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("keyport-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A positive whole number from the environment variable `name`, or
/// `default` when it is unset or not one.
pub(crate) fn count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

async fn measure_all() -> Result<String> {
    let rounds = count("BENCH_ROUNDS", 3) as usize;
    let (warm_up, measured) = (
        Duration::from_secs(1),
        Duration::from_secs(count("BENCH_SECONDS", 3)),
    );
    let dir = std::env::temp_dir().join(format!(
        "keyport-bench-{}",
        app::domain::secrets::random_token(6).replace(['-', '_'], "x")
    ));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;

    // Start-up on an empty SQLite file, three times; the median counts.
    let mut startups = Vec::new();
    for n in 0..3 {
        let fresh = dir.join(format!("startup-{n}"));
        std::fs::create_dir_all(&fresh).map_err(|e| e.to_string())?;
        let url = format!("sqlite://{}/keyport.db", fresh.display());
        let server = Server::start(&url, &fresh).await?;
        startups.push(server.started_in);
    }
    startups.sort();

    let sqlite = Server::start(&format!("sqlite://{}/keyport.db", dir.display()), &dir).await?;
    let seeded = sqlite.seed().await?;
    sqlite.fill_domain(&seeded).await?;
    let (scratch, pg_url) = Scratch::create().await?;
    let result = async {
        let postgres = Server::start(&pg_url, &dir).await?;
        let pg_seeded = postgres.seed().await?;
        let addr = sqlite.addr;
        let api = Load::get("/api/v1/clients").header(
            header::AUTHORIZATION,
            &format!("Bearer {}", seeded.access_token),
        );
        let page = Load::get("/applications")
            .header(header::COOKIE, &seeded.cookie)
            .header(header::ACCEPT, "text/html");
        let loads = [
            ("ceiling", addr, Load::get("/bench/noop")),
            ("sign-only", addr, Load::get("/bench/sign")),
            ("token", addr, seeded.token_load.clone()),
            ("token-pg", postgres.addr, pg_seeded.token_load.clone()),
            ("api", addr, api),
            ("page", addr, page),
        ];
        // BENCH_ROWS (names, comma-separated) measures only those rows, for
        // a profiler to watch one at a time.
        let only = std::env::var("BENCH_ROWS").ok();
        let loads: Vec<_> = loads
            .into_iter()
            .filter(|(name, _, _)| {
                only.as_deref()
                    .is_none_or(|only| only.split(',').any(|n| n == *name))
            })
            .collect();
        let seeded_peaks = (sqlite.peak_rss_mib(), postgres.peak_rss_mib());
        sqlite.forget_peak();
        postgres.forget_peak();
        let rows = measure_rows(&loads, rounds, warm_up, measured).await;
        Ok::<_, String>(report(
            &rows,
            startups[startups.len() / 2],
            [
                ("SQLite server", sqlite.peak_rss_mib(), seeded_peaks.0),
                ("PostgreSQL server", postgres.peak_rss_mib(), seeded_peaks.1),
            ],
            measured,
            rounds,
        ))
    }
    .await;
    scratch.drop_database().await;
    drop(sqlite);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn report(
    rows: &[Row],
    startup: Duration,
    peaks: [(&str, Option<f64>, Option<f64>); 2],
    measured: Duration,
    rounds: usize,
) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(
        out,
        "Keyport bench: {cores} cores, loopback, load generator on the same cores, \
         keep-alive HTTP/1.1. Each row at each concurrency ran {rounds} times, \
         {} s measured after 1 s of warm-up, the rounds interleaved with the \
         other rows: requests/s is the median round, p50 and p99 are over all \
         rounds.\n",
        measured.as_secs()
    );
    let _ = writeln!(
        out,
        "| row | connections | requests/s | p50 ms | p99 ms | non-200 | errors |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        for (connections, run) in &row.runs {
            let _ = writeln!(
                out,
                "| {} | {connections} | {:.0} | {:.2} | {:.2} | {} | {} |",
                row.name,
                run.rate(),
                run.p50_ms,
                run.p99_ms,
                run.not_ok,
                run.errors
            );
        }
    }
    let find = |name: &str, connections: usize| {
        rows.iter()
            .find(|r| r.name == name)
            .and_then(|r| r.at(connections))
    };
    let ratio = |a: &str, b: &str| match (find(a, 64), find(b, 64)) {
        (Some(a), Some(b)) if b.rate() > 0.0 => a.rate() / b.rate(),
        _ => f64::NAN,
    };
    let verdict = |ok: bool| if ok { "met" } else { "missed" };
    let _ = writeln!(out, "\n| measure | value | target | |\n|---|---:|---|---|");
    for (what, a, b, target) in [
        (
            "token / sign-only, 64 connections",
            "token",
            "sign-only",
            0.8,
        ),
        (
            "token-pg / sign-only, 64 connections",
            "token-pg",
            "sign-only",
            0.6,
        ),
        ("api / ceiling, 64 connections", "api", "ceiling", 0.5),
    ] {
        let r = ratio(a, b);
        let _ = writeln!(
            out,
            "| {what} | {r:.2} | ≥ {target} | {} |",
            verdict(r >= target)
        );
    }
    if let Some(token) = find("token", 64) {
        let _ = writeln!(
            out,
            "| token p99, 64 connections | {:.2} ms | ≤ 10 ms | {} |",
            token.p99_ms,
            verdict(token.p99_ms <= 10.0)
        );
    }
    // With n requests always in flight, the mean time per request is n /
    // rate (Little's law): 20 ms at 2,000/s means at most 40 in flight, so
    // the page target is judged at 16 connections; 64 shows what queueing adds.
    for connections in CONNECTIONS {
        if let Some(page) = find("page", connections) {
            let judged = connections == 16;
            let _ = writeln!(
                out,
                "| page, {connections} connections | {:.0}/s, p99 {:.2} ms | {} | {} |",
                page.rate(),
                page.p99_ms,
                if judged {
                    "≥ 2,000/s, p99 ≤ 20 ms"
                } else {
                    "(p99 ≥ 64 / rate)"
                },
                if judged {
                    verdict(page.rate() >= 2000.0 && page.p99_ms <= 20.0)
                } else {
                    ""
                }
            );
        }
    }
    let non_200: usize = rows
        .iter()
        .flat_map(|r| &r.runs)
        .map(|(_, run)| run.not_ok + run.errors)
        .sum();
    let _ = writeln!(
        out,
        "| non-200s and errors, all rows | {non_200} | 0 | {} |",
        verdict(non_200 == 0)
    );
    let mib = |m: Option<f64>| m.map_or("unknown".to_owned(), |m| format!("{m:.1} MiB"));
    for (what, under_load, seeding) in peaks {
        let _ = writeln!(
            out,
            "| peak RSS under load, {what} | {} | ≤ 64 MiB | {} |",
            mib(under_load),
            under_load.map_or("", |m| verdict(m <= 64.0))
        );
        let _ = writeln!(
            out,
            "| peak RSS while seeding (a sign-in: argon2, 19 MiB), {what} | {} | | |",
            mib(seeding)
        );
    }
    let ms = startup.as_secs_f64() * 1000.0;
    let _ = writeln!(
        out,
        "| start to healthy, empty SQLite (median of 3) | {ms:.0} ms | ≤ 300 ms | {} |",
        verdict(ms <= 300.0)
    );
    match wasm_size() {
        Some((raw, gz)) => {
            let _ = writeln!(
                out,
                "| release .wasm, raw / gzip | {:.0} KiB / {:.0} KiB | gzip ≤ 400 KiB | {} |",
                raw as f64 / 1024.0,
                gz as f64 / 1024.0,
                verdict(gz <= 400 * 1024)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "| release .wasm | not built (make site) | gzip ≤ 400 KiB | |"
            );
        }
    }
    out
}
