//! Registration: credentials, stored secrets, field errors, unique names, the domain limit.

use super::*;

pub(crate) async fn registration_issues_credentials_revealed_only_on_request(app: &TestApp) {
    let (mut admin, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let id = admin.register("NAC gateway").await;

    let page = admin.rpc("applications/page", &[("id", &id)]).await.json();
    assert_eq!(page["app"]["name"], "NAC gateway");
    assert_eq!(
        page["app"]["permissions"],
        serde_json::json!(["clients:read"])
    );
    assert_eq!(
        page["credentials"],
        Value::Null,
        "nothing secret until asked"
    );
    assert_eq!(page["token_url"], "http://127.0.0.1:3000/oauth2/token");
    let client_id = page["app"]["client_id"].as_str().unwrap().to_owned();
    assert!(!page.to_string().contains("kps_"));

    let list = admin.rpc("applications/list", &[]).await;
    assert!(
        !list.text.contains("kps_"),
        "the list never carries a secret unless revealed"
    );
    let list = list.json();
    assert_eq!(list["count"], 1);
    assert_eq!(list["limit"], 63);
    assert_eq!(list["apps"][0]["client_id"], client_id.as_str());

    let revealed = admin.rpc("applications/reveal", &[("id", &id)]).await;
    assert_eq!(revealed.header("cache-control"), Some("no-store"));
    let revealed = revealed.json();
    let secret = revealed["client_secret"].as_str().unwrap();
    assert!(secret.starts_with("kps_") && secret.len() == 47, "{secret}");
    let combined = base64::engine::general_purpose::STANDARD
        .decode(revealed["oauth_credentials"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        String::from_utf8(combined).unwrap(),
        format!("{client_id}:{secret}")
    );

    // The no-JavaScript reveal posts, and returns to the list, which shows
    // the secret in that answer only: the rows the server keeps for the
    // next list never hold it.
    admin
        .form_post("applications/reveal", &[("id", &id)], "/applications")
        .await;
    let page = admin.get("/applications").await;
    assert!(page.text.contains(secret));
    let page = admin.get("/applications").await;
    assert!(page.text.contains(&client_id) && !page.text.contains("kps_"));
    // A change reaches the list at once, though the rows were kept.
    admin.register("Second gateway").await;
    let page = admin.get("/applications").await;
    assert!(page.text.contains("NAC gateway") && page.text.contains("Second gateway"));
    assert!(!page.text.contains("kps_"));
}

pub(crate) async fn secrets_are_stored_hashed_and_sealed_never_in_the_audit_log(app: &TestApp) {
    let (mut admin, _) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    let id = admin.register("Reporting").await;
    let secret = admin
        .rpc("applications/reveal", &[("id", &id)])
        .await
        .json()["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();

    let (hash, sealed): (String, Vec<u8>) =
        sqlx::query_as("SELECT secret_hash, secret_sealed FROM applications WHERE id = $1")
            .bind(&id)
            .fetch_one(&app.keyport.db.pool)
            .await
            .unwrap();
    assert!(hash.starts_with("hmac-sha256$"));
    assert_eq!(
        app.keyport.master_key.check_secret(
            &app::domain::secrets::ClientSecret::new(secret.clone()),
            &hash
        ),
        app::domain::secrets::SecretCheck::Matches
    );
    assert!(!String::from_utf8_lossy(&sealed).contains(&secret));

    let actions: Vec<(String, String, String)> =
        sqlx::query_as("SELECT action, actor, COALESCE(target, '') FROM audit_log ORDER BY id")
            .fetch_all(&app.keyport.db.pool)
            .await
            .unwrap();
    let names: Vec<&str> = actions.iter().map(|(a, _, _)| a.as_str()).collect();
    assert!(
        names.contains(&"application_registered") && names.contains(&"secret_revealed"),
        "{names:?}"
    );
    for row in &actions {
        assert!(
            !format!("{row:?}").contains(&secret[4..]),
            "secret in the audit log: {row:?}"
        );
    }
}

pub(crate) async fn each_invalid_field_is_named_and_nothing_is_stored(app: &TestApp) {
    let (mut admin, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
    let big = vec![0x89u8; 1024 * 1024];
    let long_name = "n".repeat(65);
    let long_description = "d".repeat(501);
    // A name and a permission, and the one field under test.
    let valid_but = |part| {
        vec![
            Part::Text("name", "A"),
            Part::Text("permissions", "clients:read"),
            part,
        ]
    };
    let cases: Vec<(Vec<Part>, &str, &str)> = vec![
        (
            vec![
                Part::Text("name", "   "),
                Part::Text("permissions", "clients:read"),
            ],
            "name",
            "Enter an application name",
        ),
        (
            vec![
                Part::Text("name", &long_name),
                Part::Text("permissions", "clients:read"),
            ],
            "name",
            "at most 64",
        ),
        (
            valid_but(Part::Text("callback_url", "ftp://x")),
            "callback_url",
            "https://",
        ),
        (
            valid_but(Part::Text("callback_url", "http://example.com/cb")),
            "callback_url",
            "loopback",
        ),
        (
            valid_but(Part::Text("callback_url", "https://x/#frag")),
            "callback_url",
            "fragment",
        ),
        (
            valid_but(Part::Text("website_url", "not a url")),
            "website_url",
            "",
        ),
        (vec![Part::Text("name", "A")], "permissions", "at least one"),
        (
            vec![
                Part::Text("name", "A"),
                Part::Text("permissions", "root:all"),
            ],
            "permissions",
            "from the list",
        ),
        (valid_but(Part::File("icon", "x.svg", svg)), "icon", "SVG"),
        (
            valid_but(Part::File("icon", "big.png", &big)),
            "icon",
            "256 KiB",
        ),
        (
            valid_but(Part::Text("description", &long_description)),
            "description",
            "500",
        ),
    ];
    for (parts, field, words) in cases {
        let response = admin.rpc_multipart("applications/create", &parts).await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{field}: {}",
            response.text
        );
        let fields = response.json()["Invalid"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let problem = fields
            .iter()
            .find(|f| f["field"] == field)
            .unwrap_or_else(|| panic!("{field} not named: {}", response.text));
        assert!(
            problem["message"].as_str().unwrap().contains(words),
            "{problem}"
        );
    }
    assert_eq!(
        app.keyport
            .count_applications(&app.keyport.tenancy.default_domain_id)
            .await
            .unwrap(),
        0
    );
}

pub(crate) async fn names_are_unique_per_domain_ignoring_case(app: &TestApp) {
    let (mut admin, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    admin.register("VPN Gateway").await;
    let response = admin
        .rpc_multipart(
            "applications/create",
            &[
                Part::Text("name", "vpn gateway"),
                Part::Text("permissions", "clients:read"),
            ],
        )
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(
        response.text.contains("already exists"),
        "{}",
        response.text
    );
    assert_eq!(
        app.keyport
            .count_applications(&app.keyport.tenancy.default_domain_id)
            .await
            .unwrap(),
        1
    );
}

pub(crate) async fn the_domain_limit_holds_under_concurrent_registrations(app: &TestApp) {
    let (admin, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    sqlx::query("UPDATE domains SET app_limit = 4")
        .execute(&app.keyport.db.pool)
        .await
        .unwrap();
    let cookie = admin.cookie.clone();
    let attempts = (0..10).map(|i| {
        let mut browser = app.browser();
        browser.cookie = cookie.clone();
        async move {
            let name = format!("App {i}");
            browser
                .rpc_multipart(
                    "applications/create",
                    &[
                        Part::Text("name", &name),
                        Part::Text("permissions", "clients:read"),
                    ],
                )
                .await
        }
    });
    let responses = futures::future::join_all(attempts).await;
    let created = responses
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let refused: Vec<_> = responses
        .iter()
        .filter(|r| r.status != StatusCode::OK)
        .collect();
    assert_eq!(created, 4);
    for r in refused {
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert!(
            r.text.contains("already holds 4 of its 4 applications"),
            "{}",
            r.text
        );
    }
    assert_eq!(
        app.keyport
            .count_applications(&app.keyport.tenancy.default_domain_id)
            .await
            .unwrap(),
        4
    );
    let orphans: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM application_permissions WHERE application_id NOT IN (SELECT id FROM applications)",
    )
    .fetch_one(&app.keyport.db.pool)
    .await
    .unwrap();
    assert_eq!(orphans, 0);
}
