//! The portal's server functions and forms, one hostile field at a time.

use app::domain::accounts::Role;
use axum::http::StatusCode;

use crate::common::{TestApp, PASSWORD};
use crate::support::*;
use crate::verdict::Verdict;

/// Each urlencoded server function with a valid value for each field; `{n}`
/// becomes a number unique to the case.
///
/// One table, not split: every server function's valid form side by side,
/// where a new server function is added.
fn functions(w: &World) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let domain = w.admin.domain_id.to_string();
    vec![
        (
            "applications/list",
            vec![("domain", domain.clone()), ("unused", "1".into())],
        ),
        ("applications/options", vec![("domain", domain.clone())]),
        ("applications/page", vec![("id", w.app_id.clone())]),
        (
            "applications/reveal",
            vec![("id", w.app_id.clone()), ("row", "client_secret".into())],
        ),
        (
            "applications/transfer",
            vec![("id", w.app_id.clone()), ("owner", w.member_id.clone())],
        ),
        ("applications/named", vec![("ids[0]", w.app_id.clone())]),
        ("applications/remove", vec![("ids[0]", "{n}".into())]),
        (
            "applications/rotate",
            vec![("id", w.app_id.clone()), ("grace_seconds", "3600".into())],
        ),
        ("applications/retire", vec![("id", w.app_id.clone())]),
        ("applications/removed", vec![("domain", domain.clone())]),
        ("applications/restore", vec![("id", w.removed_id.clone())]),
        ("users/page", vec![("domain", domain.clone())]),
        (
            "users/create",
            vec![
                ("email", "new{n}@example.com".into()),
                ("role", "member".into()),
                ("domain", domain.clone()),
            ],
        ),
        ("users/link", vec![("id", w.member_id.clone())]),
        (
            "users/role",
            vec![("id", w.member_id.clone()), ("role", "domain_admin".into())],
        ),
        (
            "users/disable",
            vec![("id", w.member_id.clone()), ("disabled", "true".into())],
        ),
        ("welcome/user", vec![("token", "unknown".into())]),
        ("flash", vec![("form", "application".into())]),
        (
            "permissions/add",
            vec![
                ("scope", "case{n}:read".into()),
                ("description", "Reads case {n}".into()),
            ],
        ),
        (
            "permissions/describe",
            vec![
                ("scope", "clients:read".into()),
                ("description", "Read the client list".into()),
            ],
        ),
        ("tools/inspect", vec![("token", "{n}".into())]),
        (
            "audit/page",
            vec![
                ("actor", "admin@example.com".into()),
                ("action", "sign_in".into()),
                ("client_id", w.client_id.clone()),
                ("from", "2020-01-01".into()),
                ("until", "2030-12-31".into()),
                ("before", "1000".into()),
            ],
        ),
        ("authorize/request", vec![("query", w.query.clone())]),
        (
            "authorize/decide",
            vec![("request", w.query.clone()), ("decision", "deny".into())],
        ),
        (
            "connections/disconnect",
            vec![("application_id", w.app_id.clone())],
        ),
        // No arguments: a hostile extra one.
        ("applications/options", vec![("extra", "1".into())]),
        ("permissions/list", vec![("extra", "1".into())]),
        ("connections/list", vec![("extra", "1".into())]),
        ("tools/inspection", vec![("extra", "1".into())]),
        ("viewer", vec![("extra", "1".into())]),
        ("setup_status", vec![("extra", "1".into())]),
    ]
}

/// Which hostile values a field may keep: the rest must be refused.
fn accepts(endpoint: &str, field: &str, value: &str) -> Option<bool> {
    match (endpoint, field) {
        ("users/create", "email") => Some(rules::email(value)),
        // An empty domain is the caller's own.
        ("users/create", "domain") => Some(value.is_empty()),
        ("permissions/add", "scope") => Some(rules::scope(value)),
        ("permissions/add" | "permissions/describe", "description") => {
            Some(rules::permission_description(value))
        }
        // Which row of the page shows what was revealed: any value shows
        // none but the rows it names.
        ("applications/reveal", "row") => None,
        // Filters, switches and the like: read-only either way.
        (
            "applications/list"
            | "applications/options"
            | "applications/removed"
            | "users/page"
            | "flash"
            | "audit/page"
            | "tools/inspect"
            | "permissions/list"
            | "connections/list"
            | "tools/inspection"
            | "welcome/user"
            | "viewer"
            | "setup_status",
            _,
        ) => None,
        // Everything else names something that does not exist, or a value
        // outside its set.
        _ => Some(false),
    }
}

/// Not split: one loop over `functions`' table, between one snapshot of the
/// store before and one after, under one verdict.
pub(crate) async fn server_functions_survive_hostile_fields(app: &TestApp) {
    let _verdict = Verdict::open();
    let (mut admin, admin_user) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let w = world(app, &mut admin, admin_user).await;
    let mut n = 0;
    for (endpoint, fields) in functions(&w) {
        for (field, _) in &fields {
            for (label, payload) in payloads() {
                // As a plain form too where the answer's redirect could carry
                // what was sent.
                let redirect_relevant = [
                    "NUL",
                    "CR LF header",
                    "raw CR LF URL",
                    "encoded CR LF URL",
                    "non-ASCII path",
                    "script",
                ]
                .contains(&label);
                for plain in [false, true] {
                    if plain && !redirect_relevant {
                        continue;
                    }
                    n += 1;
                    let form: Vec<(&str, String)> = fields
                        .iter()
                        .map(|(k, v)| {
                            let v = if k == field {
                                payload.clone()
                            } else {
                                v.replace("{n}", &n.to_string())
                            };
                            (*k, v)
                        })
                        .collect();
                    let body = url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(&form)
                        .finish();
                    let case = format!(
                        "{endpoint} {field}={label}{}",
                        if plain { " (plain form)" } else { "" }
                    );
                    let before = snapshot(app).await;
                    let r = send(
                        &mut admin,
                        rpc_request(endpoint, FORM, plain, body.into_bytes()),
                    )
                    .await;
                    sane(&case, &r);
                    // A refused plain post is sent back with 303, an
                    // accepted one on with 302.
                    let succeeded = if plain {
                        r.status == StatusCode::FOUND
                    } else {
                        ok(&r)
                    };
                    match accepts(endpoint, field, &payload) {
                        Some(false) => {
                            check!(!succeeded, "{case}: accepted ({})", r.status);
                            check_eq!(snapshot(app).await, before, "{case}: stored");
                        }
                        Some(true) if !plain => {
                            check!(succeeded, "{case}: refused {}", clip(&r.text));
                        }
                        _ => {}
                    }
                    if !succeeded {
                        check_eq!(snapshot(app).await, before, "{case}: refused, yet stored");
                    }
                }
            }
        }
    }
    stored_values_follow_the_rules(app, "server functions").await;

    // Bodies that are not what the content type says: bytes that are not
    // UTF-8 (raw and percent-encoded), a field twice, no content type.
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        (
            "raw invalid UTF-8",
            b"id=\xff\xfe&ids[0]=\xc3\x28&query=\xff".to_vec(),
        ),
        (
            "encoded invalid UTF-8",
            b"id=%FF%FE&ids[0]=%C3%28&query=%ff&email=%ff".to_vec(),
        ),
        (
            "duplicate fields",
            format!("id={0}&id={0}&ids[0]=a&ids[0]=b&query=a&query=b", w.app_id).into_bytes(),
        ),
        (
            "unbalanced brackets",
            b"ids[=1&ids]]=2&ids[0][x]=3&a[b][c][d][e][f][g]=1".to_vec(),
        ),
        ("lone percent", b"id=%&email=%G1&query=%".to_vec()),
        ("JSON", br#"{"id": 1, "ids": [1, 2]}"#.to_vec()),
    ];
    let endpoints: Vec<&str> = functions(&w).into_iter().map(|(e, _)| e).collect();
    for endpoint in endpoints {
        for (label, body) in &bodies {
            for content_type in [FORM, "application/json", "text/plain"] {
                let case = format!("{endpoint} with {label} as {content_type}");
                let before = snapshot(app).await;
                let r = send(
                    &mut admin,
                    rpc_request(endpoint, content_type, false, body.clone()),
                )
                .await;
                sane(&case, &r);
                if !ok(&r) {
                    check_eq!(snapshot(app).await, before, "{case}: refused, yet stored");
                }
            }
        }
    }
    still_serves(app, &mut admin).await;
}

/// The forms of signed-out users, whose fields cost an argon2 run each when
/// they are valid: the lighter table.
///
/// Not split: one table per form, walked under one verdict, with the store
/// compared once before and after.
pub(crate) async fn sign_in_setup_and_welcome_survive_hostile_fields(app: &TestApp) {
    let _verdict = Verdict::open();
    let mut n = 0;
    // First-run setup, while no user exists.
    let token = app::domain::secrets::Secret::expose(
        &app.keyport.pending_setup_token().expect("setup is open"),
    )
    .to_owned();
    for field in ["token", "email", "password"] {
        for (label, payload) in light_payloads() {
            let form: Vec<(&str, &str)> = [
                ("token", token.as_str()),
                ("email", "first@example.com"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ]
            .into_iter()
            .map(|(k, v)| {
                let hostile = k == field || (field == "password" && k == "confirm");
                (k, if hostile { payload.as_str() } else { v })
            })
            .collect();
            let was_open = app.keyport.setup_open();
            let case = format!("setup {field}={label}");
            let r = fresh_browser(app, &mut n).rpc("setup", &form).await;
            sane(&case, &r);
            if !ok(&r) {
                check_eq!(app.keyport.setup_open(), was_open, "{case}");
            }
            if field == "email" && was_open {
                check_eq!(ok(&r), rules::email(&payload), "{case}: {}", clip(&r.text));
            }
        }
    }

    // Sign-in: hostile emails, passwords (of nobody, so that the account
    // limit does not answer first) and places to go next.
    app.user("admin@example.com", Role::SuperAdmin).await;
    for field in ["email", "password", "next"] {
        let payloads = match field {
            "next" => light_payloads(),
            _ => credential_payloads(),
        };
        for (label, payload) in payloads {
            // The place to go next is a redirect: it matters to plain forms
            // (the hydrated page is told the same in a header).
            for plain in [field == "next"] {
                let mut browser = fresh_browser(app, &mut n);
                let nobody = format!("nobody{n}@example.com");
                let form = [
                    (
                        "email",
                        if field == "email" {
                            payload.as_str()
                        } else if field == "password" {
                            nobody.as_str()
                        } else {
                            "admin@example.com"
                        },
                    ),
                    (
                        "password",
                        if field == "password" {
                            payload.as_str()
                        } else {
                            PASSWORD
                        },
                    ),
                    (
                        "next",
                        if field == "next" {
                            payload.as_str()
                        } else {
                            "/applications"
                        },
                    ),
                ];
                let case = format!(
                    "sign_in {field}={label}{}",
                    if plain { " (plain form)" } else { "" }
                );
                let r = if plain {
                    browser.form_post("sign_in", &form, "/login").await
                } else {
                    browser.rpc("sign_in", &form).await
                };
                sane(&case, &r);
                if field == "next" {
                    let expected = if plain {
                        StatusCode::FOUND
                    } else {
                        StatusCode::OK
                    };
                    check_eq!(r.status, expected, "{case}: {}", clip(&r.text));
                } else {
                    check!(!ok(&r), "{case}: signed in");
                }
            }
        }
    }

    // The welcome page, with a link that works until a valid password uses it.
    let mut admin = fresh_browser(app, &mut n);
    admin.sign_in("admin@example.com", PASSWORD).await;
    let link = admin
        .rpc(
            "users/create",
            &[("email", "new@example.com"), ("role", "member")],
        )
        .await
        .json();
    let link = url::Url::parse(link["url"].as_str().unwrap()).unwrap();
    let link_token = link
        .query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .into_owned();
    for field in ["token", "password"] {
        for (label, payload) in light_payloads() {
            let (token, password) = match field {
                "token" => (payload.as_str(), PASSWORD),
                _ => (link_token.as_str(), payload.as_str()),
            };
            let form = [
                ("token", token),
                ("password", password),
                ("confirm", password),
            ];
            let case = format!("welcome/password {field}={label}");
            let mut browser = fresh_browser(app, &mut n);
            let r = browser.rpc("welcome/password", &form).await;
            sane(&case, &r);
            if field == "token" {
                check!(!ok(&r), "{case}: accepted");
            }
            let r = browser.rpc("welcome/user", &[("token", token)]).await;
            sane(&format!("welcome/user token={label}"), &r);
        }
    }
    still_serves(app, &mut admin).await;
}

pub(crate) async fn the_authorization_flow_survives_hostile_requests(app: &TestApp) {
    let _verdict = Verdict::open();
    let (mut admin, admin_user) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let w = world(app, &mut admin, admin_user).await;
    let params = [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    ];
    for name in params {
        for (label, payload) in payloads() {
            for raw in [false, true] {
                let value = if raw {
                    payload.clone()
                } else {
                    encode(&payload)
                };
                let query: Vec<String> = w
                    .query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((k, _)) if k == name => format!("{k}={value}"),
                        _ => pair.to_owned(),
                    })
                    .collect();
                let query = query.join("&");
                let how = if raw { "raw" } else { "encoded" };
                let case = format!("authorize {name}={label} ({how})");
                let before = snapshot(app).await;
                let r = admin.rpc("authorize/request", &[("query", &query)]).await;
                sane(&case, &r);
                // Both decisions carry `state` back; any other parameter is
                // checked the same way whichever is posted.
                let decisions: &[&str] = if name == "state" {
                    &["approve", "deny"]
                } else {
                    &["approve"]
                };
                for decision in decisions {
                    let r = admin
                        .form_post(
                            "authorize/decide",
                            &[("request", &query), ("decision", decision)],
                            "/oauth2/authorize",
                        )
                        .await;
                    sane(&format!("{case}, {decision}"), &r);
                }
                if !raw && query.len() < 60_000 {
                    let page = admin.get(&format!("/oauth2/authorize?{query}")).await;
                    sane(&format!("{case}, the page"), &page);
                }
                if name != "state" {
                    let after = snapshot(app).await;
                    check_eq!(after[10], before[10], "{case}: a code was issued");
                }
            }
        }
    }
    still_serves(app, &mut admin).await;
}
