//! The refresh rows: the refresh token grant (RFC 6749 §6) of a public
//! client, as a native tool keeps its user signed in. Every use spends the
//! token presented and answers with its successor, so each load connection
//! follows a chain of its own: a token shared between connections would,
//! within the reuse grace, answer with the successor it was already
//! exchanged for, which measures the grace path instead of rotation.
//!
//! The chains are seeded as a tool would start them: the application is
//! registered through the management API, the signed-in administrator
//! approves it once per chain, and each code is exchanged with PKCE.

use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};

use http::{header, StatusCode};
use hyper::body::Bytes;
use serde_json::{json, Value};
use url::form_urlencoded::Serializer;
use url::Url;

use crate::load::{fetch, Load};
use crate::measure::CONNECTIONS;
use crate::server::{Seeded, Server};
use crate::Result;

/// A loopback callback, as a native tool registers one.
const CALLBACK: &str = "http://127.0.0.1/callback";
const SCOPE: &str = "clients:read offline_access";
/// A PKCE verifier and its S256 challenge (RFC 7636 §4.2: the unpadded
/// base64url of its SHA-256), worked out once, so that the bench needs no
/// hash of its own. Every approval may present the same pair: the server
/// keeps the challenge with each code, and the bench has nothing to protect.
const VERIFIER: &str = "keyport-bench-pkce-verifier-the-same-for-every-approval";
const CHALLENGE: &str = "OpEiW23RHzYUpGDyv40pz4xlasVBJxXBUBdZbzU4Lvk";

/// One refresh token chain per load connection: the token each presents
/// next. Connection n alone reads and writes chain n. The chains outlive a
/// run, since every run and round continues them: a token presented again
/// after the grace would end its chain.
pub(crate) struct Chains {
    client_id: String,
    next: Vec<Mutex<String>>,
}

impl Chains {
    /// The form of connection `n`'s next refresh. There is a chain for
    /// every connection a row runs at (`seed`).
    pub(crate) fn form(&self, n: usize) -> Bytes {
        let token = self.next[n].lock().unwrap_or_else(PoisonError::into_inner);
        Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("client_id", &self.client_id)
            .append_pair("refresh_token", &token)
            .finish()
            .into()
    }

    /// Keeps the successor a 200 answer to connection `n`'s refresh carries
    /// as the token it presents next. Whether the answer carried one.
    pub(crate) fn advance(&self, n: usize, answer: &[u8]) -> bool {
        let Some(successor) = refresh_token(answer) else {
            return false;
        };
        *self.next[n].lock().unwrap_or_else(PoisonError::into_inner) = successor;
        true
    }
}

/// A public application with refresh tokens, registered on `server` with
/// the client `seeded` holds, and the load that refreshes its tokens over
/// a chain for each connection of the most a row runs at.
pub(crate) async fn seed(server: &Server, seeded: &Seeded) -> Result<Load> {
    let client_id = register(server.addr, seeded).await?;
    let request = Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", SCOPE)
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let chains = CONNECTIONS.into_iter().max().unwrap_or_default();
    let mut next = Vec::with_capacity(chains);
    for _ in 0..chains {
        let code = approve(server.addr, seeded, &request).await?;
        next.push(Mutex::new(exchange(server.addr, &client_id, &code).await?));
    }
    Ok(
        Load::post_chains("/oauth2/token", Chains { client_id, next })
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded"),
    )
}

/// Registers the application through the management API; its client ID.
async fn register(addr: SocketAddr, seeded: &Seeded) -> Result<String> {
    let application = json!({
        "name": "Agent CLI",
        "description": "Keeps its user signed in between runs",
        "permissions": ["clients:read"],
        "callback_url": CALLBACK,
        "public": true,
        "refresh_tokens": true,
    });
    let create = Load::post("/api/v1/clients", application.to_string())
        .header(
            header::AUTHORIZATION,
            &format!("Bearer {}", seeded.access_token),
        )
        .header(header::CONTENT_TYPE, "application/json");
    let (status, _, body) = fetch(addr, &create).await?;
    if status != StatusCode::CREATED {
        return Err(format!(
            "registering the public application: {status} {}",
            String::from_utf8_lossy(&body)
        ));
    }
    let created: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    created["client_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "the registered application has no client ID".into())
}

/// The administrator approves `request` (the query of `/oauth2/authorize`)
/// as the consent page's plain form posts it; the code at the callback.
async fn approve(addr: SocketAddr, seeded: &Seeded, request: &str) -> Result<String> {
    let origin = format!("http://{addr}");
    let decide = Load::post(
        "/rpc/authorize/decide",
        Serializer::new(String::new())
            .append_pair("request", request)
            .append_pair("decision", "approve")
            .finish(),
    )
    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
    .header(header::ACCEPT, "text/html")
    .header(header::ORIGIN, &origin)
    .header(
        header::REFERER,
        &format!("{origin}/oauth2/authorize?{request}"),
    )
    .header(header::COOKIE, &seeded.cookie);
    let (status, headers, body) = fetch(addr, &decide).await?;
    let callback = headers
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| Url::parse(l).ok())
        .filter(|l| l.as_str().starts_with(CALLBACK))
        .ok_or_else(|| {
            format!(
                "approving the public application: {status} {}",
                String::from_utf8_lossy(&body)
            )
        })?;
    callback
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, code)| code.into_owned())
        .ok_or_else(|| format!("no code at the callback: {callback}"))
}

/// Exchanges `code` as the public client (no secret, the PKCE verifier);
/// the refresh token that starts a chain.
async fn exchange(addr: SocketAddr, client_id: &str, code: &str) -> Result<String> {
    let form = Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("client_id", client_id)
        .append_pair("code", code)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("code_verifier", VERIFIER)
        .finish();
    let token = Load::post("/oauth2/token", form)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    let (status, _, body) = fetch(addr, &token).await?;
    refresh_token(&body).ok_or_else(|| {
        format!(
            "exchanging the code for a refresh token: {status} {}",
            String::from_utf8_lossy(&body)
        )
    })
}

/// The `refresh_token` of a token endpoint's answer.
fn refresh_token(answer: &[u8]) -> Option<String> {
    let answer: Value = serde_json::from_slice(answer).ok()?;
    answer["refresh_token"].as_str().map(str::to_owned)
}
