//! Second factors of console users: passkeys (`passkeys`), an authenticator
//! app (`totp`) and single-use recovery codes (`recovery`); which roles a
//! domain requires them of, with a grace period; an admin's reset; and the
//! fresh check (step-up) that sensitive actions ask for.
//!
//! Failed codes spend a budget per account (`Limits::second_factors`). Only
//! someone who already holds the account's password, or one of its
//! sessions, reaches a second factor, so no stranger can spend it and
//! lock the real user out.

mod passkeys;
mod recovery;
mod totp;

pub use recovery::RECOVERY_CODES;
pub use totp::TotpSetup;

use uuid::Uuid;

use super::access::Access;
use super::accounts::Attempt;
use super::accounts::{Role, User};
use super::audit::{self, Action, Actor};
use super::clock::Timestamp;
use super::limiter::Key;
use super::users::user_entry;
use super::{Error, Keyport, Result};

/// How long a password sign-in waits for its second factor.
pub const PENDING_SECS: i64 = 300;
/// The longest grace period a domain may give.
pub const MAX_GRACE_DAYS: i64 = 90;
/// The longest name of a factor.
const NAME_MAX: usize = 64;

/// A second factor as the Account page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Factor {
    pub id: String,
    /// `totp` or `passkey`.
    pub kind: String,
    pub name: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// A user's factors and what is left of their recovery codes.
#[derive(Debug, Clone)]
pub struct Factors {
    pub factors: Vec<Factor>,
    pub recovery_left: i64,
}

impl Factors {
    pub fn has_totp(&self) -> bool {
        self.factors.iter().any(|f| f.kind == "totp")
    }

    pub fn has_passkey(&self) -> bool {
        self.factors.iter().any(|f| f.kind == "passkey")
    }
}

/// Which roles of a domain must have a second factor, and for how many
/// days one who has none may still sign in without.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaPolicy {
    pub roles: Vec<Role>,
    pub grace_days: i64,
}

impl MfaPolicy {
    /// The rule as a domain's row keeps it.
    fn read(roles: &str, grace_days: i64) -> Self {
        Self {
            roles: roles
                .split_whitespace()
                .filter_map(|r| r.parse().ok())
                .collect(),
            grace_days,
        }
    }

    pub fn requires(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    fn roles_text(&self) -> String {
        let names: Vec<&str> = self.roles.iter().map(|r| r.as_str()).collect();
        names.join(" ")
    }
}

/// What a sign-in asks of a user once their password was right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// They have a second factor: it is asked for next.
    SecondFactor,
    /// Their role needs one and they have none: until `by` they may go on
    /// (and are reminded); after it, they may only set one up.
    Enrol { by: Timestamp },
    /// Nothing more.
    Nothing,
}

/// Seconds a check made at `verified_at` still lets sensitive actions go
/// ahead at `now`, when they last `ttl` (`KEYPORT_STEP_UP_TTL`, 5 minutes
/// by default): the second factor, or the password for a user without one.
pub fn fresh_for(verified_at: Option<Timestamp>, now: Timestamp, ttl: i64) -> i64 {
    match verified_at {
        Some(at) if at <= now && now - at < ttl => ttl - (now - at),
        _ => 0,
    }
}

impl Keyport {
    /// Whether `user_id` has a second factor that counts.
    pub async fn has_second_factor(&self, user_id: &str) -> Result<bool> {
        Ok(sqlx::query(
            "SELECT 1 FROM user_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL LIMIT 1",
        )
        .bind(user_id)
        .fetch_optional(&self.db.pool)
        .await?
        .is_some())
    }

    /// The user's factors that count, oldest first, and their recovery
    /// codes left.
    pub async fn factors(&self, user: &User) -> Result<Factors> {
        let factors = sqlx::query_as(
            "SELECT id, kind, name, created_at, last_used_at FROM user_factors \
             WHERE user_id = $1 AND confirmed_at IS NOT NULL ORDER BY created_at, id",
        )
        .bind(&user.id)
        .fetch_all(&self.db.pool)
        .await?;
        let recovery_left = self.recovery_codes_left(&user.id).await?;
        Ok(Factors {
            factors,
            recovery_left,
        })
    }

    /// Each user of `domain_id` with a second factor, and their factors'
    /// kinds in words.
    pub async fn factor_kinds(
        &self,
        domain_id: &str,
    ) -> Result<std::collections::HashMap<String, String>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT f.user_id, f.kind FROM user_factors f JOIN users u ON u.id = f.user_id \
             WHERE u.domain_id = $1 AND f.confirmed_at IS NOT NULL ORDER BY f.user_id, f.kind DESC",
        )
        .bind(domain_id)
        .fetch_all(&self.db.pool)
        .await?;
        let mut kinds = std::collections::HashMap::<String, String>::new();
        for (user, kind) in rows {
            let words = kinds.entry(user).or_default();
            if !words.is_empty() {
                words.push_str(", ");
            }
            words.push_str(kind_label(&kind));
        }
        Ok(kinds)
    }

    /// The second-factor rule of `domain_id`.
    pub async fn mfa_policy(&self, domain_id: &str) -> Result<MfaPolicy> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT mfa_roles, mfa_grace_days FROM domains WHERE id = $1")
                .bind(domain_id)
                .fetch_optional(&self.db.pool)
                .await?;
        let (roles, grace_days) = row.ok_or(Error::NotFound)?;
        Ok(MfaPolicy::read(&roles, grace_days))
    }

    /// Sets which roles of `domain_id` must have a second factor, and the
    /// grace period. Super admins only; audited.
    pub async fn set_mfa_policy(
        &self,
        access: &Access,
        domain_id: &str,
        policy: MfaPolicy,
    ) -> Result<()> {
        let (actor, admin) = (access.actor(), access.person()?);
        if admin.role != Role::SuperAdmin {
            return Err(Error::Forbidden);
        }
        if !(0..=MAX_GRACE_DAYS).contains(&policy.grace_days) {
            return Err(Error::invalid(
                "grace_days",
                format!("Give a grace period of 0 to {MAX_GRACE_DAYS} days"),
            ));
        }
        let before = self.mfa_policy(domain_id).await?;
        if before == policy {
            return Ok(());
        }
        let roles = policy.roles_text();
        let mut tx = self.db.write().await?;
        sqlx::query("UPDATE domains SET mfa_roles = $1, mfa_grace_days = $2 WHERE id = $3")
            .bind(&roles)
            .bind(policy.grace_days)
            .bind(domain_id)
            .execute(&mut *tx)
            .await?;
        let detail = format!(
            "roles: {}; grace: {} days",
            if roles.is_empty() { "none" } else { &roles },
            policy.grace_days
        );
        audit::record(
            &mut tx,
            audit::Entry::about(
                self.now(),
                domain_id,
                actor,
                Action::MfaPolicyChanged,
                domain_id,
                Some(&detail),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// What `user` must do after their password. The first time their
    /// role needs a factor they lack, the grace period starts.
    pub async fn requirement(&self, user: &User) -> Result<Requirement> {
        if self.has_second_factor(&user.id).await? {
            return Ok(Requirement::SecondFactor);
        }
        let (asked_at, roles, grace_days): (Option<i64>, String, i64) = sqlx::query_as(
            "SELECT u.mfa_asked_at, d.mfa_roles, d.mfa_grace_days \
             FROM users u JOIN domains d ON d.id = u.domain_id WHERE u.id = $1",
        )
        .bind(&user.id)
        .fetch_optional(&self.db.pool)
        .await?
        .ok_or(Error::NotFound)?;
        let policy = MfaPolicy::read(&roles, grace_days);
        if !policy.requires(user.role) {
            return Ok(Requirement::Nothing);
        }
        let asked_at = match asked_at {
            Some(at) => at,
            None => self.first_asked(user).await?,
        };
        Ok(Requirement::Enrol {
            by: asked_at + policy.grace_days * 86_400,
        })
    }

    /// Notes when the user was first asked for a second factor: once, the
    /// earliest of racing sign-ins winning.
    async fn first_asked(&self, user: &User) -> Result<Timestamp> {
        let mut tx = self.db.write().await?;
        sqlx::query("UPDATE users SET mfa_asked_at = $1 WHERE id = $2 AND mfa_asked_at IS NULL")
            .bind(self.now())
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        let (asked_at,): (i64,) = sqlx::query_as("SELECT mfa_asked_at FROM users WHERE id = $1")
            .bind(&user.id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(asked_at)
    }

    /// Removes one of the user's own factors; audited. Their last factor
    /// takes their recovery codes with it.
    pub async fn remove_factor(&self, access: &Access, id: &str) -> Result<()> {
        let (actor, user) = (access.actor(), access.person()?);
        let now = self.now();
        let mut tx = self.db.write().await?;
        let removed: Option<(String, String)> = sqlx::query_as(
            "DELETE FROM user_factors WHERE id = $1 AND user_id = $2 RETURNING kind, name",
        )
        .bind(id)
        .bind(&user.id)
        .fetch_optional(&mut *tx)
        .await?;
        let (kind, name) = removed.ok_or(Error::NotFound)?;
        let (left,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM user_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL",
        )
        .bind(&user.id)
        .fetch_one(&mut *tx)
        .await?;
        if left == 0 {
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(&user.id)
                .execute(&mut *tx)
                .await?;
        }
        let detail = format!("{}: {name}", kind_label(&kind));
        audit::record(
            &mut tx,
            user_entry(now, actor, user, Action::FactorRemoved, Some(&detail)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes every factor and recovery code of the user with `id` and
    /// ends their sessions: they sign in with their password alone and are
    /// asked to set up a factor again, with a grace period anew. An admin
    /// who may manage them does this (never for themselves); with no
    /// admin, the operator at the server's command line. Audited.
    pub async fn reset_factors(&self, access: &Access, id: &str) -> Result<User> {
        let actor = access.actor();
        let user = match access.user() {
            Some(admin) => {
                let user = self.managed_user(admin, id).await?;
                if user.id == admin.id {
                    return Err(Error::invalid(
                        "user",
                        "You cannot reset your own factors: remove them on your Account page.",
                    ));
                }
                user
            }
            None => super::accounts::find_user(&self.db, id)
                .await?
                .ok_or(Error::NotFound)?,
        };
        let now = self.now();
        let mut tx = self.db.write().await?;
        let (factors,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM user_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL",
        )
        .bind(&user.id)
        .fetch_one(&mut *tx)
        .await?;
        for statement in [
            "DELETE FROM user_factors WHERE user_id = $1",
            "DELETE FROM recovery_codes WHERE user_id = $1",
            "DELETE FROM sessions WHERE user_id = $1",
            "UPDATE users SET mfa_asked_at = NULL WHERE id = $1",
        ] {
            sqlx::query(statement)
                .bind(&user.id)
                .execute(&mut *tx)
                .await?;
        }
        let detail = format!("{factors} factor(s) removed; sessions ended");
        audit::record(
            &mut tx,
            user_entry(now, actor, &user, Action::FactorsReset, Some(&detail)),
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Checks a code typed as a second factor: six digits from the
    /// authenticator app, or a recovery code. Each failure spends the
    /// account's budget and is audited; a recovery code works once.
    /// Answers how the user was checked.
    pub async fn check_code(&self, actor: &Actor, user: &User, code: &str) -> Result<&'static str> {
        let attempt = self.second_factor_attempt(user)?;
        let code = code.trim();
        let method = if totp::looks_like_totp(code) {
            self.check_totp(user, code)
                .await?
                .then_some("authenticator app")
        } else {
            self.use_recovery_code(actor, user, code)
                .await?
                .then_some("recovery code")
        };
        match method {
            Some(method) => {
                attempt.give_back();
                Ok(method)
            }
            None => {
                self.second_factor_failed(actor, user, "a wrong or used code")
                    .await?;
                Err(Error::invalid(
                    "code",
                    "That code is not right, or it was used already",
                ))
            }
        }
    }

    /// Checks the password of a signed-in user who has no second factor,
    /// for step-up: on the account's budget of second-factor attempts.
    pub async fn check_password(
        &self,
        actor: &Actor,
        user: &User,
        password: super::secrets::Password,
    ) -> Result<()> {
        let attempt = self.second_factor_attempt(user)?;
        let (hash,): (Option<String>,) =
            sqlx::query_as("SELECT password_hash FROM users WHERE id = $1")
                .bind(&user.id)
                .fetch_one(&self.db.pool)
                .await?;
        match self.hasher.verify(hash, password).await {
            Ok(true) => {
                attempt.give_back();
                Ok(())
            }
            Ok(false) => {
                self.second_factor_failed(actor, user, "a wrong password")
                    .await?;
                Err(Error::invalid("password", "That password is not right"))
            }
            Err(e) => {
                // Nothing was checked: the attempt does not count.
                attempt.give_back();
                Err(e)
            }
        }
    }

    /// One attempt at a second factor, taken from the account's budget
    /// before the check, so that parallel guesses cannot outrun it; a
    /// success gives it back.
    fn second_factor_attempt(&self, user: &User) -> Result<Attempt<'_>> {
        let key = Key::of("second factor", user.id.as_bytes());
        Attempt::take(vec![(&self.limits.second_factors, key)], self.now())
    }

    /// Records a confirmed step-up: who, and how.
    /// Records a completed sign-in, `how` (its factors).
    pub async fn record_sign_in(&self, actor: &Actor, user: &User, how: &str) -> Result<()> {
        self.audit_user(actor, user, Action::SignIn, how).await
    }

    pub async fn record_step_up(&self, actor: &Actor, user: &User, method: &str) -> Result<()> {
        self.audit_user(actor, user, Action::StepUp, method).await
    }

    async fn second_factor_failed(&self, actor: &Actor, user: &User, what: &str) -> Result<()> {
        self.audit_user(actor, user, Action::SecondFactorFailed, what)
            .await
    }

    async fn audit_user(
        &self,
        actor: &Actor,
        user: &User,
        action: Action,
        detail: &str,
    ) -> Result<()> {
        let mut tx = self.db.write().await?;
        audit::record(
            &mut tx,
            user_entry(self.now(), actor, user, action, Some(detail)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A factor's kind in words.
pub fn kind_label(kind: &str) -> &'static str {
    match kind {
        "totp" => "authenticator app",
        _ => "passkey",
    }
}

/// A factor's name as typed: trimmed, within bounds, nothing hidden.
fn factor_name(name: &str, default: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Ok(default.to_owned());
    }
    if name.chars().count() > NAME_MAX || name.chars().any(super::validate::is_hidden_control) {
        return Err(Error::invalid(
            "name",
            format!("Use a name of at most {NAME_MAX} characters, without control characters"),
        ));
    }
    Ok(name.to_owned())
}

/// A new factor's id.
fn new_id() -> String {
    Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_is_fresh_for_its_lifetime() {
        assert_eq!(fresh_for(Some(1_000), 1_000, 300), 300);
        assert_eq!(fresh_for(Some(1_000), 1_299, 300), 1);
        assert_eq!(fresh_for(Some(1_000), 1_300, 300), 0);
        assert_eq!(fresh_for(None, 1_000, 300), 0);
        // A check dated after now (a clock moved back) does not count.
        assert_eq!(fresh_for(Some(2_000), 1_000, 300), 0);
    }

    #[test]
    fn factor_names_are_checked() {
        assert_eq!(factor_name("  Laptop ", "Passkey").unwrap(), "Laptop");
        assert_eq!(factor_name("", "Passkey").unwrap(), "Passkey");
        assert!(factor_name(&"x".repeat(65), "Passkey").is_err());
        assert!(factor_name("a\u{202e}b", "Passkey").is_err());
    }
}
