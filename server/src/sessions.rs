//! Console sessions in the same database as everything else, so that any
//! node serves any signed-in user. The session's user is kept in its own
//! column so that disabling a user can end their sessions at once. A
//! session read is remembered like the other reads every page makes
//! (`app::domain::memory`): a change on this node counts at once, one made
//! on another node as soon as it is heard of.
//!
//! A session is stored under the SHA-256 of its id, never the id itself: a
//! copy of the table (a backup, a read replica) holds nothing that works as
//! a cookie. Besides its idle expiry, a session ends at an absolute time
//! after it began (`KEYPORT_SESSION_LIFETIME`), read on Keyport's clock.

use app::domain::memory::StoredSession;
use app::domain::secrets::token_digest;
use app::domain::Keyport;
use async_trait::async_trait;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};

#[derive(Clone)]
pub struct DbSessionStore {
    keyport: Keyport,
    /// Seconds from sign-in after which a session ends, however active.
    lifetime: i64,
}

impl std::fmt::Debug for DbSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbSessionStore").finish_non_exhaustive()
    }
}

/// What a session is stored under.
fn stored_id(id: &Id) -> String {
    token_digest(&id.to_string())
}

impl DbSessionStore {
    pub fn new(keyport: Keyport, lifetime: i64) -> Self {
        Self { keyport, lifetime }
    }

    async fn read(&self, stored: &str) -> session_store::Result<Option<StoredSession>> {
        let row: Option<(Vec<u8>, i64, i64)> = sqlx::query_as(
            "SELECT data, expires_at, absolute_expires_at FROM sessions WHERE id = $1",
        )
        .bind(stored)
        .fetch_optional(&self.keyport.db.pool)
        .await
        .map_err(backend)?;
        let Some((data, idle_until, ends_at)) = row else {
            return Ok(None);
        };
        Ok(Some(StoredSession {
            data: serde_json::from_slice(&data)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?,
            idle_until,
            ends_at,
        }))
    }
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn encode(record: &Record) -> session_store::Result<Vec<u8>> {
    serde_json::to_vec(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))
}

fn user_of(record: &Record) -> Option<&str> {
    record
        .data
        .get(app::api::USER_ID_KEY)
        .and_then(|v| v.as_str())
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = encode(record)?;
        let ends = self.keyport.now() + self.lifetime;
        // Ids are 128 random bits; a collision is astronomically unlikely,
        // but a fresh id is cheap and the insert tells us.
        loop {
            let inserted = self
                .keyport
                .db
                .write_one(
                    sqlx::query(
                        "INSERT INTO sessions (id, user_id, data, expires_at, absolute_expires_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(stored_id(&record.id))
                    .bind(user_of(record))
                    .bind(&data)
                    .bind(record.expiry_date.unix_timestamp())
                    .bind(ends),
                )
                .await
                .map_err(backend)?;
            if inserted.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    /// Updates a session that exists. One ended meanwhile (signed out
    /// elsewhere, its user disabled, its password reset) stays ended: the
    /// request that loaded it before cannot bring it back.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.keyport
            .db
            .write_one(
                sqlx::query(
                    "UPDATE sessions SET user_id = $1, data = $2, expires_at = $3 WHERE id = $4",
                )
                .bind(user_of(record))
                .bind(encode(record)?)
                .bind(record.expiry_date.unix_timestamp())
                .bind(stored_id(&record.id)),
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let stored = stored_id(id);
        let session = self
            .keyport
            .memory
            .sessions
            .get_or_read(stored.as_str(), || self.read(&stored))
            .await?;
        let now = self.keyport.now();
        let Some(session) = session.filter(|s| s.ends_at > now) else {
            return Ok(None);
        };
        let record = Record {
            id: *id,
            data: session.data,
            expiry_date: OffsetDateTime::from_unix_timestamp(session.idle_until)
                .map_err(backend)?,
        };
        Ok((record.expiry_date > OffsetDateTime::now_utc()).then_some(record))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.keyport
            .db
            .write_one(sqlx::query("DELETE FROM sessions WHERE id = $1").bind(stored_id(id)))
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for DbSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.keyport
            .db
            .write_one(
                sqlx::query(
                    "DELETE FROM sessions WHERE expires_at <= $1 OR absolute_expires_at <= $2",
                )
                .bind(OffsetDateTime::now_utc().unix_timestamp())
                .bind(self.keyport.now()),
            )
            .await
            .map_err(backend)?;
        Ok(())
    }
}
