//! The edge of the server functions: each call is checked against its
//! rule (`app::api::access`) before the function reads its arguments, and
//! the caller the rule let in travels with the request (`Admitted`).

use std::collections::HashSet;
use std::sync::OnceLock;

use app::api::access::{self, Admitted};
use app::api::request::asks_for_html;
use app::api::AppError;
use app::domain::Keyport;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

/// Every registered server function's path.
fn registered() -> &'static HashSet<&'static str> {
    static PATHS: OnceLock<HashSet<&'static str>> = OnceLock::new();
    PATHS.get_or_init(|| {
        leptos::server_fn::axum::server_fn_paths()
            .map(|(path, _)| path)
            .collect()
    })
}

pub async fn rpc_access(
    State(keyport): State<Keyport>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if !path.starts_with(access::PREFIX) {
        return next.run(request).await;
    }
    let Some(rule) = access::rule_for(path) else {
        if registered().contains(path) {
            tracing::error!(path, "a server function without a rule is refused");
            return refusal(&request, AppError::Forbidden);
        }
        // No such function: the 404 page.
        return next.run(request).await;
    };
    match access::check(&keyport, &session, rule).await {
        Ok(access) => {
            request.extensions_mut().insert::<Admitted>(access);
            next.run(request).await
        }
        Err(refused) => refusal(&request, refused),
    }
}

/// A refused call, answered as the function would have: to the
/// WebAssembly, the error with its status; a plain form post goes back to
/// its page, or, asked to confirm who they are, to the confirmation page.
fn refusal(request: &Request, error: AppError) -> Response {
    let headers = request.headers();
    if asks_for_html(headers) {
        if error == AppError::StepUpRequired {
            let to = access::confirm_address(headers);
            if let Ok(to) = HeaderValue::from_str(&to) {
                return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
            }
        }
        if let Some(page) = headers.get(header::REFERER) {
            return (StatusCode::SEE_OTHER, [(header::LOCATION, page.clone())]).into_response();
        }
    }
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::FORBIDDEN);
    let body = serde_json::to_string(&error).unwrap_or_default();
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}
