//! Fixed-window counters of failed attempts, per account and per address.
//!
//! Kept in memory on each node: a lockout is a brake on guessing, and an
//! attacker spreading guesses over N nodes still meets N × the limit, which
//! stays far below what a password or secret of ours can withstand.

use std::collections::HashMap;
use std::sync::Mutex;

use super::clock::Timestamp;

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub max_failures: u32,
    pub window_secs: i64,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Timestamp,
    failures: u32,
}

#[derive(Debug)]
pub struct Limiter {
    per_key: Policy,
    per_address: Policy,
    windows: Mutex<HashMap<String, Window>>,
}

/// Past this many tracked keys, expired windows are swept on the next failure.
const SWEEP_AT: usize = 10_000;

impl Limiter {
    pub fn new(per_key: Policy, per_address: Policy) -> Self {
        Self {
            per_key,
            per_address,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Console sign-in: 5 failures per account and 20 per address in 15 minutes.
    pub fn sign_in() -> Self {
        Self::new(
            Policy {
                max_failures: 5,
                window_secs: 900,
            },
            Policy {
                max_failures: 20,
                window_secs: 900,
            },
        )
    }

    /// Client authentication at the token endpoint: 20 failures per client
    /// ID and 100 per address in 5 minutes.
    pub fn client_auth() -> Self {
        Self::new(
            Policy {
                max_failures: 20,
                window_secs: 300,
            },
            Policy {
                max_failures: 100,
                window_secs: 300,
            },
        )
    }

    /// Seconds to wait before `key` or `address` may try again, if either is
    /// locked out.
    pub fn retry_after(&self, key: &str, address: &str, now: Timestamp) -> Option<u64> {
        let windows = self.lock();
        [
            (format!("k:{key}"), self.per_key),
            (format!("a:{address}"), self.per_address),
        ]
        .iter()
        .filter_map(|(k, policy)| {
            let w = windows.get(k)?;
            let ends = w.started + policy.window_secs;
            (w.failures >= policy.max_failures && now < ends).then(|| (ends - now) as u64)
        })
        .max()
    }

    pub fn record_failure(&self, key: &str, address: &str, now: Timestamp) {
        let mut windows = self.lock();
        if windows.len() > SWEEP_AT {
            let longest = self.per_key.window_secs.max(self.per_address.window_secs);
            windows.retain(|_, w| w.started + longest > now);
        }
        for (k, policy) in [
            (format!("k:{key}"), self.per_key),
            (format!("a:{address}"), self.per_address),
        ] {
            let w = windows.entry(k).or_insert(Window {
                started: now,
                failures: 0,
            });
            if now >= w.started + policy.window_secs {
                *w = Window {
                    started: now,
                    failures: 0,
                };
            }
            w.failures += 1;
        }
    }

    /// A success clears the account's count (not the address's: one good
    /// password must not reset a spray across many accounts).
    pub fn record_success(&self, key: &str) {
        self.lock().remove(&format!("k:{key}"));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> Limiter {
        Limiter::new(
            Policy {
                max_failures: 3,
                window_secs: 60,
            },
            Policy {
                max_failures: 5,
                window_secs: 60,
            },
        )
    }

    #[test]
    fn locks_an_account_after_its_limit_until_the_window_ends() {
        let l = limiter();
        for _ in 0..3 {
            assert_eq!(l.retry_after("alice", "1.1.1.1", 100), None);
            l.record_failure("alice", "1.1.1.1", 100);
        }
        assert_eq!(l.retry_after("alice", "2.2.2.2", 110), Some(50));
        assert_eq!(l.retry_after("bob", "2.2.2.2", 110), None);
        assert_eq!(l.retry_after("alice", "2.2.2.2", 160), None);
    }

    #[test]
    fn locks_an_address_spraying_many_accounts() {
        let l = limiter();
        for i in 0..5 {
            l.record_failure(&format!("user{i}"), "9.9.9.9", 0);
        }
        assert_eq!(l.retry_after("someone-else", "9.9.9.9", 1), Some(59));
    }

    #[test]
    fn success_resets_the_account_only() {
        let l = limiter();
        for _ in 0..3 {
            l.record_failure("alice", "1.1.1.1", 0);
        }
        l.record_success("alice");
        assert_eq!(l.retry_after("alice", "3.3.3.3", 1), None);
    }
}
