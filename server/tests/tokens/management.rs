//! The management API: codes, clients, revocation and introspection.

use super::*;

pub(crate) async fn the_management_api_answers_with_spec_codes(app: &TestApp) {
    let (id, secret) = admin_client(app, &["clients:read"]).await;
    let token = token_for(app, &id, &secret, "grant_type=client_credentials").await;

    let missing = app.bearer_get("/api/v1/clients", None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        missing.json(),
        serde_json::json!({"error": {"code": 401011, "messages": ["OAuth token is missing"]}})
    );
    assert!(missing
        .header("www-authenticate")
        .unwrap()
        .starts_with("Bearer"));

    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let mut payload: Value = serde_json::from_slice(&engine.decode(&parts[1]).unwrap()).unwrap();
    payload["scope"] = "clients:read clients:write audit:read".into();
    parts[1] = engine.encode(payload.to_string());
    let tampered = parts.join(".");
    let none_header = engine.encode(r#"{"alg":"none","typ":"at+jwt"}"#);
    let alg_none = format!("{none_header}.{}.", parts[1]);
    let unknown_kid = {
        let header: Value =
            serde_json::from_slice(&engine.decode(token.split('.').next().unwrap()).unwrap())
                .unwrap();
        let mut header = header;
        header["kid"] = "no-such-key".into();
        let mut p: Vec<String> = token.split('.').map(str::to_owned).collect();
        p[0] = engine.encode(header.to_string());
        p.join(".")
    };
    let other = TestApp::new(common::Engine::Sqlite).await;
    let (oid, osecret) = admin_client(&other, &["clients:read"]).await;
    let foreign = token_for(&other, &oid, &osecret, "grant_type=client_credentials").await;
    other.finish().await;
    for (label, bad) in [
        ("tampered", tampered),
        ("alg none", alg_none),
        ("unknown kid", unknown_kid),
        ("other issuer", foreign),
        ("garbage", "not.a.jwt".into()),
    ] {
        let response = app.bearer_get("/api/v1/clients", Some(&bad)).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{label}");
        assert_eq!(
            response.json(),
            serde_json::json!({"error": {"code": 401010, "messages": ["OAuth token is invalid"]}}),
            "{label}"
        );
        assert!(
            response
                .header("www-authenticate")
                .unwrap()
                .contains("invalid_token"),
            "{label}"
        );
    }

    let forbidden = app.bearer_get("/api/v1/audit", Some(&token)).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(
        forbidden.json(),
        serde_json::json!({"error": {"code": 403001, "messages": ["Insufficient permissions"]}})
    );
    assert!(forbidden
        .header("www-authenticate")
        .unwrap()
        .contains("insufficient_scope"));

    app.clock.advance(3600 + 5);
    let expired = app.bearer_get("/api/v1/clients", Some(&token)).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        expired.json(),
        serde_json::json!({"error": {"code": 401009, "messages": ["OAuth token has expired"]}})
    );
}

pub(crate) async fn the_management_api_manages_clients(app: &TestApp) {
    let (id, secret) = admin_client(app, &["clients:read", "clients:write", "audit:read"]).await;
    let token = token_for(app, &id, &secret, "grant_type=client_credentials").await;
    let create = |body: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/clients")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let created = app.call(create(r#"{"name":"From automation","permissions":["clients:read"],"callback_url":"https://x.example/cb"}"#)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let created = created.json();
    let new_id = created["client_id"].as_str().unwrap().to_owned();
    assert!(created["client_secret"]
        .as_str()
        .unwrap()
        .starts_with("kps_"));
    token_for(
        app,
        &new_id,
        created["client_secret"].as_str().unwrap(),
        "grant_type=client_credentials",
    )
    .await;

    let bad = app
        .call(create(
            r#"{"name":"","permissions":[],"callback_url":"ftp://x"}"#,
        ))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json()["error"]["code"], 400001);
    assert!(bad.json()["error"]["messages"].as_array().unwrap().len() >= 3);
    let not_json = app.call(create("{nope")).await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);

    let list = app.bearer_get("/api/v1/clients", Some(&token)).await.json();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["client_id"] == new_id.as_str()));
    assert!(
        !list.to_string().contains("kps_"),
        "a list never holds a secret"
    );

    let delete = |client_id: &str| {
        Request::builder()
            .method(Method::DELETE)
            .uri(format!("/api/v1/clients/{client_id}"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        app.call(delete(&new_id)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.call(delete(&new_id)).await.status,
        StatusCode::NOT_FOUND
    );
    let audit = app
        .bearer_get("/api/v1/audit?limit=5", Some(&token))
        .await
        .json();
    assert_eq!(audit[0]["action"], "application_removed");
    assert_eq!(audit[0]["actor"], format!("client {id}"));
    let openapi = app.bearer_get("/api/v1/openapi.json", None).await.json();
    assert_eq!(openapi["openapi"], "3.0.3");
}

pub(crate) async fn revoked_tokens_are_refused_and_introspection_says_so(app: &TestApp) {
    let (id, secret) = admin_client(app, &["clients:read"]).await;
    let token = token_for(app, &id, &secret, "grant_type=client_credentials").await;
    let introspect = |token: &str| {
        let basic = base64::engine::general_purpose::STANDARD.format_basic(&id, &secret);
        Request::builder()
            .method(Method::POST)
            .uri("/oauth2/introspect")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, format!("Basic {basic}"))
            .body(Body::from(format!("token={token}")))
            .unwrap()
    };
    let active = app.call(introspect(&token)).await.json();
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], id.as_str());
    let revoke = Request::builder()
        .method(Method::POST)
        .uri("/oauth2/revoke")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "token={token}&client_id={id}&client_secret={secret}"
        )))
        .unwrap();
    assert_eq!(app.call(revoke).await.status, StatusCode::OK);
    assert_eq!(
        app.call(introspect(&token)).await.json(),
        serde_json::json!({"active": false})
    );
    assert_eq!(
        app.bearer_get("/api/v1/clients", Some(&token)).await.json()["error"]["code"],
        401010
    );
    assert_eq!(
        app.call(introspect("garbage")).await.json(),
        serde_json::json!({"active": false})
    );
}
