//! Keyport's rules and storage, for the server only. Nothing here knows of
//! HTTP, Leptos or the page that called it.

pub mod access;
pub mod accounts;
pub mod apis;
pub mod applications;
pub mod audit;
pub mod authorization;
pub mod cache;
pub mod clients;
pub mod clock;
pub mod factors;
pub mod form;
pub mod hashing;
pub mod ids;
pub mod inspect;
pub mod limiter;
pub mod memory;
pub mod ownership;
pub mod permissions;
pub mod registration;
pub mod removal;
pub mod rules;
pub mod secret_rotation;
pub mod secrets;
pub mod signing_keys;
pub mod store;
pub mod tenancy;
pub mod tokens;
pub mod usage;
pub mod users;
pub mod validate;

use std::sync::{Arc, Mutex};

use self::clock::Clock;
use self::hashing::Hasher;
use self::limiter::Limits;
use self::secrets::{MasterKey, SetupToken};
use self::store::Db;
use self::tenancy::Tenancy;

/// One rejected form field: which one, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("a stored secret cannot be decrypted with this master key")]
    Decrypt,
    #[error("a background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("invalid input")]
    Invalid(Vec<Invalid>),
    #[error("email or password is incorrect")]
    BadCredentials,
    #[error("too many failed attempts")]
    RateLimited { retry_after: u64 },
    /// Every password-hashing turn is taken and its queue is full.
    #[error("too busy to check a password now")]
    Busy { retry_after: u64 },
    #[error("setup has already been completed")]
    SetupClosed,
    #[error("the setup token is not valid")]
    BadSetupToken,
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
}

/// Both results, or every field problem of either (a form shows them all at
/// once); any other error as it is.
pub fn both<A, B>(a: Result<A>, b: Result<B>) -> Result<(A, B)> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(Error::Invalid(mut first)), Err(Error::Invalid(second))) => {
            first.extend(second);
            Err(Error::Invalid(first))
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![Invalid::new(field, message)])
    }

    /// How every boundary (server functions, the OAuth endpoints, the
    /// management API, icons) answers a failure of the machinery: `None`
    /// for a refusal of the request, which the boundary words itself;
    /// otherwise an outage that may pass (503) or a fault (500), logged
    /// here once with where it happened.
    pub fn failure(&self, boundary: &'static str) -> Option<Failure> {
        if !self.is_internal() {
            return None;
        }
        if self.is_unavailable() {
            tracing::warn!(error = %self, boundary, "database unavailable");
            Some(Failure::Unavailable)
        } else {
            tracing::error!(error = %self, boundary, "request failed");
            Some(Failure::Internal)
        }
    }

    /// True when the database could not be reached or stopped answering:
    /// the same request may well succeed shortly, and is answered
    /// "temporarily unavailable" (503) rather than as a server fault.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Database(e) if store::is_unreachable(e))
    }

    /// True for failures of the machinery (database, key, task) rather than
    /// of the request: these are logged and shown as a generic message.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Self::Config(_) | Self::Database(_) | Self::Migrate(_) | Self::Decrypt | Self::Task(_)
        )
    }
}

/// A failure of the machinery, as every boundary answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The database is out of reach: 503, try again shortly.
    Unavailable,
    /// Anything else: 500, the server log says what.
    Internal,
}

impl Failure {
    pub fn status(self) -> u16 {
        match self {
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the domain needs from the outside world to start.
pub struct Settings {
    pub database_url: String,
    /// The public URL: the issuer of tokens and the base of every link.
    pub issuer: url::Url,
    pub master_key: MasterKey,
    pub clock: Arc<dyn Clock>,
    /// Lifetime of access tokens, in seconds.
    pub token_ttl: i64,
    pub signing_alg: signing_keys::SigningAlg,
    /// Days without a token after which an application counts as unused.
    pub unused_days: i64,
    /// Seconds a console user's last check lets sensitive actions go ahead.
    pub step_up_ttl: i64,
    /// Rotations one refresh token family may make a minute.
    pub refresh_rotations: u32,
}

/// The handles every page, server function and handler works with: cheap to
/// clone, shared by all requests of one process.
#[derive(Clone)]
pub struct Keyport(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub issuer: url::Url,
    pub master_key: MasterKey,
    pub clock: Arc<dyn Clock>,
    pub tenancy: Tenancy,
    pub token_ttl: i64,
    pub signing_alg: signing_keys::SigningAlg,
    pub unused_days: i64,
    /// Seconds a console user's last check lets sensitive actions go ahead
    /// (`factors`).
    pub step_up_ttl: i64,
    /// Budgets of failed sign-ins and client authentications.
    pub limits: Limits,
    /// Console password hashing, bounded per core.
    pub hasher: Hasher,
    /// What this node remembers of what it read (`memory`).
    pub memory: memory::Memory,
    pub usage: usage::Usage,
    /// This node's writer of refresh token rotations.
    pub(crate) rotations: authorization::Rotations,
    keys: std::sync::RwLock<Option<Arc<signing_keys::KeyRing>>>,
    /// When the keys were last reloaded for an unknown key id.
    keys_reloaded_at: std::sync::atomic::AtomicI64,
    /// Present only while no user exists; taken by the first-run setup.
    setup_token: Mutex<Option<SetupToken>>,
}

impl std::ops::Deref for Keyport {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Keyport {
    /// Connects, migrates (failing loudly), creates the customer and its
    /// default domain on first start, and arms the setup token while no user
    /// exists.
    pub async fn open(settings: Settings) -> Result<Self> {
        let db = Db::connect(&settings.database_url).await?;
        db.migrate().await?;
        let now = settings.clock.now();
        let tenancy = Tenancy::bootstrap(&db, now).await?;
        let setup_token = if accounts::any_user_exists(&db).await? {
            None
        } else {
            Some(SetupToken::generate())
        };
        let limits = Limits::new(
            settings.clock.clone(),
            db.changes.clone(),
            settings.refresh_rotations,
        );
        let memory = memory::Memory::new(settings.clock.clone(), db.changes.clone());
        let rotations = authorization::Rotations::start(db.clone());
        let keyport = Self(Arc::new(Inner {
            rotations,
            db,
            issuer: settings.issuer,
            master_key: settings.master_key,
            clock: settings.clock,
            tenancy,
            token_ttl: settings.token_ttl,
            signing_alg: settings.signing_alg,
            unused_days: settings.unused_days,
            step_up_ttl: settings.step_up_ttl,
            limits,
            hasher: Hasher::per_core(),
            memory,
            usage: usage::Usage::default(),
            keys: std::sync::RwLock::new(None),
            keys_reloaded_at: std::sync::atomic::AtomicI64::new(now),
            setup_token: Mutex::new(setup_token),
        }));
        keyport.upgrade_legacy_secret_hashes().await?;
        keyport.ensure_signing_key().await?;
        keyport.refresh_keys().await?;
        Ok(keyport)
    }

    pub fn now(&self) -> clock::Timestamp {
        self.clock.now()
    }

    /// The token to print in the start-up log, while setup is open.
    pub fn pending_setup_token(&self) -> Option<SetupToken> {
        self.lock_setup_token().clone()
    }

    fn lock_setup_token(&self) -> std::sync::MutexGuard<'_, Option<SetupToken>> {
        // A poisoned lock only means another request panicked mid-check; the
        // Option inside is still meaningful.
        self.setup_token.lock().unwrap_or_else(|e| e.into_inner())
    }
}
