//! The rules tables cannot forget: every registered server function has
//! exactly one rule (`app::api::access::RULES`), and every rule holds at
//! the edge for each kind of caller, called over HTTP as the console calls
//! it, before the function reads its arguments. Every other route (the
//! router is built from `keyport::routes`) refuses a caller without what
//! its gate asks (a client's wrong secret, a spent or revoked initial
//! access token), and a management API token without the route's scope.

mod common;

use std::collections::BTreeSet;

use app::api::access::{Rule, Who, PREFIX, RULES};
use app::api::AppError;
use app::domain::access::Access;
use app::domain::accounts::{NewUser, Role, User};
use app::domain::secrets::Password;
use app::domain::tenancy::Domain;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::authorize::access;
use common::factors::enrol_totp;
use common::{Browser, Response, TestApp, PASSWORD};
use keyport::Gate;

#[test]
fn every_server_function_has_one_rule() {
    let registered: BTreeSet<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_owned())
        .collect();
    let ruled: BTreeSet<String> = RULES
        .iter()
        .map(|r| format!("{PREFIX}{}", r.endpoint))
        .collect();
    assert_eq!(ruled.len(), RULES.len(), "a function with two rules");
    let unruled: Vec<_> = registered.difference(&ruled).collect();
    assert!(
        unruled.is_empty(),
        "server functions without a rule: {unruled:?}"
    );
    let stale: Vec<_> = ruled.difference(&registered).collect();
    assert!(stale.is_empty(), "rules for no server function: {stale:?}");
}

on_both_engines!(
    each_kind_of_caller_meets_each_rule,
    each_route_refuses_who_its_gate_keeps_out
);

/// The kinds of caller a console request can come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// No session at all.
    Nobody,
    /// A password accepted, the second factor not yet given.
    SecondFactorDue,
    Member,
    DomainAdmin,
    SuperAdmin,
    /// A super admin who proved who they are longer ago than the step-up
    /// lifetime.
    StaleSuperAdmin,
    /// An admin of another domain, whose grace period to set up a second
    /// factor is over.
    PastDeadline,
    /// A user disabled while signed in.
    Disabled,
}

impl Caller {
    const ALL: [Self; 8] = [
        Self::Nobody,
        Self::SecondFactorDue,
        Self::Member,
        Self::DomainAdmin,
        Self::SuperAdmin,
        Self::StaleSuperAdmin,
        Self::PastDeadline,
        Self::Disabled,
    ];

    fn role(self) -> Option<Role> {
        match self {
            Self::Nobody | Self::SecondFactorDue | Self::Disabled => None,
            Self::Member => Some(Role::Member),
            Self::DomainAdmin | Self::PastDeadline => Some(Role::DomainAdmin),
            Self::SuperAdmin | Self::StaleSuperAdmin => Some(Role::SuperAdmin),
        }
    }

    /// How `rule` refuses this caller, or `None` for a call it lets in.
    fn refusal(self, rule: &Rule) -> Option<AppError> {
        let needs = match rule.who {
            Who::Anyone => return None,
            Who::SecondFactorDue => {
                return (self != Self::SecondFactorDue).then_some(AppError::Unauthenticated)
            }
            Who::SignedIn | Who::User => Role::Member,
            Who::Admin => Role::DomainAdmin,
            Who::SuperAdmin => Role::SuperAdmin,
        };
        let Some(role) = self.role() else {
            return Some(AppError::Unauthenticated);
        };
        if self == Self::PastDeadline && rule.who != Who::SignedIn {
            return Some(AppError::EnrolmentRequired);
        }
        if !role.reaches(needs) {
            return Some(AppError::Forbidden);
        }
        (rule.step_up && self == Self::StaleSuperAdmin).then_some(AppError::StepUpRequired)
    }
}

/// Signs in `email` in a new browser.
async fn signed_in<'a>(app: &'a TestApp, email: &str) -> Browser<'a> {
    let mut browser = app.browser();
    let answer = browser.sign_in(email, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::OK, "{email}: {}", answer.text);
    browser
}

/// A new domain, and a domain admin of it.
async fn admin_of_new_domain(app: &TestApp, name: &str, email: &str) -> (Domain, User) {
    let domain = app
        .keyport
        .create_domain(&Access::operator(), name, None)
        .await
        .unwrap();
    let admin = app
        .keyport
        .insert_user(
            NewUser {
                domain_id: domain.id.clone(),
                email: email.into(),
                role: Role::DomainAdmin,
                password: Password::new(PASSWORD),
            },
            None,
            "test",
            None,
        )
        .await
        .unwrap();
    (domain, admin)
}

async fn each_kind_of_caller_meets_each_rule(app: &TestApp) {
    app.factors_not_required().await;
    let super_admin = app.user("super@example.com", Role::SuperAdmin).await;
    app.user("stale@example.com", Role::SuperAdmin).await;
    app.user("admin@example.com", Role::DomainAdmin).await;
    app.user("member@example.com", Role::Member).await;
    let gone = app.user("gone@example.com", Role::Member).await;
    // A domain whose admins must set up a second factor within 7 days.
    admin_of_new_domain(app, "Branch", "late@example.com").await;
    // Their grace period starts when they are first asked.
    signed_in(app, "late@example.com").await;
    app.user("twofactor@example.com", Role::Member).await;
    enrol_totp(app, &mut signed_in(app, "twofactor@example.com").await).await;

    app.clock.advance(7 * 86_400 + 1);
    let mut stale = Some(signed_in(app, "stale@example.com").await);
    app.clock.advance(app.keyport.step_up_ttl + 1);
    let mut browsers = Vec::new();
    for caller in Caller::ALL {
        let browser = match caller {
            Caller::Nobody => app.browser(),
            Caller::SecondFactorDue => {
                let mut browser = app.browser();
                let asked = browser.sign_in("twofactor@example.com", PASSWORD).await;
                assert_eq!(
                    asked.header("location"),
                    Some("/login/verify?next=%2Fapplications")
                );
                browser
            }
            Caller::Member => signed_in(app, "member@example.com").await,
            Caller::DomainAdmin => signed_in(app, "admin@example.com").await,
            Caller::SuperAdmin => signed_in(app, "super@example.com").await,
            Caller::StaleSuperAdmin => stale.take().unwrap(),
            Caller::PastDeadline => signed_in(app, "late@example.com").await,
            Caller::Disabled => signed_in(app, "gone@example.com").await,
        };
        browsers.push((caller, browser));
    }
    app.keyport
        .set_disabled(&access(&super_admin), &gone.id, true)
        .await
        .unwrap();

    // Signing out comes last: it ends the caller's session.
    let mut rules: Vec<&Rule> = RULES.iter().collect();
    rules.sort_by_key(|r| r.endpoint == "sign_out");
    for (caller, browser) in &mut browsers {
        for rule in &rules {
            // No arguments: a call the rule lets in is refused for them,
            // never for who is asking.
            let answer = browser.rpc(rule.endpoint, &[]).await;
            let said = serde_json::from_str::<AppError>(&answer.text).ok();
            match caller.refusal(rule) {
                Some(refusal) => {
                    assert_eq!(
                        (answer.status.as_u16(), said.as_ref()),
                        (refusal.status(), Some(&refusal)),
                        "{caller:?} calling {}: {}",
                        rule.endpoint,
                        answer.text
                    );
                }
                None => assert!(
                    !matches!(
                        said,
                        Some(
                            AppError::Unauthenticated
                                | AppError::Forbidden
                                | AppError::StepUpRequired
                                | AppError::EnrolmentRequired
                        )
                    ),
                    "{caller:?} calling {} was refused: {} {}",
                    rule.endpoint,
                    answer.status,
                    answer.text
                ),
            }
        }
    }
}

/// `method path` with no credentials and `body` (a form).
fn bare(method: &str, path: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(
            path.replace("{id}", "unknown")
                .replace("{client_id}", "unknown")
                .replace("{domain_id}", "unknown"),
        )
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

/// `method path` with a JSON `body`, and a Bearer token if any.
fn json(method: &str, path: &str, body: &str, bearer: Option<&str>) -> Request<Body> {
    let mut request = bare(method, path, body);
    let headers = request.headers_mut();
    headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    if let Some(token) = bearer {
        headers.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
    }
    request
}

async fn each_route_refuses_who_its_gate_keeps_out(app: &TestApp) {
    // One route is open only while the operator has set no token.
    let metrics_open = app.config.metrics_token.is_none();
    let admin = app.user("super@example.com", Role::SuperAdmin).await;
    let scopes = [
        "clients:read",
        "clients:write",
        "audit:read",
        "domains:read",
        "domains:write",
    ];
    let mut tokens = std::collections::HashMap::new();
    for scope in scopes {
        // A token with every scope but this one, and one with it alone.
        let without: Vec<&str> = scopes.iter().copied().filter(|s| *s != scope).collect();
        for (held, name) in [
            (without, format!("without {scope}")),
            (vec![scope], format!("with {scope}")),
        ] {
            let (id, secret) = app.client(&admin, &name, &held).await;
            let answer = app
                .token_request(Some((&id, &secret)), "grant_type=client_credentials")
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
            tokens.insert(
                name,
                answer.json()["access_token"].as_str().unwrap().to_owned(),
            );
        }
    }

    // A confidential client, and initial access tokens (for the reporting
    // API's permissions) spent or revoked.
    app.reports_api().await;
    let clients = Clients::new(app, &admin).await;
    let domain = app.keyport.domain(&admin.domain_id).await.unwrap().unwrap();
    let initial = |label: &str| app::domain::registration::NewRegistrationToken {
        label: label.into(),
        uses: 1,
        expires_in: 86_400,
        permissions: None,
        grant_types: Vec::new(),
        public_allowed: true,
    };
    let (to_revoke, revoked) = app
        .keyport
        .create_registration_token(&access(&admin), &domain, initial("Revoked"))
        .await
        .unwrap();
    app.keyport
        .revoke_registration_token(&access(&admin), &domain, &to_revoke.id)
        .await
        .unwrap();
    let (spent, used_up) = app
        .keyport
        .create_registration_token(&access(&admin), &domain, initial("Spent"))
        .await
        .unwrap();
    sqlx::query("UPDATE registration_tokens SET uses_left = 0 WHERE id = $1")
        .bind(&spent.id)
        .execute(&app.keyport.db.pool)
        .await
        .unwrap();

    for (method, path, gate) in keyport::routes() {
        // A request in form (a client's: a grant and a token to look at;
        // anyone else's: JSON), but no credentials.
        let request = match gate {
            Gate::Client => bare(method, path, "grant_type=client_credentials&token=x"),
            _ => json(method, path, "{}", None),
        };
        let answer = app.call(request).await;
        let refused = match gate {
            Gate::Anyone => false,
            Gate::MetricsToken => !metrics_open,
            _ => true,
        };
        let status = answer.status;
        if refused {
            // An icon of an application nobody may see does not exist.
            let expected: &[StatusCode] = match gate {
                Gate::Session => &[StatusCode::UNAUTHORIZED, StatusCode::NOT_FOUND],
                _ => &[StatusCode::UNAUTHORIZED],
            };
            assert!(
                expected.contains(&status),
                "{method} {path} ({gate:?}) without credentials: {status} {}",
                answer.text
            );
        } else {
            assert!(
                ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&status),
                "{method} {path} ({gate:?}) refused: {status} {}",
                answer.text
            );
        }
        match gate {
            Gate::Client => client_gate(app, method, path, &clients).await,
            Gate::Registration => {
                for (token, why) in [(&revoked, "revoked"), (&used_up, "used up")] {
                    let answer = app.call(json(method, path, "{}", Some(token))).await;
                    assert_eq!(
                        answer.status,
                        StatusCode::UNAUTHORIZED,
                        "{why}: {}",
                        answer.text
                    );
                    assert!(answer.text.contains(why), "{why}: {}", answer.text);
                }
            }
            _ => {}
        }
        let Gate::Scope(scope) = gate else { continue };
        // The check comes before the body is read: a malformed one is
        // refused for the scope, and let through to a 400 with it.
        for (token, allowed) in [
            (&tokens[&format!("without {scope}")], false),
            (&tokens[&format!("with {scope}")], true),
        ] {
            let answer = app.call(json(method, path, "{", Some(token))).await;
            if allowed {
                assert!(
                    ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&answer.status),
                    "{method} {path} with {scope}: {} {}",
                    answer.status,
                    answer.text
                );
            } else {
                assert_eq!(
                    answer.status,
                    StatusCode::FORBIDDEN,
                    "{method} {path} without {scope}: {}",
                    answer.text
                );
                assert!(
                    answer
                        .header("www-authenticate")
                        .is_some_and(|c| c.contains("insufficient_scope")),
                    "{method} {path}: {:?}",
                    answer.headers
                );
            }
        }
    }
}

/// The clients the client-authenticating routes are called as: a
/// confidential client with its secret, a public one, and a confidential
/// client of another domain.
struct Clients {
    own: (String, String),
    public: String,
    elsewhere: (String, String),
    elsewhere_domain: String,
}

impl Clients {
    async fn new(app: &TestApp, admin: &app::domain::accounts::User) -> Self {
        let own = app.client(admin, "Gatekeeper", &["clients:read"]).await;
        let domain = app.keyport.domain(&admin.domain_id).await.unwrap().unwrap();
        let input = app::domain::validate::ApplicationInput {
            name: "Desktop tool".into(),
            permissions: vec!["clients:read".into()],
            callback_url: "http://127.0.0.1/callback".into(),
            public: true,
            ..Default::default()
        };
        let (public, _) = app
            .keyport
            .register_application(&access(admin), &domain, input)
            .await
            .unwrap();
        let (elsewhere_domain, stranger) =
            admin_of_new_domain(app, "Elsewhere", "elsewhere@example.com").await;
        let elsewhere = app
            .client(&stranger, "Elsewhere's", &["clients:read"])
            .await;
        Self {
            own,
            public: public.client_id.to_string(),
            elsewhere,
            elsewhere_domain: elsewhere_domain.id.to_string(),
        }
    }
}

/// How a client presents itself: HTTP Basic (RFC 6749 §2.3.1), or a
/// public client's `client_id` alone (§2.1).
enum As<'a> {
    Basic(&'a str, &'a str),
    Public(&'a str),
}

async fn as_client(app: &TestApp, method: &str, path: &str, who: As<'_>, form: &str) -> Response {
    use base64::Engine as _;
    match who {
        As::Basic(id, secret) => {
            let mut request = bare(method, path, form);
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            request.headers_mut().insert(
                header::AUTHORIZATION,
                format!("Basic {basic}").parse().unwrap(),
            );
            app.call(request).await
        }
        As::Public(id) => {
            app.call(bare(method, path, &format!("{form}&client_id={id}")))
                .await
        }
    }
}

/// Each route that authenticates clients, as each kind of client: its
/// right and a wrong secret, a public client, and another domain's
/// client, each asked about a token of the first. A client route this
/// matrix does not know fails it.
async fn client_gate(app: &TestApp, method: &str, path: &str, clients: &Clients) {
    let (id, secret) = (clients.own.0.as_str(), clients.own.1.as_str());
    let own = As::Basic(id, secret);
    let elsewhere = || As::Basic(&clients.elsewhere.0, &clients.elsewhere.1);
    let wrong = as_client(
        app,
        method,
        path,
        As::Basic(id, "kps_wrong"),
        "grant_type=client_credentials&token=x",
    )
    .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNAUTHORIZED,
        "{method} {path} with a wrong secret: {}",
        wrong.text
    );
    let token = app
        .token_request(Some((id, secret)), "grant_type=client_credentials")
        .await
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let about = format!("token={token}");
    let active = |token: String| async move {
        let answer = as_client(
            app,
            "POST",
            "/oauth2/introspect",
            As::Basic(id, secret),
            &format!("token={token}"),
        )
        .await;
        answer.json()["active"].as_bool().unwrap()
    };
    match path {
        "/oauth2/token" | "/v4/oauth2/token" => {
            let grant = "grant_type=client_credentials";
            let issued = as_client(app, method, path, own, grant).await;
            assert_eq!(issued.status, StatusCode::OK, "{path}: {}", issued.text);
            // A public client has no credentials of its own to trade; the
            // compatible endpoint knows HTTP Basic alone, so its bare
            // client_id is no authentication at all.
            let public = as_client(app, method, path, As::Public(&clients.public), grant).await;
            let (status, error) = match path {
                "/v4/oauth2/token" => (StatusCode::UNAUTHORIZED, "invalid_client"),
                _ => (StatusCode::BAD_REQUEST, "unauthorized_client"),
            };
            assert_eq!(public.status, status, "{path}: {}", public.text);
            assert_eq!(public.json()["error"], error, "{path}");
            // Another domain's client gets a token for its own domain.
            let theirs = as_client(app, method, path, elsewhere(), grant).await;
            assert_eq!(theirs.status, StatusCode::OK, "{path}: {}", theirs.text);
            let issued = theirs.json()["access_token"].as_str().unwrap().to_owned();
            let claims = app.keyport.verify_for_any_api(&issued).await.unwrap();
            assert_eq!(claims.domain_id, clients.elsewhere_domain, "{path}");
        }
        "/oauth2/introspect" => {
            let answer = as_client(app, method, path, own, &about).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
            assert_eq!(answer.json()["active"], true);
            // A public client may not introspect (RFC 7662 §2.1).
            let public = as_client(app, method, path, As::Public(&clients.public), &about).await;
            assert_eq!(public.status, StatusCode::UNAUTHORIZED, "{}", public.text);
            // Another domain's client learns nothing of this domain's token.
            let theirs = as_client(app, method, path, elsewhere(), &about).await;
            assert_eq!(theirs.status, StatusCode::OK, "{}", theirs.text);
            assert_eq!(theirs.json(), serde_json::json!({ "active": false }));
        }
        "/oauth2/revoke" => {
            // Only the client the token was issued to revokes it (RFC 7009
            // §2.1); anyone else is told 200 and changes nothing (§2.2).
            for (who, name) in [
                (As::Public(&clients.public), "a public client"),
                (elsewhere(), "another domain's client"),
            ] {
                let answer = as_client(app, method, path, who, &about).await;
                assert_eq!(answer.status, StatusCode::OK, "{name}: {}", answer.text);
                assert!(
                    active(token.clone()).await,
                    "{name} revoked another's token"
                );
            }
            let answer = as_client(app, method, path, own, &about).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
            assert!(!active(token).await, "its own client could not revoke it");
        }
        _ => panic!("{method} {path} authenticates clients: add it to this matrix"),
    }
}
