//! The `keyport` command line: serve the portal and endpoints, migrate, or
//! manage users, clients and keys.

use std::io::Read;
use std::net::SocketAddr;
use std::process::ExitCode;

use crate::config::{
    AdminCommand, ApiCommand, Cli, ClientCommand, Command, Config, DomainCommand, KeysCommand,
    LogFormat, RegistrationTokenCommand,
};
use crate::sessions::DbSessionStore;
use crate::AppState;
use app::domain::access::Access;
use app::domain::accounts::NewUser;
use app::domain::secrets::{Password, Secret};
use app::domain::tenancy;
use clap::Parser;
use tower_sessions::ExpiredDeletion;
use tracing_subscriber::EnvFilter;

/// Runs the command the arguments name (`serve` when none).
pub async fn run() -> ExitCode {
    return_large_allocations();
    let cli = Cli::parse();
    init_logging(cli.config.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&cli.config).await,
        Command::Migrate => migrate(&cli.config).await,
        Command::Admin(AdminCommand::Create {
            email,
            role,
            password_stdin: _,
            domain,
        }) => admin_create(&cli.config, &email, role, domain.as_deref()).await,
        Command::Admin(AdminCommand::ResetMfa { email }) => reset_mfa(&cli.config, &email).await,
        Command::Client(ClientCommand::Create {
            email,
            name,
            permissions,
            description,
            website_url,
            callback_url,
            domain,
            public,
            refresh_tokens,
        }) => {
            let input = app::domain::validate::ApplicationInput {
                name,
                description,
                permissions,
                website_url,
                callback_url,
                public,
                refresh_tokens,
                ..Default::default()
            };
            client_create(&cli.config, &email, input, domain.as_deref()).await
        }
        Command::Keys(KeysCommand::Rotate) => keys_rotate(&cli.config).await,
        Command::Domain(command) => domain_command(&cli.config, command).await,
        Command::Api(ApiCommand::Create {
            identifier,
            name,
            permissions,
        }) => api_create(&cli.config, identifier, name, permissions).await,
        Command::RegistrationToken(command) => registration_token(&cli.config, command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("keyport: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Each argon2 run takes 19 MiB, from glibc (`alloc`: blocks of 1 MiB and
/// more are the system allocator's). glibc would keep such blocks in the arena
/// of whichever thread freed them (it raises its mmap threshold after the
/// first free), so a node's memory would grow with every thread that ever
/// hashed. A fixed threshold maps them, and unmaps them when freed.
fn return_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator tunable; it is thread-safe
    // and takes no pointers.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("KEYPORT_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    // Colours only for a person at a terminal: a file or a log collector
    // gets the text without escape codes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn open(config: &Config) -> Result<AppState, String> {
    tracing::info!(database = %config.database_url_for_logs(), "opening database");
    AppState::open_with_system_clock(config)
        .await
        .map_err(|e| format!("cannot start: {e}"))
}

async fn migrate(config: &Config) -> Result<(), String> {
    open(config).await?;
    tracing::info!("database is up to date");
    Ok(())
}

async fn serve(config: &Config) -> Result<(), String> {
    let state = open(config).await?;
    let listener =
        listen(config.bind).map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
    let public_url = config.public_url();
    tracing::info!(url = %public_url, "Keyport is listening");
    println!("Keyport is running at {public_url}");
    if let Some(token) = state.keyport.pending_setup_token() {
        // The one secret that belongs in the log: whoever reads it may create
        // the first administrator, once, while no user exists.
        let link = public_url
            .join(&format!("setup?token={}", token.expose()))
            .map_err(|e| e.to_string())?;
        tracing::info!(%link, "no user exists yet: open the setup link to create the first administrator");
        println!("First run: create the first administrator at {link}");
    }

    let services = state.keyport.clone();
    let upkeep = tokio::spawn(upkeep(
        services.clone(),
        DbSessionStore::new(services.clone(), state.session_lifetime),
    ));
    let app = crate::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    upkeep.abort();
    if let Err(e) = services.flush_usage().await {
        tracing::warn!(error = %e, "could not record the last usage counts");
    }
    served.map_err(|e| format!("server failed: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// Connections the kernel queues before they are accepted. The standard
/// library asks for 128: a burst of new connections past that (a crowd of
/// integrations starting at once, or an attacker's) has its SYNs dropped,
/// and each of them, legitimate or not, waits a second for its retry.
const ACCEPT_BACKLOG: u32 = 4096;

fn listen(address: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match address {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Background work of a serving node: pick up signing keys rotated
/// elsewhere, write usage counts, retire secrets past their grace period,
/// and sweep what the node remembers past its use, ended limit windows,
/// expired sessions, revocations, codes and
/// applications removed more than 30 days ago.
async fn upkeep(keyport: app::domain::Keyport, sessions: DbSessionStore) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(10));
    for tick in 0u64.. {
        every.tick().await;
        keyport.limits.sweep(keyport.now());
        keyport.memory.purge();
        if let Err(e) = keyport.flush_usage().await {
            tracing::warn!(error = %e, "could not record usage counts");
        }
        if let Err(e) = keyport.retire_expired_secrets().await {
            tracing::warn!(error = %e, "could not retire secrets past their grace period");
        }
        if tick % 3 == 0 {
            if let Err(e) = keyport.refresh_keys().await {
                tracing::warn!(error = %e, "could not reload signing keys");
            }
        }
        if tick % 60 == 0 {
            if let Err(e) = sessions.delete_expired().await {
                tracing::warn!(error = %e, "could not delete expired sessions");
            }
            if let Err(e) = keyport.purge_expired_revocations().await {
                tracing::warn!(error = %e, "could not purge expired revocations");
            }
            if let Err(e) = keyport.purge_removed_applications().await {
                tracing::warn!(error = %e, "could not purge removed applications");
            }
            if let Err(e) = keyport.purge_expired_codes().await {
                tracing::warn!(error = %e, "could not purge expired authorization codes");
            }
            if let Err(e) = keyport.purge_refresh_families().await {
                tracing::warn!(error = %e, "could not purge ended refresh tokens");
            }
            if let Err(e) = keyport.purge_unused_open_registrations().await {
                tracing::warn!(error = %e, "could not remove unused open registrations");
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn admin_create(
    config: &Config,
    email: &str,
    role: app::domain::accounts::Role,
    domain: Option<&str>,
) -> Result<(), String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = Password::new(input.trim_end_matches(['\r', '\n']));
    let state = open(config).await?;
    let keyport = &state.keyport;
    let domain_id = match domain {
        Some(domain) => named_domain(keyport, domain).await?.id,
        None => keyport.tenancy.default_domain_id.clone(),
    };
    let new = NewUser {
        domain_id,
        email: app::domain::accounts::normalize_email(email),
        role,
        password,
    };
    match keyport.insert_user(new, None, "cli", None).await {
        Ok(user) => {
            println!("created {} ({})", user.email, user.role.as_str());
            Ok(())
        }
        Err(e) => Err(explain(e)),
    }
}

async fn reset_mfa(config: &Config, email: &str) -> Result<(), String> {
    let state = open(config).await?;
    let keyport = &state.keyport;
    let user = app::domain::accounts::find_user_by_email(&keyport.db, email)
        .await
        .map_err(explain)?
        .ok_or_else(|| format!("no user has the email {email}"))?;
    let user = keyport
        .reset_factors(&Access::operator(), &user.id)
        .await
        .map_err(explain)?;
    println!(
        "reset the second factors of {}: they sign in with their password and set one up again",
        user.email
    );
    Ok(())
}

async fn client_create(
    config: &Config,
    email: &str,
    input: app::domain::validate::ApplicationInput,
    domain: Option<&str>,
) -> Result<(), String> {
    let state = open(config).await?;
    let keyport = &state.keyport;
    let owner = app::domain::accounts::find_user_by_email(&keyport.db, email)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no user with email {email}"))?;
    let domain = match domain {
        Some(domain) => named_domain(keyport, domain).await?,
        None => tenancy::find_domain(&keyport.db, &owner.domain_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the owner's domain is missing")?,
    };
    if domain.id != owner.domain_id && owner.role != app::domain::accounts::Role::SuperAdmin {
        return Err(format!(
            "{email} belongs to another domain; only a super admin may own applications in {}",
            domain.name
        ));
    }
    match keyport
        .register_application(&Access::operator_as(owner), &domain, input)
        .await
    {
        Ok((app, credentials)) => {
            let out = match credentials {
                Some(credentials) => serde_json::json!({
                    "client_id": credentials.client_id,
                    "client_secret": credentials.client_secret.expose(),
                }),
                None => serde_json::json!({ "client_id": app.client_id }),
            };
            println!("{out}");
            Ok(())
        }
        Err(e) => Err(explain(e)),
    }
}

async fn keys_rotate(config: &Config) -> Result<(), String> {
    let state = open(config).await?;
    let kid = state
        .keyport
        .rotate_signing_key()
        .await
        .map_err(|e| e.to_string())?;
    println!("new signing key {kid}; the previous key stays published until its tokens expire");
    Ok(())
}

/// The domain a `--domain` names, by name or id.
async fn named_domain(
    keyport: &app::domain::Keyport,
    domain: &str,
) -> Result<tenancy::Domain, String> {
    tenancy::find_domain_by_name(&keyport.db, domain)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no domain named {domain}"))
}

async fn registration_token(
    config: &Config,
    command: RegistrationTokenCommand,
) -> Result<(), String> {
    let RegistrationTokenCommand::Create {
        domain,
        label,
        uses,
        expires_in,
        permissions,
        grant_types,
        public,
        email,
    } = command;
    let state = open(config).await?;
    let keyport = &state.keyport;
    let domain = match named_domain(keyport, &domain).await {
        Ok(domain) => domain,
        Err(message) => keyport
            .domain(&domain)
            .await
            .map_err(|e| e.to_string())?
            .ok_or(message)?,
    };
    let creator = match email {
        Some(email) => app::domain::accounts::find_user_by_email(&keyport.db, &email)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no user {email}"))?,
        None => keyport
            .first_admin_of(&domain)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "{} has no enabled admin: name one with --email",
                    domain.name
                )
            })?,
    };
    let new = app::domain::registration::NewRegistrationToken {
        label,
        uses,
        expires_in,
        permissions,
        grant_types,
        public_allowed: public,
    };
    let (token, plaintext) = keyport
        .create_registration_token(&Access::operator_as(creator.clone()), &domain, new)
        .await
        .map_err(|e| match e {
            app::domain::Error::Forbidden => {
                format!("{} is not an admin of {}", creator.email, domain.name)
            }
            e => explain(e),
        })?;
    let out = serde_json::json!({
        "id": token.id,
        "label": token.label,
        "domain_id": token.domain_id,
        "owner": token.creator_email,
        "expires_at": token.expires_at,
        "uses": token.max_uses,
        "permissions": token.permissions.split(' ').collect::<Vec<_>>(),
        "grant_types": token.grant_types.split(' ').collect::<Vec<_>>(),
        "public": token.public_allowed != 0,
        "initial_access_token": plaintext,
    });
    println!("{out}");
    Ok(())
}

async fn api_create(
    config: &Config,
    identifier: String,
    name: String,
    permissions: Vec<String>,
) -> Result<(), String> {
    let state = open(config).await?;
    // Each permission is described by its API until an administrator
    // says more on the permissions page.
    let permissions = permissions
        .into_iter()
        .map(|scope| {
            let description = format!("{scope} on {name}");
            (scope, description)
        })
        .collect();
    let new = app::domain::apis::NewApi {
        name,
        identifier,
        permissions,
    };
    match state.keyport.create_api(&Access::operator(), new).await {
        Ok(api) => {
            let scopes: Vec<&str> = api.permissions.iter().map(|p| p.scope.as_str()).collect();
            let out = serde_json::json!({
                "id": api.id,
                "identifier": api.identifier,
                "name": api.name,
                "permissions": scopes,
            });
            println!("{out}");
            Ok(())
        }
        Err(e) => Err(explain(e)),
    }
}

async fn domain_command(config: &Config, command: DomainCommand) -> Result<(), String> {
    let state = open(config).await?;
    let keyport = &state.keyport;
    let access = Access::operator();
    let domain = match command {
        DomainCommand::Create { name, app_limit } => {
            keyport.create_domain(&access, &name, app_limit).await
        }
        DomainCommand::Rename { domain, name } => {
            let id = named_domain(keyport, &domain).await?.id;
            keyport.rename_domain(&access, &id, &name).await
        }
        DomainCommand::SetLimit { domain, app_limit } => {
            let id = named_domain(keyport, &domain).await?.id;
            keyport.set_app_limit(&access, &id, app_limit).await
        }
        DomainCommand::List => {
            let all = tenancy::summaries(&keyport.db).await.map_err(explain)?;
            for s in all {
                let line = serde_json::json!({
                    "domain_id": s.domain.id,
                    "name": s.domain.name,
                    "app_limit": s.domain.app_limit,
                    "applications": s.applications,
                    "users": s.users,
                    "last_activity": s.last_activity,
                });
                println!("{line}");
            }
            return Ok(());
        }
    }
    .map_err(explain)?;
    println!("{}", domain_json(&domain));
    Ok(())
}

/// A domain as the command line prints it (contract §7).
fn domain_json(domain: &tenancy::Domain) -> serde_json::Value {
    serde_json::json!({
        "domain_id": domain.id,
        "name": domain.name,
        "app_limit": domain.app_limit,
    })
}

/// A refusal in words for the terminal: each rejected field by name.
fn explain(e: app::domain::Error) -> String {
    match e {
        app::domain::Error::Invalid(problems) => problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect::<Vec<_>>()
            .join("; "),
        e => e.to_string(),
    }
}
