//! The token inspector: the verdict on a pasted access token.

use crate::api::codec::JsonText;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectionView {
    /// Whether APIs accept the token now.
    pub valid: bool,
    /// The verdict in one line: "Valid until …", "Expired at …".
    pub verdict: String,
    /// What it means, or what to do.
    pub explanation: String,
    pub header: Option<String>,
    pub claims: Option<String>,
}

#[cfg(feature = "ssr")]
impl From<crate::domain::inspect::Inspection> for InspectionView {
    fn from(i: crate::domain::inspect::Inspection) -> Self {
        use crate::domain::inspect::Verdict as V;
        use crate::time::format_time;

        let (valid, verdict, explanation) = match i.verdict {
            V::Valid { until } => (
                true,
                format!("Valid until {}", format_time(until)),
                "Signed by a current Keyport key, for this issuer and audience, not revoked. APIs accept it until then.".into(),
            ),
            V::Expired { at } => (
                false,
                format!("Expired at {}", format_time(at)),
                "APIs answer \u{201c}OAuth token has expired\u{201d}. Request a new token.".into(),
            ),
            V::NotYetValid { from } => (
                false,
                format!("Not valid before {}", format_time(from)),
                "Its nbf lies in the future: check the clocks of the issuer and this server.".into(),
            ),
            V::Revoked => (
                false,
                "Revoked".into(),
                "It was revoked before it expired. Request a new token.".into(),
            ),
            V::Refused => (
                false,
                "No longer accepted".into(),
                "Its application was removed or restored since it was issued, or the user it acts for is disabled.".into(),
            ),
            V::UnknownKey { kid } => (
                false,
                "Signed by an unknown key".into(),
                match kid {
                    Some(kid) => format!("No key with kid \u{201c}{kid}\u{201d} is published in this deployment's JWKS: it comes from another issuer, or its key was retired."),
                    None => "Its header names no key (kid).".into(),
                },
            ),
            V::BadSignature => (
                false,
                "Bad signature".into(),
                "The signature does not match the header and claims: the token was altered, or signed by someone else.".into(),
            ),
            V::WrongIssuer { issuer } => (
                false,
                "Wrong issuer".into(),
                format!(
                    "It was issued by {}, not by this deployment.",
                    issuer.unwrap_or_else(|| "nobody (no iss claim)".into())
                ),
            ),
            V::WrongAudience => (
                false,
                "Wrong audience".into(),
                "Its aud claim does not name this deployment's APIs.".into(),
            ),
            V::NotAnAccessToken { typ } => (
                false,
                "Not an access token".into(),
                format!(
                    "Access tokens have typ \u{201c}at+jwt\u{201d}; this one has {}.",
                    typ.map(|t| format!("\u{201c}{t}\u{201d}")).unwrap_or_else(|| "none".into())
                ),
            ),
            V::Malformed(why) => (false, "Not a token".into(), why.into()),
            V::Unavailable => (
                false,
                "Could not check".into(),
                "The database did not answer. Try again.".into(),
            ),
        };
        Self {
            valid,
            verdict,
            explanation,
            header: i.header,
            claims: i.claims,
        }
    }
}

/// Checks a token on the server. The token is not logged or kept; a plain
/// form post keeps the verdict (never the token) for the page it returns to.
#[server(output = JsonText, prefix = "/rpc", endpoint = "tools/inspect")]
pub async fn inspect_token(token: String) -> Result<InspectionView, AppError> {
    use super::request::{keep_result, keyport, no_store};
    use crate::api::access::allow;

    allow::<InspectToken>().await?.user()?;
    no_store();
    let view: InspectionView = keyport()?.inspect_token(&token).await.into();
    keep_result("inspection", &view).await;
    Ok(view)
}

/// The verdict a plain form post left, shown once.
#[server(output = JsonText, prefix = "/rpc", endpoint = "tools/inspection")]
pub async fn last_inspection() -> Result<Option<InspectionView>, AppError> {
    use super::request::{no_store, take_result};
    use crate::api::access::allow;

    allow::<LastInspection>().await?.user()?;
    no_store();
    take_result("inspection").await
}
