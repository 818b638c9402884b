//! Rows a node answers from memory for a short while. Every console page
//! and API call needs the same few reads (the session, its user, the
//! domain, the domain's applications, whether a token was revoked); each is
//! read once and reused until this node writes anything or `FRESH_FOR`
//! has passed. A write on this node shows at once; a write made elsewhere
//! (another node, the command line) within `FRESH_FOR`.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::accounts::User;
use super::applications::DomainApplications;
use super::clients::ClientRows;
use super::tenancy::Domain;

/// How long a node may answer from a row it read.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// Entries one `Recent` holds at most; past that it starts over.
const MAX_ENTRIES: usize = 100_000;

/// Counts this node's writes. A row read before a write is not reused
/// after it, whatever it was.
#[derive(Debug, Default)]
pub struct Changes(AtomicU64);

impl Changes {
    /// The count now: take it before reading, and remember the read under it.
    pub fn seen(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Call once a write has committed.
    pub fn note(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// The reads a node remembers, each by what it is looked up by.
#[derive(Default)]
pub struct Remembered {
    /// By user id.
    pub users: Recent<String, Option<User>>,
    /// By domain id.
    pub domains: Recent<String, Option<Domain>>,
    /// Every domain, for a super admin's switcher.
    pub all_domains: Recent<(), Vec<Domain>>,
    /// A domain's applications, by domain id.
    pub applications: Recent<String, std::sync::Arc<DomainApplications>>,
    /// By client ID: the client's row with its permissions.
    pub client_rows: Recent<String, ClientRows>,
    /// By client ID: the owner of an application in use, and when it was
    /// last restored.
    pub client_owners: Recent<String, Option<(User, Option<i64>)>>,
    /// By token id (`jti`): whether it was revoked.
    pub revoked: Recent<String, bool>,
}

struct Entry<V> {
    read_at: Instant,
    seen: u64,
    value: V,
}

/// Values by key, each good until the node's next write or `FRESH_FOR`.
pub struct Recent<K, V>(Mutex<HashMap<K, Entry<V>>>);

impl<K, V> Default for Recent<K, V> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

impl<K: Eq + Hash, V: Clone> Recent<K, V> {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<K, Entry<V>>> {
        // A poisoned lock only means a panic elsewhere mid-insert; the map
        // itself is still whole.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value, if it was read after this node's last write and within
    /// `FRESH_FOR`.
    pub fn get<Q>(&self, key: &Q, changes: &Changes) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = changes.seen();
        self.entries()
            .get(key)
            .filter(|e| e.seen == now && e.read_at.elapsed() < FRESH_FOR)
            .map(|e| e.value.clone())
    }

    /// Remembers `value`, read after `changes.seen()` returned `seen`.
    pub fn put(&self, key: K, value: V, seen: u64) {
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                read_at: Instant::now(),
                seen,
                value,
            },
        );
    }

    pub fn forget<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries().remove(key);
    }

    /// The remembered value, or `read`'s, which is then remembered.
    pub async fn get_or_read<Q, E, Fut>(
        &self,
        key: &Q,
        changes: &Changes,
        read: impl FnOnce() -> Fut,
    ) -> Result<V, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        Fut: Future<Output = Result<V, E>>,
    {
        if let Some(value) = self.get(key, changes) {
            return Ok(value);
        }
        let seen = changes.seen();
        let value = read().await?;
        self.put(key.to_owned(), value.clone(), seen);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_reused_until_the_next_write() {
        let (changes, recent) = (Changes::default(), Recent::<String, u32>::default());
        recent.put("a".into(), 1, changes.seen());
        assert_eq!(recent.get("a", &changes), Some(1));
        changes.note();
        assert_eq!(recent.get("a", &changes), None);
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_reused() {
        let (changes, recent) = (Changes::default(), Recent::<String, u32>::default());
        let seen = changes.seen();
        changes.note(); // committed while the read was under way
        recent.put("a".into(), 1, seen);
        assert_eq!(recent.get("a", &changes), None);
    }

    #[test]
    fn a_value_is_not_reused_past_its_bound() {
        let (changes, recent) = (Changes::default(), Recent::<String, u32>::default());
        recent.0.lock().unwrap().insert(
            "a".into(),
            Entry {
                read_at: Instant::now() - FRESH_FOR,
                seen: changes.seen(),
                value: 1,
            },
        );
        assert_eq!(recent.get("a", &changes), None);
    }
}
