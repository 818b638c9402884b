//! What a request to an OAuth endpoint says: its form-encoded body, how the
//! client authenticated, which grant it asks for and which scopes.

use app::domain::clients::Client;
use app::domain::form;
use app::domain::ids::Scope;
use app::domain::secrets::ClientSecret;
use app::domain::Keyport;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::OAuthError;

/// A form-encoded body: each parameter at most once (RFC 6749 §3.2), all
/// of it valid UTF-8.
#[derive(Debug, Default)]
pub struct Params(form::Params);

impl Params {
    /// `bare_ok`: an empty body with no `Content-Type` is an empty form.
    /// Integrations written for the v4 alias send just `Authorization:
    /// Basic …` (MetaDefender Cloud's example), and there is no body whose
    /// type could be misread.
    pub fn parse(headers: &HeaderMap, body: &[u8], bare_ok: bool) -> Result<Self, OAuthError> {
        let content_type = headers.get(header::CONTENT_TYPE);
        if bare_ok && content_type.is_none() && body.is_empty() {
            return Ok(Self::default());
        }
        let form = content_type
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        form::Params::parse(body)
            .map(Self)
            .map_err(|e| OAuthError::invalid_request(format!("the body is malformed: {e}")))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name)
    }

    fn owned(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }
}

/// How the client presented its credentials.
#[derive(Debug)]
pub enum ClientAuth {
    /// `client_secret_basic`: id and secret form-encoded, then base64 (RFC 6749 §2.3.1).
    Basic {
        client_id: String,
        secret: ClientSecret,
    },
    /// `client_secret_post`: both in the body.
    Post {
        client_id: String,
        secret: ClientSecret,
    },
    /// `none`: a public client names itself in the body (RFC 6749 §2.1,
    /// RFC 8252 §8.4).
    Public { client_id: String },
}

impl ClientAuth {
    pub fn from_request(
        headers: &HeaderMap,
        params: &Params,
        basic_only: bool,
    ) -> Result<Self, OAuthError> {
        let in_body = params.get("client_secret").is_some();
        match headers.get(header::AUTHORIZATION) {
            Some(value) => {
                if in_body {
                    return Err(OAuthError::invalid_request(
                        "use one client authentication method, not two",
                    ));
                }
                Self::basic(value).ok_or_else(|| OAuthError::invalid_client(true))
            }
            None if basic_only => Err(OAuthError::invalid_client(true)),
            None => match (params.get("client_id"), params.get("client_secret")) {
                (Some(id), Some(secret)) if !id.is_empty() => Ok(Self::Post {
                    client_id: id.to_owned(),
                    secret: ClientSecret::new(secret),
                }),
                (Some(id), None) if !id.is_empty() => Ok(Self::Public {
                    client_id: id.to_owned(),
                }),
                _ => Err(OAuthError::invalid_client(false)),
            },
        }
    }

    fn basic(value: &HeaderValue) -> Option<Self> {
        let value = value.to_str().ok()?;
        let (scheme, encoded) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let id = form::decode(id.as_bytes()).ok()?;
        let secret = form::decode(secret.as_bytes()).ok()?;
        (!id.is_empty()).then(|| Self::Basic {
            client_id: id,
            secret: ClientSecret::new(secret),
        })
    }

    fn is_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }

    pub async fn authenticate(
        &self,
        keyport: &Keyport,
        address: &str,
    ) -> Result<Client, OAuthError> {
        let checked = match self {
            Self::Basic { client_id, secret } | Self::Post { client_id, secret } => {
                keyport
                    .authenticate_client(client_id, secret, address)
                    .await
            }
            Self::Public { client_id } => keyport.identify_public_client(client_id, address).await,
        };
        checked.map_err(|e| OAuthError::from_domain(e, self.is_basic()))
    }
}

/// A token request, by grant type: combinations that make no sense cannot
/// be built.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenRequest {
    ClientCredentials {
        scope: Option<String>,
        resource: Option<String>,
    },
    /// RFC 6749 §4.1.3 with the RFC 7636 verifier.
    AuthorizationCode {
        code: String,
        redirect_uri: String,
        code_verifier: String,
        resource: Option<String>,
    },
    /// RFC 6749 §6.
    RefreshToken {
        refresh_token: String,
        scope: Option<String>,
        resource: Option<String>,
    },
}

impl TokenRequest {
    pub fn grant_type(&self) -> &'static str {
        match self {
            Self::ClientCredentials { .. } => "client_credentials",
            Self::AuthorizationCode { .. } => "authorization_code",
            Self::RefreshToken { .. } => "refresh_token",
        }
    }

    /// `default_grant` is what a missing `grant_type` means (the v4 alias).
    pub fn parse(params: &Params, default_grant: Option<&str>) -> Result<Self, OAuthError> {
        let grant = params
            .get("grant_type")
            .or(default_grant)
            .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
        let required = |name: &str| {
            params
                .get(name)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
        };
        match grant {
            "client_credentials" => Ok(Self::ClientCredentials {
                scope: params.owned("scope"),
                resource: params.owned("resource"),
            }),
            "authorization_code" if default_grant.is_none() => Ok(Self::AuthorizationCode {
                code: required("code")?,
                redirect_uri: required("redirect_uri")?,
                code_verifier: required("code_verifier")?,
                resource: params.owned("resource"),
            }),
            "refresh_token" if default_grant.is_none() => Ok(Self::RefreshToken {
                refresh_token: required("refresh_token")?,
                scope: params.owned("scope"),
                resource: params.owned("resource"),
            }),
            "" => Err(OAuthError::invalid_request("grant_type is required")),
            _ => Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                if default_grant.is_none() {
                    "only client_credentials, authorization_code and refresh_token are supported"
                } else {
                    "only client_credentials is supported here"
                },
            )),
        }
    }
}

/// The scopes granted: the requested ones if all are the client's, all of
/// the client's when none are asked for (RFC 6749 §3.3).
pub fn granted_scope(requested: Option<&str>, permissions: &[Scope]) -> Result<String, OAuthError> {
    let Some(requested) = requested else {
        let all: Vec<&str> = permissions.iter().map(Scope::as_str).collect();
        return Ok(all.join(" "));
    };
    let mut scopes: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
    if scopes.is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "the scope is empty",
        ));
    }
    scopes.sort_unstable();
    scopes.dedup();
    if let Some(unknown) = scopes
        .iter()
        .find(|s| !permissions.iter().any(|p| p == **s))
    {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!("scope {unknown} is not granted to this client"),
        ));
    }
    Ok(scopes.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str) -> Result<Params, OAuthError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        Params::parse(&headers, body.as_bytes(), false)
    }

    #[test]
    fn requests_are_tagged_by_grant_type() {
        let p = form("grant_type=client_credentials&scope=clients%3Aread").unwrap();
        assert_eq!(
            TokenRequest::parse(&p, None).unwrap(),
            TokenRequest::ClientCredentials {
                scope: Some("clients:read".into()),
                resource: None,
            }
        );
        let p = form("grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Fa.example%2Fcb&code_verifier=v").unwrap();
        assert!(matches!(
            TokenRequest::parse(&p, None).unwrap(),
            TokenRequest::AuthorizationCode { code, redirect_uri, .. }
                if code == "abc" && redirect_uri == "https://a.example/cb"
        ));
        let missing = form("grant_type=authorization_code&code=abc").unwrap();
        let refused = TokenRequest::parse(&missing, None).unwrap_err();
        assert_eq!(refused.code, "invalid_request");
        assert_eq!(refused.description, "redirect_uri is required");
        assert_eq!(
            TokenRequest::parse(&p, Some("client_credentials"))
                .unwrap_err()
                .code,
            "unsupported_grant_type",
            "the v4 alias issues client credentials only"
        );
        let p = form("grant_type=password").unwrap();
        assert_eq!(
            TokenRequest::parse(&p, None).unwrap_err().code,
            "unsupported_grant_type"
        );
        let p = form("").unwrap();
        assert_eq!(
            TokenRequest::parse(&p, None).unwrap_err().code,
            "invalid_request"
        );
        assert!(TokenRequest::parse(&p, Some("client_credentials")).is_ok());
    }

    #[test]
    fn malformed_bodies_are_invalid_requests() {
        assert_eq!(form("a=1&a=2").unwrap_err().code, "invalid_request");
        assert_eq!(form("a=%FF").unwrap_err().code, "invalid_request");
        assert!(
            Params::parse(&HeaderMap::new(), b"a=1", true).is_err(),
            "no content type"
        );
        assert!(
            Params::parse(&HeaderMap::new(), b"", false).is_err(),
            "no content type, nothing sent, on /oauth2/token"
        );
        assert!(
            Params::parse(&HeaderMap::new(), b"", true).is_ok(),
            "nothing sent at all, on the v4 alias"
        );
        assert_eq!(form("a=x+y%20z").unwrap().get("a"), Some("x y z"));
    }

    #[test]
    fn basic_credentials_are_form_decoded_after_base64() {
        let mut headers = HeaderMap::new();
        let encoded = STANDARD.encode("my%3Aid:se%2Bcret");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        match ClientAuth::from_request(&headers, &Params::default(), false).unwrap() {
            ClientAuth::Basic { client_id, secret } => {
                assert_eq!(client_id, "my:id");
                assert_eq!(app::domain::secrets::Secret::expose(&secret), "se+cret");
            }
            other => panic!("{other:?}"),
        }
        for bad in ["Basic !!!", "Bearer abc", "Basic", "Basic Zm9v"] {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(bad));
            let e = ClientAuth::from_request(&headers, &Params::default(), false).unwrap_err();
            assert_eq!((e.code, e.basic), ("invalid_client", true), "{bad}");
        }
    }

    #[test]
    fn scopes_must_be_granted() {
        let granted = vec![Scope::new("audit:read"), Scope::new("clients:read")];
        assert_eq!(
            granted_scope(None, &granted).unwrap(),
            "audit:read clients:read"
        );
        assert_eq!(
            granted_scope(Some("clients:read clients:read"), &granted).unwrap(),
            "clients:read"
        );
        assert_eq!(
            granted_scope(Some("clients:write"), &granted)
                .unwrap_err()
                .code,
            "invalid_scope"
        );
        assert_eq!(
            granted_scope(Some(" "), &granted).unwrap_err().code,
            "invalid_scope"
        );
    }
}
