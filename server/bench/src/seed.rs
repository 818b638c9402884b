//! The bulk seeding of `keyport-bench scale`: a stopped node's SQLite file
//! filled through SQL up to a large customer's size, far faster than
//! through the API.

use std::ops::Range;
use std::str::FromStr as _;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use keyport_scratch::Scratch;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteSynchronous};
use sqlx::{Connection as _, Executor as _};

use crate::scale::{per_domain, Size};
use crate::server::APPLICATIONS;
use crate::Result;

/// Audit entries written per transaction, so that progress shows.
const AUDIT_CHUNK: i64 = 1_000_000;
/// How far back the seeded audit history goes, in seconds.
const AUDIT_SPAN: i64 = 365 * 86_400;
/// A random version-4 UUID in text, as SQLite computes one per row.
const UUID: &str = "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' \
     || substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) \
     || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))";

/// Seeds the stopped server's database up to `size`, and returns every
/// client ID. Every application is given the secret of the one whose client
/// ID is `template` (its hash is keyed by the secret alone), so that one
/// secret gets a token for each; their sealed copies, which only a reveal
/// opens, stay the template's.
pub(crate) async fn seed(database: &Scratch, template: &str, size: &Size) -> Result<Vec<String>> {
    let options = SqliteConnectOptions::from_str(database.url())
        .map_err(sql)?
        // A crash while seeding loses only this run, so no commit waits for
        // the disk.
        .synchronous(SqliteSynchronous::Off)
        .pragma("cache_size", "-1048576")
        .pragma("temp_store", "MEMORY");
    let mut db = SqliteConnection::connect_with(&options)
        .await
        .map_err(sql)?;
    let now = unix_now();
    timed("domains and users", seed_accounts(&mut db, size, now)).await?;
    timed(
        "applications",
        seed_applications(&mut db, template, size, now),
    )
    .await?;
    timed("audit entries", seed_audit(&mut db, size, now)).await?;
    timed(
        "revoked tokens and sessions",
        seed_tokens(&mut db, size, now),
    )
    .await?;
    // The server would otherwise open the file with gigabytes in its WAL.
    timed("WAL checkpoint", async {
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .map(drop)
            .map_err(sql)
    })
    .await?;
    let client_ids = sqlx::query_scalar("SELECT client_id FROM applications ORDER BY client_id")
        .fetch_all(&mut db)
        .await
        .map_err(sql)?;
    db.close().await.map_err(sql)?;
    Ok(client_ids)
}

/// The domains beside the default one, and the users spread over all of
/// them (user n in domain n mod domains; the first of each domain is its
/// admin). The temporary tables number them for the inserts that follow.
async fn seed_accounts(db: &mut SqliteConnection, size: &Size, now: i64) -> Result<()> {
    let (domains, users) = (size.domains, size.users);
    let mut tx = db.begin().await.map_err(sql)?;
    tx.execute("CREATE TEMP TABLE scale_domains (n INTEGER PRIMARY KEY, id TEXT NOT NULL)")
        .await
        .map_err(sql)?;
    let existing = tx
        .execute("INSERT INTO scale_domains (n, id) SELECT 0, id FROM domains")
        .await
        .map_err(sql)?;
    if existing.rows_affected() != 1 {
        return Err("the small deployment should hold exactly one domain".into());
    }
    let statements = [
        series(
            1..domains,
            &format!("INSERT INTO scale_domains (n, id) SELECT i, {UUID} FROM s"),
        ),
        format!(
            "INSERT INTO domains (id, customer_id, name, app_limit, created_at) \
             SELECT d.id, (SELECT customer_id FROM domains LIMIT 1), \
             printf('Division %03d', d.n), {APPLICATIONS}, {now} \
             FROM scale_domains d WHERE d.n > 0"
        ),
        "CREATE TEMP TABLE scale_users (n INTEGER PRIMARY KEY, id TEXT NOT NULL, \
         email TEXT NOT NULL, domain_n INTEGER NOT NULL)"
            .into(),
        series(
            0..users,
            &format!(
                "INSERT INTO scale_users (n, id, email, domain_n) \
                 SELECT i, {UUID}, printf('user%04d@division%03d.scale.test', i, i % {domains}), \
                 i % {domains} FROM s"
            ),
        ),
        format!(
            "INSERT INTO users (id, domain_id, email, role, password_hash, disabled_at, created_at) \
             SELECT u.id, d.id, u.email, \
             CASE WHEN u.n < {domains} THEN 'domain_admin' ELSE 'member' END, NULL, NULL, {now} \
             FROM scale_users u JOIN scale_domains d ON d.n = u.domain_n"
        ),
    ];
    for statement in statements.iter().filter(|s| !s.is_empty()) {
        tx.execute(statement.as_str()).await.map_err(sql)?;
    }
    tx.commit().await.map_err(sql)
}

/// `APPLICATIONS` in every new domain, owned by its admin, each with
/// `clients:read`; then `scale_apps` numbers every application (n / 63 is
/// its domain) for the audit entries that name one.
async fn seed_applications(
    db: &mut SqliteConnection,
    template: &str,
    size: &Size,
    now: i64,
) -> Result<()> {
    let per = per_domain();
    let mut tx = db.begin().await.map_err(sql)?;
    let insert = series(
        per..size.applications(),
        &format!(
            "INSERT INTO applications (id, domain_id, owner_id, name, description, \
             website_url, callback_url, client_id, secret_hash, secret_sealed, \
             created_at, updated_at) \
             SELECT {UUID}, d.id, u.id, printf('Service %02d', i % {per} + 1), \
             'Reads the directory nightly', 'https://service.example.com', \
             printf('https://service.example.com/%d/callback', i % {per} + 1), \
             lower(hex(randomblob(16))), t.secret_hash, t.secret_sealed, {now}, {now} \
             FROM s JOIN scale_domains d ON d.n = i / {per} \
             JOIN scale_users u ON u.n = i / {per} \
             JOIN applications t ON t.client_id = $1"
        ),
    );
    if !insert.is_empty() {
        sqlx::query(&insert)
            .bind(template)
            .execute(&mut *tx)
            .await
            .map_err(sql)?;
    }
    // The first domain's applications were registered with secrets of
    // their own.
    sqlx::query(
        "UPDATE applications SET secret_hash = \
         (SELECT secret_hash FROM applications WHERE client_id = $1)",
    )
    .bind(template)
    .execute(&mut *tx)
    .await
    .map_err(sql)?;
    let statements = [
        "INSERT INTO application_permissions (application_id, scope) \
         SELECT a.id, 'clients:read' FROM applications a \
         JOIN scale_domains d ON d.id = a.domain_id WHERE d.n > 0"
            .to_owned(),
        "CREATE TEMP TABLE scale_apps (n INTEGER PRIMARY KEY, client_id TEXT NOT NULL, \
         target TEXT NOT NULL)"
            .into(),
        format!(
            "INSERT INTO scale_apps (n, client_id, target) \
             SELECT d.n * {per} + row_number() OVER (PARTITION BY d.n ORDER BY a.client_id) - 1, \
             a.client_id, a.name || ' (' || a.client_id || ')' \
             FROM applications a JOIN scale_domains d ON d.id = a.domain_id"
        ),
    ];
    for statement in &statements {
        tx.execute(statement.as_str()).await.map_err(sql)?;
    }
    let numbered: i64 = sqlx::query_scalar("SELECT count(*) FROM scale_apps")
        .fetch_one(&mut *tx)
        .await
        .map_err(sql)?;
    if numbered != size.applications() {
        return Err(format!(
            "{numbered} applications, not {}: the first domain was not full",
            size.applications()
        ));
    }
    tx.commit().await.map_err(sql)
}

/// `audit_entries` entries over the past year, oldest first as ids grow
/// with time. Entry i is by user i mod users, in that user's domain; its
/// action comes from a mix where sign-ins are most common, and an action
/// on an application names one of the domain's.
async fn seed_audit(db: &mut SqliteConnection, size: &Size, now: i64) -> Result<()> {
    let (total, users, per) = (size.audit_entries, size.users, per_domain());
    db.execute(
        "CREATE TEMP TABLE scale_actions (n INTEGER PRIMARY KEY, action TEXT NOT NULL, \
         about_app INTEGER NOT NULL); \
         INSERT INTO scale_actions VALUES (0, 'sign_in', 0), (1, 'sign_in', 0), \
         (2, 'sign_in', 0), (3, 'sign_out', 0), (4, 'sign_in_failed', 0), \
         (5, 'application_edited', 1), (6, 'secret_revealed', 1), \
         (7, 'authorization_granted', 1), (8, 'application_registered', 1), \
         (9, 'secret_rotated', 1)",
    )
    .await
    .map_err(sql)?;
    let start = now - AUDIT_SPAN;
    let mut from = 0;
    while from < total {
        let to = (from + AUDIT_CHUNK).min(total);
        let insert = series(
            from..to,
            &format!(
                "INSERT INTO audit_log (at, domain_id, actor_id, actor, action, target, \
                 address, client_id, detail) \
                 SELECT {start} + i * {AUDIT_SPAN} / {total}, d.id, u.id, u.email, k.action, \
                 CASE WHEN k.about_app THEN a.target END, \
                 printf('10.%d.%d.%d', u.n / 256 % 256, u.n % 256, i % 254 + 1), \
                 CASE WHEN k.about_app THEN a.client_id END, NULL \
                 FROM s JOIN scale_users u ON u.n = i % {users} \
                 JOIN scale_domains d ON d.n = u.domain_n \
                 JOIN scale_apps a ON a.n = u.domain_n * {per} + i / {users} % {per} \
                 JOIN scale_actions k ON k.n = i / {users} % 10"
            ),
        );
        let mut tx = db.begin().await.map_err(sql)?;
        tx.execute(insert.as_str()).await.map_err(sql)?;
        tx.commit().await.map_err(sql)?;
        eprintln!("scale: {to} of {total} audit entries");
        from = to;
    }
    Ok(())
}

/// Revoked tokens that expire one to two days from now (so that the
/// upkeep purges none of them during the run), and sessions of the users
/// that stay valid as long. Nobody presents the sessions: any unique
/// digest will do for an id.
async fn seed_tokens(db: &mut SqliteConnection, size: &Size, now: i64) -> Result<()> {
    let (day, users) = (86_400, size.users);
    let statements = [
        series(
            0..size.revoked_tokens,
            &format!(
                "INSERT INTO revoked_tokens (jti, expires_at) \
                 SELECT {UUID}, {now} + {day} + i % {day} FROM s"
            ),
        ),
        series(
            0..size.sessions,
            &format!(
                "INSERT INTO sessions (id, user_id, data, expires_at, absolute_expires_at) \
                 SELECT lower(hex(randomblob(32))), u.id, randomblob(96), \
                 {now} + {day}, {now} + 7 * {day} \
                 FROM s JOIN scale_users u ON u.n = i % {users}"
            ),
        ),
    ];
    let mut tx = db.begin().await.map_err(sql)?;
    for statement in statements.iter().filter(|s| !s.is_empty()) {
        tx.execute(statement.as_str()).await.map_err(sql)?;
    }
    tx.commit().await.map_err(sql)
}

/// `insert`, an INSERT … SELECT that reads `i` from `s`, prefixed with the
/// series `s` of every i in `range`: many rows in one statement. Empty when
/// the range is.
fn series(range: Range<i64>, insert: &str) -> String {
    if range.is_empty() {
        return String::new();
    }
    format!(
        "WITH RECURSIVE s(i) AS (SELECT {} UNION ALL SELECT i + 1 FROM s WHERE i + 1 < {}) {insert}",
        range.start, range.end
    )
}

async fn timed(what: &str, step: impl std::future::Future<Output = Result<()>>) -> Result<()> {
    let started = Instant::now();
    step.await?;
    eprintln!("scale: {what}, {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn sql(e: sqlx::Error) -> String {
    format!("seeding: {e}")
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or_default()
}
