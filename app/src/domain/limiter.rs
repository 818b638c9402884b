//! Budgets of failed attempts per key over a fixed window: per source
//! address, per console account, per signed-in browser.
//!
//! Keys are what strangers send (emails, addresses), so each is kept as a
//! 16-byte digest, in a map of bounded size that evicts one entry at a time
//! and is swept of ended windows on a timer. Budgets live in memory on each
//! node: a brake on guessing, not an account state. An attacker spreading
//! guesses over N nodes meets N × the limit, still far below what a
//! password of ours, let alone a 256-bit client secret, withstands.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::cache::Cache;
use super::clock::{Clock, Timestamp};
use super::store::Changes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures allowed per window.
    pub max_failures: u32,
    pub window_secs: i64,
}

/// A fixed-size digest of what a budget is kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key([u8; 16]);

impl Key {
    /// The key of `value` among budgets of `kind`.
    pub fn of(kind: &str, value: &[u8]) -> Self {
        let digest = Sha256::new()
            .chain_update(kind.as_bytes())
            .chain_update([0])
            .chain_update(value)
            .finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        Self(key)
    }

    /// A source address as the audit log writes it (anything else, such
    /// as "cli", is a key of its own).
    pub fn address_text(address: &str) -> Self {
        match address.parse::<IpAddr>() {
            Ok(ip) => Self::address(ip),
            Err(_) => Self::of("address", address.as_bytes()),
        }
    }

    /// A source address. An IPv6 host usually holds a whole /64, so that
    /// is what one budget covers.
    pub fn address(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => Self::of("ipv4", &v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::of("ipv4", &v4.octets()),
                None => Self::of("ipv6/64", &v6.octets()[..8]),
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Timestamp,
    failures: u32,
}

/// Failure counts under one policy, each kept until its window ends.
pub struct Limiter {
    policy: Policy,
    windows: Cache<Key, Arc<Mutex<Window>>>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("policy", &self.policy)
            .field("keys", &self.windows.len())
            .finish()
    }
}

impl Limiter {
    /// Keeps at most `capacity` keys; past that, the least useful entry
    /// goes (the cache's eviction), never the whole map.
    pub fn new(
        policy: Policy,
        capacity: usize,
        clock: Arc<dyn Clock>,
        changes: Arc<Changes>,
    ) -> Self {
        Self {
            policy,
            windows: Cache::new(capacity, clock, changes),
        }
    }

    /// Seconds until `key` may fail again, while its budget is spent.
    pub fn retry_after(&self, key: &Key, now: Timestamp) -> Option<u64> {
        let window = self.windows.get(key)?;
        let w = *lock(&window);
        self.spent(w, now)
    }

    fn spent(&self, w: Window, now: Timestamp) -> Option<u64> {
        let ends = w.started + self.policy.window_secs;
        (w.failures >= self.policy.max_failures && now < ends).then(|| (ends - now) as u64)
    }

    /// Counts a failure of `key`.
    pub fn fail(&self, key: &Key, now: Timestamp) {
        let window = self.window(key, now);
        let mut w = lock(&window);
        self.restart_if_ended(&mut w, now);
        w.failures = w.failures.saturating_add(1);
    }

    /// Takes one attempt from `key`'s budget before the work it guards, so
    /// that a burst of parallel attempts cannot all pass a check made
    /// before any of them failed. Refused with the seconds to wait once
    /// the budget is spent. A success gives the attempt back (`refund`).
    pub fn take(&self, key: &Key, now: Timestamp) -> Result<(), u64> {
        let window = self.window(key, now);
        let mut w = lock(&window);
        self.restart_if_ended(&mut w, now);
        if let Some(wait) = self.spent(*w, now) {
            return Err(wait);
        }
        w.failures += 1;
        Ok(())
    }

    /// Gives back an attempt `take` took, which turned out not to fail.
    pub fn refund(&self, key: &Key) {
        if let Some(window) = self.windows.get(key) {
            let mut w = lock(&window);
            w.failures = w.failures.saturating_sub(1);
        }
    }

    /// Forgets windows that have ended: run on a timer, so that the map
    /// holds only keys that failed recently.
    pub fn sweep(&self, now: Timestamp) {
        let window_secs = self.policy.window_secs;
        self.windows
            .retain(|_, window| lock(window).started + window_secs > now);
    }

    /// How many keys are tracked.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `key`'s window: one for all callers, even racing ones, so that
    /// none of their counts is lost.
    fn window(&self, key: &Key, now: Timestamp) -> Arc<Mutex<Window>> {
        self.windows.entry(*key, || {
            Arc::new(Mutex::new(Window {
                started: now,
                failures: 0,
            }))
        })
    }

    fn restart_if_ended(&self, w: &mut Window, now: Timestamp) {
        if now >= w.started + self.policy.window_secs {
            *w = Window {
                started: now,
                failures: 0,
            };
        }
    }
}

fn lock(window: &Mutex<Window>) -> std::sync::MutexGuard<'_, Window> {
    // A poisoned lock only means a panic mid-update of two integers.
    window.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keys each limiter holds at most (about 100 bytes each).
const CAPACITY: usize = 65_536;

/// Every budget a node keeps.
pub struct Limits {
    /// Client authentication failures per source address: 100 in 5
    /// minutes. There is no per-client budget: client IDs are public, and
    /// a budget anyone can spend would let anyone lock an integration out.
    pub client_addresses: Limiter,
    /// Console sign-in failures per source address: 20 in 15 minutes.
    pub sign_in_addresses: Limiter,
    /// Per account, for browsers that have not signed in to it before: 5
    /// in 15 minutes.
    pub sign_in_accounts: Limiter,
    /// Per browser that has signed in to the account before (its device
    /// cookie): 10 in 15 minutes, spent by that browser alone.
    pub sign_in_devices: Limiter,
    /// Open registrations (RFC 7591 without an initial access token) per
    /// source address: 10 an hour, taken before the work.
    pub open_registrations: Limiter,
    /// Failed second factors (codes, passkeys, a step-up's password) per
    /// account: 5 in 15 minutes. Only a holder of the password or of a
    /// session reaches them, so strangers cannot spend it.
    pub second_factors: Limiter,
    /// Passkey sign-ins begun by a browser without a session, per source
    /// address: 30 in 15 minutes. Each opens a session, a row kept for
    /// hours; a browser that keeps its cookie spends this once.
    pub passkey_sessions: Limiter,
    /// Rotations of one refresh family: `KEYPORT_REFRESH_ROTATIONS` a
    /// minute (30 by default). A client refreshes when its access token
    /// runs out; one that rotates faster is looping or is two parties, and
    /// each rotation writes rows.
    pub refresh_rotations: Limiter,
}

impl Limits {
    pub fn new(clock: Arc<dyn Clock>, changes: Arc<Changes>, refresh_rotations: u32) -> Self {
        let limiter = |max_failures, window_secs| {
            Limiter::new(
                Policy {
                    max_failures,
                    window_secs,
                },
                CAPACITY,
                clock.clone(),
                changes.clone(),
            )
        };
        Self {
            client_addresses: limiter(100, 300),
            sign_in_addresses: limiter(20, 900),
            sign_in_accounts: limiter(5, 900),
            sign_in_devices: limiter(10, 900),
            open_registrations: limiter(10, 3_600),
            second_factors: limiter(5, 900),
            passkey_sessions: limiter(30, 900),
            refresh_rotations: limiter(refresh_rotations, 60),
        }
    }

    pub fn sweep(&self, now: Timestamp) {
        for limiter in [
            &self.client_addresses,
            &self.sign_in_addresses,
            &self.sign_in_accounts,
            &self.sign_in_devices,
            &self.open_registrations,
            &self.second_factors,
            &self.passkey_sessions,
            &self.refresh_rotations,
        ] {
            limiter.sweep(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::ManualClock;

    fn limiter(capacity: usize) -> (Limiter, ManualClock) {
        let clock = ManualClock::new(0);
        let limiter = Limiter::new(
            Policy {
                max_failures: 3,
                window_secs: 60,
            },
            capacity,
            Arc::new(clock.clone()),
            Arc::default(),
        );
        (limiter, clock)
    }

    #[test]
    fn a_key_is_refused_after_its_limit_until_the_window_ends() {
        let (l, clock) = limiter(100);
        let alice = Key::of("account", b"alice");
        clock.advance(100);
        for _ in 0..3 {
            assert_eq!(l.retry_after(&alice, 100), None);
            l.fail(&alice, 100);
        }
        clock.advance(10);
        assert_eq!(l.retry_after(&alice, 110), Some(50));
        assert_eq!(l.retry_after(&Key::of("account", b"bob"), 110), None);
        clock.advance(50);
        assert_eq!(l.retry_after(&alice, 160), None);
    }

    #[test]
    fn taking_before_the_work_lets_no_burst_past_the_limit() {
        let (l, _) = limiter(100);
        let key = Key::of("account", b"alice");
        let taken: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..40)
                .map(|_| s.spawn(|| l.take(&key, 0).is_ok()))
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum()
        });
        assert_eq!(taken, 3);
        // A success gives its attempt back.
        l.refund(&key);
        assert_eq!(l.take(&key, 1), Ok(()));
        assert_eq!(l.take(&key, 1), Err(59));
    }

    #[test]
    fn the_map_stays_bounded_and_sweeps_ended_windows() {
        let (l, clock) = limiter(1_000);
        for i in 0..50_000u32 {
            l.fail(&Key::of("account", &i.to_be_bytes()), 0);
        }
        assert!(l.len() <= 1_100, "{} keys", l.len());
        clock.advance(30);
        l.sweep(30);
        assert!(!l.is_empty());
        clock.advance(30);
        l.sweep(60);
        assert!(l.is_empty());
    }

    #[test]
    fn keys_are_digests_and_ipv6_hosts_share_their_64() {
        let long = "x".repeat(16 * 1024);
        assert_eq!(
            Key::of("account", long.as_bytes()),
            Key::of("account", long.as_bytes())
        );
        assert_ne!(Key::of("account", b"a"), Key::of("device", b"a"));
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Key::address(a), Key::address(b));
        assert_ne!(Key::address(a), Key::address(c));
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(Key::address(v4), Key::address(mapped));
    }
}
