//! Client authentication at the token, introspection and revocation
//! endpoints. A secret is checked against its keyed hash (HMAC-SHA-256,
//! `secrets::MasterKey::secret_hash`) in constant time: a microsecond, with
//! no memory to speak of, whoever asks and however often. The right secret
//! always gets through; failures are counted per source address only, so
//! nobody can lock an integration out by naming its (public) client ID.
//!
//! The client's row is remembered like other reads (`memory`), so a rotated
//! secret, a removed client or a disabled owner is refused at once on this
//! node and within `cache::FRESH_FOR_MS` on the others.

use super::accounts::Role;
use super::clock::Timestamp;
use super::ids::{ApplicationId, ClientId, DomainId, Scope, UserId};
use super::limiter::Key;
use super::rules::may_hold;
use super::secrets::{ClientSecret, Secret, SecretCheck};
use super::{Error, Keyport, Result};

/// A client whose credentials checked out.
#[derive(Debug, Clone)]
pub struct Client {
    pub application_id: ApplicationId,
    pub client_id: ClientId,
    pub domain_id: DomainId,
    pub owner_id: UserId,
    pub permissions: Vec<Scope>,
    /// A public client (RFC 8252) has no secret and authenticates with its
    /// client ID alone: the authorization code grant with PKCE and refresh
    /// tokens only.
    pub public: bool,
    /// How long refresh tokens live, if the application may have them.
    pub refresh: Option<RefreshLifetimes>,
    /// The grant types a client that registered itself asked for,
    /// space-separated (RFC 7591 §2); `None`: every grant its type allows.
    pub grant_types: Option<String>,
    /// The stored hash of the secret presented (the current or the
    /// previous one), so that usage is counted per secret; empty for a
    /// public client.
    pub(crate) secret_hash: String,
}

/// How long an application's refresh tokens live, in seconds: unused
/// (idle), and at most from the approval (absolute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshLifetimes {
    pub idle: i64,
    pub absolute: i64,
}

impl RefreshLifetimes {
    /// The defaults the issue of refresh tokens starts from: a week unused,
    /// thirty days at most.
    pub const DEFAULT: Self = Self {
        idle: 7 * 86_400,
        absolute: 30 * 86_400,
    };
}

/// The client's row, once per granted scope (none: one row, `scope` NULL).
#[derive(Clone, sqlx::FromRow)]
pub struct Row {
    id: ApplicationId,
    client_id: ClientId,
    domain_id: DomainId,
    owner_id: UserId,
    secret_hash: String,
    previous_secret_hash: Option<String>,
    previous_secret_expires_at: Option<Timestamp>,
    client_type: String,
    refresh_tokens: i64,
    refresh_idle_seconds: i64,
    refresh_absolute_seconds: i64,
    grant_types: Option<String>,
    #[sqlx(try_from = "String")]
    owner_role: Role,
    scope: Option<Scope>,
}

impl Row {
    fn is_public(&self) -> bool {
        self.client_type == PUBLIC
    }
}

/// `applications.client_type` of a public client.
pub const PUBLIC: &str = "public";

/// The client `rows` describe, authenticated by `secret_hash` (empty for
/// a public one).
fn client(rows: &[Row], secret_hash: String) -> Option<Client> {
    let row = rows.first()?;
    Some(Client {
        application_id: row.id.clone(),
        client_id: row.client_id.clone(),
        domain_id: row.domain_id.clone(),
        owner_id: row.owner_id.clone(),
        // What its owner's role allows now, whatever was granted before.
        permissions: rows
            .iter()
            .filter_map(|r| r.scope.clone())
            .filter(|s| may_hold(row.owner_role, s))
            .collect(),
        public: row.is_public(),
        refresh: (row.refresh_tokens != 0).then_some(RefreshLifetimes {
            idle: row.refresh_idle_seconds,
            absolute: row.refresh_absolute_seconds,
        }),
        grant_types: row.grant_types.clone(),
        secret_hash,
    })
}

impl Client {
    /// Whether it may use `grant_type`: a client that registered itself,
    /// only the grants it registered for.
    pub fn allows(&self, grant_type: &str) -> bool {
        self.grant_types
            .as_deref()
            .is_none_or(|types| types.split(' ').any(|t| t == grant_type))
    }
}

/// A client's rows as read together (empty: no such client in use).
pub type ClientRows = std::sync::Arc<Vec<Row>>;

/// Which of a client's secrets was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Current,
    Previous,
}

impl Which {
    fn column(self) -> &'static str {
        match self {
            Self::Current => "secret_hash",
            Self::Previous => "previous_secret_hash",
        }
    }
}

impl Keyport {
    /// Checks a client's credentials. An address that failed too often
    /// lately is told to wait, before any work is done for it.
    ///
    /// The budget is checked before and counted after, not taken ahead as
    /// sign-in's is: a burst in flight can pass it by its own size, each
    /// request costing a microsecond and at most one read, whereas taking
    /// ahead would hold an integration with many requests in flight to the
    /// budget with its own successes.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: &ClientSecret,
        address: &str,
    ) -> Result<Client> {
        let now = self.now();
        let source = Key::address_text(address);
        let limiter = &self.limits.client_addresses;
        if let Some(retry_after) = limiter.retry_after(&source, now) {
            return Err(Error::RateLimited { retry_after });
        }
        let rows = self.client_rows(client_id).await?;
        // A public client has no secret: one presented is not its own.
        let Some(row) = rows.first().filter(|row| !row.is_public()) else {
            limiter.fail(&source, now);
            return Err(Error::BadCredentials);
        };
        match self.matching_secret(row, secret, now).await? {
            Some(secret_hash) => client(&rows, secret_hash).ok_or(Error::BadCredentials),
            None => {
                limiter.fail(&source, now);
                self.usage.failed(&row.id, now);
                Err(Error::BadCredentials)
            }
        }
    }

    /// Identifies a public client by its client ID alone (RFC 6749 §2.1,
    /// `token_endpoint_auth_method` `none`). A confidential client's ID
    /// without its secret is refused like a wrong secret.
    pub async fn identify_public_client(&self, client_id: &str, address: &str) -> Result<Client> {
        let now = self.now();
        let source = Key::address_text(address);
        let limiter = &self.limits.client_addresses;
        if let Some(retry_after) = limiter.retry_after(&source, now) {
            return Err(Error::RateLimited { retry_after });
        }
        let rows = self.client_rows(client_id).await?;
        match rows.first() {
            Some(row) if row.is_public() => {
                client(&rows, String::new()).ok_or(Error::BadCredentials)
            }
            _ => {
                limiter.fail(&source, now);
                Err(Error::BadCredentials)
            }
        }
    }

    /// The rows of a client in use whose owner is enabled, as read within
    /// `cache::FRESH_FOR_MS`.
    async fn client_rows(&self, client_id: &str) -> Result<ClientRows> {
        let remembered = &self.memory.client_rows;
        if let Some(rows) = remembered.get(client_id) {
            return Ok(rows);
        }
        // No client ID holds what the database cannot store.
        if !super::validate::storable(client_id) {
            return Ok(ClientRows::default());
        }
        let seen = remembered.seen();
        // One round trip: the client and its permissions together.
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT a.id, a.client_id, a.domain_id, a.owner_id, a.secret_hash, \
             a.previous_secret_hash, a.previous_secret_expires_at, a.client_type, \
             a.refresh_tokens, a.refresh_idle_seconds, a.refresh_absolute_seconds, a.grant_types, u.role AS owner_role, p.scope \
             FROM applications a JOIN users u ON u.id = a.owner_id \
             LEFT JOIN application_permissions p ON p.application_id = a.id \
             WHERE a.client_id = $1 AND a.removed_at IS NULL AND u.disabled_at IS NULL \
             ORDER BY p.scope",
        )
        .bind(client_id)
        .fetch_all(&self.db.pool)
        .await?;
        let rows = ClientRows::new(rows);
        // Unknown IDs are not remembered: a stranger could fill the memory
        // with them.
        if !rows.is_empty() {
            remembered.put_read(client_id.to_owned(), rows.clone(), seen);
        }
        Ok(rows)
    }

    /// The stored hash `secret` matches: the current secret's, or the
    /// previous one's while its grace period lasts.
    async fn matching_secret(
        &self,
        row: &Row,
        secret: &ClientSecret,
        now: Timestamp,
    ) -> Result<Option<String>> {
        let previous = row
            .previous_secret_hash
            .as_ref()
            .filter(|_| row.previous_secret_expires_at.is_some_and(|at| at > now));
        let candidates = [
            Some((Which::Current, &row.secret_hash)),
            previous.map(|hash| (Which::Previous, hash)),
        ];
        for (which, stored) in candidates.into_iter().flatten() {
            match self.master_key.check_secret(secret, stored) {
                SecretCheck::Matches => return Ok(Some(stored.clone())),
                SecretCheck::Differs => {}
                SecretCheck::Legacy => {
                    if self
                        .hasher
                        .verify(Some(stored.clone()), secret.clone())
                        .await?
                    {
                        return self.upgrade(row, which, stored, secret).await.map(Some);
                    }
                }
            }
        }
        Ok(None)
    }

    /// Replaces an argon2id hash that `secret` just matched with its keyed
    /// hash, so that it is the last argon2 run this secret costs.
    async fn upgrade(
        &self,
        row: &Row,
        which: Which,
        stored: &str,
        secret: &ClientSecret,
    ) -> Result<String> {
        let upgraded = self.master_key.secret_hash(secret);
        let column = which.column();
        let sql = format!("UPDATE applications SET {column} = $1 WHERE id = $2 AND {column} = $3");
        self.db
            .write_one(sqlx::query(&sql).bind(&upgraded).bind(&row.id).bind(stored))
            .await?;
        Ok(upgraded)
    }
}

impl Keyport {
    /// A new client secret with its keyed hash (for verification) and its
    /// sealed copy (for reveal).
    pub(crate) fn fresh_secret(&self, client_id: &str) -> (ClientSecret, String, Vec<u8>) {
        let secret = ClientSecret::generate();
        let hash = self.master_key.secret_hash(&secret);
        let sealed = self
            .master_key
            .seal(secret.expose().as_bytes(), client_id.as_bytes());
        (secret, hash, sealed)
    }

    /// Replaces the argon2id hashes of current client secrets, from before
    /// keyed hashes, with keyed hashes made from their sealed copies, so
    /// that no current secret costs an argon2 run again. (A rotated-out
    /// secret in its grace period has no sealed copy; it is upgraded when
    /// next used.)
    pub(crate) async fn upgrade_legacy_secret_hashes(&self) -> Result<u64> {
        let legacy: Vec<(String, String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT id, client_id, secret_hash, secret_sealed FROM applications \
             WHERE secret_hash LIKE '$argon2%'",
        )
        .fetch_all(&self.db.pool)
        .await?;
        if legacy.is_empty() {
            return Ok(0);
        }
        let mut upgraded = 0;
        let mut tx = self.db.write().await?;
        for (id, client_id, stored, sealed) in legacy {
            let plaintext = self.master_key.open(&sealed, client_id.as_bytes())?;
            let secret =
                ClientSecret::new(String::from_utf8(plaintext).map_err(|_| Error::Decrypt)?);
            upgraded += sqlx::query(
                "UPDATE applications SET secret_hash = $1 WHERE id = $2 AND secret_hash = $3",
            )
            .bind(self.master_key.secret_hash(&secret))
            .bind(&id)
            .bind(&stored)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        tracing::info!(upgraded, "client secret hashes upgraded to keyed hashes");
        Ok(upgraded)
    }
}
