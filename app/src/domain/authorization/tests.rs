//! The authorization request's parsing, PKCE and redirect matching.

use super::*;

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn query(extra: &str) -> String {
    format!(
        "response_type=code&client_id=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb\
         &code_challenge={CHALLENGE}&code_challenge_method=S256{extra}"
    )
}

#[test]
fn s256_matches_rfc_7636_appendix_b() {
    assert_eq!(
        s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        CHALLENGE
    );
    assert!(is_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
    assert!(!is_verifier("short"));
    assert!(!is_verifier(&"a b".repeat(20)));
}

#[test]
fn requests_need_a_client_a_redirect_and_s256() {
    let r = AuthorizationRequest::parse(&query("&state=xyz&scope=clients%3Aread")).unwrap();
    assert_eq!(r.redirect_uri, "https://app.example/cb");
    assert_eq!(r.state.as_deref(), Some("xyz"));
    assert_eq!(r.scope.as_deref(), Some("clients:read"));
    assert!(matches!(
        AuthorizationRequest::parse(&query("&state=a&state=b")),
        Err(Refusal::Malformed(_))
    ));
    assert!(matches!(
        AuthorizationRequest::parse("response_type=code&redirect_uri=x"),
        Err(Refusal::Malformed(_))
    ));
    let plain = query("").replace("S256", "plain");
    assert_eq!(
        AuthorizationRequest::parse(&plain),
        Err(Refusal::BadChallenge)
    );
    let none = query("").replace(&format!("&code_challenge={CHALLENGE}"), "");
    assert_eq!(
        AuthorizationRequest::parse(&none),
        Err(Refusal::MissingChallenge)
    );
    let short = query("").replace(CHALLENGE, "abc");
    assert_eq!(
        AuthorizationRequest::parse(&short),
        Err(Refusal::BadChallenge)
    );
}

#[test]
fn loopback_callbacks_match_on_any_port_and_nothing_else_moves() {
    let registered = "http://127.0.0.1/cb";
    for ok in [
        "http://127.0.0.1/cb",
        "http://127.0.0.1:53124/cb",
        "http://127.0.0.1:1/cb",
    ] {
        assert!(redirect_matches(registered, ok), "{ok}");
    }
    assert!(redirect_matches(
        "http://[::1]:80/cb?x=1",
        "http://[::1]:6000/cb?x=1"
    ));
    assert!(redirect_matches(
        "http://127.0.0.1:8080/cb",
        "http://127.0.0.1:9/cb"
    ));
    for refused in [
        "http://127.0.0.1:53124/cb/",
        "http://127.0.0.1:53124/CB",
        "http://127.0.0.1:53124/cb/../cb",
        "http://127.0.0.1:53124/cb?x=1",
        "http://127.0.0.2:53124/cb",
        "http://localhost:53124/cb",
        "https://127.0.0.1:53124/cb",
        "http://127.0.0.1:abc/cb",
        "http://127.0.0.1:53124@evil.example/cb",
        "http://evil.example:53124/cb",
        "http://127.0.0.1:99999/cb",
        "http://127.0.0.1:65536/cb",
        "http://[::1]:99999/cb",
    ] {
        assert!(!redirect_matches(registered, refused), "{refused}");
    }
    assert!(
        !redirect_matches("https://app.example/cb", "https://app.example:8443/cb"),
        "only loopback callbacks move their port"
    );
}

proptest::proptest! {
    /// Whatever host, port and path a request names, the matcher
    /// answers, and what it lets through makes an authorization
    /// response.
    #[test]
    fn the_matcher_answers_every_redirect_uri(
        scheme in "(http|https|HTTP|ftp)",
        host in "(127\\.0\\.0\\.1|\\[::1\\]|localhost|[a-z0-9.:@\\[\\]%-]{0,20})",
        port in proptest::option::of("[0-9a-z]{0,7}"),
        path in "[/a-zA-Z0-9?#%.@:\\\\-]{0,16}",
        registered in "(http://127\\.0\\.0\\.1/cb|http://\\[::1\\]:80/cb|https://app\\.example/cb)",
    ) {
        let requested = match port {
            Some(port) => format!("{scheme}://{host}:{port}{path}"),
            None => format!("{scheme}://{host}{path}"),
        };
        if redirect_matches(&registered, &requested) {
            proptest::prop_assert!(url::Url::parse(&requested).is_ok());
            let url = callback_url(&requested, &[("code", "c")], Some("s"), "http://i");
            proptest::prop_assert!(!url.is_empty());
        }
    }
}

#[test]
fn offline_access_is_asked_for_beside_permissions() {
    let granted = || {
        vec![
            ("audit:read".to_owned(), "Read".to_owned()),
            ("clients:read".to_owned(), "List".to_owned()),
        ]
    };
    let asked = requested_permissions(granted(), Some("clients:read offline_access"), true);
    let scopes: Vec<String> = asked.unwrap().into_iter().map(|(s, _)| s).collect();
    assert_eq!(scopes, ["clients:read", "offline_access"]);
    let without = requested_permissions(granted(), Some("clients:read offline_access"), false);
    assert_eq!(without.unwrap().len(), 1, "left out where not allowed");
    assert!(requested_permissions(granted(), Some("offline_access"), true).is_err());
    assert!(requested_permissions(granted(), Some("clients:write"), true).is_err());
}

#[test]
fn callbacks_keep_their_query_and_carry_state() {
    assert_eq!(
        callback_url(
            "https://app.example/cb?tenant=1",
            &[("code", "a b")],
            Some("s&t"),
            "https://keyport.example"
        ),
        "https://app.example/cb?tenant=1&code=a+b&state=s%26t&iss=https%3A%2F%2Fkeyport.example"
    );
}
