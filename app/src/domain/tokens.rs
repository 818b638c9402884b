//! Access tokens as RFC 9068 JWTs: issued for an authenticated client,
//! verified with the published keys, refused once expired or revoked.

use jsonwebtoken::{Header, Validation};
use serde::{Deserialize, Serialize};

use sqlx::{FromRow, Row};

use super::accounts::User;
use super::clock::Timestamp;
use super::ids::{ClientId, DomainId};
use super::signing_keys::Signer;
use super::validate::storable;
use super::{Error, Keyport, Result};

/// Clock leeway when checking `exp` and `nbf` (contract §4: at most 5 s).
pub const LEEWAY: i64 = 5;
/// RFC 9068 §2.1: the `typ` of an access token.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub client_id: ClientId,
    pub aud: String,
    pub iat: Timestamp,
    pub nbf: Timestamp,
    pub exp: Timestamp,
    pub jti: String,
    pub scope: String,
    pub domain_id: DomainId,
}

impl AccessClaims {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }
}

/// Why a presented token is refused (contract §6: 401009 / 401010).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("OAuth token has expired")]
    Expired,
    #[error("OAuth token is invalid")]
    Invalid,
    /// The token could not be checked: the database is out of reach.
    #[error("the token could not be checked now")]
    Unavailable,
}

/// The key a verified token is remembered by (`memory::Memory::verified_tokens`).
fn digest(token: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes()).into()
}

#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: String,
    pub expires_in: i64,
    pub claims: AccessClaims,
}

/// A compact JWS (RFC 7515 §7.1): header and claims as base64url JSON, and
/// the signature over both.
pub fn encode(header: &Header, claims: &impl Serialize, signer: &Signer) -> Result<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let json = |value: serde_json::Result<Vec<u8>>| {
        value
            .map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
            .map_err(|e| Error::Config(format!("token encoding: {e}")))
    };
    let input = format!(
        "{}.{}",
        json(serde_json::to_vec(header))?,
        json(serde_json::to_vec(claims))?
    );
    let signature = signer.sign(input.as_bytes())?;
    Ok(format!("{input}.{signature}"))
}

impl Keyport {
    /// The audience of every token: this deployment's APIs.
    pub fn audience(&self) -> String {
        self.issuer.as_str().trim_end_matches('/').to_owned()
    }

    pub fn issuer_id(&self) -> String {
        self.audience()
    }

    /// A token for Keyport's own management API.
    pub fn sign(
        &self,
        sub: &str,
        client_id: &ClientId,
        domain_id: &DomainId,
        scope: &str,
    ) -> Result<Issued> {
        self.sign_for(&self.audience(), sub, client_id, domain_id, scope)
    }

    /// A token for the API whose identifier is `audience` (RFC 8707).
    pub fn sign_for(
        &self,
        audience: &str,
        sub: &str,
        client_id: &ClientId,
        domain_id: &DomainId,
        scope: &str,
    ) -> Result<Issued> {
        let ring = self.key_ring()?;
        let now = self.now();
        let claims = AccessClaims {
            iss: self.issuer_id(),
            sub: sub.to_owned(),
            client_id: client_id.to_owned(),
            aud: audience.to_owned(),
            iat: now,
            nbf: now,
            exp: now + self.token_ttl,
            jti: uuid::Uuid::new_v4().to_string(),
            scope: scope.to_owned(),
            domain_id: domain_id.to_owned(),
        };
        let mut header = Header::new(ring.current.algorithm);
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        header.kid = Some(ring.current.kid.clone());
        let access_token = encode(&header, &claims, &ring.current.signer)?;
        Ok(Issued {
            access_token,
            expires_in: self.token_ttl,
            claims,
        })
    }

    /// Checks signature, key, type, issuer, audience (Keyport's own
    /// management API) and times (with our clock), then revocation.
    pub async fn verify_access_token(
        &self,
        token: &str,
    ) -> std::result::Result<AccessClaims, TokenError> {
        let claims = self.verify_for_any_api(token).await?;
        if claims.aud != self.audience() {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }

    /// As `verify_access_token`, for a token of any API registered here:
    /// what introspection answers about.
    pub async fn verify_for_any_api(
        &self,
        token: &str,
    ) -> std::result::Result<AccessClaims, TokenError> {
        let digest = digest(token);
        let remembered = &self.memory.verified_tokens;
        let claims = match remembered.get(&digest) {
            Some(claims) => claims,
            None => {
                let claims = self.verify_signed(token).await?;
                // Kept until it expires: expiry and revocation are still
                // checked on every request, below.
                remembered.put_until(digest, claims.clone(), (claims.exp + LEEWAY) * 1_000);
                claims
            }
        };
        let now = self.now();
        if claims.exp + LEEWAY <= now {
            return Err(TokenError::Expired);
        }
        if claims.nbf - LEEWAY > now {
            return Err(TokenError::Invalid);
        }
        match self.is_revoked(&claims.jti).await {
            Ok(false) => Ok(claims),
            Ok(true) => Err(TokenError::Invalid),
            Err(e) => {
                tracing::warn!(error = %e, "revocation lookup failed");
                Err(TokenError::Unavailable)
            }
        }
    }

    /// Signature, header and claims, for an audience registered here (an
    /// API's identifier, or Keyport's own), without the clock or
    /// revocation: introspection and the expiry verdict need the claims of
    /// an expired token too.
    pub async fn verify_signed(
        &self,
        token: &str,
    ) -> std::result::Result<AccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header
            .typ
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
            != Some(ACCESS_TOKEN_TYPE)
        {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let ring = self.ring_for(&kid).await.map_err(|e| {
            if e.is_unavailable() {
                TokenError::Unavailable
            } else {
                TokenError::Invalid
            }
        })?;
        let (algorithm, key) = ring.verifying.get(&kid).ok_or(TokenError::Invalid)?;
        if header.alg != *algorithm {
            return Err(TokenError::Invalid);
        }
        let mut validation = Validation::new(*algorithm);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims = ["exp", "iss", "aud", "sub"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        validation.set_issuer(&[self.issuer_id()]);
        let apis = self.apis().await.map_err(|e| {
            if e.is_unavailable() {
                TokenError::Unavailable
            } else {
                TokenError::Invalid
            }
        })?;
        let audiences: Vec<&str> = apis.0.iter().map(|api| api.identifier.as_str()).collect();
        validation.set_audience(&audiences);
        jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|_| TokenError::Invalid)
    }

    /// Whether the token was revoked, as read within `cache::FRESH_FOR_MS`: a
    /// revocation on this node counts at once.
    pub async fn is_revoked(&self, jti: &str) -> Result<bool> {
        self.memory
            .revoked
            .get_or_read(jti, || async {
                Ok(sqlx::query("SELECT 1 FROM revoked_tokens WHERE jti = $1")
                    .bind(jti)
                    .fetch_optional(&self.db.pool)
                    .await?
                    .is_some())
            })
            .await
    }

    /// Refuses the token from now on, on every node (RFC 7009).
    pub async fn revoke(&self, claims: &AccessClaims) -> Result<()> {
        self.db
            .write_one(
                sqlx::query(
                    "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) \
                     ON CONFLICT (jti) DO NOTHING",
                )
                .bind(&claims.jti)
                .bind(claims.exp),
            )
            .await?;
        Ok(())
    }

    /// Forgets revocations of tokens that have expired anyway.
    pub async fn purge_expired_revocations(&self) -> Result<u64> {
        Ok(self
            .db
            .write_one(
                sqlx::query("DELETE FROM revoked_tokens WHERE expires_at + $1 < $2")
                    .bind(LEEWAY)
                    .bind(self.now()),
            )
            .await?
            .rows_affected())
    }
}

impl Keyport {
    /// The user who owns the application holding `client_id` while it is in
    /// use, and when it was last restored: tokens issued before a restore
    /// stay refused.
    pub async fn client_owner(&self, client_id: &str) -> Result<Option<(User, Option<i64>)>> {
        if !storable(client_id) {
            return Ok(None);
        }
        self.memory
            .client_owners
            .get_or_read(client_id, || async {
                let row = sqlx::query(
                    "SELECT u.id, u.domain_id, u.email, u.role, u.disabled_at, a.restored_at FROM applications a \
                     JOIN users u ON u.id = a.owner_id WHERE a.client_id = $1 AND a.removed_at IS NULL",
                )
                .bind(client_id)
                .fetch_optional(&self.db.pool)
                .await?;
                row.map(|row| Ok((User::from_row(&row)?, row.try_get("restored_at")?)))
                    .transpose()
            })
            .await
    }

    /// The user an access token acts for, while it may: its application
    /// in use and not restored since the token was issued, and the user
    /// enabled (the client's owner, or the user who approved the
    /// application). `None`: the token is refused.
    pub async fn token_user(&self, claims: &AccessClaims) -> Result<Option<User>> {
        let Some((owner, restored_at)) = self.client_owner(&claims.client_id).await? else {
            return Ok(None);
        };
        if restored_at.is_some_and(|at| claims.iat < at) {
            return Ok(None);
        }
        let user = if claims.client_id == claims.sub {
            Some(owner)
        } else {
            self.user(&claims.sub).await?
        };
        Ok(user.filter(|u| u.disabled_at.is_none()))
    }
}
