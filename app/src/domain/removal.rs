//! Removal that can be undone: a removed application is refused at once,
//! kept for 30 days under "Recently removed", restored from there with the
//! same client ID and a fresh secret, and purged afterwards.

use super::access::Access;
use super::accounts::User;
use super::applications::{self, app_entry, Application, Credentials, SELECT};
use super::audit::{self, Action, Actor};
use super::authorization::{revoke_families, Families};
use super::clock::Timestamp;
use super::rules::may_manage_application;
use super::tenancy::Domain;
use super::{Error, Invalid, Keyport, Result};

/// How long a removed application can be restored.
pub const KEPT_FOR: i64 = 30 * 86_400;

impl Keyport {
    /// Removes every listed application `user` may manage, in one
    /// transaction; any id they may not see fails the whole removal. Their
    /// consents go; tokens they hold are refused from now on.
    pub async fn remove_applications(&self, access: &Access, ids: &[String]) -> Result<usize> {
        let (actor, user) = (access.actor(), access.person()?);
        if ids.is_empty() {
            return Err(Error::invalid(
                "ids",
                "Tick at least one application to remove.",
            ));
        }
        let mut apps = Vec::with_capacity(ids.len());
        for id in ids {
            let app = self.application_for(user, id).await?.app;
            if !apps.iter().any(|a: &Application| a.id == app.id) {
                apps.push(app);
            }
        }
        let now = self.now();
        let mut tx = self.db.write().await?;
        for app in &apps {
            sqlx::query("UPDATE applications SET removed_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&app.id)
                .execute(&mut *tx)
                .await?;
            for table in ["consents", "authorization_codes"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE application_id = $1"))
                    .bind(&app.id)
                    .execute(&mut *tx)
                    .await?;
            }
            revoke_families(&mut tx, Families::Application(&app.id), now).await?;
            let target = app.label();
            audit::record(
                &mut tx,
                app_entry(now, actor, app, &target, Action::ApplicationRemoved, None),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(apps.len())
    }

    /// Applications of `domain` removed in the last 30 days that `user` may
    /// manage, most recently removed first.
    pub async fn removed_applications(
        &self,
        user: &User,
        domain: &Domain,
    ) -> Result<Vec<Application>> {
        Ok(self
            .domain_applications(&domain.id)
            .await?
            .removed
            .iter()
            .filter(|app| may_manage_application(user, app))
            .cloned()
            .collect())
    }

    /// Brings a removed application back with the same client ID and a
    /// fresh secret (a public one, none). It needs room in its domain and
    /// its name free.
    pub async fn restore_application(
        &self,
        access: &Access,
        id: &str,
    ) -> Result<(Application, Option<Credentials>)> {
        let (actor, user) = (access.actor(), access.person()?);
        if !super::validate::storable(id) {
            return Err(Error::NotFound);
        }
        let app: Application = sqlx::query_as(&format!(
            "{SELECT} WHERE a.id = $1 AND a.removed_at IS NOT NULL"
        ))
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?
        .filter(|app| may_manage_application(user, app))
        .ok_or(Error::NotFound)?;
        let domain = super::tenancy::find_domain(&self.db, &app.domain_id)
            .await?
            .ok_or(Error::NotFound)?;
        let (secret, hash, sealed) = match app.is_public() {
            false => {
                let (secret, hash, sealed) = self.fresh_secret(&app.client_id);
                (Some(secret), hash, sealed)
            }
            true => (None, String::new(), Vec::new()),
        };
        let now = self.now();
        let mut tx = self.db.write().await?;
        applications::lock_domain(&mut tx, &domain.id).await?;
        applications::check_room(&mut tx, &domain, "restore").await?;
        let restored = sqlx::query(
            "UPDATE applications SET removed_at = NULL, restored_at = $1, secret_hash = $2, \
             secret_sealed = $3, secret_last_used_at = NULL, previous_secret_hash = NULL, \
             previous_secret_expires_at = NULL, previous_last_used_at = NULL, rotated_at = $1 \
             WHERE id = $4 AND removed_at IS NOT NULL",
        )
        .bind(now)
        .bind(&hash)
        .bind(&sealed)
        .bind(&app.id)
        .execute(&mut *tx)
        .await;
        let name_in_use = Invalid::new(
            "restore",
            format!(
                "An application named \u{201c}{}\u{201d} is in use in this domain. Rename or remove it first.",
                app.name
            ),
        );
        let restored =
            super::store::on_constraint(restored, &[("applications_name_key", name_in_use)])?;
        if restored.rows_affected() == 0 {
            return Err(Error::NotFound);
        }
        // Nothing could be approved while it was removed; should anything
        // have been, it does not come back with the application.
        sqlx::query("DELETE FROM consents WHERE application_id = $1 AND granted_at >= $2")
            .bind(&app.id)
            .bind(app.removed_at)
            .execute(&mut *tx)
            .await?;
        let target = app.label();
        audit::record(
            &mut tx,
            app_entry(now, actor, &app, &target, Action::ApplicationRestored, None),
        )
        .await?;
        tx.commit().await?;
        let app = self.application_for(user, id).await?.app;
        let credentials = secret.map(|client_secret| Credentials {
            client_id: app.client_id.clone(),
            client_secret,
        });
        Ok((app, credentials))
    }

    /// Deletes for good the applications removed more than 30 days ago,
    /// with their permissions, usage and consents. Each node may run it; an
    /// application is purged (and audited) once.
    pub async fn purge_removed_applications(&self) -> Result<usize> {
        let cutoff: Timestamp = self.now() - KEPT_FOR;
        let due: Vec<Application> = sqlx::query_as(&format!(
            "{SELECT} WHERE a.removed_at IS NOT NULL AND a.removed_at < $1"
        ))
        .bind(cutoff)
        .fetch_all(&self.db.pool)
        .await?;
        let delete = "DELETE FROM applications WHERE id = $1 AND removed_at < $2";
        self.purge(&due, delete, cutoff, "removed more than 30 days ago")
            .await
    }

    /// Deletes each of `due` for good with `delete` (its id `$1`, `cutoff`
    /// `$2`), which names the condition again so that what changed since
    /// the read stays, and audits each purged once, with `why`.
    pub(crate) async fn purge(
        &self,
        due: &[Application],
        delete: &str,
        cutoff: Timestamp,
        why: &str,
    ) -> Result<usize> {
        let mut purged = 0;
        for app in due {
            let mut tx = self.db.write().await?;
            let deleted = sqlx::query(delete)
                .bind(&app.id)
                .bind(cutoff)
                .execute(&mut *tx)
                .await?;
            if deleted.rows_affected() == 1 {
                let target = app.label();
                let actor = Actor::keyport();
                audit::record(
                    &mut tx,
                    app_entry(
                        self.now(),
                        &actor,
                        app,
                        &target,
                        Action::ApplicationPurged,
                        Some(why),
                    ),
                )
                .await?;
                purged += 1;
            }
            tx.commit().await?;
        }
        Ok(purged)
    }
}
