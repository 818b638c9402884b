//! The one kind of cache a node keeps: a bounded map whose entries are good
//! until a moment on Keyport's clock, and, for reads of the database, only
//! until this node's next write (a write elsewhere arrives as a
//! notification and counts the same, `store::Db::write`).
//!
//! Bounded by design: past its capacity the map evicts one entry at a time
//! (quick_cache's CLOCK-Pro, which keeps hot entries against a scan of cold
//! ones), never the whole map, so a busy node does not turn cold at once.

use std::hash::Hash;
use std::sync::Arc;

use quick_cache::Equivalent;

use super::clock::Clock;
use super::store::Changes;

/// How long a node may answer from a row it read: the bound on how stale a
/// read is when a write made elsewhere was not heard of.
pub const FRESH_FOR_MS: i64 = 1_000;

#[derive(Clone)]
struct Entry<V> {
    value: V,
    /// Until when, in milliseconds on Keyport's clock.
    good_until: i64,
    /// The count of this node's writes when the value was read; `None`: no
    /// write changes it (a verified signature, a failure budget).
    seen: Option<u64>,
}

/// Values by key, each good until its moment and, if it is a read, until
/// the node's next write.
pub struct Cache<K, V> {
    entries: quick_cache::sync::Cache<K, Entry<V>>,
    clock: Arc<dyn Clock>,
    changes: Arc<Changes>,
}

impl<K, V> Cache<K, V>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    /// A cache of at most `capacity` entries.
    pub fn new(capacity: usize, clock: Arc<dyn Clock>, changes: Arc<Changes>) -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(capacity),
            clock,
            changes,
        }
    }

    fn good(&self, entry: &Entry<V>, now: i64) -> bool {
        entry.good_until > now && entry.seen.is_none_or(|seen| seen == self.changes.seen())
    }

    /// The value, while it is good.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let entry = self.entries.get(key)?;
        self.good(&entry, self.clock.now_millis())
            .then_some(entry.value)
    }

    /// The count of writes to take before a read, and to remember it under.
    pub fn seen(&self) -> u64 {
        self.changes.seen()
    }

    /// Remembers `value`, read after `seen()` returned `seen`, for
    /// `FRESH_FOR_MS` or until the node's next write.
    pub fn put_read(&self, key: K, value: V, seen: u64) {
        let good_until = self.clock.now_millis() + FRESH_FOR_MS;
        self.entries.insert(
            key,
            Entry {
                value,
                good_until,
                seen: Some(seen),
            },
        );
    }

    /// Remembers `value`, which no write changes, until `good_until`
    /// (milliseconds on Keyport's clock).
    pub fn put_until(&self, key: K, value: V, good_until: i64) {
        self.entries.insert(
            key,
            Entry {
                value,
                good_until,
                seen: None,
            },
        );
    }

    /// The remembered value, or `read`'s, which is then remembered.
    pub async fn get_or_read<Q, E, Fut>(&self, key: &Q, read: impl FnOnce() -> Fut) -> Result<V, E>
    where
        Q: Hash + Equivalent<K> + ToOwned<Owned = K> + ?Sized,
        Fut: std::future::Future<Output = Result<V, E>>,
    {
        if let Some(value) = self.get(key) {
            return Ok(value);
        }
        let seen = self.seen();
        let value = read().await?;
        self.put_read(key.to_owned(), value.clone(), seen);
        Ok(value)
    }

    /// The shared value of `key`, inserted by `make` if there is none, as
    /// one step: of callers racing for a key not yet there, exactly one
    /// makes it and all get it. For state that says itself when it has
    /// ended (a window of failures) and is dropped with `retain`.
    pub fn entry(&self, key: K, make: impl FnOnce() -> V) -> V {
        let inserted = self.entries.get_or_insert_with(&key, || {
            Ok::<_, std::convert::Infallible>(Entry {
                value: make(),
                good_until: i64::MAX,
                seen: None,
            })
        });
        match inserted {
            Ok(entry) => entry.value,
            Err(never) => match never {},
        }
    }

    /// Keeps only the entries `keep` says to.
    pub fn retain(&self, keep: impl Fn(&K, &V) -> bool) {
        self.entries.retain(|key, entry| keep(key, &entry.value));
    }

    pub fn forget<Q>(&self, key: &Q)
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.entries.remove(key);
    }

    /// Drops every entry that is no longer good: run on a timer, so that
    /// the map holds only what may still be used.
    pub fn purge(&self) {
        let now = self.clock.now_millis();
        self.entries.retain(|_, entry| self.good(entry, now));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::ManualClock;

    fn cache(capacity: usize) -> (Cache<String, u32>, ManualClock, Arc<Changes>) {
        let clock = ManualClock::new(1_000);
        let changes = Arc::new(Changes::default());
        let cache = Cache::new(capacity, Arc::new(clock.clone()), changes.clone());
        (cache, clock, changes)
    }

    #[test]
    fn a_read_is_reused_until_the_next_write() {
        let (cache, _, changes) = cache(10);
        cache.put_read("a".into(), 1, cache.seen());
        assert_eq!(cache.get("a"), Some(1));
        changes.note();
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_reused() {
        let (cache, _, changes) = cache(10);
        let seen = cache.seen();
        changes.note(); // committed while the read was under way
        cache.put_read("a".into(), 1, seen);
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn a_read_is_not_reused_past_its_bound_on_the_clock() {
        let (cache, clock, _) = cache(10);
        cache.put_read("a".into(), 1, cache.seen());
        assert_eq!(cache.get("a"), Some(1));
        clock.advance(1);
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn a_value_no_write_changes_lasts_until_its_moment() {
        let (cache, clock, changes) = cache(10);
        let until = clock.now_millis() + 5_000;
        cache.put_until("a".into(), 1, until);
        changes.note();
        clock.advance(4);
        assert_eq!(cache.get("a"), Some(1));
        clock.advance(1);
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn a_full_cache_evicts_one_at_a_time_and_purges_what_ended() {
        let (cache, clock, _) = cache(100);
        for i in 0..10_000u32 {
            cache.put_until(i.to_string(), i, clock.now_millis() + 1_000);
        }
        let kept = cache.len();
        assert!((50..=110).contains(&kept), "{kept} kept of 100");
        clock.advance(1);
        cache.purge();
        assert!(cache.is_empty());
    }
}
