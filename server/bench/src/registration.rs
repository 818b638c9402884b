//! The registration row: a native tool registering itself (RFC 7591) with
//! an initial access token, as many copies of one agent do, under one name.
//!
//! A domain holds at most 1,000 applications and a token allows at most
//! 1,000 registrations, so each load connection registers into a domain of
//! its own with a token of its own, made as an operator makes them: the
//! domain with `keyport domain create`, the token with `keyport
//! registration-token create`. Every answer must be 201. That is room for
//! about 1,000 registrations a second over the default rounds (3 of 1 s
//! warm-up and 3 s measured, at 16 and at 64 connections, the first 16
//! tokens serving both); a longer or faster run spends it, and the row
//! then counts the refusals as unexpected.

use http::{header, StatusCode};
use serde_json::{json, Value};

use crate::load::Load;
use crate::measure::CONNECTIONS;
use crate::server::{Server, EMAIL};
use crate::Result;

/// What each domain and token allow: the most there may be.
const ROOM: &str = "1000";

/// A domain and an initial access token for each connection of the most
/// a row runs at, and the registration each connection sends with its own.
pub(crate) async fn seed(server: &Server) -> Result<Load> {
    let connections = CONNECTIONS.into_iter().max().unwrap_or_default();
    let mut tokens = Vec::with_capacity(connections);
    for n in 0..connections {
        let domain = format!("Agents {n:02}");
        server
            .cli(
                &["domain", "create", "--name", &domain, "--app-limit", ROOM],
                None,
            )
            .await?;
        let created: Value = serde_json::from_str(
            &server
                .cli(
                    &[
                        "registration-token",
                        "create",
                        "--domain",
                        &domain,
                        "--label",
                        "Bench agents",
                        "--uses",
                        ROOM,
                        "--permissions",
                        "clients:read",
                        "--public",
                        "--email",
                        EMAIL,
                    ],
                    None,
                )
                .await?,
        )
        .map_err(|e| e.to_string())?;
        let token = created["initial_access_token"]
            .as_str()
            .ok_or("no initial access token was printed")?;
        tokens.push(format!("Bearer {token}"));
    }
    let metadata = json!({
        "client_name": "Agent CLI",
        "redirect_uris": ["http://127.0.0.1/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "clients:read",
    });
    Ok(Load::post("/oauth2/register", metadata.to_string())
        .header(header::CONTENT_TYPE, "application/json")
        .each_connection(header::AUTHORIZATION, &tokens)
        .expecting(StatusCode::CREATED))
}
