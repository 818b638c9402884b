//! Console sign-in: budgets taken before the hash, known browsers, bounded hashing.

use super::*;

/// The budget is taken before the hash, so a burst cannot outrun it.
pub(crate) async fn forty_parallel_wrong_passwords_check_at_most_five(app: &TestApp) {
    app.user("admin@example.com", Role::SuperAdmin).await;
    let guesses = (0..40).map(|i| {
        let mut browser = app.browser();
        // From forty addresses, so that only the account's budget applies.
        browser.address = address(&format!("203.0.113.{}", i + 1));
        async move {
            browser
                .sign_in("admin@example.com", &format!("guess number {i}"))
                .await
                .status
        }
    });
    let answers = join_all(guesses).await;
    let checked = answers
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let held = answers
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(checked <= 5, "{checked} passwords checked: {answers:?}");
    assert_eq!(checked + held, 40, "{answers:?}");
    assert!(audit_actions(app, "sign_in_failed").await.len() <= 5);
}

/// Strangers cannot lock the real user out: a browser that signed in to
/// the account before spends a budget of its own.
pub(crate) async fn a_known_browser_signs_in_while_strangers_are_held_back(app: &TestApp) {
    let (mut known, _) = app.signed_in("admin@example.com", Role::SuperAdmin).await;
    assert!(
        known
            .cookie
            .as_deref()
            .is_some_and(|c| c.contains("keyport_device=")),
        "signing in leaves a device cookie: {:?}",
        known.cookie
    );
    known.rpc("sign_out", &[]).await;
    for i in 0..10 {
        let mut stranger = app.browser();
        stranger.address = address(&format!("203.0.113.{}", i + 1));
        stranger
            .sign_in("admin@example.com", "not the password")
            .await;
    }
    let mut new_browser = app.browser();
    new_browser.address = address("198.51.100.1");
    let held = new_browser.sign_in("admin@example.com", PASSWORD).await;
    assert_eq!(held.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(held.header("retry-after").is_some());

    let back = known.sign_in("admin@example.com", PASSWORD).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text);

    // A device cookie vouches for its own account only.
    app.user("other@example.com", Role::Member).await;
    for _ in 0..10 {
        let mut stranger = app.browser();
        stranger.address = address("192.0.2.77");
        stranger
            .sign_in("other@example.com", "not the password")
            .await;
    }
    let mut borrowed = app.browser();
    borrowed.address = address("198.51.100.2");
    borrowed.cookie = known.cookie.clone();
    borrowed.rpc("sign_out", &[]).await;
    assert_eq!(
        borrowed.sign_in("other@example.com", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// However many sign-ins arrive at once, only so many hash (19 MiB each);
/// the rest are told at once when to come back.
pub(crate) async fn password_hashing_is_bounded_and_says_when_to_retry(app: &TestApp) {
    let burst = app.keyport.hasher.admits() + 20;
    let attempts = (0..burst).map(|i| {
        let mut browser = app.browser();
        browser.address = address(&format!("10.{}.{}.1", i / 250, i % 250));
        async move {
            let response = browser
                .sign_in(&format!("nobody{i}@example.com"), "some password")
                .await;
            (response.status, response.header("retry-after").is_some())
        }
    });
    let answers = join_all(attempts).await;
    let busy = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert!(busy >= 20, "{busy} of {burst} turned away");
    for (status, retry_after) in answers {
        match status {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => assert!(retry_after, "503 says when to retry"),
            other => panic!("{other}"),
        }
    }
}

/// Each passkey sign-in begun without a session stores one. A stranger who
/// drops the cookie every time opens at most 30 from an address in 15
/// minutes, even in one burst; a browser that keeps its cookie is not
/// counted again, and other addresses are not held back.
pub(crate) async fn passkey_sign_ins_begun_by_strangers_open_bounded_sessions(app: &TestApp) {
    async fn begin(browser: &mut common::Browser<'_>) -> Response {
        browser
            .rpc_from("factors/sign_in_options", &[], Some(HOSTED))
            .await
    }
    let sessions = || async {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sessions")
            .fetch_one(&app.keyport.db.pool)
            .await
            .unwrap();
        n
    };
    let burst = join_all((0..40).map(|_| async {
        // A new browser each time: no cookie, one address.
        begin(&mut app.browser()).await.status
    }))
    .await;
    let opened = burst.iter().filter(|s| **s == StatusCode::OK).count();
    let limited = burst
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((opened, limited), (30, 10), "{burst:?}");
    assert_eq!(sessions().await, 30);

    // A browser of another address begins, then asks again with its cookie
    // as often as it likes: one session more.
    let mut browser = app.browser();
    browser.address = address("198.51.100.7");
    let first = begin(&mut browser).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert!(first.text.contains("challenge"), "{}", first.text);
    for _ in 0..40 {
        let again = begin(&mut browser).await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    }
    assert_eq!(sessions().await, 31);
}
