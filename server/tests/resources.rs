//! APIs as resources (RFC 8707): a token names the API it is for in `aud`
//! and holds only that API's permissions; an API nobody registered, or one
//! the client holds nothing of, is `invalid_target`; Keyport's own
//! management API takes only its own tokens.

mod common;
mod process;

use app::domain::access::Access;
use app::domain::accounts::Role;
use app::domain::apis::NewApi;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::authorize::{access, approve, start, third_party, CALLBACK};
use common::{encode, http_client, TestApp, REPORTS};
use oauth2::{AuthorizationCode, TokenResponse};

on_both_engines!(
    client_credentials_name_the_api_with_resource,
    an_authorization_names_its_api_and_refresh_picks_among_the_granted,
    apis_are_registered_with_their_own_permissions,
    the_apis_page_is_for_admins,
);

async fn token(app: &TestApp, id: &str, secret: &str, form: &[(&str, &str)]) -> common::Response {
    let mut form = form.to_vec();
    form.push(("grant_type", "client_credentials"));
    app.token_request(Some((id, secret)), &encode(&form)).await
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

async fn introspect(app: &TestApp, id: &str, secret: &str, token: &str) -> serde_json::Value {
    let basic = {
        use common::BasicCredentials as _;
        base64::engine::general_purpose::STANDARD.format_basic(id, secret)
    };
    app.call(
        Request::post("/oauth2/introspect")
            .header("authorization", format!("Basic {basic}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(encode(&[("token", token)])))
            .unwrap(),
    )
    .await
    .json()
}

async fn client_credentials_name_the_api_with_resource(app: &TestApp) {
    app.reports_api().await;
    let owner = app.user("owner@example.com", Role::DomainAdmin).await;
    let (id, secret) = app
        .client(&owner, "Reporter", &["clients:read", "reports:read"])
        .await;

    let slashed = token(
        app,
        &id,
        &secret,
        &[("resource", "https://reports.example.com/api/")],
    )
    .await;
    assert_eq!(
        slashed.status,
        StatusCode::OK,
        "a trailing slash names the same API"
    );
    let for_reports = token(app, &id, &secret, &[("resource", REPORTS)]).await;
    assert_eq!(for_reports.status, StatusCode::OK, "{}", for_reports.text);
    assert_eq!(for_reports.json()["scope"], "reports:read");
    let access = for_reports.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let claims = app.keyport.verify_for_any_api(&access).await.unwrap();
    assert_eq!(
        (claims.aud.as_str(), claims.scope.as_str()),
        (REPORTS, "reports:read")
    );
    let refused = app.bearer_get("/api/v1/clients", Some(&access)).await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "another API's token"
    );
    assert_eq!(refused.json()["error"]["code"], 401010);
    let seen = introspect(app, &id, &secret, &access).await;
    assert_eq!(
        (seen["active"].as_bool(), seen["aud"].as_str()),
        (Some(true), Some(REPORTS))
    );

    // Without resource: Keyport's own API, as before, with its permissions only.
    let own = token(app, &id, &secret, &[]).await;
    assert_eq!(own.json()["scope"], "clients:read", "{}", own.text);
    let own = own.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.bearer_get("/api/v1/clients", Some(&own)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.keyport.verify_access_token(&own).await.unwrap().aud,
        "http://127.0.0.1:3000"
    );

    // A scope of another API than the one named is not granted.
    let mixed = token(
        app,
        &id,
        &secret,
        &[("resource", REPORTS), ("scope", "clients:read")],
    )
    .await;
    refused_with(&mixed, "invalid_scope");
    for resource in [
        "https://unknown.example.com/api",
        "reports",
        "https://reports.example.com/api#x",
    ] {
        refused_with(
            &token(app, &id, &secret, &[("resource", resource)]).await,
            "invalid_target",
        );
    }
    let (other_id, other_secret) = app.client(&owner, "Lister", &["clients:read"]).await;
    let not_held = token(app, &other_id, &other_secret, &[("resource", REPORTS)]).await;
    refused_with(&not_held, "invalid_target");
    assert!(not_held.text.contains("no permission"), "{}", not_held.text);
}

async fn an_authorization_names_its_api_and_refresh_picks_among_the_granted(app: &TestApp) {
    app.reports_api().await;
    let (id, secret, client) = third_party(app, &["clients:read", "reports:read"]).await;
    let owner =
        app::domain::accounts::find_user_by_email(&app.keyport.db, "vendor-admin@example.com")
            .await
            .unwrap()
            .unwrap();
    let app_id = app.application_id(&id).await;
    let input = app::domain::validate::ApplicationInput {
        name: "Gateway".into(),
        permissions: vec!["clients:read".into(), "reports:read".into()],
        callback_url: CALLBACK.into(),
        refresh_tokens: true,
        ..Default::default()
    };
    app.keyport
        .update_application(&access(&owner), &app_id, input)
        .await
        .unwrap();
    let (mut browser, _) = app
        .signed_in("operator@example.com", Role::DomainAdmin)
        .await;

    // Named at the authorization: the consent and the token are that API's.
    let (path, state, verifier) = start(&client, &[]);
    let path = format!(
        "{path}&resource={}",
        url::form_urlencoded::byte_serialize(REPORTS.as_bytes()).collect::<String>()
    );
    let page = browser.get(&path).await;
    assert!(
        page.text.contains("reports:read") && !page.text.contains("clients:read"),
        "{}",
        page.text
    );
    assert!(
        page.text.contains("Reporting API"),
        "the consent names the API"
    );
    let code = approve(&mut browser, &path, &state).await;
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http_client(app))
        .await
        .unwrap();
    let claims = app
        .keyport
        .verify_for_any_api(token.access_token().secret())
        .await
        .unwrap();
    assert_eq!(
        (claims.aud.as_str(), claims.scope.as_str()),
        (REPORTS, "reports:read")
    );

    // An unknown API goes back to the application as invalid_target.
    let (path, _, _) = start(&client, &[]);
    let unknown = browser
        .get(&format!("{path}&resource=https%3A%2F%2Fnope.example"))
        .await;
    let back = common::authorize::location(&unknown);
    assert_eq!(
        common::authorize::param(&back, "error").as_deref(),
        Some("invalid_target")
    );

    // A grant of both APIs: each token is for one, named with resource.
    let (path, state, verifier) =
        start(&client, &["clients:read", "reports:read", "offline_access"]);
    let code = approve(&mut browser, &path, &state).await;
    let exchanged =
        common::authorize::exchange(app, &id, &secret, &code, CALLBACK, verifier.secret()).await;
    assert_eq!(
        exchanged.json()["scope"],
        "clients:read",
        "Keyport's own by default: {}",
        exchanged.text
    );
    let refresh_token = exchanged.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refreshed = app
        .token_request(
            Some((&id, &secret)),
            &encode(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token),
                ("resource", REPORTS),
            ]),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    assert_eq!(refreshed.json()["scope"], "reports:read");
    let access = refreshed.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.keyport.verify_for_any_api(&access).await.unwrap().aud,
        REPORTS
    );
    let next = refreshed.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let elsewhere = app
        .token_request(
            Some((&id, &secret)),
            &encode(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &next),
                ("resource", "https://unknown.example.com/api"),
            ]),
        )
        .await;
    refused_with(&elsewhere, "invalid_target");
}

async fn apis_are_registered_with_their_own_permissions(app: &TestApp) {
    app.reports_api().await;
    let register = |identifier: &str, scope: &str| NewApi {
        name: "Another".into(),
        identifier: identifier.into(),
        permissions: vec![(scope.into(), "Something".into())],
    };
    for (identifier, scope, field) in [
        ("http://reports.example.com/api", "x:read", "identifier"),
        ("https://x.example/api#f", "x:read", "identifier"),
        ("not a uri", "x:read", "identifier"),
        ("http://127.0.0.1:3000", "x:read", "identifier"),
        (REPORTS, "x:read", "identifier"),
        ("https://reports.example.com/api/", "x:read", "identifier"),
        ("https://x.example/api", "reports:read", "permissions"),
        ("https://x.example/api", "Bad Scope", "permissions"),
    ] {
        let refused = app
            .keyport
            .create_api(&Access::operator(), register(identifier, scope))
            .await
            .unwrap_err();
        assert!(
            format!("{refused:?}").contains(field),
            "{identifier} {scope}: {refused:?}"
        );
    }
    let loopback = app
        .keyport
        .create_api(
            &Access::operator(),
            register("http://127.0.0.1:8080/mcp", "mcp:use"),
        )
        .await
        .unwrap();
    assert_eq!(loopback.permissions[0].scope, "mcp:use");
    let apis = app.keyport.apis().await.unwrap();
    let names: Vec<&str> = apis.0.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        ["Keyport management API", "Another", "Reporting API"]
    );

    // The form shows each API's permissions under its name.
    let (mut admin, _) = app.signed_in("boss@example.com", Role::SuperAdmin).await;
    let form = admin.get("/applications/new").await;
    assert!(form.text.contains("Reporting API") && form.text.contains("reports:write"));
}

async fn the_apis_page_is_for_admins(app: &TestApp) {
    app.reports_api().await;
    let (mut admin, _) = app.signed_in("boss@example.com", Role::SuperAdmin).await;
    let page = admin.get("/apis").await;
    assert_eq!(page.status, StatusCode::OK);
    for shown in [
        "Reporting API",
        REPORTS,
        "oauth-protected-resource/api",
        "authorization_servers",
        "at+jwt",
        "Register an API",
    ] {
        assert!(page.text.contains(shown), "{shown}");
    }
    let created = admin
        .form_post(
            "apis/create",
            &[
                ("name", "Endpoint API"),
                ("identifier", "https://endpoint.example.com"),
                (
                    "permissions",
                    "endpoint:scan Scan an endpoint\nendpoint:read Read results",
                ),
            ],
            "/apis",
        )
        .await;
    assert!(created.status.is_redirection(), "{}", created.text);
    let apis = app.keyport.apis().await.unwrap();
    let endpoint = apis.target(Some("https://endpoint.example.com")).unwrap();
    assert_eq!(endpoint.permissions.len(), 2);

    let (mut domain_admin, _) = app.signed_in("da@example.com", Role::DomainAdmin).await;
    let read = domain_admin.get("/apis").await;
    assert!(read.text.contains("Reporting API") && !read.text.contains("Register an API"));
    let refused = domain_admin
        .form_post(
            "apis/create",
            &[
                ("name", "Mine"),
                ("identifier", "https://mine.example"),
                ("permissions", "mine:x X"),
            ],
            "/apis",
        )
        .await;
    assert!(
        app.keyport
            .apis()
            .await
            .unwrap()
            .target(Some("https://mine.example"))
            .is_err(),
        "{}",
        refused.status
    );
    let (mut member, _) = app.signed_in("m@example.com", Role::Member).await;
    let list = member.rpc("apis/list", &[]).await;
    assert_eq!(list.status, StatusCode::FORBIDDEN);
}

/// `keyport api create`, as an operator types it.
#[test]
fn the_command_line_registers_an_api() {
    let scratch = process::Scratch::sqlite();
    scratch.run(&["migrate"], "");
    let printed: serde_json::Value = serde_json::from_str(&scratch.run(
        &[
            "api",
            "create",
            "--identifier",
            "https://reports.example.com/api",
            "--name",
            "Reporting API",
            "--permissions",
            "reports:read,reports:write",
        ],
        "",
    ))
    .unwrap();
    assert_eq!(printed["identifier"], "https://reports.example.com/api");
    assert_eq!(
        printed["permissions"],
        serde_json::json!(["reports:read", "reports:write"])
    );
}
