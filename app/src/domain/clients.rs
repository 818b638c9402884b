//! Client authentication at the token endpoint: a successful argon2
//! verification is remembered in memory, keyed by client ID and holding only
//! a keyed digest of the secret, so that later requests pay a hash-map look
//! up instead of a 19 MiB argon2 run. The stored hash is read on every
//! request, so a rotated secret or a removed client is refused at once.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::accounts::verify_password;
use super::clock::Timestamp;
use super::secrets::{ClientSecret, Secret};
use super::{Error, Keyport, Result};

/// A client whose credentials checked out.
#[derive(Debug, Clone)]
pub struct Client {
    pub application_id: String,
    pub client_id: String,
    pub domain_id: String,
    pub owner_id: String,
    pub permissions: Vec<String>,
}

/// The client's row, once per granted scope (none: one row, `scope` NULL).
#[derive(Clone, sqlx::FromRow)]
pub struct Row {
    id: String,
    client_id: String,
    domain_id: String,
    owner_id: String,
    secret_hash: String,
    scope: Option<String>,
}

/// Verified secrets: client ID → (stored hash it matched, HMAC of the secret
/// under a key that never leaves this process).
pub struct VerifiedSecrets {
    key: [u8; 32],
    entries: Mutex<HashMap<String, (String, [u8; 32])>>,
}

const CACHE_MAX: usize = 100_000;

/// How long a node may answer from a client row it read: a burst of token
/// requests costs one database read per client per interval. A removal or
/// an edit on this node takes effect at once; on other nodes within this.
pub const CLIENT_ROWS_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// When a client's rows were read, and the rows.
type ReadRows = (std::time::Instant, std::sync::Arc<Vec<Row>>);

/// Client rows (with their permissions) as last read, by client ID.
#[derive(Default)]
pub struct ClientRows(Mutex<HashMap<String, ReadRows>>);

impl ClientRows {
    fn get(&self, client_id: &str) -> Option<std::sync::Arc<Vec<Row>>> {
        let entries = self.0.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(client_id)
            .filter(|(read, _)| read.elapsed() < CLIENT_ROWS_TTL)
            .map(|(_, rows)| rows.clone())
    }

    fn remember(&self, client_id: &str, rows: std::sync::Arc<Vec<Row>>) {
        let mut entries = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_MAX {
            entries.clear();
        }
        entries.insert(client_id.to_owned(), (std::time::Instant::now(), rows));
    }

    pub fn forget(&self, client_id: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(client_id);
    }
}

impl VerifiedSecrets {
    pub fn new() -> Self {
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut aes_gcm::aead::OsRng, &mut key);
        Self {
            key,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn digest(&self, secret: &ClientSecret) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(secret.expose().as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn knows(&self, client_id: &str, hash: &str, digest: &[u8; 32]) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(client_id).is_some_and(|(known_hash, known)| {
            known_hash == hash && bool::from(known.ct_eq(digest))
        })
    }

    fn remember(&self, client_id: &str, hash: &str, digest: [u8; 32]) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_MAX {
            entries.clear();
        }
        entries.insert(client_id.to_owned(), (hash.to_owned(), digest));
    }

    pub fn forget(&self, client_id: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(client_id);
    }
}

impl Default for VerifiedSecrets {
    fn default() -> Self {
        Self::new()
    }
}

/// Counters kept in memory and written to the database in batches, so that
/// issuing a token costs no write.
#[derive(Default)]
pub struct Usage {
    pending: Mutex<HashMap<String, Delta>>,
}

#[derive(Default, Clone, Copy)]
struct Delta {
    last_used: Timestamp,
    issued: i64,
    failures: i64,
}

impl Usage {
    pub fn issued(&self, application_id: &str, at: Timestamp) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let d = pending.entry(application_id.to_owned()).or_default();
        d.issued += 1;
        d.last_used = d.last_used.max(at);
    }

    pub fn failed(&self, application_id: &str) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending
            .entry(application_id.to_owned())
            .or_default()
            .failures += 1;
    }

    fn take(&self) -> HashMap<String, Delta> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Keyport {
    /// Checks a client's credentials. Failures are counted per client ID and
    /// per address; past the limit the caller is told to wait.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: &ClientSecret,
        address: &str,
    ) -> Result<Client> {
        let now = self.now();
        if let Some(retry_after) = self.client_limiter.retry_after(client_id, address, now) {
            return Err(Error::RateLimited { retry_after });
        }
        let rows = match self.client_rows.get(client_id) {
            Some(rows) => rows,
            None => {
                // One round trip: the client and its permissions together.
                let rows: Vec<Row> = sqlx::query_as(
                    "SELECT a.id, a.client_id, a.domain_id, a.owner_id, a.secret_hash, p.scope \
                     FROM applications a LEFT JOIN application_permissions p ON p.application_id = a.id \
                     WHERE a.client_id = $1 ORDER BY p.scope",
                )
                .bind(client_id)
                .fetch_all(&self.db.pool)
                .await?;
                let rows = std::sync::Arc::new(rows);
                if !rows.is_empty() {
                    self.client_rows.remember(client_id, rows.clone());
                }
                rows
            }
        };
        let permissions: Vec<String> = rows.iter().filter_map(|r| r.scope.clone()).collect();
        let row = rows.first().cloned();
        let digest = self.verified_secrets.digest(secret);
        let verified = match &row {
            Some(row)
                if self
                    .verified_secrets
                    .knows(client_id, &row.secret_hash, &digest) =>
            {
                true
            }
            Some(row) => {
                let ok = verify_password(row.secret_hash.clone(), secret.clone()).await?;
                if ok {
                    self.verified_secrets
                        .remember(client_id, &row.secret_hash, digest);
                }
                ok
            }
            None => {
                // Same cost as a wrong secret, so that unknown IDs don't stand out.
                verify_password(super::accounts::decoy_hash(), secret.clone()).await?;
                false
            }
        };
        match row {
            Some(row) if verified => {
                self.client_limiter.record_success(client_id);
                Ok(Client {
                    application_id: row.id,
                    client_id: row.client_id,
                    domain_id: row.domain_id,
                    owner_id: row.owner_id,
                    permissions,
                })
            }
            row => {
                self.client_limiter.record_failure(client_id, address, now);
                if let Some(row) = row {
                    self.usage.failed(&row.id);
                }
                Err(Error::BadCredentials)
            }
        }
    }

    /// Writes the usage counted since the last flush.
    pub async fn flush_usage(&self) -> Result<()> {
        let pending = self.usage.take();
        if pending.is_empty() {
            return Ok(());
        }
        let day = self.now().div_euclid(86_400) * 86_400;
        let mut tx = self.db.pool.begin().await?;
        for (id, d) in pending {
            if d.last_used > 0 {
                sqlx::query(
                    "UPDATE applications SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
                )
                .bind(d.last_used)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "INSERT INTO usage_daily (application_id, day, tokens_issued, auth_failures) \
                 SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM applications WHERE id = $1) \
                 ON CONFLICT (application_id, day) DO UPDATE SET \
                 tokens_issued = usage_daily.tokens_issued + excluded.tokens_issued, \
                 auth_failures = usage_daily.auth_failures + excluded.auth_failures",
            )
            .bind(&id)
            .bind(day)
            .bind(d.issued)
            .bind(d.failures)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
