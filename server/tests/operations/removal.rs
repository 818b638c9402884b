//! Removed applications: refused, restored, purged.

use super::*;

pub(crate) async fn removed_applications_are_refused_restored_and_purged_after_30_days(
    app: &TestApp,
) {
    let (mut browser, owner) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    let (client_id, old) = app.client(&owner, "Legacy VPN", &["clients:read"]).await;
    let id = application_id(app, &client_id).await;
    let bearer = access_token(app, &client_id, &old).await;
    assert_eq!(
        app.bearer_get("/api/v1/clients", Some(&bearer))
            .await
            .status,
        StatusCode::OK
    );

    let response = browser.rpc("applications/remove", &[("ids[0]", &id)]).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    // Refused at once: credentials, and tokens already issued.
    assert_eq!(
        token(app, &client_id, &old).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.bearer_get("/api/v1/clients", Some(&bearer))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        browser
            .rpc("applications/page", &[("id", &id)])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let removed = browser.rpc("applications/removed", &[]).await.json();
    let listed = &removed["apps"][0];
    assert_eq!(listed["client_id"], client_id.as_str());
    assert_eq!(listed["purged_at"], app.keyport.now() + 30 * DAY);
    assert_eq!(
        browser.rpc("applications/list", &[]).await.json()["removed"],
        1
    );

    // Restored (without JavaScript) with the same client ID and a new
    // secret, ten days (and a new sign-in) later.
    app.factors_not_required().await;
    app.clock.advance(10 * DAY);
    browser.sign_in("admin@example.com", PASSWORD).await;
    let response = browser
        .form_post(
            "applications/restore",
            &[("id", &id)],
            "/applications/removed",
        )
        .await;
    assert!(response.status.is_redirection(), "{}", response.text);
    assert_eq!(
        response.header("location"),
        Some(format!("/applications/{id}?restored=1").as_str())
    );
    let page = browser
        .rpc("applications/page", &[("id", &id)])
        .await
        .json();
    assert_eq!(page["app"]["client_id"], client_id.as_str());
    let revealed = browser
        .rpc("applications/reveal", &[("id", &id)])
        .await
        .json();
    let new = revealed["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(
        token(app, &client_id, &old).await.status,
        StatusCode::UNAUTHORIZED
    );
    let fresh = access_token(app, &client_id, &new).await;
    assert_eq!(
        app.bearer_get("/api/v1/clients", Some(&fresh)).await.status,
        StatusCode::OK
    );
    // A token from before a removal stays refused after the restore.
    app.clock.advance(1);
    app.keyport
        .remove_applications(&access(&owner), std::slice::from_ref(&id))
        .await
        .unwrap();
    app.keyport
        .restore_application(&access(&owner), &id)
        .await
        .unwrap();
    assert_eq!(
        app.bearer_get("/api/v1/clients", Some(&fresh)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(actions(app, Action::ApplicationRestored).await.len(), 2);

    // Removed again: kept for 30 days to the second, then purged once.
    app.keyport
        .remove_applications(&access(&owner), std::slice::from_ref(&id))
        .await
        .unwrap();
    app.clock.advance(30 * DAY);
    assert_eq!(app.keyport.purge_removed_applications().await.unwrap(), 0);
    browser.sign_in("admin@example.com", PASSWORD).await;
    assert_eq!(
        browser.rpc("applications/removed", &[]).await.json()["apps"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.clock.advance(1);
    assert_eq!(app.keyport.purge_removed_applications().await.unwrap(), 1);
    assert_eq!(app.keyport.purge_removed_applications().await.unwrap(), 0);
    assert!(
        browser.rpc("applications/removed", &[]).await.json()["apps"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let response = browser.rpc("applications/restore", &[("id", &id)]).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND, "{}", response.text);
    let purged = actions(app, Action::ApplicationPurged).await;
    assert_eq!(purged.len(), 1);
    assert_eq!(purged[0].client_id.as_deref(), Some(client_id.as_str()));
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM application_permissions WHERE application_id = $1",
    )
    .bind(&id)
    .fetch_one(&app.keyport.db.pool)
    .await
    .unwrap();
    assert_eq!(left, 0);
}

pub(crate) async fn restore_needs_room_and_a_free_name(app: &TestApp) {
    let (mut browser, owner) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    let (client_id, _) = app.client(&owner, "Nightly sync", &["clients:read"]).await;
    let id = application_id(app, &client_id).await;
    app.keyport
        .remove_applications(&access(&owner), std::slice::from_ref(&id))
        .await
        .unwrap();
    // The name is free again while the old one waits in Recently removed.
    app.client(&owner, "Nightly Sync", &["clients:read"]).await;
    let response = browser.rpc("applications/restore", &[("id", &id)]).await;
    assert_refused(
        &response,
        StatusCode::BAD_REQUEST,
        "is in use in this domain",
    );

    // A full domain refuses a restore, naming its limit.
    sqlx::query("UPDATE domains SET app_limit = 1")
        .execute(&app.keyport.db.pool)
        .await
        .unwrap();
    let response = browser.rpc("applications/restore", &[("id", &id)]).await;
    assert_refused(
        &response,
        StatusCode::BAD_REQUEST,
        "already holds 1 of its 1 applications",
    );
    assert_eq!(
        browser.rpc("applications/removed", &[]).await.json()["apps"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
