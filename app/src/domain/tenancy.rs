//! The customer this deployment serves and its domains (contract §2):
//! created, renamed, limited and deleted by super admins (or the operator
//! at the server's command line), with users moved between them together
//! with what they own.

use sqlx::Row;
use uuid::Uuid;

use super::accounts::{Role, User};
use super::applications::{lock_domain, room};
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
/// The most applications a search answers with.
pub const FOUND_MAX: usize = 50;
/// The longest text a search looks for.
const QUERY_MAX: usize = 200;

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

/// Who changes domains: a super admin, in the console or through the
/// management API, or the operator at the server's command line.
#[derive(Debug, Clone, Copy)]
pub enum Steward<'a> {
    Admin(&'a User),
    CommandLine,
}

impl Steward<'_> {
    fn check(self) -> Result<()> {
        match self {
            Self::Admin(user) if user.role != Role::SuperAdmin => Err(Error::Forbidden),
            _ => Ok(()),
        }
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

/// An application a search found, with its domain.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Found {
    pub id: String,
    pub name: String,
    pub client_id: String,
    pub domain_id: String,
    pub domain_name: String,
    pub owner_email: String,
}

/// What a user's move took along.
#[derive(Debug, Clone)]
pub struct Moved {
    pub user: User,
    pub from: Domain,
    pub to: Domain,
    /// Applications in use that moved with the user.
    pub applications: i64,
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
    audit::Entry {
        at,
        domain_id: Some(&domain.id),
        actor,
        action,
        target: Some(&domain.name),
        client_id: None,
        detail,
    }
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

    /// Creates a domain allowed `app_limit` applications (63 unless given).
    pub async fn create_domain(
        &self,
        by: Steward<'_>,
        actor: &Actor,
        name: &str,
        app_limit: Option<i64>,
    ) -> Result<Domain> {
        by.check()?;
        let (name, app_limit) = super::both(
            checked_domain_name(name),
            checked_app_limit(app_limit.unwrap_or(DEFAULT_APP_LIMIT)),
        )?;
        let domain = Domain {
            id: DomainId::new(Uuid::new_v4().to_string()),
            name,
            app_limit,
        };
        let now = self.now();
        let mut tx = self.db.write().await?;
        name_taken(
            sqlx::query(
                "INSERT INTO domains (id, customer_id, name, app_limit, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&domain.id)
            .bind(&self.tenancy.customer_id)
            .bind(&domain.name)
            .bind(domain.app_limit)
            .bind(now)
            .execute(&mut *tx)
            .await,
        )?;
        let detail = format!("limit {}", domain.app_limit);
        audit::record(
            &mut tx,
            domain_entry(now, actor, &domain, Action::DomainCreated, Some(&detail)),
        )
        .await?;
        tx.commit().await?;
        Ok(domain)
    }

    pub async fn rename_domain(
        &self,
        by: Steward<'_>,
        actor: &Actor,
        id: &str,
        name: &str,
    ) -> Result<Domain> {
        let change = DomainChange {
            name: Some(name),
            app_limit: None,
        };
        self.change_domain(by, actor, id, change).await
    }

    pub async fn set_app_limit(
        &self,
        by: Steward<'_>,
        actor: &Actor,
        id: &str,
        limit: i64,
    ) -> Result<Domain> {
        let change = DomainChange {
            name: None,
            app_limit: Some(limit),
        };
        self.change_domain(by, actor, id, change).await
    }

    /// Renames a domain and sets how many applications it may hold (from 1
    /// to 1,000, never below how many it holds now), both or neither.
    /// Registrations in the domain wait for the change (they lock the same
    /// row), so none slips past a lowered limit.
    pub async fn change_domain(
        &self,
        by: Steward<'_>,
        actor: &Actor,
        id: &str,
        change: DomainChange<'_>,
    ) -> Result<Domain> {
        by.check()?;
        let name = change.name.map(checked_domain_name).transpose()?;
        let limit = change.app_limit.map(checked_app_limit).transpose()?;
        let now = self.now();
        let mut tx = self.db.write().await?;
        let before = domain_in(&mut tx, id).await?;
        lock_domain(&mut tx, &before.id).await?;
        let mut after = before.clone();
        let mut changes = Vec::new();
        if let Some(name) = name.filter(|n| *n != before.name) {
            name_taken(
                sqlx::query("UPDATE domains SET name = $1 WHERE id = $2")
                    .bind(&name)
                    .bind(&before.id)
                    .execute(&mut *tx)
                    .await,
            )?;
            after.name = name;
            changes.push((Action::DomainRenamed, format!("from {}", before.name)));
        }
        if let Some(limit) = limit.filter(|l| *l != before.app_limit) {
            let (count, _) = room(&mut tx, &before.id).await?;
            if limit < count {
                return Err(Error::invalid(
                    "app_limit",
                    format!(
                        "This domain holds {count} applications, so its limit cannot be below {count}. Remove applications first."
                    ),
                ));
            }
            sqlx::query("UPDATE domains SET app_limit = $1 WHERE id = $2")
                .bind(limit)
                .bind(&before.id)
                .execute(&mut *tx)
                .await?;
            after.app_limit = limit;
            changes.push((
                Action::DomainLimitChanged,
                format!("{} to {limit}", before.app_limit),
            ));
        }
        if changes.is_empty() {
            return Ok(before);
        }
        for (action, detail) in &changes {
            audit::record(
                &mut tx,
                domain_entry(now, actor, &after, *action, Some(detail)),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes a domain that holds no users and no applications in use; its
    /// removed applications, which could only come back into it, are purged
    /// with it. The default domain stays.
    pub async fn delete_domain(&self, by: Steward<'_>, actor: &Actor, id: &str) -> Result<Domain> {
        by.check()?;
        let now = self.now();
        let mut tx = self.db.write().await?;
        let domain = domain_in(&mut tx, id).await?;
        if domain.id == self.tenancy.default_domain_id {
            return Err(Error::invalid(
                "domain",
                "The default domain cannot be deleted: new administrators start in it.",
            ));
        }
        lock_domain(&mut tx, &domain.id).await?;
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE domain_id = $1")
            .bind(&domain.id)
            .fetch_one(&mut *tx)
            .await?;
        let (applications, _) = room(&mut tx, &domain.id).await?;
        if users > 0 || applications > 0 {
            return Err(not_empty(&domain, users, applications));
        }
        let purged = sqlx::query("DELETE FROM applications WHERE domain_id = $1")
            .bind(&domain.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let deleted = sqlx::query("DELETE FROM domains WHERE id = $1")
            .bind(&domain.id)
            .execute(&mut *tx)
            .await;
        // A user or application added on another node since the count.
        if matches!(&deleted, Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation()) {
            return Err(Error::invalid(
                "domain",
                format!(
                    "{} gained a user or an application meanwhile. Look again.",
                    domain.name
                ),
            ));
        }
        deleted?;
        let detail = (purged > 0).then(|| format!("{purged} removed applications purged"));
        audit::record(
            &mut tx,
            domain_entry(
                now,
                actor,
                &domain,
                Action::DomainDeleted,
                detail.as_deref(),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(domain)
    }

    /// Moves a user to another domain together with every application they
    /// own, in one transaction: refused, changing nothing, when the target
    /// domain has no room for their applications in use or already has one
    /// of the same name. Super admins only, and never themselves.
    pub async fn move_user(
        &self,
        actor: &Actor,
        admin: &User,
        user_id: &str,
        domain_id: &str,
    ) -> Result<Moved> {
        Steward::Admin(admin).check()?;
        if admin.id.as_str() == user_id {
            return Err(Error::invalid("domain", "You cannot move yourself."));
        }
        let now = self.now();
        let mut tx = self.db.write().await?;
        let user: User = if storable(user_id) {
            sqlx::query_as(
                "SELECT id, domain_id, email, role, disabled_at FROM users WHERE id = $1",
            )
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?
        } else {
            None
        }
        .ok_or(Error::NotFound)?;
        let to = domain_in(&mut tx, domain_id).await?;
        let from = domain_in(&mut tx, &user.domain_id).await?;
        if from.id == to.id {
            return Ok(Moved {
                user,
                from,
                to,
                applications: 0,
            });
        }
        // Both domains, in one order on every node: registrations in either
        // wait, and two moves cannot wait on each other.
        let (first, second) = if from.id < to.id {
            (&from.id, &to.id)
        } else {
            (&to.id, &from.id)
        };
        lock_domain(&mut tx, first).await?;
        lock_domain(&mut tx, second).await?;
        let moving: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM applications WHERE owner_id = $1 AND domain_id <> $2 AND removed_at IS NULL",
        )
        .bind(&user.id)
        .bind(&to.id)
        .fetch_one(&mut *tx)
        .await?;
        let (count, limit) = room(&mut tx, &to.id).await?;
        if count + moving > limit {
            return Err(Error::invalid(
                "domain",
                format!(
                    "{} holds {count} of its {limit} applications and {} owns {moving} more. Raise its limit or remove applications first.",
                    to.name, user.email
                ),
            ));
        }
        if let Some(clash) = name_clash(&mut tx, &user, &to).await? {
            return Err(Error::invalid(
                "domain",
                format!(
                    "{} already has an application named \u{201c}{clash}\u{201d}. Rename one of them first.",
                    to.name
                ),
            ));
        }
        sqlx::query("UPDATE users SET domain_id = $1 WHERE id = $2")
            .bind(&to.id)
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE applications SET domain_id = $1, updated_at = $2 WHERE owner_id = $3")
            .bind(&to.id)
            .bind(now)
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        let detail = format!(
            "from {} to {} with {moving} applications",
            from.name, to.name
        );
        // In both domains' logs: each domain's admins see who left and came.
        for domain in [&from, &to] {
            audit::record(
                &mut tx,
                audit::Entry {
                    at: now,
                    domain_id: Some(&domain.id),
                    actor,
                    action: Action::UserMoved,
                    target: Some(&user.email),
                    client_id: None,
                    detail: Some(&detail),
                },
            )
            .await?;
        }
        tx.commit().await?;
        let user = User {
            domain_id: to.id.clone(),
            ..user
        };
        Ok(Moved {
            user,
            from,
            to,
            applications: moving,
        })
    }

    /// Applications in use whose name holds `query` (any case) or whose
    /// client ID is `query`: across every domain for a super admin, in
    /// their own for a domain admin. At most `FOUND_MAX`, by name; the
    /// flag says whether there were more.
    pub async fn find_applications(&self, admin: &User, query: &str) -> Result<(Vec<Found>, bool)> {
        let query = query.trim();
        if !admin.role.is_admin() {
            return Err(Error::Forbidden);
        }
        if query.is_empty() || !storable(query) {
            return Ok((Vec::new(), false));
        }
        if query.chars().count() > QUERY_MAX {
            return Err(Error::invalid(
                "q",
                format!("Search for at most {QUERY_MAX} characters."),
            ));
        }
        let pattern = format!("%{}%", like_escaped(&query.to_lowercase()));
        let everywhere = admin.role == Role::SuperAdmin;
        let mut found: Vec<Found> = sqlx::query_as(
            "SELECT a.id, a.name, a.client_id, a.domain_id, d.name AS domain_name, u.email AS owner_email \
             FROM applications a JOIN domains d ON d.id = a.domain_id JOIN users u ON u.id = a.owner_id \
             WHERE a.removed_at IS NULL AND (lower(a.name) LIKE $1 ESCAPE '\\' OR a.client_id = $2) \
             AND ($3 OR a.domain_id = $4) \
             ORDER BY lower(a.name), lower(d.name), a.id LIMIT $5",
        )
        .bind(pattern)
        .bind(query)
        .bind(everywhere)
        .bind(&admin.domain_id)
        .bind(FOUND_MAX as i64 + 1)
        .fetch_all(&self.db.pool)
        .await?;
        let more = found.len() > FOUND_MAX;
        found.truncate(FOUND_MAX);
        Ok((found, more))
    }
}

/// The refusal to delete a domain that still holds something.
fn not_empty(domain: &Domain, users: i64, applications: i64) -> Error {
    let mut left = Vec::new();
    if users > 0 {
        left.push(plural(users, "user", "users"));
    }
    if applications > 0 {
        left.push(plural(applications, "application", "applications"));
    }
    Error::invalid(
        "domain",
        format!(
            "{} still holds {}. Move or remove them first.",
            domain.name,
            left.join(" and ")
        ),
    )
}

pub fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The name of one of `user`'s applications in use that an application in
/// use in `to` already bears (any case).
async fn name_clash(tx: &mut Write, user: &User, to: &Domain) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT mine.name FROM applications mine JOIN applications theirs \
         ON lower(theirs.name) = lower(mine.name) AND theirs.domain_id = $2 AND theirs.removed_at IS NULL \
         WHERE mine.owner_id = $1 AND mine.domain_id <> $2 AND mine.removed_at IS NULL LIMIT 1",
    )
    .bind(&user.id)
    .bind(&to.id)
    .fetch_optional(&mut **tx)
    .await?)
}

/// `text` with LIKE's wildcards and escape taken literally.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
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

    #[test]
    fn a_search_takes_wildcards_literally() {
        assert_eq!(like_escaped("50%_off\\"), "50\\%\\_off\\\\");
    }
}
