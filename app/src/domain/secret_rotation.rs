//! Secret rotation without downtime: a new secret takes over at once while
//! the one it replaces keeps working until a deadline the admin picks. The
//! old one can be retired early, and retires itself at the deadline.

use super::access::Access;
use super::applications::{app_entry, Application, Credentials, SELECT};
use super::audit::{self, Action, Actor};
use super::clock::Timestamp;
use super::{Error, Keyport, Result};

/// The longest grace period: 7 days.
pub const GRACE_MAX: i64 = 7 * 86_400;
/// The grace period unless the admin picks another: 24 hours.
pub const GRACE_DEFAULT: i64 = 86_400;

#[derive(Debug, Clone)]
pub struct Rotated {
    pub app: Application,
    pub credentials: Credentials,
    /// Until when the previous secret still works; `None` if it was retired
    /// at once.
    pub previous_expires_at: Option<Timestamp>,
}

/// "24 h", "7 days", "now": how the audit log and the page speak of a grace
/// period.
pub fn describe_grace(seconds: i64) -> String {
    match seconds {
        0 => "none".into(),
        s if s % 86_400 == 0 => match s / 86_400 {
            1 => "24 h".into(),
            d => format!("{d} days"),
        },
        s if s % 3_600 == 0 => format!("{} h", s / 3_600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

impl Keyport {
    /// Issues a new secret for the application. The current one becomes
    /// the previous secret, valid for `grace_seconds` more (0: retired now);
    /// a previous secret still in its grace period is retired by this.
    pub async fn rotate_secret(
        &self,
        access: &Access,
        id: &str,
        grace_seconds: i64,
    ) -> Result<Rotated> {
        let (actor, user) = (access.actor(), access.person()?);
        if !(0..=GRACE_MAX).contains(&grace_seconds) {
            return Err(Error::invalid(
                "grace_seconds",
                format!("The grace period must be from 0 to {GRACE_MAX} seconds (7 days)."),
            ));
        }
        let app = self.application_for(user, id).await?.app;
        if app.is_public() {
            return Err(Error::invalid(
                "secret",
                super::applications::PUBLIC_HAS_NO_SECRET,
            ));
        }
        let (secret, hash, sealed) = self.fresh_secret(&app.client_id);
        let now = self.now();
        let previous_expires_at = (grace_seconds > 0).then_some(now + grace_seconds);
        // Usage counted on this node so far belongs to the secret being
        // replaced: write it down before the secrets change places.
        self.flush_usage().await?;
        let mut tx = self.db.write().await?;
        let keep_previous = match previous_expires_at {
            Some(_) => {
                "previous_secret_hash = secret_hash, previous_secret_expires_at = $5, \
                 previous_last_used_at = secret_last_used_at"
            }
            None => {
                "previous_secret_hash = NULL, previous_secret_expires_at = NULL, \
                 previous_last_used_at = NULL"
            }
        };
        let sql = format!(
            "UPDATE applications SET {keep_previous}, secret_hash = $1, secret_sealed = $2, \
             secret_last_used_at = NULL, rotated_at = $3 WHERE id = $4 AND removed_at IS NULL"
        );
        let mut query = sqlx::query(&sql)
            .bind(&hash)
            .bind(&sealed)
            .bind(now)
            .bind(&app.id);
        if let Some(expires_at) = previous_expires_at {
            query = query.bind(expires_at);
        }
        if query.execute(&mut *tx).await?.rows_affected() == 0 {
            return Err(Error::NotFound);
        }
        let target = app.label();
        let detail = format!("grace period {}", describe_grace(grace_seconds));
        audit::record(
            &mut tx,
            app_entry(
                now,
                actor,
                &app,
                &target,
                Action::SecretRotated,
                Some(&detail),
            ),
        )
        .await?;
        tx.commit().await?;
        let app = self.application_for(user, id).await?.app;
        Ok(Rotated {
            credentials: Credentials {
                client_id: app.client_id.clone(),
                client_secret: secret,
            },
            app,
            previous_expires_at,
        })
    }

    /// Retires the previous secret before its deadline.
    pub async fn retire_previous_secret(&self, access: &Access, id: &str) -> Result<()> {
        let (actor, user) = (access.actor(), access.person()?);
        let app = self.application_for(user, id).await?.app;
        let now = self.now();
        let mut tx = self.db.write().await?;
        let retired = sqlx::query(
            "UPDATE applications SET previous_secret_hash = NULL, previous_secret_expires_at = NULL \
             WHERE id = $1 AND previous_secret_hash IS NOT NULL AND previous_secret_expires_at > $2",
        )
        .bind(&app.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if retired.rows_affected() == 0 {
            return Err(Error::invalid(
                "retire",
                "This application has no previous secret in its grace period.",
            ));
        }
        let target = app.label();
        audit::record(
            &mut tx,
            app_entry(
                now,
                actor,
                &app,
                &target,
                Action::SecretRetired,
                Some("retired early"),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Retires, and audits once, every previous secret whose grace period
    /// has ended. The token endpoint already refuses them from the deadline
    /// on; this clears them from the page and the database.
    pub async fn retire_expired_secrets(&self) -> Result<usize> {
        let now = self.now();
        let due: Vec<Application> = sqlx::query_as(&format!(
            "{SELECT} WHERE a.previous_secret_expires_at IS NOT NULL AND a.previous_secret_expires_at <= $1"
        ))
        .bind(now)
        .fetch_all(&self.db.pool)
        .await?;
        let mut retired = 0;
        for app in &due {
            let mut tx = self.db.write().await?;
            let done = sqlx::query(
                "UPDATE applications SET previous_secret_hash = NULL, previous_secret_expires_at = NULL \
                 WHERE id = $1 AND previous_secret_expires_at <= $2",
            )
            .bind(&app.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                let target = app.label();
                let actor = Actor::keyport();
                audit::record(
                    &mut tx,
                    app_entry(
                        now,
                        &actor,
                        app,
                        &target,
                        Action::SecretRetired,
                        Some("grace period ended"),
                    ),
                )
                .await?;
                retired += 1;
            }
            tx.commit().await?;
        }
        Ok(retired)
    }
}

#[cfg(test)]
mod tests {
    use super::describe_grace;

    #[test]
    fn grace_periods_read_as_admins_say_them() {
        assert_eq!(describe_grace(0), "none");
        assert_eq!(describe_grace(3_600), "1 h");
        assert_eq!(describe_grace(86_400), "24 h");
        assert_eq!(describe_grace(7 * 86_400), "7 days");
        assert_eq!(describe_grace(90), "90 s");
        assert_eq!(describe_grace(120), "2 min");
    }
}
