//! Client metadata (RFC 7591 §2) checked against what the registration
//! allows, refused in RFC 7591's terms, and a free name for each client.

use super::{words, ClientMetadata, Policy, Registered, RegistrationError, GRANT_TYPES};
use crate::domain::validate::{self, ApplicationInput, ValidApplication, NAME_MAX};
use crate::domain::{Error, Keyport, Result};

/// Metadata checked against RFC 7591 §2 and the policy.
pub(super) struct Checked {
    pub input: ValidApplication,
    pub grant_types: Vec<String>,
    pub auth_method: String,
}

/// Checks `metadata` against the policy; `public` is what an update must
/// keep.
pub(super) async fn checked_metadata(
    keyport: &Keyport,
    policy: &Policy,
    metadata: &ClientMetadata,
    public: Option<bool>,
) -> Registered<Checked> {
    let bad = |message: String| Err(RegistrationError::Metadata(message));
    let auth_method = metadata
        .token_endpoint_auth_method
        .clone()
        .unwrap_or_else(|| "client_secret_basic".into());
    let is_public = match auth_method.as_str() {
        "none" => true,
        "client_secret_basic" | "client_secret_post" => false,
        other => return bad(format!("token_endpoint_auth_method {other} is not supported: use none, client_secret_basic or client_secret_post")),
    };
    if is_public && !policy.public_allowed {
        return bad(format!(
            "{} does not allow public clients (token_endpoint_auth_method none)",
            policy.source
        ));
    }
    if !is_public && !policy.confidential_allowed {
        return bad(format!(
            "{} allows only public clients: token_endpoint_auth_method must be none",
            policy.source
        ));
    }
    if public.is_some_and(|public| public != is_public) {
        return bad("token_endpoint_auth_method cannot change between none and a secret: register a new client".into());
    }
    let grant_types = metadata
        .grant_types
        .clone()
        .unwrap_or_else(|| vec!["authorization_code".into()]);
    if grant_types.is_empty() {
        return bad("grant_types cannot be empty".into());
    }
    let mut grant_types_sorted = Vec::new();
    for grant in &grant_types {
        if !GRANT_TYPES.contains(&grant.as_str()) {
            return bad(format!("grant type {grant} is not supported"));
        }
        if !policy.grant_types.contains(grant) {
            return bad(format!(
                "{} does not allow the {grant} grant",
                policy.source
            ));
        }
        if !grant_types_sorted.contains(grant) {
            grant_types_sorted.push(grant.clone());
        }
    }
    grant_types_sorted.sort_by_key(|g| GRANT_TYPES.iter().position(|known| known == g));
    let has = |grant: &str| grant_types_sorted.iter().any(|g| g == grant);
    if is_public && has("client_credentials") {
        return bad("a public client cannot use the client_credentials grant".into());
    }
    if has("refresh_token") && !has("authorization_code") {
        return bad("the refresh_token grant comes with the authorization_code grant".into());
    }
    for response_type in metadata.response_types.iter().flatten() {
        if response_type != "code" {
            return bad(format!(
                "response type {response_type} is not supported: only code"
            ));
        }
    }
    let redirect_uris = metadata.redirect_uris.clone().unwrap_or_default();
    let callback_url = match redirect_uris.as_slice() {
        [] if has("authorization_code") => {
            return Err(RegistrationError::RedirectUri(
                "the authorization_code grant needs a redirect URI".into(),
            ))
        }
        [] => String::new(),
        [one] => one.clone(),
        _ => {
            return Err(RegistrationError::RedirectUri(
                "Keyport keeps one redirect URI per client: register with one (loopback redirects match on any port)".into(),
            ))
        }
    };
    if let Some(logo) = metadata.logo_uri.as_deref() {
        if validate::website(logo).is_err() || logo.is_empty() {
            return bad("logo_uri must be an absolute http or https URL".into());
        }
    }
    let permissions = match metadata.scope.as_deref() {
        Some(scope) => words(scope),
        None => policy.permissions.clone(),
    };
    if let Some(refused) = permissions.iter().find(|p| !policy.permissions.contains(p)) {
        return bad(format!(
            "{} does not allow the scope {refused}",
            policy.source
        ));
    }
    let input = ApplicationInput {
        name: metadata
            .client_name
            .clone()
            .unwrap_or_else(|| "Registered client".into()),
        description: String::new(),
        permissions,
        website_url: metadata.client_uri.clone().unwrap_or_default(),
        callback_url,
        icon: None,
        public: is_public,
        refresh_tokens: has("refresh_token"),
        refresh_idle_seconds: None,
        refresh_absolute_seconds: None,
    };
    let input = validate::application(keyport, input)
        .await
        .map_err(metadata_error)?;
    Ok(Checked {
        input,
        grant_types: grant_types_sorted,
        auth_method,
    })
}

/// A refusal of the application's rules in RFC 7591's terms: the field as
/// the client named it.
pub(super) fn metadata_error(e: Error) -> RegistrationError {
    match e {
        Error::Invalid(problems) => {
            let redirect = problems.iter().find(|p| p.field == "callback_url");
            match redirect {
                Some(p) => RegistrationError::RedirectUri(format!("redirect_uris: {}", p.message)),
                None => RegistrationError::Metadata(
                    problems
                        .iter()
                        .map(|p| format!("{}: {}", metadata_name(p.field), p.message))
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
            }
        }
        e => RegistrationError::Failed(e),
    }
}

fn metadata_name(field: &str) -> &str {
    match field {
        "name" | "client_name" => "client_name",
        "website_url" => "client_uri",
        "permissions" => "scope",
        other => other,
    }
}

/// `name`, or when another application of the domain holds it, `name`
/// followed by a number: many copies of one tool register under one name.
/// Only the names that start like it are read.
pub(super) async fn free_name<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    domain_id: &str,
    name: &str,
    except: Option<&str>,
) -> Result<String> {
    let stem: String = name.chars().take(NAME_MAX - 5).collect();
    let alike: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM applications WHERE domain_id = $1 AND removed_at IS NULL AND id <> $2 \
         AND lower(substr(name, 1, CAST($3 AS INTEGER))) = lower($4)",
    )
    .bind(domain_id)
    .bind(except.unwrap_or(""))
    .bind(i64::try_from(stem.chars().count()).unwrap_or(0))
    .bind(&stem)
    .fetch_all(db)
    .await?;
    let taken: std::collections::HashSet<String> = alike.iter().map(|n| n.to_lowercase()).collect();
    let free = |candidate: &str| !taken.contains(&candidate.to_lowercase());
    if free(name) {
        return Ok(name.to_owned());
    }
    (2..)
        .map(|n| {
            let suffix = format!(" {n}");
            let room = NAME_MAX - suffix.chars().count();
            let stem: String = name.chars().take(room).collect();
            format!("{}{suffix}", stem.trim_end())
        })
        .find(|candidate| free(candidate))
        .ok_or(Error::NotFound)
}
