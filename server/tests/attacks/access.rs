//! Who may do what: a domain admin borrowing a super admin's reach, roles
//! that change under a session, strangers' refused posts, and the moves
//! that reach into another domain.

use super::*;

/// A domain admin runs their domain, never the customer: a super admin's
/// application in their domain is not theirs to reveal, edit or take, no
/// application of theirs gets a permission above their role, and a token
/// holds only what its user's role allows now.
pub(crate) async fn domain_admins_cannot_borrow_a_super_admins_reach(app: &TestApp) {
    let boss = app.user("boss@example.com", Role::SuperAdmin).await;
    let (mut admin, admin_user) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    let (id, secret) = app
        .client(
            &boss,
            "Automation",
            &["clients:read", "domains:read", "domains:write"],
        )
        .await;
    let app_id = app.application_id(&id).await;

    let listed = admin.rpc("applications/list", &[]).await.json();
    assert!(
        !listed["apps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "Automation"),
        "{listed}"
    );
    for (name, form) in [
        ("applications/reveal", vec![("id", app_id.as_str())]),
        ("applications/page", vec![("id", app_id.as_str())]),
        (
            "applications/rotate",
            vec![("id", app_id.as_str()), ("grace_seconds", "0")],
        ),
        (
            "applications/transfer",
            vec![("id", app_id.as_str()), ("owner", admin_user.id.as_str())],
        ),
    ] {
        let refused = admin.rpc(name, &form).await;
        assert_eq!(
            refused.status,
            StatusCode::NOT_FOUND,
            "{name}: {}",
            refused.text
        );
    }

    // Their own application cannot be given the super admins' reach.
    let domain = app::domain::tenancy::find_domain(&app.keyport.db, &admin_user.domain_id)
        .await
        .unwrap()
        .unwrap();
    let input = ApplicationInput {
        name: "Borrowed".into(),
        permissions: vec!["domains:write".into()],
        ..Default::default()
    };
    let refused = app
        .keyport
        .register_application(&access(&admin_user), &domain, input)
        .await;
    assert!(
        matches!(refused, Err(app::domain::Error::Invalid(_))),
        "{refused:?}"
    );
    // Nor handed to a super admin, who would then outrank them in it.
    let (own, _) = app.client(&admin_user, "Mine", &["clients:read"]).await;
    let own_id = app.application_id(&own).await;
    let handed = admin
        .rpc(
            "applications/transfer",
            &[("id", &own_id), ("owner", &boss.id)],
        )
        .await;
    assert_eq!(handed.status, StatusCode::BAD_REQUEST, "{}", handed.text);

    // The super admin's own token works; once they are a domain admin, a
    // token holds nothing of domains:*, whenever it was minted.
    let before = token_from(app, "198.51.100.20", &[], &id, &secret)
        .await
        .json();
    let token = before["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.bearer_get("/api/v1/domains", Some(&token)).await.status,
        StatusCode::OK
    );
    let root = app.user("root@example.com", Role::SuperAdmin).await;
    app.keyport
        .change_role(&access(&root), &boss.id, Role::DomainAdmin)
        .await
        .unwrap();
    let refused = app.bearer_get("/api/v1/domains", Some(&token)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    let after = token_from(app, "198.51.100.20", &[], &id, &secret).await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text);
    let scope = after.json()["scope"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!scope.contains("domains:"), "{scope}");
}

/// What a session was signed in to do ends when the user's role changes.
pub(crate) async fn a_changed_role_ends_the_users_sessions(app: &TestApp) {
    let root = app.user("root@example.com", Role::SuperAdmin).await;
    let (mut admin, admin_user) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    assert_eq!(admin.rpc("users/page", &[]).await.status, StatusCode::OK);
    app.keyport
        .change_role(&access(&root), &admin_user.id, Role::Member)
        .await
        .unwrap();
    assert_eq!(
        admin.rpc("viewer", &[]).await.json(),
        serde_json::Value::Null
    );
    assert_eq!(
        admin.rpc("users/page", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// A refused sign-in from a browser without a session stores nothing:
/// strangers' posts cannot fill the session table. The browser still
/// sees why, from a sealed cookie of its own.
pub(crate) async fn refused_anonymous_form_posts_store_nothing(app: &TestApp) {
    app.user("user@example.com", Role::Member).await;
    let sessions = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sessions")
            .fetch_one(&app.keyport.db.pool)
            .await
            .unwrap()
    };
    let before = sessions().await;
    let posts = (0..200).map(|i| async move {
        let mut stranger = app.browser();
        stranger.address = address(&format!("203.0.113.{}", i % 250 + 1));
        stranger
            .form_post(
                "sign_in",
                &[
                    ("email", "user@example.com"),
                    ("password", "wrong password!"),
                ],
                "/login",
            )
            .await
            .status
    });
    for status in join_all(posts).await {
        assert!(status.is_redirection(), "{status}");
    }
    assert_eq!(sessions().await, before, "no row for a refused stranger");

    // The one who typed it is told why on the page they return to.
    let mut browser = app.browser();
    let refused = browser
        .form_post(
            "sign_in",
            &[
                ("email", "user@example.com"),
                ("password", "wrong password!"),
            ],
            "/login",
        )
        .await;
    assert!(refused.status.is_redirection());
    let flash = browser.rpc("flash", &[("form", "sign_in")]).await.json();
    assert_eq!(flash["values"][0][1], "user@example.com", "{flash}");
    assert_eq!(sessions().await, before);
    let again = browser.rpc("flash", &[("form", "sign_in")]).await.json();
    assert_eq!(again, serde_json::Value::Null, "a flash shows once");
}

/// Open registration is on in one domain at a time. A domain admin cannot
/// take it from another domain; a super admin moves it only when they
/// confirm, after step-up, and both domains' logs say so.
pub(crate) async fn open_registration_moves_between_domains_only_when_confirmed(app: &TestApp) {
    sqlx::query("INSERT INTO domains (id, customer_id, name, created_at) VALUES ($1, $2, $3, 0)")
        .bind("agents")
        .bind(&app.keyport.tenancy.customer_id)
        .bind("Agents")
        .execute(&app.keyport.db.pool)
        .await
        .unwrap();
    let (mut root, _) = app.signed_in("root@example.com", Role::SuperAdmin).await;
    let (mut admin, _) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    let on = root
        .rpc("registration/open", &[("domain", "agents"), ("on", "true")])
        .await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.text);

    let taken = admin.rpc("registration/open", &[("on", "true")]).await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST, "{}", taken.text);
    let default = app.keyport.tenancy.default_domain_id.to_string();
    let unconfirmed = root
        .rpc("registration/open", &[("domain", &default), ("on", "true")])
        .await;
    assert_eq!(
        unconfirmed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        unconfirmed.text
    );
    assert!(unconfirmed.text.contains("Agents"), "{}", unconfirmed.text);

    app.clock.advance(app.keyport.step_up_ttl + 1);
    let stale = root
        .rpc(
            "registration/open",
            &[("domain", &default), ("on", "true"), ("move_here", "true")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN, "{}", stale.text);
    assert_eq!(stale.json(), serde_json::json!("StepUpRequired"));
    root.sign_in("root@example.com", PASSWORD).await;
    let moved = root
        .rpc(
            "registration/open",
            &[("domain", &default), ("on", "true"), ("move_here", "true")],
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    let entries: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT domain_id, detail FROM audit_log WHERE action = 'open_registration_changed' ORDER BY id",
    )
    .fetch_all(&app.keyport.db.pool)
    .await
    .unwrap();
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert_eq!(entries[1].0.as_deref(), Some("agents"));
    assert!(entries[1]
        .1
        .as_deref()
        .unwrap()
        .starts_with("off: moved to"));
    assert_eq!(entries[2].0.as_deref(), Some(default.as_str()));
}

/// Transfers, API registration and new permissions ask for a fresh check
/// as reveals do.
pub(crate) async fn grants_and_transfers_ask_for_step_up(app: &TestApp) {
    let (mut root, root_user) = app.signed_in("root@example.com", Role::SuperAdmin).await;
    let member = app.user("member@example.com", Role::Member).await;
    let (own, _) = app.client(&root_user, "Mine", &["clients:read"]).await;
    let own_id = app.application_id(&own).await;
    app.clock.advance(app.keyport.step_up_ttl + 1);
    for (name, form) in [
        (
            "applications/transfer",
            vec![("id", own_id.as_str()), ("owner", member.id.as_str())],
        ),
        (
            "permissions/add",
            vec![
                ("scope", "reports:export"),
                ("description", "Export reports"),
            ],
        ),
        (
            "apis/create",
            vec![
                ("name", "Reports"),
                ("identifier", "https://reports.example"),
                ("permissions", "reports:read Read reports"),
            ],
        ),
    ] {
        let refused = root.rpc(name, &form).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{name}: {}",
            refused.text
        );
        assert_eq!(
            refused.json(),
            serde_json::json!("StepUpRequired"),
            "{name}"
        );
    }
}
