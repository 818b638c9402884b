//! Scratch databases for Keyport's tests and benchmarks: an SQLite file in a
//! folder of its own, or a PostgreSQL database created for one run (with a
//! folder beside it for the master key). Either is gone once the value is:
//! `finish` removes it from async code, and dropping it does the same from
//! anywhere, a test that panicked included.

use std::future::Future;
use std::path::{Path, PathBuf};

use rand::Rng as _;
use sqlx::{Connection as _, Executor as _};

/// The PostgreSQL server used when the environment names none.
pub const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The PostgreSQL URL that the environment variable `var` holds, else the
/// local server's. It names an existing database to connect to while
/// creating and dropping scratch ones; theirs replaces its last segment.
pub fn postgres_admin_url(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| LOCAL_POSTGRES.into())
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot make the scratch folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("PostgreSQL at {url}: {source}")]
    Postgres { url: String, source: sqlx::Error },
}

/// A database of its own and a folder of its own, both named
/// `{prefix}_{12 random lowercase letters and digits}`: a valid PostgreSQL
/// identifier, so runs side by side never meet.
pub struct Scratch {
    url: String,
    dir: PathBuf,
    /// The PostgreSQL database to drop, if the scratch database is one.
    postgres: Option<Database>,
}

struct Database {
    admin_url: String,
    name: String,
}

impl Scratch {
    /// `keyport.db` in a new folder; Keyport creates the file when it opens it.
    pub fn sqlite(prefix: &str) -> Result<Self, Error> {
        let dir = std::env::temp_dir().join(unique_name(prefix));
        make_folder(&dir)?;
        Ok(Self {
            url: format!("sqlite://{}/keyport.db", dir.display()),
            dir,
            postgres: None,
        })
    }

    /// A new database on the PostgreSQL server `admin_url` reaches.
    pub async fn postgres(prefix: &str, admin_url: &str) -> Result<Self, Error> {
        let name = unique_name(prefix);
        let database = Database {
            admin_url: admin_url.to_owned(),
            name: name.clone(),
        };
        database.create().await?;
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url, |(base, _)| base);
        // Once the value exists, a failure drops the database with it.
        let scratch = Self {
            url: format!("{base}/{name}"),
            dir: std::env::temp_dir().join(&name),
            postgres: Some(database),
        };
        make_folder(&scratch.dir)?;
        Ok(scratch)
    }

    /// `postgres` for code that is not async (the process-level tests).
    pub fn postgres_blocking(prefix: &str, admin_url: &str) -> Result<Self, Error> {
        block_on(Self::postgres(prefix, admin_url))
    }

    /// The database URL, as `KEYPORT_DATABASE_URL` takes it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The scratch folder: the SQLite file, and room for a master key.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Drops the PostgreSQL database and removes the folder, saying whether
    /// the database could be dropped. Close every pool on it first.
    pub async fn finish(mut self) -> Result<(), Error> {
        if let Some(database) = self.postgres.take() {
            database.remove().await?;
        }
        Ok(()) // the folder goes with `self`
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(database) = self.postgres.take() {
            // Best effort, and never a panic: this may run while a failed
            // test unwinds, where a second panic would abort the run.
            let _ = on_own_thread(async move { database.remove().await });
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Database {
    async fn create(&self) -> Result<(), Error> {
        self.run(&format!("CREATE DATABASE {}", self.name)).await
    }

    /// Drops it, whoever is still connected (a node the test left running).
    async fn remove(&self) -> Result<(), Error> {
        self.run(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .await
    }

    /// One statement on the admin connection: `CREATE` and `DROP DATABASE`
    /// cannot run inside the database they name.
    async fn run(&self, sql: &str) -> Result<(), Error> {
        let failed = |source| Error::Postgres {
            url: self.admin_url.clone(),
            source,
        };
        let mut admin = sqlx::PgConnection::connect(&self.admin_url)
            .await
            .map_err(failed)?;
        admin.execute(sql).await.map_err(failed)?;
        admin.close().await.map_err(failed)
    }
}

/// Runs `future` to completion from code that is not async, whether or not
/// the calling thread is already inside a tokio runtime.
pub fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    on_own_thread(future).unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// A runtime of its own on a thread of its own: starting one on a thread
/// that already runs a runtime (a `#[tokio::test]`) panics, so the future
/// never runs on the caller's thread.
fn on_own_thread<F>(future: F) -> std::thread::Result<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime")
                    .block_on(future)
            })
            .join()
    })
}

fn unique_name(prefix: &str) -> String {
    let suffix: String = rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(12)
        .map(|byte| char::from(byte).to_ascii_lowercase())
        .collect();
    format!("{prefix}_{suffix}")
}

fn make_folder(path: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(path).map_err(|source| Error::Folder {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sqlite_scratch_is_a_file_in_a_folder_removed_with_it() {
        let scratch = Scratch::sqlite("keyport_scratch").unwrap();
        let dir = scratch.dir().to_owned();
        assert!(dir.is_dir());
        assert_eq!(
            scratch.url(),
            format!("sqlite://{}/keyport.db", dir.display())
        );
        drop(scratch);
        assert!(!dir.exists());
    }

    #[test]
    fn names_are_postgres_identifiers_and_differ() {
        let (a, b) = (unique_name("keyport_test"), unique_name("keyport_test"));
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
    }

    /// Dropped inside a runtime, as a panicking `#[tokio::test]` drops it.
    #[tokio::test]
    async fn a_postgres_scratch_is_dropped_with_the_value_inside_a_runtime() {
        let admin = postgres_admin_url("KEYPORT_TEST_POSTGRES");
        let scratch = Scratch::postgres("keyport_scratch", &admin).await.unwrap();
        let name = scratch.url().rsplit_once('/').unwrap().1.to_owned();
        let exists = |name: String| {
            let admin = admin.clone();
            block_on(async move {
                let mut connection = sqlx::PgConnection::connect(&admin).await.unwrap();
                let found: Option<i32> =
                    sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                        .bind(name)
                        .fetch_optional(&mut connection)
                        .await
                        .unwrap();
                found.is_some()
            })
        };
        assert!(exists(name.clone()));
        drop(scratch);
        assert!(!exists(name));
    }
}
