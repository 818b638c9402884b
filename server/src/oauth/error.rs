//! The RFC 6749 §5.2 error every OAuth endpoint answers with, and the
//! headers that go with it (`WWW-Authenticate`, `Retry-After`, no-store).

use app::domain::Error;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An RFC 6749 §5.2 error response.
#[derive(Debug)]
pub struct OAuthError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) description: String,
    /// Basic authentication was attempted: a 401 carries the challenge.
    pub(super) basic: bool,
    pub(super) retry_after: Option<u64>,
}

impl OAuthError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            basic: false,
            retry_after: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 503: the database is out of reach, or the request ran out of time.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the service is temporarily unavailable; try again shortly",
        )
    }

    /// The refusal reason `/metrics` counts: the error code, with
    /// "temporarily unavailable" told apart as rate limiting or an outage.
    pub fn reason(&self) -> &'static str {
        match (self.status, self.code) {
            (StatusCode::TOO_MANY_REQUESTS, _) => "rate_limited",
            (StatusCode::SERVICE_UNAVAILABLE, _) => "unavailable",
            (StatusCode::PAYLOAD_TOO_LARGE, _) => "body_too_large",
            (_, code) => code,
        }
    }

    pub(super) fn invalid_client(basic: bool) -> Self {
        Self {
            basic,
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            )
        }
    }

    /// How a grant that could not be made is answered (RFC 6749 §5.2).
    pub(super) fn from_grant(e: app::domain::authorization::GrantError) -> Self {
        use app::domain::authorization::GrantError;
        match e {
            GrantError::InvalidRequest(d) => Self::invalid_request(d),
            GrantError::InvalidGrant(d) => Self::new(StatusCode::BAD_REQUEST, "invalid_grant", d),
            GrantError::InvalidScope(d) => Self::new(StatusCode::BAD_REQUEST, "invalid_scope", d),
            GrantError::InvalidTarget(e) => Self::invalid_target(e),
            GrantError::Failed(e) => Self::from_domain(e, false),
        }
    }

    /// RFC 8707 §2: the resource names no API the client may have a token for.
    pub(super) fn invalid_target(e: app::domain::apis::TargetError) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_target", e.to_string())
    }

    /// A client that may not use what it asked for: a public client and
    /// the client credentials grant (RFC 6749 §5.2 `unauthorized_client`).
    pub(super) fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", description)
    }

    pub(super) fn from_domain(e: Error, basic: bool) -> Self {
        match e {
            Error::BadCredentials => Self::invalid_client(basic),
            Error::RateLimited { retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "temporarily_unavailable",
                    format!("too many requests; retry after {retry_after} seconds"),
                )
            },
            Error::Busy { retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::unavailable()
            },
            failed => match failed.failure("OAuth endpoint") {
                Some(app::domain::Failure::Unavailable) => Self::unavailable(),
                _ => Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "the server could not complete the request",
                ),
            },
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            no_store(),
            Json(json!({"error": self.code, "error_description": self.description})),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED && self.basic {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"keyport\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

pub(super) fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}
