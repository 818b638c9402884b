//! Memory a stranger can fill: metrics series, limiter windows, key reloads.

use super::*;

pub(crate) async fn made_up_methods_and_paths_add_no_series(app: &TestApp) {
    let series = || async {
        let text = app
            .call(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .text;
        text.lines()
            .filter(|l| l.starts_with("keyport_http_request_duration_seconds_count"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let send = |method: String, path: String| {
        app.call(
            Request::builder()
                .method(Method::from_bytes(method.as_bytes()).unwrap())
                .uri(path)
                .body(Body::empty())
                .unwrap(),
        )
    };
    send("FROB".into(), "/healthz".into()).await;
    send("GET".into(), "/no-such-page-0".into()).await;
    series().await;
    let before = series().await;
    for i in 0..40 {
        send(format!("FROB{i}"), "/healthz".into()).await;
        send("GET".into(), format!("/no-such-page-{i}/x")).await;
    }
    let after = series().await;
    assert_eq!(before.len(), after.len(), "{after:#?}");
    assert!(
        after.iter().any(|l| l.contains("method=\"other\"")),
        "{after:#?}"
    );
    assert!(!after.iter().any(|l| l.contains("FROB")));
}

pub(crate) async fn limiter_memory_is_keyed_by_digest_and_swept(app: &TestApp) {
    let limits = &app.keyport.limits;
    for i in 0..300 {
        let huge_id = format!("{i}{}", "x".repeat(16 * 1024 - 8));
        let from = format!("203.0.113.{}", i % 3 + 1);
        let refused = token_from(app, &from, &[], &huge_id, "kps_nothing").await;
        assert!(refused.status.is_client_error(), "{}", refused.status);
    }
    assert_eq!(
        limits.client_addresses.len(),
        3,
        "one budget per address, however many client IDs were named"
    );
    for i in 0..30 {
        let mut browser = app.browser();
        browser.address = address("198.51.100.9");
        browser
            .sign_in(&format!("{i}{}@example.com", "y".repeat(4000)), "guess")
            .await;
    }
    assert!(
        limits.sign_in_accounts.len() <= 20,
        "the address budget caps the accounts tried"
    );
    app.clock.advance(901);
    limits.sweep(app.keyport.now());
    for limiter in [
        &limits.client_addresses,
        &limits.sign_in_addresses,
        &limits.sign_in_accounts,
        &limits.sign_in_devices,
    ] {
        assert!(limiter.is_empty(), "ended windows are swept: {limiter:?}");
    }
}

/// Made-up key ids share one reload a second: here, a key rotated by
/// another node is found only once the second has passed.
pub(crate) async fn unknown_key_ids_reload_keys_at_most_once_a_second(app: &TestApp) {
    let (mut user, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let forged = |kid: &str| {
        use base64::Engine as _;
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        format!(
            "{}.{}.c2ln",
            b64(serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": kid})),
            b64(serde_json::json!({"sub": "x", "exp": 4_000_000_000_i64})),
        )
    };
    app.clock.advance(5);
    for i in 0..20 {
        let inspected = user
            .rpc(
                "tools/inspect",
                &[("token", &forged(&format!("made-up-{i}")))],
            )
            .await;
        assert_eq!(inspected.status, StatusCode::OK, "{}", inspected.text);
    }
    let other = app.second_node().await;
    other.keyport.rotate_signing_key().await.unwrap();
    let owner = app.user("owner@example.com", Role::SuperAdmin).await;
    let (id, secret) = app.client(&owner, "Automation", &["clients:read"]).await;
    let router = keyport::router(other.clone());
    let issued = {
        use common::BasicCredentials as _;
        use tower::ServiceExt as _;
        let basic = base64::engine::general_purpose::STANDARD.format_basic(&id, &secret);
        let mut request = Request::post("/oauth2/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, format!("Basic {basic}"))
            .body(Body::from("grant_type=client_credentials"))
            .unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(address("198.51.100.20")));
        let response = router.oneshot(request).await.unwrap();
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let verdict = |response: Response| response.json()["verdict"].as_str().unwrap().to_owned();
    let within_the_second = verdict(user.rpc("tools/inspect", &[("token", &issued)]).await);
    assert_eq!(within_the_second, "Signed by an unknown key");
    app.clock.advance(1);
    let next_second = verdict(user.rpc("tools/inspect", &[("token", &issued)]).await);
    assert!(next_second.starts_with("Valid"), "{next_second}");
    other.keyport.db.pool.close().await;
}
