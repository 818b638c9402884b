//! The audit log: filters, pages, export and the API.

use super::*;

/// A seeded audit entry: time, actor, action, client ID.
type Seeded = (i64, String, &'static str, Option<&'static str>);

/// Which seeded entries a filter should return.
type Keep = Box<dyn Fn(&Seeded) -> bool>;

/// 240 entries over 12 days: three actors, four actions, two applications.
pub(crate) async fn seed_log(app: &TestApp) -> (i64, Vec<Seeded>) {
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

pub(crate) fn day_string(at: i64) -> String {
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

pub(crate) async fn audit_filters_and_pages_agree_with_the_whole_log(app: &TestApp) {
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

pub(crate) async fn audit_export_and_api_use_the_same_filters(app: &TestApp) {
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
