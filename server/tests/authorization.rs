//! The authorization code flow with PKCE end to end: an OAuth client library
//! plays the third-party application, a cookie-keeping browser plays the
//! user, and every refusal, replay, expiry and mismatch is checked.

mod common;

use app::domain::accounts::Role;
use app::domain::authorization::CODE_TTL;
use axum::http::StatusCode;
use common::authorize::{
    access, approve, code_from, decide, exchange, location, param, path_and_query, start,
    third_party, CALLBACK,
};
use common::{http_client, TestApp};
use oauth2::{AuthorizationCode, PkceCodeChallenge, TokenResponse};

on_both_engines!(
    a_user_approves_and_the_application_gets_a_token_for_them,
    signed_out_users_sign_in_first_and_come_back,
    denying_returns_access_denied,
    unverifiable_requests_are_shown_and_never_redirected,
    other_errors_go_back_to_the_verified_callback,
    a_code_is_single_use_and_a_replay_revokes_its_token,
    codes_expire_after_sixty_seconds,
    codes_are_bound_to_client_redirect_and_challenge,
    consent_is_remembered_until_permissions_change_or_it_is_revoked,
    users_cannot_authorize_applications_of_other_domains,
);

async fn a_user_approves_and_the_application_gets_a_token_for_them(app: &TestApp) {
    let (id, _, client) = third_party(app, &["audit:read", "clients:read"]).await;
    let (mut browser, user) = app
        .signed_in("operator@example.com", Role::DomainAdmin)
        .await;
    let (path, state, verifier) = start(&client, &["clients:read"]);

    let page = browser.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    for shown in [
        "Gateway",
        "is asking to act for you",
        "clients:read",
        "vendor-admin@example.com",
        "operator@example.com",
        "http://127.0.0.1:4567",
    ] {
        assert!(page.text.contains(shown), "the consent page shows {shown}");
    }
    assert!(
        !page.text.contains("audit:read"),
        "only what was asked for is shown"
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:4567"),
        "{csp}"
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));

    let code = approve(&mut browser, &path, &state).await;
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http_client(app))
        .await
        .expect("the code is exchanged");
    assert_eq!(token.scopes().unwrap()[0].as_str(), "clients:read");
    let claims = app
        .keyport
        .verify_access_token(token.access_token().secret())
        .await
        .unwrap();
    assert_eq!(user.id, claims.sub, "the token names the user");
    assert_eq!(claims.client_id, id, "and the application");
    assert_eq!(claims.scope, "clients:read");

    let api = app
        .bearer_get("/api/v1/clients", Some(token.access_token().secret()))
        .await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.text);
    assert_eq!(
        api.json()[0]["name"],
        "Gateway",
        "the user's view of the domain"
    );
    let audit = app::domain::audit::search(&app.keyport.db, &Default::default(), 10)
        .await
        .unwrap();
    assert!(audit
        .iter()
        .any(|e| e.action == "authorization_granted" && e.actor == "operator@example.com"));
}

async fn signed_out_users_sign_in_first_and_come_back(app: &TestApp) {
    let (_, _, client) = third_party(app, &["clients:read"]).await;
    app.user("operator@example.com", Role::Member).await;
    let (path, state, _) = start(&client, &[]);
    let mut browser = app.browser();

    let first = browser.get(&path).await;
    assert_eq!(first.status, StatusCode::FOUND);
    let login = location(&first);
    assert_eq!(login.path(), "/login");
    let next = param(&login, "next").unwrap();
    assert_eq!(next, path, "the request survives the detour");

    let login_page = browser.get(&path_and_query(&login)).await;
    assert!(
        login_page
            .text
            .contains(r#"<form method="post" action="/rpc/sign_in""#),
        "signing in for an authorization request is a plain post"
    );
    let signed_in = browser
        .form_post(
            "sign_in",
            &[
                ("email", "operator@example.com"),
                ("password", common::PASSWORD),
                ("next", &next),
            ],
            &path_and_query(&login),
        )
        .await;
    assert_eq!(
        location(&signed_in).as_str(),
        format!("{}{path}", common::ORIGIN)
    );
    approve(&mut browser, &path, &state).await;
}

async fn denying_returns_access_denied(app: &TestApp) {
    let (_, _, client) = third_party(app, &["clients:read"]).await;
    let (mut browser, _) = app.signed_in("operator@example.com", Role::Member).await;
    let (path, state, _) = start(&client, &[]);
    let denied = decide(&mut browser, &path, "deny").await;
    assert_eq!(denied.status, StatusCode::FOUND);
    let back = location(&denied);
    assert!(back.as_str().starts_with(CALLBACK));
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(param(&back, "code"), None);
    let again = browser.get(&path).await;
    assert_eq!(again.status, StatusCode::OK, "a denial is not remembered");
}

async fn unverifiable_requests_are_shown_and_never_redirected(app: &TestApp) {
    let (id, _, client) = third_party(app, &["clients:read"]).await;
    let (mut browser, _) = app.signed_in("operator@example.com", Role::Member).await;
    let (path, _, _) = start(&client, &[]);
    let evil = "https%3A%2F%2Fevil.example%2Fcallback";
    let registered = "http%3A%2F%2F127.0.0.1%3A4567%2Fcallback";
    let cases = [
        (
            path.replace(&id, "unknown-client"),
            "No application is registered",
        ),
        (
            path.replace(registered, evil),
            "not the callback URL registered",
        ),
        (
            path.replace(registered, &format!("{registered}%2F")),
            "not the callback URL registered",
        ),
        // A loopback callback may move its port (RFC 8252 §7.3), never
        // its host or path.
        (
            path.replace(registered, "http%3A%2F%2F127.0.0.2%3A4567%2Fcallback"),
            "not the callback URL registered",
        ),
        (
            path.replace(registered, "http%3A%2F%2F127.0.0.1%3A4568%2Fcallbacks"),
            "not the callback URL registered",
        ),
        (
            path.replace("code_challenge_method=S256", "code_challenge_method=plain"),
            "Only the PKCE method S256",
        ),
        (
            path.replace("&code_challenge_method=S256", ""),
            "Only the PKCE method S256",
        ),
        (
            drop_param(&path, "code_challenge"),
            "did not send a PKCE code challenge",
        ),
        (format!("{path}&client_id={id}"), "more than once"),
        (drop_param(&path, "redirect_uri"), "redirect_uri is missing"),
        ("/oauth2/authorize".to_string(), "client_id is missing"),
    ];
    for (request, message) in cases {
        let page = browser.get(&request).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{request}");
        assert!(
            page.header("location").is_none(),
            "{request} is never redirected"
        );
        assert!(page.text.contains(message), "{request}: {message}");
        assert!(!page.text.contains("evil.example"));
        // Posting a decision for it redirects nowhere either.
        let posted = decide(&mut browser, &request_with_query(&request), "approve").await;
        let target = posted.header("location").unwrap_or_default();
        assert!(
            !target.starts_with("https://evil") && !target.starts_with(CALLBACK),
            "{request}: {target}"
        );
    }
    let codes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM authorization_codes")
        .fetch_one(&app.keyport.db.pool)
        .await
        .unwrap();
    assert_eq!(codes, 0, "no code was issued");
}

fn request_with_query(path: &str) -> String {
    if path.contains('?') {
        path.to_owned()
    } else {
        format!("{path}?")
    }
}

fn drop_param(path: &str, name: &str) -> String {
    let (base, query) = path.split_once('?').unwrap();
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with(&format!("{name}=")))
        .collect();
    format!("{base}?{}", kept.join("&"))
}

async fn other_errors_go_back_to_the_verified_callback(app: &TestApp) {
    let (_, _, client) = third_party(app, &["clients:read"]).await;
    let (mut browser, _) = app.signed_in("operator@example.com", Role::Member).await;
    let (path, state, _) = start(&client, &["clients:write"]);
    let response = browser.get(&path).await;
    let back = location(&response);
    assert!(back.as_str().starts_with(CALLBACK));
    assert_eq!(param(&back, "error").as_deref(), Some("invalid_scope"));
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(state.secret().as_str())
    );

    let (path, _, _) = start(&client, &[]);
    let token = browser
        .get(&path.replace("response_type=code", "response_type=token"))
        .await;
    assert_eq!(
        param(&location(&token), "error").as_deref(),
        Some("unsupported_response_type")
    );
}

async fn a_code_is_single_use_and_a_replay_revokes_its_token(app: &TestApp) {
    let (id, secret, client) = third_party(app, &["clients:read"]).await;
    let (mut browser, _) = app
        .signed_in("operator@example.com", Role::DomainAdmin)
        .await;
    let (path, state, verifier) = start(&client, &[]);
    let code = approve(&mut browser, &path, &state).await;

    let first = exchange(app, &id, &secret, &code, CALLBACK, verifier.secret()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let token = first.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.bearer_get("/api/v1/clients", Some(&token)).await.status,
        StatusCode::OK
    );

    let second = exchange(app, &id, &secret, &code, CALLBACK, verifier.secret()).await;
    assert_eq!(second.status, StatusCode::BAD_REQUEST);
    assert_eq!(second.json()["error"], "invalid_grant");
    assert!(second.text.contains("already been used"));
    let refused = app.bearer_get("/api/v1/clients", Some(&token)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.json()["error"]["code"],
        401010,
        "the first token is revoked"
    );
}

async fn codes_expire_after_sixty_seconds(app: &TestApp) {
    let (id, secret, client) = third_party(app, &["clients:read"]).await;
    let (mut browser, _) = app.signed_in("operator@example.com", Role::Member).await;
    let (path, state, verifier) = start(&client, &[]);
    let code = approve(&mut browser, &path, &state).await;
    app.clock.advance(CODE_TTL);
    let late = exchange(app, &id, &secret, &code, CALLBACK, verifier.secret()).await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST);
    assert_eq!(late.json()["error"], "invalid_grant");
    assert!(late.text.contains("expired"));

    // The consent is remembered: the browser goes straight back with a code.
    let (path, state, verifier) = start(&client, &[]);
    let code = code_from(&browser.get(&path).await, &state);
    app.clock.advance(CODE_TTL - 1);
    let in_time = exchange(app, &id, &secret, &code, CALLBACK, verifier.secret()).await;
    assert_eq!(in_time.status, StatusCode::OK, "{}", in_time.text);
}

/// Not split: one consent, then one code per binding tried against it;
/// each case needs the approval the first step gave.
async fn codes_are_bound_to_client_redirect_and_challenge(app: &TestApp) {
    let (id, secret, client) = third_party(app, &["clients:read"]).await;
    let owner = app
        .user("other-vendor@example.com", Role::DomainAdmin)
        .await;
    let (other_id, other_secret) = app
        .client_with_callback(&owner, "Other", &["clients:read"], CALLBACK)
        .await;
    let (mut browser, _) = app.signed_in("operator@example.com", Role::Member).await;
    let (path, state, verifier) = start(&client, &[]);
    let code = approve(&mut browser, &path, &state).await;
    let (_, wrong_verifier) = PkceCodeChallenge::new_random_sha256();

    let refusals = [
        (
            other_id.as_str(),
            other_secret.as_str(),
            CALLBACK,
            verifier.secret().as_str(),
            "invalid_grant",
            "another client",
        ),
        (
            &id,
            &secret,
            "http://127.0.0.1:4567/other",
            verifier.secret(),
            "invalid_grant",
            "redirect_uri",
        ),
        (
            &id,
            &secret,
            CALLBACK,
            wrong_verifier.secret(),
            "invalid_grant",
            "code verifier",
        ),
        (
            &id,
            &secret,
            CALLBACK,
            "too-short",
            "invalid_grant",
            "code verifier",
        ),
    ];
    for (client_id, client_secret, redirect, verifier, error, says) in refusals {
        let response = exchange(app, client_id, client_secret, &code, redirect, verifier).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{says}");
        assert_eq!(response.json()["error"], error, "{says}");
        assert!(response.text.contains(says), "{says}: {}", response.text);
    }
    let missing = app
        .token_request(
            Some((&id, &secret)),
            &common::encode(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
            ]),
        )
        .await;
    assert_eq!(missing.json()["error"], "invalid_request");
    let v4 = app
        .call(
            axum::http::Request::post("/v4/oauth2/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .header(
                    "authorization",
                    format!("Basic {}", base64_basic(&id, &secret)),
                )
                .body(axum::body::Body::from(format!(
                    "grant_type=authorization_code&code={code}"
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(v4.json()["error"], "unsupported_grant_type");

    // Failed attempts do not use the code up: the rightful client still can.
    let ok = exchange(app, &id, &secret, &code, CALLBACK, verifier.secret()).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
}

fn base64_basic(id: &str, secret: &str) -> String {
    use common::BasicCredentials as _;
    base64::engine::general_purpose::STANDARD.format_basic(id, secret)
}

async fn consent_is_remembered_until_permissions_change_or_it_is_revoked(app: &TestApp) {
    let (id, secret, client) = third_party(app, &["clients:read"]).await;
    let (mut browser, user) = app
        .signed_in("operator@example.com", Role::DomainAdmin)
        .await;
    let (path, state, _) = start(&client, &[]);
    approve(&mut browser, &path, &state).await;

    // Asked again for the same permissions: straight back with a code.
    let (path, state, verifier) = start(&client, &[]);
    let remembered = browser.get(&path).await;
    let code = code_from(&remembered, &state);
    let token = exchange(app, &id, &secret, &code, CALLBACK, verifier.secret())
        .await
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let listed = browser.rpc("connections/list", &[]).await.json();
    assert_eq!(listed[0]["name"], "Gateway");
    assert_eq!(
        listed[0]["permissions"],
        serde_json::json!(["clients:read"])
    );

    // The application now wants more: the user is asked again.
    let app_id = app.application_id(&id).await;
    let owner =
        app::domain::accounts::find_user_by_email(&app.keyport.db, "vendor-admin@example.com")
            .await
            .unwrap()
            .unwrap();
    let input = app::domain::validate::ApplicationInput {
        name: "Gateway".into(),
        permissions: vec!["clients:read".into(), "audit:read".into()],
        callback_url: CALLBACK.into(),
        ..Default::default()
    };
    app.keyport
        .update_application(&access(&owner), &app_id, input)
        .await
        .unwrap();
    let (path, state, _) = start(&client, &[]);
    assert_eq!(
        browser.get(&path).await.status,
        StatusCode::OK,
        "asked again"
    );
    approve(&mut browser, &path, &state).await;

    // Disconnecting: asked again, and the token it holds stops working.
    let disconnected = browser
        .rpc("connections/disconnect", &[("application_id", &app_id)])
        .await;
    assert_eq!(disconnected.status, StatusCode::OK, "{}", disconnected.text);
    assert_eq!(
        browser.rpc("connections/list", &[]).await.json(),
        serde_json::json!([])
    );
    let refused = app.bearer_get("/api/v1/clients", Some(&token)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let (path, _, _) = start(&client, &[]);
    assert_eq!(browser.get(&path).await.status, StatusCode::OK);

    // Only one's own consent can be taken back.
    let again = browser
        .rpc("connections/disconnect", &[("application_id", &app_id)])
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let _ = user;
}

async fn users_cannot_authorize_applications_of_other_domains(app: &TestApp) {
    let (_, _, client) = third_party(app, &["clients:read"]).await;
    sqlx::query("INSERT INTO domains (id, customer_id, name, created_at) VALUES ($1, $2, $3, $4)")
        .bind("other-domain")
        .bind(&app.keyport.tenancy.customer_id)
        .bind("Branch office")
        .bind(0_i64)
        .execute(&app.keyport.db.pool)
        .await
        .unwrap();
    let outsider = app::domain::accounts::NewUser {
        domain_id: "other-domain".into(),
        email: "branch@example.com".into(),
        role: Role::DomainAdmin,
        password: app::domain::secrets::Password::new(common::PASSWORD),
    };
    app.keyport
        .insert_user(outsider, None, "test", None)
        .await
        .unwrap();
    let mut browser = app.browser();
    browser
        .sign_in("branch@example.com", common::PASSWORD)
        .await;
    let (path, _, _) = start(&client, &[]);
    let page = browser.get(&path).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.text.contains("belongs to another domain"));
    assert!(page.header("location").is_none());
    let icon = browser
        .get(&icon_path(app, client.client_id().as_str()).await)
        .await;
    assert_eq!(icon.status, StatusCode::NOT_FOUND, "nor its icon");
}

async fn icon_path(app: &TestApp, client_id: &str) -> String {
    let id = app.application_id(client_id).await;
    let updated_at: i64 = sqlx::query_scalar("SELECT updated_at FROM applications WHERE id = $1")
        .bind(&id)
        .fetch_one(&app.keyport.db.pool)
        .await
        .unwrap();
    format!("/applications/{id}/icon?v={updated_at}")
}
