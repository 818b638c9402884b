//! Recovery codes: ten single-use codes for a user who has lost their
//! other factors, shown once and kept only as SHA-256 digests. Each is 80
//! random bits, so a digest cannot be turned back into its code.

use rand::Rng as _;

use super::super::access::Access;
use super::super::accounts::User;
use super::super::audit::{self, Action, Actor};
use super::super::clock::Timestamp;
use super::super::secrets::token_digest;
use super::super::store::Write;
use super::super::users::user_entry;
use super::super::{Error, Keyport, Result};

/// How many codes a user gets at a time.
pub const RECOVERY_CODES: usize = 10;
/// Crockford's base32, lower case: no i, l, o or u to misread.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// 16 characters of 5 bits: 80 bits.
const LENGTH: usize = 16;

/// A new code, in groups of four: `7k2m-q9xd-3hfp-a0zc`.
fn new_code() -> String {
    let mut rng = rand::rngs::OsRng;
    let chars: Vec<char> = (0..LENGTH)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    chars
        .chunks(4)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// A code as typed, in the form it was hashed in: lower case, without
/// dashes or spaces, with the letters people mistake for digits read as
/// those digits.
fn canonical(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            other => other,
        })
        .collect()
}

/// Replaces the user's codes with new ones, in `tx`, and answers them.
pub(super) async fn replace_codes(
    tx: &mut Write,
    user: &User,
    now: Timestamp,
) -> Result<Vec<String>> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(&user.id)
        .execute(&mut **tx)
        .await?;
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_code()).collect();
    for code in &codes {
        sqlx::query(
            "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(&user.id)
        .bind(token_digest(&canonical(code)))
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(codes)
}

/// Takes the user's row lock for the rest of the transaction (PostgreSQL;
/// SQLite's write lock is held already), so that two factors added at once
/// count one after the other.
pub(super) async fn lock_user(tx: &mut Write, user: &User) -> Result<()> {
    sqlx::query("UPDATE users SET mfa_asked_at = mfa_asked_at WHERE id = $1")
        .bind(&user.id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Audits a factor just added in `tx` (after `lock_user`) and, when it is
/// the user's only one, answers their first recovery codes.
pub(super) async fn enrolled(
    tx: &mut Write,
    actor: &Actor,
    user: &User,
    now: Timestamp,
    detail: &str,
) -> Result<Option<Vec<String>>> {
    audit::record(
        tx,
        user_entry(now, actor, user, Action::FactorEnrolled, Some(detail)),
    )
    .await?;
    let (factors,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM user_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL",
    )
    .bind(&user.id)
    .fetch_one(&mut **tx)
    .await?;
    if factors == 1 {
        Ok(Some(replace_codes(tx, user, now).await?))
    } else {
        Ok(None)
    }
}

impl Keyport {
    /// New recovery codes for a user with a second factor, in place of
    /// any left; audited.
    pub async fn regenerate_recovery_codes(&self, access: &Access) -> Result<Vec<String>> {
        let (actor, user) = (access.actor(), access.person()?);
        if !self.has_second_factor(&user.id).await? {
            return Err(Error::invalid(
                "codes",
                "Set up a passkey or an authenticator app first: recovery codes stand in for them",
            ));
        }
        let now = self.now();
        let mut tx = self.db.write().await?;
        let codes = replace_codes(&mut tx, user, now).await?;
        audit::record(
            &mut tx,
            user_entry(now, actor, user, Action::RecoveryCodesGenerated, None),
        )
        .await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// How many of the user's recovery codes are unused.
    pub async fn recovery_codes_left(&self, user_id: &str) -> Result<i64> {
        let (left,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&self.db.pool)
        .await?;
        Ok(left)
    }

    /// Spends one of the user's recovery codes, if `code` is one not yet
    /// used: once, however many requests race with it. Audited with how
    /// many are left.
    pub(super) async fn use_recovery_code(
        &self,
        actor: &Actor,
        user: &User,
        code: &str,
    ) -> Result<bool> {
        let code = canonical(code);
        if code.len() != LENGTH {
            return Ok(false);
        }
        let now = self.now();
        let mut tx = self.db.write().await?;
        let spent = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 \
             WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(now)
        .bind(&user.id)
        .bind(token_digest(&code))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if spent != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let (left,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(&user.id)
        .fetch_one(&mut *tx)
        .await?;
        let detail = format!("{left} left");
        audit::record(
            &mut tx,
            user_entry(now, actor, user, Action::RecoveryCodeUsed, Some(&detail)),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_as_typed() {
        let code = new_code();
        assert_eq!(code.len(), LENGTH + 3);
        assert_eq!(canonical(&code).len(), LENGTH);
        assert_eq!(canonical(&code.to_uppercase()), canonical(&code));
        assert_eq!(canonical(" 7k2m q9xd-3hfp-aozc "), "7k2mq9xd3hfpa0zc");
        assert_ne!(new_code(), new_code());
    }
}
