//! Clients that register themselves: with an initial access token an admin
//! created (RFC 7591), or by open registration where a domain allows it;
//! and the client's own read, update and delete of its registration
//! (RFC 7592). Requests are plain HTTP checked against the RFC text; the
//! `oauth2` crate plays the registered tool when it signs a user in.

mod common;
mod process;

use app::domain::access::Access;
use app::domain::accounts::{Role, User};
use app::domain::registration::NewRegistrationToken;
use app::domain::tenancy::Domain;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::authorize::{access, decide, location, param, path_and_query};
use common::{encode, http_client, TestApp, REPORTS};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope,
    TokenResponse, TokenUrl,
};
use serde_json::{json, Value};

on_both_engines!(
    an_agent_registers_with_a_token_and_signs_its_user_in,
    registration_needs_a_token_that_is_still_good,
    metadata_is_checked_and_a_refusal_changes_nothing,
    a_client_reads_updates_and_deletes_its_registration,
    a_burst_spends_each_use_once_and_stays_within_the_domain_limit,
    open_registration_takes_public_clients_from_each_address_in_moderation,
    strangers_take_no_more_than_open_registrations_quota,
);

/// What a native tool registers, and where it listens this time.
const REGISTERED: &str = "http://127.0.0.1/callback";
const LISTENING: &str = "http://127.0.0.1:53124/callback";

/// The reporting API, the admin who hands out tokens, and their domain.
async fn setup(app: &TestApp) -> (User, Domain) {
    app.reports_api().await;
    let admin = app.user("registrar@example.com", Role::DomainAdmin).await;
    let domain = app.keyport.domain(&admin.domain_id).await.unwrap().unwrap();
    (admin, domain)
}

/// An initial access token for `uses` registrations over a day, allowing
/// the reporting API's permissions, every grant type and public clients.
async fn initial_token(app: &TestApp, admin: &User, domain: &Domain, uses: i64) -> String {
    let new = NewRegistrationToken {
        label: "Agents".into(),
        uses,
        expires_in: 86_400,
        permissions: None,
        grant_types: Vec::new(),
        public_allowed: true,
    };
    app.keyport
        .create_registration_token(&access(admin), domain, new)
        .await
        .unwrap()
        .1
}

fn agent_metadata() -> Value {
    json!({
        "client_name": "Report agent",
        "redirect_uris": [REGISTERED],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "reports:read",
        "client_uri": "https://agent.example.com",
        "software_id": "ignored-by-keyport",
    })
}

/// A request to the registration endpoints with a Bearer token, if any.
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> common::Response {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(body) => {
            request = request.header("content-type", "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    app.call(request.body(body).unwrap()).await
}

async fn register(app: &TestApp, bearer: Option<&str>, metadata: &Value) -> common::Response {
    send(app, "POST", "/oauth2/register", bearer, Some(metadata)).await
}

fn refused_with(response: &common::Response, status: StatusCode, error: &str) {
    assert_eq!(response.status, status, "{}", response.text);
    assert_eq!(response.json()["error"], error, "{}", response.text);
}

/// RFC 6750 §3.1: a 401 for a bad token names it in the challenge.
fn token_refused(response: &common::Response, why: &str) {
    refused_with(response, StatusCode::UNAUTHORIZED, "invalid_token");
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(challenge.contains("invalid_token"), "{challenge}");
    let description = response.json()["error_description"].to_string();
    assert!(description.contains(why), "{description}");
}

async fn count_applications(app: &TestApp, domain: &Domain) -> usize {
    app.keyport.count_applications(&domain.id).await.unwrap()
}

/// The registered tool signs a user in with PKCE on a loopback port and
/// gets a token for the reporting API.
async fn sign_in_with(app: &TestApp, client_id: &str) -> oauth2::basic::BasicTokenResponse {
    let (mut browser, _) = app.signed_in("analyst@example.com", Role::Member).await;
    let origin = common::ORIGIN;
    let tool = BasicClient::new(ClientId::new(client_id.into()))
        .set_auth_uri(AuthUrl::new(format!("{origin}/oauth2/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(format!("{origin}/oauth2/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(LISTENING.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = tool
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .add_scope(Scope::new("reports:read".into()))
        .add_scope(Scope::new("offline_access".into()))
        .add_extra_param("resource", REPORTS)
        .url();
    let path = path_and_query(&url);
    let page = browser.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let back = location(&decide(&mut browser, &path, "approve").await);
    assert!(back.as_str().starts_with(LISTENING), "{back}");
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(state.secret().as_str())
    );
    let code = param(&back, "code").expect("a code at the loopback callback");
    tool.exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .add_extra_param("resource", REPORTS)
        .request_async(&http_client(app))
        .await
        .expect("the registered tool exchanges its code")
}

async fn an_agent_registers_with_a_token_and_signs_its_user_in(app: &TestApp) {
    let (admin, domain) = setup(app).await;
    let token = initial_token(app, &admin, &domain, 2).await;
    assert!(token.starts_with("kpi_"), "a prefix secret scanners know");

    let answer = register(app, Some(&token), &agent_metadata()).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let body = answer.json();
    let client_id = body["client_id"].as_str().unwrap().to_owned();
    // RFC 7591 §3.2.1: the metadata as registered, and no secret for a
    // public client.
    assert_eq!(body["client_name"], "Report agent");
    assert_eq!(body["redirect_uris"], json!([REGISTERED]));
    assert_eq!(body["token_endpoint_auth_method"], "none");
    assert_eq!(
        body["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(body["response_types"], json!(["code"]));
    assert_eq!(body["scope"], "reports:read");
    assert_eq!(body["client_uri"], "https://agent.example.com");
    assert!(body.get("client_secret").is_none(), "{body}");
    assert!(body["client_id_issued_at"].is_i64());
    assert!(body["registration_access_token"]
        .as_str()
        .unwrap()
        .starts_with("kpa_"));
    assert_eq!(
        body["registration_client_uri"],
        format!("{}/oauth2/register/{client_id}", common::ORIGIN)
    );

    // In the portal: the token's creator owns it, marked as registered by API.
    let id = app.application_id(&client_id).await;
    let listed = app.keyport.application_for(&admin, &id).await.unwrap().app;
    assert_eq!(listed.owner_id, admin.id);
    assert_eq!(
        listed.registered_by().as_deref(),
        Some("registered by API (Agents)")
    );

    // The tool signs its user in on any loopback port, for the API it named.
    let tokens = sign_in_with(app, &client_id).await;
    let claims = app
        .keyport
        .verify_for_any_api(tokens.access_token().secret())
        .await
        .unwrap();
    assert_eq!(claims.aud, REPORTS);
    assert_eq!(claims.scope, "reports:read");
    assert!(
        tokens.refresh_token().is_some(),
        "it registered for refresh tokens"
    );

    // A second copy of the tool registers under the same name: it is told
    // which name it got.
    let second = register(app, Some(&token), &agent_metadata()).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
    assert_eq!(second.json()["client_name"], "Report agent 2");
    let tokens = app
        .keyport
        .registration_tokens(&admin, &domain)
        .await
        .unwrap();
    assert_eq!(tokens[0].uses_left, 0);
}

async fn registration_needs_a_token_that_is_still_good(app: &TestApp) {
    let (admin, domain) = setup(app).await;
    let metadata = agent_metadata();
    // Without a token, and open registration off.
    token_refused(
        &register(app, None, &metadata).await,
        "initial access token",
    );
    token_refused(
        &register(app, Some("kpi_not-a-token-anyone-made"), &metadata).await,
        "not valid",
    );
    // A Basic header is not a Bearer token.
    let basic = app
        .call(
            Request::post("/oauth2/register")
                .header("authorization", "Basic YTpi")
                .header("content-type", "application/json")
                .body(Body::from(metadata.to_string()))
                .unwrap(),
        )
        .await;
    token_refused(&basic, "Bearer");

    // Used up.
    let once = initial_token(app, &admin, &domain, 1).await;
    assert_eq!(
        register(app, Some(&once), &metadata).await.status,
        StatusCode::CREATED
    );
    token_refused(&register(app, Some(&once), &metadata).await, "used up");

    // Revoked: what it registered stays.
    let revoked = initial_token(app, &admin, &domain, 5).await;
    let listed = app
        .keyport
        .registration_tokens(&admin, &domain)
        .await
        .unwrap();
    let id = listed.iter().find(|t| t.uses_left == 5).unwrap().id.clone();
    app.keyport
        .revoke_registration_token(&access(&admin), &domain, &id)
        .await
        .unwrap();
    token_refused(&register(app, Some(&revoked), &metadata).await, "revoked");

    // Expired.
    let expiring = initial_token(app, &admin, &domain, 5).await;
    app.clock.advance(86_400);
    token_refused(&register(app, Some(&expiring), &metadata).await, "expired");

    // Its creator no longer an admin, or disabled: nothing registers in
    // their name.
    let fresh = initial_token(app, &admin, &domain, 5).await;
    let super_admin = app.user("root@example.com", Role::SuperAdmin).await;
    for (role, refused) in [(Role::Member, true), (Role::DomainAdmin, false)] {
        app.keyport
            .change_role(&access(&super_admin), &admin.id, role)
            .await
            .unwrap();
        if refused {
            token_refused(
                &register(app, Some(&fresh), &metadata).await,
                "no longer manages",
            );
        }
    }
    app.keyport
        .set_disabled(&access(&super_admin), &admin.id, true)
        .await
        .unwrap();
    token_refused(&register(app, Some(&fresh), &metadata).await, "disabled");
    assert_eq!(count_applications(app, &domain).await, 1);
}

async fn metadata_is_checked_and_a_refusal_changes_nothing(app: &TestApp) {
    let (admin, domain) = setup(app).await;
    let token = initial_token(app, &admin, &domain, 3).await;
    let with = |change: Value| {
        let mut metadata = agent_metadata();
        for (key, value) in change.as_object().unwrap() {
            metadata[key] = value.clone();
        }
        metadata
    };
    for (metadata, error) in [
        (
            with(json!({"redirect_uris": ["http://agent.example.com/cb"]})),
            "invalid_redirect_uri",
        ),
        (
            with(json!({"redirect_uris": ["https://a.example.com/cb#frag"]})),
            "invalid_redirect_uri",
        ),
        (with(json!({"redirect_uris": []})), "invalid_redirect_uri"),
        (
            with(json!({"redirect_uris": [REGISTERED, "https://a.example.com/cb"]})),
            "invalid_redirect_uri",
        ),
        (
            with(json!({"scope": "clients:write"})),
            "invalid_client_metadata",
        ),
        (
            with(json!({"scope": "reports:read no-such-scope"})),
            "invalid_client_metadata",
        ),
        (
            with(json!({"grant_types": ["password"]})),
            "invalid_client_metadata",
        ),
        (
            with(json!({"grant_types": ["client_credentials"]})),
            "invalid_client_metadata",
        ),
        (
            with(json!({"token_endpoint_auth_method": "private_key_jwt"})),
            "invalid_client_metadata",
        ),
        (
            with(json!({"response_types": ["token"]})),
            "invalid_client_metadata",
        ),
        (
            with(json!({"client_name": "x".repeat(65)})),
            "invalid_client_metadata",
        ),
        (
            with(json!({"client_uri": "javascript:alert(1)"})),
            "invalid_client_metadata",
        ),
        (
            with(json!({"logo_uri": "not a url"})),
            "invalid_client_metadata",
        ),
        (
            with(json!({"redirect_uris": "http://127.0.0.1/cb"})),
            "invalid_client_metadata",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ] {
        let answer = register(app, Some(&token), &metadata).await;
        refused_with(&answer, StatusCode::BAD_REQUEST, error);
    }
    // Not JSON at all.
    let form = app
        .call(
            Request::post("/oauth2/register")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(encode(&[("client_name", "x")])))
                .unwrap(),
        )
        .await;
    refused_with(&form, StatusCode::BAD_REQUEST, "invalid_client_metadata");
    // Too large.
    let huge = with(json!({"client_name": "x".repeat(20 * 1024)}));
    assert_eq!(
        register(app, Some(&token), &huge).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );

    // A token that allows no public clients, for a public one.
    let confidential_only = NewRegistrationToken {
        label: "Gateways".into(),
        uses: 1,
        expires_in: 3_600,
        permissions: Some(vec!["reports:read".into()]),
        grant_types: vec!["client_credentials".into()],
        public_allowed: false,
    };
    let (_, gateways) = app
        .keyport
        .create_registration_token(&access(&admin), &domain, confidential_only)
        .await
        .unwrap();
    let public = register(app, Some(&gateways), &agent_metadata()).await;
    refused_with(&public, StatusCode::BAD_REQUEST, "invalid_client_metadata");

    // Nothing was registered, and no use was spent.
    assert_eq!(count_applications(app, &domain).await, 0);
    let tokens = app
        .keyport
        .registration_tokens(&admin, &domain)
        .await
        .unwrap();
    assert!(
        tokens.iter().all(|t| t.uses_left == t.max_uses),
        "{tokens:?}"
    );
}

async fn a_client_reads_updates_and_deletes_its_registration(app: &TestApp) {
    let (admin, domain) = setup(app).await;
    let token = initial_token(app, &admin, &domain, 2).await;
    // A confidential gateway: client credentials with its secret.
    let gateway = json!({
        "client_name": "VPN gateway",
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": "reports:read reports:write",
    });
    let created = register(app, Some(&token), &gateway).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let body = created.json();
    let client_id = body["client_id"].as_str().unwrap().to_owned();
    let secret = body["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("kps_"));
    assert_eq!(body["client_secret_expires_at"], 0);
    assert_eq!(body["response_types"], json!([]));
    let access = body["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let uri = format!("/oauth2/register/{client_id}");

    let issued = app
        .token_request(
            Some((&client_id, &secret)),
            &encode(&[("grant_type", "client_credentials"), ("resource", REPORTS)]),
        )
        .await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.text);
    assert_eq!(issued.json()["scope"], "reports:read reports:write");

    // RFC 7592 §2.1: read, with its registration access token only.
    let read = send(app, "GET", &uri, Some(&access), None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(read.json()["client_name"], "VPN gateway");
    assert!(read.json().get("client_secret").is_none());
    token_refused(
        &send(app, "GET", &uri, Some(&token), None).await,
        "not valid",
    );
    token_refused(&send(app, "GET", &uri, None, None).await, "missing");
    let other = register(app, Some(&token), &agent_metadata()).await.json();
    let other_access = other["registration_access_token"].as_str().unwrap();
    token_refused(
        &send(app, "GET", &uri, Some(other_access), None).await,
        "not valid",
    );

    // §2.2: an update replaces the metadata, within what the token allowed.
    let mut changed = gateway.clone();
    changed["client_name"] = json!("VPN gateway (Frankfurt)");
    changed["scope"] = json!("reports:read");
    let mismatch = send(app, "PUT", &uri, Some(&access), Some(&changed)).await;
    refused_with(
        &mismatch,
        StatusCode::BAD_REQUEST,
        "invalid_client_metadata",
    );
    changed["client_id"] = json!(client_id);
    let updated = send(app, "PUT", &uri, Some(&access), Some(&changed)).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert_eq!(updated.json()["client_name"], "VPN gateway (Frankfurt)");
    assert_eq!(updated.json()["scope"], "reports:read");
    let mut public = changed.clone();
    public["token_endpoint_auth_method"] = json!("none");
    public["grant_types"] = json!(["authorization_code"]);
    public["redirect_uris"] = json!([REGISTERED]);
    let switched = send(app, "PUT", &uri, Some(&access), Some(&public)).await;
    refused_with(
        &switched,
        StatusCode::BAD_REQUEST,
        "invalid_client_metadata",
    );
    let mut wider = changed.clone();
    wider["scope"] = json!("clients:write");
    let widened = send(app, "PUT", &uri, Some(&access), Some(&wider)).await;
    refused_with(&widened, StatusCode::BAD_REQUEST, "invalid_client_metadata");

    // It registered for client credentials only: no other grant.
    let code_grant = app
        .token_request(
            Some((&client_id, &secret)),
            &encode(&[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", "https://a.example.com/cb"),
                ("code_verifier", &"v".repeat(43)),
            ]),
        )
        .await;
    refused_with(&code_grant, StatusCode::BAD_REQUEST, "unauthorized_client");

    // §2.3: delete; the client and its registration are gone.
    let deleted = send(app, "DELETE", &uri, Some(&access), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    token_refused(
        &send(app, "GET", &uri, Some(&access), None).await,
        "not valid",
    );
    let after = app
        .token_request(
            Some((&client_id, &secret)),
            &encode(&[("grant_type", "client_credentials")]),
        )
        .await;
    refused_with(&after, StatusCode::UNAUTHORIZED, "invalid_client");
}

async fn a_burst_spends_each_use_once_and_stays_within_the_domain_limit(app: &TestApp) {
    let (admin, domain) = setup(app).await;
    let metadata = agent_metadata();
    let burst = |token: String| {
        let metadata = &metadata;
        async move {
            let token = &token;
            let requests = (0..8).map(|_| register(app, Some(token), metadata));
            futures::future::join_all(requests).await
        }
    };
    // Three uses, eight registrations at once: three clients.
    let token = initial_token(app, &admin, &domain, 3).await;
    let answers = burst(token).await;
    let created = answers
        .iter()
        .filter(|a| a.status == StatusCode::CREATED)
        .count();
    assert_eq!(
        created,
        3,
        "{:?}",
        answers.iter().map(|a| &a.text).collect::<Vec<_>>()
    );
    for refused in answers.iter().filter(|a| a.status != StatusCode::CREATED) {
        token_refused(refused, "used up");
    }
    // Room for three more in the domain, twenty uses: three clients, and
    // the rest told why in RFC 7591's words.
    app.keyport
        .set_app_limit(&Access::operator(), &domain.id, 6)
        .await
        .unwrap();
    let token = initial_token(app, &admin, &domain, 20).await;
    let answers = burst(token).await;
    let created = answers
        .iter()
        .filter(|a| a.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 3);
    for refused in answers.iter().filter(|a| a.status != StatusCode::CREATED) {
        refused_with(refused, StatusCode::BAD_REQUEST, "invalid_client_metadata");
        assert!(
            refused.text.contains("6 of its 6 applications"),
            "{}",
            refused.text
        );
    }
    assert_eq!(count_applications(app, &domain).await, 6);
    let tokens = app
        .keyport
        .registration_tokens(&admin, &domain)
        .await
        .unwrap();
    let twenty = tokens.iter().find(|t| t.max_uses == 20).unwrap();
    assert_eq!(twenty.uses_left, 17, "a refused registration spends no use");
}

async fn open_registration_takes_public_clients_from_each_address_in_moderation(app: &TestApp) {
    let (admin, domain) = setup(app).await;
    app.keyport
        .set_open_registration(&access(&admin), &domain, true, false)
        .await
        .unwrap();
    // Public clients only, and never Keyport's own management API.
    let mut confidential = agent_metadata();
    confidential["token_endpoint_auth_method"] = json!("client_secret_basic");
    let refused = register(app, None, &confidential).await;
    refused_with(&refused, StatusCode::BAD_REQUEST, "invalid_client_metadata");
    let mut management = agent_metadata();
    management["scope"] = json!("clients:read");
    let refused = register(app, None, &management).await;
    refused_with(&refused, StatusCode::BAD_REQUEST, "invalid_client_metadata");

    let used = register(app, None, &agent_metadata()).await;
    assert_eq!(used.status, StatusCode::CREATED, "{}", used.text);
    let used_id = used.json()["client_id"].as_str().unwrap().to_owned();
    let unused = register(app, None, &agent_metadata()).await;
    let unused_id = unused.json()["client_id"].as_str().unwrap().to_owned();
    let id = app.application_id(&unused_id).await;
    let listed = app.keyport.application_for(&admin, &id).await.unwrap().app;
    assert_eq!(
        listed.owner_id, admin.id,
        "the admin who turned it on owns it"
    );
    assert_eq!(
        listed.registered_by().as_deref(),
        Some("registered by API (open registration)")
    );

    // Ten attempts an hour from one address, refused ones included.
    for _ in 4..10 {
        assert_eq!(
            register(app, None, &agent_metadata()).await.status,
            StatusCode::CREATED
        );
    }
    let limited = register(app, None, &agent_metadata()).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text
    );
    assert!(limited.header("retry-after").is_some());

    // One client signs a user in; a day later the others, never used, are gone.
    sign_in_with(app, &used_id).await;
    app.keyport.flush_usage().await.unwrap();
    app.clock.advance(86_400 + 60);
    let purged = app.keyport.purge_unused_open_registrations().await.unwrap();
    assert_eq!(purged, 7);
    assert!(app
        .keyport
        .application_id_for_client(&unused_id)
        .await
        .unwrap()
        .is_none());
    assert!(app
        .keyport
        .application_id_for_client(&used_id)
        .await
        .unwrap()
        .is_some());

    // Turned off: a token is needed again.
    app.keyport
        .set_open_registration(&access(&admin), &domain, false, false)
        .await
        .unwrap();
    token_refused(
        &register(app, None, &agent_metadata()).await,
        "initial access token",
    );
}

/// `keyport registration-token create`, as an operator types it, and the
/// printed token used against a running node.
#[test]
fn the_command_line_creates_an_initial_access_token() {
    let scratch = process::Scratch::sqlite();
    scratch.with_admin_client();
    scratch.run(
        &[
            "api",
            "create",
            "--identifier",
            REPORTS,
            "--name",
            "Reporting API",
            "--permissions",
            "reports:read,reports:write",
        ],
        "",
    );
    let printed: Value = serde_json::from_str(&scratch.run(
        &[
            "registration-token",
            "create",
            "--domain",
            "default",
            "--label",
            "Support agents",
            "--uses",
            "2",
            "--expires-in",
            "3600",
            "--permissions",
            "reports:read",
            "--public",
        ],
        "",
    ))
    .unwrap();
    assert_eq!(printed["label"], "Support agents");
    assert_eq!(printed["uses"], 2);
    assert_eq!(printed["owner"], "admin@example.com");
    assert_eq!(printed["permissions"], json!(["reports:read"]));
    assert_eq!(printed["public"], true);
    let token = printed["initial_access_token"].as_str().unwrap();
    assert!(token.starts_with("kpi_"));

    let node = process::Node::start(&scratch);
    let bearer = format!("Bearer {token}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    let reply = node.request(
        "POST",
        "/oauth2/register",
        &headers,
        &agent_metadata().to_string(),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let wider = json!({"redirect_uris": [REGISTERED], "token_endpoint_auth_method": "none", "scope": "reports:write"});
    let reply = node.request("POST", "/oauth2/register", &headers, &wider.to_string());
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.json()["error"], "invalid_client_metadata");
    node.kill();
}

/// Strangers take no more than open registration's quota, never the room
/// the domain's admins need, and the consent page says that such a client
/// registered itself rather than naming the admin who turned it on.
async fn strangers_take_no_more_than_open_registrations_quota(app: &TestApp) {
    let (admin, domain) = setup(app).await;
    app.keyport
        .set_open_registration(&access(&admin), &domain, true, false)
        .await
        .unwrap();
    assert_eq!(
        app.keyport.open_room(&domain).await.unwrap().quota,
        app::domain::registration::DEFAULT_OPEN_QUOTA
    );
    let beyond = app
        .keyport
        .set_open_quota(&access(&admin), &domain, domain.app_limit + 1)
        .await;
    assert!(
        beyond.is_err(),
        "a quota past the domain's limit: {beyond:?}"
    );
    app.keyport
        .set_open_quota(&access(&admin), &domain, 3)
        .await
        .unwrap();

    let metadata = agent_metadata();
    let answers = futures::future::join_all((0..8).map(|_| register(app, None, &metadata))).await;
    let created: Vec<&common::Response> = answers
        .iter()
        .filter(|a| a.status == StatusCode::CREATED)
        .collect();
    assert_eq!(created.len(), 3, "the quota, raced");
    for refused in answers.iter().filter(|a| a.status != StatusCode::CREATED) {
        refused_with(refused, StatusCode::BAD_REQUEST, "invalid_client_metadata");
    }
    assert_eq!(count_applications(app, &domain).await, 3);
    // The admins' room is theirs.
    app.client(&admin, "Reporting", &["clients:read"]).await;

    let client_id = created[0].json()["client_id"].as_str().unwrap().to_owned();
    let (mut browser, _) = app.signed_in("analyst@example.com", Role::Member).await;
    let query = encode(&[
        ("response_type", "code"),
        ("client_id", &client_id),
        ("redirect_uri", LISTENING),
        ("scope", "reports:read"),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
        ("state", "xyz"),
    ]);
    let page = browser.get(&format!("/oauth2/authorize?{query}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(
        page.text.contains("registered itself (open registration)"),
        "{}",
        page.text
    );
    assert!(
        !page.text.contains("registrar@example.com"),
        "no admin vouches for it"
    );
}
