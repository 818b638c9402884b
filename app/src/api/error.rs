//! The error every server function returns, in words a console user can act on.

use super::codec::JsonTextEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// One form field's problem, shown next to that field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please correct the fields marked below.")]
    Invalid(Vec<FieldError>),
    #[error("Email or password is incorrect.")]
    BadCredentials,
    #[error("Too many failed attempts. Try again in {} minute(s).", retry_after.div_ceil(60))]
    RateLimited { retry_after: u64 },
    #[error("Keyport is busy checking other sign-ins. Try again in a few seconds.")]
    Busy { retry_after: u64 },
    #[error("This setup link is not valid. Use the link printed in the server log.")]
    BadSetupToken,
    #[error("Keyport is already set up. Sign in instead.")]
    SetupClosed,
    #[error("Sign in to continue.")]
    Unauthenticated,
    #[error("You do not have permission to do that.")]
    Forbidden,
    /// A sensitive action, and the user last proved who they are too long
    /// ago: they confirm it, and the action goes ahead.
    #[error("Confirm it is you to continue.")]
    StepUpRequired,
    /// Their role needs a second factor, and their grace period is over.
    #[error("Set up a passkey or an authenticator app to continue.")]
    EnrolmentRequired,
    #[error("Not found.")]
    NotFound,
    #[error("The request was malformed: {0}")]
    BadRequest(String),
    /// An authorization request that cannot be answered at its callback.
    #[error("{0}")]
    Authorization(String),
    #[error("Something went wrong on the server. Try again; if it persists, ask your administrator to check the server log.")]
    Internal,
    #[error("Keyport could not be reached. Check your connection and try again.")]
    Unreachable,
    #[error("Keyport cannot reach its database at the moment. Try again shortly; if it persists, ask your administrator to check the database.")]
    Unavailable,
}

impl AppError {
    /// Seconds the caller is asked to wait before trying again, if any.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after } | Self::Busy { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The HTTP status the server answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Invalid(_)
            | Self::BadRequest(_)
            | Self::Authorization(_)
            | Self::BadSetupToken => 400,
            Self::BadCredentials | Self::Unauthenticated => 401,
            Self::Forbidden | Self::StepUpRequired | Self::EnrolmentRequired => 403,
            Self::NotFound => 404,
            Self::SetupClosed => 409,
            Self::RateLimited { .. } => 429,
            Self::Internal | Self::Unreachable => 500,
            Self::Unavailable | Self::Busy { .. } => 503,
        }
    }

    /// The whole refusal in words: each rejected field's message, or the
    /// error itself. For forms whose fields have no place of their own
    /// (a row's buttons).
    pub fn plainly(&self) -> String {
        match self {
            Self::Invalid(fields) if !fields.is_empty() => fields
                .iter()
                .map(|f| f.message.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            other => other.to_string(),
        }
    }

    /// The message for one field, if that field was rejected.
    pub fn field(&self, name: &str) -> Option<String> {
        match self {
            Self::Invalid(fields) => fields
                .iter()
                .find(|f| f.field == name)
                .map(|f| f.message.clone()),
            _ => None,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonTextEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(e) | ServerFnErrorErr::MissingArg(e) => Self::BadRequest(e),
            // On the server this is a request body that is not what its
            // encoding says (bytes that are not UTF-8): the caller's fault.
            // In the browser it is an answer that could not be read.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Deserialization(e) => Self::BadRequest(e),
            ServerFnErrorErr::Request(_) => Self::Unreachable,
            _ => Self::Internal,
        }
    }
}

#[cfg(feature = "ssr")]
impl From<crate::domain::Error> for AppError {
    fn from(e: crate::domain::Error) -> Self {
        use crate::domain::Error as E;
        match e {
            E::Invalid(fields) => Self::Invalid(
                fields
                    .into_iter()
                    .map(|f| FieldError {
                        field: f.field.into(),
                        message: f.message,
                    })
                    .collect(),
            ),
            E::BadCredentials => Self::BadCredentials,
            E::RateLimited { retry_after } => Self::RateLimited { retry_after },
            E::Busy { retry_after } => Self::Busy { retry_after },
            E::SetupClosed => Self::SetupClosed,
            E::BadSetupToken => Self::BadSetupToken,
            E::NotFound => Self::NotFound,
            E::Forbidden => Self::Forbidden,
            failed => match failed.failure("server function") {
                Some(crate::domain::Failure::Unavailable) => Self::Unavailable,
                _ => Self::Internal,
            },
        }
    }
}
