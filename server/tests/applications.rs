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

async fn registration_issues_credentials_revealed_only_on_request(app: &TestApp) {
    let (mut admin, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let id = admin.register("NAC gateway").await;

    let page = admin.rpc("applications/page", &[("id", &id)]).await.json();
    assert_eq!(page["app"]["name"], "NAC gateway");
    assert_eq!(
        page["app"]["permissions"],
        serde_json::json!(["clients:read"])
    );
    assert_eq!(
        page["credentials"],
        Value::Null,
        "nothing secret until asked"
    );
    assert_eq!(page["token_url"], "http://127.0.0.1:3000/oauth2/token");
    let client_id = page["app"]["client_id"].as_str().unwrap().to_owned();
    assert!(!page.to_string().contains("kps_"));

    let list = admin.rpc("applications/list", &[]).await;
    assert!(
        !list.text.contains("kps_"),
        "the list never carries a secret unless revealed"
    );
    let list = list.json();
    assert_eq!(list["count"], 1);
    assert_eq!(list["limit"], 63);
    assert_eq!(list["apps"][0]["client_id"], client_id.as_str());

    let revealed = admin.rpc("applications/reveal", &[("id", &id)]).await;
    assert_eq!(revealed.header("cache-control"), Some("no-store"));
    let revealed = revealed.json();
    let secret = revealed["client_secret"].as_str().unwrap();
    assert!(secret.starts_with("kps_") && secret.len() == 47, "{secret}");
    let combined = base64::engine::general_purpose::STANDARD
        .decode(revealed["oauth_credentials"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        String::from_utf8(combined).unwrap(),
        format!("{client_id}:{secret}")
    );

    // The no-JavaScript reveal posts, and returns to the list, which shows
    // the secret in that answer only: the rows the server keeps for the
    // next list never hold it.
    admin
        .form_post("applications/reveal", &[("id", &id)], "/applications")
        .await;
    let page = admin.get("/applications").await;
    assert!(page.text.contains(secret));
    let page = admin.get("/applications").await;
    assert!(page.text.contains(&client_id) && !page.text.contains("kps_"));
    // A change reaches the list at once, though the rows were kept.
    admin.register("Second gateway").await;
    let page = admin.get("/applications").await;
    assert!(page.text.contains("NAC gateway") && page.text.contains("Second gateway"));
    assert!(!page.text.contains("kps_"));
}

async fn secrets_are_stored_hashed_and_sealed_never_in_the_audit_log(app: &TestApp) {
    let (mut admin, _) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    let id = admin.register("Reporting").await;
    let secret = admin
        .rpc("applications/reveal", &[("id", &id)])
        .await
        .json()["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();

    let (hash, sealed): (String, Vec<u8>) =
        sqlx::query_as("SELECT secret_hash, secret_sealed FROM applications WHERE id = $1")
            .bind(&id)
            .fetch_one(&app.keyport.db.pool)
            .await
            .unwrap();
    assert!(hash.starts_with("hmac-sha256$"));
    assert_eq!(
        app.keyport.master_key.check_secret(
            &app::domain::secrets::ClientSecret::new(secret.clone()),
            &hash
        ),
        app::domain::secrets::SecretCheck::Matches
    );
    assert!(!String::from_utf8_lossy(&sealed).contains(&secret));

    let actions: Vec<(String, String, String)> =
        sqlx::query_as("SELECT action, actor, COALESCE(target, '') FROM audit_log ORDER BY id")
            .fetch_all(&app.keyport.db.pool)
            .await
            .unwrap();
    let names: Vec<&str> = actions.iter().map(|(a, _, _)| a.as_str()).collect();
    assert!(
        names.contains(&"application_registered") && names.contains(&"secret_revealed"),
        "{names:?}"
    );
    for row in &actions {
        assert!(
            !format!("{row:?}").contains(&secret[4..]),
            "secret in the audit log: {row:?}"
        );
    }
}

async fn each_invalid_field_is_named_and_nothing_is_stored(app: &TestApp) {
    let (mut admin, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
    let big = vec![0x89u8; 1024 * 1024];
    let long_name = "n".repeat(65);
    let long_description = "d".repeat(501);
    let cases: Vec<(Vec<Part>, &str, &str)> = vec![
        (
            vec![
                Part::Text("name", "   "),
                Part::Text("permissions", "clients:read"),
            ],
            "name",
            "Enter an application name",
        ),
        (
            vec![
                Part::Text("name", &long_name),
                Part::Text("permissions", "clients:read"),
            ],
            "name",
            "at most 64",
        ),
        (
            vec![
                Part::Text("name", "A"),
                Part::Text("permissions", "clients:read"),
                Part::Text("callback_url", "ftp://x"),
            ],
            "callback_url",
            "https://",
        ),
        (
            vec![
                Part::Text("name", "A"),
                Part::Text("permissions", "clients:read"),
                Part::Text("callback_url", "http://example.com/cb"),
            ],
            "callback_url",
            "loopback",
        ),
        (
            vec![
                Part::Text("name", "A"),
                Part::Text("permissions", "clients:read"),
                Part::Text("callback_url", "https://x/#frag"),
            ],
            "callback_url",
            "fragment",
        ),
        (
            vec![
                Part::Text("name", "A"),
                Part::Text("permissions", "clients:read"),
                Part::Text("website_url", "not a url"),
            ],
            "website_url",
            "",
        ),
        (vec![Part::Text("name", "A")], "permissions", "at least one"),
        (
            vec![
                Part::Text("name", "A"),
                Part::Text("permissions", "root:all"),
            ],
            "permissions",
            "from the list",
        ),
        (
            vec![
                Part::Text("name", "A"),
                Part::Text("permissions", "clients:read"),
                Part::File("icon", "x.svg", svg),
            ],
            "icon",
            "SVG",
        ),
        (
            vec![
                Part::Text("name", "A"),
                Part::Text("permissions", "clients:read"),
                Part::File("icon", "big.png", &big),
            ],
            "icon",
            "256 KiB",
        ),
        (
            vec![
                Part::Text("name", "A"),
                Part::Text("permissions", "clients:read"),
                Part::Text("description", &long_description),
            ],
            "description",
            "500",
        ),
    ];
    for (parts, field, words) in cases {
        let response = admin.rpc_multipart("applications/create", &parts).await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{field}: {}",
            response.text
        );
        let fields = response.json()["Invalid"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let problem = fields
            .iter()
            .find(|f| f["field"] == field)
            .unwrap_or_else(|| panic!("{field} not named: {}", response.text));
        assert!(
            problem["message"].as_str().unwrap().contains(words),
            "{problem}"
        );
    }
    assert_eq!(
        app.keyport
            .count_applications(&app.keyport.tenancy.default_domain_id)
            .await
            .unwrap(),
        0
    );
}

async fn names_are_unique_per_domain_ignoring_case(app: &TestApp) {
    let (mut admin, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    admin.register("VPN Gateway").await;
    let response = admin
        .rpc_multipart(
            "applications/create",
            &[
                Part::Text("name", "vpn gateway"),
                Part::Text("permissions", "clients:read"),
            ],
        )
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(
        response.text.contains("already exists"),
        "{}",
        response.text
    );
    assert_eq!(
        app.keyport
            .count_applications(&app.keyport.tenancy.default_domain_id)
            .await
            .unwrap(),
        1
    );
}

async fn the_domain_limit_holds_under_concurrent_registrations(app: &TestApp) {
    let (admin, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    sqlx::query("UPDATE domains SET app_limit = 4")
        .execute(&app.keyport.db.pool)
        .await
        .unwrap();
    let cookie = admin.cookie.clone();
    let attempts = (0..10).map(|i| {
        let mut browser = app.browser();
        browser.cookie = cookie.clone();
        async move {
            let name = format!("App {i}");
            browser
                .rpc_multipart(
                    "applications/create",
                    &[
                        Part::Text("name", &name),
                        Part::Text("permissions", "clients:read"),
                    ],
                )
                .await
        }
    });
    let responses = futures::future::join_all(attempts).await;
    let created = responses
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let refused: Vec<_> = responses
        .iter()
        .filter(|r| r.status != StatusCode::OK)
        .collect();
    assert_eq!(created, 4);
    for r in refused {
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert!(
            r.text.contains("already holds 4 of its 4 applications"),
            "{}",
            r.text
        );
    }
    assert_eq!(
        app.keyport
            .count_applications(&app.keyport.tenancy.default_domain_id)
            .await
            .unwrap(),
        4
    );
    let orphans: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM application_permissions WHERE application_id NOT IN (SELECT id FROM applications)",
    )
    .fetch_one(&app.keyport.db.pool)
    .await
    .unwrap();
    assert_eq!(orphans, 0);
}

async fn members_see_only_their_own_applications(app: &TestApp) {
    let (mut alice, _) = app.signed_in("alice@example.com", Role::Member).await;
    let (mut bob, _) = app.signed_in("bob@example.com", Role::Member).await;
    let alices = alice.register("Alice's script").await;
    bob.register("Bob's script").await;

    let list = bob.rpc("applications/list", &[]).await.json();
    let names: Vec<&str> = list["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Bob's script"]);
    assert_eq!(list["count"], 2, "the domain's count, for the limit");

    for (call, form) in [
        ("applications/page", vec![("id", alices.as_str())]),
        ("applications/reveal", vec![("id", alices.as_str())]),
        ("applications/remove", vec![("ids[0]", alices.as_str())]),
        ("applications/named", vec![("ids[0]", alices.as_str())]),
    ] {
        let response = bob.rpc(call, &form).await;
        assert_eq!(
            response.status,
            StatusCode::NOT_FOUND,
            "{call}: {}",
            response.text
        );
        assert!(
            !response.text.contains("Alice"),
            "{call} leaked: {}",
            response.text
        );
    }
    let reveal = bob
        .form_post("applications/reveal", &[("id", &alices)], "/applications")
        .await;
    assert!(!reveal.text.contains("kps_"));
    let list = bob.rpc("applications/list", &[]).await.json();
    assert_eq!(list["revealed"], Value::Null);
    let update = bob
        .rpc_multipart(
            "applications/update",
            &[
                Part::Text("id", &alices),
                Part::Text("name", "Taken over"),
                Part::Text("permissions", "clients:read"),
            ],
        )
        .await;
    assert_eq!(update.status, StatusCode::NOT_FOUND);

    let page = bob.get(&format!("/applications/{alices}")).await;
    assert!(!page.text.contains("Alice&#x27;s script") && !page.text.contains("Alice's script"));
    assert!(page.text.contains("Page not found"));
    // Still there for Alice.
    assert_eq!(
        alice
            .rpc("applications/page", &[("id", &alices)])
            .await
            .status,
        StatusCode::OK
    );
}

async fn admins_see_their_domain(app: &TestApp) {
    let (mut member, _) = app.signed_in("member@example.com", Role::Member).await;
    let id = member.register("Member's app").await;
    for (email, role) in [
        ("dom@example.com", Role::DomainAdmin),
        ("root@example.com", Role::SuperAdmin),
    ] {
        let (mut admin, _) = app.signed_in(email, role).await;
        let list = admin.rpc("applications/list", &[]).await.json();
        assert_eq!(list["apps"][0]["owner"], "member@example.com");
        assert_eq!(
            admin
                .rpc("applications/reveal", &[("id", &id)])
                .await
                .status,
            StatusCode::OK
        );
        let has_switcher = !list["domains"].as_array().unwrap().is_empty();
        assert_eq!(has_switcher, role == Role::SuperAdmin);
    }
    // A domain admin of another domain sees nothing of it.
    let other: String = uuid_text();
    sqlx::query("INSERT INTO domains (id, customer_id, name, app_limit, created_at) VALUES ($1, $2, 'other', 63, 0)")
        .bind(&other)
        .bind(&app.keyport.tenancy.customer_id)
        .execute(&app.keyport.db.pool)
        .await
        .unwrap();
    let outsider = app.user("outsider@example.com", Role::DomainAdmin).await;
    sqlx::query("UPDATE users SET domain_id = $1 WHERE id = $2")
        .bind(&other)
        .bind(&outsider.id)
        .execute(&app.keyport.db.pool)
        .await
        .unwrap();
    let mut browser = app.browser();
    browser
        .sign_in("outsider@example.com", common::PASSWORD)
        .await;
    assert_eq!(
        browser
            .rpc("applications/reveal", &[("id", &id)])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let list = browser
        .rpc(
            "applications/list",
            &[("domain", &app.keyport.tenancy.default_domain_id)],
        )
        .await
        .json();
    assert_eq!(
        list["domain"]["name"], "other",
        "only a super admin switches domains"
    );
    assert_eq!(list["apps"], serde_json::json!([]));
}

fn uuid_text() -> String {
    format!("00000000-0000-4000-8000-{:012x}", rand_u48())
}

fn rand_u48() -> u64 {
    let bytes = app::domain::secrets::random_token(6);
    bytes.bytes().fold(0u64, |acc, b| (acc << 5) ^ u64::from(b)) & 0xFFFF_FFFF_FFFF
}

async fn signed_out_callers_get_nothing(app: &TestApp) {
    let (mut admin, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let id = admin.register("Secretive").await;
    let mut stranger = app.browser();
    for (call, form) in [
        ("applications/list", vec![]),
        ("applications/page", vec![("id", id.as_str())]),
        ("applications/reveal", vec![("id", id.as_str())]),
        ("applications/remove", vec![("ids[0]", id.as_str())]),
        ("applications/options", vec![]),
    ] {
        let response = stranger.rpc(call, &form).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{call}");
    }
    let create = stranger
        .rpc_multipart(
            "applications/create",
            &[
                Part::Text("name", "x"),
                Part::Text("permissions", "clients:read"),
            ],
        )
        .await;
    assert_eq!(create.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.keyport
            .count_applications(&app.keyport.tenancy.default_domain_id)
            .await
            .unwrap(),
        1
    );
}

async fn removal_takes_every_ticked_application_or_none(app: &TestApp) {
    let (mut alice, _) = app.signed_in("alice@example.com", Role::Member).await;
    let (mut bob, _) = app.signed_in("bob@example.com", Role::Member).await;
    let a1 = alice.register("One").await;
    let a2 = alice.register("Two").await;
    let a3 = alice.register("Three").await;
    let b1 = bob.register("Bob's").await;

    // One id Alice may not see fails the whole removal.
    let response = alice
        .rpc("applications/remove", &[("ids[0]", &a1), ("ids[1]", &b1)])
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.keyport
            .count_applications(&app.keyport.tenancy.default_domain_id)
            .await
            .unwrap(),
        4
    );

    let response = alice
        .rpc("applications/remove", &[("ids[0]", &a1), ("ids[1]", &a2)])
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.json(), 2);
    assert_eq!(response.header("location"), Some("/applications?removed=2"));
    // The removed ones wait under Recently removed; the rest are untouched.
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM applications WHERE removed_at IS NULL ORDER BY name")
            .fetch_all(&app.keyport.db.pool)
            .await
            .unwrap();
    assert_eq!(names, ["Bob's", "Three"]);
    let removed: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM applications WHERE removed_at IS NOT NULL ORDER BY name",
    )
    .fetch_all(&app.keyport.db.pool)
    .await
    .unwrap();
    assert_eq!(removed, ["One", "Two"]);
    let _ = a3;

    let empty = alice.rpc("applications/remove", &[]).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    let removed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'application_removed'")
            .fetch_one(&app.keyport.db.pool)
            .await
            .unwrap();
    assert_eq!(removed, 2);

    // Without JavaScript the confirmation page names what goes.
    let page = alice.get(&format!("/applications/remove?ids={a3}")).await;
    assert!(
        page.text.contains("Remove 1 application?") && page.text.contains("Three"),
        "{}",
        page.text
    );
}

async fn icons_are_served_with_their_type(app: &TestApp) {
    let (mut admin, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let id = admin.register("With icon").await;
    let page = admin.rpc("applications/page", &[("id", &id)]).await.json();
    let url = page["app"]["icon_url"].as_str().unwrap().to_owned();
    let icon = admin.get(&url).await;
    assert_eq!(icon.status, StatusCode::OK);
    assert_eq!(icon.header("content-type"), Some("image/png"));
    assert_eq!(icon.header("x-content-type-options"), Some("nosniff"));
    assert!(icon.header("cache-control").unwrap().contains("max-age"));
    assert_eq!(icon.bytes, PNG);
    assert_eq!(
        app.browser().get(&url).await.status,
        StatusCode::NOT_FOUND,
        "signed-out visitors get nothing"
    );
}

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
            "reports:read"
        ]
    );
    assert_eq!(list[3]["description"], "Read every report");
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
    assert_eq!(response.status, StatusCode::FOUND);
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
