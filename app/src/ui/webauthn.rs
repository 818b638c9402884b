//! Passkeys in the browser: runs the WebAuthn ceremonies the server's
//! webauthn-rs options ask for, and hands back the credential as the JSON
//! webauthn-rs-proto reads. Both sides speak JSON strings; only here do the
//! base64url fields become the byte buffers `navigator.credentials` takes and
//! gives, and back again.
//!
//! Written against `js_sys` by name rather than typed `web_sys` bindings or
//! serde, to keep the browser bundle small.

#[cfg(feature = "hydrate")]
pub use browser::{create_passkey, get_passkey, passkeys_supported};
#[cfg(not(feature = "hydrate"))]
pub use unavailable::{create_passkey, get_passkey, passkeys_supported};

/// The server build: shared view code calls these, but only a browser can
/// hold a passkey.
#[cfg(not(feature = "hydrate"))]
mod unavailable {
    const NEEDS_BROWSER: &str = "Passkeys need JavaScript in the browser";

    /// Never on the server: WebAuthn is a browser API.
    pub fn passkeys_supported() -> bool {
        false
    }

    /// Always an error on the server: WebAuthn is a browser API.
    pub async fn create_passkey(_options: String) -> Result<String, String> {
        Err(NEEDS_BROWSER.into())
    }

    /// Always an error on the server: WebAuthn is a browser API.
    pub async fn get_passkey(_options: String) -> Result<String, String> {
        Err(NEEDS_BROWSER.into())
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::{base64url_decode, base64url_encode};
    use js_sys::{Array, ArrayBuffer, Function, Object, Promise, Reflect, Uint8Array, JSON};
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;

    const UNSUPPORTED: &str = "This browser cannot use passkeys";
    const CANCELLED: &str = "The passkey request was cancelled or timed out";
    const ALREADY_REGISTERED: &str = "This passkey is already registered";
    const WRONG_ADDRESS: &str = "Passkeys are not available at this address: Keyport must be \
        served under a domain name such as localhost, not an IP address";
    const BAD_OPTIONS: &str = "The server's passkey request could not be read";
    const BAD_CREDENTIAL: &str = "The browser returned a passkey Keyport cannot read";

    /// Which `navigator.credentials` method a ceremony calls: their errors
    /// mean different things.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Ceremony {
        Create,
        Get,
    }

    impl Ceremony {
        fn method(self) -> &'static str {
            match self {
                Ceremony::Create => "create",
                Ceremony::Get => "get",
            }
        }
    }

    /// Whether this browser offers WebAuthn (window.PublicKeyCredential
    /// exists and navigator.credentials.create is a function).
    pub fn passkeys_supported() -> bool {
        let has_type = get(&js_sys::global(), "PublicKeyCredential")
            .is_ok_and(|constructor| constructor.is_function());
        has_type && credentials_method(Ceremony::Create).is_some()
    }

    /// navigator.credentials.create with the server's
    /// CreationChallengeResponse JSON; the RegisterPublicKeyCredential JSON,
    /// or a message a person can read (the user cancelled, timed out, or
    /// this browser cannot).
    pub async fn create_passkey(options: String) -> Result<String, String> {
        let public_key = public_key_options(&options)?;
        decode_field(&public_key, "challenge")?;
        decode_field(&get(&public_key, "user").map_err(|_| BAD_OPTIONS)?, "id")?;
        decode_descriptor_ids(&public_key, "excludeCredentials")?;
        let credential = run(Ceremony::Create, &public_key).await?;
        registration_json(&credential).map_err(|_| BAD_CREDENTIAL.to_owned())
    }

    /// navigator.credentials.get with the server's RequestChallengeResponse
    /// JSON; the PublicKeyCredential JSON, or a readable message.
    pub async fn get_passkey(options: String) -> Result<String, String> {
        let public_key = public_key_options(&options)?;
        decode_field(&public_key, "challenge")?;
        decode_descriptor_ids(&public_key, "allowCredentials")?;
        decode_hmac_salts(&public_key)?;
        let credential = run(Ceremony::Get, &public_key).await?;
        assertion_json(&credential).map_err(|_| BAD_CREDENTIAL.to_owned())
    }

    /// The `publicKey` member of the server's options. Its `mediation` is
    /// left behind, as the request is always the modal one a button starts;
    /// `hints` is dropped, as browsers that know it may narrow the choice of
    /// authenticator on it.
    fn public_key_options(options: &str) -> Result<Object, String> {
        let parsed = JSON::parse(options).map_err(|_| BAD_OPTIONS)?;
        let public_key = get(&parsed, "publicKey")
            .ok()
            .and_then(|value| value.dyn_into::<Object>().ok())
            .ok_or(BAD_OPTIONS)?;
        Reflect::delete_property(&public_key, &"hints".into()).map_err(|_| BAD_OPTIONS)?;
        Ok(public_key)
    }

    /// Turns the base64url string at `target[key]`, if there is one, into
    /// the bytes WebAuthn wants. Anything else is left for the browser to
    /// judge.
    fn decode_field(target: &JsValue, key: &str) -> Result<(), String> {
        let Some(text) = get(target, key).ok().and_then(|value| value.as_string()) else {
            return Ok(());
        };
        let bytes = base64url_decode(&text).ok_or(BAD_OPTIONS)?;
        set(target, key, &Uint8Array::from(bytes.as_slice())).map_err(|_| BAD_OPTIONS.into())
    }

    /// Decodes the `id` of each credential descriptor in the list at
    /// `public_key[key]` (`excludeCredentials` or `allowCredentials`).
    fn decode_descriptor_ids(public_key: &Object, key: &str) -> Result<(), String> {
        let list = get(public_key, key).map_err(|_| BAD_OPTIONS)?;
        if !Array::is_array(&list) {
            return Ok(());
        }
        Array::from(&list)
            .iter()
            .try_for_each(|descriptor| decode_field(&descriptor, "id"))
    }

    /// Decodes the salts of the `hmacGetSecret` extension, the one
    /// authentication extension webauthn-rs sends with bytes in it.
    fn decode_hmac_salts(public_key: &Object) -> Result<(), String> {
        let salts = get(public_key, "extensions")
            .and_then(|extensions| get(&extensions, "hmacGetSecret"))
            .unwrap_or(JsValue::UNDEFINED);
        if !salts.is_object() {
            return Ok(());
        }
        decode_field(&salts, "output1")?;
        decode_field(&salts, "output2")
    }

    /// `navigator.credentials[method]`, with the container it must be
    /// called on; `None` where the browser has no such method.
    fn credentials_method(ceremony: Ceremony) -> Option<(JsValue, Function)> {
        let navigator = get(&js_sys::global(), "navigator").ok()?;
        let credentials = get(&navigator, "credentials").ok()?;
        let method = get(&credentials, ceremony.method()).ok()?;
        method.dyn_into::<Function>().ok().map(|f| (credentials, f))
    }

    /// Runs the ceremony with `{ publicKey }` and waits for the person at
    /// the authenticator; the credential, or a readable message.
    async fn run(ceremony: Ceremony, public_key: &Object) -> Result<JsValue, String> {
        let (credentials, method) = credentials_method(ceremony).ok_or(UNSUPPORTED)?;
        let request = Object::new();
        set(&request, "publicKey", public_key).map_err(|_| BAD_OPTIONS)?;
        let promise = method
            .call1(&credentials, &request)
            .and_then(JsCast::dyn_into::<Promise>)
            .map_err(|error| readable_error(&error, ceremony))?;
        let credential = JsFuture::from(promise)
            .await
            .map_err(|error| readable_error(&error, ceremony))?;
        // `get` resolves to null when no credential was chosen.
        if credential.is_null() || credential.is_undefined() {
            return Err(CANCELLED.into());
        }
        Ok(credential)
    }

    /// A message a person can act on for a rejected ceremony: the
    /// DOMException names the spec gives their own wording, anything else
    /// its browser message.
    fn readable_error(error: &JsValue, ceremony: Ceremony) -> String {
        let text = |key: &str| get(error, key).ok().and_then(|value| value.as_string());
        match text("name").as_deref() {
            Some("NotAllowedError") => CANCELLED.into(),
            Some("InvalidStateError") if ceremony == Ceremony::Create => ALREADY_REGISTERED.into(),
            Some("SecurityError") => WRONG_ADDRESS.into(),
            _ => text("message")
                .filter(|message| !message.is_empty())
                .unwrap_or_else(|| UNSUPPORTED.into()),
        }
    }

    /// The RegisterPublicKeyCredential JSON of a new credential.
    fn registration_json(credential: &JsValue) -> Result<String, JsValue> {
        let response = get(credential, "response")?;
        let body = Object::new();
        copy_bytes(&response, &body, "attestationObject")?;
        copy_bytes(&response, &body, "clientDataJSON")?;
        if let Some(transports) = transports(&response) {
            set(&body, "transports", &transports)?;
        }
        credential_json(credential, &body)
    }

    /// The PublicKeyCredential JSON of an assertion.
    fn assertion_json(credential: &JsValue) -> Result<String, JsValue> {
        let response = get(credential, "response")?;
        let body = Object::new();
        copy_bytes(&response, &body, "authenticatorData")?;
        copy_bytes(&response, &body, "clientDataJSON")?;
        copy_bytes(&response, &body, "signature")?;
        // Optional in webauthn-rs: only a discoverable credential has one.
        if !get(&response, "userHandle")?.is_null_or_undefined() {
            copy_bytes(&response, &body, "userHandle")?;
        }
        credential_json(credential, &body)
    }

    /// The members both credential formats share around `response`. `id`
    /// is derived from `rawId`, as webauthn-rs reads the bytes only.
    fn credential_json(credential: &JsValue, response: &Object) -> Result<String, JsValue> {
        let raw_id = base64url_encode(&bytes(&get(credential, "rawId")?)?);
        let json = Object::new();
        set(&json, "id", &raw_id.as_str().into())?;
        set(&json, "rawId", &raw_id.into())?;
        set(&json, "type", &"public-key".into())?;
        set(&json, "response", response)?;
        set(&json, "extensions", &extension_outputs(credential))?;
        JSON::stringify(&json).map(String::from)
    }

    /// The client extension outputs webauthn-rs acts on, `appid` and
    /// `credProps`, each copied only if it has the shape it expects: an
    /// unexpected value (or the ArrayBuffers of `prf`) would make the whole
    /// credential unreadable to the server.
    fn extension_outputs(credential: &JsValue) -> Object {
        let outputs = Object::new();
        let results = get(credential, "getClientExtensionResults")
            .ok()
            .and_then(|method| method.dyn_into::<Function>().ok())
            .and_then(|method| method.call0(credential).ok())
            .unwrap_or(JsValue::UNDEFINED);
        if let Some(appid) = get(&results, "appid").ok().and_then(|v| v.as_bool()) {
            let _ = set(&outputs, "appid", &appid.into());
        }
        let resident = get(&results, "credProps")
            .and_then(|props| get(&props, "rk"))
            .ok()
            .and_then(|rk| rk.as_bool());
        if let Some(resident) = resident {
            let props = Object::new();
            let _ = set(&props, "rk", &resident.into());
            let _ = set(&outputs, "credProps", &props);
        }
        outputs
    }

    /// `response.getTransports()`, where the browser has it: the server
    /// offers these as hints when the passkey is next asked for.
    fn transports(response: &JsValue) -> Option<JsValue> {
        let method = get(response, "getTransports")
            .ok()?
            .dyn_into::<Function>()
            .ok()?;
        method.call0(response).ok().filter(Array::is_array)
    }

    /// Copies the buffer at `from[key]` to `to[key]` as base64url.
    fn copy_bytes(from: &JsValue, to: &Object, key: &str) -> Result<(), JsValue> {
        let encoded = base64url_encode(&bytes(&get(from, key)?)?);
        set(to, key, &encoded.into())
    }

    /// The bytes of an ArrayBuffer, as WebAuthn returns its binary members.
    fn bytes(value: &JsValue) -> Result<Vec<u8>, JsValue> {
        if value.is_instance_of::<ArrayBuffer>() {
            Ok(Uint8Array::new(value).to_vec())
        } else {
            Err(JsValue::from_str("not a buffer"))
        }
    }

    /// `target[key]`; an error where `target` is not an object.
    fn get(target: &JsValue, key: &str) -> Result<JsValue, JsValue> {
        if !target.is_object() && !target.is_function() {
            return Err(JsValue::UNDEFINED);
        }
        Reflect::get(target, &key.into())
    }

    /// `target[key] = value`.
    fn set(target: &JsValue, key: &str, value: &JsValue) -> Result<(), JsValue> {
        Reflect::set(target, &key.into(), value).map(|_| ())
    }
}

/// The base64url alphabet (RFC 4648 §5), in which webauthn-rs writes bytes.
#[cfg(any(feature = "hydrate", test))]
const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64url without padding, the form webauthn-rs writes and expects.
#[cfg(any(feature = "hydrate", test))]
fn base64url_encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity((bytes.len() * 4).div_ceil(3));
    for chunk in bytes.chunks(3) {
        let group = chunk.iter().enumerate().fold(0u32, |group, (i, &byte)| {
            group | (u32::from(byte) << (16 - 8 * i))
        });
        // n bytes fill n + 1 sextets.
        for i in 0..=chunk.len() {
            text.push(char::from(BASE64URL[(group >> (18 - 6 * i)) as usize & 63]));
        }
    }
    text
}

/// Decodes base64url, with or without padding; like webauthn-rs it also
/// takes the standard alphabet's `+` and `/`. `None` if it is not base64.
#[cfg(any(feature = "hydrate", test))]
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    // A lone trailing sextet cannot hold a whole byte.
    if text.len() % 4 == 1 {
        return None;
    }
    let mut bytes = Vec::with_capacity(text.len() * 3 / 4);
    let (mut bits, mut count) = (0u32, 0u32);
    for c in text.bytes() {
        bits = (bits << 6) | u32::from(sextet(c)?);
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(bytes)
}

/// The value of one base64 character.
#[cfg(any(feature = "hydrate", test))]
fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' | b'+' => Some(62),
        b'_' | b'/' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{base64url_decode, base64url_encode};

    #[test]
    fn base64url_round_trips_every_length_and_byte() {
        let bytes: Vec<u8> = (0..=255).collect();
        for len in 0..bytes.len() {
            let encoded = base64url_encode(&bytes[..len]);
            assert!(!encoded.contains(['=', '+', '/']), "{encoded}");
            assert_eq!(base64url_decode(&encoded).as_deref(), Some(&bytes[..len]));
        }
    }

    #[test]
    fn base64url_matches_rfc_4648_vectors() {
        // RFC 4648 §10, without padding.
        let vectors = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64url_encode(plain.as_bytes()), encoded);
        }
        assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn base64url_decode_takes_padding_and_refuses_garbage() {
        assert_eq!(base64url_decode("Zm9vYg==").as_deref(), Some(&b"foob"[..]));
        assert_eq!(base64url_decode("-_8").as_deref(), Some(&[0xfb, 0xff][..]));
        assert_eq!(base64url_decode("+/8=").as_deref(), Some(&[0xfb, 0xff][..]));
        assert_eq!(base64url_decode("Zm9v!"), None);
        assert_eq!(base64url_decode("Zm9vY"), None);
    }
}
