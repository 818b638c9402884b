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
