//! The two routes only `keyport-bench` serves (the `bench` feature; `make
//! bench`, server/bench): rows of the benchmark that have no route in
//! Keyport itself. The `keyport` binary has neither.

use app::domain::Keyport;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::AppState;

/// A route that does nothing (the server's ceiling) and one that only signs
/// a token (the physical limit of issuing one).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/bench/noop", get(|| async { StatusCode::OK }))
        .route("/bench/sign", get(sign))
}

/// Signs one access token with the configured key and answers as the token
/// endpoint does.
async fn sign(State(keyport): State<Keyport>) -> Response {
    let scope = "clients:read";
    let client_id = app::domain::ids::ClientId::new("bench");
    match keyport.sign(
        "bench",
        &client_id,
        &keyport.tenancy.default_domain_id,
        scope,
    ) {
        Ok(issued) => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            Json(json!({
                "access_token": issued.access_token,
                "token_type": "Bearer",
                "expires_in": issued.expires_in,
                "scope": scope,
            })),
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
