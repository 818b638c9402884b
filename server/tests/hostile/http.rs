//! The HTTP endpoints integrations call: OAuth and the management API.

use app::domain::accounts::Role;
use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request, StatusCode};

use base64::Engine as _;

use crate::common::{self, BasicCredentials as _, TestApp};
use crate::support::*;
use crate::verdict::Verdict;

/// Not split: one table of hostile fields per endpoint, walked under one
/// verdict, with the store compared once before and after.
pub(crate) async fn oauth_endpoints_answer_hostile_requests_with_4xx(app: &TestApp) {
    let _verdict = Verdict::open();
    let owner = app.user("owner@example.com", Role::DomainAdmin).await;
    let (id, secret) = app.client(&owner, "Integration", &["clients:read"]).await;
    let valid: Vec<(&str, String)> = vec![
        ("grant_type", "client_credentials".into()),
        ("scope", "clients:read".into()),
        ("client_id", id.clone()),
        ("client_secret", secret.clone()),
        ("code", "abc".into()),
        ("redirect_uri", CALLBACK.into()),
        ("code_verifier", "v".repeat(43)),
        ("token", "abc".into()),
    ];
    let post = |path: &str, body: Vec<u8>, authorization: Option<String>, content_type: &str| {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, content_type);
        if let Some(a) = authorization {
            request = request.header(header::AUTHORIZATION, a);
        }
        request.body(Body::from(body)).unwrap()
    };
    let before = snapshot(app).await;
    let mut n = 0u32;
    for path in [
        "/oauth2/token",
        "/v4/oauth2/token",
        "/oauth2/introspect",
        "/oauth2/revoke",
    ] {
        for (field, _) in &valid {
            let credential = *field == "client_secret" || *field == "client_id";
            // A wrong credential spends the address's failure budget: the
            // four endpoints read credentials with the same code, tried at
            // the first.
            if credential && path != "/oauth2/token" {
                continue;
            }
            let payloads = if credential {
                credential_payloads()
            } else {
                payloads()
            };
            for (label, payload) in payloads {
                let form: Vec<(&str, &str)> = valid
                    .iter()
                    .map(|(k, v)| {
                        (
                            *k,
                            if k == field {
                                payload.as_str()
                            } else {
                                v.as_str()
                            },
                        )
                    })
                    .collect();
                let body = common::encode(&form).into_bytes();
                let case = format!("{path} {field}={label}");
                // Each case from its own address: the failure limiter is not
                // what is under test.
                let r = fresh_browser(app, &mut n)
                    .send(post(path, body.clone(), None, FORM))
                    .await;
                sane(&case, &r);
                if body.len() > 16 * 1024 {
                    check_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{case}");
                }
            }
        }
        // Encodings, duplicates, content types and Authorization headers.
        let raw: Vec<(&str, Vec<u8>, Option<String>, &str)> = vec![
            (
                "raw invalid UTF-8",
                b"grant_type=client_credentials&client_id=\xff&client_secret=\xfe".to_vec(),
                None,
                FORM,
            ),
            (
                "encoded invalid UTF-8",
                b"grant_type=client_%FF&client_id=%C3%28&client_secret=x".to_vec(),
                None,
                FORM,
            ),
            (
                "duplicate parameters",
                b"grant_type=client_credentials&grant_type=authorization_code".to_vec(),
                None,
                FORM,
            ),
            (
                "lone percent",
                b"grant_type=%&client_id=%G&client_secret=%".to_vec(),
                None,
                FORM,
            ),
            (
                "JSON body",
                br#"{"grant_type":"client_credentials"}"#.to_vec(),
                None,
                "application/json",
            ),
            (
                "no content type",
                b"grant_type=client_credentials".to_vec(),
                None,
                "",
            ),
            ("16 KiB + 1", vec![b'a'; 16 * 1024 + 1], None, FORM),
            ("1 MiB", vec![b'a'; 1 << 20], None, FORM),
            (
                "Basic not base64",
                b"grant_type=client_credentials".to_vec(),
                Some("Basic !!!".into()),
                FORM,
            ),
            (
                "Basic not UTF-8",
                b"grant_type=client_credentials".to_vec(),
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(b"\xff:\xfe")
                )),
                FORM,
            ),
            (
                "Basic NUL id",
                b"grant_type=client_credentials".to_vec(),
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode("%00:x")
                )),
                FORM,
            ),
            (
                "Basic SQL id",
                b"grant_type=client_credentials".to_vec(),
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode("'%20OR%201%3D1%20--:x")
                )),
                FORM,
            ),
            (
                "Basic 1 MiB",
                b"grant_type=client_credentials".to_vec(),
                Some(format!("Basic {}", "QUFB".repeat(1 << 18))),
                FORM,
            ),
            (
                "Basic and post",
                format!("grant_type=client_credentials&client_id={id}&client_secret=x")
                    .into_bytes(),
                Some("Basic eDp5".into()),
                FORM,
            ),
        ];
        for (label, body, authorization, content_type) in raw {
            // Credentials that spend the address's failure budget: at the
            // first endpoint, whose code the others share.
            if label.starts_with("Basic") && label.ends_with(" id") && path != "/oauth2/token" {
                continue;
            }
            let case = format!("{path} with {label}");
            let r = app
                .call(post(path, body.clone(), authorization, content_type))
                .await;
            sane(&case, &r);
            if body.len() > 16 * 1024 {
                check_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{case}");
            }
        }
        // Hostile tokens to introspect and revoke, from a real client.
        if path != "/oauth2/token" && path != "/v4/oauth2/token" {
            for (label, token) in hostile_tokens() {
                let r = app
                    .call(post(
                        path,
                        common::encode(&[("token", &token), ("token_type_hint", &token)])
                            .into_bytes(),
                        Some(format!(
                            "Basic {}",
                            base64::engine::general_purpose::STANDARD.format_basic(&id, &secret)
                        )),
                        FORM,
                    ))
                    .await;
                let case = format!("{path} token={label}");
                sane(&case, &r);
                if token.len() < 16 * 1024 {
                    check_eq!(r.status, StatusCode::OK, "{case}: {}", clip(&r.text));
                }
            }
        }
    }
    check_eq!(
        snapshot(app).await,
        before,
        "a hostile request stored something"
    );
    // The real client still gets a token.
    let r = app
        .token_request(Some((&id, &secret)), "grant_type=client_credentials")
        .await;
    check_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// Not split: one bearer token and one table of hostile bodies per route,
/// walked under one verdict, with the store compared once before and after.
pub(crate) async fn the_management_api_answers_hostile_json_with_4xx(app: &TestApp) {
    let _verdict = Verdict::open();
    let owner = app.user("owner@example.com", Role::SuperAdmin).await;
    let (id, secret) = app
        .client(
            &owner,
            "Automation",
            &["clients:read", "clients:write", "audit:read"],
        )
        .await;
    let r = app
        .token_request(Some((&id, &secret)), "grant_type=client_credentials")
        .await;
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {token}");
    let call = |method: Method, path: String, body: Vec<u8>, authorization: Option<String>| {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(a) = authorization {
            request = request.header(header::AUTHORIZATION, a);
        }
        request.body(Body::from(body)).unwrap()
    };

    // POST /api/v1/clients, one hostile field at a time.
    let valid = serde_json::json!({
        "name": "Api {n}",
        "description": "Plain",
        "permissions": ["clients:read"],
        "website_url": "https://example.com",
        "callback_url": CALLBACK,
    });
    let mut n = 0;
    let mut bodies: Vec<(String, serde_json::Value, bool)> = Vec::new();
    for field in [
        "name",
        "description",
        "permissions",
        "website_url",
        "callback_url",
        "extra",
    ] {
        for (label, payload) in payloads() {
            let expected = match field {
                "name" => rules::name(&payload),
                "description" => rules::description(&payload),
                "website_url" => rules::website(&payload),
                "callback_url" => rules::callback(&payload),
                _ => false,
            };
            // A registration takes one of the domain's 63 places: of the
            // values the rules accept, only markup is registered here; the
            // portal's settings form tries the rest with the same rules.
            if expected && !payload.contains('<') {
                continue;
            }
            let mut body = valid.clone();
            body[field] = if field == "permissions" {
                serde_json::json!([payload])
            } else {
                serde_json::json!(payload)
            };
            bodies.push((format!("{field}={label}"), body, expected));
        }
        for (label, wrong) in [
            ("null", serde_json::json!(null)),
            ("number", serde_json::json!(1e300)),
            ("huge integer", serde_json::json!(u64::MAX)),
            ("object", serde_json::json!({"$ne": ""})),
            ("array of numbers", serde_json::json!([1, 2])),
            ("string", serde_json::json!("clients:read")),
            ("bool", serde_json::json!(true)),
        ] {
            let mut body = valid.clone();
            body[field] = wrong;
            // A string where one is due is no wrong type.
            let expected = label == "string" && ["name", "description"].contains(&field);
            bodies.push((format!("{field}={label}"), body, expected));
        }
    }
    for (label, body, expected) in bodies {
        n += 1;
        let text = body.to_string().replace("{n}", &n.to_string());
        let case = format!("POST /api/v1/clients {label}");
        let before = snapshot(app).await;
        let r = app
            .call(call(
                Method::POST,
                "/api/v1/clients".into(),
                text.into_bytes(),
                Some(bearer.clone()),
            ))
            .await;
        sane(&case, &r);
        check_eq!(
            r.status == StatusCode::CREATED,
            expected,
            "{case}: {}",
            clip(&r.text)
        );
        if r.status == StatusCode::CREATED {
            let created = r.json();
            check!(rules::name(created["name"].as_str().unwrap()), "{case}");
            let client_id = created["client_id"].as_str().unwrap();
            let r = app
                .call(call(
                    Method::DELETE,
                    format!("/api/v1/clients/{client_id}"),
                    Vec::new(),
                    Some(bearer.clone()),
                ))
                .await;
            check_eq!(r.status, StatusCode::NO_CONTENT, "{case}: {}", r.text);
        } else {
            check_eq!(
                r.status,
                StatusCode::BAD_REQUEST,
                "{case}: {}",
                clip(&r.text)
            );
            check_eq!(r.json()["error"]["code"], 400001, "{case}");
            check_eq!(snapshot(app).await, before, "{case}: refused, yet stored");
        }
    }

    // Bodies that are not JSON, or not the JSON asked for.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let raw: Vec<(&str, Vec<u8>)> = vec![
        (
            "invalid UTF-8",
            b"{\"name\":\"\xff\xfe\",\"permissions\":[\"clients:read\"]}".to_vec(),
        ),
        (
            "escaped NUL",
            br#"{"name":"a\u0000b","permissions":["clients:read"]}"#.to_vec(),
        ),
        (
            "lone surrogate",
            br#"{"name":"\ud800","permissions":["clients:read"]}"#.to_vec(),
        ),
        (
            "duplicate keys",
            br#"{"name":"Dup","name":"Dup2","permissions":["clients:read"]}"#.to_vec(),
        ),
        ("truncated", br#"{"name":"Cut","permissions":["#.to_vec()),
        ("deeply nested", deep.into_bytes()),
        ("not an object", b"[]".to_vec()),
        ("empty", Vec::new()),
        ("form encoded", b"name=x&permissions=clients:read".to_vec()),
        ("grace negative", br#"{"grace_seconds":-1}"#.to_vec()),
        (
            "grace i64 min",
            br#"{"grace_seconds":-9223372036854775808}"#.to_vec(),
        ),
        (
            "grace huge",
            br#"{"grace_seconds":99999999999999999999999}"#.to_vec(),
        ),
        ("grace float", br#"{"grace_seconds":1e400}"#.to_vec()),
        ("grace string", br#"{"grace_seconds":"86400"}"#.to_vec()),
        ("grace null", br#"{"grace_seconds":null}"#.to_vec()),
        (
            "grace and more",
            br#"{"grace_seconds":0,"extra":1}"#.to_vec(),
        ),
    ];
    let before = snapshot(app).await;
    for (label, body) in &raw {
        for path in [
            "/api/v1/clients".to_string(),
            format!("/api/v1/clients/{id}/secret"),
        ] {
            if body.is_empty() && path.ends_with("/secret") {
                continue; // no body: the default grace period
            }
            let case = format!("POST {path} {label}");
            let r = app
                .call(call(
                    Method::POST,
                    path.clone(),
                    body.clone(),
                    Some(bearer.clone()),
                ))
                .await;
            sane(&case, &r);
            check!(r.status.is_client_error(), "{case}: {}", r.status);
            if r.status == StatusCode::BAD_REQUEST {
                check_eq!(r.json()["error"]["code"], 400001, "{case}");
            }
        }
    }
    check_eq!(
        snapshot(app).await,
        before,
        "a refused JSON body stored something"
    );

    // Hostile client ids in paths, and methods the API does not have.
    for (label, payload) in payloads() {
        let segment = encode(for_uri(&payload)).replace('+', "%20");
        for (method, path) in [
            (Method::DELETE, format!("/api/v1/clients/{segment}")),
            (Method::POST, format!("/api/v1/clients/{segment}/secret")),
            (Method::PATCH, format!("/api/v1/clients/{segment}")),
            (Method::GET, format!("/api/v1/clients/{segment}")),
        ] {
            let case = format!("{method} client_id={label}");
            let r = app
                .call(call(method, path, b"{}".to_vec(), Some(bearer.clone())))
                .await;
            sane(&case, &r);
            check!(r.status.is_client_error(), "{case}: {}", r.status);
        }
    }
    for path in [
        "/api/v1/clients/%FF%FE",
        "/api/v1/clients/..%2F..%2Fetc%2Fpasswd/secret",
        "/api/v1/clients/%00",
    ] {
        for method in [Method::DELETE, Method::POST, Method::PATCH] {
            let case = format!("{method} {path}");
            let r = app
                .call(call(
                    method,
                    path.into(),
                    b"{}".to_vec(),
                    Some(bearer.clone()),
                ))
                .await;
            sane(&case, &r);
            check!(r.status.is_client_error(), "{case}: {}", r.status);
        }
    }
    let r = app
        .call(call(
            Method::PATCH,
            format!("/api/v1/clients/{id}"),
            br#"{"name":"x"}"#.to_vec(),
            Some(bearer.clone()),
        ))
        .await;
    sane("PATCH a real client", &r);

    // The audit listing's query string.
    for param in [
        "limit",
        "actor",
        "action",
        "client_id",
        "from",
        "until",
        "before",
        "unknown",
    ] {
        for (label, payload) in payloads() {
            let case = format!("GET /api/v1/audit {param}={label}");
            let r = app
                .call(call(
                    Method::GET,
                    format!("/api/v1/audit?{param}={}", encode(for_uri(&payload))),
                    Vec::new(),
                    Some(bearer.clone()),
                ))
                .await;
            sane(&case, &r);
            check!(
                r.status == StatusCode::OK || r.status == StatusCode::BAD_REQUEST,
                "{case}: {}",
                r.status
            );
        }
    }
    for query in [
        "limit=%FF",
        "actor=%FF%FE",
        "limit=1&limit=2",
        "before=1e3",
        "from=2026-02-30",
        "limit=0",
        "limit=-9223372036854775808",
    ] {
        let r = app
            .call(call(
                Method::GET,
                format!("/api/v1/audit?{query}"),
                Vec::new(),
                Some(bearer.clone()),
            ))
            .await;
        sane(&format!("GET /api/v1/audit?{query}"), &r);
    }

    // Authorization headers that are not a token.
    for (label, token) in hostile_tokens() {
        let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) else {
            continue;
        };
        let request = Request::builder()
            .uri("/api/v1/clients")
            .header(header::AUTHORIZATION, value)
            .body(Body::empty())
            .unwrap();
        let r = app.call(request).await;
        let case = format!("Bearer {label}");
        sane(&case, &r);
        check_eq!(r.status, StatusCode::UNAUTHORIZED, "{case}");
    }
    for raw in [
        &b"Bearer \xff\xfe"[..],
        b"Bearer",
        b"Bearer  ",
        b"Basic eDp5",
        b"bearer\ta.b.c",
    ] {
        let request = Request::builder()
            .uri("/api/v1/clients")
            .header(header::AUTHORIZATION, HeaderValue::from_bytes(raw).unwrap())
            .body(Body::empty())
            .unwrap();
        let r = app.call(request).await;
        let case = format!("Authorization {}", String::from_utf8_lossy(raw));
        sane(&case, &r);
        check_eq!(r.status, StatusCode::UNAUTHORIZED, "{case}");
    }
    let r = app.bearer_get("/api/v1/clients", Some(&token)).await;
    check_eq!(r.status, StatusCode::OK, "{}", r.text);
    stored_values_follow_the_rules(app, "management API").await;
}
