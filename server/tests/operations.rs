//! Admin operations end to end: rotation with a grace period (the clock
//! passed in), usage per secret, removal with restore and the 30-day purge,
//! the audit log's filters, pages and CSV, users with password links and
//! disabling, and the token inspector.

mod common;

use app::domain::accounts::Role;
use app::domain::audit::{self, Action, Actor};
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::{Browser, TestApp, PASSWORD};
use serde_json::Value;

on_both_engines!(
    a_rotated_secret_works_until_its_grace_period_ends,
    the_old_secret_can_be_retired_early_and_rotation_is_checked,
    usage_is_counted_per_secret_and_per_day,
    removed_applications_are_refused_restored_and_purged_after_30_days,
    restore_needs_room_and_a_free_name,
    audit_filters_and_pages_agree_with_the_whole_log,
    audit_export_and_api_use_the_same_filters,
    admins_create_users_who_set_a_password_through_a_link,
    disabling_a_user_ends_their_sessions_at_once,
    domain_admins_manage_only_their_domain,
    the_token_inspector_gives_a_plain_verdict,
);

const DAY: i64 = 86_400;

/// A refusal: its status, and the message that tells the user why.
fn assert_refused(response: &common::Response, status: StatusCode, message: &str) {
    assert_eq!(response.status, status, "{}", response.text);
    assert!(
        response.text.contains(message),
        "{message}: {}",
        response.text
    );
}

async fn token(app: &TestApp, id: &str, secret: &str) -> common::Response {
    app.token_request(Some((id, secret)), "grant_type=client_credentials")
        .await
}

async fn access_token(app: &TestApp, id: &str, secret: &str) -> String {
    let response = token(app, id, secret).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    response.json()["access_token"].as_str().unwrap().to_owned()
}

async fn bearer_post(app: &TestApp, path: &str, token: &str, body: &str) -> common::Response {
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    app.call(request).await
}

async fn application_id(app: &TestApp, client_id: &str) -> String {
    app.keyport
        .application_id_for_client(client_id)
        .await
        .unwrap()
        .expect("an application in use")
}

async fn actions(app: &TestApp, action: Action) -> Vec<audit::Record> {
    let filter = audit::Filter {
        action: Some(action),
        ..Default::default()
    };
    audit::search(&app.keyport.db, &filter, 100).await.unwrap()
}

async fn a_rotated_secret_works_until_its_grace_period_ends(app: &TestApp) {
    let owner = app.user("owner@example.com", Role::DomainAdmin).await;
    let (id, old) = app.client(&owner, "Gateway", &["clients:write"]).await;
    let bearer = access_token(app, &id, &old).await;

    let response = bearer_post(
        app,
        &format!("/api/v1/clients/{id}/secret"),
        &bearer,
        r#"{"grace_seconds": 3600}"#,
    )
    .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body = response.json();
    let new = body["client_secret"].as_str().unwrap().to_owned();
    assert!(new.starts_with("kps_") && new != old);
    assert_eq!(body["client_id"], id.as_str());
    let deadline = app.keyport.now() + 3600;
    assert_eq!(body["previous_secret_expires_at"], deadline);

    // Both work during the grace period, to its last second.
    access_token(app, &id, &new).await;
    access_token(app, &id, &old).await;
    app.clock.advance(3599);
    access_token(app, &id, &old).await;
    access_token(app, &id, &new).await;

    // At the deadline the old one is refused; the new one goes on.
    app.clock.advance(1);
    let refused = token(app, &id, &old).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
    assert_eq!(refused.json()["error"], "invalid_client");
    access_token(app, &id, &new).await;

    // The upkeep retires it once, however many nodes run it.
    assert_eq!(app.keyport.retire_expired_secrets().await.unwrap(), 1);
    assert_eq!(app.keyport.retire_expired_secrets().await.unwrap(), 0);
    let retired = actions(app, Action::SecretRetired).await;
    assert_eq!(retired.len(), 1);
    assert_eq!(retired[0].detail.as_deref(), Some("grace period ended"));
    assert_eq!(retired[0].actor, "keyport");
    let rotated = actions(app, Action::SecretRotated).await;
    assert_eq!(rotated.len(), 1);
    assert_eq!(rotated[0].client_id.as_deref(), Some(id.as_str()));
    assert_eq!(rotated[0].detail.as_deref(), Some("grace period 1 h"));
    assert!(!rotated[0].detail.as_deref().unwrap().contains("kps_"));

    // Without a body the grace period is 24 h; 0 retires the old one at once.
    let bearer = access_token(app, &id, &new).await;
    let response = bearer_post(app, &format!("/api/v1/clients/{id}/secret"), &bearer, "").await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(
        response.json()["previous_secret_expires_at"],
        app.keyport.now() + DAY
    );
    let newest = response.json()["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = bearer_post(
        app,
        &format!("/api/v1/clients/{id}/secret"),
        &bearer,
        r#"{"grace_seconds": 0}"#,
    )
    .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.json()["previous_secret_expires_at"], Value::Null);
    assert_eq!(
        token(app, &id, &newest).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(token(app, &id, &new).await.status, StatusCode::UNAUTHORIZED);
}

async fn the_old_secret_can_be_retired_early_and_rotation_is_checked(app: &TestApp) {
    let (mut browser, owner) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    let (client_id, old) = app.client(&owner, "Reports", &["clients:read"]).await;
    let id = application_id(app, &client_id).await;

    for bad in ["-1", "604801", "soon"] {
        let response = browser
            .rpc(
                "applications/rotate",
                &[("id", &id), ("grace_seconds", bad)],
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            response.text
        );
    }
    access_token(app, &client_id, &old).await;
    assert!(actions(app, Action::SecretRotated).await.is_empty());

    // Retiring with nothing to retire says so and changes nothing.
    let response = browser.rpc("applications/retire", &[("id", &id)]).await;
    assert_refused(&response, StatusCode::BAD_REQUEST, "no previous secret");

    // A plain form post (no JavaScript) rotates and lands on the page.
    let response = browser
        .form_post(
            "applications/rotate",
            &[("id", &id), ("grace_seconds", "86400")],
            &format!("/applications/{id}"),
        )
        .await;
    assert!(response.status.is_redirection(), "{}", response.status);
    assert_eq!(
        response.header("location"),
        Some(format!("/applications/{id}?rotated={}", app.keyport.now()).as_str())
    );
    let page = browser.rpc("applications/page", &[("id", &id)]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let page = page.json();
    let revealed = browser.rpc("applications/reveal", &[("id", &id)]).await;
    let new = revealed.json()["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        page["secrets"]["previous_expires_at"],
        app.keyport.now() + DAY
    );
    access_token(app, &client_id, &old).await;
    access_token(app, &client_id, &new).await;

    let response = browser.rpc("applications/retire", &[("id", &id)]).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(
        token(app, &client_id, &old).await.status,
        StatusCode::UNAUTHORIZED
    );
    access_token(app, &client_id, &new).await;
    let retired = actions(app, Action::SecretRetired).await;
    assert_eq!(retired.len(), 1);
    assert_eq!(retired[0].detail.as_deref(), Some("retired early"));
    assert_eq!(retired[0].actor, "admin@example.com");

    // A member cannot rotate another user's application.
    let (mut member, _) = app.signed_in("member@example.com", Role::Member).await;
    let response = member
        .rpc(
            "applications/rotate",
            &[("id", &id), ("grace_seconds", "0")],
        )
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND, "{}", response.text);
    access_token(app, &client_id, &new).await;
}

async fn usage_is_counted_per_secret_and_per_day(app: &TestApp) {
    let (mut browser, owner) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    let (client_id, old) = app.client(&owner, "Scanner", &["clients:read"]).await;
    let id = application_id(app, &client_id).await;
    let start = app.keyport.now();
    for _ in 0..3 {
        access_token(app, &client_id, &old).await;
    }
    assert_eq!(
        token(app, &client_id, "kps_wrong").await.status,
        StatusCode::UNAUTHORIZED
    );

    app.clock.advance(DAY);
    // A day later the admin signs in again: a session lasts 12 hours.
    browser.sign_in("admin@example.com", PASSWORD).await;
    let rotated = app
        .keyport
        .rotate_secret(&Actor::keyport(), &owner, &id, 3600)
        .await
        .unwrap();
    use app::domain::secrets::Secret;
    let new = rotated.credentials.client_secret.expose().to_owned();
    app.clock.advance(60);
    access_token(app, &client_id, &new).await;
    app.clock.advance(60);
    access_token(app, &client_id, &old).await;

    let page = browser.rpc("applications/page", &[("id", &id)]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let page = page.json();
    assert_eq!(page["secrets"]["current_last_used"], start + DAY + 60);
    assert_eq!(page["secrets"]["previous_last_used"], start + DAY + 120);
    assert_eq!(page["app"]["last_used_at"], start + DAY + 120);
    let usage = page["usage"].as_array().unwrap();
    assert_eq!(usage.len(), 30);
    let today = &usage[29];
    let yesterday = &usage[28];
    assert_eq!(
        (today["issued"].as_i64(), today["failures"].as_i64()),
        (Some(2), Some(0))
    );
    assert_eq!(
        (yesterday["issued"].as_i64(), yesterday["failures"].as_i64()),
        (Some(3), Some(1))
    );
    assert!(usage[..28]
        .iter()
        .all(|d| d["issued"] == 0 && d["failures"] == 0));

    // The list draws the same days as a sparkline, and the unused filter
    // leaves out what was used.
    let (unused_id, _) = app.client(&owner, "Forgotten", &["clients:read"]).await;
    let list = browser.rpc("applications/list", &[]).await.json();
    let scanner = list["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id.as_str())
        .unwrap();
    let spark: Vec<i64> = scanner["usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(spark.len(), 30);
    assert_eq!(&spark[28..], &[3, 2]);
    let unused = browser
        .rpc("applications/list", &[("unused", "1")])
        .await
        .json();
    let names: Vec<&str> = unused["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec![unused_id.as_str()]);
    assert_eq!(unused["unused_days"], 90);
    // 90 days on (signed in again), the scanner is unused too.
    app.clock.advance(91 * DAY);
    browser.sign_in("admin@example.com", PASSWORD).await;
    let unused = browser
        .rpc("applications/list", &[("unused", "1")])
        .await
        .json();
    assert_eq!(unused["apps"].as_array().unwrap().len(), 2);
}

async fn removed_applications_are_refused_restored_and_purged_after_30_days(app: &TestApp) {
    let (mut browser, owner) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    let (client_id, old) = app.client(&owner, "Legacy VPN", &["clients:read"]).await;
    let id = application_id(app, &client_id).await;
    let bearer = access_token(app, &client_id, &old).await;
    assert_eq!(
        app.bearer_get("/api/v1/clients", Some(&bearer))
            .await
            .status,
        StatusCode::OK
    );

    let response = browser.rpc("applications/remove", &[("ids[0]", &id)]).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    // Refused at once: credentials, and tokens already issued.
    assert_eq!(
        token(app, &client_id, &old).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.bearer_get("/api/v1/clients", Some(&bearer))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        browser
            .rpc("applications/page", &[("id", &id)])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let removed = browser.rpc("applications/removed", &[]).await.json();
    let listed = &removed["apps"][0];
    assert_eq!(listed["client_id"], client_id.as_str());
    assert_eq!(listed["purged_at"], app.keyport.now() + 30 * DAY);
    assert_eq!(
        browser.rpc("applications/list", &[]).await.json()["removed"],
        1
    );

    // Restored (without JavaScript) with the same client ID and a new
    // secret, ten days (and a new sign-in) later.
    app.clock.advance(10 * DAY);
    browser.sign_in("admin@example.com", PASSWORD).await;
    let response = browser
        .form_post(
            "applications/restore",
            &[("id", &id)],
            "/applications/removed",
        )
        .await;
    assert!(response.status.is_redirection(), "{}", response.text);
    assert_eq!(
        response.header("location"),
        Some(format!("/applications/{id}?restored=1").as_str())
    );
    let page = browser
        .rpc("applications/page", &[("id", &id)])
        .await
        .json();
    assert_eq!(page["app"]["client_id"], client_id.as_str());
    let revealed = browser
        .rpc("applications/reveal", &[("id", &id)])
        .await
        .json();
    let new = revealed["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(
        token(app, &client_id, &old).await.status,
        StatusCode::UNAUTHORIZED
    );
    let fresh = access_token(app, &client_id, &new).await;
    assert_eq!(
        app.bearer_get("/api/v1/clients", Some(&fresh)).await.status,
        StatusCode::OK
    );
    // A token from before a removal stays refused after the restore.
    app.clock.advance(1);
    app.keyport
        .remove_applications(&Actor::keyport(), &owner, std::slice::from_ref(&id))
        .await
        .unwrap();
    app.keyport
        .restore_application(&Actor::keyport(), &owner, &id)
        .await
        .unwrap();
    assert_eq!(
        app.bearer_get("/api/v1/clients", Some(&fresh)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(actions(app, Action::ApplicationRestored).await.len(), 2);

    // Removed again: kept for 30 days to the second, then purged once.
    app.keyport
        .remove_applications(&Actor::keyport(), &owner, std::slice::from_ref(&id))
        .await
        .unwrap();
    app.clock.advance(30 * DAY);
    assert_eq!(app.keyport.purge_removed_applications().await.unwrap(), 0);
    browser.sign_in("admin@example.com", PASSWORD).await;
    assert_eq!(
        browser.rpc("applications/removed", &[]).await.json()["apps"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.clock.advance(1);
    assert_eq!(app.keyport.purge_removed_applications().await.unwrap(), 1);
    assert_eq!(app.keyport.purge_removed_applications().await.unwrap(), 0);
    assert!(
        browser.rpc("applications/removed", &[]).await.json()["apps"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let response = browser.rpc("applications/restore", &[("id", &id)]).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND, "{}", response.text);
    let purged = actions(app, Action::ApplicationPurged).await;
    assert_eq!(purged.len(), 1);
    assert_eq!(purged[0].client_id.as_deref(), Some(client_id.as_str()));
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM application_permissions WHERE application_id = $1",
    )
    .bind(&id)
    .fetch_one(&app.keyport.db.pool)
    .await
    .unwrap();
    assert_eq!(left, 0);
}

async fn restore_needs_room_and_a_free_name(app: &TestApp) {
    let (mut browser, owner) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    let (client_id, _) = app.client(&owner, "Nightly sync", &["clients:read"]).await;
    let id = application_id(app, &client_id).await;
    app.keyport
        .remove_applications(&Actor::keyport(), &owner, std::slice::from_ref(&id))
        .await
        .unwrap();
    // The name is free again while the old one waits in Recently removed.
    app.client(&owner, "Nightly Sync", &["clients:read"]).await;
    let response = browser.rpc("applications/restore", &[("id", &id)]).await;
    assert_refused(
        &response,
        StatusCode::BAD_REQUEST,
        "is in use in this domain",
    );

    // A full domain refuses a restore, naming its limit.
    sqlx::query("UPDATE domains SET app_limit = 1")
        .execute(&app.keyport.db.pool)
        .await
        .unwrap();
    let response = browser.rpc("applications/restore", &[("id", &id)]).await;
    assert_refused(
        &response,
        StatusCode::BAD_REQUEST,
        "already holds 1 of its 1 applications",
    );
    assert_eq!(
        browser.rpc("applications/removed", &[]).await.json()["apps"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// A seeded audit entry: time, actor, action, client ID.
type Seeded = (i64, String, &'static str, Option<&'static str>);

/// Which seeded entries a filter should return.
type Keep = Box<dyn Fn(&Seeded) -> bool>;

/// 240 entries over 12 days: three actors, four actions, two applications.
async fn seed_log(app: &TestApp) -> (i64, Vec<Seeded>) {
    let start = app.keyport.now();
    let domain = app.keyport.tenancy.default_domain_id.clone();
    let mut seeded = Vec::new();
    for i in 0..240i64 {
        let at = start + i * 4 * 3600;
        let actor = format!("user{}@example.com", i % 3);
        let (action, client) = match i % 4 {
            0 => (Action::SignIn, None),
            1 => (Action::SecretRevealed, Some("client-a")),
            2 => (Action::ApplicationEdited, Some("client-b")),
            _ => (Action::SignInFailed, None),
        };
        let who = Actor {
            user_id: None,
            label: actor.clone(),
            address: "10.1.1.1".into(),
        };
        let mut tx = app.keyport.db.write().await.unwrap();
        audit::record(
            &mut tx,
            audit::Entry {
                at,
                domain_id: Some(&domain),
                actor: &who,
                action,
                target: client,
                client_id: client,
                detail: None,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        seeded.push((at, actor, action.as_str(), client));
    }
    (start, seeded)
}

fn day_string(at: i64) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(at)
        .unwrap()
        .date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

async fn audit_filters_and_pages_agree_with_the_whole_log(app: &TestApp) {
    let (mut browser, _) = app.signed_in("auditor@example.com", Role::SuperAdmin).await;
    let (start, seeded) = seed_log(app).await;
    let from = day_string(start + 2 * DAY);
    let until = day_string(start + 5 * DAY);
    let from_at = app::time::parse_day(&from).unwrap();
    let until_at = app::time::parse_day(&until).unwrap() + DAY;
    let cases: Vec<(Vec<(&str, String)>, Keep)> = vec![
        (vec![], Box::new(|_| true)),
        (
            vec![("actor", "user1@example.com".into())],
            Box::new(|e| e.1 == "user1@example.com"),
        ),
        (
            vec![("action", "secret_revealed".into())],
            Box::new(|e| e.2 == "secret_revealed"),
        ),
        (
            vec![("client_id", "client-b".into())],
            Box::new(|e| e.3 == Some("client-b")),
        ),
        (
            vec![("from", from.clone()), ("until", until.clone())],
            Box::new(move |e| e.0 >= from_at && e.0 < until_at),
        ),
        (
            vec![
                ("actor", "user2@example.com".into()),
                ("action", "sign_in_failed".into()),
                ("from", from.clone()),
            ],
            Box::new(move |e| {
                e.1 == "user2@example.com" && e.2 == "sign_in_failed" && e.0 >= from_at
            }),
        ),
    ];
    for (filters, keep) in cases {
        let expected: Vec<i64> = seeded
            .iter()
            .filter(|e| keep(e))
            .map(|e| e.0)
            .rev()
            .collect();
        // Walk the pages of the portal, 50 at a time, newest first.
        let mut seen = Vec::new();
        let mut before: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut form: Vec<(String, String)> = filters
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            if let Some(b) = &before {
                form.push(("before".into(), b.clone()));
            }
            let form: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let page = browser.rpc("audit/page", &form).await;
            assert_eq!(page.status, StatusCode::OK, "{filters:?}: {}", page.text);
            let page = page.json();
            let entries = page["entries"].as_array().unwrap();
            assert!(entries.len() <= 50);
            seen.extend(
                entries
                    .iter()
                    .filter(|e| e["actor"].as_str().unwrap().starts_with("user"))
                    .map(|e| e["at"].as_i64().unwrap()),
            );
            pages += 1;
            match page["older"].as_i64() {
                Some(older) => before = Some(older.to_string()),
                None => break,
            }
        }
        assert_eq!(seen, expected, "{filters:?}");
        assert!(pages >= expected.len().div_ceil(50), "{filters:?}");
    }

    // Bad filters are named, and change nothing.
    for (field, value, message) in [
        ("from", "2026-02-30", "Enter a date as YYYY-MM-DD."),
        ("until", "yesterday", "Enter a date as YYYY-MM-DD."),
        ("action", "drop_table", "There is no action"),
    ] {
        let page = browser.rpc("audit/page", &[(field, value)]).await;
        assert_refused(&page, StatusCode::BAD_REQUEST, field);
        assert_refused(&page, StatusCode::BAD_REQUEST, message);
    }
    let page = browser
        .rpc(
            "audit/page",
            &[("from", until.as_str()), ("until", from.as_str())],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.text);

    // Members may not read it.
    let (mut member, _) = app.signed_in("member@example.com", Role::Member).await;
    assert_eq!(
        member.rpc("audit/page", &[]).await.status,
        StatusCode::FORBIDDEN
    );
}

async fn audit_export_and_api_use_the_same_filters(app: &TestApp) {
    let (mut browser, owner) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    let (_, seeded) = seed_log(app).await;
    // A value a spreadsheet would run stays text.
    let who = Actor {
        user_id: None,
        label: "=HYPERLINK(\"http://evil.example\")".into(),
        address: "10.1.1.1".into(),
    };
    app.keyport
        .audit(Some(&owner.domain_id), &who, Action::SignInFailed, None)
        .await
        .unwrap();

    let csv = browser
        .get("/audit.csv?action=secret_revealed&actor=user1%40example.com")
        .await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.text);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(csv
        .header("content-disposition")
        .unwrap()
        .contains("attachment"));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(
        lines[0],
        "id,time_utc,actor,action,target,client_id,detail,address"
    );
    let expected = seeded
        .iter()
        .filter(|e| e.1 == "user1@example.com" && e.2 == "secret_revealed")
        .count();
    assert_eq!(lines.len() - 1, expected);
    assert!(lines[1..]
        .iter()
        .all(|l| l.contains(",user1@example.com,secret_revealed,client-a,client-a,,10.1.1.1")));
    let all = browser.get("/audit.csv").await;
    assert!(
        all.text
            .contains("\"'=HYPERLINK(\"\"http://evil.example\"\")\""),
        "{}",
        all.text
    );
    assert!(!all.text.contains(PASSWORD));
    assert_eq!(
        browser.get("/audit.csv?from=tomorrow").await.status,
        StatusCode::BAD_REQUEST
    );
    let (mut member, _) = app.signed_in("member@example.com", Role::Member).await;
    assert_eq!(member.get("/audit.csv").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.browser().get("/audit.csv").await.status,
        StatusCode::UNAUTHORIZED
    );

    // The API pages with a Link header and the same filters.
    let (id, secret) = app.client(&owner, "SIEM", &["audit:read"]).await;
    let bearer = access_token(app, &id, &secret).await;
    let mut path = "/api/v1/audit?action=sign_in&limit=25".to_string();
    let mut got = 0;
    loop {
        let response = app.bearer_get(&path, Some(&bearer)).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text);
        let entries = response.json();
        let entries = entries.as_array().unwrap();
        assert!(entries.iter().all(|e| e["action"] == "sign_in"));
        got += entries.len();
        match response.header("link") {
            Some(link) => {
                path = link
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_owned();
                assert!(link.ends_with("rel=\"next\""));
            }
            None => break,
        }
    }
    // The seeded ones, and the admin's and the member's own.
    let signins = seeded.iter().filter(|e| e.2 == "sign_in").count() + 2;
    assert_eq!(got, signins);
    let response = app
        .bearer_get("/api/v1/audit?until=2026-13-01", Some(&bearer))
        .await;
    assert_refused(&response, StatusCode::BAD_REQUEST, "until: Enter a date");
}

/// The token of a password link, from the link.
fn link_token(url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    assert_eq!(url.path(), "/welcome");
    url.query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .into_owned()
}

async fn admins_create_users_who_set_a_password_through_a_link(app: &TestApp) {
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

async fn disabling_a_user_ends_their_sessions_at_once(app: &TestApp) {
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

async fn domain_admins_manage_only_their_domain(app: &TestApp) {
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

async fn the_token_inspector_gives_a_plain_verdict(app: &TestApp) {
    let (mut browser, owner) = app.signed_in("admin@example.com", Role::Member).await;
    let (client_id, secret) = app.client(&owner, "Inspected", &["clients:read"]).await;
    let token = access_token(app, &client_id, &secret).await;
    let inspect = |verdict: &Value| verdict["verdict"].as_str().unwrap().to_owned();

    let valid = browser
        .rpc("tools/inspect", &[("token", &format!("Bearer {token}"))])
        .await;
    assert_eq!(valid.status, StatusCode::OK, "{}", valid.text);
    let valid = valid.json();
    assert_eq!(valid["valid"], true);
    assert!(inspect(&valid).starts_with("Valid until "), "{valid}");
    assert!(valid["claims"].as_str().unwrap().contains(&client_id));
    assert!(valid["header"].as_str().unwrap().contains("at+jwt"));

    let (head, rest) = token.split_once('.').unwrap();
    let (claims, signature) = rest.split_once('.').unwrap();
    let mut forged = signature.to_owned();
    forged.replace_range(
        ..4,
        if signature.starts_with("AAAA") {
            "BBBB"
        } else {
            "AAAA"
        },
    );
    let cases = [
        (format!("{head}.{claims}.{forged}"), "Bad signature"),
        ("not a token".to_string(), "Not a token"),
        ("a.b.c".to_string(), "Not a token"),
        (String::new(), "Not a token"),
    ];
    for (pasted, expected) in cases {
        let verdict = browser
            .rpc("tools/inspect", &[("token", &pasted)])
            .await
            .json();
        assert_eq!(inspect(&verdict), expected, "{pasted}");
        assert_eq!(verdict["valid"], false);
    }
    // Another issuer's key and claims.
    use base64::Engine as _;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let unknown = format!(
        "{}.{}.{}",
        b64(&serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": "someone-else"})),
        claims,
        signature
    );
    let verdict = browser
        .rpc("tools/inspect", &[("token", &unknown)])
        .await
        .json();
    assert_eq!(inspect(&verdict), "Signed by an unknown key");

    // Revoked, then expired.
    let revoked = access_token(app, &client_id, &secret).await;
    let claims = app.keyport.verify_access_token(&revoked).await.unwrap();
    app.keyport.revoke(&claims).await.unwrap();
    let verdict = browser
        .rpc("tools/inspect", &[("token", &revoked)])
        .await
        .json();
    assert_eq!(inspect(&verdict), "Revoked");
    app.clock.advance(3600 + 5);
    let verdict = browser
        .rpc("tools/inspect", &[("token", &token)])
        .await
        .json();
    assert!(inspect(&verdict).starts_with("Expired at "), "{verdict}");

    // A plain form post keeps the verdict (never the token) for the page.
    let response = browser
        .form_post("tools/inspect", &[("token", &token)], "/tools/token")
        .await;
    assert!(response.status.is_redirection());
    let kept = browser.rpc("tools/inspection", &[]).await.json();
    assert!(inspect(&kept).starts_with("Expired at "));
    assert_eq!(
        browser.rpc("tools/inspection", &[]).await.json(),
        Value::Null
    );
    let sessions: Vec<Vec<u8>> = sqlx::query_scalar("SELECT data FROM sessions")
        .fetch_all(&app.keyport.db.pool)
        .await
        .unwrap();
    let signature_part = token.rsplit('.').next().unwrap();
    assert!(sessions
        .iter()
        .all(|d| !String::from_utf8_lossy(d).contains(signature_part)));
    // Signed-out visitors get nothing.
    assert_eq!(
        app.browser()
            .rpc("tools/inspect", &[("token", &token)])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}
