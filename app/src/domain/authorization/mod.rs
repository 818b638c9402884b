//! The authorization code grant with PKCE (RFC 6749 §4.1, RFC 7636,
//! contract §5): checking a request before anything is shown, and consent,
//! remembered per user, application and redirect URI. The codes an
//! approval hands out and their exchange are in `codes`; what a user has
//! connected, and taking it back, in `connections`; refresh tokens and
//! their rotation in `refresh`.

mod codes;
mod connections;
mod refresh;
mod rotations;

pub use codes::{CodeExchange, GrantError};
pub use connections::Connection;
pub(crate) use refresh::revoke_families;
pub use refresh::{Families, Family, RefreshRequest, Refreshed, OFFLINE_ACCESS, REUSE_GRACE};
pub(crate) use rotations::Rotations;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::access::Access;
use super::accounts::User;
use super::applications::Application;
use super::audit::{Action, Actor};
use super::form::Params;
use super::rules::may_authorize;
use super::secrets::random_token;
use super::{tenancy, Error, Keyport, Result};

/// contract §5: a code is good for 60 seconds.
pub const CODE_TTL: i64 = 60;

/// A request that cannot be answered at the application's callback: the
/// client or its redirect is not what was registered, or PKCE is missing.
/// Shown to the user; never redirected (RFC 6749 §4.1.2.1, RFC 9700).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("The request is malformed: {0}.")]
    Malformed(String),
    #[error("No application is registered with this client ID.")]
    UnknownClient,
    #[error("{0} has no callback URL registered, so it cannot ask for access.")]
    NoCallback(String),
    #[error("The redirect URI is not the callback URL registered for {0}.")]
    UnregisteredRedirect(String),
    #[error("The application did not send a PKCE code challenge (code_challenge with code_challenge_method=S256).")]
    MissingChallenge,
    #[error("Only the PKCE method S256 is accepted, with a 43-character code challenge.")]
    BadChallenge,
    #[error("{0} belongs to another domain; your account cannot give it access.")]
    OtherDomain(String),
}

/// How an authorization request ends when it cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// Shown on an error page.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Sent back to the (verified) callback with an RFC 6749 error.
    #[error("returned to the application with an error")]
    ToApplication(String),
    #[error(transparent)]
    Failed(#[from] Error),
}

/// An authorization request as the application sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: String,
    /// The API the tokens are for (RFC 8707).
    resource: Option<String>,
}

impl AuthorizationRequest {
    /// Reads the query string of `/oauth2/authorize`.
    pub fn parse(query: &str) -> Result<Self, Refusal> {
        let params = Params::parse(query.trim_start_matches('?').as_bytes())
            .map_err(|e| Refusal::Malformed(e.to_string()))?;
        let required = |name: &str| {
            params
                .get(name)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| Refusal::Malformed(format!("{name} is missing")))
        };
        let client_id = required("client_id")?;
        let redirect_uri = required("redirect_uri")?;
        let response_type = params.get("response_type").unwrap_or_default().to_owned();
        let code_challenge = match params.get("code_challenge") {
            None | Some("") => return Err(Refusal::MissingChallenge),
            Some(challenge) => challenge.to_owned(),
        };
        if params.get("code_challenge_method") != Some("S256")
            || !is_s256_challenge(&code_challenge)
        {
            return Err(Refusal::BadChallenge);
        }
        Ok(Self {
            response_type,
            client_id,
            redirect_uri,
            scope: params.get("scope").map(str::to_owned),
            state: params.get("state").map(str::to_owned),
            code_challenge,
            resource: params.get("resource").map(str::to_owned),
        })
    }
}

/// An S256 challenge is the unpadded base64url of a SHA-256: 43 characters.
fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn is_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn hash_code(code: &str) -> String {
    super::secrets::token_digest(code)
}

/// A request that passed every check: what the consent page shows and what
/// an approval binds the code to.
#[derive(Debug, Clone)]
pub struct Checked {
    pub app: Application,
    pub domain_name: String,
    /// The requested permissions with their descriptions, in catalog order.
    pub permissions: Vec<(String, String)>,
    pub redirect_uri: String,
    pub state: Option<String>,
    code_challenge: String,
    /// The API the request named, and so its tokens' audience.
    pub resource: Option<String>,
}

impl Checked {
    pub fn scope(&self) -> String {
        self.permissions
            .iter()
            .map(|(scope, _)| scope.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The callback with `params`, the request's `state` and the issuer
    /// added.
    fn callback(&self, params: &[(&str, &str)], issuer: &str) -> String {
        callback_url(&self.redirect_uri, params, self.state.as_deref(), issuer)
    }
}

/// An authorization response: `params`, then `state` as the request sent
/// it, then `iss` (RFC 9207), so that a client talking to several servers
/// can tell which one answered, success or error alike.
fn callback_url(
    redirect_uri: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
    issuer: &str,
) -> String {
    // Only a redirect URI that `redirect_matches` parsed arrives here; were
    // another to, its response would go nowhere rather than panic.
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        tracing::error!("an unparsed redirect URI reached an authorization response");
        return String::new();
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", issuer);
    }
    url.into()
}

impl Keyport {
    /// Checks `request` for `user`: the client, the redirect URI (exactly
    /// as registered), PKCE, who may authorize, the response type and the
    /// scope, in the order RFC 6749 §4.1.2.1 says to.
    pub async fn check_authorization(
        &self,
        user: &User,
        request: &AuthorizationRequest,
    ) -> Result<Checked, Rejection> {
        let app = self
            .authorizing_application(&request.client_id)
            .await?
            .ok_or(Refusal::UnknownClient)?;
        if app.callback_url.is_empty() {
            return Err(Refusal::NoCallback(app.name).into());
        }
        if !redirect_matches(&app.callback_url, &request.redirect_uri) {
            return Err(Refusal::UnregisteredRedirect(app.name).into());
        }
        if !may_authorize(user, &app) {
            return Err(Refusal::OtherDomain(app.name).into());
        }
        let issuer = self.issuer_id();
        let back = |error: &str, description: &str| {
            Rejection::ToApplication(callback_url(
                &app.callback_url,
                &[("error", error), ("error_description", description)],
                request.state.as_deref(),
                &issuer,
            ))
        };
        if request.response_type != "code" {
            return Err(back(
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
        let granted: Vec<(String, String)> = sqlx::query_as(
            "SELECT p.scope, c.description FROM application_permissions p \
             JOIN permissions c ON c.scope = p.scope WHERE p.application_id = $1 ORDER BY p.scope",
        )
        .bind(&app.id)
        .fetch_all(&self.db.pool)
        .await
        .map_err(Error::from)?;
        // Named an API, the request asks for that API's permissions only.
        let granted = match request.resource.as_deref() {
            None => granted,
            Some(resource) => {
                let apis = self.apis().await?;
                let api = apis
                    .target(Some(resource))
                    .map_err(|e| back("invalid_target", &e.to_string()))?;
                let held: Vec<_> = granted.into_iter().filter(|(s, _)| api.holds(s)).collect();
                if held.is_empty() {
                    let refused = super::apis::TargetError::NotGranted(api.identifier.clone());
                    return Err(back("invalid_target", &refused.to_string()));
                }
                held
            }
        };
        let offline = app.refresh_tokens != 0;
        let permissions = requested_permissions(granted, request.scope.as_deref(), offline)
            .map_err(|unknown| back("invalid_scope", &unknown))?;
        let domain_name = tenancy::find_domain(&self.db, &app.domain_id)
            .await?
            .map(|d| d.name)
            .unwrap_or_default();
        Ok(Checked {
            app,
            domain_name,
            permissions,
            redirect_uri: request.redirect_uri.clone(),
            state: request.state.clone(),
            code_challenge: request.code_challenge.clone(),
            resource: request.resource.clone(),
        })
    }

    /// The application in use holding `client_id`, if it may ask for
    /// access: a removed application (in its 30 days before purge) or one
    /// whose owner is disabled gets no tokens, so it gets no consent either.
    async fn authorizing_application(&self, client_id: &str) -> Result<Option<Application>> {
        if !super::validate::storable(client_id) {
            return Ok(None);
        }
        Ok(sqlx::query_as(&format!(
            "{} WHERE a.client_id = $1 AND a.removed_at IS NULL AND u.disabled_at IS NULL",
            super::applications::SELECT
        ))
        .bind(client_id)
        .fetch_optional(&self.db.pool)
        .await?)
    }

    /// Whether `user` already approved every permission of `checked` for
    /// its application, to be returned to this very callback (a loopback
    /// one on whichever port). (Changing
    /// the application's permissions, callback, name or website forgets
    /// every consent given to it.)
    pub async fn consent_covers(&self, user: &User, checked: &Checked) -> Result<bool> {
        let approved = approved_scope(&self.db.pool, user, &checked.app).await?;
        Ok(approved.is_some_and(|(approved, redirect_uri)| {
            redirect_uri == checked.app.callback_url
                && checked
                    .permissions
                    .iter()
                    .all(|(scope, _)| approved.split(' ').any(|a| a == scope))
        }))
    }

    /// Approves: remembers the consent, issues a code bound to the client,
    /// the redirect URI, the challenge and the user, and answers with the
    /// callback URL that carries it.
    pub async fn approve_authorization(
        &self,
        access: &Access,
        checked: &Checked,
    ) -> Result<String> {
        let (actor, user) = (access.actor(), access.person()?);
        let code = random_token(32);
        let now = self.now();
        let scope = checked.scope();
        let mut tx = self.db.write().await?;
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, application_id, user_id, redirect_uri, \
             scope, code_challenge, created_at, expires_at, resource) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(hash_code(&code))
        .bind(&checked.app.id)
        .bind(&user.id)
        .bind(&checked.redirect_uri)
        .bind(&scope)
        .bind(&checked.code_challenge)
        .bind(now)
        .bind(now + CODE_TTL)
        .bind(&checked.resource)
        .execute(&mut *tx)
        .await?;
        // What was approved before for the same redirect URI still holds;
        // an approval for another one replaces it.
        let approved = approved_scope(&mut *tx, user, &checked.app)
            .await?
            .filter(|(_, redirect_uri)| *redirect_uri == checked.app.callback_url)
            .map(|(scope, _)| scope);
        let mut remembered: Vec<&str> = approved
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .chain(scope.split(' '))
            .filter(|s| !s.is_empty())
            .collect();
        remembered.sort_unstable();
        remembered.dedup();
        sqlx::query(
            "INSERT INTO consents (user_id, application_id, scope, granted_at, redirect_uri) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, application_id) \
             DO UPDATE SET scope = $3, granted_at = $4, redirect_uri = $5",
        )
        .bind(&user.id)
        .bind(&checked.app.id)
        .bind(remembered.join(" "))
        .bind(now)
        .bind(&checked.app.callback_url)
        .execute(&mut *tx)
        .await?;
        super::audit::record(
            &mut tx,
            super::audit::Entry {
                at: now,
                domain_id: Some(&checked.app.domain_id),
                actor,
                action: Action::AuthorizationGranted,
                target: Some(&checked.app.label()),
                client_id: Some(&checked.app.client_id),
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(checked.callback(&[("code", &code)], &self.issuer_id()))
    }

    /// Denies: the callback URL with `access_denied`.
    pub async fn deny_authorization(&self, actor: &Actor, checked: &Checked) -> Result<String> {
        self.audit_application(actor, &checked.app, Action::AuthorizationDenied, None)
            .await?;
        Ok(checked.callback(
            &[
                ("error", "access_denied"),
                ("error_description", "the user denied the request"),
            ],
            &self.issuer_id(),
        ))
    }
}

/// What the consent page says `offline_access` means.
const OFFLINE_ACCESS_MEANS: &str =
    "Stay connected: keep this access while you are away, until you disconnect the application";

/// The permissions `requested` asks for, among those `granted` (all of them
/// when it asks for none), in catalog order, and `offline_access` last when
/// asked for and the application may have refresh tokens (`offline`); what
/// is wrong with it if it asks for nothing or for a permission the
/// application lacks (`invalid_scope`). An `offline_access` the
/// application may not have is left out, as OpenID Connect Core §11 says:
/// the client gets no refresh token.
fn requested_permissions(
    granted: Vec<(String, String)>,
    requested: Option<&str>,
    offline: bool,
) -> std::result::Result<Vec<(String, String)>, String> {
    let Some(requested) = requested else {
        return Ok(granted);
    };
    let wanted: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
    if wanted.is_empty() {
        return Err("the scope is empty".into());
    }
    if let Some(unknown) = wanted
        .iter()
        .find(|w| **w != OFFLINE_ACCESS && !granted.iter().any(|(s, _)| s == *w))
    {
        return Err(format!("{unknown} is not a permission of this application"));
    }
    let mut permissions: Vec<(String, String)> = granted
        .into_iter()
        .filter(|(s, _)| wanted.contains(&s.as_str()))
        .collect();
    if permissions.is_empty() {
        return Err("the scope asks for no permission of this application".into());
    }
    if offline && wanted.contains(&OFFLINE_ACCESS) {
        permissions.push((OFFLINE_ACCESS.into(), OFFLINE_ACCESS_MEANS.into()));
    }
    Ok(permissions)
}

/// Whether `requested` is the registered callback: byte for byte, or, for
/// a loopback IP literal over http, byte for byte but for the port (RFC
/// 8252 §7.3: a native app listens on whichever port the system gives it).
/// The requested URI must parse as a URL (a port above 65535 does not),
/// whichever way it matches.
fn redirect_matches(registered: &str, requested: &str) -> bool {
    if url::Url::parse(requested).is_err() {
        return false;
    }
    registered == requested
        || matches!(
            (loopback_without_port(registered), loopback_without_port(requested)),
            (Some(a), Some(b)) if a == b
        )
}

/// An `http` URL on a loopback IP literal, as written but without its port.
fn loopback_without_port(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !port.contains(']') => {
            if !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err() {
                return None;
            }
            host
        }
        _ => authority,
    };
    let ip: std::net::IpAddr = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()?;
    ip.is_loopback().then(|| format!("http://{host}{tail}"))
}

/// The permissions `user` approved for `app`, space-separated, and the
/// redirect URI they were approved for, if any.
async fn approved_scope<'c, E>(
    executor: E,
    user: &User,
    app: &Application,
) -> Result<Option<(String, String)>>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    Ok(sqlx::query_as(
        "SELECT scope, redirect_uri FROM consents WHERE user_id = $1 AND application_id = $2",
    )
    .bind(&user.id)
    .bind(&app.id)
    .fetch_optional(executor)
    .await?)
}

#[cfg(test)]
mod tests;
