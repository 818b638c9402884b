//! The authorization code grant: consent, removed clients, disconnect, the issuer.

use super::*;

pub(crate) async fn update(
    app: &TestApp,
    client_id: &str,
    edit: impl FnOnce(&mut ApplicationInput),
) {
    let owner =
        app::domain::accounts::find_user_by_email(&app.keyport.db, "vendor-admin@example.com")
            .await
            .unwrap()
            .unwrap();
    let id = app.application_id(client_id).await;
    let current = app.keyport.application_for(&owner, &id).await.unwrap();
    let mut input = ApplicationInput {
        name: current.app.name,
        description: current.app.description,
        permissions: current.permissions,
        website_url: current.app.website_url,
        callback_url: current.app.callback_url,
        ..Default::default()
    };
    edit(&mut input);
    app.keyport
        .update_application(&access(&owner), &id, input)
        .await
        .unwrap();
}

/// An owner who points the callback at a host they control gets no code
/// from a consent given for the old one.
pub(crate) async fn consent_is_asked_again_after_the_callback_changes(app: &TestApp) {
    let (id, _, client) = third_party(app, &["clients:read"]).await;
    let (mut admin, _) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    let (path, state, _) = start(&client, &[]);
    approve(&mut admin, &path, &state).await;
    let (path, state, _) = start(&client, &[]);
    code_from(&admin.get(&path).await, &state);

    let evil = "https://collector.evil.example/cb";
    update(app, &id, |input| input.callback_url = evil.into()).await;
    let (path, _, _) = start(&client, &[]);
    let to_evil = path.replace(
        &url::form_urlencoded::byte_serialize(CALLBACK.as_bytes()).collect::<String>(),
        &url::form_urlencoded::byte_serialize(evil.as_bytes()).collect::<String>(),
    );
    let page = admin.get(&to_evil).await;
    assert_eq!(page.status, StatusCode::OK, "asked again, not redirected");
    assert!(page.header("location").is_none());
    assert!(
        page.text.contains("collector.evil.example"),
        "the consent page names the host the browser returns to"
    );

    // So do a new name and a new website, once approved again.
    for change in [
        (|i: &mut ApplicationInput| i.name = "Gateway Pro".into()) as fn(&mut ApplicationInput),
        |i: &mut ApplicationInput| i.website_url = "https://other.example".into(),
    ] {
        update(app, &id, |i| i.callback_url = CALLBACK.into()).await;
        let (path, state, _) = start(&client, &[]);
        approve(&mut admin, &path, &state).await;
        update(app, &id, change).await;
        let (path, _, _) = start(&client, &[]);
        assert_eq!(admin.get(&path).await.status, StatusCode::OK);
    }
}

/// An application in its 30 days of restore is no client at all.
pub(crate) async fn removed_applications_are_refused_at_authorize(app: &TestApp) {
    let (id, _, client) = third_party(app, &["clients:read"]).await;
    let (mut admin, admin_user) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    let app_id = app.application_id(&id).await;
    app.keyport
        .remove_applications(&access(&admin_user), std::slice::from_ref(&app_id))
        .await
        .unwrap();
    let (path, _, _) = start(&client, &[]);
    let page = admin.get(&path).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.text.contains("No application is registered"));
    assert!(page.header("location").is_none());
    let approved = decide(&mut admin, &path, "approve").await;
    assert!(!approved
        .header("location")
        .unwrap_or_default()
        .starts_with(CALLBACK));
    let rows: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM consents) + (SELECT COUNT(*) FROM authorization_codes)",
    )
    .fetch_one(&app.keyport.db.pool)
    .await
    .unwrap();
    assert_eq!(rows, 0, "no consent and no code");

    // A consent slipped in while it was removed does not come back with it.
    sqlx::query(
        "INSERT INTO consents (user_id, application_id, scope, granted_at, redirect_uri) \
         VALUES ($1, $2, 'clients:read', $3, $4)",
    )
    .bind(&admin_user.id)
    .bind(&app_id)
    .bind(app.keyport.now())
    .bind(CALLBACK)
    .execute(&app.keyport.db.pool)
    .await
    .unwrap();
    app.keyport
        .restore_application(&access(&admin_user), &app_id)
        .await
        .unwrap();
    let (path, _, _) = start(&client, &[]);
    assert_eq!(admin.get(&path).await.status, StatusCode::OK, "asked again");
}

/// Disconnect takes back codes not yet exchanged, too.
pub(crate) async fn a_code_from_before_disconnect_is_refused_after_it(app: &TestApp) {
    let (id, secret, client) = third_party(app, &["clients:read"]).await;
    let (mut user, _) = app.signed_in("operator@example.com", Role::Member).await;
    let (path, state, verifier) = start(&client, &[]);
    let code = approve(&mut user, &path, &state).await;
    let app_id = app.application_id(&id).await;
    let disconnected = user
        .rpc("connections/disconnect", &[("application_id", &app_id)])
        .await;
    assert_eq!(disconnected.status, StatusCode::OK, "{}", disconnected.text);
    let late = exchange(app, &id, &secret, &code, CALLBACK, verifier.secret()).await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST, "{}", late.text);
    assert_eq!(late.json()["error"], "invalid_grant");
}

/// RFC 9207: success and error alike say who answered.
pub(crate) async fn every_authorization_response_names_the_issuer(app: &TestApp) {
    let (_, _, client) = third_party(app, &["clients:read"]).await;
    let (mut user, _) = app.signed_in("operator@example.com", Role::Member).await;
    let issuer = app.keyport.issuer_id();
    let (path, state, _) = start(&client, &[]);
    user.get(&path).await;
    let approved = location(&decide(&mut user, &path, "approve").await);
    assert!(param(&approved, "code").is_some());
    assert_eq!(
        param(&approved, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(param(&approved, "iss").as_deref(), Some(issuer.as_str()));
    let denied = location(&decide(&mut user, &path, "deny").await);
    assert_eq!(param(&denied, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&denied, "iss").as_deref(), Some(issuer.as_str()));
    let (path, _, _) = start(&client, &["clients:write"]);
    let refused = location(&user.get(&path).await);
    assert_eq!(param(&refused, "error").as_deref(), Some("invalid_scope"));
    assert_eq!(param(&refused, "iss").as_deref(), Some(issuer.as_str()));
    let metadata = app
        .call(
            Request::get("/.well-known/oauth-authorization-server")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .json();
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
}
