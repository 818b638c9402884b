//! Who sees what, removal with checkboxes, icons.

use super::*;

pub(crate) async fn members_see_only_their_own_applications(app: &TestApp) {
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

pub(crate) async fn admins_see_their_domain(app: &TestApp) {
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

pub(crate) fn uuid_text() -> String {
    format!("00000000-0000-4000-8000-{:012x}", rand_u48())
}

pub(crate) fn rand_u48() -> u64 {
    let bytes = app::domain::secrets::random_token(6);
    bytes.bytes().fold(0u64, |acc, b| (acc << 5) ^ u64::from(b)) & 0xFFFF_FFFF_FFFF
}

pub(crate) async fn signed_out_callers_get_nothing(app: &TestApp) {
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

pub(crate) async fn removal_takes_every_ticked_application_or_none(app: &TestApp) {
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

pub(crate) async fn icons_are_served_with_their_type(app: &TestApp) {
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
