//! Two `keyport serve` processes on one PostgreSQL database, as behind a
//! load balancer: sessions, applications, tokens, revocations, removals,
//! disabled owners and signing keys made on one node hold on the other,
//! including what the other had just read and remembered.

mod process;

use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use process::{wait_for, Node, Scratch};

fn kids(node: &Node) -> Vec<String> {
    node.request("GET", "/.well-known/jwks.json", &[], "")
        .json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Not split: two real processes started once; each step checks what one
/// node sees of the write the other made in the step before.
#[test]
fn two_nodes_on_one_postgresql_serve_as_one() {
    let scratch = Scratch::postgres();
    let (admin_id, admin_secret) = scratch.with_admin_client();
    let (admin_id, admin_secret) = (admin_id.as_str(), admin_secret.as_str());
    let (a, b) = (Node::start(&scratch), Node::start(&scratch));

    // A session made on A is valid on B.
    let cookie = a.sign_in();
    let list = b.rpc("applications/list", "", Some(&cookie));
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(b.rpc("applications/list", "", None).status, 401);

    // An application registered on A gets tokens from B; A's token works at B's API.
    let token_a = a.access_token(admin_id, admin_secret);
    let created = a.api(
        "POST",
        "/api/v1/clients",
        &token_a,
        r#"{"name":"Gateway","permissions":["clients:read"]}"#,
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let created = created.json();
    let (id, secret) = (
        created["client_id"].as_str().unwrap().to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    );
    let token_b = b.access_token(&id, &secret);
    assert_eq!(b.api("GET", "/api/v1/clients", &token_a, "").status, 200);
    assert_eq!(a.api("GET", "/api/v1/clients", &token_b, "").status, 200);

    // A token revoked on A is refused by B at once, although B has just
    // accepted it: A's write reaches B as a notification, well before B's
    // 1 s bound on what it remembers.
    assert_eq!(b.api("GET", "/api/v1/clients", &token_b, "").status, 200);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let revoked = a.request(
        "POST",
        "/oauth2/revoke",
        &[
            ("Authorization", &format!("Basic {basic}")),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &format!("token={token_b}"),
    );
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let took = wait_for(
        "B refuses the revoked token",
        Duration::from_millis(500),
        || b.api("GET", "/api/v1/clients", &token_b, "").status == 401,
    );
    assert!(
        took.as_millis() < (app::domain::cache::FRESH_FOR_MS / 2) as u128,
        "{took:?}"
    );
    let refused = b.api("GET", "/api/v1/clients", &token_b, "");
    assert_eq!(refused.json()["error"]["code"], 401010);

    // An application registered on A is listed by B at once, although B
    // has just listed the domain.
    let listed = |node: &Node| {
        node.api("GET", "/api/v1/clients", &token_a, "")
            .json()
            .as_array()
            .unwrap()
            .len()
    };
    let before = listed(&b);
    let registered = a.api(
        "POST",
        "/api/v1/clients",
        &token_a,
        r#"{"name":"Second gateway","permissions":["clients:read"]}"#,
    );
    assert_eq!(registered.status, 201, "{}", registered.body);
    wait_for(
        "B lists the new application",
        Duration::from_millis(500),
        || listed(&b) == before + 1,
    );

    // A client removed on A is refused by B at once, although B has its row
    // remembered from the token it just issued.
    b.access_token(&id, &secret);
    assert_eq!(
        a.api("DELETE", &format!("/api/v1/clients/{id}"), &token_a, "")
            .status,
        204
    );
    assert_eq!(a.token(&id, &secret).status, 401);
    wait_for(
        "B refuses the removed client",
        Duration::from_millis(500),
        || b.token(&id, &secret).status == 401,
    );

    // A member's client is refused by B as soon as A disables the member,
    // although B has its row remembered from the token it just issued.
    scratch.run(
        &[
            "admin",
            "create",
            "--email",
            "member@example.com",
            "--role",
            "member",
            "--password-stdin",
        ],
        &format!("{}\n", process::PASSWORD),
    );
    let script: Value = serde_json::from_str(&scratch.run(
        &[
            "client",
            "create",
            "--email",
            "member@example.com",
            "--name",
            "Member script",
            "--permissions",
            "clients:read",
        ],
        "",
    ))
    .unwrap();
    let (script_id, script_secret) = (
        script["client_id"].as_str().unwrap(),
        script["client_secret"].as_str().unwrap(),
    );
    b.access_token(script_id, script_secret);
    let users = a.rpc("users/page", "", Some(&cookie)).json();
    let member = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "member@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let disabled = a.rpc(
        "users/disable",
        &format!("id={member}&disabled=true"),
        Some(&cookie),
    );
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    wait_for(
        "B refuses the disabled owner's client",
        Duration::from_millis(500),
        || b.token(script_id, script_secret).status == 401,
    );

    // A signing key rotated through the shared database reaches both JWKS
    // documents, and B verifies what A signs with it.
    let before = kids(&b);
    scratch.run(&["keys", "rotate"], "");
    wait_for("B publishes the new key", Duration::from_secs(40), || {
        kids(&b).len() > before.len()
    });
    wait_for("A signs with the new key", Duration::from_secs(40), || {
        let token = a.access_token(admin_id, admin_secret);
        let header: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        !before.iter().any(|k| header["kid"] == k.as_str())
            && b.api("GET", "/api/v1/clients", &token, "").status == 200
    });
}
