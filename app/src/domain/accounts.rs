//! Console accounts: roles, argon2id passwords, first-run setup and sign-in.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use uuid::Uuid;

use super::audit::{self, Action, Actor};
use super::secrets::{Password, Secret, SetupToken};
use super::store::Db;
use super::validate::storable;
use super::{Error, Invalid, Keyport, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    pub id: String,
    pub domain_id: String,
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

/// argon2id with the OWASP-recommended minimum: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes off the async runtime: one hash costs tens of milliseconds of CPU.
pub async fn hash_password(password: impl Secret) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Config(format!("argon2: {e}")))
    })
    .await?
}

pub async fn verify_password(hash: String, password: impl Secret) -> Result<bool> {
    Ok(tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                argon2()
                    .verify_password(password.expose().as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await?)
}

/// A hash of nothing anyone knows, verified against when the email is
/// unknown so that a wrong email costs as long as a wrong password.
pub(super) fn decoy_hash() -> String {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY
        .get_or_init(|| {
            let salt = SaltString::generate(&mut OsRng);
            argon2()
                .hash_password(super::secrets::random_token(32).as_bytes(), &salt)
                .map(|h| h.to_string())
                .unwrap_or_default()
        })
        .clone()
}

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

/// The one unique constraint a new user can break is their email.
pub(crate) fn email_taken(
    inserted: std::result::Result<sqlx::any::AnyQueryResult, sqlx::Error>,
) -> Result<()> {
    match inserted {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(Error::invalid(
            "email",
            "A user with this email already exists",
        )),
        other => other.map(|_| ()).map_err(Error::from),
    }
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
    /// The user with this id, as read within `recent::FRESH_FOR`: what every
    /// signed-in page and API call asks first.
    pub async fn user(&self, id: &str) -> Result<Option<User>> {
        self.recent
            .users
            .get_or_read(id, &self.db.changes, || find_user(&self.db, id))
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

/// A new console user, checked and ready to insert.
pub struct NewUser {
    pub domain_id: String,
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
        let hash = hash_password(new.password).await?;
        let now = self.now();
        let user = User {
            id: Uuid::new_v4().to_string(),
            domain_id: new.domain_id,
            email: new.email,
            role: new.role,
            disabled_at: None,
        };

        let mut tx = self.db.begin_write().await?;
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
            &mut *tx,
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
        self.db.commit(tx).await?;
        Ok(user)
    }

    /// Checks an email and password, with lockout per account and address.
    /// The error never says whether the email exists.
    pub async fn sign_in(&self, email: &str, password: Password, address: &str) -> Result<User> {
        let email = normalize_email(email);
        let now = self.now();
        if let Some(retry_after) = self.sign_in_limiter.retry_after(&email, address, now) {
            return Err(Error::RateLimited { retry_after });
        }
        let found: Option<Credentials> = if storable(&email) {
            sqlx::query_as(&format!(
                "SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1"
            ))
            .bind(&email)
            .fetch_optional(&self.db.pool)
            .await?
        } else {
            None
        };

        let (user, hash) = match found {
            Some(Credentials {
                user,
                password_hash: Some(hash),
            }) if user.disabled_at.is_none() => (Some(user), hash),
            _ => (None, decoy_hash()),
        };
        let verified = verify_password(hash, password).await?;
        let actor = Actor {
            user_id: user.as_ref().map(|u| u.id.clone()),
            // What was typed, within bounds, and with nothing in it that
            // could not be stored or would act on a terminal or a page.
            label: email
                .chars()
                .take(EMAIL_MAX)
                .map(|c| {
                    if super::validate::is_hidden_control(c) {
                        '\u{FFFD}'
                    } else {
                        c
                    }
                })
                .collect(),
            address: address.into(),
        };
        match user {
            Some(user) if verified => {
                self.sign_in_limiter.record_success(&email);
                self.audit(Some(&user.domain_id), &actor, Action::SignIn, None)
                    .await?;
                Ok(user)
            }
            user => {
                self.sign_in_limiter.record_failure(&email, address, now);
                let domain = user.as_ref().map(|u| u.domain_id.as_str());
                self.audit(domain, &actor, Action::SignInFailed, None)
                    .await?;
                Err(Error::BadCredentials)
            }
        }
    }

    pub async fn audit(
        &self,
        domain_id: Option<&str>,
        actor: &Actor,
        action: Action,
        target: Option<&str>,
    ) -> Result<()> {
        audit::record(
            &self.db.pool,
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
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password(Password::new("correct horse battery"))
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify_password(hash.clone(), Password::new("correct horse battery"))
                .await
                .unwrap()
        );
        assert!(!verify_password(hash, Password::new("wrong horse battery"))
            .await
            .unwrap());
        assert!(!verify_password("not a hash".into(), Password::new("x"))
            .await
            .unwrap());
    }

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
