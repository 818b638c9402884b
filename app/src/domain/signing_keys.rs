//! Token signing keys: generated on first start, kept encrypted under the
//! master key, rotated with overlap (the JWKS keeps a retired key until the
//! tokens it signed have expired), and re-read from the database so that
//! every node signs and verifies with the same set.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::{json, Value};
use sqlx::Row;

use super::clock::Timestamp;
use super::secrets::random_token;
use super::{Error, Keyport, Result};

/// The signature algorithms Keyport issues tokens with, named as JWA
/// names them (RFC 7518) on the command line too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SigningAlg {
    #[value(name = "ES256")]
    Es256,
    #[value(name = "EdDSA")]
    EdDsa,
    #[value(name = "RS256")]
    Rs256,
}

impl SigningAlg {
    pub fn jwa(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
        }
    }

    fn algorithm(self) -> Algorithm {
        match self {
            Self::Es256 => Algorithm::ES256,
            Self::EdDsa => Algorithm::EdDSA,
            Self::Rs256 => Algorithm::RS256,
        }
    }
}

impl std::str::FromStr for SigningAlg {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ES256" => Ok(Self::Es256),
            "EdDSA" => Ok(Self::EdDsa),
            "RS256" => Ok(Self::Rs256),
            _ => Err(Error::Config(format!(
                "unsupported signing algorithm {s:?}: use ES256, EdDSA or RS256"
            ))),
        }
    }
}

/// The key new tokens are signed with.
#[derive(Clone)]
pub struct CurrentKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub signer: Signer,
}

/// A private key parsed once, when the key ring loads: signing a token then
/// costs one signature, not a PKCS#8 parse and a public-key derivation too.
#[derive(Clone)]
pub enum Signer {
    /// ring's P-256, several times faster than a portable implementation.
    Es256(std::sync::Arc<ring::signature::EcdsaKeyPair>),
    EdDsa(ed25519_dalek::SigningKey),
    Rs256(EncodingKey),
}

impl Signer {
    fn from_der(alg: SigningAlg, der: &[u8]) -> Result<Self> {
        use p256::pkcs8::DecodePrivateKey as _;
        let invalid = |e: &dyn std::fmt::Display| Error::Config(format!("stored signing key: {e}"));
        Ok(match alg {
            SigningAlg::Es256 => Self::Es256(std::sync::Arc::new(
                ring::signature::EcdsaKeyPair::from_pkcs8(
                    &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    der,
                    &ring::rand::SystemRandom::new(),
                )
                .map_err(|e| invalid(&e))?,
            )),
            SigningAlg::EdDsa => Self::EdDsa(
                ed25519_dalek::SigningKey::from_pkcs8_der(der).map_err(|e| invalid(&e))?,
            ),
            SigningAlg::Rs256 => Self::Rs256(EncodingKey::from_rsa_der(der)),
        })
    }

    /// The JWS signature of `input` (RFC 7515 §5.1), base64url-encoded.
    pub fn sign(&self, input: &[u8]) -> Result<String> {
        use ed25519_dalek::Signer as _;
        Ok(match self {
            Self::Es256(key) => URL_SAFE_NO_PAD.encode(
                key.sign(&ring::rand::SystemRandom::new(), input)
                    .map_err(|_| Error::Config("signing failed".into()))?,
            ),
            Self::EdDsa(key) => URL_SAFE_NO_PAD.encode(key.sign(input).to_bytes()),
            Self::Rs256(key) => jsonwebtoken::crypto::sign(input, key, Algorithm::RS256)
                .map_err(|e| Error::Config(format!("signing failed: {e}")))?,
        })
    }
}

/// What one node knows of the signing keys at a moment.
#[derive(Clone)]
pub struct KeyRing {
    pub current: CurrentKey,
    pub verifying: HashMap<String, (Algorithm, DecodingKey)>,
    /// The JWK Set document, ready to serve.
    pub jwks: Value,
}

struct Generated {
    kid: String,
    pkcs8: Vec<u8>,
    jwk: Value,
}

fn generate(alg: SigningAlg) -> Result<Generated> {
    use p256::pkcs8::EncodePrivateKey as _;
    let kid = random_token(12);
    let (pkcs8, mut jwk) = match alg {
        SigningAlg::Es256 => {
            let key = p256::ecdsa::SigningKey::random(&mut aes_gcm::aead::OsRng);
            let point = key.verifying_key().to_encoded_point(false);
            let (x, y) = point
                .x()
                .zip(point.y())
                .ok_or_else(|| Error::Config("P-256 point".into()))?;
            let der = key
                .to_pkcs8_der()
                .map_err(|e| Error::Config(format!("P-256 key: {e}")))?;
            (
                der.as_bytes().to_vec(),
                json!({"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)}),
            )
        }
        SigningAlg::EdDsa => {
            let key = ed25519_dalek::SigningKey::generate(&mut aes_gcm::aead::OsRng);
            let der = key
                .to_pkcs8_der()
                .map_err(|e| Error::Config(format!("Ed25519 key: {e}")))?;
            (
                der.as_bytes().to_vec(),
                json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes())}),
            )
        }
        SigningAlg::Rs256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey as _;
            use rsa::traits::PublicKeyParts as _;
            let key = rsa::RsaPrivateKey::new(&mut aes_gcm::aead::OsRng, 2048)
                .map_err(|e| Error::Config(format!("RSA key: {e}")))?;
            // jsonwebtoken reads RSA private keys as PKCS#1.
            let der = key
                .to_pkcs1_der()
                .map_err(|e| Error::Config(format!("RSA key: {e}")))?;
            (
                der.as_bytes().to_vec(),
                json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()), "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be())}),
            )
        }
    };
    jwk["kid"] = json!(kid);
    jwk["alg"] = json!(alg.jwa());
    jwk["use"] = json!("sig");
    Ok(Generated { kid, pkcs8, jwk })
}

impl Keyport {
    /// Makes sure a signing key exists (first start).
    pub(super) async fn ensure_signing_key(&self) -> Result<()> {
        let active: Option<String> =
            sqlx::query_scalar("SELECT kid FROM signing_keys WHERE retired_at IS NULL LIMIT 1")
                .fetch_optional(&self.db.pool)
                .await?;
        if active.is_none() {
            self.insert_key(None).await?;
        }
        Ok(())
    }

    /// Retires the current key and signs with a new one from now on; the
    /// retired key stays in the JWKS until its tokens have expired.
    pub async fn rotate_signing_key(&self) -> Result<String> {
        let kid = self.insert_key(Some(self.now())).await?;
        self.refresh_keys().await?;
        Ok(kid)
    }

    async fn insert_key(&self, retire_others_at: Option<Timestamp>) -> Result<String> {
        let key = generate(self.signing_alg)?;
        let sealed = self.master_key.seal(&key.pkcs8, key.kid.as_bytes());
        let mut tx = self.db.write().await?;
        if let Some(at) = retire_others_at {
            sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_sealed, public_jwk, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.kid)
        .bind(self.signing_alg.jwa())
        .bind(&sealed)
        .bind(key.jwk.to_string())
        .bind(self.now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(key.kid)
    }

    /// Re-reads the keys: the newest active one signs; every key whose
    /// tokens may still be alive verifies and is published.
    pub async fn refresh_keys(&self) -> Result<()> {
        let ring = self.load_ring().await?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(std::sync::Arc::new(ring));
        Ok(())
    }

    pub(super) async fn load_ring(&self) -> Result<KeyRing> {
        let now = self.now();
        // A retired key verifies until the last token it signed has expired.
        let horizon = now - self.token_ttl - super::tokens::LEEWAY;
        let rows = sqlx::query(
            "SELECT kid, alg, private_sealed, public_jwk, retired_at FROM signing_keys \
             WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at DESC, kid",
        )
        .bind(horizon)
        .fetch_all(&self.db.pool)
        .await?;
        let mut current = None;
        let mut verifying = HashMap::new();
        let mut published = Vec::new();
        for row in rows {
            let kid: String = row.try_get("kid")?;
            let alg: SigningAlg = row.try_get::<String, _>("alg")?.parse()?;
            let jwk: Value = serde_json::from_str(&row.try_get::<String, _>("public_jwk")?)
                .map_err(|e| Error::Config(format!("stored JWK: {e}")))?;
            let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone())
                .map_err(|e| Error::Config(format!("stored JWK: {e}")))?;
            let decoding = DecodingKey::from_jwk(&parsed)
                .map_err(|e| Error::Config(format!("stored JWK: {e}")))?;
            verifying.insert(kid.clone(), (alg.algorithm(), decoding));
            published.push(jwk);
            let retired: Option<i64> = row.try_get("retired_at")?;
            if current.is_none() && retired.is_none() {
                let sealed: Vec<u8> = row.try_get("private_sealed")?;
                let der = self.master_key.open(&sealed, kid.as_bytes())?;
                current = Some(CurrentKey {
                    kid,
                    algorithm: alg.algorithm(),
                    signer: Signer::from_der(alg, &der)?,
                });
            }
        }
        let current = current.ok_or_else(|| Error::Config("no active signing key".into()))?;
        Ok(KeyRing {
            current,
            verifying,
            jwks: json!({ "keys": published }),
        })
    }

    /// The keys, reloaded first when `kid` is not among them (a key rotated
    /// on another node), at most once a second whoever asks: a stream of
    /// made-up key ids costs one reload a second, not one each.
    pub async fn ring_for(&self, kid: &str) -> Result<std::sync::Arc<KeyRing>> {
        use std::sync::atomic::Ordering;
        let ring = self.key_ring()?;
        if ring.verifying.contains_key(kid) {
            return Ok(ring);
        }
        let now = self.now();
        let last = self.keys_reloaded_at.load(Ordering::Acquire);
        let mine = last < now
            && self
                .keys_reloaded_at
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
        if !mine {
            return Ok(ring);
        }
        self.refresh_keys().await?;
        self.key_ring()
    }

    /// The keys as last loaded.
    pub fn key_ring(&self) -> Result<std::sync::Arc<KeyRing>> {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| Error::Config("signing keys not loaded".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Claims {
        sub: String,
        exp: i64,
    }

    /// Each algorithm's generated key signs, and its published JWK verifies
    /// with an independent implementation.
    #[test]
    fn every_algorithm_round_trips_through_its_jwk() {
        for alg in [SigningAlg::Es256, SigningAlg::EdDsa, SigningAlg::Rs256] {
            let key = generate(alg).unwrap();
            let signer = Signer::from_der(alg, &key.pkcs8).unwrap();
            let claims = Claims {
                sub: "x".into(),
                exp: 4_000_000_000,
            };
            let token = crate::domain::tokens::encode(
                &jsonwebtoken::Header::new(alg.algorithm()),
                &claims,
                &signer,
            )
            .unwrap();
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.jwk.clone()).unwrap();
            let decoded = jsonwebtoken::decode::<Claims>(
                &token,
                &DecodingKey::from_jwk(&jwk).unwrap(),
                &jsonwebtoken::Validation::new(alg.algorithm()),
            )
            .unwrap();
            assert_eq!(decoded.claims, claims, "{alg:?}");
            assert_eq!(key.jwk["alg"], alg.jwa());
        }
    }
}
