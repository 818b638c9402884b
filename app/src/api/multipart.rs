//! The Application Settings form's encoding: `multipart/form-data`, as
//! server_fn's `MultipartFormData`, except that a request whose
//! Content-Type names no readable boundary (none at all, another type, a
//! malformed parameter) is refused with 400. server_fn's own codec panics
//! on it.

use http::Method;
use leptos::server_fn::codec::{Encoding, FromReq, IntoReq, MultipartFormData};
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use leptos::server_fn::request::{browser::BrowserFormData, ClientReq, Req};
use leptos::server_fn::ContentType;

/// `#[server(input = SettingsForm, input_derive = ())]` on a function whose
/// one argument is `MultipartData`, listed in `settings_form!` below.
pub struct SettingsForm;

impl ContentType for SettingsForm {
    const CONTENT_TYPE: &'static str = MultipartFormData::CONTENT_TYPE;
}

impl Encoding for SettingsForm {
    const METHOD: Method = Method::POST;
}

/// Whether multer, which server_fn hands the body to, can read the boundary.
fn readable_boundary<E: FromServerFnError>(content_type: Option<&str>) -> Result<(), E> {
    #[cfg(feature = "ssr")]
    let readable = content_type.is_some_and(|ct| multer::parse_boundary(ct).is_ok());
    // Only the server reads requests.
    #[cfg(not(feature = "ssr"))]
    let readable = content_type.is_some();
    if readable {
        Ok(())
    } else {
        Err(E::from_server_fn_error(ServerFnErrorErr::Args(
            "the body must be multipart/form-data with a boundary".into(),
        )))
    }
}

/// The impls for each server function's argument type: a blanket impl over
/// every type is not allowed for server_fn's traits.
macro_rules! settings_form {
    ($($args:ty),* $(,)?) => {$(
        impl<E, Request> IntoReq<SettingsForm, Request, E> for $args
        where
            Request: ClientReq<E, FormData = BrowserFormData>,
            E: FromServerFnError,
        {
            fn into_req(self, path: &str, accepts: &str) -> Result<Request, E> {
                <Self as IntoReq<MultipartFormData, Request, E>>::into_req(self, path, accepts)
            }
        }

        impl<E, Request> FromReq<SettingsForm, Request, E> for $args
        where
            Request: Req<E> + Send + 'static,
            E: FromServerFnError + Send + Sync,
        {
            async fn from_req(req: Request) -> Result<Self, E> {
                readable_boundary::<E>(req.to_content_type().as_deref())?;
                <Self as FromReq<MultipartFormData, Request, E>>::from_req(req).await
            }
        }
    )*};
}

settings_form!(
    super::applications::CreateApplication,
    super::applications::UpdateApplication,
);
