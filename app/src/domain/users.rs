//! Console users managed by admins: create with a role (the new user sets a
//! password through a one-time link), change role, disable (their sessions
//! end at once), enable. A domain admin manages only their own domain and
//! never a super admin; nobody changes or disables themselves.

use uuid::Uuid;

use super::access::Access;
use super::accounts::{normalize_email, validate_email, validate_password, Role, User};
use super::audit::{self, Action, Actor};
use super::clock::Timestamp;
use super::ids::UserId;
use super::rules::{may_grant_role, may_manage_user};
use super::secrets::{token_digest, LinkToken, Password, Secret};
use super::tenancy::Domain;
use super::{Error, Keyport, Result};

/// How long a password link works.
pub const LINK_TTL: i64 = 7 * 86_400;

/// A user as the Users page lists them.
#[derive(Debug, Clone)]
pub struct Listed {
    pub user: User,
    pub created_at: Timestamp,
    /// False until they have set a password through their link.
    pub has_password: bool,
}

impl Keyport {
    /// The users of `domain`, by email. Admins only.
    pub async fn list_users(&self, admin: &User, domain: &Domain) -> Result<Vec<Listed>> {
        if !admin.role.is_admin() {
            return Err(Error::Forbidden);
        }
        Ok(sqlx::query_as(
            "SELECT id, domain_id, email, role, disabled_at, created_at, \
             CAST(CASE WHEN password_hash IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_password \
             FROM users WHERE domain_id = $1 ORDER BY email",
        )
        .bind(&domain.id)
        .fetch_all(&self.db.pool)
        .await?
        .into_iter()
        .map(|row: ListedRow| row.into())
        .collect())
    }

    /// Creates a user without a password, and the one-time link with which
    /// they set one.
    pub async fn create_user(
        &self,
        access: &Access,
        domain: &Domain,
        email: &str,
        role: Role,
    ) -> Result<(User, LinkToken)> {
        let (actor, admin) = (access.actor(), access.person()?);
        if !admin.role.is_admin()
            || (admin.role != Role::SuperAdmin && domain.id != admin.domain_id)
        {
            return Err(Error::Forbidden);
        }
        if !may_grant_role(admin, role) {
            return Err(Error::invalid(
                "role",
                "A domain admin cannot create super admins.",
            ));
        }
        let email = normalize_email(email);
        if let Some(problem) = validate_email(&email) {
            return Err(Error::Invalid(vec![problem]));
        }
        let now = self.now();
        let user = User {
            id: UserId::new(Uuid::new_v4().to_string()),
            domain_id: domain.id.clone(),
            email,
            role,
            disabled_at: None,
        };
        let link = LinkToken::generate();
        let mut tx = self.db.write().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, domain_id, email, role, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&user.id)
        .bind(&user.domain_id)
        .bind(&user.email)
        .bind(user.role.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await;
        super::accounts::email_taken(inserted)?;
        insert_link(&mut tx, &user.id, &link, now).await?;
        let detail = format!("role {}", role.as_str());
        audit::record(
            &mut tx,
            user_entry(now, actor, &user, Action::UserCreated, Some(&detail)),
        )
        .await?;
        tx.commit().await?;
        Ok((user, link))
    }

    /// A user `admin` may manage, or `NotFound`.
    pub(super) async fn managed_user(&self, admin: &User, id: &str) -> Result<User> {
        super::accounts::find_user(&self.db, id)
            .await?
            .filter(|target| may_manage_user(admin, target))
            .ok_or(Error::NotFound)
    }

    /// Replaces the user's password link with a new one (the old stops
    /// working), for a lost link or a forgotten password.
    pub async fn issue_password_link(
        &self,
        access: &Access,
        id: &str,
    ) -> Result<(User, LinkToken)> {
        let (actor, admin) = (access.actor(), access.person()?);
        let user = self.managed_user(admin, id).await?;
        let link = LinkToken::generate();
        let now = self.now();
        let mut tx = self.db.write().await?;
        insert_link(&mut tx, &user.id, &link, now).await?;
        audit::record(
            &mut tx,
            user_entry(now, actor, &user, Action::PasswordLinkIssued, None),
        )
        .await?;
        tx.commit().await?;
        Ok((user, link))
    }

    pub async fn change_role(&self, access: &Access, id: &str, role: Role) -> Result<()> {
        let (actor, admin) = (access.actor(), access.person()?);
        let user = self.managed_user(admin, id).await?;
        if user.id == admin.id {
            return Err(Error::invalid("role", "You cannot change your own role."));
        }
        if !may_grant_role(admin, role) {
            return Err(Error::invalid(
                "role",
                "A domain admin cannot make super admins.",
            ));
        }
        if user.role == role {
            return Ok(());
        }
        let now = self.now();
        let mut tx = self.db.write().await?;
        sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
            .bind(role.as_str())
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        // What a session was signed in to do changed: it ends, and the
        // user signs in again under the new role's rules (its second
        // factor among them).
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        let detail = format!("{} to {}", user.role.as_str(), role.as_str());
        audit::record(
            &mut tx,
            user_entry(now, actor, &user, Action::UserRoleChanged, Some(&detail)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Disables a user, ending every session of theirs in the same
    /// transaction, or enables them again.
    pub async fn set_disabled(&self, access: &Access, id: &str, disabled: bool) -> Result<()> {
        let (actor, admin) = (access.actor(), access.person()?);
        let user = self.managed_user(admin, id).await?;
        if user.id == admin.id {
            return Err(Error::invalid("user", "You cannot disable yourself."));
        }
        if user.disabled_at.is_some() == disabled {
            return Ok(());
        }
        let now = self.now();
        let mut tx = self.db.write().await?;
        sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
            .bind(disabled.then_some(now))
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        let action = if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(&user.id)
                .execute(&mut *tx)
                .await?;
            // Their refresh tokens end too: enabling them again does not
            // bring back what they approved before.
            super::authorization::revoke_families(
                &mut tx,
                super::authorization::Families::User(&user.id),
                now,
            )
            .await?;
            Action::UserDisabled
        } else {
            Action::UserEnabled
        };
        audit::record(&mut tx, user_entry(now, actor, &user, action, None)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user a password link is for, while it works.
    pub async fn password_link_user(&self, token: &LinkToken) -> Result<Option<User>> {
        Ok(sqlx::query_as(
            "SELECT u.id, u.domain_id, u.email, u.role, u.disabled_at FROM password_links l \
             JOIN users u ON u.id = l.user_id WHERE l.token_hash = $1 AND l.expires_at > $2 \
             AND u.disabled_at IS NULL",
        )
        .bind(token_digest(token.expose()))
        .bind(self.now())
        .fetch_optional(&self.db.pool)
        .await?)
    }

    /// Sets the password of the link's user, uses the link up and ends
    /// every session of theirs.
    pub async fn set_password_with_link(
        &self,
        token: &LinkToken,
        password: Password,
        address: &str,
    ) -> Result<User> {
        if let Some(problem) = validate_password(&password) {
            return Err(Error::Invalid(vec![problem]));
        }
        // A link that does not work costs no argon2 run: the welcome form
        // is open to anyone. (Claiming it below still decides the race.)
        if self.password_link_user(token).await?.is_none() {
            return Err(used_link());
        }
        let hash = self.hasher.hash(password).await?;
        let now = self.now();
        let mut tx = self.db.write().await?;
        // Claimed by deleting it: of two racing uses, one finds nothing.
        let user_id: Option<String> = sqlx::query_scalar(
            "DELETE FROM password_links WHERE token_hash = $1 AND expires_at > $2 RETURNING user_id",
        )
        .bind(token_digest(token.expose()))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let user: Option<User> = match user_id {
            Some(id) => {
                sqlx::query_as(
                    "SELECT id, domain_id, email, role, disabled_at FROM users WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
            }
            None => None,
        };
        let Some(user) = user.filter(|u| u.disabled_at.is_none()) else {
            return Err(used_link());
        };
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(&hash)
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        // Whoever held a session of this user before the new password did
        // not prove they know it.
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        let actor = Actor {
            user_id: Some(user.id.clone()),
            label: user.email.clone(),
            address: address.to_owned(),
        };
        audit::record(
            &mut tx,
            user_entry(now, &actor, &user, Action::PasswordSet, None),
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }
}

fn used_link() -> Error {
    Error::invalid(
        "token",
        "This link has expired or was already used. Ask an admin for a new one.",
    )
}

/// A new link for `user_id`; their earlier links stop working.
async fn insert_link(
    tx: &mut super::store::Write,
    user_id: &str,
    link: &LinkToken,
    now: Timestamp,
) -> Result<()> {
    sqlx::query("DELETE FROM password_links WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO password_links (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_digest(link.expose()))
    .bind(user_id)
    .bind(now)
    .bind(now + LINK_TTL)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) fn user_entry<'a>(
    at: Timestamp,
    actor: &'a Actor,
    user: &'a User,
    action: Action,
    detail: Option<&'a str>,
) -> audit::Entry<'a> {
    audit::Entry::about(at, &user.domain_id, actor, action, &user.email, detail)
}

/// `has_password` as both engines return it (an integer).
#[derive(sqlx::FromRow)]
struct ListedRow {
    #[sqlx(flatten)]
    user: User,
    created_at: Timestamp,
    has_password: i64,
}

impl From<ListedRow> for Listed {
    fn from(row: ListedRow) -> Self {
        Self {
            user: row.user,
            created_at: row.created_at,
            has_password: row.has_password != 0,
        }
    }
}
