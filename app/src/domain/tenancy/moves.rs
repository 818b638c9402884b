//! Moving a user to another domain together with what they own: all of it
//! in one transaction, or nothing.

use super::{domain_in, Domain};
use crate::domain::access::Access;
use crate::domain::accounts::User;
use crate::domain::applications::{lock_domain, room};
use crate::domain::audit::{self, Action};
use crate::domain::store::Write;
use crate::domain::validate::storable;
use crate::domain::{Error, Keyport, Result};

/// What a user's move took along.
#[derive(Debug, Clone)]
pub struct Moved {
    pub user: User,
    pub from: Domain,
    pub to: Domain,
    /// Applications in use that moved with the user.
    pub applications: i64,
}

impl Keyport {
    /// Moves a user to another domain together with every application they
    /// own, in one transaction: refused, changing nothing, when the target
    /// domain has no room for their applications in use or already has one
    /// of the same name. Super admins only, and never themselves.
    pub async fn move_user(
        &self,
        access: &Access,
        user_id: &str,
        domain_id: &str,
    ) -> Result<Moved> {
        access.require_super_admin()?;
        let actor = access.actor();
        if access
            .user()
            .is_some_and(|admin| admin.id.as_str() == user_id)
        {
            return Err(Error::invalid("domain", "You cannot move yourself."));
        }
        let now = self.now();
        let mut tx = self.db.write().await?;
        let user = user_in(&mut tx, user_id).await?;
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
        let moving = room_for(&mut tx, &user, &to).await?;
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
            let entry = audit::Entry::about(
                now,
                &domain.id,
                actor,
                Action::UserMoved,
                &user.email,
                Some(&detail),
            );
            audit::record(&mut tx, entry).await?;
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
}

/// The user with this id as the transaction sees them.
async fn user_in(tx: &mut Write, id: &str) -> Result<User> {
    if !storable(id) {
        return Err(Error::NotFound);
    }
    sqlx::query_as("SELECT id, domain_id, email, role, disabled_at FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound)
}

/// How many applications in use `user` brings to `to`, once it is known
/// that `to` has room for them and no application of the same name; with
/// both domains locked.
async fn room_for(tx: &mut Write, user: &User, to: &Domain) -> Result<i64> {
    let moving: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM applications WHERE owner_id = $1 AND domain_id <> $2 AND removed_at IS NULL",
    )
    .bind(&user.id)
    .bind(&to.id)
    .fetch_one(&mut **tx)
    .await?;
    let (count, limit) = room(tx, &to.id).await?;
    if count + moving > limit {
        return Err(Error::invalid(
            "domain",
            format!(
                "{} holds {count} of its {limit} applications and {} owns {moving} more. Raise its limit or remove applications first.",
                to.name, user.email
            ),
        ));
    }
    if let Some(clash) = name_clash(tx, user, to).await? {
        return Err(Error::invalid(
            "domain",
            format!(
                "{} already has an application named \u{201c}{clash}\u{201d}. Rename one of them first.",
                to.name
            ),
        ));
    }
    Ok(moving)
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
