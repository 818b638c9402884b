//! Who sees which domains: the search across domains, and domain admins
//! kept to their own.

use super::*;

pub(crate) async fn a_super_admin_finds_applications_in_every_domain(app: &TestApp) {
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

pub(crate) async fn search_for(admin: &mut Browser<'_>, q: &str) -> Value {
    admin.rpc("domains/page", &[("q", q)]).await.json()["search"].clone()
}

pub(crate) async fn domain_admins_read_their_own_domain_and_touch_no_other(app: &TestApp) {
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

    // The header names the domain a page shows: for a super admin the one
    // chosen, for anyone else their own, whatever they ask for.
    let shown = root.rpc("viewer", &[("domain", &other)]).await.json();
    assert_eq!(
        (shown["domain_id"].as_str(), shown["domain_name"].as_str()),
        (Some(other.as_str()), Some("Other"))
    );
    let unknown = root
        .rpc("viewer", &[("domain", "no-such-domain")])
        .await
        .json();
    assert_eq!(unknown["domain_name"], "default");
    let theirs = admin.rpc("viewer", &[("domain", &other)]).await.json();
    assert_eq!(theirs["domain_id"], own.as_str());

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
