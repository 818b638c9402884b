//! Secret values as types: redacted `Debug`, no `Serialize`, constant-time
//! comparison, and encryption at rest under the master key.

use std::fmt;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::RngCore;
use subtle::ConstantTimeEq;

use super::Error;

/// A value that must not leak: its plaintext is reached only through `expose`.
pub trait Secret: Send + 'static {
    /// The plaintext. Every call site is a place where the secret leaves its
    /// type; keep them few.
    fn expose(&self) -> &str;
}

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
        }

        impl Secret for $name {
            fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
            }
        }

        impl Eq for $name {}
    };
}

secret_type!(
    /// A console user's password, as typed.
    Password
);
secret_type!(
    /// The one-time token that unlocks `/setup` while no user exists.
    SetupToken
);
secret_type!(
    /// The one-time link token with which a new user sets their password.
    LinkToken
);
secret_type!(
    /// A client application's secret: `kps_` and 256 random bits, so that
    /// secret scanners can recognise a leaked one.
    ClientSecret
);

/// The prefix of every client secret.
pub const CLIENT_SECRET_PREFIX: &str = "kps_";

impl ClientSecret {
    pub fn generate() -> Self {
        Self(format!("{CLIENT_SECRET_PREFIX}{}", random_token(32)))
    }
}

/// The prefix of every refresh token, for secret scanners as `kps_` is.
pub const REFRESH_TOKEN_PREFIX: &str = "kpr_";

/// A new refresh token: 256 bits from the OS CSPRNG.
pub fn refresh_token() -> String {
    format!("{REFRESH_TOKEN_PREFIX}{}", random_token(32))
}

/// The prefixes of initial access tokens (RFC 7591 §3) and registration
/// access tokens (RFC 7592), for secret scanners likewise.
pub const INITIAL_ACCESS_TOKEN_PREFIX: &str = "kpi_";
pub const REGISTRATION_ACCESS_TOKEN_PREFIX: &str = "kpa_";

/// A new token of 256 bits from the OS CSPRNG, after `prefix`.
pub fn prefixed_token(prefix: &str) -> String {
    format!("{prefix}{}", random_token(32))
}

/// `n` bytes from the OS CSPRNG, URL-safe base64 without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256 of a one-time token, base64url: what is stored in its place.
pub fn token_digest(token: &str) -> String {
    use sha2::Digest as _;
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(token.as_bytes()))
}

impl LinkToken {
    pub fn generate() -> Self {
        Self(random_token(32))
    }
}

impl SetupToken {
    pub fn generate() -> Self {
        Self(random_token(24))
    }
}

/// The AES-256-GCM key that encrypts client secrets and signing keys at
/// rest, and the keys derived from it for keyed hashes (HKDF-SHA-256, one
/// per purpose, so that no value made for one purpose checks out for
/// another).
#[derive(Clone)]
pub struct MasterKey {
    cipher: Aes256Gcm,
    client_secrets: [u8; 32],
    device_cookies: [u8; 32],
    refresh_successors: [u8; 32],
}

/// What a stored client-secret hash says of a presented secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretCheck {
    Matches,
    Differs,
    /// An argon2id hash from before keyed hashes: only a (costly) argon2
    /// run can tell, after which the hash is replaced.
    Legacy,
}

/// The scheme tag of a keyed client-secret hash.
const SECRET_HASH_PREFIX: &str = "hmac-sha256$";

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

const NONCE_LEN: usize = 12;

impl MasterKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let derive = |purpose: &[u8]| {
            let mut key = [0u8; 32];
            hkdf::Hkdf::<sha2::Sha256>::new(None, bytes)
                .expand(purpose, &mut key)
                .expect("32 bytes is a valid HKDF-SHA-256 output length");
            key
        };
        Self {
            cipher: Aes256Gcm::new(bytes.into()),
            client_secrets: derive(b"keyport client secret verification"),
            device_cookies: derive(b"keyport device cookie"),
            refresh_successors: derive(b"keyport refresh token successor"),
        }
    }

    /// The stored form of a client secret, for verification: HMAC-SHA-256
    /// under a key derived from the master key. A client secret is 256 bits
    /// Keyport generated, so a password-stretching KDF would add nothing
    /// but a way to make the server burn CPU and memory; a keyed hash also
    /// makes a stolen database useless for checking guesses offline.
    pub fn secret_hash(&self, secret: &ClientSecret) -> String {
        let tag = hmac_sha256(&self.client_secrets, secret.expose().as_bytes());
        format!("{SECRET_HASH_PREFIX}{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// Compares `secret` with a stored hash in constant time.
    pub fn check_secret(&self, secret: &ClientSecret, stored: &str) -> SecretCheck {
        if stored.starts_with("$argon2") {
            return SecretCheck::Legacy;
        }
        let presented = self.secret_hash(secret);
        if presented.len() == stored.len()
            && bool::from(presented.as_bytes().ct_eq(stored.as_bytes()))
        {
            SecretCheck::Matches
        } else {
            SecretCheck::Differs
        }
    }

    /// The refresh token that replaces `token` when it is used: a keyed
    /// hash of it, so that every node, and a second request racing the
    /// first, name the same successor without storing it.
    pub fn refresh_successor(&self, token: &str) -> String {
        let tag = hmac_sha256(&self.refresh_successors, token.as_bytes());
        format!("{REFRESH_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// An HMAC-SHA-256 tag that vouches for `data` as a device cookie.
    pub fn device_tag(&self, data: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.device_cookies, data)
    }

    /// Reads the key file (base64 of 32 bytes), creating it with mode 0600 on
    /// first start.
    pub fn load_or_create(path: &Path) -> Result<Self, Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                refuse_if_shared(path)?;
                Self::parse(text.trim()).ok_or_else(|| {
                    Error::Config(format!(
                        "master key file {} does not hold a base64-encoded 32-byte key",
                        path.display()
                    ))
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                OsRng.fill_bytes(&mut bytes);
                write_private_file(path, STANDARD.encode(bytes).as_bytes()).map_err(|e| {
                    Error::Config(format!(
                        "cannot create master key file {}: {e}",
                        path.display()
                    ))
                })?;
                tracing::info!(path = %path.display(), "created a new master key file");
                Ok(Self::from_bytes(&bytes))
            }
            Err(e) => Err(Error::Config(format!(
                "cannot read master key file {}: {e}",
                path.display()
            ))),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let bytes: [u8; 32] = STANDARD.decode(text).ok()?.try_into().ok()?;
        Some(Self::from_bytes(&bytes))
    }

    /// Encrypts `plaintext`; the output is nonce ‖ ciphertext ‖ tag.
    /// `context` binds the ciphertext to its row, so that a value copied to
    /// another row does not decrypt there.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let payload = aes_gcm::aead::Payload {
            msg: plaintext,
            aad: context,
        };
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        [nonce.as_slice(), &ciphertext].concat()
    }

    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, Error> {
        if sealed.len() < NONCE_LEN {
            return Err(Error::Decrypt);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let payload = aes_gcm::aead::Payload {
            msg: ciphertext,
            aad: context,
        };
        self.cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| Error::Decrypt)
    }
}

fn hmac_sha256(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The master key opens every secret: a file that group or others may read
/// is a leak waiting to happen, so Keyport will not start on it.
#[cfg(unix)]
fn refuse_if_shared(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| {
            Error::Config(format!(
                "cannot read master key file {}: {e}",
                path.display()
            ))
        })?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(Error::Config(format!(
            "master key file {} may be read by group or others (mode {:o}); \
             run `chmod 600 {}` and start again",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_if_shared(_: &Path) -> Result<(), Error> {
    Ok(())
}

#[cfg(unix)]
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_context() {
        let key = MasterKey::from_bytes(&[7; 32]);
        let sealed = key.seal(b"kps_secret", b"app-1");
        assert_eq!(key.open(&sealed, b"app-1").unwrap(), b"kps_secret");
        assert!(key.open(&sealed, b"app-2").is_err());
        assert!(MasterKey::from_bytes(&[8; 32])
            .open(&sealed, b"app-1")
            .is_err());
        assert!(key.open(&sealed[..5], b"app-1").is_err());
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let password = Password::new("hunter2");
        assert_eq!(format!("{password:?}"), "Password([redacted])");
        assert_eq!(
            format!("{:?}", MasterKey::from_bytes(&[1; 32])),
            "MasterKey([redacted])"
        );
    }

    #[test]
    fn master_key_file_is_created_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("keyport-mk-{}", random_token(6)));
        let path = dir.join("master.key");
        let first = MasterKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = MasterKey::load_or_create(&path).unwrap();
        let sealed = first.seal(b"x", b"");
        assert_eq!(again.open(&sealed, b"").unwrap(), b"x");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let refused = MasterKey::load_or_create(&path).unwrap_err().to_string();
        assert!(refused.contains("chmod 600"), "{refused}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "not a key").unwrap();
        assert!(MasterKey::load_or_create(&path).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn client_secrets_carry_the_prefix_and_256_bits() {
        let secret = ClientSecret::generate();
        let body = secret.expose().strip_prefix("kps_").unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 32);
        assert!(secret != ClientSecret::generate());
        assert_eq!(format!("{secret:?}"), "ClientSecret([redacted])");
    }

    #[test]
    fn client_secrets_are_kept_as_keyed_hashes() {
        let key = MasterKey::from_bytes(&[3; 32]);
        let secret = ClientSecret::generate();
        let stored = key.secret_hash(&secret);
        assert!(stored.starts_with("hmac-sha256$"));
        assert!(!stored.contains(secret.expose()));
        assert_eq!(key.check_secret(&secret, &stored), SecretCheck::Matches);
        assert_eq!(
            key.check_secret(&ClientSecret::generate(), &stored),
            SecretCheck::Differs
        );
        // Another master key makes another hash: the database alone does
        // not let anyone test guesses.
        let other = MasterKey::from_bytes(&[4; 32]);
        assert_eq!(other.check_secret(&secret, &stored), SecretCheck::Differs);
        assert_eq!(
            key.check_secret(&secret, "$argon2id$v=19$m=19456,t=2,p=1$x$y"),
            SecretCheck::Legacy
        );
        assert_eq!(key.check_secret(&secret, ""), SecretCheck::Differs);
        assert_ne!(key.device_tag(b"x"), other.device_tag(b"x"));
    }

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
    }
}
