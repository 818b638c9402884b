//! Faults a deployment meets, on real `keyport serve` processes: a node
//! killed in the middle of a burst of registrations, and a database that
//! goes away (refusing connections, or silently stalling) and comes back.

mod process;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use process::{wait_for, Endpoint, Link, Node, Proxy, Reply, Scratch};

/// What one registration request got back.
struct Attempt {
    name: String,
    reply: Reply,
}

#[test]
fn a_node_killed_mid_burst_loses_no_registration_on_sqlite() {
    killed_mid_burst(&Scratch::sqlite());
}

#[test]
fn a_node_killed_mid_burst_loses_no_registration_on_postgresql() {
    killed_mid_burst(&Scratch::postgres());
}

/// Registrations run from four threads until the node is killed with
/// SIGKILL; after a restart every one answered 201 is there and gets
/// tokens, and nothing half-made exists.
///
/// Not split: one SIGKILL of one real process, and the checks after the
/// restart are about what that kill left behind.
fn killed_mid_burst(scratch: &Scratch) {
    let (admin_id, admin_secret) = scratch.with_admin_client();
    let node = Node::start(scratch);
    let token = node.access_token(&admin_id, &admin_secret);
    let attempts = Arc::new(Mutex::new(Vec::<Attempt>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let (endpoint, token, attempts, stop) =
                (*node, token.clone(), attempts.clone(), stop.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    let name = format!("Burst {worker}-{i}");
                    let body = format!(
                        r#"{{"name":"{name}","description":"registered mid-burst","permissions":["clients:read","clients:write"]}}"#
                    );
                    let reply = endpoint.api("POST", "/api/v1/clients", &token, &body);
                    let gone = reply.status == 0;
                    attempts.lock().unwrap().push(Attempt { name, reply });
                    if gone || stop.load(Ordering::SeqCst) {
                        break;
                    }
                }
            })
        })
        .collect();
    let answered = |attempts: &Mutex<Vec<Attempt>>| {
        attempts
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.reply.status == 201)
            .count()
    };
    // A domain holds 63 applications: stop well short of that.
    wait_for("20 registrations", Duration::from_secs(60), || {
        answered(&attempts) >= 20
    });
    node.kill();
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.join().unwrap();
    }

    let attempts = std::mem::take(&mut *attempts.lock().unwrap());
    assert!(
        attempts
            .iter()
            .all(|a| a.reply.status == 201 || a.reply.status == 0),
        "every registration before the kill succeeded: {:?}",
        attempts
            .iter()
            .filter(|a| a.reply.status != 201)
            .map(|a| (a.reply.status, &a.reply.body))
            .collect::<Vec<_>>()
    );
    let node = Node::start(scratch);
    let token = node.access_token(&admin_id, &admin_secret);
    let created: Vec<_> = attempts.iter().filter(|a| a.reply.status == 201).collect();
    println!(
        "killed with {} registrations answered 201 and {} in flight",
        created.len(),
        attempts.len() - created.len()
    );
    let listed = node.api("GET", "/api/v1/clients", &token, "");
    assert_eq!(listed.status, 200, "{}", listed.body);
    let listed = listed.json();
    for attempt in &created {
        let reply = attempt.reply.json();
        let (id, secret) = (
            reply["client_id"].as_str().unwrap(),
            reply["client_secret"].as_str().unwrap(),
        );
        let stored = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["client_id"] == id)
            .unwrap_or_else(|| panic!("{} lost", attempt.name));
        assert_eq!(stored["name"], attempt.name.as_str());
        assert_eq!(
            node.token(id, secret).status,
            200,
            "{} refused",
            attempt.name
        );
    }

    // Whatever was in flight is either wholly there or not at all: every
    // application has its permissions and its audit entry.
    let stored = scratch.query_i64("SELECT COUNT(*) FROM applications WHERE name LIKE 'Burst %'");
    let in_flight = (attempts.len() - created.len()) as i64;
    assert!(
        (created.len() as i64..=created.len() as i64 + in_flight).contains(&stored),
        "{stored} stored, {} answered 201, {in_flight} in flight",
        created.len()
    );
    assert_eq!(
        scratch.query_i64(
            "SELECT COUNT(*) FROM applications a WHERE 2 <> \
             (SELECT COUNT(*) FROM application_permissions p WHERE p.application_id = a.id) \
             AND a.name LIKE 'Burst %'"
        ),
        0,
        "an application without its permissions"
    );
    assert_eq!(
        scratch.query_i64(
            "SELECT COUNT(*) FROM applications a WHERE NOT EXISTS \
             (SELECT 1 FROM audit_log l WHERE l.client_id = a.client_id \
              AND l.action = 'application_registered')"
        ),
        0,
        "an application without its audit entry"
    );
}

/// The node's request deadline: long enough for a sign-in's password hash
/// in a debug build on a busy machine.
const DEADLINE_SECONDS: &str = "5";
/// How long the node may take to answer while its database is away: the
/// 3 s wait for a connection, or the request deadline, plus scheduling.
const ANSWER_WITHIN: Duration = Duration::from_secs(8);

fn timed(request: impl FnOnce() -> Reply) -> Reply {
    let start = Instant::now();
    let reply = request();
    let took = start.elapsed();
    assert!(
        took < ANSWER_WITHIN,
        "answered after {took:?}: {}",
        reply.status
    );
    reply
}

#[test]
fn a_database_outage_is_answered_503_and_healed_without_a_restart() {
    let scratch = Scratch::postgres();
    let (admin_id, admin_secret) = scratch.with_admin_client();
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap());
    let database_url = proxy.url(scratch.url());
    let node = Node::start_with(
        &scratch,
        &[
            ("KEYPORT_DATABASE_URL", &database_url),
            ("KEYPORT_REQUEST_TIMEOUT", DEADLINE_SECONDS),
        ],
    );
    let cookie = node.sign_in();
    let token = node.access_token(&admin_id, &admin_secret);
    assert_eq!(page(&node, "/applications", &cookie).status, 200);

    for outage in [Link::Down, Link::Stalled] {
        proxy.set(outage);
        // Past the node's 1 s memory of what it read, every request needs
        // the database. (A real process keeps the wall clock's time: the
        // in-process tests advance a clock instead.)
        std::thread::sleep(std::time::Duration::from_millis(
            app::domain::cache::FRESH_FOR_MS as u64,
        ));

        let health = timed(|| node.request("GET", "/healthz", &[], ""));
        assert_eq!(health.status, 503, "{outage:?}: {}", health.body);

        let refused = timed(|| node.token(&admin_id, &admin_secret));
        assert_eq!(refused.status, 503, "{outage:?}: {}", refused.body);
        assert_eq!(refused.json()["error"], "temporarily_unavailable");
        assert_eq!(refused.header("cache-control"), Some("no-store"));

        let api = timed(|| node.api("GET", "/api/v1/clients", &token, ""));
        assert_eq!(api.status, 503, "{outage:?}: {}", api.body);
        assert_eq!(api.json()["error"]["code"], 503001);

        let portal = timed(|| page(&node, "/applications", &cookie));
        assert_eq!(portal.status, 503, "{outage:?}: {}", portal.body);
        assert!(
            portal.body.contains("Keyport is temporarily unavailable")
                && portal.body.contains("database"),
            "{outage:?}: the page says what is wrong: {}",
            portal.body
        );
        assert!(
            portal
                .header("content-security-policy")
                .is_some_and(|csp| csp.contains("style-src 'self'")),
            "{outage:?}: the page may load its stylesheet"
        );
        let sign_in_page = timed(|| page(&node, "/login", ""));
        assert!(
            sign_in_page.status == 200 || sign_in_page.status == 503,
            "{outage:?}: {}",
            sign_in_page.status
        );

        // Healed: the same node serves again, without a restart.
        proxy.set(Link::Up);
        wait_for("healthy again", Duration::from_secs(15), || {
            node.request("GET", "/healthz", &[], "").status == 200
        });
        assert_eq!(node.token(&admin_id, &admin_secret).status, 200);
        assert_eq!(node.api("GET", "/api/v1/clients", &token, "").status, 200);
        assert_eq!(page(&node, "/applications", &cookie).status, 200);
        let created = node.api(
            "POST",
            "/api/v1/clients",
            &token,
            &format!(r#"{{"name":"After {outage:?}","permissions":["clients:read"]}}"#),
        );
        assert_eq!(created.status, 201, "{}", created.body);
    }
}

fn page(node: &Endpoint, path: &str, cookie: &str) -> Reply {
    node.request(
        "GET",
        path,
        &[("Accept", "text/html"), ("Cookie", cookie)],
        "",
    )
}
