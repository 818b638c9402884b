//! Every request is answered within a deadline. A database that stops
//! answering mid-query (a network partition, a stalled server) would
//! otherwise hold the request, and its connection, for as long as TCP
//! allows; past the deadline the request is dropped, which rolls back
//! whatever it had begun, and the caller hears "temporarily unavailable" in
//! the format of the endpoint it called.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api_v1::ApiError;
use crate::oauth::OAuthError;

#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub Duration);

pub async fn within_deadline(
    State(Deadline(limit)): State<Deadline>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%path, ?limit, "request not answered within its deadline");
            unavailable(&path)
        }
    }
}

/// 503 as the endpoint at `path` words its errors.
fn unavailable(path: &str) -> Response {
    if path.starts_with("/oauth2/") || path.starts_with("/v4/oauth2/") {
        OAuthError::unavailable().into_response()
    } else if path.starts_with("/api/") {
        ApiError::unavailable().into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::RETRY_AFTER, "5"),
                (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
            ],
            PAGE,
        )
            .into_response()
    }
}

/// The page loads the portal's stylesheet and nothing else.
const PAGE_CSP: &str =
    "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'";

const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Temporarily unavailable · Keyport</title><link rel="stylesheet" href="/pkg/keyport.css"></head>
<body><main class="centered"><div class="card narrow" role="alert">
<h1>Keyport is temporarily unavailable</h1>
<p>The server could not answer in time: its database is not responding. If you were saving a change, check whether it took effect before you send it again.</p>
<p>Try again in a moment. If this persists, ask your administrator to check the database.</p>
<p><a href="">Try again</a></p>
</div></main></body></html>
"#;
