//! Client authentication at the token endpoint: a successful argon2
//! verification is remembered in memory, keyed by client ID and holding only
//! a keyed digest of the secret, so that later requests pay a hash-map look
//! up instead of a 19 MiB argon2 run. The client's row (with the stored
//! hash) is remembered like other reads (`recent`), so a rotated secret or a
//! removed client is refused at once on this node.

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
    /// The stored hash of the secret presented (the current or the
    /// previous one), so that usage is counted per secret.
    pub(crate) secret_hash: String,
}

/// The client's row, once per granted scope (none: one row, `scope` NULL).
#[derive(Clone, sqlx::FromRow)]
pub struct Row {
    id: String,
    client_id: String,
    domain_id: String,
    owner_id: String,
    secret_hash: String,
    previous_secret_hash: Option<String>,
    previous_secret_expires_at: Option<Timestamp>,
    scope: Option<String>,
}

/// Verified secrets: client ID → (stored hash it matched, HMAC of the secret
/// under a key that never leaves this process), for the current secret and
/// the previous one during a rotation's grace period.
pub struct VerifiedSecrets {
    key: [u8; 32],
    entries: Mutex<HashMap<String, Vec<Verified>>>,
}

/// A stored hash, and the digest of the secret that matched it.
type Verified = (String, [u8; 32]);

const CACHE_MAX: usize = 100_000;

/// A client's rows as read together (empty: no such client in use).
pub type ClientRows = std::sync::Arc<Vec<Row>>;

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
        entries.get(client_id).is_some_and(|known| {
            known
                .iter()
                .any(|(known_hash, known)| known_hash == hash && bool::from(known.ct_eq(digest)))
        })
    }

    fn remember(&self, client_id: &str, hash: &str, digest: [u8; 32]) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_MAX {
            entries.clear();
        }
        let known = entries.entry(client_id.to_owned()).or_default();
        known.retain(|(known_hash, _)| known_hash != hash);
        if known.len() >= 2 {
            known.remove(0);
        }
        known.push((hash.to_owned(), digest));
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
        let remembered = &self.recent.client_rows;
        let rows = match remembered.get(client_id, &self.db.changes) {
            Some(rows) => rows,
            // No client ID holds what the database cannot store.
            None if !super::validate::storable(client_id) => Default::default(),
            None => {
                let seen = self.db.changes.seen();
                // One round trip: the client and its permissions together.
                let rows: Vec<Row> = sqlx::query_as(
                    "SELECT a.id, a.client_id, a.domain_id, a.owner_id, a.secret_hash, \
                     a.previous_secret_hash, a.previous_secret_expires_at, p.scope \
                     FROM applications a LEFT JOIN application_permissions p ON p.application_id = a.id \
                     WHERE a.client_id = $1 AND a.removed_at IS NULL ORDER BY p.scope",
                )
                .bind(client_id)
                .fetch_all(&self.db.pool)
                .await?;
                let rows = ClientRows::new(rows);
                if !rows.is_empty() {
                    remembered.put(client_id.to_owned(), rows.clone(), seen);
                }
                rows
            }
        };
        let permissions: Vec<String> = rows.iter().filter_map(|r| r.scope.clone()).collect();
        let row = rows.first().cloned();
        let digest = self.verified_secrets.digest(secret);
        let matched = match &row {
            Some(row) => {
                // The current secret, then the previous one while its grace
                // period lasts.
                let previous = row
                    .previous_secret_hash
                    .as_ref()
                    .filter(|_| row.previous_secret_expires_at.is_some_and(|at| at > now));
                let candidates: Vec<&String> =
                    std::iter::once(&row.secret_hash).chain(previous).collect();
                let mut matched = candidates
                    .iter()
                    .find(|hash| self.verified_secrets.knows(client_id, hash, &digest))
                    .map(|hash| (*hash).clone());
                if matched.is_none() {
                    for hash in candidates {
                        if verify_password(hash.clone(), secret.clone()).await? {
                            self.verified_secrets.remember(client_id, hash, digest);
                            matched = Some(hash.clone());
                            break;
                        }
                    }
                }
                matched
            }
            None => {
                // Same cost as a wrong secret, so that unknown IDs don't stand out.
                verify_password(super::accounts::decoy_hash(), secret.clone()).await?;
                None
            }
        };
        match (row, matched) {
            (Some(row), Some(secret_hash)) => {
                self.client_limiter.record_success(client_id);
                Ok(Client {
                    application_id: row.id,
                    client_id: row.client_id,
                    domain_id: row.domain_id,
                    owner_id: row.owner_id,
                    permissions,
                    secret_hash,
                })
            }
            (row, _) => {
                self.client_limiter.record_failure(client_id, address, now);
                if let Some(row) = row {
                    self.usage.failed(&row.id, now);
                }
                Err(Error::BadCredentials)
            }
        }
    }
}
