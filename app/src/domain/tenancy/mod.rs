//! The customer this deployment serves and its domains (contract §2):
//! created, renamed, limited and deleted by super admins or the operator
//! at the server's command line (`changes`), with users moved between them
//! together with what they own (`moves`), and applications found across
//! them (`search`). Here: what a domain is, how it is read, and the rules
//! its name and limit follow.

mod changes;
mod moves;
mod search;

pub use moves::Moved;
pub use search::{Found, FOUND_MAX};

use sqlx::Row;
use uuid::Uuid;

use super::accounts::{Role, User};
use super::audit::{self, Action, Actor};
use super::clock::Timestamp;
use super::ids::DomainId;
use super::store::{on_constraint, Db, Write};
use super::validate::{is_hidden_control, storable};
use super::{Error, Invalid, Keyport, Result};

/// The name of the domain created on first start.
pub const DEFAULT_DOMAIN: &str = "default";
/// Applications a domain may hold unless configured otherwise.
pub const DEFAULT_APP_LIMIT: i64 = 63;
/// The most applications a domain may be allowed.
pub const MAX_APP_LIMIT: i64 = 1_000;
/// The longest domain name.
pub const DOMAIN_NAME_MAX: usize = 64;

#[derive(Debug, Clone)]
pub struct Tenancy {
    pub customer_id: String,
    pub default_domain_id: DomainId,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Domain {
    pub id: DomainId,
    pub name: String,
    pub app_limit: i64,
}

impl Tenancy {
    /// Creates the customer and its default domain once; every later start,
    /// on any node, reads them back.
    pub async fn bootstrap(db: &Db, now: Timestamp) -> Result<Self> {
        let mut tx = db.write().await?;
        let first = sqlx::query(
            "INSERT INTO milestones (name, reached_at) VALUES ('tenancy', $1) ON CONFLICT (name) DO NOTHING",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if first {
            let customer_id = Uuid::new_v4().to_string();
            sqlx::query("INSERT INTO customers (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(&customer_id)
                .bind("Keyport")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO domains (id, customer_id, name, app_limit, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(Uuid::new_v4().to_string())
            .bind(&customer_id)
            .bind(DEFAULT_DOMAIN)
            .bind(DEFAULT_APP_LIMIT)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;

        let row = sqlx::query(
            "SELECT d.customer_id, d.id FROM domains d WHERE d.name = $1 ORDER BY d.created_at LIMIT 1",
        )
        .bind(DEFAULT_DOMAIN)
        .fetch_one(&db.pool)
        .await?;
        Ok(Self {
            customer_id: row.try_get(0)?,
            default_domain_id: row.try_get(1)?,
        })
    }
}

/// What to change of a domain; `None` keeps it.
#[derive(Debug, Clone, Copy, Default)]
pub struct DomainChange<'a> {
    pub name: Option<&'a str>,
    pub app_limit: Option<i64>,
}

/// A domain as the domains page lists it.
#[derive(Debug, Clone)]
pub struct DomainSummary {
    pub domain: Domain,
    pub created_at: Timestamp,
    /// Applications in use.
    pub applications: i64,
    /// Removed applications still kept for a restore.
    pub removed: i64,
    pub users: i64,
    /// The latest audited change in the domain or token request of one
    /// of its applications.
    pub last_activity: Option<Timestamp>,
}

pub async fn find_domain(db: &Db, id: &str) -> Result<Option<Domain>> {
    if !super::validate::storable(id) {
        return Ok(None);
    }
    Ok(
        sqlx::query_as("SELECT id, name, app_limit FROM domains WHERE id = $1")
            .bind(id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

pub async fn list_domains(db: &Db) -> Result<Vec<Domain>> {
    Ok(
        sqlx::query_as("SELECT id, name, app_limit FROM domains ORDER BY name")
            .fetch_all(&db.pool)
            .await?,
    )
}

impl Keyport {
    /// The domain with this id, as read within `cache::FRESH_FOR_MS`.
    pub async fn domain(&self, id: &str) -> Result<Option<Domain>> {
        self.memory
            .domains
            .get_or_read(id, || find_domain(&self.db, id))
            .await
    }

    /// Every domain, as read within `cache::FRESH_FOR_MS`.
    pub async fn domains(&self) -> Result<Vec<Domain>> {
        self.memory
            .all_domains
            .get_or_read(&(), || list_domains(&self.db))
            .await
    }
}

/// The domain named `name`, whatever its case, or with the id `name`: what
/// the command line's `--domain` takes.
pub async fn find_domain_by_name(db: &Db, name: &str) -> Result<Option<Domain>> {
    if !storable(name) {
        return Ok(None);
    }
    Ok(sqlx::query_as(
        "SELECT id, name, app_limit FROM domains WHERE lower(name) = lower($1) OR id = $1 \
         ORDER BY created_at LIMIT 1",
    )
    .bind(name.trim())
    .fetch_optional(&db.pool)
    .await?)
}

/// A domain name as it is kept: trimmed, 1 to 64 characters, none hidden.
pub fn checked_domain_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    let len = name.chars().count();
    let problem = if len == 0 {
        "Enter a domain name.".to_owned()
    } else if len > DOMAIN_NAME_MAX {
        format!("Use at most {DOMAIN_NAME_MAX} characters ({len} given).")
    } else if name.chars().any(is_hidden_control) {
        "The name cannot contain control characters.".to_owned()
    } else {
        return Ok(name.to_owned());
    };
    Err(Error::invalid("name", problem))
}

/// An application limit from 1 to 1,000.
pub fn checked_app_limit(limit: i64) -> Result<i64> {
    if (1..=MAX_APP_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(Error::invalid(
            "app_limit",
            format!("Enter a whole number from 1 to {MAX_APP_LIMIT}."),
        ))
    }
}

/// An application limit as a form or the command line sends it.
pub fn parse_app_limit(raw: &str) -> Result<i64> {
    raw.trim()
        .parse()
        .map_err(|_| {
            Error::invalid(
                "app_limit",
                format!("Enter a whole number from 1 to {MAX_APP_LIMIT}."),
            )
        })
        .and_then(checked_app_limit)
}

fn name_taken(result: std::result::Result<sqlx::any::AnyQueryResult, sqlx::Error>) -> Result<()> {
    let taken = Invalid::new("name", "A domain with this name already exists.");
    on_constraint(
        result,
        &[
            ("domains_name_key", taken.clone()),
            ("domains_name_lower_key", taken),
        ],
    )
    .map(drop)
}

fn domain_entry<'a>(
    at: Timestamp,
    actor: &'a Actor,
    domain: &'a Domain,
    action: Action,
    detail: Option<&'a str>,
) -> audit::Entry<'a> {
    audit::Entry::about(at, &domain.id, actor, action, &domain.name, detail)
}

/// The domain with this id as the transaction sees it.
async fn domain_in(tx: &mut Write, id: &str) -> Result<Domain> {
    if !storable(id) {
        return Err(Error::NotFound);
    }
    sqlx::query_as("SELECT id, name, app_limit FROM domains WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound)
}

/// `SELECT`s a domain's summary; `WHERE` and `ORDER BY` follow.
const SUMMARY: &str = "SELECT d.id, d.name, d.app_limit, d.created_at, \
    (SELECT COUNT(*) FROM applications a WHERE a.domain_id = d.id AND a.removed_at IS NULL) AS applications, \
    (SELECT COUNT(*) FROM applications a WHERE a.domain_id = d.id AND a.removed_at IS NOT NULL) AS removed, \
    (SELECT COUNT(*) FROM users u WHERE u.domain_id = d.id) AS users, \
    (SELECT MAX(a.last_used_at) FROM applications a WHERE a.domain_id = d.id) AS last_used, \
    (SELECT l.at FROM audit_log l WHERE l.domain_id = d.id ORDER BY l.id DESC LIMIT 1) AS last_change \
    FROM domains d";

fn summary(row: &sqlx::any::AnyRow) -> Result<DomainSummary> {
    let last_used: Option<i64> = row.try_get("last_used")?;
    let last_change: Option<i64> = row.try_get("last_change")?;
    Ok(DomainSummary {
        domain: Domain {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            app_limit: row.try_get("app_limit")?,
        },
        created_at: row.try_get("created_at")?,
        applications: row.try_get("applications")?,
        removed: row.try_get("removed")?,
        users: row.try_get("users")?,
        last_activity: last_used.max(last_change),
    })
}

/// Every domain with its counts, by name.
pub async fn summaries(db: &Db) -> Result<Vec<DomainSummary>> {
    sqlx::query(&format!("{SUMMARY} ORDER BY lower(d.name)"))
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(summary)
        .collect()
}

impl Keyport {
    /// Every domain with its counts, by name, for a super admin; a domain
    /// admin's own domain; nothing for anyone else.
    pub async fn domain_summaries(&self, viewer: &User) -> Result<Vec<DomainSummary>> {
        let rows = match viewer.role {
            Role::SuperAdmin => return summaries(&self.db).await,
            Role::DomainAdmin => {
                sqlx::query(&format!("{SUMMARY} WHERE d.id = $1"))
                    .bind(&viewer.domain_id)
                    .fetch_all(&self.db.pool)
                    .await?
            }
            Role::Member => return Err(Error::Forbidden),
        };
        rows.iter().map(summary).collect()
    }
}

/// `n` with the word for one or for many.
pub fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_names_are_checked_with_their_field() {
        assert_eq!(parse_app_limit(" 63 ").unwrap(), 63);
        for bad in ["0", "1001", "-1", "ten", "", "1e3"] {
            let Err(Error::Invalid(problems)) = parse_app_limit(bad) else {
                panic!("{bad} was taken");
            };
            assert_eq!(problems[0].field, "app_limit");
        }
        assert_eq!(checked_domain_name("  Europe ").unwrap(), "Europe");
        assert!(checked_domain_name("").is_err());
        assert!(checked_domain_name(&"x".repeat(65)).is_err());
        assert!(checked_domain_name("a\u{202E}b").is_err());
    }
}
