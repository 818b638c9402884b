//! The token service end to end: a real OAuth client library gets tokens,
//! tokens verify from the JWKS document alone, every malformed request is a
//! 4xx with an RFC 6749 error, and the management API answers with the
//! contract §6 codes.

mod common;

use app::domain::accounts::Role;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::{http_client, BasicCredentials as _, TestApp};
use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey, Validation};
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};
use serde_json::Value;

#[path = "tokens/management.rs"]
mod management;
use management::*;

on_both_engines!(
    an_oauth_client_library_gets_tokens_with_basic_and_post,
    tokens_verify_from_the_jwks_alone,
    token_errors_follow_rfc_6749,
    malformed_token_requests_are_refused_with_4xx,
    the_v4_alias_takes_basic_only,
    failed_client_authentication_is_rate_limited,
    removed_clients_are_refused_at_once,
    clients_removed_by_another_node_are_refused_within_a_second,
    the_management_api_answers_with_spec_codes,
    the_management_api_manages_clients,
    revoked_tokens_are_refused_and_introspection_says_so,
    rotated_keys_overlap_until_old_tokens_expire,
    usage_is_recorded_in_batches,
    metadata_describes_the_endpoints,
);

async fn admin_client(app: &TestApp, scopes: &[&str]) -> (String, String) {
    let owner =
        match app::domain::accounts::find_user_by_email(&app.keyport.db, "owner@example.com")
            .await
            .unwrap()
        {
            Some(u) => u,
            None => app.user("owner@example.com", Role::DomainAdmin).await,
        };
    app.client(
        &owner,
        &format!("Client {}", app::domain::secrets::random_token(4)),
        scopes,
    )
    .await
}

async fn token_for(app: &TestApp, id: &str, secret: &str, form: &str) -> String {
    let response = app.token_request(Some((id, secret)), form).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    response.json()["access_token"].as_str().unwrap().to_owned()
}

async fn an_oauth_client_library_gets_tokens_with_basic_and_post(app: &TestApp) {
    let (id, secret) = admin_client(app, &["clients:read", "audit:read"]).await;
    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        let client = BasicClient::new(ClientId::new(id.clone()))
            .set_client_secret(ClientSecret::new(secret.clone()))
            .set_auth_type(auth.clone())
            .set_token_uri(TokenUrl::new("http://127.0.0.1:3000/oauth2/token".into()).unwrap());
        let http = http_client(app);
        let token = client
            .exchange_client_credentials()
            .add_scope(Scope::new("clients:read".into()))
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("{auth:?}: {e:?}"));
        assert_eq!(
            token.expires_in(),
            Some(std::time::Duration::from_secs(3600))
        );
        assert_eq!(token.scopes().unwrap()[0].as_str(), "clients:read");
        let api = app
            .bearer_get("/api/v1/clients", Some(token.access_token().secret()))
            .await;
        assert_eq!(api.status, StatusCode::OK, "{}", api.text);
    }
}

async fn tokens_verify_from_the_jwks_alone(app: &TestApp) {
    let (id, secret) = admin_client(app, &["clients:read", "audit:read"]).await;
    let response = app
        .token_request(Some((&id, &secret)), "grant_type=client_credentials")
        .await;
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body = response.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["scope"], "audit:read clients:read",
        "absent scope means all of the client's"
    );
    let token = body["access_token"].as_str().unwrap();

    let jwks: JwkSet =
        serde_json::from_str(&app.bearer_get("/.well-known/jwks.json", None).await.text).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, Algorithm::ES256);
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the token's key is published");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&["http://127.0.0.1:3000"]);
    validation.set_audience(&["http://127.0.0.1:3000"]);
    validation.validate_exp = false; // the test clock is in the future of the wall clock
    let claims: Value =
        jsonwebtoken::decode(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .unwrap()
            .claims;
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(
        claims["domain_id"],
        app.keyport.tenancy.default_domain_id.as_str()
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert_eq!(claims["nbf"], claims["iat"]);
    assert!(claims["jti"].as_str().unwrap().len() >= 32);
    assert!(!response.text.contains(&secret));
}

async fn token_errors_follow_rfc_6749(app: &TestApp) {
    let (id, secret) = admin_client(app, &["clients:read"]).await;
    let wrong = app
        .token_request(Some((&id, "kps_wrong")), "grant_type=client_credentials")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.header("www-authenticate"),
        Some("Basic realm=\"keyport\"")
    );
    assert_eq!(wrong.json()["error"], "invalid_client");
    assert!(!wrong.text.contains("kps_wrong"));

    let post = app
        .token_request(
            None,
            &format!("grant_type=client_credentials&client_id={id}&client_secret=nope"),
        )
        .await;
    assert_eq!(post.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        post.header("www-authenticate"),
        None,
        "no challenge when Basic was not used"
    );
    let unknown = app
        .token_request(
            Some(("no-such-client", "x")),
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.json()["error"].clone()),
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    let none = app
        .token_request(None, "grant_type=client_credentials")
        .await;
    assert_eq!(none.json()["error"], "invalid_client");

    for (form, status, error) in [
        ("grant_type=password", 400, "unsupported_grant_type"),
        ("", 400, "invalid_request"),
        (
            "grant_type=client_credentials&scope=clients:write",
            400,
            "invalid_scope",
        ),
        ("grant_type=client_credentials&scope=", 400, "invalid_scope"),
        (
            "grant_type=client_credentials&grant_type=client_credentials",
            400,
            "invalid_request",
        ),
    ] {
        let response = app.token_request(Some((&id, &secret)), form).await;
        assert_eq!(
            response.status.as_u16(),
            status,
            "{form}: {}",
            response.text
        );
        assert_eq!(response.json()["error"], error, "{form}");
        assert!(response.json()["error_description"].is_string());
    }
}

/// Not split: one table of malformed requests, walked by one loop.
async fn malformed_token_requests_are_refused_with_4xx(app: &TestApp) {
    let (id, secret) = admin_client(app, &["clients:read"]).await;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.format_basic(&id, &secret)
    );
    // (content type, Authorization, body, expected status)
    type Case<'a> = (Option<&'a str>, Option<String>, Vec<u8>, u16);
    let cases: Vec<Case> = vec![
        (
            Some("application/json"),
            Some(basic.clone()),
            br#"{"grant_type":"client_credentials"}"#.to_vec(),
            400,
        ),
        (
            None,
            Some(basic.clone()),
            b"grant_type=client_credentials".to_vec(),
            400,
        ),
        (
            Some("application/x-www-form-urlencoded"),
            Some(basic.clone()),
            b"grant_type=client_credentials&x=%FF%FE".to_vec(),
            400,
        ),
        (
            Some("application/x-www-form-urlencoded"),
            Some(basic.clone()),
            vec![0xC3, 0x28, b'=', b'1'],
            400,
        ),
        (
            Some("application/x-www-form-urlencoded"),
            Some(basic.clone()),
            format!(
                "grant_type=client_credentials&pad={}",
                "a".repeat(17 * 1024)
            )
            .into_bytes(),
            413,
        ),
        (
            Some("application/x-www-form-urlencoded"),
            Some("Basic %%%".into()),
            b"grant_type=client_credentials".to_vec(),
            401,
        ),
        (
            Some("application/x-www-form-urlencoded"),
            Some("Bearer abc".into()),
            b"grant_type=client_credentials".to_vec(),
            401,
        ),
        (
            Some("application/x-www-form-urlencoded"),
            Some(basic.clone()),
            format!("grant_type=client_credentials&client_id={id}&client_secret={secret}")
                .into_bytes(),
            400,
        ),
    ];
    for (content_type, authorization, body, status) in cases {
        let mut request = Request::builder().method(Method::POST).uri("/oauth2/token");
        if let Some(ct) = content_type {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        if let Some(auth) = &authorization {
            request = request.header(header::AUTHORIZATION, auth.as_str());
        }
        let response = app
            .call(request.body(Body::from(body.clone())).unwrap())
            .await;
        assert_eq!(
            response.status.as_u16(),
            status,
            "{content_type:?} {authorization:?}: {}",
            response.text
        );
        assert!(
            response.json()["error"].is_string(),
            "an RFC 6749 error body: {}",
            response.text
        );
    }
}

async fn the_v4_alias_takes_basic_only(app: &TestApp) {
    let (id, secret) = admin_client(app, &["clients:read"]).await;
    let basic = base64::engine::general_purpose::STANDARD.format_basic(&id, &secret);
    // The Symantec example: a form type, JSON asked for, an empty body.
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v4/oauth2/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .body(Body::empty())
        .unwrap();
    let response = app.call(request).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.json()["token_type"], "Bearer");
    // The MetaDefender Cloud example: Basic and nothing else.
    let bare = |path: &str| {
        Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Basic {basic}"))
            .body(Body::empty())
            .unwrap()
    };
    let response = app.call(bare("/v4/oauth2/token")).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.json()["token_type"], "Bearer");
    // RFC 6749's endpoint stays strict: a token request says its grant.
    let response = app.call(bare("/oauth2/token")).await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text
    );
    assert_eq!(response.json()["error"], "invalid_request");
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v4/oauth2/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("client_id={id}&client_secret={secret}")))
        .unwrap();
    let response = app.call(request).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.header("www-authenticate"),
        Some("Basic realm=\"keyport\"")
    );
}

/// Failures are counted per source address: past 100 in 5 minutes the
/// address is told to wait. (The right secret from anywhere else still
/// works: `attacks.rs`.)
async fn failed_client_authentication_is_rate_limited(app: &TestApp) {
    let (id, secret) = admin_client(app, &["clients:read"]).await;
    for _ in 0..100 {
        let response = app
            .token_request(Some((&id, "kps_guess")), "grant_type=client_credentials")
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    }
    let held = app
        .token_request(Some((&id, "kps_guess")), "grant_type=client_credentials")
        .await;
    assert_eq!(held.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(held.json()["error"], "temporarily_unavailable");
    assert!(held.header("retry-after").unwrap().parse::<u64>().unwrap() <= 300);
    app.clock.advance(301);
    assert_eq!(
        app.token_request(Some((&id, &secret)), "grant_type=client_credentials")
            .await
            .status,
        StatusCode::OK
    );
}

async fn clients_removed_by_another_node_are_refused_within_a_second(app: &TestApp) {
    let (id, secret) = admin_client(app, &["clients:read"]).await;
    token_for(app, &id, &secret, "grant_type=client_credentials").await;
    // Another node removes it, and this node does not hear of it: it may
    // answer from the row it read for FRESH_FOR_MS, and no longer.
    sqlx::query("DELETE FROM applications WHERE client_id = $1")
        .bind(&id)
        .execute(&app.keyport.db.pool)
        .await
        .unwrap();
    app.clock.advance(app::domain::cache::FRESH_FOR_MS / 1_000);
    let refused = app
        .token_request(Some((&id, &secret)), "grant_type=client_credentials")
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
}

async fn removed_clients_are_refused_at_once(app: &TestApp) {
    let (mut admin, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let app_id = admin.register("Short-lived").await;
    let credentials = admin
        .rpc("applications/reveal", &[("id", &app_id)])
        .await
        .json();
    let (id, secret) = (
        credentials["client_id"].as_str().unwrap(),
        credentials["client_secret"].as_str().unwrap(),
    );
    // Twice: the second is served from the verification cache.
    token_for(app, id, secret, "grant_type=client_credentials").await;
    let token = token_for(app, id, secret, "grant_type=client_credentials").await;
    assert_eq!(
        admin
            .rpc("applications/remove", &[("ids[0]", &app_id)])
            .await
            .status,
        StatusCode::OK
    );
    let refused = app
        .token_request(Some((id, secret)), "grant_type=client_credentials")
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let api = app.bearer_get("/api/v1/clients", Some(&token)).await;
    assert_eq!(
        api.json()["error"]["code"],
        401010,
        "a removed client's tokens stop working"
    );
}

async fn rotated_keys_overlap_until_old_tokens_expire(app: &TestApp) {
    let (id, secret) = admin_client(app, &["clients:read"]).await;
    let old = token_for(app, &id, &secret, "grant_type=client_credentials").await;
    let old_kid = jsonwebtoken::decode_header(&old).unwrap().kid.unwrap();
    let new_kid = app.keyport.rotate_signing_key().await.unwrap();
    let jwks = app.bearer_get("/.well-known/jwks.json", None).await.json();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "{kids:?}"
    );
    let new = token_for(app, &id, &secret, "grant_type=client_credentials").await;
    assert_eq!(
        jsonwebtoken::decode_header(&new).unwrap().kid.unwrap(),
        new_kid
    );
    assert_eq!(
        app.bearer_get("/api/v1/clients", Some(&old)).await.status,
        StatusCode::OK
    );

    app.clock.advance(3600 + 6);
    app.keyport.refresh_keys().await.unwrap();
    let jwks = app.bearer_get("/.well-known/jwks.json", None).await.json();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        kids,
        [new_kid.as_str()],
        "the retired key leaves once its tokens have expired"
    );
}

async fn usage_is_recorded_in_batches(app: &TestApp) {
    let (id, secret) = admin_client(app, &["clients:read"]).await;
    for _ in 0..3 {
        token_for(app, &id, &secret, "grant_type=client_credentials").await;
    }
    app.token_request(Some((&id, "kps_wrong")), "grant_type=client_credentials")
        .await;
    let before: Option<i64> =
        sqlx::query_scalar("SELECT last_used_at FROM applications WHERE client_id = $1")
            .bind(&id)
            .fetch_one(&app.keyport.db.pool)
            .await
            .unwrap();
    assert_eq!(before, None, "no write per token request");
    app.keyport.flush_usage().await.unwrap();
    let (last_used, issued, failed): (Option<i64>, i64, i64) = sqlx::query_as(
        "SELECT a.last_used_at, u.tokens_issued, u.auth_failures FROM applications a \
         JOIN usage_daily u ON u.application_id = a.id WHERE a.client_id = $1",
    )
    .bind(&id)
    .fetch_one(&app.keyport.db.pool)
    .await
    .unwrap();
    assert_eq!((last_used, issued, failed), (Some(app.keyport.now()), 3, 1));
}

async fn metadata_describes_the_endpoints(app: &TestApp) {
    let meta = app
        .bearer_get("/.well-known/oauth-authorization-server", None)
        .await
        .json();
    assert_eq!(meta["issuer"], "http://127.0.0.1:3000");
    assert_eq!(meta["token_endpoint"], "http://127.0.0.1:3000/oauth2/token");
    assert_eq!(
        meta["jwks_uri"],
        "http://127.0.0.1:3000/.well-known/jwks.json"
    );
    assert_eq!(
        meta["introspection_endpoint"],
        "http://127.0.0.1:3000/oauth2/introspect"
    );
    assert_eq!(
        meta["revocation_endpoint"],
        "http://127.0.0.1:3000/oauth2/revoke"
    );
    assert_eq!(
        meta["grant_types_supported"],
        serde_json::json!(["client_credentials", "authorization_code", "refresh_token"])
    );
    assert_eq!(
        meta["authorization_endpoint"],
        "http://127.0.0.1:3000/oauth2/authorize"
    );
    assert_eq!(
        meta["registration_endpoint"],
        "http://127.0.0.1:3000/oauth2/register"
    );
    assert_eq!(
        meta["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        meta["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        meta["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post", "none"]),
        "none: public clients"
    );
    assert!(meta["scopes_supported"]
        .as_array()
        .unwrap()
        .contains(&"clients:read".into()));
}
