//! Who owns an application, and handing it to someone else: when its
//! owner leaves, an integration keeps its client ID, secrets and consents.

use super::access::Access;
use super::accounts::{self, User};
use super::applications::{app_entry, Application};
use super::audit::{self, Action};
use super::rules::{may_hand_to, may_manage_application};
use super::{Error, Keyport, Result};

impl Keyport {
    /// The users `admin` may hand `app` to: the enabled users of its domain
    /// who would not outrank them in it.
    pub async fn possible_owners(&self, admin: &User, app: &Application) -> Result<Vec<User>> {
        if !admin.role.is_admin() || !may_manage_application(admin, app) {
            return Ok(Vec::new());
        }
        let users: Vec<User> = sqlx::query_as(
            "SELECT id, domain_id, email, role, disabled_at FROM users \
             WHERE domain_id = $1 AND disabled_at IS NULL ORDER BY email",
        )
        .bind(&app.domain_id)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(users
            .into_iter()
            .filter(|u| may_hand_to(admin, u))
            .collect())
    }

    /// Hands an application to another enabled user of its domain, with
    /// its client ID, secrets and consents as they are: an integration
    /// whose owner leaves keeps working, without a new secret to roll out.
    /// Admins only (a domain admin within their domain); audited.
    pub async fn transfer_application(
        &self,
        access: &Access,
        id: &str,
        new_owner_id: &str,
    ) -> Result<Application> {
        let (actor, admin) = (access.actor(), access.person()?);
        if !admin.role.is_admin() {
            return Err(Error::Forbidden);
        }
        let app = self.application_for(admin, id).await?.app;
        let owner = accounts::find_user(&self.db, new_owner_id)
            .await?
            .filter(|u| u.domain_id == app.domain_id && u.disabled_at.is_none())
            .ok_or_else(|| {
                Error::invalid(
                    "owner",
                    "Choose an enabled user of the application's domain.",
                )
            })?;
        if !may_hand_to(admin, &owner) {
            return Err(Error::invalid(
                "owner",
                "Choose a user whose role is not above yours.",
            ));
        }
        if owner.id == app.owner_id {
            return Ok(app);
        }
        let now = self.now();
        let mut tx = self.db.write().await?;
        let moved = sqlx::query(
            "UPDATE applications SET owner_id = $1, updated_at = $2 \
             WHERE id = $3 AND owner_id = $4 AND removed_at IS NULL",
        )
        .bind(&owner.id)
        .bind(now)
        .bind(&app.id)
        .bind(&app.owner_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            // Removed or handed over by someone else meanwhile.
            return Err(Error::NotFound);
        }
        let detail = format!("from {} to {}", app.owner_email, owner.email);
        let target = app.label();
        audit::record(
            &mut tx,
            app_entry(
                now,
                actor,
                &app,
                &target,
                Action::ApplicationTransferred,
                Some(&detail),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(self.application_for(admin, id).await?.app)
    }
}
