//! Smaller findings, each real: reveal links, RS256, redirects, sessions, cookies.

use super::*;

/// Any site can make an admin's browser follow a link; only a POST reveals.
pub(crate) async fn a_link_cannot_reveal_a_secret(app: &TestApp) {
    let (mut admin, _) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    let id = admin.register("Reporting").await;
    for path in [
        format!("/applications?reveal={id}"),
        format!("/applications/{id}?reveal=client_secret"),
    ] {
        let page = admin.get(&path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.text.contains("kps_"), "{path} shows no secret");
    }
    assert!(audit_actions(app, "secret_revealed").await.is_empty());

    // Without JavaScript the Show button posts, and the page it returns to
    // shows the secret once.
    let list = admin.get("/applications").await;
    assert!(list
        .text
        .contains(r#"formaction="/rpc/applications/reveal""#));
    let posted = admin
        .form_post("applications/reveal", &[("id", &id)], "/applications")
        .await;
    assert_eq!(posted.status, StatusCode::FOUND, "{}", posted.text);
    let shown = admin.get("/applications").await;
    assert!(shown.text.contains("kps_"), "shown once");
    assert_eq!(shown.header("cache-control"), Some("no-store"));
    assert!(
        !admin.get("/applications").await.text.contains("kps_"),
        "once"
    );
    let page = format!("/applications/{id}");
    admin
        .form_post(
            "applications/reveal",
            &[("id", &id), ("row", "client_secret")],
            &page,
        )
        .await;
    assert!(admin.get(&page).await.text.contains("kps_"));
    assert_eq!(audit_actions(app, "secret_revealed").await.len(), 2);
}

pub(crate) async fn rs256_tokens_verify_with_the_published_key(app: &TestApp) {
    let owner = app.user("owner@example.com", Role::DomainAdmin).await;
    let (id, secret) = app.client(&owner, "Legacy API", &["clients:read"]).await;
    for _ in 0..2 {
        let issued = token_from(app, "198.51.100.20", &[], &id, &secret).await;
        assert_eq!(issued.status, StatusCode::OK, "{}", issued.text);
        let token = issued.json()["access_token"].as_str().unwrap().to_owned();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(
            &app.call(
                Request::get("/.well-known/jwks.json")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .text,
        )
        .unwrap();
        let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
        assert!(matches!(
            jwk.algorithm,
            jsonwebtoken::jwk::AlgorithmParameters::RSA(_)
        ));
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[app.keyport.audience()]);
        validation.set_issuer(&[app.keyport.issuer_id()]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(claims["client_id"], id.as_str());
        // And once more after a rotation, with a new RSA key.
        app.keyport.rotate_signing_key().await.unwrap();
    }
}

/// curl and uptime monitors do not ask for HTML; they get a redirect all
/// the same, not a sign-in page with status 200.
pub(crate) async fn signed_out_page_requests_are_redirected_whoever_asks(app: &TestApp) {
    for accept in ["*/*", "text/html"] {
        let request = Request::get("/applications")
            .header(header::ACCEPT, accept)
            .body(Body::empty())
            .unwrap();
        let response = app.call(request).await;
        assert!(
            matches!(response.status, StatusCode::FOUND | StatusCode::SEE_OTHER),
            "{accept}: {}",
            response.status
        );
        assert!(response
            .header("location")
            .is_some_and(|l| l.starts_with("/login")));
    }
}

pub(crate) async fn sessions_end_at_their_absolute_lifetime(app: &TestApp) {
    let (mut browser, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    for _ in 0..11 {
        app.clock.advance(3600);
        assert_eq!(
            browser.rpc("viewer", &[]).await.json()["email"],
            "admin@example.com",
            "active within 12 hours"
        );
    }
    app.clock.advance(3601);
    assert_eq!(
        browser.rpc("viewer", &[]).await.json(),
        serde_json::Value::Null
    );
}

pub(crate) async fn https_deployments_keep_cookies_to_their_host_and_ask_for_tls(app: &TestApp) {
    app.user("admin@example.com", Role::SuperAdmin).await;
    let mut browser = app.browser();
    let signed_in = browser
        .rpc_from(
            "sign_in",
            &[("email", "admin@example.com"), ("password", PASSWORD)],
            Some("https://keyport.example"),
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.text);
    let cookies: Vec<&str> = signed_in
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    for name in ["__Host-keyport_session=", "__Host-keyport_device="] {
        let cookie = cookies
            .iter()
            .find(|c| c.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {cookies:?}"));
        assert!(
            cookie.contains("Secure") && cookie.contains("Path=/"),
            "{cookie}"
        );
        assert!(!cookie.contains("Domain="), "{cookie}");
    }
    assert_eq!(
        signed_in.header("strict-transport-security"),
        Some("max-age=31536000")
    );
}

/// A copy of the session table (a backup, a replica) gives nobody a way in.
pub(crate) async fn the_session_table_holds_nothing_that_works_as_a_credential(app: &TestApp) {
    let (mut admin, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let cookie = admin.cookie.clone().unwrap();
    let session_id = cookie
        .split("; ")
        .find_map(|c| c.strip_prefix("keyport_session="))
        .unwrap()
        .to_owned();
    let created = admin
        .form_post(
            "users/create",
            &[("email", "new@example.com"), ("role", "member")],
            "/users",
        )
        .await;
    assert_eq!(created.status, StatusCode::FOUND, "{}", created.text);
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT id, data FROM sessions")
        .fetch_all(&app.keyport.db.pool)
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for (id, data) in &rows {
        assert_ne!(id, &session_id, "stored under a digest of the id");
        let data = String::from_utf8_lossy(data);
        assert!(!data.contains("welcome?token="), "{data}");
    }
    // The link is still shown to the admin, once.
    let page = admin.get("/users").await;
    assert!(page.text.contains("welcome?token="));

    // A refused setup post without JavaScript keeps no setup token.
    let mut visitor = app.browser();
    visitor
        .form_post(
            "setup",
            &[
                ("token", "a-guessed-setup-token"),
                ("email", "x@example.com"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
            "/setup",
        )
        .await;
    let data: Vec<Vec<u8>> = sqlx::query_scalar("SELECT data FROM sessions")
        .fetch_all(&app.keyport.db.pool)
        .await
        .unwrap();
    assert!(data
        .iter()
        .all(|d| !String::from_utf8_lossy(d).contains("a-guessed-setup-token")));
}

/// A page and the site's files served at the same moment each keep their
/// own headers: the page its Content-Security-Policy with the nonce its
/// scripts carry (without it the portal never comes alive), a file none of
/// the page's.
pub(crate) async fn pages_keep_their_headers_while_files_are_served(app: &TestApp) {
    let (mut admin, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let id = admin.register("Gateway").await;
    let site = app.config.master_key_file.parent().unwrap().join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(site.join("pkg/keyport.css"), "body { margin: 0 }").unwrap();
    let mut state = app.state.clone();
    state.leptos_options = leptos::config::LeptosOptions::builder()
        .output_name("keyport")
        .site_root(site.to_str().unwrap())
        .site_pkg_dir("pkg")
        .build();
    let router = keyport::router(state);
    let get = |path: String| {
        let router = router.clone();
        let request = Request::builder()
            .uri(path)
            .header(header::ACCEPT, "text/html")
            .header(header::COOKIE, admin.cookie.clone().unwrap())
            .body(Body::empty())
            .unwrap();
        async move { tower::ServiceExt::oneshot(router, request).await.unwrap() }
    };
    // Polled together on one thread, as a busy node serves them.
    let answers = join_all((0..40).map(|i| {
        if i % 2 == 0 {
            get(format!("/applications/{id}"))
        } else {
            get("/pkg/keyport.css".to_owned())
        }
    }))
    .await;
    for (i, answer) in answers.iter().enumerate() {
        let csp = answer
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if i % 2 == 0 {
            assert_eq!(answer.status(), StatusCode::OK);
            assert!(csp.contains("'nonce-"), "page {i}: {csp}");
        } else {
            assert_eq!(answer.status(), StatusCode::OK);
            assert!(!csp.contains("'nonce-"), "file {i}: {csp}");
            assert!(answer.headers().get(header::SET_COOKIE).is_none());
        }
    }
}
