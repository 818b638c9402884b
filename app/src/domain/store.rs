//! The database: one `sqlx::AnyPool` over SQLite (embedded default) or
//! PostgreSQL (several nodes), with one set of migrations per engine.
//!
//! Queries are written once, in the SQL both engines accept: `$n`
//! placeholders, `BIGINT` Unix times, `TEXT` identifiers.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Executor, Transaction};

use super::Error;

/// Counts this node's writes (and other nodes', as their notifications
/// arrive): a read made before one is not reused after it.
#[derive(Debug, Default)]
pub struct Changes(std::sync::atomic::AtomicU64);

impl Changes {
    /// The count now: take it before reading, and remember the read under it.
    pub fn seen(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Call once a write has committed.
    pub fn note(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl FromStr for Engine {
    type Err = Error;

    fn from_str(url: &str) -> Result<Self, Error> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(Error::Config(
                "the database URL must start with sqlite: or postgres://".into(),
            ))
        }
    }
}

#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub engine: Engine,
    /// This node's writes: what was read before one is not reused after it.
    pub changes: Arc<Changes>,
}

/// How long a request waits for a database connection before it fails with
/// "temporarily unavailable" instead of hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

impl Db {
    /// Opens the pool. An SQLite file (and its folder) is created if missing
    /// and put in WAL mode.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        install_default_drivers();
        let engine: Engine = url.parse()?;
        let url = match engine {
            Engine::Sqlite => sqlite_url_creating_folder(url)?,
            Engine::Postgres => url.to_owned(),
        };
        let options = AnyPoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT);
        let pool = match engine {
            Engine::Sqlite => {
                options
                    .max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?
            }
            Engine::Postgres => options.max_connections(16).connect(&url).await?,
        };
        let changes = Arc::<Changes>::default();
        if engine == Engine::Postgres {
            tokio::spawn(hear_other_nodes(url, Arc::downgrade(&changes)));
        }
        Ok(Self {
            pool,
            engine,
            changes,
        })
    }

    /// Begins a write: the one way to change the database. Its
    /// `commit` notes the change here and (on PostgreSQL) tells every other
    /// node, so that nothing read before it is answered from memory after
    /// it; a write cannot forget to. Dropped without `commit`, it rolls
    /// back.
    ///
    /// On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`),
    /// waiting its turn behind other writers: a transaction that read first
    /// and took the lock only at its first write would be refused "database
    /// is locked", whatever the busy timeout, had another connection
    /// written in between.
    pub async fn write(&self) -> Result<Write, sqlx::Error> {
        let tx = match self.engine {
            Engine::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Engine::Postgres => self.pool.begin().await?,
        };
        Ok(Write {
            tx,
            db: self.clone(),
        })
    }

    /// One statement as a write of its own (`write`, executed, committed).
    pub async fn write_one<'q>(
        &self,
        statement: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<sqlx::any::AnyQueryResult, sqlx::Error> {
        let mut tx = self.write().await?;
        let done = statement.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Notes a write on this node and, on PostgreSQL, tells every other
    /// node, so that none answers from a row read before it.
    async fn changed(&self) {
        self.changes.note();
        if self.engine == Engine::Postgres {
            let told = sqlx::query("SELECT pg_notify($1, '')")
                .bind(CHANGES_CHANNEL)
                .execute(&self.pool)
                .await;
            if let Err(e) = told {
                // The other nodes still stop answering from older reads
                // within `FRESH_FOR`.
                tracing::warn!(error = %e, "could not tell the other nodes of a change");
            }
        }
    }

    pub async fn migrate(&self) -> Result<(), Error> {
        let migrator = match self.engine {
            Engine::Sqlite => &SQLITE_MIGRATIONS,
            Engine::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// True when the database answers a trivial query within the time a
    /// request may wait for a connection.
    pub async fn is_healthy(&self) -> bool {
        let ping = sqlx::query("SELECT 1").execute(&self.pool);
        matches!(tokio::time::timeout(ACQUIRE_TIMEOUT, ping).await, Ok(Ok(_)))
    }
}

/// A transaction that writes (`Db::write`): statements run on it as on a
/// connection (`&mut *write`).
pub struct Write {
    tx: Transaction<'static, Any>,
    db: Db,
}

impl Write {
    /// Commits and notes the change (even when the outcome is unknown), so
    /// that no row read before it is answered from memory after it.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let committed = self.tx.commit().await;
        self.db.changed().await;
        committed
    }

    /// Commits a write of rows no node keeps in memory (refresh token
    /// rotations): nothing read before it goes stale, so no node is told.
    pub async fn commit_unremembered(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    /// Rolls back at once, releasing the write lock (SQLite) or the rows
    /// taken (PostgreSQL) before the caller goes on.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for Write {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for Write {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

/// The unique constraint a failed write broke, by its name in the
/// migrations. PostgreSQL names it; SQLite names the index, or the
/// columns of a constraint, which map to the same names here.
pub fn broken_unique(e: &sqlx::Error) -> Option<&'static str> {
    const CONSTRAINTS: [(&str, &str); 6] = [
        ("users_email_key", "users.email"),
        ("domains_name_key", "domains.customer_id, domains.name"),
        ("domains_name_lower_key", "index 'domains_name_lower_key'"),
        ("applications_name_key", "index 'applications_name_key'"),
        ("applications_client_id_key", "applications.client_id"),
        ("permissions_pkey", "permissions.scope"),
    ];
    let sqlx::Error::Database(e) = e else {
        return None;
    };
    if !e.is_unique_violation() {
        return None;
    }
    let message = e.message();
    CONSTRAINTS
        .iter()
        .find(|(name, columns)| {
            e.constraint() == Some(*name) || message.ends_with(&format!("failed: {columns}"))
        })
        .map(|(name, _)| *name)
}

/// A write's result, with a broken unique constraint named in `fields` as
/// that field's error (realworld's `on_constraint`); any other failure as
/// it is.
pub fn on_constraint<T>(
    result: Result<T, sqlx::Error>,
    fields: &[(&str, super::Invalid)],
) -> Result<T, Error> {
    result.map_err(|e| {
        let field = broken_unique(&e)
            .and_then(|name| fields.iter().find(|(constraint, _)| *constraint == name));
        match field {
            Some((_, invalid)) => Error::Invalid(vec![invalid.clone()]),
            None => e.into(),
        }
    })
}

/// Whether a database error means "unreachable for now" (the connection
/// failed, timed out or was cut; the server is shutting down, refusing
/// connections or out of room) rather than a fault of the query itself.
pub fn is_unreachable(e: &sqlx::Error) -> bool {
    use sqlx::Error as E;
    match e {
        E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::Tls(_) | E::WorkerCrashed => true,
        E::Database(e) => e.code().is_some_and(|code| {
            // PostgreSQL: class 08 (connection exception), 57P (operator
            // intervention: shutdown, cannot connect now), 53 (insufficient
            // resources). SQLite: busy, locked, I/O error, full, cannot open.
            code.starts_with("08")
                || code.starts_with("57P")
                || code.starts_with("53")
                || code
                    .parse::<u32>()
                    .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 10 | 13 | 14))
        }),
        _ => false,
    }
}

/// How long a notification listener waits before it looks again: the bound
/// on what a node may miss while its listening connection is down.
const FRESH_FOR: Duration = Duration::from_millis(super::cache::FRESH_FOR_MS as u64);

/// The PostgreSQL channel on which nodes announce their writes.
const CHANGES_CHANNEL: &str = "keyport_changes";

/// Listens for other nodes' writes and notes each here, for as long as the
/// node's `Db` lives. While the listener is cut off, notes that a change
/// may have been missed, and so reads from before then are not reused.
async fn hear_other_nodes(url: String, changes: std::sync::Weak<Changes>) {
    use sqlx::postgres::PgListener;

    let note = || changes.upgrade().map(|c| c.note()).is_some();
    while note() {
        let mut listener = match PgListener::connect(&url).await {
            Ok(listener) => listener,
            Err(_) => {
                tokio::time::sleep(FRESH_FOR).await;
                continue;
            }
        };
        if listener.listen(CHANGES_CHANNEL).await.is_err() {
            tokio::time::sleep(FRESH_FOR).await;
            continue;
        }
        note();
        // Wake at least once per bound to see whether the node is gone.
        loop {
            match tokio::time::timeout(FRESH_FOR, listener.try_recv()).await {
                // A change elsewhere, or a dropped connection (it reconnects
                // on the next call; what was sent meanwhile is lost).
                Ok(Ok(_)) => {
                    if !note() {
                        return;
                    }
                }
                Ok(Err(_)) => break,
                Err(_) if changes.strong_count() == 0 => return,
                Err(_) => {}
            }
        }
    }
}

/// Adds `mode=rwc` so that SQLite creates the file, and creates its folder.
fn sqlite_url_creating_folder(url: &str) -> Result<String, Error> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path != ":memory:" {
        let dir = std::path::Path::new(path).parent();
        if let Some(dir) = dir.filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::Config(format!(
                    "cannot create database folder {}: {e}",
                    dir.display()
                ))
            })?;
        }
    }
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    if !params.iter().any(|p| p.starts_with("mode=")) {
        params.push("mode=rwc");
    }
    Ok(format!("sqlite://{path}?{}", params.join("&")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_follows_the_url_scheme() {
        assert_eq!(
            "sqlite://data/k.db".parse::<Engine>().unwrap(),
            Engine::Sqlite
        );
        assert_eq!(
            "postgres://h/db".parse::<Engine>().unwrap(),
            Engine::Postgres
        );
        assert!("mysql://h/db".parse::<Engine>().is_err());
    }

    #[test]
    fn sqlite_urls_gain_create_mode() {
        let dir = std::env::temp_dir().join("keyport-url-test");
        let url = format!("sqlite://{}/k.db", dir.display());
        assert_eq!(
            sqlite_url_creating_folder(&url).unwrap(),
            format!("sqlite://{}/k.db?mode=rwc", dir.display())
        );
        assert!(dir.is_dir());
        assert_eq!(
            sqlite_url_creating_folder("sqlite::memory:?cache=shared").unwrap(),
            "sqlite://:memory:?cache=shared&mode=rwc"
        );
    }

    #[tokio::test]
    async fn a_write_that_reads_first_waits_for_another_writer_instead_of_failing() {
        let dir = std::env::temp_dir().join(format!("keyport-store-{}", uuid::Uuid::new_v4()));
        let db = Db::connect(&format!("sqlite://{}/k.db", dir.display()))
            .await
            .unwrap();
        for setup in [
            "CREATE TABLE counts (n BIGINT NOT NULL)",
            "INSERT INTO counts (n) VALUES (0)",
        ] {
            sqlx::query(setup).execute(&db.pool).await.unwrap();
        }
        let count = || sqlx::query_scalar::<_, i64>("SELECT n FROM counts");

        let mut tx = db.write().await.unwrap();
        let n = count().fetch_one(&mut *tx).await.unwrap();
        let other = tokio::spawn({
            let pool = db.pool.clone();
            async move {
                sqlx::query("UPDATE counts SET n = n + 10")
                    .execute(&pool)
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        sqlx::query("UPDATE counts SET n = $1")
            .bind(n + 1)
            .execute(&mut *tx)
            .await
            .expect("the write is not refused");
        tx.commit().await.unwrap();
        other
            .await
            .unwrap()
            .expect("the other writer waited its turn");
        // Neither write was lost.
        assert_eq!(count().fetch_one(&db.pool).await.unwrap(), 11);

        db.pool.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }
}
