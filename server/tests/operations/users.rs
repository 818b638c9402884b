//! Users: one-time password links, disabling, domain admins.

use super::*;

/// The token of a password link, from the link.
pub(crate) fn link_token(url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    assert_eq!(url.path(), "/welcome");
    url.query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .into_owned()
}

pub(crate) async fn admins_create_users_who_set_a_password_through_a_link(app: &TestApp) {
    let (mut admin, _) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    let response = admin
        .rpc(
            "users/create",
            &[("email", "New.Member@Example.com"), ("role", "member")],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let link = response.json();
    assert_eq!(link["email"], "new.member@example.com");
    let token = link_token(link["url"].as_str().unwrap());

    // Listed as waiting for a password; cannot sign in yet.
    let page = admin.rpc("users/page", &[]).await.json();
    let new = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "new.member@example.com")
        .unwrap()
        .clone();
    assert_eq!(
        (new["has_password"].as_bool(), new["role"].as_str()),
        (Some(false), Some("member"))
    );
    let mut member = app.browser();
    let refused = member
        .sign_in("new.member@example.com", "any password at all")
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);

    // The link names the user, sets the password, signs in, and works once.
    let welcome = member.rpc("welcome/user", &[("token", &token)]).await;
    assert_eq!(welcome.json(), "new.member@example.com");
    let response = member
        .rpc(
            "welcome/password",
            &[
                ("token", &token),
                ("password", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let response = member
        .rpc(
            "welcome/password",
            &[
                ("token", &token),
                ("password", PASSWORD),
                ("confirm", "other"),
            ],
        )
        .await;
    assert!(response.text.contains("do not match"), "{}", response.text);
    let response = member
        .rpc(
            "welcome/password",
            &[
                ("token", &token),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(
        member.rpc("applications/list", &[]).await.status,
        StatusCode::OK
    );
    let again = app
        .browser()
        .rpc(
            "welcome/password",
            &[
                ("token", &token),
                ("password", "another password!"),
                ("confirm", "another password!"),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(
        again.text.contains("expired or was already used"),
        "{}",
        again.text
    );
    assert_eq!(
        app.browser()
            .rpc("welcome/user", &[("token", &token)])
            .await
            .json(),
        Value::Null
    );
    let mut fresh = app.browser();
    assert_eq!(
        fresh
            .sign_in("new.member@example.com", PASSWORD)
            .await
            .status,
        StatusCode::OK
    );

    // A new link replaces the old; links expire after 7 days.
    let id = new["id"].as_str().unwrap();
    let first = link_token(
        admin.rpc("users/link", &[("id", id)]).await.json()["url"]
            .as_str()
            .unwrap(),
    );
    let second = link_token(
        admin.rpc("users/link", &[("id", id)]).await.json()["url"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(
        app.browser()
            .rpc("welcome/user", &[("token", &first)])
            .await
            .json(),
        Value::Null
    );
    app.factors_not_required().await;
    app.clock.advance(7 * DAY);
    admin.sign_in("admin@example.com", PASSWORD).await;
    assert_eq!(
        app.browser()
            .rpc("welcome/user", &[("token", &second)])
            .await
            .json(),
        Value::Null
    );

    // Role changes are audited; a duplicate email is named.
    let response = admin
        .rpc("users/role", &[("id", id), ("role", "domain_admin")])
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let changed = actions(app, Action::UserRoleChanged).await;
    assert_eq!(changed[0].detail.as_deref(), Some("member to domain_admin"));
    let response = admin
        .rpc(
            "users/create",
            &[("email", "new.member@example.com"), ("role", "member")],
        )
        .await;
    assert!(
        response.text.contains("already exists"),
        "{}",
        response.text
    );
    let response = admin
        .rpc(
            "users/create",
            &[("email", "not an email"), ("role", "member")],
        )
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    // Without JavaScript the link waits in the session for the page, once.
    let response = admin
        .form_post(
            "users/create",
            &[("email", "plain@example.com"), ("role", "member")],
            "/users",
        )
        .await;
    assert!(response.status.is_redirection(), "{}", response.status);
    let page = admin.rpc("users/page", &[]).await.json();
    assert_eq!(page["link"]["email"], "plain@example.com");
    assert_eq!(
        admin.rpc("users/page", &[]).await.json()["link"],
        Value::Null
    );
    let audit = audit::search(&app.keyport.db, &audit::Filter::default(), 100)
        .await
        .unwrap();
    assert!(audit
        .iter()
        .all(|e| !e.detail.clone().unwrap_or_default().contains(&second)));
}

pub(crate) async fn disabling_a_user_ends_their_sessions_at_once(app: &TestApp) {
    let (mut admin, admin_user) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    let (mut member, member_user) = app.signed_in("member@example.com", Role::Member).await;
    let (client_id, secret) = app
        .client(&member_user, "Member tool", &["clients:read"])
        .await;
    let bearer = access_token(app, &client_id, &secret).await;
    assert_eq!(
        member.rpc("applications/list", &[]).await.status,
        StatusCode::OK
    );

    let response = admin
        .rpc(
            "users/disable",
            &[("id", &member_user.id), ("disabled", "true")],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(
        member.rpc("applications/list", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE user_id = $1")
        .bind(&member_user.id)
        .fetch_one(&app.keyport.db.pool)
        .await
        .unwrap();
    assert_eq!(sessions, 0);
    assert_eq!(
        member.sign_in("member@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The API refuses tokens that act for them.
    assert_eq!(
        app.bearer_get("/api/v1/clients", Some(&bearer))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // Nobody disables themselves; enabling lets them back in.
    let response = admin
        .rpc(
            "users/disable",
            &[("id", &admin_user.id), ("disabled", "true")],
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text
    );
    let response = admin
        .rpc(
            "users/disable",
            &[("id", &member_user.id), ("disabled", "false")],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(
        member.sign_in("member@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    assert_eq!(actions(app, Action::UserDisabled).await.len(), 1);
    assert_eq!(actions(app, Action::UserEnabled).await.len(), 1);
}

pub(crate) async fn domain_admins_manage_only_their_domain(app: &TestApp) {
    let (mut admin, _) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    let boss = app.user("boss@example.com", Role::SuperAdmin).await;
    let response = admin
        .rpc(
            "users/create",
            &[("email", "root@example.com"), ("role", "super_admin")],
        )
        .await;
    assert_refused(
        &response,
        StatusCode::BAD_REQUEST,
        "cannot create super admins",
    );
    for (name, form) in [
        (
            "users/disable",
            vec![("id", boss.id.as_str()), ("disabled", "true")],
        ),
        (
            "users/role",
            vec![("id", boss.id.as_str()), ("role", "member")],
        ),
        ("users/link", vec![("id", boss.id.as_str())]),
    ] {
        let response = admin.rpc(name, &form).await;
        assert_eq!(
            response.status,
            StatusCode::NOT_FOUND,
            "{name}: {}",
            response.text
        );
    }
    // Another domain's users are invisible to them.
    let other = app::domain::secrets::random_token(12);
    sqlx::query("INSERT INTO domains (id, customer_id, name, created_at) SELECT $1, customer_id, 'Other', 0 FROM domains LIMIT 1")
        .bind(&other)
        .execute(&app.keyport.db.pool)
        .await
        .unwrap();
    let stranger = app::domain::accounts::NewUser {
        domain_id: other.as_str().into(),
        email: "stranger@example.com".into(),
        role: Role::Member,
        password: app::domain::secrets::Password::new(PASSWORD),
    };
    let stranger = app
        .keyport
        .insert_user(stranger, None, "test", None)
        .await
        .unwrap();
    let response = admin
        .rpc(
            "users/disable",
            &[("id", &stranger.id), ("disabled", "true")],
        )
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    let page = admin.rpc("users/page", &[("domain", &other)]).await.json();
    assert!(page["users"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["email"] != "stranger@example.com"));
    assert_eq!(page["roles"], serde_json::json!(["member", "domain_admin"]));
    // Members see no users page.
    let (mut member, _) = app.signed_in("member@example.com", Role::Member).await;
    assert_eq!(
        member.rpc("users/page", &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        member
            .rpc(
                "users/create",
                &[("email", "x@example.com"), ("role", "member")]
            )
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let _: &Browser = &member;
}
