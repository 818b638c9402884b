//! Creating, renaming, limiting and deleting domains: each change in one
//! transaction with its audit entry.

use uuid::Uuid;

use super::{
    checked_app_limit, checked_domain_name, domain_entry, domain_in, name_taken, plural, Domain,
    DomainChange, DEFAULT_APP_LIMIT,
};
use crate::domain::access::Access;
use crate::domain::applications::{lock_domain, room};
use crate::domain::audit::{self, Action};
use crate::domain::ids::DomainId;
use crate::domain::{Error, Keyport, Result};

impl Keyport {
    /// Creates a domain allowed `app_limit` applications (63 unless given).
    pub async fn create_domain(
        &self,
        access: &Access,
        name: &str,
        app_limit: Option<i64>,
    ) -> Result<Domain> {
        access.require_super_admin()?;
        let actor = access.actor();
        let (name, app_limit) = crate::domain::both(
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

    pub async fn rename_domain(&self, access: &Access, id: &str, name: &str) -> Result<Domain> {
        let change = DomainChange {
            name: Some(name),
            app_limit: None,
        };
        self.change_domain(access, id, change).await
    }

    pub async fn set_app_limit(&self, access: &Access, id: &str, limit: i64) -> Result<Domain> {
        let change = DomainChange {
            name: None,
            app_limit: Some(limit),
        };
        self.change_domain(access, id, change).await
    }

    /// Renames a domain and sets how many applications it may hold (from 1
    /// to 1,000, never below how many it holds now), both or neither.
    /// Registrations in the domain wait for the change (they lock the same
    /// row), so none slips past a lowered limit.
    pub async fn change_domain(
        &self,
        access: &Access,
        id: &str,
        change: DomainChange<'_>,
    ) -> Result<Domain> {
        access.require_super_admin()?;
        let actor = access.actor();
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
    pub async fn delete_domain(&self, access: &Access, id: &str) -> Result<Domain> {
        access.require_super_admin()?;
        let actor = access.actor();
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
        sqlx::query("DELETE FROM registration_tokens WHERE domain_id = $1")
            .bind(&domain.id)
            .execute(&mut *tx)
            .await?;
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
