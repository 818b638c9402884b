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

use tokio::sync::{mpsc, oneshot};

use super::super::clock::Timestamp;
use super::super::store::{Db, Write};
use super::super::{Error, Result};
use super::refresh::{insert_token, record_jti};

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

/// Writes `rotations` in one transaction; for each, whether it spent its
/// token. Tokens are taken in the order of their hashes, the same on every
/// node.
async fn write_batch(db: &Db, rotations: &[&Rotation]) -> Result<Vec<bool>> {
    let mut order: Vec<usize> = (0..rotations.len()).collect();
    order.sort_by(|a, b| rotations[*a].spent.cmp(&rotations[*b].spent));
    let mut spent = vec![false; rotations.len()];
    let mut tx = db.write().await?;
    for i in order {
        spent[i] = rotate(&mut tx, rotations[i]).await?;
    }
    tx.commit_unremembered().await?;
    Ok(spent)
}

async fn rotate(tx: &mut Write, r: &Rotation) -> Result<bool> {
    let claimed = sqlx::query(
        "UPDATE refresh_tokens SET spent_at = $1 WHERE token_hash = $2 AND spent_at IS NULL",
    )
    .bind(r.now)
    .bind(&r.spent)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if claimed == 0 {
        return Ok(false);
    }
    insert_token(
        tx,
        &r.successor,
        &r.family_id,
        &r.scope,
        r.now,
        r.expires_at,
    )
    .await?;
    record_jti(tx, &r.family_id, &r.jti, r.access_expires_at).await?;
    sqlx::query("UPDATE refresh_families SET last_used_at = $1, last_address = $2 WHERE id = $3")
        .bind(r.now)
        .bind(&r.address)
        .bind(&r.family_id)
        .execute(&mut **tx)
        .await?;
    Ok(true)
}
