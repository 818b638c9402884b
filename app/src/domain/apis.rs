//! APIs (resource servers, RFC 8707): each has an identifier, the `aud`
//! of the tokens meant for it, and its own permissions. Keyport's own
//! management API is one of them: its identifier is the public URL, and
//! its permissions are the catalog's that name no API.
//!
//! Permission names stay unique across APIs (`reports:read`, not `read`),
//! so that an application's grants, a consent and a refresh token each
//! hold plain scope names, and a scope names its API by itself.

use std::sync::Arc;

use super::access::Access;
use super::audit::Action;
use super::permissions::{check_description, check_scope, Permission};
use super::{Error, Invalid, Keyport, Result};

/// An API tokens can be issued for.
#[derive(Debug, Clone)]
pub struct Api {
    /// `None`: Keyport's own management API.
    pub id: Option<String>,
    pub identifier: String,
    pub name: String,
    pub permissions: Vec<Permission>,
}

impl Api {
    pub fn holds(&self, scope: &str) -> bool {
        self.permissions.iter().any(|p| p.scope == scope)
    }

    /// Those of `scopes` that are this API's, in their order.
    pub fn scopes<'s>(&self, scopes: impl IntoIterator<Item = &'s str>) -> Vec<&'s str> {
        scopes.into_iter().filter(|s| self.holds(s)).collect()
    }
}

/// Every API with its permissions, Keyport's own first, as read together.
#[derive(Debug, Clone, Default)]
pub struct Apis(pub Vec<Api>);

/// Why a `resource` names no API a token can be issued for (RFC 8707 §2:
/// `invalid_target`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("resource must be an absolute URI without a fragment")]
    Malformed,
    #[error("resource {0} is not an API registered here")]
    Unknown(String),
    #[error("the application holds no permission of the API {0}")]
    NotGranted(String),
}

impl Apis {
    /// Every permission of the APIs registered beside Keyport's own: what
    /// clients that register themselves may have unless an admin names
    /// more.
    pub fn registered_permissions(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|api| api.id.is_some())
            .flat_map(|api| api.permissions.iter().map(|p| p.scope.clone()))
            .collect()
    }

    /// The API `resource` names; without one, Keyport's own (RFC 8707 §2).
    pub fn target(&self, resource: Option<&str>) -> std::result::Result<&Api, TargetError> {
        let Some(resource) = resource else {
            return Ok(&self.0[0]);
        };
        let absolute = url::Url::parse(resource)
            .is_ok_and(|url| url.fragment().is_none() && !url.cannot_be_a_base());
        if !absolute {
            return Err(TargetError::Malformed);
        }
        // A trailing slash is not a different API: clients canonicalize
        // the identifier they were given either way.
        let bare = |uri: &str| uri.trim_end_matches('/').to_owned();
        self.0
            .iter()
            .find(|api| bare(&api.identifier) == bare(resource))
            .ok_or_else(|| TargetError::Unknown(resource.to_owned()))
    }

    /// The API holding `scope`, if any.
    pub fn api_of(&self, scope: &str) -> Option<&Api> {
        self.0.iter().find(|api| api.holds(scope))
    }
}

/// The API a token of a grant is for, and the part of the grant's scope
/// it carries: the API the token request names (`requested`), else the
/// one the authorization request named (`default`), else Keyport's own. A
/// grant covers every API it holds a permission of (RFC 8707 §2.2).
pub fn grant_target<'a, 's>(
    apis: &'a Apis,
    requested: Option<&str>,
    default: Option<&str>,
    grant: impl IntoIterator<Item = &'s str>,
) -> std::result::Result<(&'a Api, Vec<&'s str>), TargetError> {
    let api = apis.target(requested.or(default))?;
    let scope = api.scopes(grant);
    if scope.is_empty() {
        return Err(TargetError::NotGranted(api.identifier.clone()));
    }
    Ok((api, scope))
}

/// An API as an administrator registers it.
#[derive(Debug, Clone, Default)]
pub struct NewApi {
    pub name: String,
    pub identifier: String,
    /// Scope names and what each allows.
    pub permissions: Vec<(String, String)>,
}

/// Absolute `https`, or `http` on a loopback host; no fragment, no user
/// information, at most 2,048 characters.
fn check_identifier(identifier: &str, own: &str) -> Option<Invalid> {
    let problem = match url::Url::parse(identifier) {
        _ if identifier.len() > super::validate::URL_MAX => "Use at most 2048 characters.",
        Err(_) => "Enter an absolute URI such as https://reports.example.com/api.",
        Ok(url) if url.fragment().is_some() || !url.username().is_empty() => {
            "The identifier cannot hold a fragment (#…) or user information."
        }
        Ok(url) if url.scheme() == "https" => "",
        Ok(url) if url.scheme() == "http" && super::validate::is_loopback(&url) => "",
        Ok(_) => "Use https://, or http:// only for a loopback host.",
    };
    let problem = match problem {
        "" if identifier.trim_end_matches('/') == own => {
            "That is Keyport's own management API, which is there already."
        }
        other => other,
    };
    (!problem.is_empty()).then(|| Invalid::new("identifier", problem))
}

impl Keyport {
    /// Every API with its permissions, as read within
    /// `cache::FRESH_FOR_MS`.
    pub async fn apis(&self) -> Result<Arc<Apis>> {
        self.memory
            .apis
            .get_or_read(&(), || async {
                let registered: Vec<(String, String, String)> =
                    sqlx::query_as("SELECT id, identifier, name FROM apis ORDER BY lower(name)")
                        .fetch_all(&self.db.pool)
                        .await?;
                let permissions = self.permissions().await?;
                let own = Api {
                    id: None,
                    identifier: self.audience(),
                    name: OWN_API_NAME.into(),
                    permissions: permissions
                        .iter()
                        .filter(|p| p.api_id.is_none())
                        .cloned()
                        .collect(),
                };
                let others = registered.into_iter().map(|(id, identifier, name)| Api {
                    permissions: permissions
                        .iter()
                        .filter(|p| p.api_id.as_deref() == Some(id.as_str()))
                        .cloned()
                        .collect(),
                    id: Some(id),
                    identifier,
                    name,
                });
                Ok(Arc::new(Apis(std::iter::once(own).chain(others).collect())))
            })
            .await
    }

    /// Registers an API with its permissions, in one transaction.
    pub async fn create_api(&self, access: &Access, new: NewApi) -> Result<Api> {
        access.require_super_admin()?;
        let actor = access.actor();
        let name = new.name.trim().to_owned();
        let identifier = new.identifier.trim().to_owned();
        let mut problems: Vec<Invalid> = Vec::new();
        let name_len = name.chars().count();
        if name_len == 0 || name_len > 64 || name.chars().any(super::validate::is_hidden_control) {
            problems.push(Invalid::new("name", "Name the API in 1 to 64 characters."));
        }
        problems.extend(check_identifier(&identifier, &self.audience()));
        if problems.iter().all(|p| p.field != "identifier")
            && self.apis().await?.target(Some(&identifier)).is_ok()
        {
            problems.push(Invalid::new("identifier", IDENTIFIER_TAKEN));
        }
        if new.permissions.is_empty() {
            problems.push(Invalid::new(
                "permissions",
                "Give the API at least one permission.",
            ));
        }
        for (scope, description) in &new.permissions {
            if let Some(problem) = check_scope(scope).or_else(|| check_description(description)) {
                problems.push(Invalid::new(
                    "permissions",
                    format!("{scope}: {}", problem.message),
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let now = self.now();
        let mut tx = self.db.write().await?;
        let inserted = sqlx::query(
            "INSERT INTO apis (id, identifier, name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(&identifier)
        .bind(&name)
        .bind(now)
        .execute(&mut *tx)
        .await;
        let taken = Invalid::new("identifier", IDENTIFIER_TAKEN);
        super::store::on_constraint(inserted, &[("apis_identifier_key", taken)])?;
        for (scope, description) in &new.permissions {
            let inserted = sqlx::query(
                "INSERT INTO permissions (scope, description, created_at, api_id) VALUES ($1, $2, $3, $4)",
            )
            .bind(scope)
            .bind(description)
            .bind(now)
            .bind(&id)
            .execute(&mut *tx)
            .await;
            let exists = Invalid::new(
                "permissions",
                format!("{scope} exists already: permission names are unique across APIs."),
            );
            super::store::on_constraint(inserted, &[("permissions_pkey", exists)])?;
        }
        super::audit::record(
            &mut tx,
            super::audit::Entry {
                at: now,
                domain_id: None,
                actor,
                action: Action::ApiCreated,
                target: Some(&format!("{name} ({identifier})")),
                client_id: None,
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        let apis = self.apis().await?;
        apis.0
            .iter()
            .find(|api| api.id.as_deref() == Some(id.as_str()))
            .cloned()
            .ok_or(Error::NotFound)
    }
}

const IDENTIFIER_TAKEN: &str =
    "An API with this identifier exists already (a trailing slash does not make another).";

/// How the portal and the metadata name Keyport's own API.
pub const OWN_API_NAME: &str = "Keyport management API";
