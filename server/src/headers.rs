//! Cross-cutting HTTP protections: security headers on every response, an
//! Origin check on state-changing console requests, and HTTP statuses for
//! server-function errors.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use app::api::AppError;

/// The policy for responses that are not pages (pages set their own, with a
/// script nonce).
const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// How browsers reach this deployment (its public URL's scheme).
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    pub https: bool,
}

pub async fn security_headers(
    State(transport): State<Transport>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if transport.https {
        // Browsers that once reached Keyport over TLS never try it in clear
        // again (RFC 6797), where a session cookie could be taken.
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(DEFAULT_CSP));
    response
}

/// A page that sends its reader elsewhere (signed out, say) answers with a
/// redirect status whoever asks. The page renderer sets one only for
/// clients that ask for HTML; to anything else (curl, an uptime monitor)
/// it would answer 200 with a `Location` header and the page it redirects
/// from.
pub async fn page_redirects(request: Request, next: Next) -> Response {
    let page = request.method() == Method::GET && !request.uri().path().starts_with("/rpc/");
    let mut response = next.run(request).await;
    if page && response.status().is_success() && response.headers().contains_key(header::LOCATION) {
        *response.status_mut() = StatusCode::SEE_OTHER;
    }
    response
}

/// A refused plain form post goes back to its page: server_fn appends the
/// error to that address (`?__path=…&__err=…`), where it would stay in the
/// address bar, in the history and in a bookmark. The page already has it,
/// kept once in the session (`api::request::form`), so the address is the
/// page's own, and the answer is `303 See Other` (an accepted post's
/// redirect stays `302 Found`), which tells a client that it was refused.
pub async fn plain_form_returns(request: Request, next: Next) -> Response {
    let posted = request.method() == Method::POST && request.uri().path().starts_with("/rpc/");
    let mut response = next.run(request).await;
    if !posted || !response.status().is_redirection() {
        return response;
    }
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .filter(|l| l.contains("__err="))
        .map(without_error_info);
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
        *response.status_mut() = StatusCode::SEE_OTHER;
    }
    response
}

/// `location` without server_fn's `__path` and `__err` query parameters.
fn without_error_info(location: &str) -> String {
    let Ok(mut url) = url::Url::parse(location) else {
        return location.to_owned();
    };
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "__path" && k != "__err")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    url.into()
}

/// A request's Bearer token (RFC 6750 §2.1), read by the `headers` crate:
/// `Ok(None)` without an `Authorization` header, `Err` for another scheme
/// or one that cannot be read. The management API, client registration
/// and `/metrics` read it here.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<String>, UnreadableBearer> {
    use ::headers::authorization::{Authorization, Bearer};
    use ::headers::HeaderMapExt;
    match headers.typed_try_get::<Authorization<Bearer>>() {
        Ok(Some(found)) if !found.token().trim().is_empty() => {
            Ok(Some(found.token().trim().to_owned()))
        }
        Ok(None) => Ok(None),
        _ => Err(UnreadableBearer),
    }
}

/// An `Authorization` header that is not a readable Bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnreadableBearer;

/// The origins a browser may post console requests from.
#[derive(Debug, Clone)]
pub struct AllowedOrigin(pub String);

/// Refuses cross-site state-changing requests to server functions
/// (`/rpc/…`): SameSite=Lax already keeps the session cookie off them; this
/// also refuses a forged form from a sibling subdomain or an old browser.
/// The request's Origin (or, failing that, Referer) must be this site.
pub async fn same_origin_only(
    State(allowed): State<AllowedOrigin>,
    request: Request,
    next: Next,
) -> Response {
    let guarded = request.uri().path().starts_with("/rpc/")
        && !matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        );
    if guarded && !is_same_origin(request.headers(), &allowed.0) {
        return (StatusCode::FORBIDDEN, "cross-origin request refused").into_response();
    }
    next.run(request).await
}

fn is_same_origin(headers: &HeaderMap, allowed: &str) -> bool {
    let host_origin = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let matches = |origin: &str| {
        origin == allowed
            || host_origin.is_some_and(|host| {
                origin
                    .strip_prefix("http://")
                    .or_else(|| origin.strip_prefix("https://"))
                    == Some(host)
            })
    };
    if let Some(origin) = headers.get(header::ORIGIN) {
        return origin.to_str().is_ok_and(matches);
    }
    headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .is_some_and(|r| matches(&r.origin().ascii_serialization()))
}

/// Server functions answer every error with 500; this gives each error its
/// real status (400 for a malformed request, 401, 403, 404, 429 with
/// `Retry-After`) so that clients and logs see what happened. A body over
/// the limit is a 413 before the function runs.
pub async fn server_fn_statuses(request: Request, next: Next) -> Response {
    let request = match whole_body(request).await {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    let response = next.run(request).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !response.headers().contains_key("serverfnerror")
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // A server function's answer is built whole in memory: reading it costs
    // nothing more, whatever the size (an error may quote what was sent).
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status =
            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let Some(retry_after) = error.retry_after() {
            parts
                .headers
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A server-function request with its body read whole. A body sent without
/// a length meets the body limit only while it is read, and server_fn would
/// answer that with 500: here it is the 413 a declared length gets.
async fn whole_body(request: Request) -> Result<Request, Response> {
    if !request.uri().path().starts_with("/rpc/") {
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    match to_bytes(body, usize::MAX).await {
        Ok(bytes) => Ok(Request::from_parts(parts, Body::from(bytes))),
        Err(e) => {
            let inner = e.into_inner();
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(inner.as_ref());
            while let Some(error) = cause {
                if error.is::<http_body_util::LengthLimitError>() {
                    return Err(StatusCode::PAYLOAD_TOO_LARGE.into_response());
                }
                cause = error.source();
            }
            Err((
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            )
                .into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn origin_must_be_this_site() {
        let ok = "http://127.0.0.1:3000";
        assert!(is_same_origin(
            &headers(&[("origin", "http://127.0.0.1:3000")]),
            ok
        ));
        assert!(is_same_origin(
            &headers(&[
                ("origin", "http://localhost:3000"),
                ("host", "localhost:3000")
            ]),
            ok
        ));
        assert!(!is_same_origin(
            &headers(&[
                ("origin", "https://evil.example"),
                ("host", "127.0.0.1:3000")
            ]),
            ok
        ));
        assert!(!is_same_origin(&headers(&[("origin", "null")]), ok));
        assert!(is_same_origin(
            &headers(&[("referer", "http://127.0.0.1:3000/login?x")]),
            ok
        ));
        assert!(!is_same_origin(
            &headers(&[("referer", "http://127.0.0.1:3000.evil.example/")]),
            ok
        ));
        assert!(!is_same_origin(&headers(&[]), ok));
    }
}
