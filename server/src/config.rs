//! Command line and configuration: `KEYPORT_*` environment variables, each
//! overridable by its flag.

use std::net::SocketAddr;
use std::path::PathBuf;

use app::domain::accounts::Role;
use app::domain::signing_keys::SigningAlg;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "keyport",
    version,
    about = "Self-hosted OAuth client portal and token service"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Database URL: `sqlite://path/file.db` (embedded) or `postgres://…` (several nodes).
    #[arg(
        long,
        env = "KEYPORT_DATABASE_URL",
        default_value = "sqlite://data/keyport.db",
        global = true
    )]
    pub database_url: String,

    /// Address and port to listen on.
    #[arg(
        long,
        env = "KEYPORT_BIND",
        default_value = "127.0.0.1:3000",
        global = true
    )]
    pub bind: SocketAddr,

    /// Public URL of this deployment: the token issuer and the origin that
    /// browsers post from. Defaults to `http://` + the bind address.
    #[arg(long, env = "KEYPORT_PUBLIC_URL", global = true)]
    pub public_url: Option<url::Url>,

    /// File holding the master key that encrypts secrets and signing keys at
    /// rest; created with mode 0600 on first start.
    #[arg(
        long,
        env = "KEYPORT_MASTER_KEY_FILE",
        default_value = "data/master.key",
        global = true
    )]
    pub master_key_file: PathBuf,

    /// Lifetime of issued access tokens, in seconds.
    #[arg(long, env = "KEYPORT_TOKEN_TTL", default_value_t = 3600, global = true)]
    pub token_ttl: u64,

    /// An application not used for this many days is listed under "Not
    /// used for N days", the view admins check before removing clients.
    #[arg(long, env = "KEYPORT_UNUSED_DAYS", default_value_t = 90, global = true)]
    pub unused_days: u32,

    /// Seconds a console user's last check (second factor, or password
    /// without one) lets sensitive actions go ahead before they are asked
    /// again (step-up): revealing secrets, rotating, removing, user and
    /// domain administration.
    #[arg(
        long,
        env = "KEYPORT_STEP_UP_TTL",
        default_value_t = 300,
        global = true
    )]
    pub step_up_ttl: u32,

    /// Rotations one refresh token family may make a minute: a client
    /// refreshes when its access token runs out, so one that rotates
    /// faster is looping, or two parties hold the family. Past it, 429
    /// with `Retry-After`.
    #[arg(
        long,
        env = "KEYPORT_REFRESH_ROTATIONS",
        default_value_t = 30,
        global = true
    )]
    pub refresh_rotations: u32,

    /// Longest a request may take, in seconds, before it is answered 503
    /// "temporarily unavailable": the bound on any wait for a database that
    /// stopped answering.
    #[arg(
        long,
        env = "KEYPORT_REQUEST_TIMEOUT",
        default_value_t = 10,
        global = true
    )]
    pub request_timeout: u64,

    /// Longest a console session lasts from sign-in, in seconds (300 to
    /// 2592000), however active: past it the user signs in again. Apart
    /// from this, a session ends after 8 hours without a request.
    #[arg(
        long,
        env = "KEYPORT_SESSION_LIFETIME",
        default_value_t = 43_200,
        global = true
    )]
    pub session_lifetime: u64,

    /// When set, `GET /metrics` answers only scrapes that present it as a
    /// Bearer token; when unset, /metrics is open (keep it off the public
    /// path at the load balancer).
    #[arg(
        long,
        env = "KEYPORT_METRICS_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,

    /// Proxies whose `Forwarded` / `X-Forwarded-For` headers are believed,
    /// as CIDRs or addresses separated by commas (none by default): from
    /// them, the client address the headers report is the one limits and
    /// the audit log use; from anyone else, the headers are ignored.
    #[arg(long, env = "KEYPORT_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,

    /// Which forwarding header the trusted proxies write: `xforwarded`
    /// (`X-Forwarded-For`, what nginx, HAProxy and cloud load balancers
    /// append) or `forwarded` (RFC 7239 `Forwarded`). Only that one is
    /// believed; the other is ignored, since a proxy passes it on from the
    /// client untouched.
    #[arg(
        long,
        env = "KEYPORT_PROXY_HEADERS",
        value_enum,
        default_value = "xforwarded",
        global = true
    )]
    pub proxy_headers: ProxyHeader,

    /// Signature algorithm of new signing keys.
    #[arg(
        long,
        env = "KEYPORT_SIGNING_ALG",
        value_enum,
        default_value = "ES256",
        global = true
    )]
    pub signing_alg: SigningAlg,

    /// Log line format.
    #[arg(
        long,
        env = "KEYPORT_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
}

/// The forwarding header trusted proxies write (`KEYPORT_PROXY_HEADERS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ProxyHeader {
    /// `X-Forwarded-For`.
    #[default]
    #[value(name = "xforwarded")]
    XForwarded,
    /// RFC 7239 `Forwarded`.
    Forwarded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the portal and the OAuth endpoints (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage console users.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Manage client applications.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage domains.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Manage the APIs tokens are issued for (RFC 8707 resources).
    #[command(subcommand)]
    Api(ApiCommand),
    /// Manage initial access tokens, with which clients register
    /// themselves (RFC 7591).
    #[command(subcommand, name = "registration-token")]
    RegistrationToken(RegistrationTokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum RegistrationTokenCommand {
    /// Create an initial access token for a domain; prints
    /// `{"id", "label", "domain_id", "expires_at", "uses", "initial_access_token"}`
    /// as JSON. The token is shown only here.
    Create {
        /// The domain, by name or ID.
        #[arg(long)]
        domain: String,
        #[arg(long)]
        label: String,
        /// How many clients may register with it: 1 to 1,000.
        #[arg(long, default_value_t = app::domain::registration::DEFAULT_USES)]
        uses: i64,
        /// Seconds it lasts: 300 to a year (default: seven days).
        #[arg(long, default_value_t = app::domain::registration::DEFAULT_EXPIRES_IN)]
        expires_in: i64,
        /// Comma-separated permissions its clients may ask for (default:
        /// every permission of the registered APIs, not Keyport's own).
        #[arg(long, value_delimiter = ',')]
        permissions: Option<Vec<String>>,
        /// Comma-separated grant types its clients may register for
        /// (default: authorization_code, refresh_token, client_credentials).
        #[arg(long, value_delimiter = ',')]
        grant_types: Vec<String>,
        /// Public clients (no secret) may register with it.
        #[arg(long)]
        public: bool,
        /// The admin who owns what registers with it (default: the
        /// domain's first admin, or else the first super admin).
        #[arg(long)]
        email: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Register an API with its permissions; prints `{"id", "identifier",
    /// "name", "permissions"}` as JSON.
    Create {
        /// An absolute https URI (http on loopback): the tokens' `aud`.
        #[arg(long)]
        identifier: String,
        #[arg(long)]
        name: String,
        /// Comma-separated new permission names, unique across APIs
        /// (`reports:read`).
        #[arg(long, value_delimiter = ',')]
        permissions: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Create a domain; prints `{"domain_id", "name", "app_limit"}` as JSON.
    Create {
        #[arg(long)]
        name: String,
        /// How many applications it may hold: 1 to 1,000 (default 63).
        #[arg(long)]
        app_limit: Option<i64>,
    },
    /// List every domain with its counts, as JSON lines.
    List,
    /// Rename a domain, named by its name or id.
    Rename {
        /// The domain's current name or its id.
        #[arg(long)]
        domain: String,
        #[arg(long)]
        name: String,
    },
    /// Set how many applications a domain may hold (never below how many
    /// it holds now).
    SetLimit {
        /// The domain's name or its id.
        #[arg(long)]
        domain: String,
        #[arg(long)]
        app_limit: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client application owned by a console user; prints
    /// `{"client_id", "client_secret"}` as JSON (`{"client_id"}` for a
    /// public client).
    Create {
        /// The owner's email.
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Comma-separated scopes from the permission catalog.
        #[arg(long, value_delimiter = ',')]
        permissions: Vec<String>,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long, default_value = "")]
        website_url: String,
        /// Where the authorization code flow returns the user (contract §5).
        #[arg(long, default_value = "")]
        callback_url: String,
        /// The domain to register it in, by name or id (default: the
        /// owner's). Only a super admin may own applications elsewhere.
        #[arg(long)]
        domain: Option<String>,
        /// A public client (a native app, CLI or agent): no secret; it
        /// signs users in with the authorization code flow and PKCE.
        #[arg(long)]
        public: bool,
        /// Issue refresh tokens when a user approves `offline_access`.
        #[arg(long)]
        refresh_tokens: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Sign new tokens with a fresh key; the previous key stays published
    /// until the tokens it signed have expired.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a console user; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, value_enum, default_value = "super_admin")]
        role: Role,
        /// Read the password from standard input (required: passwords are never flags).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// The user's domain, by name or id (default: the default domain).
        #[arg(long)]
        domain: Option<String>,
    },
    /// Remove every second factor and recovery code of a console user who
    /// lost them, and end their sessions; audited. They sign in with their
    /// password and set up a factor again.
    ResetMfa {
        #[arg(long)]
        email: String,
    },
}

impl Config {
    pub fn public_url(&self) -> url::Url {
        self.public_url.clone().unwrap_or_else(|| {
            url::Url::parse(&format!("http://{}", self.bind))
                .expect("a socket address forms a valid URL")
        })
    }

    /// The database URL with any password masked, for log lines.
    pub fn database_url_for_logs(&self) -> String {
        match url::Url::parse(&self.database_url) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("****"));
                url.to_string()
            }
            _ => self.database_url.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_defaults_and_passwords_stay_out_of_logs() {
        let cli = Cli::parse_from([
            "keyport",
            "--database-url",
            "postgres://kp:hunter2@db/kp",
            "--bind",
            "127.0.0.1:4000",
            "migrate",
        ]);
        assert!(matches!(cli.command, Some(Command::Migrate)));
        assert_eq!(cli.config.public_url().as_str(), "http://127.0.0.1:4000/");
        assert_eq!(
            cli.config.database_url_for_logs(),
            "postgres://kp:****@db/kp"
        );
    }
}
