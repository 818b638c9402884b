//! Secret rotation and usage counts.

use super::*;

pub(crate) async fn a_rotated_secret_works_until_its_grace_period_ends(app: &TestApp) {
    let owner = app.user("owner@example.com", Role::DomainAdmin).await;
    let (id, old) = app.client(&owner, "Gateway", &["clients:write"]).await;
    let bearer = access_token(app, &id, &old).await;

    let response = bearer_post(
        app,
        &format!("/api/v1/clients/{id}/secret"),
        &bearer,
        r#"{"grace_seconds": 3600}"#,
    )
    .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body = response.json();
    let new = body["client_secret"].as_str().unwrap().to_owned();
    assert!(new.starts_with("kps_") && new != old);
    assert_eq!(body["client_id"], id.as_str());
    let deadline = app.keyport.now() + 3600;
    assert_eq!(body["previous_secret_expires_at"], deadline);

    // Both work during the grace period, to its last second.
    access_token(app, &id, &new).await;
    access_token(app, &id, &old).await;
    app.clock.advance(3599);
    access_token(app, &id, &old).await;
    access_token(app, &id, &new).await;

    // At the deadline the old one is refused; the new one goes on.
    app.clock.advance(1);
    let refused = token(app, &id, &old).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
    assert_eq!(refused.json()["error"], "invalid_client");
    access_token(app, &id, &new).await;

    // The upkeep retires it once, however many nodes run it.
    assert_eq!(app.keyport.retire_expired_secrets().await.unwrap(), 1);
    assert_eq!(app.keyport.retire_expired_secrets().await.unwrap(), 0);
    let retired = actions(app, Action::SecretRetired).await;
    assert_eq!(retired.len(), 1);
    assert_eq!(retired[0].detail.as_deref(), Some("grace period ended"));
    assert_eq!(retired[0].actor, "keyport");
    let rotated = actions(app, Action::SecretRotated).await;
    assert_eq!(rotated.len(), 1);
    assert_eq!(rotated[0].client_id.as_deref(), Some(id.as_str()));
    assert_eq!(rotated[0].detail.as_deref(), Some("grace period 1 h"));
    assert!(!rotated[0].detail.as_deref().unwrap().contains("kps_"));

    // Without a body the grace period is 24 h; 0 retires the old one at once.
    let bearer = access_token(app, &id, &new).await;
    let response = bearer_post(app, &format!("/api/v1/clients/{id}/secret"), &bearer, "").await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(
        response.json()["previous_secret_expires_at"],
        app.keyport.now() + DAY
    );
    let newest = response.json()["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = bearer_post(
        app,
        &format!("/api/v1/clients/{id}/secret"),
        &bearer,
        r#"{"grace_seconds": 0}"#,
    )
    .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.json()["previous_secret_expires_at"], Value::Null);
    assert_eq!(
        token(app, &id, &newest).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(token(app, &id, &new).await.status, StatusCode::UNAUTHORIZED);
}

pub(crate) async fn the_old_secret_can_be_retired_early_and_rotation_is_checked(app: &TestApp) {
    let (mut browser, owner) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    let (client_id, old) = app.client(&owner, "Reports", &["clients:read"]).await;
    let id = application_id(app, &client_id).await;

    for bad in ["-1", "604801", "soon"] {
        let response = browser
            .rpc(
                "applications/rotate",
                &[("id", &id), ("grace_seconds", bad)],
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            response.text
        );
    }
    access_token(app, &client_id, &old).await;
    assert!(actions(app, Action::SecretRotated).await.is_empty());

    // Retiring with nothing to retire says so and changes nothing.
    let response = browser.rpc("applications/retire", &[("id", &id)]).await;
    assert_refused(&response, StatusCode::BAD_REQUEST, "no previous secret");

    // A plain form post (no JavaScript) rotates and lands on the page.
    let response = browser
        .form_post(
            "applications/rotate",
            &[("id", &id), ("grace_seconds", "86400")],
            &format!("/applications/{id}"),
        )
        .await;
    assert!(response.status.is_redirection(), "{}", response.status);
    assert_eq!(
        response.header("location"),
        Some(format!("/applications/{id}?rotated={}", app.keyport.now()).as_str())
    );
    let page = browser.rpc("applications/page", &[("id", &id)]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let page = page.json();
    let revealed = browser.rpc("applications/reveal", &[("id", &id)]).await;
    let new = revealed.json()["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        page["secrets"]["previous_expires_at"],
        app.keyport.now() + DAY
    );
    access_token(app, &client_id, &old).await;
    access_token(app, &client_id, &new).await;

    let response = browser.rpc("applications/retire", &[("id", &id)]).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(
        token(app, &client_id, &old).await.status,
        StatusCode::UNAUTHORIZED
    );
    access_token(app, &client_id, &new).await;
    let retired = actions(app, Action::SecretRetired).await;
    assert_eq!(retired.len(), 1);
    assert_eq!(retired[0].detail.as_deref(), Some("retired early"));
    assert_eq!(retired[0].actor, "admin@example.com");

    // A member cannot rotate another user's application.
    let (mut member, _) = app.signed_in("member@example.com", Role::Member).await;
    let response = member
        .rpc(
            "applications/rotate",
            &[("id", &id), ("grace_seconds", "0")],
        )
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND, "{}", response.text);
    access_token(app, &client_id, &new).await;
}

pub(crate) async fn usage_is_counted_per_secret_and_per_day(app: &TestApp) {
    let (mut browser, owner) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    let (client_id, old) = app.client(&owner, "Scanner", &["clients:read"]).await;
    let id = application_id(app, &client_id).await;
    let start = app.keyport.now();
    for _ in 0..3 {
        access_token(app, &client_id, &old).await;
    }
    assert_eq!(
        token(app, &client_id, "kps_wrong").await.status,
        StatusCode::UNAUTHORIZED
    );

    app.clock.advance(DAY);
    // A day later the admin signs in again: a session lasts 12 hours.
    browser.sign_in("admin@example.com", PASSWORD).await;
    let rotated = app
        .keyport
        .rotate_secret(&access(&owner), &id, 3600)
        .await
        .unwrap();
    use app::domain::secrets::Secret;
    let new = rotated.credentials.client_secret.expose().to_owned();
    app.clock.advance(60);
    access_token(app, &client_id, &new).await;
    app.clock.advance(60);
    access_token(app, &client_id, &old).await;

    let page = browser.rpc("applications/page", &[("id", &id)]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let page = page.json();
    assert_eq!(page["secrets"]["current_last_used"], start + DAY + 60);
    assert_eq!(page["secrets"]["previous_last_used"], start + DAY + 120);
    assert_eq!(page["app"]["last_used_at"], start + DAY + 120);
    let usage = page["usage"].as_array().unwrap();
    assert_eq!(usage.len(), 30);
    let today = &usage[29];
    let yesterday = &usage[28];
    assert_eq!(
        (today["issued"].as_i64(), today["failures"].as_i64()),
        (Some(2), Some(0))
    );
    assert_eq!(
        (yesterday["issued"].as_i64(), yesterday["failures"].as_i64()),
        (Some(3), Some(1))
    );
    assert!(usage[..28]
        .iter()
        .all(|d| d["issued"] == 0 && d["failures"] == 0));

    // The list draws the same days as a sparkline, and the unused filter
    // leaves out what was used.
    let (unused_id, _) = app.client(&owner, "Forgotten", &["clients:read"]).await;
    let list = browser.rpc("applications/list", &[]).await.json();
    let scanner = list["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id.as_str())
        .unwrap();
    let spark: Vec<i64> = scanner["usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(spark.len(), 30);
    assert_eq!(&spark[28..], &[3, 2]);
    let unused = browser
        .rpc("applications/list", &[("unused", "1")])
        .await
        .json();
    let names: Vec<&str> = unused["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec![unused_id.as_str()]);
    assert_eq!(unused["unused_days"], 90);
    // 90 days on (signed in again), the scanner is unused too.
    app.factors_not_required().await;
    app.clock.advance(91 * DAY);
    browser.sign_in("admin@example.com", PASSWORD).await;
    let unused = browser
        .rpc("applications/list", &[("unused", "1")])
        .await
        .json();
    assert_eq!(unused["apps"].as_array().unwrap().len(), 2);
}
