//! Refresh token rotations, written together: every refresh spends its
//! token, stores the successor, records the access token it bought (so
//! that revoking the family revokes it) and notes the family's last use.
//! Each commit waits for the disk (SQLite's `synchronous = FULL`,
//! PostgreSQL's WAL flush), so one writer per node takes every rotation
//! waiting and commits them in one transaction: under load, a disk wait
//! per batch rather than per refresh.
//!
//! Rows written here are never remembered by any node (`memory`), so a
//! batch tells no node to forget what it read.

use std::collections::HashSet;

use tokio::sync::{mpsc, oneshot};

use super::super::clock::Timestamp;
use super::super::store::{Db, Write};
use super::super::{Error, Result};

/// The most rotations one transaction takes.
const BATCH: usize = 64;

/// One refresh's writes.
#[derive(Debug, Clone)]
pub(crate) struct Rotation {
    /// The SHA-256 of the token spent, and of its successor.
    pub spent: String,
    pub successor: String,
    pub family_id: String,
    pub scope: String,
    pub now: Timestamp,
    pub expires_at: Timestamp,
    /// The access token issued with it.
    pub jti: String,
    pub access_expires_at: Timestamp,
    pub address: String,
}

type Job = (Rotation, oneshot::Sender<Result<bool>>);

/// The node's rotation writer.
pub(crate) struct Rotations {
    jobs: mpsc::Sender<Job>,
}

impl Rotations {
    /// Starts the writer; it ends when the last `Rotations` is dropped.
    pub(crate) fn start(db: Db) -> Self {
        let (jobs, waiting) = mpsc::channel(4 * BATCH);
        tokio::spawn(write_rotations(db, waiting));
        Self { jobs }
    }

    /// Writes `rotation` with whatever else waits. Whether this one spent
    /// its token: `false` when another request spent it first, here or on
    /// another node.
    pub(crate) async fn write(&self, rotation: Rotation) -> Result<bool> {
        let (answer, answered) = oneshot::channel();
        self.jobs
            .send((rotation, answer))
            .await
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

fn stopped() -> Error {
    Error::Config("the refresh token writer has stopped".into())
}

async fn write_rotations(db: Db, mut waiting: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(BATCH);
    while waiting.recv_many(&mut batch, BATCH).await > 0 {
        let rotations: Vec<&Rotation> = batch.iter().map(|(r, _)| r).collect();
        match write_batch(&db, &rotations).await {
            Ok(spent) => {
                for ((_, answer), spent) in batch.drain(..).zip(spent) {
                    let _ = answer.send(Ok(spent));
                }
            }
            // The database out of reach: every rotation waiting is told so
            // at once, rather than each waiting its own turn to fail.
            Err(e) if e.is_unavailable() => {
                for (_, answer) in batch.drain(..) {
                    let _ = answer.send(Err(Error::Database(sqlx::Error::PoolTimedOut)));
                }
            }
            // One rotation's failure (or a deadlock with another node's
            // batch) must not fail the others: each is written alone.
            Err(_) => {
                for (rotation, answer) in batch.drain(..) {
                    let _ = answer.send(write_batch(&db, &[&rotation]).await.map(|s| s[0]));
                }
            }
        }
    }
}

/// Writes `rotations` in one transaction of four statements, however
/// many there are; for each, whether it spent its token (of several
/// presenting one token, the first).
async fn write_batch(db: &Db, rotations: &[&Rotation]) -> Result<Vec<bool>> {
    let now = rotations.iter().map(|r| r.now).max().unwrap_or_default();
    let mut tx = db.write().await?;
    // Families revoked since their tokens were read spend nothing: a
    // revocation that commits first is seen here, and one that waits
    // for these rows sees the access tokens recorded below.
    let live = hold_live_families(&mut tx, rotations).await?;
    let alive: Vec<&Rotation> = rotations
        .iter()
        .copied()
        .filter(|r| live.contains(&r.family_id))
        .collect();
    let claimed = if alive.is_empty() {
        HashSet::new()
    } else {
        spend(&mut tx, &alive, now).await?
    };
    let mut taken = HashSet::new();
    let spent: Vec<bool> = rotations
        .iter()
        .map(|r| {
            live.contains(&r.family_id)
                && claimed.contains(&r.spent)
                && taken.insert(r.spent.as_str())
        })
        .collect();
    let won: Vec<&Rotation> = rotations
        .iter()
        .zip(&spent)
        .filter_map(|(r, spent)| spent.then_some(*r))
        .collect();
    if !won.is_empty() {
        store_successors(&mut tx, &won).await?;
        record_access_tokens(&mut tx, &won).await?;
        touch_families(&mut tx, &won, now).await?;
    }
    tx.commit_unremembered().await?;
    Ok(spent)
}

/// `$first, $first+1, …`: `count` numbered parameters.
fn parameters(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Locks the rows of the batch's families that are not revoked, and
/// returns their ids. A revocation ends families before it revokes their
/// access tokens (`refresh::revoke_families`), so the two wait for each
/// other on these rows.
async fn hold_live_families(tx: &mut Write, rotations: &[&Rotation]) -> Result<HashSet<String>> {
    let mut ids: Vec<&str> = rotations.iter().map(|r| r.family_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let sql = format!(
        "UPDATE refresh_families SET last_used_at = last_used_at \
         WHERE revoked_at IS NULL AND id IN ({}) RETURNING id",
        parameters(1, ids.len())
    );
    let mut update = sqlx::query_scalar::<_, String>(&sql);
    for id in ids {
        update = update.bind(id);
    }
    Ok(update.fetch_all(&mut **tx).await?.into_iter().collect())
}

/// Spends the tokens presented that are still unspent; the hashes of those
/// it spent.
async fn spend(tx: &mut Write, rotations: &[&Rotation], now: Timestamp) -> Result<HashSet<String>> {
    let mut hashes: Vec<&str> = rotations.iter().map(|r| r.spent.as_str()).collect();
    hashes.sort_unstable();
    hashes.dedup();
    let sql = format!(
        "UPDATE refresh_tokens SET spent_at = $1 WHERE spent_at IS NULL \
         AND token_hash IN ({}) RETURNING token_hash",
        parameters(2, hashes.len())
    );
    let mut update = sqlx::query_scalar::<_, String>(&sql).bind(now);
    for hash in hashes {
        update = update.bind(hash);
    }
    Ok(update.fetch_all(&mut **tx).await?.into_iter().collect())
}

async fn store_successors(tx: &mut Write, won: &[&Rotation]) -> Result<()> {
    let rows: Vec<String> = (0..won.len())
        .map(|i| format!("({})", parameters(5 * i + 1, 5)))
        .collect();
    let sql = format!(
        "INSERT INTO refresh_tokens (token_hash, family_id, scope, issued_at, expires_at) \
         VALUES {} ON CONFLICT (token_hash) DO NOTHING",
        rows.join(", ")
    );
    let mut insert = sqlx::query(&sql);
    for r in won {
        insert = insert
            .bind(&r.successor)
            .bind(&r.family_id)
            .bind(&r.scope)
            .bind(r.now)
            .bind(r.expires_at);
    }
    insert.execute(&mut **tx).await?;
    Ok(())
}

/// Records the access tokens bought, so that revoking a family revokes
/// them.
async fn record_access_tokens(tx: &mut Write, won: &[&Rotation]) -> Result<()> {
    let rows: Vec<String> = (0..won.len())
        .map(|i| format!("({})", parameters(3 * i + 1, 3)))
        .collect();
    let sql = format!(
        "INSERT INTO refresh_family_access_tokens (family_id, jti, expires_at) VALUES {}",
        rows.join(", ")
    );
    let mut insert = sqlx::query(&sql);
    for r in won {
        insert = insert
            .bind(&r.family_id)
            .bind(&r.jti)
            .bind(r.access_expires_at);
    }
    insert.execute(&mut **tx).await?;
    Ok(())
}

/// Notes each family's last use and the address it came from.
async fn touch_families(tx: &mut Write, won: &[&Rotation], now: Timestamp) -> Result<()> {
    let cases = (0..won.len())
        .map(|i| format!("WHEN ${} THEN ${}", 2 * i + 2, 2 * i + 3))
        .collect::<Vec<_>>()
        .join(" ");
    let ids = (0..won.len())
        .map(|i| format!("${}", 2 * i + 2))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "UPDATE refresh_families SET last_used_at = $1, \
         last_address = CASE id {cases} ELSE last_address END WHERE id IN ({ids})"
    );
    let mut update = sqlx::query(&sql).bind(now);
    for r in won {
        update = update.bind(&r.family_id).bind(&r.address);
    }
    update.execute(&mut **tx).await?;
    Ok(())
}
