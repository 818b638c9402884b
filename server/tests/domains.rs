//! Domains an operator runs: created, renamed, limited and deleted by super
//! admins in the portal, through `/api/v1/domains` and on the command line;
//! users moved with their applications or not at all; applications found
//! across domains; and domain admins kept to their own domain.

mod common;
mod process;

use app::domain::accounts::Role;
use app::domain::audit::{self, Action};
use app::domain::tenancy::{self, Steward};
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::{Browser, Part, TestApp, PNG};
use serde_json::Value;

on_both_engines!(
    super_admins_create_rename_limit_and_delete_domains,
    a_domain_at_its_limit_refuses_registration_and_a_limit_below_its_count,
    a_lowered_limit_and_parallel_registrations_never_overfill_a_domain,
    a_move_takes_the_users_applications_or_changes_nothing,
    a_super_admin_finds_applications_in_every_domain,
    domain_admins_read_their_own_domain_and_touch_no_other,
    the_domains_api_needs_its_scope_and_a_super_admin,
);

/// The domain `name` of the domains page, as the page shows it.
fn row<'a>(page: &'a Value, name: &str) -> &'a Value {
    page["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not listed: {page}"))
}

fn field_error(response: &common::Response, field: &str) -> String {
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text
    );
    response.json()["Invalid"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == field)
        .unwrap_or_else(|| panic!("no {field} error: {}", response.text))["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Registers an application in `domain` through the portal's form; the
/// response as it came.
async fn register_in(browser: &mut Browser<'_>, domain: &str, name: &str) -> common::Response {
    browser
        .rpc_multipart(
            "applications/create",
            &[
                Part::Text("domain", domain),
                Part::Text("name", name),
                Part::Text("permissions", "clients:read"),
                Part::Text("website_url", "https://example.com"),
                Part::Text("callback_url", "http://127.0.0.1/cb"),
                Part::File("icon", "icon.png", PNG),
            ],
        )
        .await
}

async fn create_domain(browser: &mut Browser<'_>, name: &str, limit: &str) -> String {
    let response = browser
        .rpc("domains/create", &[("name", name), ("app_limit", limit)])
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let page = browser.rpc("domains/page", &[]).await.json();
    row(&page, name)["id"].as_str().unwrap().to_owned()
}

async fn entries(app: &TestApp, action: Action) -> Vec<audit::Record> {
    let filter = audit::Filter {
        action: Some(action),
        ..Default::default()
    };
    audit::search(&app.keyport.db, &filter, 100).await.unwrap()
}

async fn super_admins_create_rename_limit_and_delete_domains(app: &TestApp) {
    let (mut admin, _) = app.signed_in("root@example.com", Role::SuperAdmin).await;
    let europe = create_domain(&mut admin, "Europe", "5").await;
    let page = admin.rpc("domains/page", &[]).await.json();
    assert_eq!(page["manage"], true);
    let listed = row(&page, "Europe");
    assert_eq!(
        (
            listed["app_limit"].as_i64(),
            listed["applications"].as_i64()
        ),
        (Some(5), Some(0))
    );
    assert_eq!(listed["deletable"]["Ok"], Value::Null, "{listed}");
    // The default domain, holding the admin, says why it stays.
    let default = row(&page, "default");
    assert!(default["deletable"]["Err"]
        .as_str()
        .unwrap()
        .contains("default domain stays"));

    // A name is unique whatever its case; limits are 1 to 1,000; every
    // refused field is named, and nothing is created.
    let taken = admin
        .rpc(
            "domains/create",
            &[("name", " europe "), ("app_limit", "5")],
        )
        .await;
    assert!(field_error(&taken, "name").contains("already exists"));
    for limit in ["0", "1001", "lots"] {
        let refused = admin
            .rpc("domains/create", &[("name", "Asia"), ("app_limit", limit)])
            .await;
        assert!(
            field_error(&refused, "app_limit").contains("1 to 1000"),
            "{limit}"
        );
    }
    let both = admin
        .rpc("domains/create", &[("name", ""), ("app_limit", "0")])
        .await;
    field_error(&both, "name");
    field_error(&both, "app_limit");
    // An empty limit is the default, 63.
    create_domain(&mut admin, "Asia", "").await;
    let page = admin.rpc("domains/page", &[]).await.json();
    assert_eq!(page["domains"].as_array().unwrap().len(), 3, "{page}");
    assert_eq!(row(&page, "Asia")["app_limit"], 63);

    // Rename, limit: each audited with what it was.
    let renamed = admin
        .rpc("domains/rename", &[("id", &europe), ("name", "EMEA")])
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    let taken = admin
        .rpc("domains/rename", &[("id", &europe), ("name", "ASIA")])
        .await;
    assert!(field_error(&taken, "name").contains("already exists"));
    let limited = admin
        .rpc("domains/limit", &[("id", &europe), ("app_limit", "7")])
        .await;
    assert_eq!(limited.status, StatusCode::OK, "{}", limited.text);
    let page = admin.rpc("domains/page", &[]).await.json();
    assert_eq!(row(&page, "EMEA")["app_limit"], 7);
    let created = entries(app, Action::DomainCreated).await;
    assert_eq!(created.len(), 2);
    assert_eq!(created[1].target.as_deref(), Some("Europe"));
    assert_eq!(created[1].detail.as_deref(), Some("limit 5"));
    assert_eq!(created[1].domain_id.as_deref(), Some(europe.as_str()));
    let renamed = &entries(app, Action::DomainRenamed).await[0];
    assert_eq!(
        (renamed.target.as_deref(), renamed.detail.as_deref()),
        (Some("EMEA"), Some("from Europe"))
    );
    let limited = &entries(app, Action::DomainLimitChanged).await[0];
    assert_eq!(limited.detail.as_deref(), Some("5 to 7"));

    // Not deleted while it holds a user or an application; then deleted,
    // its removed applications purged with it.
    let member = admin
        .rpc(
            "users/create",
            &[
                ("email", "eu@example.com"),
                ("role", "member"),
                ("domain", &europe),
            ],
        )
        .await;
    assert_eq!(member.status, StatusCode::OK, "{}", member.text);
    let gateway = register_in(&mut admin, &europe, "Gateway").await;
    assert_eq!(gateway.status, StatusCode::OK, "{}", gateway.text);
    let gateway = gateway.json().as_str().unwrap().to_owned();
    let refused = admin.rpc("domains/delete", &[("id", &europe)]).await;
    let why = field_error(&refused, "domain");
    assert!(why.contains("1 user and 1 application"), "{why}");
    let page = admin.rpc("domains/page", &[]).await.json();
    assert!(row(&page, "EMEA")["deletable"]["Err"]
        .as_str()
        .unwrap()
        .contains("1 user and 1 application"));

    let eu_user = app::domain::accounts::find_user_by_email(&app.keyport.db, "eu@example.com")
        .await
        .unwrap()
        .unwrap();
    let moved = admin
        .rpc(
            "users/move",
            &[
                ("id", &eu_user.id),
                ("domain", &app.keyport.tenancy.default_domain_id),
            ],
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    let removed = admin.rpc("applications/remove", &[("ids[0]", &gateway)]).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text);
    let deleted = admin.rpc("domains/delete", &[("id", &europe)]).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    let page = admin.rpc("domains/page", &[]).await.json();
    assert_eq!(page["domains"].as_array().unwrap().len(), 2, "{page}");
    assert_eq!(
        entries(app, Action::DomainDeleted).await[0]
            .target
            .as_deref(),
        Some("EMEA")
    );

    // The default domain is never deleted.
    let refused = admin
        .rpc(
            "domains/delete",
            &[("id", &app.keyport.tenancy.default_domain_id)],
        )
        .await;
    assert!(field_error(&refused, "domain").contains("cannot be deleted"));

    // Without JavaScript: the form posts, and the page it returns to keeps
    // the refusal and what was typed, once.
    let posted = admin
        .form_post(
            "domains/create",
            &[("name", "Asia"), ("app_limit", "9")],
            "/domains",
        )
        .await;
    assert!(posted.status.is_redirection(), "{}", posted.status);
    let kept = admin.rpc("flash", &[("form", "domain")]).await.json();
    assert_eq!(kept["values"][0], serde_json::json!(["name", "Asia"]));
    assert!(kept["error"]["Invalid"][0]["message"]
        .as_str()
        .unwrap()
        .contains("already exists"));
    let page = admin.get("/domains").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Create a domain") && page.text.contains("Asia"));
}

async fn a_domain_at_its_limit_refuses_registration_and_a_limit_below_its_count(app: &TestApp) {
    let (mut admin, _) = app.signed_in("root@example.com", Role::SuperAdmin).await;
    let small = create_domain(&mut admin, "Small", "2").await;
    for name in ["One", "Two"] {
        assert_eq!(
            register_in(&mut admin, &small, name).await.status,
            StatusCode::OK
        );
    }
    let full = register_in(&mut admin, &small, "Three").await;
    assert!(field_error(&full, "name").contains("holds 2 of its 2 applications"));
    let below = admin
        .rpc("domains/limit", &[("id", &small), ("app_limit", "1")])
        .await;
    assert!(field_error(&below, "app_limit").contains("cannot be below 2"));
    // Raised, it takes one more; set back to its count, none.
    admin
        .rpc("domains/limit", &[("id", &small), ("app_limit", "3")])
        .await;
    assert_eq!(
        register_in(&mut admin, &small, "Three").await.status,
        StatusCode::OK
    );
    let at_count = admin
        .rpc("domains/limit", &[("id", &small), ("app_limit", "3")])
        .await;
    assert_eq!(at_count.status, StatusCode::OK);
    let full = register_in(&mut admin, &small, "Four").await;
    assert!(field_error(&full, "name").contains("holds 3 of its 3"));
    let page = admin
        .rpc("applications/list", &[("domain", &small)])
        .await
        .json();
    assert_eq!(
        (page["count"].as_i64(), page["limit"].as_i64()),
        (Some(3), Some(3)),
        "{page}"
    );
}

async fn a_lowered_limit_and_parallel_registrations_never_overfill_a_domain(app: &TestApp) {
    let root = app.user("root@example.com", Role::SuperAdmin).await;
    let actor = common::authorize::actor(&root);
    let domain = app
        .keyport
        .create_domain(Steward::Admin(&root), &actor, "Busy", Some(6))
        .await
        .unwrap();
    for i in 0..4 {
        register(app, &root, &domain, &format!("Before {i}"))
            .await
            .unwrap();
    }
    // Six registrations and a limit lowered to 4, all at once: either the
    // limit came first and every registration was refused, or some were
    // registered first and the limit was refused. Never more than it allows.
    let registrations = (0..6).map(|i| {
        let (root, domain) = (root.clone(), domain.clone());
        async move { register(app, &root, &domain, &format!("Burst {i}")).await }
    });
    let lowering = app
        .keyport
        .set_app_limit(Steward::Admin(&root), &actor, &domain.id, 4);
    let (registered, lowered) = tokio::join!(futures::future::join_all(registrations), lowering);
    let registered = registered.iter().filter(|r| r.is_ok()).count();
    let now = tenancy::find_domain(&app.keyport.db, &domain.id)
        .await
        .unwrap()
        .unwrap();
    let count = app
        .keyport
        .domain_applications(&domain.id)
        .await
        .unwrap()
        .in_use
        .len();
    assert_eq!(count, 4 + registered);
    assert!(
        count as i64 <= now.app_limit,
        "{count} of {}",
        now.app_limit
    );
    match lowered {
        Ok(_) => assert_eq!((registered, now.app_limit), (0, 4)),
        Err(_) => assert_eq!((registered, now.app_limit), (2, 6)),
    }
}

async fn register(
    app: &TestApp,
    owner: &app::domain::accounts::User,
    domain: &tenancy::Domain,
    name: &str,
) -> app::domain::Result<()> {
    let input = app::domain::validate::ApplicationInput {
        name: name.into(),
        permissions: vec!["clients:read".into()],
        ..Default::default()
    };
    let actor = common::authorize::actor(owner);
    app.keyport
        .register_application(&actor, owner, domain, input)
        .await
        .map(drop)
}

async fn a_move_takes_the_users_applications_or_changes_nothing(app: &TestApp) {
    let (mut admin, root) = app.signed_in("root@example.com", Role::SuperAdmin).await;
    let owner = app.user("owner@example.com", Role::Member).await;
    let (id_a, secret_a) = app.client(&owner, "Shared", &["clients:read"]).await;
    app.client(&owner, "Second", &["clients:read"]).await;
    let target = create_domain(&mut admin, "Target", "2").await;
    let target_domain = tenancy::find_domain(&app.keyport.db, &target)
        .await
        .unwrap()
        .unwrap();
    register(app, &root, &target_domain, "shared")
        .await
        .unwrap();
    let (clashing, _) = app
        .keyport
        .find_applications(&root, "shared")
        .await
        .unwrap();
    let clashing = clashing
        .iter()
        .find(|f| f.domain_id == target)
        .unwrap()
        .id
        .clone();

    let snapshot = || async {
        let user = app.keyport.user(&owner.id).await.unwrap().unwrap();
        let apps: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, domain_id FROM applications WHERE owner_id = $1 ORDER BY name",
        )
        .bind(&owner.id)
        .fetch_all(&app.keyport.db.pool)
        .await
        .unwrap();
        (user.domain_id.to_string(), apps)
    };
    let unmoved = snapshot().await;
    let move_form = [("id", owner.id.to_string()), ("domain", target.clone())];
    let move_form: Vec<(&str, &str)> = move_form.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // No room: the target holds 1 of 2, and the owner has 2 applications.
    let refused = admin.rpc("users/move", &move_form).await;
    let why = field_error(&refused, "domain");
    assert!(
        why.contains("Target holds 1 of its 2 applications") && why.contains("owns 2 more"),
        "{why}"
    );
    assert_eq!(snapshot().await, unmoved);

    // Room, but a name the target already has (any case).
    admin
        .rpc("domains/limit", &[("id", &target), ("app_limit", "3")])
        .await;
    let refused = admin.rpc("users/move", &move_form).await;
    assert!(field_error(&refused, "domain")
        .contains("already has an application named \u{201c}Shared\u{201d}"));
    assert_eq!(snapshot().await, unmoved);
    assert!(entries(app, Action::UserMoved).await.is_empty());

    // Nobody moves themselves; a domain admin moves nobody.
    let myself = admin
        .rpc("users/move", &[("id", &root.id), ("domain", &target)])
        .await;
    assert!(field_error(&myself, "domain").contains("cannot move yourself"));
    let (mut domain_admin, _) = app.signed_in("da@example.com", Role::DomainAdmin).await;
    assert_eq!(
        domain_admin.rpc("users/move", &move_form).await.status,
        StatusCode::FORBIDDEN
    );

    // With the other removed, it moves: the user and both applications, in
    // one step, logged in both domains; the client keeps working, its
    // tokens now carry the new domain.
    app.keyport
        .remove_applications(&common::authorize::actor(&root), &root, &[clashing])
        .await
        .unwrap();
    let moved = admin.rpc("users/move", &move_form).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    let (user_domain, apps) = snapshot().await;
    assert_eq!(user_domain, target);
    assert!(apps.iter().all(|(_, d)| *d == target), "{apps:?}");
    let logged = entries(app, Action::UserMoved).await;
    assert_eq!(logged.len(), 2);
    let mut domains: Vec<_> = logged
        .iter()
        .map(|e| e.domain_id.clone().unwrap())
        .collect();
    domains.sort();
    let mut expected = vec![
        target.clone(),
        app.keyport.tenancy.default_domain_id.to_string(),
    ];
    expected.sort();
    assert_eq!(domains, expected);
    assert_eq!(
        logged[0].detail.as_deref(),
        Some("from default to Target with 2 applications")
    );
    let token = app
        .token_request(Some((&id_a, &secret_a)), "grant_type=client_credentials")
        .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.text);
    let claims = app
        .keyport
        .verify_access_token(token.json()["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(claims.domain_id.as_str(), target.as_str());
    let page = admin.rpc("domains/page", &[]).await.json();
    assert_eq!(row(&page, "Target")["applications"], 2);
    assert_eq!(row(&page, "Target")["users"], 1);
}

async fn a_super_admin_finds_applications_in_every_domain(app: &TestApp) {
    let (mut admin, root) = app.signed_in("root@example.com", Role::SuperAdmin).await;
    let west = create_domain(&mut admin, "West", "10").await;
    let west_domain = tenancy::find_domain(&app.keyport.db, &west)
        .await
        .unwrap()
        .unwrap();
    let (default_client, _) = app.client(&root, "Gateway East", &["clients:read"]).await;
    register(app, &root, &west_domain, "gateway west")
        .await
        .unwrap();
    register(app, &root, &west_domain, "50%_off").await.unwrap();

    let found = search_for(&mut admin, "GATEWAY").await;
    let names: Vec<(&str, &str)> = found["found"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap(),
                f["domain_name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [("Gateway East", "default"), ("gateway west", "West")]
    );
    assert_eq!(found["everywhere"], true);
    // By client ID, exactly; LIKE's wildcards are only characters.
    let by_id = search_for(&mut admin, &default_client).await;
    assert_eq!(by_id["found"][0]["name"], "Gateway East");
    assert_eq!(
        search_for(&mut admin, "%").await["found"][0]["name"],
        "50%_off"
    );
    assert_eq!(
        search_for(&mut admin, "%").await["found"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        search_for(&mut admin, "nothing like it").await["found"],
        serde_json::json!([])
    );
    // Each leads to its page.
    let id = found["found"][1]["id"].as_str().unwrap();
    let page = admin.get(&format!("/applications/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("gateway west"));

    // A domain admin finds only in their own domain.
    let (mut domain_admin, _) = app.signed_in("da@example.com", Role::DomainAdmin).await;
    let theirs = domain_admin
        .rpc("domains/page", &[("q", "gateway")])
        .await
        .json();
    assert_eq!(theirs["search"]["everywhere"], false);
    assert_eq!(
        theirs["search"]["found"].as_array().unwrap().len(),
        1,
        "{theirs}"
    );
    assert_eq!(theirs["search"]["found"][0]["domain_name"], "default");
    // Too long a query is refused plainly.
    let long = "x".repeat(201);
    let refused = admin.rpc("domains/page", &[("q", &long)]).await;
    assert!(field_error(&refused, "q").contains("at most 200"));
}

async fn search_for(admin: &mut Browser<'_>, q: &str) -> Value {
    admin.rpc("domains/page", &[("q", q)]).await.json()["search"].clone()
}

async fn domain_admins_read_their_own_domain_and_touch_no_other(app: &TestApp) {
    let (mut root, _) = app.signed_in("root@example.com", Role::SuperAdmin).await;
    let other = create_domain(&mut root, "Other", "5").await;
    let other_user = root
        .rpc(
            "users/create",
            &[
                ("email", "x@example.com"),
                ("role", "member"),
                ("domain", &other),
            ],
        )
        .await;
    assert_eq!(other_user.status, StatusCode::OK, "{}", other_user.text);
    let (mut admin, me) = app.signed_in("da@example.com", Role::DomainAdmin).await;

    // Their own domain, read-only.
    let page = admin.rpc("domains/page", &[]).await.json();
    assert_eq!(page["manage"], false);
    assert_eq!(page["domains"].as_array().unwrap().len(), 1);
    assert_eq!(page["domains"][0]["id"], me.domain_id.as_str());
    let html = admin.get("/domains").await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(!html.text.contains("Create a domain") && !html.text.contains("Other"));

    // Nothing of any domain changes, theirs included.
    let own = me.domain_id.to_string();
    for (call, form) in [
        ("domains/create", vec![("name", "Mine"), ("app_limit", "5")]),
        (
            "domains/rename",
            vec![("id", own.as_str()), ("name", "Renamed")],
        ),
        (
            "domains/limit",
            vec![("id", own.as_str()), ("app_limit", "1000")],
        ),
        (
            "domains/limit",
            vec![("id", other.as_str()), ("app_limit", "1")],
        ),
        ("domains/delete", vec![("id", other.as_str())]),
    ] {
        let response = admin.rpc(call, &form).await;
        assert_eq!(
            response.status,
            StatusCode::FORBIDDEN,
            "{call}: {}",
            response.text
        );
    }
    let listed = tenancy::list_domains(&app.keyport.db).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|d| d.app_limit == 63 || d.app_limit == 5));

    // Asking for the other domain shows their own.
    let users = admin.rpc("users/page", &[("domain", &other)]).await.json();
    assert_eq!(users["domain"]["id"], own.as_str());
    assert!(users["users"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["email"] != "x@example.com"));
    let apps = admin
        .rpc("applications/list", &[("domain", &other)])
        .await
        .json();
    assert_eq!(apps["domain"]["id"], own.as_str());
    // A member sees no domains page at all.
    let (mut member, _) = app.signed_in("m@example.com", Role::Member).await;
    assert_eq!(
        member.rpc("domains/page", &[]).await.status,
        StatusCode::FORBIDDEN
    );
}

async fn bearer(
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

async fn the_domains_api_needs_its_scope_and_a_super_admin(app: &TestApp) {
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

    // A domain admin's client, with both scopes, gets nothing.
    let da = app.user("da@example.com", Role::DomainAdmin).await;
    let (da_id, da_secret) = app
        .client(&da, "Theirs", &["domains:read", "domains:write"])
        .await;
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
            &common::authorize::actor(&root),
            &app.user("boss@example.com", Role::SuperAdmin).await,
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

/// `keyport domain …` and `--domain` on a real process, as an operator
/// types them.
#[test]
fn the_command_line_creates_lists_renames_and_limits_domains() {
    let scratch = process::Scratch::sqlite();
    scratch.run(&["migrate"], "");
    let created: Value = serde_json::from_str(&scratch.run(
        &["domain", "create", "--name", "Branch", "--app-limit", "2"],
        "",
    ))
    .unwrap();
    assert_eq!(
        (created["name"].as_str(), created["app_limit"].as_i64()),
        (Some("Branch"), Some(2))
    );
    assert_eq!(created.as_object().unwrap().len(), 3);
    let id = created["domain_id"].as_str().unwrap();

    scratch.run(
        &[
            "domain",
            "rename",
            "--domain",
            "branch",
            "--name",
            "Branch office",
        ],
        "",
    );
    scratch.run(
        &["domain", "set-limit", "--domain", id, "--app-limit", "3"],
        "",
    );
    scratch.run(
        &[
            "admin",
            "create",
            "--email",
            "b@example.com",
            "--role",
            "domain_admin",
            "--domain",
            "Branch office",
            "--password-stdin",
        ],
        &format!("{}\n", process::PASSWORD),
    );
    let client: Value = serde_json::from_str(&scratch.run(
        &[
            "client",
            "create",
            "--email",
            "b@example.com",
            "--name",
            "Branch gateway",
            "--permissions",
            "clients:read",
        ],
        "",
    ))
    .unwrap();
    assert!(client["client_secret"].is_string());
    let lines = scratch.run(&["domain", "list"], "");
    let listed: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let branch = listed.iter().find(|d| d["domain_id"] == id).unwrap();
    assert_eq!(
        (branch["name"].as_str(), branch["app_limit"].as_i64()),
        (Some("Branch office"), Some(3))
    );
    assert_eq!(
        (branch["users"].as_i64(), branch["applications"].as_i64()),
        (Some(1), Some(1))
    );

    // Refusals say why and change nothing: below the count, out of range,
    // a domain admin's application elsewhere, an unknown domain.
    for args in [
        vec!["domain", "set-limit", "--domain", id, "--app-limit", "0"],
        vec!["domain", "create", "--name", "branch OFFICE"],
        vec![
            "client",
            "create",
            "--email",
            "b@example.com",
            "--name",
            "Elsewhere",
            "--permissions",
            "clients:read",
            "--domain",
            "default",
        ],
        vec!["domain", "rename", "--domain", "nowhere", "--name", "X"],
    ] {
        let output = scratch.command(&args).output().unwrap();
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(!output.stderr.is_empty(), "{args:?} said nothing");
    }
    assert_eq!(scratch.query_i64("SELECT COUNT(*) FROM domains"), 2);
    assert_eq!(scratch.query_i64("SELECT COUNT(*) FROM applications"), 1);
}
