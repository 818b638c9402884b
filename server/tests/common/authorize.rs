//! The authorization code flow's moves, shared by the tests that drive it:
//! an OAuth client library plays the third-party application, a
//! cookie-keeping browser plays the user.

use axum::http::StatusCode;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenUrl,
};
use url::Url;

use super::{Browser, Response, TestApp};
use app::domain::accounts::Role;

pub const CALLBACK: &str = "http://127.0.0.1:4567/callback";

pub type Client =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// A third-party application registered with the callback, and the OAuth
/// client library configured for it.
pub async fn third_party(app: &TestApp, permissions: &[&str]) -> (String, String, Client) {
    let owner = app
        .user("vendor-admin@example.com", Role::DomainAdmin)
        .await;
    let (id, secret) = app
        .client_with_callback(&owner, "Gateway", permissions, CALLBACK)
        .await;
    let client = BasicClient::new(ClientId::new(id.clone()))
        .set_client_secret(ClientSecret::new(secret.clone()))
        .set_auth_uri(AuthUrl::new(format!("{}/oauth2/authorize", super::ORIGIN)).unwrap())
        .set_token_uri(TokenUrl::new(format!("{}/oauth2/token", super::ORIGIN)).unwrap())
        .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap());
    (id, secret, client)
}

/// The path and query the application sends the browser to, with its state
/// and verifier.
pub fn start(client: &Client, scopes: &[&str]) -> (String, CsrfToken, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge);
    for scope in scopes {
        request = request.add_scope(Scope::new((*scope).into()));
    }
    let (url, state) = request.url();
    (path_and_query(&url), state, verifier)
}

pub fn path_and_query(url: &Url) -> String {
    format!("{}?{}", url.path(), url.query().unwrap_or_default())
}

pub fn location(response: &Response) -> Url {
    let location = response
        .header("location")
        .unwrap_or_else(|| panic!("no redirect ({}): {}", response.status, response.text));
    Url::parse(location)
        .or_else(|_| Url::parse(super::ORIGIN).unwrap().join(location))
        .unwrap()
}

pub fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Approve or deny on the consent page, as its plain form posts.
pub async fn decide(browser: &mut Browser<'_>, path: &str, decision: &str) -> Response {
    let query = path.split_once('?').unwrap().1;
    browser
        .form_post(
            "authorize/decide",
            &[("request", query), ("decision", decision)],
            path,
        )
        .await
}

/// Shows the consent page, approves, and returns the code from the callback.
pub async fn approve(browser: &mut Browser<'_>, path: &str, state: &CsrfToken) -> String {
    let page = browser.get(path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let response = decide(browser, path, "approve").await;
    code_from(&response, state)
}

pub fn code_from(response: &Response, state: &CsrfToken) -> String {
    assert_eq!(response.status, StatusCode::FOUND, "{}", response.text);
    let back = location(response);
    assert!(back.as_str().starts_with(CALLBACK), "{back}");
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(state.secret().as_str())
    );
    param(&back, "code").expect("a code at the callback")
}

/// A code exchange with a hand-made request.
pub async fn exchange(
    app: &TestApp,
    id: &str,
    secret: &str,
    code: &str,
    redirect: &str,
    verifier: &str,
) -> Response {
    app.token_request(
        Some((id, secret)),
        &super::encode(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ]),
    )
    .await
}

/// `user`, signed in to the console: the principal of a domain operation
/// a test calls directly.
pub fn access(user: &app::domain::accounts::User) -> app::domain::access::Access {
    app::domain::access::Access::session(user.clone(), "test".into())
}
