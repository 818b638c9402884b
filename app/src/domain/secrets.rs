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

/// The AES-256-GCM key that encrypts client secrets and signing keys at rest.
#[derive(Clone)]
pub struct MasterKey(Aes256Gcm);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

const NONCE_LEN: usize = 12;

impl MasterKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(Aes256Gcm::new(bytes.into()))
    }

    /// Reads the key file (base64 of 32 bytes), creating it with mode 0600 on
    /// first start.
    pub fn load_or_create(path: &Path) -> Result<Self, Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(text.trim()).ok_or_else(|| {
                Error::Config(format!(
                    "master key file {} does not hold a base64-encoded 32-byte key",
                    path.display()
                ))
            }),
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
            .0
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
        self.0
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| Error::Decrypt)
    }
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
    fn random_tokens_are_long_and_distinct() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
    }
}
