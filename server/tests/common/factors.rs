//! Second factors as a user sets them up: an authenticator app's codes,
//! computed by an RFC 6238 implementation checked against the RFC's own
//! vectors (factors.rs).

use axum::http::StatusCode;
use hmac::{Hmac, Mac};

use super::{Browser, TestApp};

/// RFC 6238's TOTP with HMAC-SHA-1 (the algorithm authenticator apps use),
/// `digits` long, for the step of `time`.
pub fn totp(secret: &[u8], time: i64, digits: u32) -> String {
    let step = (time / 30) as u64;
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).unwrap();
    mac.update(&step.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = (hash[hash.len() - 1] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    format!(
        "{:0width$}",
        binary % 10u32.pow(digits),
        width = digits as usize
    )
}

/// RFC 4648 base32, as the Account page shows the secret.
fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        let value = ALPHABET.iter().position(|a| *a == c).expect("base32") as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

/// Sets up an authenticator app for the signed-in `browser`: its secret.
pub async fn enrol_totp(app: &TestApp, browser: &mut Browser<'_>) -> (Vec<u8>, Vec<String>) {
    let started = browser.rpc("account/totp", &[]).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.text);
    let setup = started.json();
    assert!(
        setup["qr_svg"].as_str().unwrap().starts_with("<?xml")
            || setup["qr_svg"].as_str().unwrap().contains("<svg")
    );
    let secret = base32_decode(setup["secret"].as_str().unwrap());
    assert_eq!(secret.len(), 20);

    let wrong = browser
        .rpc("account/totp_confirm", &[("code", "000000")])
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.text);
    let code = totp(&secret, app.keyport.now(), 6);
    let confirmed = browser
        .rpc("account/totp_confirm", &[("code", &code)])
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
    let codes: Vec<String> = serde_json::from_value(confirmed.json()).unwrap();
    assert_eq!(
        codes.len(),
        10,
        "the first factor brings ten recovery codes"
    );
    (secret, codes)
}
