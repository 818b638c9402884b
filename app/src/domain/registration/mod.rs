//! Clients that register themselves (RFC 7591) and later read, change or
//! remove their registration (RFC 7592), under a domain's admins' control.
//!
//! An admin hands a tool an **initial access token**: a label, an expiry,
//! a number of uses, the permissions and grant types its clients may ask
//! for, and whether they may be public. Each registration spends one use
//! in the same transaction that checks the domain's room, so a burst of
//! registrations cannot pass either. The application belongs to the
//! token's creator and answers to a **registration access token** of its
//! own. Tokens are 256 random bits, kept only as a SHA-256.
//!
//! **Open registration** (no token) is off unless an admin of a domain
//! turns it on (`open`).

mod metadata;
mod open;
mod tokens;

use metadata::{checked_metadata, free_name, metadata_error};
use open::open_policy;
pub use open::{OpenRoom, DEFAULT_OPEN_QUOTA};
use tokens::SELECT_TOKEN;
pub use tokens::{
    NewRegistrationToken, RegistrationToken, TokenState, DEFAULT_EXPIRES_IN, DEFAULT_USES,
    EXPIRES_IN_MAX, EXPIRES_IN_MIN, USES_MAX,
};

use serde::Deserialize;

use super::access::Access;
use super::accounts::User;
use super::applications::{check_room, lock_domain, Application, Credentials, Origin, SELECT};
use super::audit::Actor;
use super::clock::Timestamp;
use super::secrets::{
    prefixed_token, token_digest, INITIAL_ACCESS_TOKEN_PREFIX, REGISTRATION_ACCESS_TOKEN_PREFIX,
};
use super::tenancy::Domain;
use super::validate::{self, ApplicationInput};
use super::{Error, Keyport, Result};

/// The grant types a client may register for, in the order shown.
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

/// An openly registered client that got no token within this long is
/// removed.
pub const OPEN_UNUSED_FOR: i64 = 86_400;

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// What a client registering may ask for.
struct Policy {
    permissions: Vec<String>,
    grant_types: Vec<String>,
    public_allowed: bool,
    confidential_allowed: bool,
    /// Names the policy in refusals.
    source: &'static str,
}

/// Client metadata (RFC 7591 §2) as a client sends it. Unknown fields are
/// ignored (§2), and so is a `client_secret` sent with an update, which
/// must carry its `client_id` (RFC 7592 §2.2).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClientMetadata {
    pub redirect_uris: Option<Vec<String>>,
    pub client_name: Option<String>,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub scope: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub client_id: Option<String>,
}

/// A registered client, as the registration endpoints answer with it.
#[derive(Debug, Clone)]
pub struct Registration {
    pub app: Application,
    pub permissions: Vec<String>,
    pub grant_types: Vec<String>,
    pub auth_method: String,
    /// Only when it is created.
    pub credentials: Option<Credentials>,
    pub registration_access_token: Option<String>,
}

/// Why a registration, or a read, update or delete of one, was refused.
#[derive(Debug)]
pub enum RegistrationError {
    /// The initial or registration access token is missing, unknown, or
    /// no longer usable (RFC 6750 `invalid_token`).
    Token(String),
    /// RFC 7591 §3.2.2 `invalid_redirect_uri`.
    RedirectUri(String),
    /// RFC 7591 §3.2.2 `invalid_client_metadata`.
    Metadata(String),
    /// Open registration from this address must wait.
    RateLimited {
        retry_after: u64,
    },
    Failed(Error),
}

impl From<Error> for RegistrationError {
    fn from(e: Error) -> Self {
        Self::Failed(e)
    }
}

impl From<sqlx::Error> for RegistrationError {
    fn from(e: sqlx::Error) -> Self {
        Self::Failed(e.into())
    }
}

type Registered<T> = std::result::Result<T, RegistrationError>;

/// Who registers, and under what policy.
enum Source {
    Token(RegistrationToken),
    Open { domain_id: String, owner_id: String },
}

impl Keyport {
    /// `POST /oauth2/register`: registers a client with an initial access
    /// token, or by open registration without one.
    pub async fn register_client(
        &self,
        bearer: Option<&str>,
        metadata: ClientMetadata,
        address: &str,
    ) -> Registered<Registration> {
        let now = self.now();
        let source = match bearer {
            Some(token) => Source::Token(self.usable_token(token, now).await?),
            None => self.open_source(address, now).await?,
        };
        let (domain_id, owner_id, policy, via, token_id, label) = match &source {
            Source::Token(t) => (
                t.domain_id.as_str(),
                t.creator_id.as_str(),
                t.policy(),
                "token",
                Some(t.id.as_str()),
                Some(t.label.as_str()),
            ),
            Source::Open {
                domain_id,
                owner_id,
            } => (
                domain_id.as_str(),
                owner_id.as_str(),
                open_policy(self).await?,
                "open",
                None,
                None,
            ),
        };
        let domain = self.domain(domain_id).await?.ok_or(Error::NotFound)?;
        // The admin who allowed it must still be one, of this domain.
        let owner = self
            .user(owner_id)
            .await?
            .filter(|u| u.disabled_at.is_none())
            .ok_or_else(|| {
                RegistrationError::Token(
                    "the admin who allowed this registration is disabled".into(),
                )
            })?;
        if require_domain_admin(&owner, &domain).is_err() {
            return Err(RegistrationError::Token(
                "the admin who allowed this registration no longer manages its domain".into(),
            ));
        }
        let checked = checked_metadata(self, &policy, &metadata, None).await?;
        let access_token = prefixed_token(REGISTRATION_ACCESS_TOKEN_PREFIX);
        let access_hash = token_digest(&access_token);
        let grant_types = checked.grant_types.join(" ");
        let origin = Origin {
            via,
            token_id,
            label,
            access_hash: &access_hash,
            grant_types: &grant_types,
            auth_method: &checked.auth_method,
        };
        let actor = Actor {
            user_id: None,
            label: match label {
                Some(label) => format!("initial access token {label}"),
                None => "open registration".into(),
            },
            address: address.to_owned(),
        };
        let mut tx = self.db.write().await?;
        lock_domain(&mut tx, &domain.id).await?;
        if let Some(id) = token_id {
            let spent = sqlx::query(
                "UPDATE registration_tokens SET uses_left = uses_left - 1, last_used_at = $1 \
                 WHERE id = $2 AND uses_left > 0 AND revoked_at IS NULL AND expires_at > $1",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if spent.rows_affected() == 0 {
                tx.rollback().await?;
                return Err(RegistrationError::Token(
                    "the initial access token was used up or revoked meanwhile".into(),
                ));
            }
        }
        let mut room = check_room(&mut tx, &domain, "domain").await;
        if room.is_ok() && via == "open" {
            room = open::check_open_room(&mut tx, &domain).await;
        }
        if let Err(e) = room {
            tx.rollback().await?;
            return Err(metadata_error(e));
        }
        let mut input = checked.input;
        input.name = free_name(&mut *tx, &domain.id, &input.name, None).await?;
        let (id, credentials) = self
            .insert_application(&mut tx, &actor, &owner, &domain, &input, Some(&origin))
            .await
            .map_err(metadata_error)?;
        tx.commit().await?;
        let app = self.application_for(&owner, &id).await?;
        Ok(Registration {
            app: app.app,
            permissions: app.permissions,
            grant_types: checked.grant_types,
            auth_method: checked.auth_method,
            credentials,
            registration_access_token: Some(access_token),
        })
    }

    /// `GET /oauth2/register/{client_id}` (RFC 7592 §2.1).
    pub async fn read_registration(
        &self,
        client_id: &str,
        access_token: &str,
    ) -> Registered<Registration> {
        let (app, owner) = self.registered(client_id, access_token).await?;
        let app = self.application_for(&owner, &app.id).await?;
        Ok(registration(app.app, app.permissions))
    }

    /// `PUT /oauth2/register/{client_id}` (RFC 7592 §2.2): the metadata
    /// sent replaces what was registered, within what the client was
    /// allowed when it registered. Whether it is public does not change.
    pub async fn update_registration(
        &self,
        client_id: &str,
        access_token: &str,
        metadata: ClientMetadata,
        address: &str,
    ) -> Registered<Registration> {
        let (app, owner) = self.registered(client_id, access_token).await?;
        if metadata.client_id.as_deref() != Some(app.client_id.as_str()) {
            return Err(RegistrationError::Metadata(
                "client_id must be sent, and be this client's".into(),
            ));
        }
        let policy = match app.registration_token_id.as_deref() {
            Some(id) => self
                .registration_token(id)
                .await?
                .ok_or(Error::NotFound)?
                .policy(),
            None => open_policy(self).await?,
        };
        let checked = checked_metadata(self, &policy, &metadata, Some(app.is_public())).await?;
        let name = free_name(
            &self.db.pool,
            &app.domain_id,
            &checked.input.name,
            Some(&app.id),
        )
        .await?;
        let valid = checked.input;
        let input = ApplicationInput {
            name,
            description: app.description.clone(),
            permissions: valid.permissions,
            website_url: valid.website_url,
            callback_url: valid.callback_url,
            icon: None,
            public: valid.public,
            refresh_tokens: valid.refresh_tokens,
            refresh_idle_seconds: Some(app.refresh_idle_seconds),
            refresh_absolute_seconds: Some(app.refresh_absolute_seconds),
        };
        let access = Access::registration(owner, &app.client_id, address);
        self.update_application(&access, &app.id, input)
            .await
            .map_err(metadata_error)?;
        // The settings took: the grants it may use follow.
        let mut tx = self.db.write().await?;
        sqlx::query("UPDATE applications SET grant_types = $1, auth_method = $2 WHERE id = $3")
            .bind(checked.grant_types.join(" "))
            .bind(&checked.auth_method)
            .bind(&app.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let app = self.application_for(access.person()?, &app.id).await?;
        Ok(registration(app.app, app.permissions))
    }

    /// `DELETE /oauth2/register/{client_id}` (RFC 7592 §2.3): removes the
    /// client, as a removal in the portal does.
    pub async fn delete_registration(
        &self,
        client_id: &str,
        access_token: &str,
        address: &str,
    ) -> Registered<()> {
        let (app, owner) = self.registered(client_id, access_token).await?;
        let access = Access::registration(owner, &app.client_id, address);
        self.remove_applications(&access, &[app.id.to_string()])
            .await?;
        Ok(())
    }

    /// The initial access token `token` names, if it still registers.
    async fn usable_token(&self, token: &str, now: Timestamp) -> Registered<RegistrationToken> {
        let found: Option<RegistrationToken> = match token.starts_with(INITIAL_ACCESS_TOKEN_PREFIX)
        {
            true => {
                sqlx::query_as(&format!("{SELECT_TOKEN} WHERE t.token_hash = $1"))
                    .bind(token_digest(token))
                    .fetch_optional(&self.db.pool)
                    .await?
            }
            false => None,
        };
        let token = found.ok_or_else(|| {
            RegistrationError::Token("the initial access token is not valid".into())
        })?;
        match token.state(now) {
            TokenState::Active => Ok(token),
            state => Err(RegistrationError::Token(format!(
                "the initial access token is {}",
                state.as_str()
            ))),
        }
    }

    /// The client `client_id` whose registration access token is
    /// `access_token`, with its owner, who must be enabled.
    async fn registered(
        &self,
        client_id: &str,
        access_token: &str,
    ) -> Registered<(Application, User)> {
        let refused =
            || RegistrationError::Token("the registration access token is not valid".into());
        if !access_token.starts_with(REGISTRATION_ACCESS_TOKEN_PREFIX)
            || !validate::storable(client_id)
        {
            return Err(refused());
        }
        let app: Application = sqlx::query_as(&format!(
            "{SELECT} WHERE a.client_id = $1 AND a.registration_access_hash = $2 AND a.removed_at IS NULL"
        ))
        .bind(client_id)
        .bind(token_digest(access_token))
        .fetch_optional(&self.db.pool)
        .await?
        .ok_or_else(refused)?;
        let owner = self
            .user(&app.owner_id)
            .await?
            .filter(|u| u.disabled_at.is_none())
            .ok_or_else(refused)?;
        Ok((app, owner))
    }
}

fn registration(app: Application, permissions: Vec<String>) -> Registration {
    let grant_types = match &app.grant_types {
        Some(types) => words(types),
        None => vec!["authorization_code".into()],
    };
    let auth_method = app
        .auth_method
        .clone()
        .unwrap_or_else(|| "client_secret_basic".into());
    Registration {
        app,
        permissions,
        grant_types,
        auth_method,
        credentials: None,
        registration_access_token: None,
    }
}

/// Those who administer `domain` manage its registration.
fn require_domain_admin(user: &User, domain: &Domain) -> Result<()> {
    if super::rules::may_administer(user, &domain.id) {
        Ok(())
    } else {
        Err(Error::Forbidden)
    }
}
