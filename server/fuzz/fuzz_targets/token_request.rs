//! Token request parsing and client authentication extraction over
//! arbitrary input: the first line is the Content-Type, the second the
//! Authorization header, the rest the body. Nothing may panic.

#![no_main]

use axum::http::{header, HeaderMap, HeaderValue};
use keyport::oauth::{granted_scope, ClientAuth, Params, TokenRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut lines = data.splitn(3, |b| *b == b'\n');
    let content_type = lines.next().unwrap_or_default();
    let authorization = lines.next().unwrap_or_default();
    let body = lines.next().unwrap_or_default();

    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_bytes(authorization) {
        headers.insert(header::AUTHORIZATION, value);
    }
    let Ok(params) = Params::parse(&headers, body, true) else {
        return;
    };
    for default in [None, Some("client_credentials")] {
        if let Ok(TokenRequest::ClientCredentials { scope }) = TokenRequest::parse(&params, default) {
            let _ = granted_scope(scope.as_deref(), &["clients:read".into(), "audit:read".into()]);
        }
        let _ = ClientAuth::from_request(&headers, &params, default.is_some());
    }
});
