//! Real `keyport` processes for the tests that need them: several nodes on
//! one database, a node killed mid-burst, a node whose database goes away.
//! Each test gets a scratch database (an SQLite file, or a PostgreSQL
//! database dropped afterwards) and drives nodes over loopback HTTP.

#![allow(dead_code)] // each test file uses a different part of the harness

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

pub const PASSWORD: &str = "correct horse battery staple";
/// The public URL both nodes share: the issuer of every token.
pub const PUBLIC_URL: &str = "http://keyport.test";

/// What the names of these tests' scratch databases start with.
const SCRATCH: &str = "keyport_proc";

/// A scratch database (dropped with the value) and the `keyport` command
/// line pointed at it.
pub struct Scratch(keyport_scratch::Scratch);

impl std::ops::Deref for Scratch {
    type Target = keyport_scratch::Scratch;

    fn deref(&self) -> &keyport_scratch::Scratch {
        &self.0
    }
}

impl Scratch {
    /// A database of its own on the PostgreSQL at 127.0.0.1:5432.
    pub fn postgres() -> Self {
        let admin = keyport_scratch::postgres_admin_url("KEYPORT_TEST_POSTGRES");
        Self(
            keyport_scratch::Scratch::postgres_blocking(SCRATCH, &admin)
                .expect("PostgreSQL at 127.0.0.1:5432"),
        )
    }

    /// An SQLite file in a folder of its own.
    pub fn sqlite() -> Self {
        Self(keyport_scratch::Scratch::sqlite(SCRATCH).expect("a scratch folder"))
    }

    /// A migrated database with a super admin (`admin@example.com`) and
    /// an API client of theirs that may read and write clients; returns
    /// the client's id and secret.
    pub fn with_admin_client(&self) -> (String, String) {
        self.run(&["migrate"], "");
        self.run(
            &[
                "admin",
                "create",
                "--email",
                "admin@example.com",
                "--role",
                "super_admin",
                "--password-stdin",
            ],
            &format!("{PASSWORD}\n"),
        );
        let client: Value = serde_json::from_str(&self.run(
            &[
                "client",
                "create",
                "--email",
                "admin@example.com",
                "--name",
                "Automation",
                "--permissions",
                "clients:read,clients:write",
            ],
            "",
        ))
        .unwrap();
        (
            client["client_id"].as_str().unwrap().to_owned(),
            client["client_secret"].as_str().unwrap().to_owned(),
        )
    }

    /// A query straight on the database, as an operator would run it.
    pub fn query_i64(&self, sql: &str) -> i64 {
        let url = self.url().to_owned();
        keyport_scratch::block_on(async move {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&url).await.unwrap();
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        })
    }

    /// Runs one SQL statement on the database, as an operator might.
    pub fn execute(&self, sql: &str) {
        let url = self.url().to_owned();
        let sql = sql.to_owned();
        keyport_scratch::block_on(async move {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&url).await.unwrap();
            sqlx::query(&sql).execute(&pool).await.unwrap();
            pool.close().await;
        })
    }

    /// `keyport` as this test run built it, or the binary `KEYPORT_BIN`
    /// names (a release build, for the tests that measure).
    pub fn command(&self, args: &[&str]) -> Command {
        let binary =
            std::env::var("KEYPORT_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_keyport").into());
        let mut command = Command::new(binary);
        command
            .args(args)
            .current_dir(self.dir())
            .env("KEYPORT_DATABASE_URL", self.url())
            .env("KEYPORT_MASTER_KEY_FILE", self.dir().join("master.key"))
            .env("KEYPORT_PUBLIC_URL", PUBLIC_URL)
            .env("KEYPORT_LOG", "warn");
        command
    }

    /// Runs a `keyport` command and returns its output.
    pub fn run(&self, args: &[&str], input: &str) -> String {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "keyport {args:?} failed");
        String::from_utf8(output.stdout).unwrap()
    }
}

/// A serving node, stopped with the value.
pub struct Node {
    child: Child,
    endpoint: Endpoint,
}

/// Where a node listens: requests to it, from any thread.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub port: u16,
}

impl std::ops::Deref for Node {
    type Target = Endpoint;

    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl Node {
    pub fn start(scratch: &Scratch) -> Self {
        Self::start_with(scratch, &[])
    }

    /// A node with some settings of its own (`KEYPORT_*` variables).
    pub fn start_with(scratch: &Scratch, env: &[(&str, &str)]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = scratch
            .command(&["serve"])
            .env("KEYPORT_BIND", format!("127.0.0.1:{port}"))
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let node = Self {
            child,
            endpoint: Endpoint { port },
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while node.request("GET", "/healthz", &[], "").status != 200 {
            assert!(
                Instant::now() < deadline,
                "node on {port} did not become healthy"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        node
    }

    /// The process's resident memory now, in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// The most resident memory the process has held, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    fn status_kib(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .unwrap()
    }

    /// Stops the process at once (SIGKILL): no shutdown, no final writes.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Endpoint {
    /// One HTTP/1.0 request; connection errors read as status 0.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        self.request_from(None, method, path, headers, body)
    }

    /// A request from a source address of its own (another loopback
    /// address stands in for another machine).
    pub fn request_from(
        &self,
        source: Option<&str>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let Some(mut stream) = self.connect(source) else {
            return Reply::default();
        };
        let mut request = format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\n",
            self.port,
            body.len()
        );
        for (name, value) in headers {
            request += &format!("{name}: {value}\r\n");
        }
        request += "\r\n";
        request += body;
        if stream.write_all(request.as_bytes()).is_err() {
            return Reply::default();
        }
        let mut raw = String::new();
        let _ = stream.read_to_string(&mut raw);
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Reply {
            status,
            headers: lines
                .filter_map(|l| l.split_once(": "))
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
                .collect(),
            body: body.to_owned(),
        }
    }

    fn connect(&self, source: Option<&str>) -> Option<TcpStream> {
        let target: std::net::SocketAddr = ([127, 0, 0, 1], self.port).into();
        let Some(source) = source else {
            return TcpStream::connect(target).ok();
        };
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
        let from: std::net::SocketAddr = format!("{source}:0").parse().ok()?;
        socket.bind(&from.into()).ok()?;
        socket.connect(&target.into()).ok()?;
        Some(socket.into())
    }

    pub fn token(&self, id: &str, secret: &str) -> Reply {
        self.token_request(None, id, secret)
    }

    /// A client-credentials request from `source`.
    pub fn token_from(&self, source: &str, id: &str, secret: &str) -> Reply {
        self.token_request(Some(source), id, secret)
    }

    fn token_request(&self, source: Option<&str>, id: &str, secret: &str) -> Reply {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        self.request_from(
            source,
            "POST",
            "/oauth2/token",
            &[
                ("Authorization", &format!("Basic {basic}")),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            "grant_type=client_credentials",
        )
    }

    pub fn access_token(&self, id: &str, secret: &str) -> String {
        let reply = self.token(id, secret);
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()["access_token"].as_str().unwrap().to_owned()
    }

    pub fn api(&self, method: &str, path: &str, token: &str, body: &str) -> Reply {
        self.request(
            method,
            path,
            &[
                ("Authorization", &format!("Bearer {token}")),
                ("Content-Type", "application/json"),
            ],
            body,
        )
    }

    /// Signs the admin of `Scratch::with_admin_client` in; returns the
    /// session cookie (`name=value`).
    pub fn sign_in(&self) -> String {
        let signed_in = self.rpc(
            "sign_in",
            &format!(
                "email=admin%40example.com&password={}",
                PASSWORD.replace(' ', "+")
            ),
            None,
        );
        assert_eq!(signed_in.status, 200, "{}", signed_in.body);
        signed_in
            .headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .filter_map(|(_, v)| v.split(';').next())
            .find(|pair| pair.starts_with("keyport_session="))
            .expect("a session cookie")
            .to_owned()
    }

    /// A server-function call as the hydrated portal makes it.
    pub fn rpc(&self, name: &str, form: &str, cookie: Option<&str>) -> Reply {
        let origin = format!("http://127.0.0.1:{}", self.port);
        let mut headers = vec![
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
            ("Origin", origin.as_str()),
        ];
        if let Some(cookie) = cookie {
            headers.push(("Cookie", cookie));
        }
        self.request("POST", &format!("/rpc/{name}"), &headers, form)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Default)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

/// A TCP relay between a node and its database, standing in for the
/// network: it can cut every connection and refuse new ones (the database
/// is down), or stop passing bytes while keeping connections open (a
/// partition: the database stops answering), and then heal.
pub struct Proxy {
    pub port: u16,
    link: Arc<AtomicU8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Link {
    Up,
    Down,
    Stalled,
}

impl Proxy {
    pub fn start(upstream: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let link = Arc::new(AtomicU8::new(Link::Up as u8));
        let state = link.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if Self::mode(&state) == Link::Down {
                    continue; // dropped: the connection closes at once
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                for (from, to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let state = state.clone();
                    std::thread::spawn(move || relay(from, to, &state));
                }
            }
        });
        Self { port, link }
    }

    pub fn set(&self, link: Link) {
        self.link.store(link as u8, Ordering::SeqCst);
    }

    fn mode(state: &AtomicU8) -> Link {
        match state.load(Ordering::SeqCst) {
            0 => Link::Up,
            1 => Link::Down,
            _ => Link::Stalled,
        }
    }

    /// `url` (a PostgreSQL URL on 127.0.0.1:5432) through this proxy.
    pub fn url(&self, url: &str) -> String {
        url.replace("127.0.0.1:5432", &format!("127.0.0.1:{}", self.port))
    }
}

/// Copies `from` to `to` while the link is up; holds what it read while
/// the link is stalled; closes both ends once the link is down.
fn relay(mut from: TcpStream, mut to: TcpStream, state: &AtomicU8) {
    use std::net::Shutdown;
    from.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                0
            }
            Err(_) => break,
        };
        loop {
            match Proxy::mode(state) {
                Link::Up => break,
                Link::Down => {
                    let _ = from.shutdown(Shutdown::Both);
                    let _ = to.shutdown(Shutdown::Both);
                    return;
                }
                Link::Stalled => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        if read > 0 && to.write_all(&buffer[..read]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
}
