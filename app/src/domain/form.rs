//! `application/x-www-form-urlencoded` as OAuth reads it: every parameter at
//! most once (RFC 6749 §3.1, §3.2) and all of it valid UTF-8, refused rather
//! than repaired.

/// Why a form or query string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("it is not valid UTF-8")]
    NotUtf8,
    #[error("parameter {0} is given more than once")]
    Repeated(String),
}

/// The parameters of a body or query string, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: &[u8]) -> Result<Self, FormError> {
        let mut params: Vec<(String, String)> = Vec::new();
        for pair in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (key, value) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let (key, value) = (decode(key)?, decode(value)?);
            if params.iter().any(|(k, _)| *k == key) {
                return Err(FormError::Repeated(key));
            }
            params.push((key, value));
        }
        Ok(Self(params))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One form-encoded component: `+` is a space, `%XX` a byte, and the bytes
/// must be UTF-8.
pub fn decode(raw: &[u8]) -> Result<String, FormError> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_encoding::percent_decode(&plus_as_space)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| FormError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_decoded_once_each() {
        let p = Params::parse(b"a=x+y%20z&b=&c").unwrap();
        assert_eq!(p.get("a"), Some("x y z"));
        assert_eq!(p.get("b"), Some(""));
        assert_eq!(p.get("c"), Some(""));
        assert_eq!(p.get("d"), None);
        assert_eq!(
            Params::parse(b"a=1&a=2").unwrap_err(),
            FormError::Repeated("a".into())
        );
        assert_eq!(Params::parse(b"a=%FF").unwrap_err(), FormError::NotUtf8);
    }
}
