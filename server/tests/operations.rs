//! Admin operations end to end: rotation with a grace period (the clock
//! passed in), usage per secret, removal with restore and the 30-day purge,
//! the audit log's filters, pages and CSV, users with password links and
//! disabling, and the token inspector.

mod common;

use app::domain::accounts::Role;
use app::domain::audit::{self, Action, Actor};
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::authorize::access;
use common::{Browser, TestApp, PASSWORD};
use serde_json::Value;

#[path = "operations/audit_log.rs"]
mod audit_log;
#[path = "operations/removal.rs"]
mod removal;
#[path = "operations/secrets.rs"]
mod secrets;
#[path = "operations/users.rs"]
mod users;
use audit_log::*;
use removal::*;
use secrets::*;
use users::*;

on_both_engines!(
    a_rotated_secret_works_until_its_grace_period_ends,
    the_old_secret_can_be_retired_early_and_rotation_is_checked,
    usage_is_counted_per_secret_and_per_day,
    removed_applications_are_refused_restored_and_purged_after_30_days,
    restore_needs_room_and_a_free_name,
    audit_filters_and_pages_agree_with_the_whole_log,
    audit_export_and_api_use_the_same_filters,
    admins_create_users_who_set_a_password_through_a_link,
    disabling_a_user_ends_their_sessions_at_once,
    domain_admins_manage_only_their_domain,
    the_token_inspector_gives_a_plain_verdict,
    a_posted_inspection_keeps_the_verdict_never_the_token,
);

const DAY: i64 = 86_400;

/// A refusal: its status, and the message that tells the user why.
fn assert_refused(response: &common::Response, status: StatusCode, message: &str) {
    assert_eq!(response.status, status, "{}", response.text);
    assert!(
        response.text.contains(message),
        "{message}: {}",
        response.text
    );
}

async fn token(app: &TestApp, id: &str, secret: &str) -> common::Response {
    app.token_request(Some((id, secret)), "grant_type=client_credentials")
        .await
}

async fn access_token(app: &TestApp, id: &str, secret: &str) -> String {
    let response = token(app, id, secret).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    response.json()["access_token"].as_str().unwrap().to_owned()
}

async fn bearer_post(app: &TestApp, path: &str, token: &str, body: &str) -> common::Response {
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    app.call(request).await
}

async fn application_id(app: &TestApp, client_id: &str) -> String {
    app.keyport
        .application_id_for_client(client_id)
        .await
        .unwrap()
        .expect("an application in use")
}

async fn actions(app: &TestApp, action: Action) -> Vec<audit::Record> {
    let filter = audit::Filter {
        action: Some(action),
        ..Default::default()
    };
    audit::search(&app.keyport.db, &filter, 100).await.unwrap()
}

async fn the_token_inspector_gives_a_plain_verdict(app: &TestApp) {
    let (mut browser, owner) = app.signed_in("admin@example.com", Role::Member).await;
    let (client_id, secret) = app.client(&owner, "Inspected", &["clients:read"]).await;
    let token = access_token(app, &client_id, &secret).await;
    let inspect = |verdict: &Value| verdict["verdict"].as_str().unwrap().to_owned();

    let valid = browser
        .rpc("tools/inspect", &[("token", &format!("Bearer {token}"))])
        .await;
    assert_eq!(valid.status, StatusCode::OK, "{}", valid.text);
    let valid = valid.json();
    assert_eq!(valid["valid"], true);
    assert!(inspect(&valid).starts_with("Valid until "), "{valid}");
    assert!(valid["claims"].as_str().unwrap().contains(&client_id));
    assert!(valid["header"].as_str().unwrap().contains("at+jwt"));

    let (head, rest) = token.split_once('.').unwrap();
    let (claims, signature) = rest.split_once('.').unwrap();
    let mut forged = signature.to_owned();
    forged.replace_range(
        ..4,
        if signature.starts_with("AAAA") {
            "BBBB"
        } else {
            "AAAA"
        },
    );
    let cases = [
        (format!("{head}.{claims}.{forged}"), "Bad signature"),
        ("not a token".to_string(), "Not a token"),
        ("a.b.c".to_string(), "Not a token"),
        (String::new(), "Not a token"),
    ];
    for (pasted, expected) in cases {
        let verdict = browser
            .rpc("tools/inspect", &[("token", &pasted)])
            .await
            .json();
        assert_eq!(inspect(&verdict), expected, "{pasted}");
        assert_eq!(verdict["valid"], false);
    }
    // Another issuer's key and claims.
    use base64::Engine as _;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let unknown = format!(
        "{}.{}.{}",
        b64(&serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": "someone-else"})),
        claims,
        signature
    );
    let verdict = browser
        .rpc("tools/inspect", &[("token", &unknown)])
        .await
        .json();
    assert_eq!(inspect(&verdict), "Signed by an unknown key");

    // Revoked, then expired.
    let revoked = access_token(app, &client_id, &secret).await;
    let claims = app.keyport.verify_access_token(&revoked).await.unwrap();
    app.keyport.revoke(&claims).await.unwrap();
    let verdict = browser
        .rpc("tools/inspect", &[("token", &revoked)])
        .await
        .json();
    assert_eq!(inspect(&verdict), "Revoked");
    app.clock.advance(3600 + 5);
    let verdict = browser
        .rpc("tools/inspect", &[("token", &token)])
        .await
        .json();
    assert!(inspect(&verdict).starts_with("Expired at "), "{verdict}");
}

/// A plain form post keeps the verdict (never the token) for the page, once;
/// signed-out visitors get no verdict at all.
async fn a_posted_inspection_keeps_the_verdict_never_the_token(app: &TestApp) {
    let (mut browser, owner) = app.signed_in("admin@example.com", Role::Member).await;
    let (client_id, secret) = app.client(&owner, "Inspected", &["clients:read"]).await;
    let token = access_token(app, &client_id, &secret).await;
    let inspect = |verdict: &Value| verdict["verdict"].as_str().unwrap().to_owned();
    app.clock.advance(3600 + 5);

    let response = browser
        .form_post("tools/inspect", &[("token", &token)], "/tools/token")
        .await;
    assert!(response.status.is_redirection());
    let kept = browser.rpc("tools/inspection", &[]).await.json();
    assert!(inspect(&kept).starts_with("Expired at "));
    assert_eq!(
        browser.rpc("tools/inspection", &[]).await.json(),
        Value::Null
    );
    let sessions: Vec<Vec<u8>> = sqlx::query_scalar("SELECT data FROM sessions")
        .fetch_all(&app.keyport.db.pool)
        .await
        .unwrap();
    let signature_part = token.rsplit('.').next().unwrap();
    assert!(sessions
        .iter()
        .all(|d| !String::from_utf8_lossy(d).contains(signature_part)));
    // Signed-out visitors get nothing.
    assert_eq!(
        app.browser()
            .rpc("tools/inspect", &[("token", &token)])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}
