//! Console accounts: roles, argon2id passwords, first-run setup and sign-in
//! with limits that slow guessing without locking the real user out.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::audit::{self, Action, Actor};
use super::ids::{DomainId, UserId};
use super::limiter::{Key, Limiter};
use super::secrets::{random_token, Password, Secret, SetupToken};
use super::store::Db;
use super::validate::storable;
use super::{Error, Invalid, Keyport, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Role {
    SuperAdmin,
    DomainAdmin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SuperAdmin => "super_admin",
            Self::DomainAdmin => "domain_admin",
            Self::Member => "member",
        }
    }

    pub fn is_admin(self) -> bool {
        matches!(self, Self::SuperAdmin | Self::DomainAdmin)
    }
}

impl std::str::FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "super_admin" => Ok(Self::SuperAdmin),
            "domain_admin" => Ok(Self::DomainAdmin),
            "member" => Ok(Self::Member),
            _ => Err(Error::invalid(
                "role",
                "role must be super_admin, domain_admin or member",
            )),
        }
    }
}

impl TryFrom<String> for Role {
    type Error = Error;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: UserId,
    pub domain_id: DomainId,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub disabled_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct Credentials {
    #[sqlx(flatten)]
    user: User,
    password_hash: Option<String>,
}

const USER_COLUMNS: &str = "id, domain_id, email, role, disabled_at";

pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 128;
const EMAIL_MAX: usize = 254;

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub fn validate_email(email: &str) -> Option<Invalid> {
    let valid = email.len() <= EMAIL_MAX
        && !email
            .chars()
            .any(|c| c.is_whitespace() || super::validate::is_hidden_control(c))
        && email.split_once('@').is_some_and(|(local, host)| {
            !local.is_empty() && host.contains('.') && !host.contains('@')
        });
    (!valid).then(|| Invalid::new("email", "Enter an email address such as admin@example.com"))
}

pub fn validate_password(password: &Password) -> Option<Invalid> {
    let len = password.expose().chars().count();
    if len < PASSWORD_MIN {
        Some(Invalid::new(
            "password",
            format!("Use at least {PASSWORD_MIN} characters"),
        ))
    } else if len > PASSWORD_MAX {
        Some(Invalid::new(
            "password",
            format!("Use at most {PASSWORD_MAX} characters"),
        ))
    } else {
        None
    }
}

/// A user's insert, with a taken email named next to its field.
pub(crate) fn email_taken(
    inserted: std::result::Result<sqlx::any::AnyQueryResult, sqlx::Error>,
) -> Result<()> {
    let taken = Invalid::new("email", "A user with this email already exists");
    super::store::on_constraint(inserted, &[("users_email_key", taken)]).map(|_| ())
}

pub async fn any_user_exists(db: &Db) -> Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM users LIMIT 1")
        .fetch_optional(&db.pool)
        .await?
        .is_some())
}

pub async fn find_user(db: &Db, id: &str) -> Result<Option<User>> {
    if !storable(id) {
        return Ok(None);
    }
    Ok(
        sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

impl Keyport {
    /// The user with this id, as read within `cache::FRESH_FOR_MS`: what every
    /// signed-in page and API call asks first.
    pub async fn user(&self, id: &str) -> Result<Option<User>> {
        self.memory
            .users
            .get_or_read(id, || find_user(&self.db, id))
            .await
    }
}

pub async fn find_user_by_email(db: &Db, email: &str) -> Result<Option<User>> {
    if !storable(email) {
        return Ok(None);
    }
    Ok(sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
    ))
    .bind(normalize_email(email))
    .fetch_optional(&db.pool)
    .await?)
}

/// What was typed as an email, within bounds, and with nothing in it that
/// could not be stored or would act on a terminal or a page: how the audit
/// log names whoever tried.
fn typed_label(email: &str) -> String {
    email
        .chars()
        .take(EMAIL_MAX)
        .map(|c| {
            if super::validate::is_hidden_control(c) {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

/// The budgets one sign-in attempt spends, taken before its password is
/// hashed.
pub(super) struct Attempt<'a> {
    taken: Vec<(&'a Limiter, Key)>,
}

impl<'a> Attempt<'a> {
    /// Takes one attempt from each budget, or from none and says how long
    /// to wait.
    pub(super) fn take(
        budgets: Vec<(&'a Limiter, Key)>,
        now: super::clock::Timestamp,
    ) -> Result<Self> {
        let mut attempt = Self { taken: Vec::new() };
        for (limiter, key) in budgets {
            if let Err(retry_after) = limiter.take(&key, now) {
                attempt.give_back();
                return Err(Error::RateLimited { retry_after });
            }
            attempt.taken.push((limiter, key));
        }
        Ok(attempt)
    }

    /// Gives every attempt back: the password was right, or never checked.
    pub(super) fn give_back(self) {
        for (limiter, key) in self.taken {
            limiter.refund(&key);
        }
    }
}

/// A successful sign-in: the user, and the device cookie that lets this
/// browser sign in again on a budget of its own.
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    pub device: String,
}

/// A new console user, checked and ready to insert.
pub struct NewUser {
    pub domain_id: DomainId,
    pub email: String,
    pub role: Role,
    pub password: Password,
}

impl Keyport {
    /// Whether `/setup` still accepts a token.
    pub fn setup_open(&self) -> bool {
        self.lock_setup_token().is_some()
    }

    /// Creates the first super admin with the one-time token from the log.
    pub async fn complete_setup(
        &self,
        token: &SetupToken,
        email: &str,
        password: Password,
        address: &str,
    ) -> Result<User> {
        let expected = self.pending_setup_token().ok_or(Error::SetupClosed)?;
        if *token != expected {
            return Err(Error::BadSetupToken);
        }
        if any_user_exists(&self.db).await? {
            // Someone ran `keyport admin create` meanwhile.
            self.lock_setup_token().take();
            return Err(Error::SetupClosed);
        }
        let new = NewUser {
            domain_id: self.tenancy.default_domain_id.clone(),
            email: normalize_email(email),
            role: Role::SuperAdmin,
            password,
        };
        let user = self.insert_user(new, Some("setup"), address, None).await?;
        self.lock_setup_token().take();
        Ok(user)
    }

    /// Creates a user. With `milestone`, the insert happens only if that
    /// milestone has not been reached, so that first-run setup succeeds once
    /// even with concurrent submissions on several nodes.
    pub async fn insert_user(
        &self,
        new: NewUser,
        milestone: Option<&str>,
        address: &str,
        actor: Option<&Actor>,
    ) -> Result<User> {
        let problems: Vec<Invalid> = [validate_email(&new.email), validate_password(&new.password)]
            .into_iter()
            .flatten()
            .collect();
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        let hash = self.hasher.hash(new.password).await?;
        let now = self.now();
        let user = User {
            id: UserId::new(Uuid::new_v4().to_string()),
            domain_id: new.domain_id,
            email: new.email,
            role: new.role,
            disabled_at: None,
        };

        let mut tx = self.db.write().await?;
        if let Some(name) = milestone {
            let reached = sqlx::query(
                "INSERT INTO milestones (name, reached_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 0;
            if reached {
                return Err(Error::SetupClosed);
            }
        }
        let inserted = sqlx::query(
            "INSERT INTO users (id, domain_id, email, role, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&user.id)
        .bind(&user.domain_id)
        .bind(&user.email)
        .bind(user.role.as_str())
        .bind(&hash)
        .bind(now)
        .execute(&mut *tx)
        .await;
        email_taken(inserted)?;
        let system = Actor {
            user_id: None,
            label: "system".into(),
            address: address.into(),
        };
        let actor = actor.unwrap_or(&system);
        audit::record(
            &mut tx,
            audit::Entry {
                at: now,
                domain_id: Some(&user.domain_id),
                actor,
                action: Action::UserCreated,
                target: Some(&user.email),
                client_id: None,
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Checks an email and password. The error never says whether the
    /// email exists.
    ///
    /// Guessing is slowed without handing anyone a way to lock the real
    /// user out (OWASP's device cookies): a browser that signed in to the
    /// account before presents its device cookie and spends a budget of
    /// its own; any other attempt spends the account's budget and its
    /// address's. Each attempt takes from its budgets before the password
    /// is hashed, so a burst in parallel cannot pass a limit none of it
    /// has met yet; a success gives its attempt back.
    pub async fn sign_in(
        &self,
        email: &str,
        password: Password,
        address: &str,
        device: Option<&str>,
    ) -> Result<SignedIn> {
        let email = normalize_email(email);
        let (user, hash) = self.credentials(&email).await?;
        let trusted = user
            .as_ref()
            .and_then(|u| self.trusted_device(&u.id, device?));
        let limits = &self.limits;
        let budgets: Vec<(&Limiter, Key)> = match &trusted {
            Some(nonce) => vec![(&limits.sign_in_devices, Key::of("device", nonce.as_bytes()))],
            None => vec![
                (&limits.sign_in_addresses, Key::address_text(address)),
                (
                    &limits.sign_in_accounts,
                    Key::of("account", email.as_bytes()),
                ),
            ],
        };
        let attempt = Attempt::take(budgets, self.now())?;
        let verified = match self.hasher.verify(hash, password).await {
            Ok(verified) => verified,
            Err(e) => {
                // Nothing was checked: the attempt does not count.
                attempt.give_back();
                return Err(e);
            }
        };
        let actor = Actor {
            user_id: user.as_ref().map(|u| u.id.clone()),
            label: typed_label(&email),
            address: address.into(),
        };
        match user {
            // The caller records the sign-in once it is complete: after the
            // second factor, for a user who has one.
            Some(user) if verified => {
                attempt.give_back();
                let nonce = trusted.unwrap_or_else(|| random_token(16));
                let device = self.device_cookie(&user.id, &nonce);
                Ok(SignedIn { user, device })
            }
            user => {
                let domain = user.as_ref().map(|u| u.domain_id.as_str());
                self.audit(domain, &actor, Action::SignInFailed, None)
                    .await?;
                Err(Error::BadCredentials)
            }
        }
    }

    /// The enabled user with this email and their password hash, if any.
    async fn credentials(&self, email: &str) -> Result<(Option<User>, Option<String>)> {
        let found: Option<Credentials> = if storable(email) {
            sqlx::query_as(&format!(
                "SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1"
            ))
            .bind(email)
            .fetch_optional(&self.db.pool)
            .await?
        } else {
            None
        };
        Ok(match found {
            Some(Credentials {
                user,
                password_hash: Some(hash),
            }) if user.disabled_at.is_none() => (Some(user), Some(hash)),
            _ => (None, None),
        })
    }

    /// The device cookie of a browser that signed in as `user_id`: a nonce
    /// of its own, and a tag only this deployment can make.
    fn device_cookie(&self, user_id: &str, nonce: &str) -> String {
        let tag = self
            .master_key
            .device_tag(format!("{user_id}.{nonce}").as_bytes());
        format!("{nonce}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The device's nonce, if `cookie` is a device cookie made for `user_id`.
    fn trusted_device(&self, user_id: &str, cookie: &str) -> Option<String> {
        let (nonce, _) = cookie.split_once('.')?;
        let expected = self.device_cookie(user_id, nonce);
        (expected.len() == cookie.len() && bool::from(expected.as_bytes().ct_eq(cookie.as_bytes())))
            .then(|| nonce.to_owned())
    }

    pub async fn audit(
        &self,
        domain_id: Option<&str>,
        actor: &Actor,
        action: Action,
        target: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.db.write().await?;
        audit::record(
            &mut tx,
            audit::Entry {
                at: self.now(),
                domain_id,
                actor,
                action,
                target,
                client_id: None,
                detail: None,
            },
        )
        .await?;
        Ok(tx.commit().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_passwords_are_checked() {
        assert!(validate_email("admin@example.com").is_none());
        for bad in [
            "",
            "admin",
            "@example.com",
            "a@b",
            "a b@example.com",
            "a@b@c.com",
        ] {
            assert!(validate_email(bad).is_some(), "{bad} accepted");
        }
        assert!(validate_password(&Password::new("short")).is_some());
        assert!(validate_password(&Password::new("long enough password")).is_none());
        assert!(validate_password(&Password::new("x".repeat(129))).is_some());
    }

    #[test]
    fn roles_round_trip_and_reject_unknown_names() {
        for role in [Role::SuperAdmin, Role::DomainAdmin, Role::Member] {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
