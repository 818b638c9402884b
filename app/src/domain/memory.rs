//! Everything a node remembers of what it read, in one place. Every page and
//! API call needs the same few reads (the session, its user, the domain,
//! the domain's applications, whether a token was revoked); each is read
//! once and reused until this node writes anything or
//! `cache::FRESH_FOR_MS` has passed. A write on this node shows at once; a
//! write made elsewhere as soon as its notification arrives (PostgreSQL),
//! and within `FRESH_FOR_MS` in any case.
//!
//! Each cache here is a `cache::Cache`: bounded, evicting one entry at a
//! time, read on Keyport's clock. Nothing else in Keyport keeps a map of
//! what it read or made.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::accounts::User;
use super::apis::Apis;
use super::applications::DomainApplications;
use super::cache::Cache;
use super::clients::ClientRows;
use super::clock::{Clock, Timestamp};
use super::store::Changes;
use super::tenancy::Domain;
use super::tokens::AccessClaims;

/// A console session as stored: what the session layer keeps in it, when
/// it ends for being idle (wall clock) and when it ends at the latest
/// (Keyport's clock).
#[derive(Debug, Clone)]
pub struct StoredSession {
    pub data: HashMap<String, serde_json::Value>,
    pub idle_until: Timestamp,
    pub ends_at: Timestamp,
}

/// Markup or JSON made from a read, by what it was made from (a digest).
pub type Made = ([u8; 32], Arc<str>);

pub struct Memory {
    /// By user id.
    pub users: Cache<String, Option<User>>,
    /// By domain id.
    pub domains: Cache<String, Option<Domain>>,
    /// Every domain, for a super admin's switcher.
    pub all_domains: Cache<(), Vec<Domain>>,
    /// Every API with its permissions (`apis`): what a token's `resource`
    /// and scope are checked against.
    pub apis: Cache<(), Arc<Apis>>,
    /// A domain's applications, by domain id.
    pub applications: Cache<String, Arc<DomainApplications>>,
    /// By client ID: the client's row with its permissions.
    pub client_rows: Cache<String, ClientRows>,
    /// By client ID: the owner of an application in use, and when it was
    /// last restored.
    pub client_owners: Cache<String, Option<(User, Option<i64>)>>,
    /// By token id (`jti`): whether it was revoked.
    pub revoked: Cache<String, bool>,
    /// Access tokens whose signature and claims checked out, by SHA-256 of
    /// the token, until they expire: an integration presents the same token
    /// for up to an hour, and a signature check costs far more than a hash.
    pub verified_tokens: Cache<[u8; 32], AccessClaims>,
    /// By SHA-256 of the session id.
    pub sessions: Cache<String, Option<StoredSession>>,
    /// Views made from a read, by (kind, which), reused while what they
    /// were made from is the same: the management API's client list, the
    /// portal list's rows.
    views: Cache<(&'static str, String), Made>,
    /// Numbers reads of a domain's applications, so that a view made from
    /// one is known to be made from it.
    reads: AtomicU64,
}

impl Memory {
    pub fn new(clock: Arc<dyn Clock>, changes: Arc<Changes>) -> Self {
        let (clock, changes) = (&clock, &changes);
        Self {
            users: Cache::new(10_000, clock.clone(), changes.clone()),
            domains: Cache::new(1_000, clock.clone(), changes.clone()),
            all_domains: Cache::new(1, clock.clone(), changes.clone()),
            apis: Cache::new(1, clock.clone(), changes.clone()),
            applications: Cache::new(1_000, clock.clone(), changes.clone()),
            client_rows: Cache::new(100_000, clock.clone(), changes.clone()),
            client_owners: Cache::new(100_000, clock.clone(), changes.clone()),
            revoked: Cache::new(100_000, clock.clone(), changes.clone()),
            verified_tokens: Cache::new(100_000, clock.clone(), changes.clone()),
            sessions: Cache::new(100_000, clock.clone(), changes.clone()),
            views: Cache::new(256, clock.clone(), changes.clone()),
            reads: AtomicU64::new(0),
        }
    }

    /// The number of a new read, for `DomainApplications::read`.
    pub fn next_read(&self) -> u64 {
        self.reads.fetch_add(1, Ordering::Relaxed)
    }

    /// The view of `kind` for `which`, as made before from the same `from`
    /// (a digest of what it shows), or `make`'s, which is then kept. Making
    /// the view is most of the cost of what shows it (63 rows of markup, or
    /// of JSON), and what it shows changes far less often than it is shown.
    pub fn view<E>(
        &self,
        kind: &'static str,
        which: String,
        from: [u8; 32],
        make: impl FnOnce() -> Result<String, E>,
    ) -> Result<Arc<str>, E> {
        let key = (kind, which);
        if let Some((made_from, view)) = self.views.get(&key) {
            if made_from == from {
                return Ok(view);
            }
        }
        let view: Arc<str> = make()?.into();
        // Good for as long as what it shows is the same: `from` says when.
        self.views.put_until(key, (from, view.clone()), i64::MAX);
        Ok(view)
    }

    /// Drops what can no longer be used (run on a timer).
    pub fn purge(&self) {
        self.users.purge();
        self.domains.purge();
        self.all_domains.purge();
        self.apis.purge();
        self.applications.purge();
        self.client_rows.purge();
        self.client_owners.purge();
        self.revoked.purge();
        self.verified_tokens.purge();
        self.sessions.purge();
        self.views.purge();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::ManualClock;

    #[test]
    fn a_view_is_made_again_once_what_it_shows_changes() {
        let memory = Memory::new(Arc::new(ManualClock::new(0)), Arc::default());
        let view = |from: u8, made: &'static str| {
            memory
                .view("rows", "domain".into(), [from; 32], || {
                    Ok::<_, ()>(made.to_owned())
                })
                .unwrap()
        };
        assert_eq!(&*view(1, "first"), "first");
        // Made from the same: the view made before.
        assert_eq!(&*view(1, "again"), "first");
        // Made from something else (a row changed): made afresh.
        assert_eq!(&*view(2, "second"), "second");
        assert_eq!(&*view(2, "again"), "second");
    }
}
