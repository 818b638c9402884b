//! Creating, renaming, limiting and deleting domains in the portal.

use super::*;

pub(crate) async fn super_admins_create_domains_with_checked_names_and_limits(app: &TestApp) {
    let (mut admin, _) = app.signed_in("root@example.com", Role::SuperAdmin).await;
    create_domain(&mut admin, "Europe", "5").await;
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
}

pub(crate) async fn renames_and_limits_are_audited_with_what_they_were(app: &TestApp) {
    let (mut admin, _) = app.signed_in("root@example.com", Role::SuperAdmin).await;
    let europe = create_domain(&mut admin, "Europe", "5").await;
    create_domain(&mut admin, "Asia", "").await;
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
}

pub(crate) async fn a_domain_is_deleted_only_while_empty(app: &TestApp) {
    let (mut admin, _) = app.signed_in("root@example.com", Role::SuperAdmin).await;
    let europe = create_domain(&mut admin, "EMEA", "5").await;
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
    let removed = admin
        .rpc("applications/remove", &[("ids[0]", &gateway)])
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text);
    let deleted = admin.rpc("domains/delete", &[("id", &europe)]).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    let page = admin.rpc("domains/page", &[]).await.json();
    assert_eq!(page["domains"].as_array().unwrap().len(), 1, "{page}");
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM applications WHERE id = $1")
        .bind(&gateway)
        .fetch_one(&app.keyport.db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "the removed application is purged with its domain");
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
}

pub(crate) async fn a_refused_plain_post_returns_to_the_page_address(app: &TestApp) {
    let (mut admin, _) = app.signed_in("root@example.com", Role::SuperAdmin).await;
    create_domain(&mut admin, "Asia", "").await;
    // Without JavaScript: the form posts, and the page it returns to keeps
    // the refusal and what was typed, once.
    let posted = admin
        .form_post(
            "domains/create",
            &[("name", "Asia"), ("app_limit", "9")],
            "/domains",
        )
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER);
    // Back to the page's own address: the refusal waits in the session,
    // not in the address bar.
    let back = posted.header("location").unwrap();
    assert!(
        back.ends_with("/domains") && !back.contains("__err"),
        "{back}"
    );
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

pub(crate) async fn a_domain_at_its_limit_refuses_registration_and_a_limit_below_its_count(
    app: &TestApp,
) {
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

pub(crate) async fn a_lowered_limit_and_parallel_registrations_never_overfill_a_domain(
    app: &TestApp,
) {
    let root = app.user("root@example.com", Role::SuperAdmin).await;
    let access = common::authorize::access(&root);
    let domain = app
        .keyport
        .create_domain(&access, "Busy", Some(6))
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
    let lowering = app.keyport.set_app_limit(&access, &domain.id, 4);
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

pub(crate) async fn register(
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
    app.keyport
        .register_application(&common::authorize::access(owner), domain, input)
        .await
        .map(drop)
}
