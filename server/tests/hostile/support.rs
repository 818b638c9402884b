//! What every table of hostile.rs shares: the payloads, the checks each
//! answer passes, the row counts a refusal leaves alone and the rules a
//! stored value follows.

use crate::common::authorize::access;
use app::domain::accounts::{Role, User};
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use base64::Engine as _;

use crate::common::{Browser, Response, TestApp, ORIGIN};

pub(crate) const SCRIPT: &str = "<script>alert(1)</script>";
pub(crate) const IMG: &str = "\"><img src=x onerror=alert(1)>";
/// What must never appear unescaped in a page.
pub(crate) const RAW_MARKUP: [&str; 2] = [SCRIPT, "<img src=x onerror=alert(1)>"];
pub(crate) const CALLBACK: &str = "http://127.0.0.1/cb";
pub(crate) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The hostile values every text field gets, each with a name that says
/// which one failed.
pub(crate) fn payloads() -> Vec<(&'static str, String)> {
    vec![
        ("empty", String::new()),
        ("NUL", "a\0b".into()),
        (
            "CR LF header",
            "x\r\nSet-Cookie: injected=1\r\nX-Injected: 1".into(),
        ),
        ("ESC", "\u{1b}[2J\u{1b}]0;owned\u{7}".into()),
        ("U+202E", "abc\u{202E}gpj.exe".into()),
        ("SQL OR", "' OR 1=1 --".into()),
        ("SQL DROP", "\"; DROP TABLE applications; --".into()),
        ("script", SCRIPT.into()),
        ("img", IMG.into()),
        ("javascript URL", "javascript:alert(1)".into()),
        (
            "encoded CR LF URL",
            "https://example.com/%0d%0aSet-Cookie:%20injected=1".into(),
        ),
        (
            "raw CR LF URL",
            "https://example.com/\r\nSet-Cookie: injected=1".into(),
        ),
        ("traversal", "../../../../etc/passwd".into()),
        ("huge number", "99999999999999999999999999999".into()),
        ("i64 min", "-9223372036854775808".into()),
        ("negative", "-1".into()),
        ("non-ASCII path", "/ünïcødé-😀".into()),
        ("1 MiB", "x".repeat(1 << 20)),
    ]
}

/// The few that fields costing an argon2 verification each get.
pub(crate) fn light_payloads() -> Vec<(&'static str, String)> {
    let keep = [
        "NUL",
        "CR LF header",
        "U+202E",
        "script",
        "non-ASCII path",
        "1 MiB",
    ];
    payloads()
        .into_iter()
        .filter(|(label, _)| keep.contains(label))
        .collect()
}

/// Fewer still for a wrong client credential: each spends its address's
/// budget of failures (100 in 5 minutes), past which every answer is the
/// same 429 and tests nothing more.
pub(crate) fn credential_payloads() -> Vec<(&'static str, String)> {
    let keep = ["NUL", "CR LF header", "non-ASCII path", "1 MiB"];
    payloads()
        .into_iter()
        .filter(|(label, _)| keep.contains(label))
        .collect()
}

/// The start of an answer, or of a page's body: enough to see what it says.
pub(crate) fn clip(text: &str) -> &str {
    let text = text.find("<body").map_or(text, |at| &text[at..]);
    let end = text.char_indices().nth(300).map_or(text.len(), |(i, _)| i);
    &text[..end]
}

/// Every answer, whatever was sent: no 5xx, no injected header or cookie,
/// no redirect off the site (but to the registered callback), and no raw
/// markup in a page.
pub(crate) fn sane(case: &str, r: &Response) {
    check!(
        !r.status.is_server_error(),
        "{case}: {} {}",
        r.status,
        clip(&r.text)
    );
    for (name, value) in &r.headers {
        check!(!name.as_str().contains("injected"), "{case}: header {name}");
        let value = String::from_utf8_lossy(value.as_bytes());
        if name == header::SET_COOKIE {
            check!(
                value.starts_with("keyport_session=") || value.starts_with("keyport_device="),
                "{case}: cookie {value}"
            );
        }
        if name == header::LOCATION {
            let on_site =
                (value.starts_with('/') && !value.starts_with("//") && !value.starts_with("/\\"))
                    || value.starts_with(&format!("{ORIGIN}/"))
                    || value.starts_with(&format!("{CALLBACK}?"));
            check!(on_site, "{case}: redirected to {value}");
        }
    }
    if r.header("content-type")
        .is_some_and(|t| t.starts_with("text/html"))
    {
        for raw in RAW_MARKUP {
            if let Some(at) = r.text.find(raw) {
                let from = r.text.floor_char_boundary(at.saturating_sub(200));
                let to = r.text.ceil_char_boundary((at + 100).min(r.text.len()));
                check!(
                    false,
                    "{case}: unescaped {raw} in the page: …{}…",
                    &r.text[from..to]
                );
            }
        }
    }
}

pub(crate) fn ok(r: &Response) -> bool {
    r.status.is_success()
}

/// Row counts that a refused request must leave as they were, in one query.
pub(crate) async fn snapshot(app: &TestApp) -> Vec<i64> {
    use sqlx::Row as _;
    const COUNTS: [&str; 12] = [
        "applications",
        "applications WHERE removed_at IS NOT NULL",
        "applications WHERE rotated_at IS NOT NULL",
        "application_permissions",
        "users",
        "users WHERE disabled_at IS NOT NULL",
        "users WHERE role = 'super_admin'",
        "permissions",
        "password_links",
        "consents",
        "authorization_codes",
        "revoked_tokens",
    ];
    let sql = COUNTS
        .iter()
        .map(|c| format!("(SELECT COUNT(*) FROM {c})"))
        .collect::<Vec<_>>()
        .join(", ");
    let row = sqlx::query(&format!("SELECT {sql}"))
        .fetch_one(&app.keyport.db.pool)
        .await
        .unwrap();
    (0..COUNTS.len()).map(|i| row.get::<i64, _>(i)).collect()
}

/// The rules of contract §3, written out again: what may be stored.
pub(crate) mod rules {
    pub fn no_controls(s: &str, allowed: &[char]) -> bool {
        !s.chars().any(|c| {
            (c.is_control() && !allowed.contains(&c))
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
    }

    pub fn name(s: &str) -> bool {
        let s = s.trim();
        (1..=64).contains(&s.chars().count()) && no_controls(s, &[])
    }

    pub fn description(s: &str) -> bool {
        let s = s.trim().replace("\r\n", "\n");
        s.chars().count() <= 500 && no_controls(&s, &['\n', '\t'])
    }

    fn absolute(s: &str) -> Option<url::Url> {
        if s.len() > 2048 || s.chars().any(char::is_whitespace) || !no_controls(s, &[]) {
            return None;
        }
        let url = url::Url::parse(s).ok()?;
        let plain = url.host_str().is_some_and(|h| !h.is_empty())
            && url.username().is_empty()
            && url.password().is_none();
        plain.then_some(url)
    }

    pub fn website(s: &str) -> bool {
        let s = s.trim();
        s.is_empty() || absolute(s).is_some_and(|u| ["http", "https"].contains(&u.scheme()))
    }

    pub fn callback(s: &str) -> bool {
        let s = s.trim();
        s.is_empty()
            || absolute(s).is_some_and(|u| {
                u.fragment().is_none()
                    && (u.scheme() == "https"
                        || (u.scheme() == "http"
                            && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))))
            })
    }

    pub fn email(s: &str) -> bool {
        let s = s.trim().to_lowercase();
        s.len() <= 254
            && !s.chars().any(char::is_whitespace)
            && no_controls(&s, &[])
            && s.split_once('@')
                .is_some_and(|(l, h)| !l.is_empty() && h.contains('.') && !h.contains('@'))
    }

    pub fn scope(s: &str) -> bool {
        let s = s.trim();
        (1..=64).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.:-".contains(c))
    }

    pub fn permission_description(s: &str) -> bool {
        let s = s.trim();
        (1..=200).contains(&s.chars().count()) && no_controls(s, &[])
    }
}

/// Every stored value still follows the rules: nothing hostile got past them.
pub(crate) async fn stored_values_follow_the_rules(app: &TestApp, case: &str) {
    let pool = &app.keyport.db.pool;
    let apps: Vec<(String, String, String, String)> =
        sqlx::query_as("SELECT name, description, website_url, callback_url FROM applications")
            .fetch_all(pool)
            .await
            .unwrap();
    for (name, description, website, callback) in apps {
        check!(
            rules::name(&name) && name == name.trim(),
            "{case}: name {name:?}"
        );
        check!(
            rules::description(&description) && !description.contains('\r'),
            "{case}: description {}",
            clip(&description)
        );
        check!(rules::website(&website), "{case}: website {website:?}");
        check!(rules::callback(&callback), "{case}: callback {callback:?}");
    }
    let users: Vec<(String, String)> = sqlx::query_as("SELECT email, role FROM users")
        .fetch_all(pool)
        .await
        .unwrap();
    for (email, role) in users {
        check!(rules::email(&email), "{case}: email {email:?}");
        check!(
            ["super_admin", "domain_admin", "member"].contains(&role.as_str()),
            "{case}: role {role:?}"
        );
    }
    let permissions: Vec<(String, String)> =
        sqlx::query_as("SELECT scope, description FROM permissions")
            .fetch_all(pool)
            .await
            .unwrap();
    for (scope, description) in permissions {
        check!(rules::scope(&scope), "{case}: scope {scope:?}");
        check!(
            rules::permission_description(&description),
            "{case}: permission description {description:?}"
        );
    }
    let audit: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT actor, COALESCE(target, ''), COALESCE(detail, ''), address FROM audit_log",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for entry in audit {
        let text = format!("{entry:?}");
        check!(text.len() < 4096, "{case}: audit entry {}", clip(&text));
        check!(!text.contains('\0'), "{case}: NUL in the audit log");
    }
}

/// Still healthy, and still serving a signed-in page.
pub(crate) async fn still_serves(app: &TestApp, browser: &mut Browser<'_>) {
    let health = browser.get("/healthz").await;
    check_eq!(health.status, StatusCode::OK, "{}", health.text);
    let page = browser.get("/applications").await;
    check_eq!(page.status, StatusCode::OK, "{}", clip(&page.text));
    stored_values_follow_the_rules(app, "at the end").await;
}

/// At most what a URI may hold: the `http` crate refuses longer ones (and
/// hyper answers them 414), so a 1 MiB payload is cut to 60 000 bytes in a
/// path or query string.
pub(crate) fn for_uri(payload: &str) -> &str {
    let mut end = payload.len().min(60_000);
    while !payload.is_char_boundary(end) {
        end -= 1;
    }
    &payload[..end]
}

pub(crate) fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

pub(crate) async fn send(browser: &mut Browser<'_>, request: Request<Body>) -> Response {
    browser.send(request).await
}

/// A raw server-function body: as the hydrated page posts it, or as a plain form.
pub(crate) fn rpc_request(
    name: &str,
    content_type: &str,
    plain: bool,
    body: Vec<u8>,
) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(format!("/rpc/{name}"))
        .header(header::CONTENT_TYPE, content_type)
        .header(
            header::ACCEPT,
            if plain {
                "text/html"
            } else {
                "application/json"
            },
        )
        .header(header::ORIGIN, ORIGIN)
        .header(header::REFERER, format!("{ORIGIN}/applications"))
        .body(Body::from(body))
        .unwrap()
}

pub(crate) const FORM: &str = "application/x-www-form-urlencoded";

/// What the server functions need to find: real ids to put next to the
/// hostile ones.
pub(crate) struct World {
    pub admin: User,
    pub app_id: String,
    pub client_id: String,
    pub removed_id: String,
    pub member_id: String,
    pub query: String,
}

pub(crate) async fn world(app: &TestApp, admin: &mut Browser<'_>, admin_user: User) -> World {
    let app_id = admin.register("Base").await;
    let client_id: String = sqlx::query_scalar("SELECT client_id FROM applications WHERE id = $1")
        .bind(&app_id)
        .fetch_one(&app.keyport.db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE applications SET callback_url = $1 WHERE id = $2")
        .bind(CALLBACK)
        .bind(&app_id)
        .execute(&app.keyport.db.pool)
        .await
        .unwrap();
    let removed_id = admin.register("Removed").await;
    app.keyport
        .remove_applications(&access(&admin_user), std::slice::from_ref(&removed_id))
        .await
        .unwrap();
    let member = app.user("member@example.com", Role::Member).await;
    let query = format!(
        "response_type=code&client_id={client_id}&redirect_uri={}&scope=clients%3Aread&state=s1&code_challenge={CHALLENGE}&code_challenge_method=S256",
        encode(CALLBACK)
    );
    World {
        admin: admin_user,
        app_id,
        client_id,
        removed_id,
        member_id: member.id.into(),
        query,
    }
}

/// A browser of its own address: the failure limiters count per address,
/// and are not what is under test.
pub(crate) fn fresh_browser<'a>(app: &'a TestApp, n: &mut u32) -> Browser<'a> {
    *n += 1;
    let mut browser = app.browser();
    browser.address = format!(
        "10.{}.{}.{}:1000",
        100 + *n / 40_000,
        (*n / 200) % 200,
        *n % 200
    )
    .parse()
    .unwrap();
    browser
}

/// A part's header lines and its bytes.
pub(crate) type RawPart = (Vec<u8>, Vec<u8>);

/// A multipart body written byte by byte.
pub(crate) fn raw_multipart(boundary: &str, parts: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (head, value) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(head);
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

/// A hand-made JWT with the given header and claims and a bogus signature.
pub(crate) fn forged(header: &str, claims: &str) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!("{}.{}.c2ln", b64(header), b64(claims))
}

pub(crate) fn hostile_tokens() -> Vec<(String, String)> {
    let mut tokens: Vec<(String, String)> = payloads()
        .into_iter()
        .map(|(l, p)| (l.to_owned(), p))
        .collect();
    for (label, kid) in [
        ("kid NUL", "\\u0000"),
        ("kid SQL", "' OR 1=1 --"),
        ("kid traversal", "../../etc/passwd"),
        ("kid 1 MiB", &"k".repeat(1 << 20)),
    ] {
        tokens.push((
            label.into(),
            forged(
                &format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"{kid}"}}"#),
                r#"{"sub":"x","exp":99999999999999999999}"#,
            ),
        ));
    }
    tokens.push((
        "alg none".into(),
        forged(r#"{"alg":"none","typ":"at+jwt"}"#, r#"{"sub":"x"}"#),
    ));
    tokens.push((
        "claims not JSON".into(),
        forged(r#"{"alg":"ES256","kid":"x"}"#, "\u{0}\u{1b}"),
    ));
    tokens.push((
        "claims wrong types".into(),
        forged(
            r#"{"alg":"ES256","kid":[1]}"#,
            r#"{"exp":"soon","iat":-1e400,"scope":{}}"#,
        ),
    ));
    tokens
}
