//! Server functions: thin steps from a request to the domain and back to a
//! view type. Who may call each one is its rule in `access`.

pub mod access;
pub mod account;
pub mod apis;
pub mod applications;
pub mod audit;
pub mod auth;
pub mod authorize;
pub mod codec;
pub mod domains;
pub mod error;
pub mod factors;
pub mod multipart;
pub mod permissions;
pub mod registration;
#[cfg(feature = "ssr")]
pub mod request;
pub mod tools;
pub mod users;

pub use error::{AppError, FieldError};

/// The session key holding the signed-in user's id.
pub const USER_ID_KEY: &str = "user_id";

/// The address a request came from: the peer's, or, when the peer is a
/// trusted proxy (`KEYPORT_TRUSTED_PROXIES`), the client's it reports. The
/// server puts it on every request; limits and the audit log read it.
#[cfg(feature = "ssr")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub std::net::IpAddr);

/// The name of one of this site's cookies: behind https it carries the
/// `__Host-` prefix, so that the browser keeps it to this very origin, sent
/// only over TLS.
pub fn cookie_name(base: &str, https: bool) -> String {
    if https {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

use serde::{Deserialize, Serialize};

/// What a plain form post (no JavaScript) left behind when it was refused:
/// the values typed, minus passwords, and the error, shown once by the page
/// the browser is sent back to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    pub form: String,
    pub values: Vec<(String, String)>,
    pub error: AppError,
}

impl Flash {
    pub fn value(&self, name: &str) -> Option<String> {
        self.values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// Every value of a repeated field, such as ticked checkboxes.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}
