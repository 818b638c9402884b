//! Console passwords with argon2id, run at most one per core with a short
//! queue in front. Each run holds 19 MiB for tens of milliseconds: left
//! unbounded, a burst of sign-ins (or guesses) holds as many of them at
//! once as it has requests in flight. Past the queue a caller is told at
//! once to come back shortly (`Error::Busy`) rather than made to wait.
//!
//! Client secrets are not hashed here: they are random, and a keyed hash
//! checks them (`secrets::MasterKey::secret_hash`). The one exception is a
//! client secret still stored as argon2id from before keyed hashes, checked
//! here once and then replaced.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use super::secrets::Secret;
use super::{Error, Result};

/// Callers that may wait for a turn, per core, besides the one hashing.
const QUEUE_PER_CORE: usize = 4;

/// Seconds a caller turned away is asked to wait (`Retry-After`).
pub const BUSY_RETRY_AFTER: u64 = 1;

/// argon2id with the OWASP-recommended minimum: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Runs argon2 jobs: `running` of them at once, and no more than `admitted`
/// running or waiting.
pub struct Hasher {
    running: Semaphore,
    admitted: Semaphore,
    admits: usize,
}

impl Hasher {
    /// One job per core, and `QUEUE_PER_CORE` waiting per core.
    pub fn per_core() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores, cores * QUEUE_PER_CORE)
    }

    pub fn new(running: usize, queue: usize) -> Self {
        Self {
            running: Semaphore::new(running),
            admitted: Semaphore::new(running + queue),
            admits: running + queue,
        }
    }

    /// How many callers it holds at most, hashing or waiting.
    pub fn admits(&self) -> usize {
        self.admits
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _admitted = self.admitted.try_acquire().map_err(|_| Error::Busy {
            retry_after: BUSY_RETRY_AFTER,
        })?;
        let _turn = self
            .running
            .acquire()
            .await
            .expect("the hasher's semaphore is never closed");
        Ok(tokio::task::spawn_blocking(job).await?)
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: impl Secret) -> Result<String> {
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2()
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| Error::Config(format!("argon2: {e}")))
        })
        .await?
    }

    /// Whether `password` matches `hash`. Without a hash (no such user),
    /// the check runs against a decoy, so that a wrong email costs as long
    /// as a wrong password.
    pub async fn verify(&self, hash: Option<String>, password: impl Secret) -> Result<bool> {
        self.run(move || {
            let known = hash.is_some();
            let hash = hash.unwrap_or_else(decoy_hash);
            let matched = PasswordHash::new(&hash).is_ok_and(|parsed| {
                argon2()
                    .verify_password(password.expose().as_bytes(), &parsed)
                    .is_ok()
            });
            known && matched
        })
        .await
    }
}

/// A hash of nothing anyone knows.
fn decoy_hash() -> String {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY
        .get_or_init(|| {
            let salt = SaltString::generate(&mut OsRng);
            argon2()
                .hash_password(super::secrets::random_token(32).as_bytes(), &salt)
                .map(|h| h.to_string())
                .unwrap_or_default()
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::secrets::Password;

    #[tokio::test]
    async fn passwords_hash_with_argon2id_and_verify() {
        let hasher = Hasher::new(1, 1);
        let hash = hasher
            .hash(Password::new("correct horse battery"))
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let verify = |hash: Option<&str>, password: &str| {
            hasher.verify(hash.map(str::to_owned), Password::new(password))
        };
        assert!(verify(Some(&hash), "correct horse battery").await.unwrap());
        assert!(!verify(Some(&hash), "wrong horse battery").await.unwrap());
        assert!(!verify(Some("not a hash"), "x").await.unwrap());
        assert!(!verify(None, "correct horse battery").await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_its_queue_a_caller_is_turned_away_at_once() {
        let hasher = std::sync::Arc::new(Hasher::new(1, 2));
        let started = std::time::Instant::now();
        let calls: Vec<_> = (0..12)
            .map(|_| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.verify(None, Password::new("guess")).await })
            })
            .collect();
        let mut busy = 0;
        for call in calls {
            match call.await.unwrap() {
                Ok(matched) => assert!(!matched),
                Err(Error::Busy { retry_after }) => {
                    assert_eq!(retry_after, BUSY_RETRY_AFTER);
                    busy += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
        // One running and two waiting at most: the other nine were told
        // to come back, without a hash run for them.
        assert!(busy >= 9, "{busy} turned away");
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
    }
}
