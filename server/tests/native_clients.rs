//! Native tools and agents: a public client signs its user in with PKCE on
//! a loopback port, keeps a refresh token that rotates on every use, and
//! loses the whole grant when a spent token comes back. The `oauth2` crate
//! plays the tool; a cookie-keeping browser plays the user.

mod common;
mod process;

use app::domain::accounts::{Role, User};
use app::domain::authorization::REUSE_GRACE;
use app::domain::validate::ApplicationInput;
use axum::http::StatusCode;
use common::authorize::{access, decide, location, param, path_and_query};
use common::{encode, http_client, Browser, TestApp};
use oauth2::basic::{BasicClient, BasicTokenResponse};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RevocationUrl, Scope,
    TokenResponse, TokenUrl,
};

on_both_engines!(
    a_public_client_signs_in_with_pkce_on_any_loopback_port,
    a_public_client_has_no_secret_and_no_client_credentials,
    refresh_tokens_rotate_and_a_reused_one_ends_the_grant,
    racing_refreshes_get_one_successor_on_one_node_or_two,
    refresh_tokens_expire_unused_and_in_all,
    refresh_follows_consent_and_the_user,
    refresh_tokens_come_only_when_asked_for_and_allowed,
    revoking_a_refresh_token_ends_its_grant,
    automation_registers_public_clients_with_refresh_tokens,
    a_replayed_code_revokes_the_refresh_tokens_it_gave,
    a_callback_port_out_of_range_is_a_bad_request,
    refreshes_racing_a_revocation_leave_no_live_token,
    a_family_rotates_at_a_bounded_rate_and_keeps_bounded_rows,
);

/// The loopback callback a native tool registers, without a port.
const REGISTERED: &str = "http://127.0.0.1/callback";
/// Where it listens this time: whichever port the system gave it.
const LISTENING: &str = "http://127.0.0.1:53124/callback";

type Tool = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointSet, EndpointSet>;

/// A public application with refresh tokens as `refresh` says, owned by a
/// domain admin, and the OAuth library configured as the tool.
async fn native_tool(app: &TestApp, refresh: bool) -> (String, Tool) {
    let owner = app
        .user("vendor-admin@example.com", Role::DomainAdmin)
        .await;
    let domain = app::domain::tenancy::find_domain(&app.keyport.db, &owner.domain_id)
        .await
        .unwrap()
        .unwrap();
    let input = ApplicationInput {
        name: "Agent CLI".into(),
        permissions: vec!["clients:read".into(), "audit:read".into()],
        callback_url: REGISTERED.into(),
        public: true,
        refresh_tokens: refresh,
        ..Default::default()
    };
    let (registered, credentials) = app
        .keyport
        .register_application(&access(&owner), &domain, input)
        .await
        .unwrap();
    assert!(credentials.is_none(), "a public client gets no secret");
    let origin = common::ORIGIN;
    let tool = BasicClient::new(ClientId::new(registered.client_id.to_string()))
        .set_auth_uri(AuthUrl::new(format!("{origin}/oauth2/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(format!("{origin}/oauth2/token")).unwrap())
        .set_revocation_url(RevocationUrl::new(format!("{origin}/oauth2/revoke")).unwrap())
        .set_redirect_uri(RedirectUrl::new(LISTENING.into()).unwrap());
    (registered.client_id.to_string(), tool)
}

/// The user approves `scopes` for the tool in the browser; the tool
/// exchanges the code with its verifier.
async fn sign_in(
    app: &TestApp,
    browser: &mut Browser<'_>,
    tool: &Tool,
    scopes: &[&str],
) -> BasicTokenResponse {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = tool
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge);
    for scope in scopes {
        request = request.add_scope(Scope::new((*scope).into()));
    }
    let (url, state) = request.url();
    let path = path_and_query(&url);
    let page = browser.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let back = location(&decide(browser, &path, "approve").await);
    assert!(back.as_str().starts_with(LISTENING), "{back}");
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(state.secret().as_str())
    );
    let code = param(&back, "code").expect("a code at the loopback callback");
    tool.exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http_client(app))
        .await
        .expect("the tool exchanges its code without a secret")
}

/// `sign_in` asking to stay connected (`offline_access`) with the
/// permission every test asks for.
async fn stay_connected(
    app: &TestApp,
    browser: &mut Browser<'_>,
    tool: &Tool,
) -> BasicTokenResponse {
    sign_in(app, browser, tool, &["clients:read", "offline_access"]).await
}

async fn refresh(app: &TestApp, tool: &Tool, token: &str) -> BasicTokenResponse {
    tool.exchange_refresh_token(&RefreshToken::new(token.into()))
        .request_async(&http_client(app))
        .await
        .expect("the refresh token is exchanged")
}

/// A refresh by hand, so that a refusal can be read as the RFC words it.
async fn refresh_by_hand(app: &TestApp, client_id: &str, token: &str) -> common::Response {
    app.token_request(
        None,
        &encode(&[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", token),
        ]),
    )
    .await
}

fn refused_with(response: &common::Response, error: &str) {
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text
    );
    assert_eq!(response.json()["error"], error, "{}", response.text);
}

async fn accepted(app: &TestApp, access_token: &str) -> bool {
    let answer = app.bearer_get("/api/v1/clients", Some(access_token)).await;
    answer.status == StatusCode::OK
}

async fn signed_in_user(app: &TestApp) -> (Browser<'_>, User) {
    app.signed_in("operator@example.com", Role::DomainAdmin)
        .await
}

async fn a_public_client_signs_in_with_pkce_on_any_loopback_port(app: &TestApp) {
    let (client_id, tool) = native_tool(app, false).await;
    let (mut browser, user) = signed_in_user(app).await;
    let token = sign_in(app, &mut browser, &tool, &["clients:read"]).await;
    let claims = app
        .keyport
        .verify_access_token(token.access_token().secret())
        .await
        .unwrap();
    assert_eq!(
        (claims.sub.as_str(), claims.client_id.as_str()),
        (user.id.as_str(), client_id.as_str())
    );
    assert!(accepted(app, token.access_token().secret()).await);

    // Another run of the tool, on another port: the consent holds.
    let other_port = tool
        .clone()
        .set_redirect_uri(RedirectUrl::new("http://127.0.0.1:40001/callback".into()).unwrap());
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = other_port
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .add_scope(Scope::new("clients:read".into()))
        .url();
    let again = browser.get(&path_and_query(&url)).await;
    assert!(
        matches!(
            again.status,
            StatusCode::FOUND | StatusCode::SEE_OTHER | StatusCode::OK
        ),
        "{}",
        again.text
    );
    if again.status != StatusCode::OK {
        assert!(location(&again)
            .as_str()
            .starts_with("http://127.0.0.1:40001/callback"));
    } else {
        assert!(
            !again.text.contains("is asking to act for you"),
            "not asked again"
        );
    }

    // Only the port moves: another path, host or scheme is not the callback.
    for other in [
        "http://127.0.0.1:53124/callback/other",
        "http://localhost:53124/callback",
        "https://127.0.0.1:53124/callback",
        "http://127.0.0.2:53124/callback",
    ] {
        let moved = tool
            .clone()
            .set_redirect_uri(RedirectUrl::new(other.into()).unwrap());
        let (challenge, _) = PkceCodeChallenge::new_random_sha256();
        let (url, _) = moved
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .url();
        let page = browser.get(&path_and_query(&url)).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{other}: {}",
            page.text
        );
        assert!(
            page.text.contains("not the callback URL registered"),
            "{other}"
        );
    }
}

async fn a_public_client_has_no_secret_and_no_client_credentials(app: &TestApp) {
    let (client_id, _) = native_tool(app, true).await;
    let form = encode(&[
        ("grant_type", "client_credentials"),
        ("client_id", &client_id),
    ]);
    let answer = app.token_request(None, &form).await;
    refused_with(&answer, "unauthorized_client");

    // A secret presented for a public client is not its own.
    let basic = app
        .token_request(
            Some((&client_id, "kps_guess")),
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    assert_eq!(basic.json()["error"], "invalid_client");

    // It cannot introspect.
    let introspect = app
        .call(
            axum::http::Request::post("/oauth2/introspect")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(encode(&[
                    ("client_id", &client_id),
                    ("token", "anything"),
                ])))
                .unwrap(),
        )
        .await;
    assert_eq!(
        introspect.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        introspect.text
    );

    // A confidential client cannot leave its secret out.
    let owner = app.user("other@example.com", Role::DomainAdmin).await;
    let (confidential, _) = app
        .client_with_callback(&owner, "Gateway", &["clients:read"], REGISTERED)
        .await;
    let form = encode(&[
        ("grant_type", "client_credentials"),
        ("client_id", &confidential),
    ]);
    let answer = app.token_request(None, &form).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);

    // Nothing to reveal or rotate; the portal and the API say so.
    let (mut browser, admin) = signed_in_user(app).await;
    let id = app.application_id(&client_id).await;
    let reveal = app
        .keyport
        .reveal_credentials(&access(&admin), &id)
        .await
        .unwrap_err();
    assert!(
        format!("{reveal:?}").contains("no client secret"),
        "{reveal:?}"
    );
    let page = browser.get(&format!("/applications/{id}")).await;
    assert!(page.text.contains("None: public client"), "{}", page.text);
    assert!(!page.text.contains("Rotate secret"));

    // The metadata says how public clients authenticate.
    let metadata = app
        .bearer_get("/.well-known/oauth-authorization-server", None)
        .await
        .json();
    let methods = metadata["token_endpoint_auth_methods_supported"].to_string();
    assert!(methods.contains("\"none\""), "{methods}");
    assert!(metadata["grant_types_supported"]
        .to_string()
        .contains("refresh_token"));
    assert!(metadata["scopes_supported"]
        .to_string()
        .contains("offline_access"));
}

async fn refresh_tokens_rotate_and_a_reused_one_ends_the_grant(app: &TestApp) {
    let (client_id, tool) = native_tool(app, true).await;
    let (mut browser, user) = signed_in_user(app).await;
    let first = stay_connected(app, &mut browser, &tool).await;
    let scopes: Vec<String> = first
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        scopes,
        ["clients:read"],
        "offline_access is not a permission of the token"
    );
    let r1 = first
        .refresh_token()
        .expect("offline_access brings a refresh token");
    assert!(
        r1.secret().starts_with("kpr_"),
        "recognisable by secret scanners"
    );

    let second = refresh(app, &tool, r1.secret()).await;
    let r2 = second
        .refresh_token()
        .expect("a successor")
        .secret()
        .clone();
    assert_ne!(&r2, r1.secret(), "every use rotates");
    assert!(accepted(app, second.access_token().secret()).await);
    app.clock.advance(5);
    let third = refresh(app, &tool, &r2).await;
    let r3 = third.refresh_token().unwrap().secret().clone();
    // Connected apps shows when and from where the grant was last used.
    let families = app.keyport.refresh_families(&user).await.unwrap();
    assert_eq!(families.len(), 1);
    assert_eq!(families[0].last_used_at, app.keyport.now());
    assert_eq!(families[0].last_address, "10.20.0.1");

    // r1 comes back long after it was spent: somebody else holds it.
    app.clock.advance(REUSE_GRACE + 1);
    let reused = refresh_by_hand(app, &client_id, r1.secret()).await;
    refused_with(&reused, "invalid_grant");
    assert!(reused.text.contains("already used"), "{}", reused.text);
    let current = refresh_by_hand(app, &client_id, &r3).await;
    refused_with(&current, "invalid_grant");
    for access in [&first, &second, &third] {
        assert!(
            !accepted(app, access.access_token().secret()).await,
            "every access token of the grant is revoked"
        );
    }
    let audit = app::domain::audit::search(&app.keyport.db, &Default::default(), 20)
        .await
        .unwrap();
    assert!(audit.iter().any(|e| e.action == "refresh_token_reused"));
    assert!(
        audit.iter().all(|e| {
            let text = format!("{:?} {:?}", e.detail, e.target);
            !text.contains("kpr_")
        }),
        "no refresh token in the audit log"
    );
}

async fn racing_refreshes_get_one_successor_on_one_node_or_two(app: &TestApp) {
    let (client_id, tool) = native_tool(app, true).await;
    let (mut browser, _) = signed_in_user(app).await;
    let first = stay_connected(app, &mut browser, &tool).await;
    let r1 = first.refresh_token().unwrap().secret().clone();
    let other = keyport::router(app.second_node().await);
    let form = encode(&[
        ("grant_type", "refresh_token"),
        ("client_id", &client_id),
        ("refresh_token", &r1),
    ]);
    let mut answers = Vec::new();
    let mut calls = Vec::new();
    for n in 0..8 {
        let (form, other) = (form.clone(), other.clone());
        let here = app.router.clone();
        calls.push(tokio::spawn(async move {
            use tower::ServiceExt as _;
            let router = if n % 2 == 0 { here } else { other };
            let response = router.oneshot(post("/oauth2/token", form)).await.unwrap();
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .unwrap();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            )
        }));
    }
    for call in calls {
        answers.push(call.await.unwrap());
    }
    let successors: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, StatusCode::OK, "{body}");
            body["refresh_token"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        successors.len(),
        1,
        "one successor for every racer: {successors:?}"
    );
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens")
        .fetch_one(&app.keyport.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 2, "the first token and its one successor");
    let next = successors.into_iter().next().unwrap();
    assert_eq!(
        refresh_by_hand(app, &client_id, &next).await.status,
        StatusCode::OK
    );
}

async fn refresh_tokens_expire_unused_and_in_all(app: &TestApp) {
    let (client_id, tool) = native_tool(app, true).await;
    let (mut browser, _) = signed_in_user(app).await;
    let days = 86_400;

    // Unused for more than 7 days.
    let first = stay_connected(app, &mut browser, &tool).await;
    app.clock.advance(7 * days + 1);
    let stale = refresh_by_hand(app, &client_id, first.refresh_token().unwrap().secret()).await;
    refused_with(&stale, "invalid_grant");
    assert!(stale.text.contains("expired"), "{}", stale.text);

    // Used every 6 days, it still ends 30 days after the approval.
    let (mut browser, _) = app.signed_in("second@example.com", Role::DomainAdmin).await;
    let fresh = stay_connected(app, &mut browser, &tool).await;
    let mut token = fresh.refresh_token().unwrap().secret().clone();
    for _ in 0..4 {
        app.clock.advance(6 * days);
        token = refresh(app, &tool, &token)
            .await
            .refresh_token()
            .unwrap()
            .secret()
            .clone();
    }
    app.clock.advance(6 * days + 1);
    let ended = refresh_by_hand(app, &client_id, &token).await;
    refused_with(&ended, "invalid_grant");
    assert!(ended.text.contains("expired"), "{}", ended.text);
}

async fn refresh_follows_consent_and_the_user(app: &TestApp) {
    let (client_id, tool) = native_tool(app, true).await;
    let (mut browser, user) = signed_in_user(app).await;
    let granted = sign_in(
        app,
        &mut browser,
        &tool,
        &["clients:read", "audit:read", "offline_access"],
    )
    .await;
    let token = granted.refresh_token().unwrap().secret().clone();

    // Narrowing is allowed, widening is not (RFC 6749 §6).
    let narrowed = tool
        .exchange_refresh_token(&RefreshToken::new(token.clone()))
        .add_scope(Scope::new("audit:read".into()))
        .request_async(&http_client(app))
        .await
        .unwrap();
    assert_eq!(narrowed.scopes().unwrap()[0].as_str(), "audit:read");
    let token = narrowed.refresh_token().unwrap().secret().clone();
    let wider = app
        .token_request(
            None,
            &encode(&[
                ("grant_type", "refresh_token"),
                ("client_id", &client_id),
                ("refresh_token", &token),
                ("scope", "clients:write"),
            ]),
        )
        .await;
    refused_with(&wider, "invalid_scope");

    // Disconnecting in Connected apps ends the grant.
    let listed = browser.rpc("connections/list", &[]).await;
    assert!(listed.text.contains("\"kept\":[{"), "{}", listed.text);
    let id = app.application_id(&client_id).await;
    app.keyport.disconnect(&access(&user), &id).await.unwrap();
    refused_with(
        &refresh_by_hand(app, &client_id, &token).await,
        "invalid_grant",
    );
    assert!(!accepted(app, narrowed.access_token().secret()).await);

    // Disabling the user ends it too, and enabling them does not bring it back.
    let again = stay_connected(app, &mut browser, &tool).await;
    let token = again.refresh_token().unwrap().secret().clone();
    let admin = app.user("boss@example.com", Role::SuperAdmin).await;
    for disabled in [true, false] {
        app.keyport
            .set_disabled(&access(&admin), &user.id, disabled)
            .await
            .unwrap();
    }
    refused_with(
        &refresh_by_hand(app, &client_id, &token).await,
        "invalid_grant",
    );

    // A permission taken from the application ends it: the user approved
    // the application as it was.
    let (mut browser, _) = app.signed_in("second@example.com", Role::DomainAdmin).await;
    let again = stay_connected(app, &mut browser, &tool).await;
    let token = again.refresh_token().unwrap().secret().clone();
    let owner =
        app::domain::accounts::find_user_by_email(&app.keyport.db, "vendor-admin@example.com")
            .await
            .unwrap()
            .unwrap();
    let input = ApplicationInput {
        name: "Agent CLI".into(),
        permissions: vec!["audit:read".into()],
        callback_url: REGISTERED.into(),
        refresh_tokens: true,
        ..Default::default()
    };
    app.keyport
        .update_application(&access(&owner), &id, input)
        .await
        .unwrap();
    refused_with(
        &refresh_by_hand(app, &client_id, &token).await,
        "invalid_grant",
    );

    // Removing the application ends everything it held.
    let again = sign_in(app, &mut browser, &tool, &["audit:read", "offline_access"]).await;
    let token = again.refresh_token().unwrap().secret().clone();
    app.keyport
        .remove_applications(&access(&owner), &[id])
        .await
        .unwrap();
    let gone = refresh_by_hand(app, &client_id, &token).await;
    assert_eq!(
        gone.status,
        StatusCode::UNAUTHORIZED,
        "the client is gone: {}",
        gone.text
    );
}

async fn refresh_tokens_come_only_when_asked_for_and_allowed(app: &TestApp) {
    let (_, tool) = native_tool(app, false).await;
    let (mut browser, _) = signed_in_user(app).await;
    let not_allowed = stay_connected(app, &mut browser, &tool).await;
    assert!(
        not_allowed.refresh_token().is_none(),
        "the application may not have them"
    );

    let (mut browser, _) = app.signed_in("second@example.com", Role::DomainAdmin).await;
    let owner =
        app::domain::accounts::find_user_by_email(&app.keyport.db, "vendor-admin@example.com")
            .await
            .unwrap()
            .unwrap();
    let id = app.application_id(tool.client_id().as_str()).await;
    let input = ApplicationInput {
        name: "Agent CLI".into(),
        permissions: vec!["clients:read".into(), "audit:read".into()],
        callback_url: REGISTERED.into(),
        refresh_tokens: true,
        ..Default::default()
    };
    app.keyport
        .update_application(&access(&owner), &id, input)
        .await
        .unwrap();
    let not_asked = sign_in(app, &mut browser, &tool, &["clients:read"]).await;
    assert!(
        not_asked.refresh_token().is_none(),
        "the tool did not ask for offline_access"
    );
    let asked = stay_connected(app, &mut browser, &tool).await;
    assert!(asked.refresh_token().is_some());
}

async fn revoking_a_refresh_token_ends_its_grant(app: &TestApp) {
    let (client_id, tool) = native_tool(app, true).await;
    let (mut browser, _) = signed_in_user(app).await;
    let granted = stay_connected(app, &mut browser, &tool).await;
    let token = granted.refresh_token().unwrap().clone();
    // RFC 7009 §2.1 by hand: the library refuses a revocation URL over
    // plain http, which is what a test server has.
    let revoked = app
        .call(
            axum::http::Request::post("/oauth2/revoke")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(encode(&[
                    ("token", token.secret()),
                    ("token_type_hint", "refresh_token"),
                    ("client_id", &client_id),
                ])))
                .unwrap(),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    refused_with(
        &refresh_by_hand(app, &client_id, token.secret()).await,
        "invalid_grant",
    );
    assert!(
        !accepted(app, granted.access_token().secret()).await,
        "the access token of the same grant goes too"
    );
}

async fn automation_registers_public_clients_with_refresh_tokens(app: &TestApp) {
    let owner = app.user("automation@example.com", Role::DomainAdmin).await;
    let (id, secret) = app
        .client(&owner, "Automation", &["clients:read", "clients:write"])
        .await;
    let token = app
        .token_request(Some((&id, &secret)), "grant_type=client_credentials")
        .await
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let post = |path: &str, body: &str| {
        axum::http::Request::post(path)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_owned()))
            .unwrap()
    };
    let created = app
        .call(post(
            "/api/v1/clients",
            r#"{"name":"Agent","permissions":["clients:read"],"callback_url":"http://127.0.0.1/cb","public":true,"refresh_tokens":true,"refresh_idle_seconds":86400}"#,
        ))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let created = created.json();
    assert!(created.get("client_secret").is_none(), "{created}");
    assert_eq!(
        (
            created["public"].as_bool(),
            created["refresh_tokens"].as_bool()
        ),
        (Some(true), Some(true))
    );
    assert_eq!(created["refresh_idle_seconds"], 86_400);
    assert_eq!(created["refresh_absolute_seconds"], 30 * 86_400);
    let client_id = created["client_id"].as_str().unwrap();
    let rotate = app
        .call(post(
            &format!("/api/v1/clients/{client_id}/secret"),
            r#"{"grace_seconds":0}"#,
        ))
        .await;
    assert_eq!(rotate.status, StatusCode::BAD_REQUEST, "{}", rotate.text);
    assert!(rotate.text.contains("no client secret"), "{}", rotate.text);

    let without_callback = app
        .call(post(
            "/api/v1/clients",
            r#"{"name":"Agent 2","permissions":["clients:read"],"public":true}"#,
        ))
        .await;
    assert_eq!(without_callback.status, StatusCode::BAD_REQUEST);
    assert!(
        without_callback.text.contains("callback"),
        "{}",
        without_callback.text
    );
    let too_long = app
        .call(post(
            "/api/v1/clients",
            r#"{"name":"Agent 3","permissions":["clients:read"],"refresh_absolute_seconds":99999999}"#,
        ))
        .await;
    assert_eq!(too_long.status, StatusCode::BAD_REQUEST);
}

/// `keyport client create --public --refresh-tokens`, as an operator types it.
#[test]
fn the_command_line_registers_a_public_client() {
    let scratch = process::Scratch::sqlite();
    scratch.run(&["migrate"], "");
    scratch.run(
        &[
            "admin",
            "create",
            "--email",
            "o@example.com",
            "--role",
            "domain_admin",
            "--password-stdin",
        ],
        &format!("{}\n", process::PASSWORD),
    );
    let printed: serde_json::Value = serde_json::from_str(&scratch.run(
        &[
            "client",
            "create",
            "--email",
            "o@example.com",
            "--name",
            "Agent CLI",
            "--permissions",
            "clients:read",
            "--callback-url",
            "http://127.0.0.1/callback",
            "--public",
            "--refresh-tokens",
        ],
        "",
    ))
    .unwrap();
    let fields: Vec<&String> = printed.as_object().unwrap().keys().collect();
    assert_eq!(fields, ["client_id"], "no secret to print: {printed}");
}

/// A code presented twice revokes everything it gave (RFC 6749 §4.1.2):
/// its access token and the refresh tokens of the grant it started.
async fn a_replayed_code_revokes_the_refresh_tokens_it_gave(app: &TestApp) {
    let (client_id, tool) = native_tool(app, true).await;
    let (mut browser, _) = signed_in_user(app).await;
    let (path, verifier) = staying_connected(&tool);
    assert_eq!(browser.get(&path).await.status, StatusCode::OK);
    let back = location(&decide(&mut browser, &path, "approve").await);
    let code = param(&back, "code").expect("a code");
    let exchange = encode(&[
        ("grant_type", "authorization_code"),
        ("client_id", &client_id),
        ("code", &code),
        ("redirect_uri", LISTENING),
        ("code_verifier", verifier.secret()),
    ]);
    let first = app.token_request(None, &exchange).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let tokens = first.json();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();

    let replay = app.token_request(None, &exchange).await;
    refused_with(&replay, "invalid_grant");
    assert!(!accepted(app, &access_token).await);
    let refreshed = refresh_by_hand(app, &client_id, &refresh_token).await;
    refused_with(&refreshed, "invalid_grant");
}

/// A loopback callback on a port no socket can have is not the registered
/// callback on another port: 400, whether or not consent is remembered.
async fn a_callback_port_out_of_range_is_a_bad_request(app: &TestApp) {
    let (client_id, tool) = native_tool(app, true).await;
    let (mut browser, _) = signed_in_user(app).await;
    stay_connected(app, &mut browser, &tool).await;
    for port in ["99999", "65536", "4294967297"] {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", client_id.as_str()),
                ("redirect_uri", &format!("http://127.0.0.1:{port}/callback")),
                ("scope", "clients:read offline_access"),
                ("state", "s"),
                (
                    "code_challenge",
                    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                ),
                ("code_challenge_method", "S256"),
            ])
            .finish();
        let page = browser.get(&format!("/oauth2/authorize?{query}")).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{port}: {}",
            page.text
        );
        assert!(page.header("location").is_none(), "{port}");
    }
}

/// A refresh in flight while its grant is revoked either commits first,
/// and the revocation takes the access token it bought, or finds the grant
/// revoked and hands out nothing: 16 refreshes (on two nodes) race a
/// revocation, 50 times, and no access token they got still works.
async fn refreshes_racing_a_revocation_leave_no_live_token(app: &TestApp) {
    use tower::ServiceExt as _;
    let (client_id, tool) = native_tool(app, true).await;
    let (mut browser, _) = signed_in_user(app).await;
    let other = keyport::router(app.second_node().await);
    let mut bought = Vec::new();
    for round in 0..50 {
        let granted = match round {
            0 => stay_connected(app, &mut browser, &tool).await,
            _ => connected_again(app, &mut browser, &tool).await,
        };
        let token = granted.refresh_token().unwrap().secret().clone();
        let refresh = encode(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client_id),
            ("refresh_token", &token),
        ]);
        let revoke = encode(&[
            ("token", &token),
            ("token_type_hint", "refresh_token"),
            ("client_id", &client_id),
        ]);
        let mut calls = Vec::new();
        for n in 0..17 {
            let router = if n % 2 == 0 {
                app.router.clone()
            } else {
                other.clone()
            };
            let request = if n == 8 {
                post("/oauth2/revoke", revoke.clone())
            } else {
                post("/oauth2/token", refresh.clone())
            };
            calls.push(tokio::spawn(async move {
                let response = router.oneshot(request).await.unwrap();
                let status = response.status();
                let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                    .await
                    .unwrap();
                (n, status, body)
            }));
        }
        for call in calls {
            let (n, status, body) = call.await.unwrap();
            if n == 8 {
                assert_eq!(status, StatusCode::OK, "the revocation");
            } else if status == StatusCode::OK {
                let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
                bought.push(answer["access_token"].as_str().unwrap().to_owned());
            }
        }
        bought.push(granted.access_token().secret().clone());
    }
    let mut live = 0;
    for token in &bought {
        if accepted(app, token).await {
            live += 1;
        }
    }
    assert_eq!(live, 0, "of {} access tokens", bought.len());
}

/// A family rotates at most 30 times a minute, and while it lives on, its
/// spent tokens and the ids of its expired access tokens are forgotten.
async fn a_family_rotates_at_a_bounded_rate_and_keeps_bounded_rows(app: &TestApp) {
    let (client_id, tool) = native_tool(app, true).await;
    let (mut browser, _) = signed_in_user(app).await;
    let granted = stay_connected(app, &mut browser, &tool).await;
    let mut token = granted.refresh_token().unwrap().secret().clone();
    for _ in 0..30 {
        token = rotated(app, &client_id, &token).await;
    }
    let held = refresh_by_hand(app, &client_id, &token).await;
    assert_eq!(held.status, StatusCode::TOO_MANY_REQUESTS, "{}", held.text);
    assert!(held.header("retry-after").is_some());
    app.clock.advance(61);
    token = rotated(app, &client_id, &token).await;

    let rows = |table: &'static str| async move {
        sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&app.keyport.db.pool)
            .await
            .unwrap()
    };
    assert_eq!(rows("refresh_tokens").await, 32);
    // Six days on, the family is used again; two more, and the tokens
    // spent on the first day are past their idle lifetime.
    app.clock.advance(6 * 86_400);
    token = rotated(app, &client_id, &token).await;
    app.clock.advance(2 * 86_400);
    app.keyport.purge_refresh_families().await.unwrap();
    assert_eq!(
        rows("refresh_tokens").await,
        1,
        "the token in use is all that is left"
    );
    assert_eq!(rows("refresh_family_access_tokens").await, 0);
    rotated(app, &client_id, &token).await;
}

/// A user who stays connected signs in to the tool again: the consent is
/// remembered, and the browser goes straight back with a code.
async fn connected_again(
    app: &TestApp,
    browser: &mut Browser<'_>,
    tool: &Tool,
) -> BasicTokenResponse {
    let (path, verifier) = staying_connected(tool);
    let back = location(&browser.get(&path).await);
    let code = param(&back, "code").expect("a code at the loopback callback");
    tool.exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http_client(app))
        .await
        .expect("the tool exchanges its code")
}

/// The refresh token that replaces `token`.
async fn rotated(app: &TestApp, client_id: &str, token: &str) -> String {
    let answer = refresh_by_hand(app, client_id, token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.json()["refresh_token"].as_str().unwrap().to_owned()
}

/// A form posted to `path`, as a request a router can take directly (on a
/// task of its own, racing others).
fn post(path: &str, form: String) -> axum::http::Request<axum::body::Body> {
    let mut request = axum::http::Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(form))
        .unwrap();
    let from: std::net::SocketAddr = "10.20.0.1:40000".parse().unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(from));
    request
}

/// The authorization request of a tool that asks to stay connected, and
/// its PKCE verifier.
fn staying_connected(tool: &Tool) -> (String, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = tool
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .add_scope(Scope::new("clients:read".into()))
        .add_scope(Scope::new("offline_access".into()))
        .url();
    (path_and_query(&url), verifier)
}
