//! The applications portal's server functions: registration and its
//! rules, credentials and their storage, reveal, removal, the per-domain
//! limit, and who may see what.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use app::domain::accounts::Role;
use axum::http::StatusCode;
use base64::Engine as _;
use common::{Part, TestApp, PNG};
use serde_json::Value;

#[path = "applications/registration.rs"]
mod registration;
#[path = "applications/visibility.rs"]
mod visibility;
use registration::*;
use visibility::*;

on_both_engines!(
    registration_issues_credentials_revealed_only_on_request,
    secrets_are_stored_hashed_and_sealed_never_in_the_audit_log,
    each_invalid_field_is_named_and_nothing_is_stored,
    names_are_unique_per_domain_ignoring_case,
    the_domain_limit_holds_under_concurrent_registrations,
    members_see_only_their_own_applications,
    admins_see_their_domain,
    signed_out_callers_get_nothing,
    removal_takes_every_ticked_application_or_none,
    icons_are_served_with_their_type,
    settings_can_be_edited_and_are_audited,
    only_super_admins_manage_the_permission_catalog,
    refused_plain_posts_return_to_the_form_with_values,
    pages_render_while_another_router_is_built,
);

async fn settings_can_be_edited_and_are_audited(app: &TestApp) {
    let (mut admin, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let id = admin.register("Old name").await;
    let response = admin
        .rpc_multipart(
            "applications/update",
            &[
                Part::Text("id", &id),
                Part::Text("name", "New name"),
                Part::Text("description", "Edited"),
                Part::Text("permissions", "clients:read"),
                Part::Text("permissions", "audit:read"),
                Part::Text("website_url", ""),
                Part::Text("callback_url", "https://vpn.example.com/cb"),
            ],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let page = admin.rpc("applications/page", &[("id", &id)]).await.json();
    assert_eq!(page["app"]["name"], "New name");
    assert_eq!(
        page["app"]["permissions"],
        serde_json::json!(["audit:read", "clients:read"])
    );
    assert!(
        page["app"]["icon_url"].is_string(),
        "the icon stays without a new upload"
    );
    let edited: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'application_edited'")
            .fetch_one(&app.keyport.db.pool)
            .await
            .unwrap();
    assert_eq!(edited, 1);
    let bad = admin
        .rpc_multipart(
            "applications/update",
            &[
                Part::Text("id", &id),
                Part::Text("name", ""),
                Part::Text("permissions", "clients:read"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let page = admin.rpc("applications/page", &[("id", &id)]).await.json();
    assert_eq!(
        page["app"]["name"], "New name",
        "a refused edit changes nothing"
    );
}

async fn only_super_admins_manage_the_permission_catalog(app: &TestApp) {
    let (mut member, _) = app.signed_in("dom@example.com", Role::DomainAdmin).await;
    assert_eq!(
        member
            .rpc(
                "permissions/add",
                &[("scope", "reports:read"), ("description", "Read reports")]
            )
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        member.rpc("permissions/list", &[]).await.status,
        StatusCode::FORBIDDEN
    );

    let (mut root, _) = app.signed_in("root@example.com", Role::SuperAdmin).await;
    assert_eq!(
        root.rpc(
            "permissions/add",
            &[("scope", "reports:read"), ("description", "Read reports")]
        )
        .await
        .status,
        StatusCode::OK
    );
    let bad = root
        .rpc(
            "permissions/add",
            &[("scope", "Bad Scope"), ("description", "")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text.contains("scope") && bad.text.contains("description"));
    let dup = root
        .rpc(
            "permissions/add",
            &[("scope", "reports:read"), ("description", "Again")],
        )
        .await;
    assert!(dup.text.contains("already exists"));
    assert_eq!(
        root.rpc(
            "permissions/describe",
            &[
                ("scope", "reports:read"),
                ("description", "Read every report")
            ]
        )
        .await
        .status,
        StatusCode::OK
    );
    let list = root.rpc("permissions/list", &[]).await.json();
    let scopes: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["scope"].as_str().unwrap())
        .collect();
    assert_eq!(
        scopes,
        [
            "audit:read",
            "clients:read",
            "clients:write",
            "domains:read",
            "domains:write",
            "reports:read"
        ]
    );
    assert_eq!(list[5]["description"], "Read every report");
}

/// Without JavaScript a refused registration comes back to the form with
/// each message beside its field and the values typed.
async fn refused_plain_posts_return_to_the_form_with_values(app: &TestApp) {
    let (mut admin, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let (content_type, body) = common::multipart(&[
        Part::Text("domain", ""),
        Part::Text("name", "Typed <name>"),
        Part::Text("description", "Kept"),
        Part::Text("permissions", "audit:read"),
        Part::Text("callback_url", "http://example.com/cb"),
    ]);
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/rpc/applications/create")
        .header("content-type", content_type)
        .header("accept", "text/html")
        .header("origin", common::ORIGIN)
        .header("referer", format!("{}/applications/new", common::ORIGIN))
        .body(axum::body::Body::from(body))
        .unwrap();
    let response = admin.send(request).await;
    assert_eq!(response.status, StatusCode::SEE_OTHER);
    assert_eq!(
        response.header("location"),
        Some(format!("{}/applications/new", common::ORIGIN).as_str())
    );
    let page = admin.get("/applications/new").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("loopback host"), "{}", page.text);
    assert!(
        page.text.contains("value=\"Typed &lt;name&gt;\""),
        "typed value kept and escaped"
    );
    assert!(page.text.contains(">Kept</textarea>"));
    assert!(page.text.contains("value=\"audit:read\" checked"));
}

/// Building a router lists its pages by running the app with resource
/// loading switched off for the whole process; pages another router in the
/// same process renders meanwhile (several nodes, or tests, side by side)
/// still finish.
async fn pages_render_while_another_router_is_built(app: &TestApp) {
    let (mut admin, _) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    admin.register("Gateway").await;
    let stop = Arc::new(AtomicBool::new(false));
    let builder = std::thread::spawn({
        let (state, stop) = (app.state.clone(), stop.clone());
        move || {
            let mut built = 0;
            while !stop.load(Ordering::Relaxed) {
                drop(keyport::router(state.clone()));
                built += 1;
            }
            built
        }
    });
    for _ in 0..40 {
        let page = tokio::time::timeout(Duration::from_secs(20), admin.get("/applications"))
            .await
            .expect("the list renders while another router is built");
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert!(page.text.contains("Gateway"), "{}", page.text);
    }
    stop.store(true, Ordering::Relaxed);
    assert!(builder.join().unwrap() > 0, "no router was built meanwhile");
}
