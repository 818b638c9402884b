//! Console accounts end to end through the router: setup, sign-in, sessions,
//! roles, lockout, CSRF and the headers every response carries.

mod common;

use app::domain::accounts::Role;
use app::domain::secrets::Secret;
use axum::http::StatusCode;
use common::{TestApp, ORIGIN, PASSWORD};

on_both_engines!(
    health_reports_a_reachable_database,
    setup_needs_the_logged_token_and_works_once,
    sign_in_starts_a_fresh_hardened_session,
    wrong_password_and_unknown_email_look_the_same,
    failed_sign_ins_lock_the_account_until_the_window_passes,
    failed_sign_ins_lock_an_address_spraying_accounts,
    sign_out_ends_the_session,
    signed_out_visitors_are_sent_to_login_and_back,
    roles_are_reported_to_the_shell,
    cross_origin_posts_are_refused,
    plain_form_post_errors_come_back_with_the_typed_email,
    idle_sessions_expire,
    pages_carry_security_headers,
    malformed_server_function_calls_are_bad_requests,
);

async fn health_reports_a_reachable_database(app: &TestApp) {
    let response = app.browser().get("/healthz").await;
    assert_eq!(response.status, StatusCode::OK);
}

async fn setup_needs_the_logged_token_and_works_once(app: &TestApp) {
    let token = app
        .keyport
        .pending_setup_token()
        .expect("setup is open on a fresh database");
    let mut browser = app.browser();

    let form = |token: &str| {
        vec![
            ("token", token.to_owned()),
            ("email", "Root@Example.com".to_owned()),
            ("password", PASSWORD.to_owned()),
            ("confirm", PASSWORD.to_owned()),
        ]
    };
    let call = |f: Vec<(&'static str, String)>| f;
    let wrong = call(form("not-the-token"));
    let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = browser.rpc("setup", &wrong).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.json(), serde_json::json!("BadSetupToken"));

    let mismatch = [
        ("token", token.expose()),
        ("email", "root@example.com"),
        ("password", PASSWORD),
        ("confirm", "something else entirely"),
    ];
    let response = browser.rpc("setup", &mismatch).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(response.text.contains("confirm"), "{}", response.text);

    let short = [
        ("token", token.expose()),
        ("email", "root@example.com"),
        ("password", "short"),
        ("confirm", "short"),
    ];
    let response = browser.rpc("setup", &short).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(
        response.text.contains("at least 12 characters"),
        "{}",
        response.text
    );
    assert!(
        app.keyport.setup_open(),
        "a refused setup leaves setup open"
    );

    let good = form(token.expose());
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = browser.rpc("setup", &good).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.header("location"), Some("/applications"));
    let viewer = browser.rpc("viewer", &[]).await.json();
    assert_eq!(viewer["email"], "root@example.com");
    assert_eq!(viewer["role"], "super_admin");

    assert!(!app.keyport.setup_open());
    let response = app.browser().rpc("setup", &good).await;
    assert_eq!(response.status, StatusCode::CONFLICT);
}

async fn sign_in_starts_a_fresh_hardened_session(app: &TestApp) {
    app.user("admin@example.com", Role::DomainAdmin).await;
    let mut browser = app.browser();
    // An anonymous session exists before signing in (a flash was kept).
    browser
        .form_post(
            "sign_in",
            &[
                ("email", "admin@example.com"),
                ("password", "wrong password!"),
            ],
            "/login",
        )
        .await;
    let before = browser.cookie.clone().expect("anonymous session cookie");

    let response = browser.sign_in("admin@example.com", PASSWORD).await;
    assert_eq!(response.status, StatusCode::OK);
    let set_cookie = response
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("keyport_session="))
        .expect("session cookie");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(
        !set_cookie.contains("Secure"),
        "plain http deployment: {set_cookie}"
    );
    assert_ne!(
        browser.cookie.as_deref(),
        Some(before.as_str()),
        "session id must change at sign-in"
    );

    let viewer = browser.rpc("viewer", &[]).await.json();
    assert_eq!(viewer["email"], "admin@example.com");
    assert_eq!(
        viewer["customer_id"],
        app.keyport.tenancy.customer_id.as_str()
    );
    assert_eq!(
        viewer["domain_id"],
        app.keyport.tenancy.default_domain_id.as_str()
    );

    let mut stale = app.browser();
    stale.cookie = Some(before);
    assert_eq!(
        stale.rpc("viewer", &[]).await.json(),
        serde_json::Value::Null
    );
}

async fn wrong_password_and_unknown_email_look_the_same(app: &TestApp) {
    app.user("admin@example.com", Role::SuperAdmin).await;
    let wrong = app
        .browser()
        .sign_in("admin@example.com", "not the password")
        .await;
    let unknown = app
        .browser()
        .sign_in("nobody@example.com", "not the password")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        (wrong.status, wrong.text.clone()),
        (unknown.status, unknown.text.clone())
    );
    assert_eq!(wrong.json(), serde_json::json!("BadCredentials"));
    assert!(!wrong.text.contains("not the password"));
}

async fn failed_sign_ins_lock_the_account_until_the_window_passes(app: &TestApp) {
    app.user("admin@example.com", Role::SuperAdmin).await;
    for _ in 0..5 {
        let response = app
            .browser()
            .sign_in("admin@example.com", "guess guess guess")
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused while the account's budget is
    // spent, from another address, to a browser that never signed in to it.
    let mut elsewhere = app.browser();
    elsewhere.address = "10.9.9.9:1".parse().unwrap();
    let locked = elsewhere.sign_in("admin@example.com", PASSWORD).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert!(locked.text.contains("RateLimited"));

    app.clock.advance(901);
    assert_eq!(
        elsewhere
            .sign_in("admin@example.com", PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
}

async fn failed_sign_ins_lock_an_address_spraying_accounts(app: &TestApp) {
    app.user("victim@example.com", Role::Member).await;
    for i in 0..20 {
        let response = app
            .browser()
            .sign_in(&format!("user{i}@example.com"), "password123456")
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.browser()
            .sign_in("victim@example.com", PASSWORD)
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
    let mut other = app.browser();
    other.address = "10.1.1.1:1".parse().unwrap();
    assert_eq!(
        other.sign_in("victim@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

async fn sign_out_ends_the_session(app: &TestApp) {
    let (mut browser, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let cookie = browser.cookie.clone();
    let response = browser.rpc("sign_out", &[]).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("location"), Some("/login"));
    let mut replay = app.browser();
    replay.cookie = cookie;
    assert_eq!(
        replay.rpc("viewer", &[]).await.json(),
        serde_json::Value::Null
    );
    let page = replay.get("/applications").await;
    assert_eq!(page.status, StatusCode::FOUND);
}

async fn signed_out_visitors_are_sent_to_login_and_back(app: &TestApp) {
    let mut browser = app.browser();
    let response = browser.get("/applications").await;
    assert_eq!(response.status, StatusCode::FOUND);
    assert_eq!(
        response.header("location"),
        Some("/login?next=/applications")
    );

    app.user("admin@example.com", Role::SuperAdmin).await;
    let response = browser
        .form_post(
            "sign_in",
            &[
                ("email", "admin@example.com"),
                ("password", PASSWORD),
                ("next", "/applications"),
            ],
            "/login?next=/applications",
        )
        .await;
    assert_eq!(response.status, StatusCode::FOUND);
    assert_eq!(response.header("location"), Some("/applications"));
    let page = browser.get("/applications").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("admin@example.com"));
    assert!(page.text.contains(&app.keyport.tenancy.customer_id));

    // `next` never leads off the site.
    let mut other = app.browser();
    let response = other
        .sign_in_with_next("admin@example.com", "//evil.example/x")
        .await;
    assert_eq!(response.header("location"), Some("/applications"));
}

trait SignInWithNext {
    async fn sign_in_with_next(&mut self, email: &str, next: &str) -> common::Response;
}

impl SignInWithNext for common::Browser<'_> {
    async fn sign_in_with_next(&mut self, email: &str, next: &str) -> common::Response {
        self.rpc(
            "sign_in",
            &[("email", email), ("password", PASSWORD), ("next", next)],
        )
        .await
    }
}

async fn roles_are_reported_to_the_shell(app: &TestApp) {
    for (email, role, admin, sup) in [
        ("root@example.com", Role::SuperAdmin, true, true),
        ("dom@example.com", Role::DomainAdmin, true, false),
        ("mem@example.com", Role::Member, false, false),
    ] {
        let (mut browser, _) = app.signed_in(email, role).await;
        let viewer = browser.rpc("viewer", &[]).await.json();
        assert_eq!(viewer["role"], role.as_str());
        assert_eq!(viewer["is_admin"], admin);
        assert_eq!(viewer["is_super_admin"], sup);
    }
}

async fn cross_origin_posts_are_refused(app: &TestApp) {
    app.user("admin@example.com", Role::SuperAdmin).await;
    let form = [("email", "admin@example.com"), ("password", PASSWORD)];
    let forged = app
        .browser()
        .rpc_from("sign_in", &form, Some("https://evil.example"))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let bare = app.browser().rpc_from("sign_in", &form, None).await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN);
    let ok = app.browser().rpc_from("sign_in", &form, Some(ORIGIN)).await;
    assert_eq!(ok.status, StatusCode::OK);
}

async fn plain_form_post_errors_come_back_with_the_typed_email(app: &TestApp) {
    let mut browser = app.browser();
    let response = browser
        .form_post(
            "sign_in",
            &[
                ("email", "typed@example.com"),
                ("password", "secret-typed-value"),
            ],
            "/login",
        )
        .await;
    // Back to the sign-in page's own address: the error waits in the
    // session, not in the address bar.
    assert_eq!(response.status, StatusCode::SEE_OTHER);
    assert_eq!(
        response.header("location"),
        Some("http://127.0.0.1:3000/login")
    );
    let page = browser.get("/login").await;
    assert!(
        page.text.contains("Email or password is incorrect."),
        "{}",
        page.text
    );
    assert!(page.text.contains("value=\"typed@example.com\""));
    assert!(
        !page.text.contains("secret-typed-value"),
        "the password is never echoed"
    );
    // Shown once.
    let again = browser.get("/login").await;
    assert!(!again.text.contains("Email or password is incorrect."));
}

async fn idle_sessions_expire(app: &TestApp) {
    let (mut browser, user) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    sqlx::query("UPDATE sessions SET expires_at = 1 WHERE user_id = $1")
        .bind(&user.id)
        .execute(&app.keyport.db.pool)
        .await
        .unwrap();
    assert_eq!(
        browser.rpc("viewer", &[]).await.json(),
        serde_json::Value::Null
    );
}

async fn pages_carry_security_headers(app: &TestApp) {
    let page = app.browser().get("/login").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("same-origin"));
    let csp = page.header("content-security-policy").unwrap();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    assert!(
        page.text
            .contains(&format!("<script type=\"module\" nonce=\"{nonce}\"")),
        "hydration script carries the nonce"
    );
    assert!(csp.contains("'wasm-unsafe-eval'") && csp.contains("frame-ancestors 'none'"));
    let other = app.browser().get("/login").await;
    assert_ne!(
        other.header("content-security-policy"),
        Some(csp),
        "a fresh nonce per page"
    );
}

async fn malformed_server_function_calls_are_bad_requests(app: &TestApp) {
    let mut browser = app.browser();
    let response = browser.rpc("sign_in", &[("email", "x@example.com")]).await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text
    );
    let response = browser.rpc("setup", &[]).await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text
    );
}
