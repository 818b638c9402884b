//! The encoding of every server function's answer (`output = JsonText` on
//! each) and of its errors: JSON, as server_fn's `Json`, but read in the
//! browser as text (`serde_json::from_str`), the very reader a resource
//! uses when it hydrates. server_fn's own `Json` reads bytes
//! (`from_slice`), a second reader: every type a page fetches and hydrates
//! had its JSON decoding compiled into the browser bundle twice, once per
//! reader.

use leptos::server_fn::codec::{JsonEncoding, Post};
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::{de::DeserializeOwned, Serialize};

/// JSON read as UTF-8 text.
pub struct JsonTextEncoding;

/// `#[server(output = JsonText)]`: the answer as JSON in a `POST`'s reply.
pub type JsonText = Post<JsonTextEncoding>;

impl ContentType for JsonTextEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonTextEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    /// Written as server_fn's `Json` writes it.
    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        JsonEncoding::encode(output)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            <serde_json::Error as serde::de::Error>::custom("the answer is not UTF-8")
        })?;
        serde_json::from_str(text)
    }
}
