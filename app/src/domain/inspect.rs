//! The token inspector: what Keyport makes of a pasted access token, in
//! plain words, with its decoded header and claims. The token is checked
//! here and dropped: never logged, never stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

use super::clock::Timestamp;
use super::tokens::{AccessClaims, ACCESS_TOKEN_TYPE, LEEWAY};
use super::Keyport;

/// The longest token the inspector reads.
pub const TOKEN_MAX: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid {
        until: Timestamp,
    },
    Expired {
        at: Timestamp,
    },
    NotYetValid {
        from: Timestamp,
    },
    Revoked,
    /// Signed and current, but its application was removed (or restored
    /// since), or its user disabled: APIs refuse it.
    Refused,
    UnknownKey {
        kid: Option<String>,
    },
    BadSignature,
    WrongIssuer {
        issuer: Option<String>,
    },
    WrongAudience,
    NotAnAccessToken {
        typ: Option<String>,
    },
    Malformed(&'static str),
    /// The database did not answer: try again.
    Unavailable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub verdict: Verdict,
    /// The decoded header and claims, pretty-printed, when they decode.
    pub header: Option<String>,
    pub claims: Option<String>,
}

fn decode_part(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

impl Keyport {
    pub async fn inspect_token(&self, token: &str) -> Inspection {
        let token = token.trim();
        let token = token
            .strip_prefix("Bearer ")
            .or_else(|| token.strip_prefix("bearer "))
            .unwrap_or(token)
            .trim();
        let malformed = |why| Inspection {
            verdict: Verdict::Malformed(why),
            header: None,
            claims: None,
        };
        if token.is_empty() {
            return malformed("Paste an access token.");
        }
        if token.len() > TOKEN_MAX {
            return malformed("This is longer than any access token Keyport issues.");
        }
        let parts: Vec<&str> = token.split('.').collect();
        let [header_part, claims_part, _] = parts[..] else {
            return malformed("An access token has three parts separated by dots.");
        };
        let (Some(header), Some(claims)) = (decode_part(header_part), decode_part(claims_part))
        else {
            return malformed("Its header or claims are not base64url-encoded JSON objects.");
        };
        let verdict = self.judge(token, &header, &claims).await;
        Inspection {
            verdict,
            header: Some(pretty(&header)),
            claims: Some(pretty(&claims)),
        }
    }

    async fn judge(&self, token: &str, header: &Value, claims: &Value) -> Verdict {
        let text = |v: &Value, name: &str| v.get(name).and_then(Value::as_str).map(str::to_owned);
        let typ = text(header, "typ");
        if typ.as_deref().map(str::to_ascii_lowercase).as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Verdict::NotAnAccessToken { typ };
        }
        let Some(kid) = text(header, "kid") else {
            return Verdict::UnknownKey { kid: None };
        };
        let Ok(ring) = self.ring_for(&kid).await else {
            return Verdict::UnknownKey { kid: Some(kid) };
        };
        let Some((algorithm, key)) = ring.verifying.get(&kid) else {
            return Verdict::UnknownKey { kid: Some(kid) };
        };
        let mut validation = jsonwebtoken::Validation::new(*algorithm);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        if jsonwebtoken::decode::<Value>(token, key, &validation).is_err() {
            return Verdict::BadSignature;
        }
        let issuer = text(claims, "iss");
        if issuer.as_deref() != Some(self.issuer_id().as_str()) {
            return Verdict::WrongIssuer { issuer };
        }
        if text(claims, "aud").as_deref() != Some(self.audience().as_str()) {
            return Verdict::WrongAudience;
        }
        let Ok(claims) = serde_json::from_value::<AccessClaims>(claims.clone()) else {
            return Verdict::Malformed("Its claims lack what an access token carries.");
        };
        let now = self.now();
        if claims.exp + LEEWAY <= now {
            return Verdict::Expired { at: claims.exp };
        }
        if claims.nbf - LEEWAY > now {
            return Verdict::NotYetValid { from: claims.nbf };
        }
        match self.is_revoked(&claims.jti).await {
            Ok(false) => {}
            Ok(true) => return Verdict::Revoked,
            Err(_) => return Verdict::Unavailable,
        }
        match self.token_user(&claims).await {
            Ok(Some(_)) => Verdict::Valid { until: claims.exp },
            Ok(None) => Verdict::Refused,
            Err(_) => Verdict::Unavailable,
        }
    }
}
