//! The servers `keyport-bench` measures: `keyport-bench serve` processes
//! (the `keyport` command line with the bench routes) on scratch databases,
//! seeded through the command line and the management API as an operator
//! and an integration would.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use http::{header, StatusCode};
use keyport_scratch::Scratch;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::load::{fetch, Load};
use crate::Result;

pub(crate) const EMAIL: &str = "bench@keyport.test";
const PASSWORD: &str = "bench password, never used for anything else";
/// Applications in the domain the page row renders (the per-domain limit).
pub(crate) const APPLICATIONS: usize = 63;

/// A `keyport-bench serve` process.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
    env: Vec<(&'static str, String)>,
    /// From spawning the process to its first healthy `/healthz`.
    pub(crate) started_in: Duration,
}

impl Server {
    /// A server on `database`, its master key in the scratch folder.
    pub(crate) async fn start(database: &Scratch) -> Result<Self> {
        Self::spawn(database, free_address()?, None).await
    }

    /// A server on `database` whose output, standard output and error
    /// together, goes to the file `output`.
    pub(crate) async fn start_writing(database: &Scratch, output: &Path) -> Result<Self> {
        Self::spawn(database, free_address()?, Some(output)).await
    }

    /// A server on `database` at `addr`. A restart keeps the address, and
    /// with it the issuer (the public URL) of the tokens given out before.
    pub(crate) async fn start_at(database: &Scratch, addr: SocketAddr) -> Result<Self> {
        Self::spawn(database, addr, None).await
    }

    async fn spawn(database: &Scratch, addr: SocketAddr, output: Option<&Path>) -> Result<Self> {
        let env = vec![
            ("KEYPORT_BIND", addr.to_string()),
            ("KEYPORT_DATABASE_URL", database.url().to_owned()),
            (
                "KEYPORT_MASTER_KEY_FILE",
                database.dir().join("master.key").display().to_string(),
            ),
            // A server whose output is kept says all it says as deployed;
            // the others only what went wrong.
            (
                "KEYPORT_LOG",
                if output.is_some() { "info" } else { "warn" }.into(),
            ),
            // Each load connection rotates its refresh chain as fast as it
            // can, far past what a client does (30 a minute by default):
            // the refresh rows measure rotation, not its budget.
            ("KEYPORT_REFRESH_ROTATIONS", "100000".into()),
        ];
        let (stdout, stderr) = match output {
            Some(path) => {
                let file = std::fs::File::create(path)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                let copy = file.try_clone().map_err(|e| e.to_string())?;
                (Stdio::from(file), Stdio::from(copy))
            }
            None => (Stdio::null(), Stdio::inherit()),
        };
        let started = Instant::now();
        let child = Command::new(exe()?)
            .arg("serve")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(stdout)
            .stderr(stderr)
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

    /// Ends the process and waits until it is gone, so that its database
    /// can be written to from outside.
    pub(crate) async fn stop(mut self) -> Result<()> {
        self.child
            .kill()
            .await
            .map_err(|e| format!("cannot stop the server: {e}"))
    }

    /// Runs a `keyport-bench` command against this server's database.
    pub(crate) async fn cli(&self, args: &[&str], input: Option<&str>) -> Result<String> {
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
    pub(crate) fn peak_rss_mib(&self) -> Option<f64> {
        self.memory_mib("VmHWM:")
    }

    /// Starts the peak over from what the process holds now (Linux's
    /// `clear_refs`), so that seeding does not count as load.
    pub(crate) fn forget_peak(&self) -> Option<()> {
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
        let client_id = created["client_id"].as_str().unwrap_or_default();
        let client_secret = created["client_secret"].as_str().unwrap_or_default();
        let token_load = token_load(client_id, client_secret);
        let (status, _, body) = fetch(self.addr, &token_load).await?;
        if status != StatusCode::OK {
            return Err(format!("token request failed: {status}"));
        }
        let token: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let access_token = token["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Ok(Seeded {
            token_load,
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            access_token,
            cookie: self.sign_in().await?,
        })
    }

    /// The administrator's session cookie (`name=value`), from a sign-in as
    /// the hydrated page makes it.
    async fn sign_in(&self) -> Result<String> {
        let origin = format!("http://{}", self.addr);
        let sign_in = Load::post(
            "/rpc/sign_in",
            format!(
                "email={}&password={}",
                EMAIL,
                url::form_urlencoded::byte_serialize(PASSWORD.as_bytes()).collect::<String>()
            ),
        )
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
        Ok(cookie)
    }

    /// Registers applications through the management API until the domain
    /// holds `APPLICATIONS`.
    pub(crate) async fn fill_domain(&self, seeded: &Seeded) -> Result<()> {
        for n in 1..APPLICATIONS {
            let application = json!({
                "name": format!("Gateway {n:02}"),
                "description": "Posture checks before VPN access",
                "permissions": ["clients:read"],
                "website_url": "https://gateway.example.com",
                "callback_url": format!("https://gateway.example.com/{n}/callback"),
            });
            let create = Load::post("/api/v1/clients", application.to_string())
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

/// What the loads of a seeded server send.
pub(crate) struct Seeded {
    pub(crate) token_load: Load,
    /// The credentials `token_load` presents.
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) access_token: String,
    pub(crate) cookie: String,
}

impl Seeded {
    /// The management API's client list, with the client's Bearer token.
    pub(crate) fn api_load(&self) -> Load {
        Load::get("/api/v1/clients").header(
            header::AUTHORIZATION,
            &format!("Bearer {}", self.access_token),
        )
    }

    /// The applications page as the signed-in administrator's browser asks.
    pub(crate) fn page_load(&self) -> Load {
        self.signed_in_page("/applications")
    }

    /// The audit log page, newest entries first, as the signed-in
    /// administrator's browser asks.
    pub(crate) fn audit_load(&self) -> Load {
        self.signed_in_page("/audit")
    }

    pub(crate) fn signed_in_page(&self, path: &str) -> Load {
        Load::get(path)
            .header(header::COOKIE, &self.cookie)
            .header(header::ACCEPT, "text/html")
    }
}

/// A token request (client credentials grant) with HTTP Basic credentials.
pub(crate) fn token_load(client_id: &str, client_secret: &str) -> Load {
    let basic = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{client_secret}"))
    };
    Load::post("/oauth2/token", "grant_type=client_credentials")
        .header(header::AUTHORIZATION, &format!("Basic {basic}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
}

fn free_address() -> Result<SocketAddr> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    Ok(([127, 0, 0, 1], port).into())
}

fn exe() -> Result<PathBuf> {
    std::env::current_exe().map_err(|e| format!("cannot find keyport-bench: {e}"))
}
