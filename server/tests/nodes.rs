//! Two `keyport serve` processes on one PostgreSQL database, as behind a
//! load balancer: sessions, applications, tokens, revocations, removals and
//! signing keys made on one node hold on the other.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

const PASSWORD: &str = "correct horse battery staple";
/// The public URL both nodes share: the issuer of every token.
const PUBLIC_URL: &str = "http://keyport.test";

fn postgres_admin_url() -> String {
    std::env::var("KEYPORT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A scratch database, dropped with the value.
struct Scratch {
    url: String,
    name: String,
    dir: PathBuf,
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

impl Scratch {
    fn new() -> Self {
        use sqlx::Executor;
        let name = format!(
            "keyport_nodes_{}",
            app::domain::secrets::random_token(9)
                .to_lowercase()
                .replace(['-', '_'], "x")
        );
        let admin = postgres_admin_url();
        block_on(async {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&admin)
                .await
                .expect("PostgreSQL at 127.0.0.1:5432");
            pool.execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .unwrap();
            pool.close().await;
        });
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        let base = admin.rsplit_once('/').unwrap().0;
        Self {
            url: format!("{base}/{name}"),
            name,
            dir,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyport"));
        command
            .args(args)
            .current_dir(&self.dir)
            .env("KEYPORT_DATABASE_URL", &self.url)
            .env("KEYPORT_MASTER_KEY_FILE", self.dir.join("master.key"))
            .env("KEYPORT_PUBLIC_URL", PUBLIC_URL)
            .env("KEYPORT_LOG", "warn");
        command
    }

    /// Runs a `keyport` command and returns its output.
    fn run(&self, args: &[&str], input: &str) -> String {
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

impl Drop for Scratch {
    fn drop(&mut self) {
        use sqlx::Executor;
        let admin = postgres_admin_url();
        let name = self.name.clone();
        block_on(async {
            let pool = sqlx::AnyPool::connect(&admin).await.unwrap();
            let _ = pool
                .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                .await;
            pool.close().await;
        });
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A serving node, stopped with the value.
struct Node {
    child: Child,
    port: u16,
}

impl Node {
    fn start(scratch: &Scratch) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = scratch
            .command(&["serve"])
            .env("KEYPORT_BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let node = Self { child, port };
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

    /// One HTTP/1.0 request; connection errors read as status 0.
    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
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

    fn token(&self, id: &str, secret: &str) -> Reply {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        self.request(
            "POST",
            "/oauth2/token",
            &[
                ("Authorization", &format!("Basic {basic}")),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            "grant_type=client_credentials",
        )
    }

    fn access_token(&self, id: &str, secret: &str) -> String {
        let reply = self.token(id, secret);
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()["access_token"].as_str().unwrap().to_owned()
    }

    fn api(&self, method: &str, path: &str, token: &str, body: &str) -> Reply {
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

    /// A server-function call as the hydrated portal makes it.
    fn rpc(&self, name: &str, form: &str, cookie: Option<&str>) -> Reply {
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
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn kids(node: &Node) -> Vec<String> {
    node.request("GET", "/.well-known/jwks.json", &[], "")
        .json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

#[test]
fn two_nodes_on_one_postgresql_serve_as_one() {
    let scratch = Scratch::new();
    scratch.run(&["migrate"], "");
    scratch.run(
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
    let (a, b) = (Node::start(&scratch), Node::start(&scratch));

    // A session made on A is valid on B.
    let signed_in = a.rpc(
        "sign_in",
        &format!(
            "email=admin%40example.com&password={}",
            PASSWORD.replace(' ', "+")
        ),
        None,
    );
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    let cookie = signed_in
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let list = b.rpc("applications/list", "", Some(&cookie));
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(b.rpc("applications/list", "", None).status, 401);

    // An application registered on A gets tokens from B; A's token works at B's API.
    let admin_client: Value = serde_json::from_str(&scratch.run(
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
    let (admin_id, admin_secret) = (
        admin_client["client_id"].as_str().unwrap(),
        admin_client["client_secret"].as_str().unwrap(),
    );
    let token_a = a.access_token(admin_id, admin_secret);
    let created = a.api(
        "POST",
        "/api/v1/clients",
        &token_a,
        r#"{"name":"Gateway","permissions":["clients:read"]}"#,
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let created = created.json();
    let (id, secret) = (
        created["client_id"].as_str().unwrap().to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    );
    let token_b = b.access_token(&id, &secret);
    assert_eq!(b.api("GET", "/api/v1/clients", &token_a, "").status, 200);
    assert_eq!(a.api("GET", "/api/v1/clients", &token_b, "").status, 200);

    // A token revoked on A is refused by B at once.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let revoked = a.request(
        "POST",
        "/oauth2/revoke",
        &[
            ("Authorization", &format!("Basic {basic}")),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &format!("token={token_b}"),
    );
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let refused = b.api("GET", "/api/v1/clients", &token_b, "");
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], 401010);

    // A client removed on A is refused by B within its 1 s client-row bound
    // (B has the client's row cached from the token it just issued): any
    // request B receives once the bound has passed is refused.
    b.access_token(&id, &secret);
    assert_eq!(
        a.api("DELETE", &format!("/api/v1/clients/{id}"), &token_a, "")
            .status,
        204
    );
    assert_eq!(a.token(&id, &secret).status, 401);
    std::thread::sleep(app::domain::clients::CLIENT_ROWS_TTL);
    assert_eq!(b.token(&id, &secret).status, 401);

    // A signing key rotated through the shared database reaches both JWKS
    // documents, and B verifies what A signs with it.
    let before = kids(&b);
    scratch.run(&["keys", "rotate"], "");
    wait_for("B publishes the new key", Duration::from_secs(40), || {
        kids(&b).len() > before.len()
    });
    wait_for("A signs with the new key", Duration::from_secs(40), || {
        let token = a.access_token(admin_id, admin_secret);
        let header: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        !before.iter().any(|k| header["kid"] == k.as_str())
            && b.api("GET", "/api/v1/clients", &token, "").status == 200
    });
}
