//! Client authentication: guesses, proxies and stored hashes.

use super::*;

/// Client IDs are public: guessing with one, however much, must not shut
/// its integration out.
pub(crate) async fn a_right_secret_works_whatever_others_guessed(app: &TestApp) {
    let owner = app.user("owner@example.com", Role::DomainAdmin).await;
    let (id, secret) = app.client(&owner, "NAC gateway", &["clients:read"]).await;
    let mut last = None;
    for i in 0..150 {
        let guess = format!("kps_guess{i}");
        last = Some(
            token_from(app, "203.0.113.7", &[], &id, &guess)
                .await
                .status,
        );
    }
    assert_eq!(
        last,
        Some(StatusCode::TOO_MANY_REQUESTS),
        "the guessing address is held back"
    );
    let integration = token_from(app, "198.51.100.20", &[], &id, &secret).await;
    assert_eq!(integration.status, StatusCode::OK, "{}", integration.text);
}

/// Behind a load balancer every peer is the balancer: only its word for
/// the client's address counts, and only if it is trusted.
pub(crate) async fn forwarding_headers_count_only_from_trusted_proxies(app: &TestApp) {
    let owner = app.user("owner@example.com", Role::DomainAdmin).await;
    let (id, secret) = app.client(&owner, "VPN gateway", &["clients:read"]).await;
    let attacker = [("x-forwarded-for", "203.0.113.7")];
    for i in 0..150 {
        token_from(app, "10.0.0.5", &attacker, &id, &format!("kps_{i}")).await;
    }
    assert_eq!(
        token_from(app, "10.0.0.5", &attacker, &id, "kps_x")
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
    let behind_the_same_proxy = [("x-forwarded-for", "198.51.100.20")];
    let ok = token_from(app, "10.0.0.5", &behind_the_same_proxy, &id, &secret).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);

    // The audit log names the client behind the proxy, and never an address
    // a stranger made up.
    for (peer, claimed) in [("10.0.0.5", "203.0.113.9"), ("192.0.2.50", "1.1.1.1")] {
        let mut browser = app.browser();
        browser.address = address(peer);
        let request = Request::post("/rpc/sign_in")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, ORIGIN)
            .header("x-forwarded-for", claimed)
            .body(Body::from(encode(&[
                ("email", "owner@example.com"),
                ("password", "wrong password!!"),
            ])))
            .unwrap();
        assert_eq!(browser.send(request).await.status, StatusCode::UNAUTHORIZED);
    }
    let addresses: Vec<String> = audit_actions(app, "sign_in_failed")
        .await
        .into_iter()
        .map(|(_, address)| address)
        .collect();
    assert_eq!(addresses, ["203.0.113.9", "192.0.2.50"]);
}

/// A proxy appends the client's address to the header it writes and
/// passes the other one on as the client sent it: a client that makes up
/// the other header names nobody, and its budget stays its own. Run with
/// `KEYPORT_PROXY_HEADERS` as each value.
pub(crate) async fn forged_forwarding_headers_name_nobody(app: &TestApp) {
    use keyport::config::ProxyHeader;
    let owner = app.user("owner@example.com", Role::DomainAdmin).await;
    let (id, secret) = app.client(&owner, "VPN gateway", &["clients:read"]).await;
    let (written, forged) = match app.config.proxy_headers {
        ProxyHeader::XForwarded => ("x-forwarded-for", "forwarded"),
        ProxyHeader::Forwarded => ("forwarded", "x-forwarded-for"),
    };
    let real = match app.config.proxy_headers {
        ProxyHeader::XForwarded => "203.0.113.7".to_owned(),
        ProxyHeader::Forwarded => "for=203.0.113.7".to_owned(),
    };
    let guesses = join_all((0..120).map(|i| {
        let made_up = match app.config.proxy_headers {
            ProxyHeader::XForwarded => format!("for=192.0.2.{i}"),
            ProxyHeader::Forwarded => format!("192.0.2.{i}"),
        };
        let (id, real) = (id.clone(), real.clone());
        async move {
            token_from(
                app,
                "10.0.0.5",
                &[(forged, &made_up), (written, &real)],
                &id,
                &format!("kps_{i}"),
            )
            .await
            .status
        }
    }))
    .await;
    // A burst in flight may pass the budget by its own size (it is
    // checked before and counted after); every failure counts against the
    // real address, whatever the made-up header said.
    assert!(guesses
        .iter()
        .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS));
    let next = token_from(
        app,
        "10.0.0.5",
        &[(forged, "for=192.0.2.200"), (written, &real)],
        &id,
        "kps_x",
    )
    .await;
    assert_eq!(next.status, StatusCode::TOO_MANY_REQUESTS, "{}", next.text);
    // Another client behind the same proxy is not.
    let other = match app.config.proxy_headers {
        ProxyHeader::XForwarded => "198.51.100.20",
        ProxyHeader::Forwarded => "for=198.51.100.20",
    };
    let ok = token_from(app, "10.0.0.5", &[(written, other)], &id, &secret).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
}

pub(crate) async fn forged_forwarding_headers_name_nobody_behind_an_rfc_7239_proxy(app: &TestApp) {
    forged_forwarding_headers_name_nobody(app).await;
}

/// Secrets stored as argon2id before keyed hashes still work, and each is
/// replaced by its keyed hash: at start from its sealed copy, or when next
/// presented.
pub(crate) async fn argon2_secret_hashes_are_upgraded_to_keyed_hashes(app: &TestApp) {
    let owner = app.user("owner@example.com", Role::DomainAdmin).await;
    let (id, secret) = app.client(&owner, "Reporting", &["clients:read"]).await;
    let stored = || async {
        sqlx::query_scalar::<_, String>("SELECT secret_hash FROM applications WHERE client_id = $1")
            .bind(&id)
            .fetch_one(&app.keyport.db.pool)
            .await
            .unwrap()
    };
    assert!(stored().await.starts_with("hmac-sha256$"));
    let legacy = app
        .keyport
        .hasher
        .hash(ClientSecret::new(secret.clone()))
        .await
        .unwrap();
    let set_legacy = || async {
        app.keyport
            .db
            .write_one(
                sqlx::query("UPDATE applications SET secret_hash = $1 WHERE client_id = $2")
                    .bind(&legacy)
                    .bind(&id),
            )
            .await
            .unwrap();
    };

    set_legacy().await;
    let wrong = token_from(app, "198.51.100.20", &[], &id, "kps_wrong").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        stored().await.starts_with("$argon2id$"),
        "a wrong secret changes nothing"
    );
    let first = token_from(app, "198.51.100.20", &[], &id, &secret).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert!(
        stored().await.starts_with("hmac-sha256$"),
        "upgraded on use"
    );
    assert_eq!(
        token_from(app, "198.51.100.20", &[], &id, &secret)
            .await
            .status,
        StatusCode::OK
    );

    set_legacy().await;
    let node = app.second_node().await;
    assert!(
        stored().await.starts_with("hmac-sha256$"),
        "upgraded at start"
    );
    node.keyport.db.pool.close().await;
}
