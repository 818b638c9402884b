//! Users who leave: disabled owners, transfers, password links, API tokens.

use super::*;

/// Resource servers verify offline: a disabled owner's client must get no
/// new token to show them.
pub(crate) async fn disabled_owners_clients_get_invalid_client(app: &TestApp) {
    let admin = app.user("admin@example.com", Role::SuperAdmin).await;
    let leaver = app.user("leaver@example.com", Role::Member).await;
    let (id, secret) = app.client(&leaver, "Script", &["clients:read"]).await;
    assert_eq!(
        token_from(app, "198.51.100.20", &[], &id, &secret)
            .await
            .status,
        StatusCode::OK
    );
    app.keyport
        .set_disabled(&access(&admin), &leaver.id, true)
        .await
        .unwrap();
    let refused = token_from(app, "198.51.100.20", &[], &id, &secret).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.json()["error"], "invalid_client");
    app.keyport
        .set_disabled(&access(&admin), &leaver.id, false)
        .await
        .unwrap();
    assert_eq!(
        token_from(app, "198.51.100.20", &[], &id, &secret)
            .await
            .status,
        StatusCode::OK
    );
}

/// An offboarded user's integration moves to someone else and keeps its
/// client ID and secret.
pub(crate) async fn admins_transfer_ownership_without_a_new_secret(app: &TestApp) {
    let (mut admin, admin_user) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    let leaver = app.user("leaver@example.com", Role::Member).await;
    let (mut heir, heir_user) = app.signed_in("heir@example.com", Role::Member).await;
    let (id, secret) = app.client(&leaver, "Script", &["clients:read"]).await;
    let app_id = app.application_id(&id).await;

    let page = admin
        .rpc("applications/page", &[("id", &app_id)])
        .await
        .json();
    let owners: Vec<&str> = page["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o[1].as_str().unwrap())
        .collect();
    assert!(owners.contains(&"heir@example.com"), "{owners:?}");
    let refused = heir
        .rpc(
            "applications/transfer",
            &[("id", &app_id), ("owner", &heir_user.id)],
        )
        .await;
    assert!(
        matches!(
            refused.status,
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
        ),
        "a member cannot take an application: {}",
        refused.status
    );
    let moved = admin
        .rpc(
            "applications/transfer",
            &[("id", &app_id), ("owner", &heir_user.id)],
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    app.keyport
        .set_disabled(&access(&admin_user), &leaver.id, true)
        .await
        .unwrap();
    assert_eq!(
        token_from(app, "198.51.100.20", &[], &id, &secret)
            .await
            .status,
        StatusCode::OK,
        "the same secret works for the new owner"
    );
    let listed = heir.rpc("applications/list", &[]).await.json();
    assert_eq!(listed["apps"][0]["owner"], "heir@example.com");
    let entries = audit_actions(app, "application_transferred").await;
    assert_eq!(entries.len(), 1);
    let detail: String =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'application_transferred'")
            .fetch_one(&app.keyport.db.pool)
            .await
            .unwrap();
    assert_eq!(detail, "from leaver@example.com to heir@example.com");

    // Nobody outside the application's domain, and nobody disabled.
    let bad = admin
        .rpc(
            "applications/transfer",
            &[("id", &app_id), ("owner", &leaver.id)],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
}

/// Whoever held a session before the password was set through a link did
/// not prove they know it.
pub(crate) async fn a_password_link_ends_the_users_other_sessions(app: &TestApp) {
    let admin = app.user("admin@example.com", Role::SuperAdmin).await;
    let (mut old, user) = app.signed_in("user@example.com", Role::Member).await;
    let (_, link) = app
        .keyport
        .issue_password_link(&access(&admin), &user.id)
        .await
        .unwrap();
    let mut fresh = app.browser();
    let set = fresh
        .set_password(link.expose(), "a brand new passphrase")
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(old.rpc("viewer", &[]).await.json(), serde_json::Value::Null);
    assert_eq!(
        fresh.rpc("viewer", &[]).await.json()["email"],
        "user@example.com"
    );
}

/// A token minted while its user could act in a domain does not outlive
/// that standing.
pub(crate) async fn management_api_tokens_act_as_their_user_stands_now(app: &TestApp) {
    sqlx::query("INSERT INTO domains (id, customer_id, name, created_at) VALUES ($1, $2, $3, 0)")
        .bind("branch")
        .bind(&app.keyport.tenancy.customer_id)
        .bind("Branch office")
        .execute(&app.keyport.db.pool)
        .await
        .unwrap();
    let boss = app.user("boss@example.com", Role::SuperAdmin).await;
    let branch = app::domain::tenancy::find_domain(&app.keyport.db, "branch")
        .await
        .unwrap()
        .unwrap();
    let input = ApplicationInput {
        name: "Branch automation".into(),
        permissions: vec!["clients:write".into(), "audit:read".into()],
        ..Default::default()
    };
    let (_, credentials) = app
        .keyport
        .register_application(&access(&boss), &branch, input)
        .await
        .unwrap();
    let credentials = credentials.unwrap();
    let token = token_from(
        app,
        "198.51.100.20",
        &[],
        &credentials.client_id,
        credentials.client_secret.expose(),
    )
    .await
    .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let create = |name: &str| {
        let body = format!(r#"{{"name":"{name}","permissions":["clients:read"]}}"#);
        app.call(
            Request::post("/api/v1/clients")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
    };
    assert_eq!(
        create("While super admin").await.status,
        StatusCode::CREATED
    );

    // No longer a super admin: the branch is not theirs to act in.
    app.keyport
        .db
        .write_one(
            sqlx::query("UPDATE users SET role = 'domain_admin' WHERE id = $1").bind(&boss.id),
        )
        .await
        .unwrap();
    let refused = create("After the demotion").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert_eq!(refused.json()["error"]["code"], 403001);
    let audit = app.bearer_get("/api/v1/audit", Some(&token)).await;
    assert_eq!(audit.status, StatusCode::FORBIDDEN, "{}", audit.text);
}
