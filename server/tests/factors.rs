//! Second factors end to end through the router: an authenticator app set
//! up and used to sign in (its codes computed here, by an RFC 6238
//! implementation checked against the RFC's own vectors), replays refused,
//! recovery codes spent once even by racing requests, a budget for wrong
//! codes, roles that must enrol after a grace period, step-up that expires
//! with the clock, and an admin's reset (in the portal and at the command
//! line).

mod common;
mod process;

use app::domain::accounts::Role;
use app::domain::secrets::Secret;
use axum::http::StatusCode;
use common::factors::{enrol_totp, totp};
use common::{Browser, TestApp, PASSWORD};
use serde_json::Value;

on_both_engines!(
    an_authenticator_app_signs_in_and_a_replayed_code_is_refused,
    recovery_codes_work_once_even_when_raced,
    wrong_codes_spend_a_budget_of_the_account,
    roles_must_enrol_once_their_grace_period_ends,
    step_up_expires_with_the_clock,
    admins_reset_another_users_factors,
    a_password_link_sets_the_password_and_nothing_more,
    a_sign_in_is_recorded_once_its_second_factor_is_given,
    every_route_that_reads_a_session_holds_to_the_enrolment_deadline,
);

#[test]
fn the_codes_here_are_rfc_6238s() {
    // Appendix B, SHA-1, with its 20-byte ASCII key.
    let key = b"12345678901234567890";
    for (time, expected) in [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ] {
        assert_eq!(totp(key, time, 8), expected, "at {time}");
    }
}

/// Signs in with the password: the answer sends the browser to the second
/// step.
async fn password_step(browser: &mut Browser<'_>, email: &str) {
    let response = browser.sign_in(email, PASSWORD).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(
        response.header("location"),
        Some("/login/verify?next=%2Fapplications")
    );
    // Not signed in yet.
    let page = browser.rpc("applications/list", &[]).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.text);
}

async fn audited(app: &TestApp, action: &str) -> Vec<Option<String>> {
    sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = $1 ORDER BY id")
        .bind(action)
        .fetch_all(&app.keyport.db.pool)
        .await
        .unwrap()
}

async fn an_authenticator_app_signs_in_and_a_replayed_code_is_refused(app: &TestApp) {
    let (mut browser, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let (secret, _) = enrol_totp(app, &mut browser).await;
    assert_eq!(
        audited(app, "factor_enrolled").await,
        [Some("authenticator app".to_owned())]
    );
    let account = browser.rpc("account/page", &[]).await.json();
    assert_eq!(account["factors"][0]["kind"], "totp");
    assert_eq!(account["recovery_left"], 10);

    let mut other = app.browser();
    password_step(&mut other, "admin@example.com").await;
    let pending = other.rpc("factors/pending", &[]).await.json();
    assert_eq!(pending["totp"], true);
    assert_eq!(
        pending["passkey"], false,
        "no passkey, and none at an IP address"
    );

    // The code that turned the app on is spent: the same step is refused.
    let same = totp(&secret, app.keyport.now(), 6);
    let replayed = other.rpc("factors/verify", &[("code", &same)]).await;
    assert_eq!(
        replayed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        replayed.text
    );
    assert!(replayed.text.contains("used already"), "{}", replayed.text);

    app.clock.advance(30);
    let code = totp(&secret, app.keyport.now(), 6);
    let verified = other.rpc("factors/verify", &[("code", &code)]).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    assert_eq!(verified.header("location"), Some("/applications"));
    let list = other.rpc("applications/list", &[]).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);

    // That code again, in a third browser within the same step: refused.
    let mut third = app.browser();
    password_step(&mut third, "admin@example.com").await;
    let again = third.rpc("factors/verify", &[("code", &code)]).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.text);
    // One step later, a code of the step before still counts (drift), but
    // not the one already used.
    app.clock.advance(30);
    let next = totp(&secret, app.keyport.now(), 6);
    assert_eq!(
        third.rpc("factors/verify", &[("code", &next)]).await.status,
        StatusCode::OK
    );

    // The password step waits five minutes for its second factor.
    let mut slow = app.browser();
    password_step(&mut slow, "admin@example.com").await;
    app.clock.advance(300);
    let late = totp(&secret, app.keyport.now(), 6);
    let expired = slow.rpc("factors/verify", &[("code", &late)]).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED, "{}", expired.text);
}

async fn recovery_codes_work_once_even_when_raced(app: &TestApp) {
    let (mut browser, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let (_, codes) = enrol_totp(app, &mut browser).await;

    let mut first = app.browser();
    password_step(&mut first, "admin@example.com").await;
    // Typed in capitals and without dashes, it still reads.
    let typed = codes[0].replace('-', " ").to_uppercase();
    let used = first.rpc("factors/verify", &[("code", &typed)]).await;
    assert_eq!(used.status, StatusCode::OK, "{}", used.text);
    assert_eq!(
        audited(app, "recovery_code_used").await,
        [Some("9 left".to_owned())]
    );
    assert_eq!(
        first.rpc("account/page", &[]).await.json()["recovery_left"],
        9
    );

    let mut second = app.browser();
    password_step(&mut second, "admin@example.com").await;
    let reused = second.rpc("factors/verify", &[("code", &codes[0])]).await;
    assert_eq!(reused.status, StatusCode::BAD_REQUEST, "{}", reused.text);

    // Four browsers racing with one code: exactly one gets in.
    let mut racers = Vec::new();
    for i in 0..4 {
        let mut racer = app.browser();
        racer.address = format!("10.0.1.{i}:1").parse().unwrap();
        password_step(&mut racer, "admin@example.com").await;
        racers.push(racer);
    }
    let form = [("code", codes[1].as_str())];
    let answers =
        futures::future::join_all(racers.iter_mut().map(|r| r.rpc("factors/verify", &form))).await;
    let passed = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    assert_eq!(
        passed,
        1,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert_eq!(
        app.keyport
            .recovery_codes_left(&first_user_id(app).await)
            .await
            .unwrap(),
        8
    );

    // New codes replace those left.
    let fresh = first.rpc("account/recovery_codes", &[]).await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.text);
    let mut third = app.browser();
    password_step(&mut third, "admin@example.com").await;
    let old = third.rpc("factors/verify", &[("code", &codes[2])]).await;
    assert_eq!(old.status, StatusCode::BAD_REQUEST, "{}", old.text);
}

async fn first_user_id(app: &TestApp) -> String {
    sqlx::query_scalar("SELECT id FROM users WHERE email = 'admin@example.com'")
        .fetch_one(&app.keyport.db.pool)
        .await
        .unwrap()
}

async fn wrong_codes_spend_a_budget_of_the_account(app: &TestApp) {
    let (mut browser, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let (secret, _) = enrol_totp(app, &mut browser).await;
    app.clock.advance(30);

    // A stranger cannot reach the second step without the password.
    let mut stranger = app.browser();
    let nothing = stranger.rpc("factors/verify", &[("code", "123456")]).await;
    assert_eq!(nothing.status, StatusCode::UNAUTHORIZED, "{}", nothing.text);

    let mut guesser = app.browser();
    password_step(&mut guesser, "admin@example.com").await;
    let guesses = futures::future::join_all((0..8).map(|i| {
        let mut b = app.browser();
        b.cookie = guesser.cookie.clone();
        async move {
            b.rpc(
                "factors/verify",
                &[("code", &format!("{:06}", 100_000 + i))],
            )
            .await
            .status
        }
    }))
    .await;
    let wrong = guesses
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count();
    let limited = guesses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((wrong, limited), (5, 3), "{guesses:?}");
    assert_eq!(audited(app, "second_factor_failed").await.len(), 5);
    // Even the right code waits until the window passes.
    let right = totp(&secret, app.keyport.now(), 6);
    let waiting = guesser.rpc("factors/verify", &[("code", &right)]).await;
    assert_eq!(
        waiting.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        waiting.text
    );
    app.clock.advance(900);
    let mut later = app.browser();
    password_step(&mut later, "admin@example.com").await;
    let code = totp(&secret, app.keyport.now(), 6);
    assert_eq!(
        later.rpc("factors/verify", &[("code", &code)]).await.status,
        StatusCode::OK
    );
}

async fn roles_must_enrol_once_their_grace_period_ends(app: &TestApp) {
    let (mut root, _) = app.signed_in("root@example.com", Role::SuperAdmin).await;
    let viewer = root.rpc("viewer", &[]).await.json();
    let by = viewer["enrol_by"]
        .as_i64()
        .expect("a super admin must enrol");
    assert_eq!(by, app.keyport.now() + 7 * 86_400);
    assert_eq!(viewer["must_enrol"], false);

    // A member is not asked by default.
    let (mut member, _) = app.signed_in("member@example.com", Role::Member).await;
    assert_eq!(
        member.rpc("viewer", &[]).await.json()["enrol_by"],
        Value::Null
    );

    // Within the grace period, the domain admin works as before.
    let (mut admin, _) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    assert_eq!(admin.rpc("users/page", &[]).await.status, StatusCode::OK);
    drop(admin);
    // The grace period counts from their first sign-in, not from each.
    app.clock.advance(7 * 86_400);
    let mut again = app.browser();
    assert_eq!(
        again.sign_in("admin@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    let refused = again.rpc("users/page", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert_eq!(refused.json(), serde_json::json!("EnrolmentRequired"));
    assert_eq!(again.rpc("viewer", &[]).await.json()["must_enrol"], true);
    // Their Account page still works, and enrolling lets them go on.
    assert_eq!(again.rpc("account/page", &[]).await.status, StatusCode::OK);
    enrol_totp(app, &mut again).await;
    assert_eq!(again.rpc("users/page", &[]).await.status, StatusCode::OK);

    // The super admin's own grace period is over too: they enrol, then
    // require a second factor of members, with no grace at all.
    root.sign_in("root@example.com", PASSWORD).await;
    assert_eq!(root.rpc("viewer", &[]).await.json()["must_enrol"], true);
    enrol_totp(app, &mut root).await;
    let domain = app.keyport.tenancy.default_domain_id.to_string();
    let set = root
        .rpc(
            "users/mfa_policy",
            &[
                ("domain", &domain),
                ("roles[]", "super_admin"),
                ("roles[]", "domain_admin"),
                ("roles[]", "member"),
                ("grace_days", "0"),
            ],
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(
        audited(app, "mfa_policy_changed").await,
        [Some(
            "roles: super_admin domain_admin member; grace: 0 days".to_owned()
        )]
    );
    // Their session goes on as it began; the next sign-in asks.
    let mut fresh = app.browser();
    fresh.sign_in("member@example.com", PASSWORD).await;
    let refused = fresh.rpc("applications/list", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    let _ = member;
    // A domain admin may not change the rule.
    let denied = again
        .rpc(
            "users/mfa_policy",
            &[("domain", &domain), ("grace_days", "3")],
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.text);
}

async fn step_up_expires_with_the_clock(app: &TestApp) {
    let (mut admin, user) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let (client_id, _) = app.client(&user, "Gateway", &["clients:read"]).await;
    let id = app.application_id(&client_id).await;

    // Signing in was the check: for five minutes, no question.
    app.clock.advance(299);
    assert_eq!(
        admin
            .rpc("applications/reveal", &[("id", &id)])
            .await
            .status,
        StatusCode::OK
    );
    app.clock.advance(1);
    let asked = admin.rpc("applications/reveal", &[("id", &id)]).await;
    assert_eq!(asked.status, StatusCode::FORBIDDEN, "{}", asked.text);
    assert_eq!(asked.json(), serde_json::json!("StepUpRequired"));
    assert!(!asked.text.contains("kps_"));
    // Without JavaScript, the confirmation page, which returns here.
    let page = format!("/applications/{id}");
    let plain = admin
        .form_post("applications/reveal", &[("id", &id)], &page)
        .await;
    assert_eq!(plain.status, StatusCode::FOUND);
    assert_eq!(
        plain.header("location"),
        Some(format!("/confirm?next=%2Fapplications%2F{id}").as_str())
    );
    // Every sensitive action asks.
    for (name, form) in [
        (
            "applications/rotate",
            vec![("id", id.as_str()), ("grace_seconds", "0")],
        ),
        ("applications/remove", vec![("ids[]", id.as_str())]),
        (
            "users/create",
            vec![("email", "new@example.com"), ("role", "member")],
        ),
        (
            "domains/create",
            vec![("name", "Elsewhere"), ("app_limit", "5")],
        ),
    ] {
        let refused = admin.rpc(name, &form).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{name}: {}",
            refused.text
        );
    }

    // No second factor: the password confirms.
    let choice = admin.rpc("factors/step_up", &[]).await.json();
    assert_eq!(choice["password_only"], true);
    assert_eq!(choice["verified_for"], 0);
    let wrong = admin
        .rpc("factors/confirm", &[("secret", "not the password")])
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.text);
    let confirmed = admin.rpc("factors/confirm", &[("secret", PASSWORD)]).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
    assert_eq!(audited(app, "step_up").await, [Some("password".to_owned())]);
    let revealed = admin.rpc("applications/reveal", &[("id", &id)]).await;
    assert_eq!(revealed.status, StatusCode::OK, "{}", revealed.text);
    assert!(revealed.json()["client_secret"]
        .as_str()
        .unwrap()
        .starts_with("kps_"));

    // With an authenticator app, its code confirms, and the password no
    // longer does.
    let (secret, _) = enrol_totp(app, &mut admin).await;
    app.clock.advance(300);
    let by_password = admin.rpc("factors/confirm", &[("secret", PASSWORD)]).await;
    assert_eq!(
        by_password.status,
        StatusCode::BAD_REQUEST,
        "{}",
        by_password.text
    );
    let code = totp(&secret, app.keyport.now(), 6);
    let by_code = admin.rpc("factors/confirm", &[("secret", &code)]).await;
    assert_eq!(by_code.status, StatusCode::OK, "{}", by_code.text);
    assert_eq!(
        audited(app, "step_up").await.last().unwrap().as_deref(),
        Some("authenticator app")
    );
    assert_eq!(
        admin
            .rpc("applications/reveal", &[("id", &id)])
            .await
            .status,
        StatusCode::OK
    );
}

async fn admins_reset_another_users_factors(app: &TestApp) {
    let (mut admin, admin_user) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let (mut member, member_user) = app.signed_in("member@example.com", Role::Member).await;
    enrol_totp(app, &mut member).await;
    let member_id = member_user.id.to_string();

    // Not their own, and not by a member.
    let own = admin
        .rpc("users/reset_factors", &[("id", admin_user.id.as_str())])
        .await;
    assert_eq!(own.status, StatusCode::BAD_REQUEST, "{}", own.text);
    let by_member = member
        .rpc("users/reset_factors", &[("id", &member_id)])
        .await;
    assert_eq!(
        by_member.status,
        StatusCode::FORBIDDEN,
        "{}",
        by_member.text
    );

    let listing = admin.rpc("users/page", &[]).await.json();
    let row = listing["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "member@example.com")
        .unwrap()
        .clone();
    assert_eq!(row["factors"], "authenticator app");

    let reset = admin
        .rpc("users/reset_factors", &[("id", &member_id)])
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    assert_eq!(
        audited(app, "factors_reset").await,
        [Some("1 factor(s) removed; sessions ended".to_owned())]
    );
    // Their session ended; their password alone signs them in now.
    assert_eq!(
        member.rpc("account/page", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let mut back = app.browser();
    let signed_in = back.sign_in("member@example.com", PASSWORD).await;
    assert_eq!(signed_in.header("location"), Some("/applications"));
    assert_eq!(
        back.rpc("account/page", &[]).await.json()["factors"],
        serde_json::json!([])
    );
}

/// `keyport admin reset-mfa`, as an operator types it for an admin who
/// lost every factor.
#[test]
fn the_command_line_resets_an_admins_factors() {
    let scratch = process::Scratch::sqlite();
    scratch.with_admin_client();
    let user = "(SELECT id FROM users WHERE email = 'admin@example.com')";
    scratch.execute(&format!(
        "INSERT INTO user_factors (id, user_id, kind, name, created_at, confirmed_at) \
         VALUES ('f1', {user}, 'totp', 'Authenticator app', 1, 1)"
    ));
    scratch.execute(&format!(
        "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ({user}, 'h', 1)"
    ));
    let printed = scratch.run(&["admin", "reset-mfa", "--email", "Admin@Example.com"], "");
    assert!(printed.contains("admin@example.com"), "{printed}");
    assert_eq!(scratch.query_i64("SELECT COUNT(*) FROM user_factors"), 0);
    assert_eq!(scratch.query_i64("SELECT COUNT(*) FROM recovery_codes"), 0);
    assert_eq!(
        scratch.query_i64(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'factors_reset' AND actor = 'cli'"
        ),
        1
    );
    let unknown = scratch
        .command(&["admin", "reset-mfa", "--email", "nobody@example.com"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
}

/// A password link sets the password and nothing more: whoever holds it
/// for a user with a second factor is asked for that factor, and nobody is
/// fresh for step-up on the strength of a link.
async fn a_password_link_sets_the_password_and_nothing_more(app: &TestApp) {
    let (_, root) = app.signed_in("root@example.com", Role::SuperAdmin).await;
    let (mut owner, user) = app.signed_in("user@example.com", Role::Member).await;
    let (secret, _) = enrol_totp(app, &mut owner).await;
    let (_, link) = app
        .keyport
        .issue_password_link(&common::authorize::access(&root), &user.id)
        .await
        .unwrap();
    let mut holder = app.browser();
    let set = holder
        .set_password(link.expose(), "a brand new passphrase")
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(
        set.header("location"),
        Some("/login/verify?next=%2Fapplications")
    );
    assert_eq!(holder.rpc("viewer", &[]).await.json(), Value::Null);
    let refused = holder.rpc("applications/list", &[]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
    let passkey = holder.rpc("account/page", &[]).await;
    assert_eq!(passkey.status, StatusCode::UNAUTHORIZED, "{}", passkey.text);
    // The second factor completes it, as at any sign-in.
    app.clock.advance(30);
    let code = totp(&secret, app.keyport.now(), 6);
    let verified = holder.rpc("factors/verify", &[("code", &code)]).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    assert_eq!(
        holder.rpc("viewer", &[]).await.json()["email"],
        "user@example.com"
    );

    // Without a second factor, the link signs in, but step-up is not fresh.
    let plain = app.user("plain@example.com", Role::Member).await;
    let (_, link) = app
        .keyport
        .issue_password_link(&common::authorize::access(&root), &plain.id)
        .await
        .unwrap();
    let mut holder = app.browser();
    let set = holder
        .set_password(link.expose(), "another new passphrase")
        .await;
    assert_eq!(set.header("location"), Some("/applications"));
    let choice = holder.rpc("factors/step_up", &[]).await.json();
    assert_eq!(choice["verified_for"], 0, "{choice}");
}

/// Sign-in is recorded, and the browser becomes known, only once the
/// second factor is given.
async fn a_sign_in_is_recorded_once_its_second_factor_is_given(app: &TestApp) {
    let (mut browser, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    let (secret, _) = enrol_totp(app, &mut browser).await;
    let before = audited(app, "sign_in").await.len();
    let mut other = app.browser();
    let password = other.sign_in("admin@example.com", PASSWORD).await;
    assert_eq!(password.status, StatusCode::OK, "{}", password.text);
    assert_eq!(audited(app, "sign_in").await.len(), before);
    assert!(
        !other
            .cookie
            .as_deref()
            .unwrap_or_default()
            .contains("keyport_device"),
        "{:?}",
        other.cookie
    );
    app.clock.advance(30);
    let code = totp(&secret, app.keyport.now(), 6);
    let verified = other.rpc("factors/verify", &[("code", &code)]).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    let recorded = audited(app, "sign_in").await;
    assert_eq!(recorded.len(), before + 1);
    assert_eq!(
        recorded.last().unwrap().as_deref(),
        Some("password and authenticator app")
    );
    assert!(other
        .cookie
        .as_deref()
        .unwrap_or_default()
        .contains("keyport_device"));
}

/// Past the grace period, the CSV export and icons refuse as the server
/// functions do.
async fn every_route_that_reads_a_session_holds_to_the_enrolment_deadline(app: &TestApp) {
    let (mut admin, _) = app.signed_in("admin@example.com", Role::DomainAdmin).await;
    assert_eq!(admin.get("/audit.csv").await.status, StatusCode::OK);
    app.clock.advance(7 * 86_400);
    let mut late = app.browser();
    late.sign_in("admin@example.com", PASSWORD).await;
    let refused = late.rpc("audit/page", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    let export = late.get("/audit.csv").await;
    assert_ne!(export.status, StatusCode::OK, "{}", export.text);
    assert!(!export.text.contains("sign_in"), "{}", export.text);
}
