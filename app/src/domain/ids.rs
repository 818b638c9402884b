//! Names the compiler checks: every id and scope Keyport passes around is a
//! type of its own (as oauth2-rs's `new_type!`), so that a client ID cannot
//! go where a domain id belongs. Each reads as `&str` where text is wanted
//! (a query, a message), and is stored and serialised as its text.

macro_rules! text_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default,
            serde::Serialize, serde::Deserialize, sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    };
}

text_type!(
    /// A client application's public identifier (RFC 6749 §2.2).
    ClientId
);
text_type!(
    /// An application's row id, in the portal's addresses.
    ApplicationId
);
text_type!(
    /// A domain: the unit of tenancy every user and application belongs to.
    DomainId
);
text_type!(
    /// A console user.
    UserId
);
text_type!(
    /// One permission an application may be granted (RFC 6749 §3.3).
    Scope
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_as_text_and_serialise_as_it() {
        let id = ClientId::new("abc");
        assert_eq!(&*id, "abc");
        assert_eq!(id, "abc");
        assert_eq!(id.to_string(), "abc");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"abc\"");
        let back: ClientId = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(back, id);
    }
}
