//! A user moved to another domain with their applications, or not at all.

use super::*;

/// Not split: one user's move tried the ways it must fail, each checked to
/// have changed nothing, before the one that succeeds.
pub(crate) async fn a_move_takes_the_users_applications_or_changes_nothing(app: &TestApp) {
    let (mut admin, root) = app.signed_in("root@example.com", Role::SuperAdmin).await;
    let owner = app.user("owner@example.com", Role::Member).await;
    let (id_a, secret_a) = app.client(&owner, "Shared", &["clients:read"]).await;
    app.client(&owner, "Second", &["clients:read"]).await;
    let target = create_domain(&mut admin, "Target", "2").await;
    let target_domain = tenancy::find_domain(&app.keyport.db, &target)
        .await
        .unwrap()
        .unwrap();
    register(app, &root, &target_domain, "shared")
        .await
        .unwrap();
    let (clashing, _) = app
        .keyport
        .find_applications(&root, "shared")
        .await
        .unwrap();
    let clashing = clashing
        .iter()
        .find(|f| f.domain_id == target)
        .unwrap()
        .id
        .clone();

    let snapshot = || async {
        let user = app.keyport.user(&owner.id).await.unwrap().unwrap();
        let apps: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, domain_id FROM applications WHERE owner_id = $1 ORDER BY name",
        )
        .bind(&owner.id)
        .fetch_all(&app.keyport.db.pool)
        .await
        .unwrap();
        (user.domain_id.to_string(), apps)
    };
    let unmoved = snapshot().await;
    let move_form = [("id", owner.id.to_string()), ("domain", target.clone())];
    let move_form: Vec<(&str, &str)> = move_form.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // No room: the target holds 1 of 2, and the owner has 2 applications.
    let refused = admin.rpc("users/move", &move_form).await;
    let why = field_error(&refused, "domain");
    assert!(
        why.contains("Target holds 1 of its 2 applications") && why.contains("owns 2 more"),
        "{why}"
    );
    assert_eq!(snapshot().await, unmoved);

    // Room, but a name the target already has (any case).
    admin
        .rpc("domains/limit", &[("id", &target), ("app_limit", "3")])
        .await;
    let refused = admin.rpc("users/move", &move_form).await;
    assert!(field_error(&refused, "domain")
        .contains("already has an application named \u{201c}Shared\u{201d}"));
    assert_eq!(snapshot().await, unmoved);
    assert!(entries(app, Action::UserMoved).await.is_empty());

    // Nobody moves themselves; a domain admin moves nobody.
    let myself = admin
        .rpc("users/move", &[("id", &root.id), ("domain", &target)])
        .await;
    assert!(field_error(&myself, "domain").contains("cannot move yourself"));
    let (mut domain_admin, _) = app.signed_in("da@example.com", Role::DomainAdmin).await;
    assert_eq!(
        domain_admin.rpc("users/move", &move_form).await.status,
        StatusCode::FORBIDDEN
    );

    // With the other removed, it moves: the user and both applications, in
    // one step, logged in both domains; the client keeps working, its
    // tokens now carry the new domain.
    app.keyport
        .remove_applications(&common::authorize::access(&root), &[clashing])
        .await
        .unwrap();
    let moved = admin.rpc("users/move", &move_form).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    let (user_domain, apps) = snapshot().await;
    assert_eq!(user_domain, target);
    assert!(apps.iter().all(|(_, d)| *d == target), "{apps:?}");
    let logged = entries(app, Action::UserMoved).await;
    assert_eq!(logged.len(), 2);
    let mut domains: Vec<_> = logged
        .iter()
        .map(|e| e.domain_id.clone().unwrap())
        .collect();
    domains.sort();
    let mut expected = vec![
        target.clone(),
        app.keyport.tenancy.default_domain_id.to_string(),
    ];
    expected.sort();
    assert_eq!(domains, expected);
    assert_eq!(
        logged[0].detail.as_deref(),
        Some("from default to Target with 2 applications")
    );
    let token = app
        .token_request(Some((&id_a, &secret_a)), "grant_type=client_credentials")
        .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.text);
    let claims = app
        .keyport
        .verify_access_token(token.json()["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(claims.domain_id.as_str(), target.as_str());
    let page = admin.rpc("domains/page", &[]).await.json();
    assert_eq!(row(&page, "Target")["applications"], 2);
    assert_eq!(row(&page, "Target")["users"], 1);
}
