//! An authenticator app (TOTP, RFC 6238: HMAC-SHA-1, six digits, 30-second
//! steps). The secret is sealed under the master key; it counts once a code
//! from the app confirmed it. A code is accepted one step either side of
//! now, and never for a step at or before the last one accepted, so a code
//! seen over a shoulder or in a log does not work twice.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::RngCore as _;
use totp_rs::{Algorithm, TOTP};

use super::super::access::Access;
use super::super::accounts::User;
use super::super::clock::Timestamp;
use super::super::{Error, Keyport, Result};
use super::new_id;

const DIGITS: usize = 6;
const STEP: u64 = 30;
/// Steps either side of now whose codes are accepted (clock drift, typing).
const SKEW: i64 = 1;
/// 160 bits, as RFC 4226 §4 recommends.
const SECRET_BYTES: usize = 20;
const ISSUER: &str = "Keyport";

/// What the Account page shows to set up an authenticator app: the QR code
/// (SVG, drawn here) and the same secret as text for typing.
#[derive(Debug, Clone)]
pub struct TotpSetup {
    pub secret: String,
    pub uri: String,
    pub qr_svg: String,
}

/// Six digits, possibly typed with a space in the middle.
pub(super) fn looks_like_totp(code: &str) -> bool {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    digits.len() == DIGITS && digits.chars().all(|c| c.is_ascii_digit())
}

fn generator(secret: Vec<u8>, account: &str) -> TOTP {
    TOTP::new_unchecked(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP,
        secret,
        Some(ISSUER.into()),
        account.into(),
    )
}

/// The step (of `STEP` seconds since the epoch) within `SKEW` of `now`
/// whose code is `code`, if any.
pub(crate) fn matching_step(totp: &TOTP, code: &str, now: Timestamp) -> Option<i64> {
    use subtle::ConstantTimeEq as _;
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let current = now.max(0) / STEP as i64;
    (current - SKEW..=current + SKEW)
        .filter(|step| *step >= 0)
        .find(|step| {
            let expected = totp.generate(*step as u64 * STEP);
            bool::from(expected.as_bytes().ct_eq(code.as_bytes()))
        })
}

/// What a TOTP secret is sealed to: its own factor row.
fn context(factor_id: &str) -> Vec<u8> {
    format!("totp secret {factor_id}").into_bytes()
}

/// The QR code of `uri`, as an SVG document.
fn qr_svg(uri: &str) -> Result<String> {
    use qrcode::render::svg;
    let code =
        qrcode::QrCode::new(uri.as_bytes()).map_err(|e| Error::Config(format!("QR code: {e}")))?;
    Ok(code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

impl Keyport {
    /// Starts setting up an authenticator app: a new secret, not yet
    /// counting. One the user started before and never confirmed is
    /// replaced.
    pub async fn begin_totp(&self, access: &Access) -> Result<TotpSetup> {
        let user = access.person()?;
        let mut secret = vec![0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let totp = generator(secret.clone(), &user.email);
        let id = new_id();
        let sealed = STANDARD.encode(self.master_key.seal(&secret, &context(&id)));
        let mut tx = self.db.write().await?;
        let (existing,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM user_factors WHERE user_id = $1 AND kind = 'totp' AND confirmed_at IS NOT NULL",
        )
        .bind(&user.id)
        .fetch_one(&mut *tx)
        .await?;
        if existing > 0 {
            return Err(Error::invalid(
                "code",
                "You have an authenticator app already: remove it first to set up another",
            ));
        }
        sqlx::query("DELETE FROM user_factors WHERE user_id = $1 AND kind = 'totp'")
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO user_factors (id, user_id, kind, name, secret, created_at) \
             VALUES ($1, $2, 'totp', 'Authenticator app', $3, $4)",
        )
        .bind(&id)
        .bind(&user.id)
        .bind(&sealed)
        .bind(self.now())
        .execute(&mut *tx)
        .await?;
        tx.commit_unremembered().await?;
        let uri = totp.get_url();
        Ok(TotpSetup {
            secret: totp.get_secret_base32(),
            qr_svg: qr_svg(&uri)?,
            uri,
        })
    }

    /// Turns the authenticator app on with a code from it. When it is the
    /// user's first factor, answers their new recovery codes. Audited.
    pub async fn confirm_totp(&self, access: &Access, code: &str) -> Result<Option<Vec<String>>> {
        let (actor, user) = (access.actor(), access.person()?);
        let pending: Option<(String, String)> = sqlx::query_as(
            "SELECT id, secret FROM user_factors \
             WHERE user_id = $1 AND kind = 'totp' AND confirmed_at IS NULL",
        )
        .bind(&user.id)
        .fetch_optional(&self.db.pool)
        .await?;
        let (id, sealed) = pending
            .ok_or_else(|| Error::invalid("code", "Start again: scan a new QR code first"))?;
        let step = self
            .totp_step(&id, &sealed, &user.email, code)?
            .ok_or_else(|| {
                Error::invalid(
                    "code",
                    "That code is not right: check the app shows Keyport and try the newest code",
                )
            })?;
        let now = self.now();
        let mut tx = self.db.write().await?;
        super::recovery::lock_user(&mut tx, user).await?;
        let confirmed = sqlx::query(
            "UPDATE user_factors SET confirmed_at = $1, last_step = $2, last_used_at = $1 \
             WHERE id = $3 AND confirmed_at IS NULL",
        )
        .bind(now)
        .bind(step)
        .bind(&id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if confirmed == 0 {
            return Err(Error::invalid(
                "code",
                "Start again: scan a new QR code first",
            ));
        }
        let codes =
            super::recovery::enrolled(&mut tx, actor, user, now, "authenticator app").await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Whether `code` is the user's authenticator app's code now, for a step
    /// after the last one accepted; that step is then spent, even by a
    /// racing request on another node.
    pub(super) async fn check_totp(&self, user: &User, code: &str) -> Result<bool> {
        let found: Option<(String, String)> = sqlx::query_as(
            "SELECT id, secret FROM user_factors \
             WHERE user_id = $1 AND kind = 'totp' AND confirmed_at IS NOT NULL",
        )
        .bind(&user.id)
        .fetch_optional(&self.db.pool)
        .await?;
        let Some((id, sealed)) = found else {
            return Ok(false);
        };
        let Some(step) = self.totp_step(&id, &sealed, &user.email, code)? else {
            return Ok(false);
        };
        let spent = self
            .db
            .write_one(
                sqlx::query(
                    "UPDATE user_factors SET last_step = $1, last_used_at = $2 \
                     WHERE id = $3 AND (last_step IS NULL OR last_step < $1)",
                )
                .bind(step)
                .bind(self.now())
                .bind(id),
            )
            .await?;
        Ok(spent.rows_affected() == 1)
    }

    /// The step whose code `code` is, for the sealed secret of factor `id`.
    fn totp_step(&self, id: &str, sealed: &str, account: &str, code: &str) -> Result<Option<i64>> {
        let secret = STANDARD
            .decode(sealed)
            .map_err(|_| Error::Decrypt)
            .and_then(|bytes| self.master_key.open(&bytes, &context(id)))?;
        Ok(matching_step(&generator(secret, account), code, self.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: the SHA-1 vectors, whose eight digits end in
    /// the six this code checks (truncation is modulo 10^digits).
    #[test]
    fn rfc_6238_vectors() {
        let vectors: [(i64, &str); 6] = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        let secret = b"12345678901234567890".to_vec();
        let eight = TOTP::new_unchecked(
            Algorithm::SHA1,
            8,
            0,
            STEP,
            secret.clone(),
            None,
            String::new(),
        );
        let six = generator(secret, "vector@keyport.test");
        for (time, expected) in vectors {
            assert_eq!(eight.generate(time as u64), expected, "8 digits at {time}");
            let step = time / STEP as i64;
            assert_eq!(
                matching_step(&six, &expected[2..], time),
                Some(step),
                "at {time}"
            );
            // One step either side still counts; two do not.
            assert_eq!(matching_step(&six, &expected[2..], time + 30), Some(step));
            assert_eq!(matching_step(&six, &expected[2..], time + 61), None);
        }
    }

    #[test]
    fn codes_are_six_digits() {
        assert!(looks_like_totp("123456"));
        assert!(looks_like_totp("123 456"));
        assert!(!looks_like_totp("12345"));
        assert!(!looks_like_totp("abcd-efgh-jkmn-pqrs"));
    }
}
