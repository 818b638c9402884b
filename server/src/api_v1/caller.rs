//! Who calls the management API: the contract §6 error every refusal
//! answers with, and the caller a Bearer token names, let in by its
//! route's scope before the body is read.

use app::domain::access::Access;
use app::domain::accounts::User;
use app::domain::rules::may_hold;
use app::domain::tokens::{AccessClaims, TokenError};
use app::domain::{tenancy, Error, Keyport};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// The contract §6 error: `{"error":{"code":…,"messages":[…]}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: u32,
    messages: Vec<String>,
    challenge: Option<String>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            messages: vec![message.into()],
            challenge: None,
        }
    }

    pub(super) fn missing() -> Self {
        Self {
            challenge: Some("Bearer realm=\"keyport\"".into()),
            ..Self::new(StatusCode::UNAUTHORIZED, 401011, "OAuth token is missing")
        }
    }

    pub(super) fn token(e: TokenError) -> Self {
        let (code, message) = match e {
            TokenError::Expired => (401009, "OAuth token has expired"),
            TokenError::Invalid => (401010, "OAuth token is invalid"),
            TokenError::Unavailable => return Self::unavailable(),
        };
        Self {
            challenge: Some(format!("Bearer realm=\"keyport\", error=\"invalid_token\", error_description=\"{message}\"")),
            ..Self::new(StatusCode::UNAUTHORIZED, code, message)
        }
    }

    pub(super) fn insufficient(scope: &str) -> Self {
        Self {
            challenge: Some(format!(
                "Bearer realm=\"keyport\", error=\"insufficient_scope\", scope=\"{scope}\""
            )),
            ..Self::new(StatusCode::FORBIDDEN, 403001, "Insufficient permissions")
        }
    }

    /// 503: the database is out of reach, or the request ran out of time.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            503001,
            "Service temporarily unavailable",
        )
    }

    /// 500: what failed is in the log, never in the answer.
    pub(super) fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, 500001, "Internal error")
    }

    pub(super) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 404001, "Client not found")
    }

    pub(super) fn domain_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 404001, "Domain not found")
    }

    /// 400: a JSON body that does not parse or has unknown fields.
    pub(super) fn json(e: JsonRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 400001, e.body_text())
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(problems) => Self {
                messages: problems
                    .into_iter()
                    .map(|p| format!("{}: {}", p.field, p.message))
                    .collect(),
                ..Self::new(StatusCode::BAD_REQUEST, 400001, "")
            },
            Error::NotFound => Self::not_found(),
            Error::Forbidden => {
                Self::new(StatusCode::FORBIDDEN, 403001, "Insufficient permissions")
            }
            failed => match failed.failure("management API") {
                Some(app::domain::Failure::Unavailable) => Self::unavailable(),
                _ => Self::internal(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({"error": {"code": self.code, "messages": self.messages}})),
        )
            .into_response();
        if let Some(challenge) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// The verified caller: the token's claims and the user it acts for.
#[derive(Clone)]
pub struct Caller {
    pub(super) claims: AccessClaims,
    pub(super) user: User,
    pub(super) address: String,
}

impl Caller {
    /// The token's scope `scope`, while the user it acts for may hold it
    /// as they stand now (`rules::may_hold`).
    pub(super) fn require(&self, scope: &str) -> Result<(), ApiError> {
        if self.claims.scopes().any(|s| s == scope) && may_hold(self.user.role, scope) {
            Ok(())
        } else {
            Err(ApiError::insufficient(scope))
        }
    }

    /// The domain the token acts in, as its user stands now: a super admin
    /// acts in any domain, anyone else only in the one they belong to. A
    /// token minted before its user moved or lost their role gets nothing
    /// it was not allowed when presented.
    pub(super) async fn domain(&self, keyport: &Keyport) -> Result<tenancy::Domain, ApiError> {
        let allowed = self.user.role == app::domain::accounts::Role::SuperAdmin
            || self.user.domain_id == self.claims.domain_id;
        if !allowed {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                403001,
                "Insufficient permissions",
            ));
        }
        keyport
            .domain(&self.claims.domain_id)
            .await?
            .ok_or_else(ApiError::not_found)
    }

    pub(super) fn is_delegated(&self) -> bool {
        self.claims.client_id != self.claims.sub
    }

    /// The principal of the request: the token's user, as the token came.
    pub(super) fn access(&self) -> Access {
        Access::token(
            self.user.clone(),
            &self.claims.client_id,
            self.is_delegated(),
            self.address.clone(),
        )
    }
}

impl Caller {
    /// The caller a request's Bearer token names, verified.
    async fn authenticate(parts: &Parts, keyport: &Keyport) -> Result<Self, ApiError> {
        let token = crate::headers::bearer_token(&parts.headers)
            .map_err(|_| ApiError::token(TokenError::Invalid))?
            .ok_or_else(ApiError::missing)?;
        let claims = keyport
            .verify_access_token(&token)
            .await
            .map_err(ApiError::token)?;
        // The client must still be in use, and the user still enabled.
        let user = keyport
            .token_user(&claims)
            .await?
            .ok_or(ApiError::token(TokenError::Invalid))?;
        let address = crate::proxies::address_text(parts);
        Ok(Self {
            claims,
            user,
            address,
        })
    }
}

/// The caller of a management API route, let in by its row's scope
/// (`ENDPOINTS`): the token is checked before the body is read.
impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Keyport: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let scope = super::scope_of(parts).ok_or_else(|| {
            tracing::error!(
                path = parts.uri.path(),
                "a management API route without a scope takes no caller"
            );
            ApiError::internal()
        })?;
        let caller = Caller::authenticate(parts, &Keyport::from_ref(state)).await?;
        caller.require(scope)?;
        Ok(caller)
    }
}
