//! Application settings and multipart uploads under hostile fields.

use crate::common::authorize::access;
use app::domain::accounts::Role;
use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request, StatusCode};

use crate::common::{Part, TestApp, ORIGIN, PNG};
use crate::support::*;
use crate::verdict::Verdict;

/// The Application Settings form, one hostile field at a time: refused with
/// nothing stored, or stored exactly as the rules normalise it.
pub(crate) async fn application_settings_store_only_what_the_rules_accept(app: &TestApp) {
    let _verdict = Verdict::open();
    let (mut admin, admin_user) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let existing = admin.register("Existing").await;
    let url_payloads = |p: &str| {
        vec![
            ("raw", p.to_owned()),
            ("in a path", format!("https://example.com/{p}")),
            ("as the host", format!("https://{p}/")),
            ("in the query", format!("https://127.0.0.1/cb?x={p}")),
        ]
    };
    let over_limit: Vec<(&str, &str, String)> = vec![
        ("name", "65 chars", "n".repeat(65)),
        ("description", "501 chars", "d".repeat(501)),
        (
            "website_url",
            "2049 chars",
            format!("https://example.com/{}", "w".repeat(2029)),
        ),
        (
            "callback_url",
            "2049 chars",
            format!("https://example.com/{}", "c".repeat(2029)),
        ),
    ];
    let mut cases: Vec<(&str, String, String)> = Vec::new();
    for (label, payload) in payloads() {
        for field in ["name", "description", "permissions", "domain"] {
            cases.push((field, label.to_owned(), payload.clone()));
        }
        for field in ["website_url", "callback_url"] {
            for (how, value) in url_payloads(&payload) {
                cases.push((field, format!("{label} {how}"), value));
            }
        }
    }
    for (field, label, value) in over_limit {
        cases.push((field, label.to_owned(), value));
    }
    for (n, (field, label, value)) in cases.into_iter().enumerate() {
        for endpoint in ["applications/create", "applications/update"] {
            let name = format!("App {n}");
            let mut parts: Vec<(&str, String)> = vec![
                ("name", name.clone()),
                ("description", "Plain".into()),
                ("permissions", "clients:read".into()),
                ("website_url", "https://example.com".into()),
                ("callback_url", CALLBACK.into()),
            ];
            if endpoint == "applications/update" {
                parts.push(("id", existing.clone()));
            }
            match parts.iter_mut().find(|(k, _)| *k == field) {
                Some(part) => part.1 = value.clone(),
                None => parts.push((field, value.clone())),
            }
            let create = endpoint == "applications/create";
            let expected = match field {
                "name" => rules::name(&value),
                "description" => rules::description(&value),
                "website_url" => rules::website(&value),
                "callback_url" => rules::callback(&value),
                // Registering names the domain (empty: the caller's own);
                // editing ignores it.
                "domain" => !create || value.is_empty(),
                _ => false,
            };
            let markup = value.contains('<');
            // A registration that succeeds takes one of the domain's 63
            // places: the values the rules accept are registered only when
            // they are markup, and otherwise stored by editing, which
            // applies the same rules.
            if create && expected && !markup {
                continue;
            }
            let text: Vec<Part> = parts.iter().map(|(k, v)| Part::Text(k, v)).collect();
            let case = format!("{endpoint} {field}={label}");
            let before = snapshot(app).await;
            let r = admin.rpc_multipart(endpoint, &text).await;
            sane(&case, &r);
            check_eq!(ok(&r), expected, "{case}: {} {}", r.status, clip(&r.text));
            if !ok(&r) {
                check_eq!(snapshot(app).await, before, "{case}: refused, yet stored");
                continue;
            }
            let id = if endpoint == "applications/create" {
                r.json().as_str().unwrap().to_owned()
            } else {
                existing.clone()
            };
            let stored: (String, String, String, String) = sqlx::query_as(
                "SELECT name, description, website_url, callback_url FROM applications WHERE id = $1",
            )
            .bind(&id)
            .fetch_one(&app.keyport.db.pool)
            .await
            .unwrap();
            let column = match field {
                "name" => &stored.0,
                "description" => &stored.1,
                "website_url" => &stored.2,
                _ => &stored.3,
            };
            if field != "domain" {
                let normalised = value.trim().replace("\r\n", "\n");
                check_eq!(*column, normalised, "{case}: stored otherwise");
            }
            if markup {
                let page = admin.get(&format!("/applications/{id}")).await;
                check_eq!(page.status, StatusCode::OK, "{case}");
                sane(&format!("{case}, its page"), &page);
            }
            if create {
                app.keyport
                    .remove_applications(&access(&admin_user), &[id])
                    .await
                    .unwrap();
            }
        }
    }
    still_serves(app, &mut admin).await;
}

pub(crate) async fn multipart_bodies_survive_hostile_encodings(app: &TestApp) {
    let _verdict = Verdict::open();
    let (mut admin, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let existing = admin.register("Existing").await;
    let b = "hostile-boundary";
    let field =
        |name: &str| format!("Content-Disposition: form-data; name=\"{name}\"").into_bytes();
    let good = |name: &'static str, value: &'static [u8]| (field(name), value.to_vec());
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
    let png_with_script = [PNG, SCRIPT.as_bytes()].concat();
    let many: Vec<RawPart> = (0..10_000)
        .map(|_| good("permissions", b"clients:read"))
        .collect();
    let cases: Vec<(&str, String, Vec<RawPart>)> = vec![
        ("invalid UTF-8 name", format!("multipart/form-data; boundary={b}"), vec![good("name", b"\xff\xfe bad"), good("permissions", b"clients:read")]),
        ("invalid UTF-8 description", format!("multipart/form-data; boundary={b}"), vec![good("name", b"Ok"), good("description", b"\xc3\x28"), good("permissions", b"clients:read")]),
        ("invalid UTF-8 part name", format!("multipart/form-data; boundary={b}"), vec![(b"Content-Disposition: form-data; name=\"\xff\"".to_vec(), b"x".to_vec()), good("name", b"Ok2"), good("permissions", b"clients:read")]),
        ("part name with CR LF", format!("multipart/form-data; boundary={b}"), vec![(b"Content-Disposition: form-data; name=\"na\r\nme\"".to_vec(), b"x".to_vec())]),
        ("no part name", format!("multipart/form-data; boundary={b}"), vec![(b"Content-Disposition: form-data".to_vec(), b"x".to_vec())]),
        ("hostile file name", format!("multipart/form-data; boundary={b}"), vec![good("name", b"Ok3"), good("permissions", b"clients:read"), (b"Content-Disposition: form-data; name=\"icon\"; filename=\"../../<script>.png\"\r\nContent-Type: text/html".to_vec(), PNG.to_vec())]),
        ("SVG icon", format!("multipart/form-data; boundary={b}"), vec![good("name", b"Svg"), good("permissions", b"clients:read"), (b"Content-Disposition: form-data; name=\"icon\"; filename=\"x.png\"".to_vec(), svg.to_vec())]),
        ("1 MiB icon", format!("multipart/form-data; boundary={b}"), vec![good("name", b"Big"), good("permissions", b"clients:read"), (b"Content-Disposition: form-data; name=\"icon\"; filename=\"x.png\"".to_vec(), [PNG, &vec![0u8; 1 << 20]].concat())]),
        ("10 000 permission parts", format!("multipart/form-data; boundary={b}"), [vec![good("name", b"Many")], many].concat()),
        ("1 MiB part header", format!("multipart/form-data; boundary={b}"), vec![(format!("Content-Disposition: form-data; name=\"name\"\r\nX-Pad: {}", "p".repeat(1 << 20)).into_bytes(), b"Pad".to_vec())]),
        ("no boundary", "multipart/form-data".into(), vec![good("name", b"x")]),
        ("a form-encoded type", FORM.into(), vec![good("name", b"x")]),
        ("a JSON type", "application/json".into(), vec![good("name", b"x")]),
        ("wrong boundary", "multipart/form-data; boundary=other".into(), vec![good("name", b"x")]),
        ("quoted boundary", format!("multipart/form-data; boundary=\"{b}\"; charset=\"\\\"\""), vec![good("name", b"Quoted"), good("permissions", b"clients:read")]),
        ("PNG with a script tail", format!("multipart/form-data; boundary={b}"), vec![good("name", b"Tail"), good("permissions", b"clients:read"), (b"Content-Disposition: form-data; name=\"icon\"; filename=\"x.html\"".to_vec(), png_with_script.clone())]),
    ];
    for endpoint in ["applications/create", "applications/update"] {
        for (label, content_type, parts) in &cases {
            let mut parts = parts.clone();
            if endpoint == "applications/update" {
                parts.push((field("id"), existing.clone().into_bytes()));
            }
            let refs: Vec<(&[u8], &[u8])> = parts
                .iter()
                .map(|(h, v)| (h.as_slice(), v.as_slice()))
                .collect();
            let case = format!("{endpoint} with {label}");
            let Ok(content_type) = HeaderValue::from_str(content_type) else {
                continue;
            };
            let request = Request::builder()
                .method(Method::POST)
                .uri(format!("/rpc/{endpoint}"))
                .header(header::CONTENT_TYPE, content_type)
                .header(header::ACCEPT, "application/json")
                .header(header::ORIGIN, ORIGIN)
                .body(Body::from(raw_multipart(b, &refs)))
                .unwrap();
            let r = admin.send(request).await;
            sane(&case, &r);
            // server_fn's own codec panicked on a boundary it could not read.
            if [
                "no boundary",
                "a form-encoded type",
                "a JSON type",
                "wrong boundary",
            ]
            .contains(label)
            {
                check_eq!(
                    r.status,
                    StatusCode::BAD_REQUEST,
                    "{case}: {}",
                    clip(&r.text)
                );
            }
        }
        // A body cut short, and one that is not multipart at all.
        for (label, body) in [
            (
                "truncated",
                format!("--{b}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nhalf")
                    .into_bytes(),
            ),
            ("garbage", vec![0xffu8; 4096]),
            ("empty", Vec::new()),
        ] {
            let request = rpc_request(
                endpoint,
                &format!("multipart/form-data; boundary={b}"),
                false,
                body,
            );
            let r = admin.send(request).await;
            sane(&format!("{endpoint} with a {label} body"), &r);
        }
    }
    // What was stored is an image, served as one and never sniffed.
    let icons: Vec<String> =
        sqlx::query_scalar("SELECT id FROM applications WHERE icon_type IS NOT NULL")
            .fetch_all(&app.keyport.db.pool)
            .await
            .unwrap();
    for id in icons {
        let r = admin.get(&format!("/applications/{id}/icon")).await;
        check_eq!(r.status, StatusCode::OK);
        check!(r
            .header("content-type")
            .is_some_and(|t| t.starts_with("image/")));
        check_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    still_serves(app, &mut admin).await;
}
