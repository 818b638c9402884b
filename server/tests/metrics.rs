//! `GET /metrics`: what an operator's Prometheus scrapes, counted from real
//! requests through the router.

mod common;

use app::domain::accounts::Role;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::TestApp;

on_both_engines!(tokens_requests_and_the_pool_are_counted);

async fn scrape(app: &TestApp) -> String {
    let response = app
        .call(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text
}

/// The value of the sample named exactly `series`, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn tokens_requests_and_the_pool_are_counted(app: &TestApp) {
    let owner = app.user("owner@example.com", Role::SuperAdmin).await;
    let (id, secret) = app.client(&owner, "Gateway", &["clients:read"]).await;
    let grant = "grant_type=client_credentials";
    for _ in 0..2 {
        let issued = app.token_request(Some((&id, &secret)), grant).await;
        assert_eq!(issued.status, StatusCode::OK);
    }
    let refusals = [
        (Some((id.as_str(), "kps_wrong")), grant),
        (
            Some((id.as_str(), secret.as_str())),
            "grant_type=client_credentials&scope=clients:write",
        ),
        (Some((id.as_str(), secret.as_str())), "grant_type=password"),
        (None, grant),
    ];
    for (basic, form) in refusals {
        let refused = app.token_request(basic, form).await;
        assert!(refused.status.is_client_error(), "{}", refused.text);
    }
    let page = format!("/applications/{id}");
    app.browser().get(&page).await;

    let text = scrape(app).await;
    let count =
        |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series} in\n{text}"));
    assert_eq!(
        count(r#"keyport_tokens_issued_total{grant_type="client_credentials"}"#),
        2.0
    );
    for grant in ["authorization_code", "refresh_token"] {
        let series = format!(r#"keyport_tokens_issued_total{{grant_type="{grant}"}}"#);
        assert_eq!(count(&series), 0.0, "{grant}");
    }
    for (reason, n) in [
        ("invalid_client", 2.0),
        ("invalid_scope", 1.0),
        ("unsupported_grant_type", 1.0),
        ("invalid_target", 0.0),
        ("unavailable", 0.0),
    ] {
        assert_eq!(
            count(&format!(
                r#"keyport_token_refusals_total{{reason="{reason}"}}"#
            )),
            n,
            "{reason}"
        );
    }
    let token = r#"route="/oauth2/token",method="POST""#;
    assert_eq!(
        count(&format!(
            r#"keyport_http_request_duration_seconds_count{{{token},status="2xx"}}"#
        )),
        2.0
    );
    assert_eq!(
        count(&format!(
            r#"keyport_http_request_duration_seconds_count{{{token},status="4xx"}}"#
        )),
        4.0
    );
    assert_eq!(
        count(&format!(
            r#"keyport_http_request_duration_seconds_bucket{{{token},status="2xx",le="+Inf"}}"#
        )),
        2.0
    );
    // Routes are labelled by template: the client ID asked for is no label.
    assert!(!text.contains(&id), "{text}");
    assert!(text.contains(r#"route="/applications/"#), "{text}");
    let max = count("keyport_db_pool_max_connections");
    assert!(max == 8.0 || max == 16.0, "{max}");
    assert!(count(r#"keyport_db_pool_connections{state="idle"}"#) >= 0.0);
    assert!(sample(&text, r#"keyport_db_pool_connections{state="in_use"}"#).is_some());
}
