//! `/api/v1/domains`: its scopes, its super-admin rule and its answers.

use super::*;

pub(crate) async fn bearer(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: &str,
) -> common::Response {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    app.call(request).await
}

async fn access_token(app: &TestApp, id: &str, secret: &str) -> String {
    let response = app
        .token_request(Some((id, secret)), "grant_type=client_credentials")
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    response.json()["access_token"].as_str().unwrap().to_owned()
}

pub(crate) async fn the_domains_api_creates_lists_and_changes_domains(app: &TestApp) {
    let root = app.user("root@example.com", Role::SuperAdmin).await;
    let (id, secret) = app
        .client(&root, "Automation", &["domains:read", "domains:write"])
        .await;
    let token = access_token(app, &id, &secret).await;

    let created = bearer(
        app,
        Method::POST,
        "/api/v1/domains",
        &token,
        r#"{"name":"Nordics","app_limit":12}"#,
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let created = created.json();
    assert_eq!(
        (created["name"].as_str(), created["app_limit"].as_i64()),
        (Some("Nordics"), Some(12))
    );
    let nordics = created["domain_id"].as_str().unwrap().to_owned();
    assert_eq!(created.as_object().unwrap().len(), 3, "{created}");

    let listed = bearer(app, Method::GET, "/api/v1/domains", &token, "")
        .await
        .json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "Nordics"]);
    assert_eq!(listed[0]["users"], 1);
    assert_eq!(listed[0]["applications"], 1);

    let path = format!("/api/v1/domains/{nordics}");
    let changed = bearer(
        app,
        Method::PATCH,
        &path,
        &token,
        r#"{"name":"Nordic","app_limit":20}"#,
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.json()["name"], "Nordic");
    // A bad limit with a new name: 400, and neither changes.
    let refused = bearer(
        app,
        Method::PATCH,
        &path,
        &token,
        r#"{"name":"North","app_limit":0}"#,
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert!(refused.json()["error"]["messages"][0]
        .as_str()
        .unwrap()
        .starts_with("app_limit:"));
    let now = tenancy::find_domain(&app.keyport.db, &nordics)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((now.name.as_str(), now.app_limit), ("Nordic", 20));
    for body in [r#"{"name":"default"}"#, r#"{"nme":"typo"}"#, "not json"] {
        let refused = bearer(app, Method::PATCH, &path, &token, body).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            refused.text
        );
    }
    let missing = bearer(
        app,
        Method::PATCH,
        "/api/v1/domains/nope",
        &token,
        r#"{"name":"X"}"#,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["error"]["messages"][0], "Domain not found");
}

pub(crate) async fn the_domains_api_needs_its_scope_and_a_super_admin(app: &TestApp) {
    let root = app.user("root@example.com", Role::SuperAdmin).await;
    let (id, secret) = app
        .client(&root, "Automation", &["domains:read", "domains:write"])
        .await;
    let token = access_token(app, &id, &secret).await;
    let nordics = app
        .keyport
        .create_domain(&app::domain::access::Access::operator(), "Nordics", None)
        .await
        .unwrap()
        .id;
    // Reading only: no writes.
    let (reader, reader_secret) = app.client(&root, "Reader", &["domains:read"]).await;
    let reader = access_token(app, &reader, &reader_secret).await;
    assert_eq!(
        bearer(app, Method::GET, "/api/v1/domains", &reader, "")
            .await
            .status,
        StatusCode::OK
    );
    let refused = bearer(
        app,
        Method::POST,
        "/api/v1/domains",
        &reader,
        r#"{"name":"Y"}"#,
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json()["error"]["code"], 403001);
    assert!(refused
        .header("www-authenticate")
        .unwrap()
        .contains("domains:write"));

    // A domain admin cannot give their client the scopes; one given them
    // before this rule held (a row written then) gets nothing.
    let da = app.user("da@example.com", Role::DomainAdmin).await;
    let domain = app::domain::tenancy::find_domain(&app.keyport.db, &da.domain_id)
        .await
        .unwrap()
        .unwrap();
    let input = app::domain::validate::ApplicationInput {
        name: "Theirs".into(),
        permissions: vec!["domains:read".into(), "domains:write".into()],
        ..Default::default()
    };
    let refused = app
        .keyport
        .register_application(&common::authorize::access(&da), &domain, input)
        .await;
    assert!(
        matches!(refused, Err(app::domain::Error::Invalid(_))),
        "{refused:?}"
    );
    let (da_id, da_secret) = app.client(&da, "Theirs", &["clients:read"]).await;
    let da_app = app.application_id(&da_id).await;
    for scope in ["domains:read", "domains:write"] {
        sqlx::query("INSERT INTO application_permissions (application_id, scope) VALUES ($1, $2)")
            .bind(&da_app)
            .bind(scope)
            .execute(&app.keyport.db.pool)
            .await
            .unwrap();
    }
    let da_token = access_token(app, &da_id, &da_secret).await;
    for (method, path, body) in [
        (Method::GET, "/api/v1/domains".to_owned(), ""),
        (
            Method::POST,
            "/api/v1/domains".to_owned(),
            r#"{"name":"Z"}"#,
        ),
        (
            Method::PATCH,
            format!("/api/v1/domains/{nordics}"),
            r#"{"app_limit":1}"#,
        ),
    ] {
        let refused = bearer(app, method, &path, &da_token, body).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            refused.text
        );
    }
    // And a super admin demoted since the token was issued loses it.
    app.keyport
        .change_role(
            &common::authorize::access(&app.user("boss@example.com", Role::SuperAdmin).await),
            &root.id,
            Role::DomainAdmin,
        )
        .await
        .unwrap();
    assert_eq!(
        bearer(app, Method::GET, "/api/v1/domains", &token, "")
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // Both calls are in the OpenAPI document, both scopes in the catalog.
    let openapi = app.bearer_get("/api/v1/openapi.json", None).await.json();
    assert!(openapi["paths"]["/api/v1/domains"]["post"].is_object());
    assert!(openapi["paths"]["/api/v1/domains/{domain_id}"]["patch"].is_object());
    let metadata = app
        .bearer_get("/.well-known/oauth-authorization-server", None)
        .await
        .json();
    let scopes = metadata["scopes_supported"].as_array().unwrap();
    assert!(scopes.contains(&"domains:read".into()) && scopes.contains(&"domains:write".into()));
}
