//! Passkeys (WebAuthn, with webauthn-rs): set up on the Account page, used
//! as the second factor after a password, for step-up, and on their own to
//! sign in (discoverable credentials: the browser names the user). Every
//! ceremony requires user verification, so a passkey alone is two factors.
//!
//! The relying party is the public URL's host. Browsers refuse WebAuthn for
//! an IP address, so behind one (`http://127.0.0.1:3000`) passkeys are not
//! offered; `localhost` or a domain name works.
//!
//! A ceremony's state (its challenge) is kept by the caller in the session
//! between its two halves, so that it is answered once, by that browser.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Uuid, Webauthn,
    WebauthnBuilder,
};

use super::super::access::Access;
use super::super::accounts::{Attempt, User};
use super::super::audit::{self, Action, Actor};
use super::super::limiter::Key;
use super::super::users::user_entry;
use super::super::{Error, Keyport, Result};
use super::{factor_name, new_id};

/// One half-done ceremony's options for the browser (JSON) and the state
/// the server keeps until the answer comes (JSON).
#[derive(Debug, Clone)]
pub struct Ceremony {
    pub options: String,
    pub state: String,
}

/// A passkey answer that does not check out.
fn refused() -> Error {
    Error::invalid("passkey", "That passkey could not be verified")
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Config(format!("WebAuthn options: {e}")))
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|_| refused())
}

impl Keyport {
    /// The relying party for this deployment, if its public URL has a host
    /// name (not an IP address) that browsers accept.
    fn webauthn(&self) -> Option<Webauthn> {
        let host = match self.issuer.host()? {
            url::Host::Domain(host) => host,
            url::Host::Ipv4(_) | url::Host::Ipv6(_) => return None,
        };
        WebauthnBuilder::new(host, &self.issuer)
            .ok()?
            .rp_name("Keyport")
            .build()
            .ok()
    }

    /// Whether passkeys can work at this deployment's address.
    pub fn passkeys_available(&self) -> bool {
        self.webauthn().is_some()
    }

    fn relying_party(&self) -> Result<Webauthn> {
        self.webauthn().ok_or_else(|| {
            Error::invalid(
                "passkey",
                "Passkeys need Keyport served under a host name (KEYPORT_PUBLIC_URL), not an IP address",
            )
        })
    }

    /// The user's passkeys, with their row ids.
    async fn passkeys(&self, user_id: &str) -> Result<Vec<(String, Passkey)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, passkey FROM user_factors WHERE user_id = $1 AND kind = 'passkey'",
        )
        .bind(user_id)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, stored)| Some((id, serde_json::from_str(&stored).ok()?)))
            .collect())
    }

    /// Starts adding a passkey: options that ask the authenticator for a
    /// discoverable credential (so that it can sign in on its own), never
    /// one the user has already.
    pub async fn begin_passkey(&self, user: &User) -> Result<Ceremony> {
        let rp = self.relying_party()?;
        let handle = Uuid::parse_str(&user.id).map_err(|_| refused())?;
        let existing = self
            .passkeys(&user.id)
            .await?
            .into_iter()
            .map(|(_, p)| p.cred_id().clone())
            .collect();
        let (options, state) = rp
            .start_passkey_registration(handle, &user.email, &user.email, Some(existing))
            .map_err(|e| Error::Config(format!("WebAuthn registration: {e}")))?;
        let mut options = serde_json::to_value(options)
            .map_err(|e| Error::Config(format!("WebAuthn options: {e}")))?;
        if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection") {
            selection["residentKey"] = "required".into();
            selection["requireResidentKey"] = true.into();
        }
        Ok(Ceremony {
            options: json(&options)?,
            state: json(&state)?,
        })
    }

    /// Keeps the passkey the browser made for `state`, named `name`.
    /// When it is the user's first factor, answers their new recovery
    /// codes. Audited.
    pub async fn finish_passkey(
        &self,
        access: &Access,
        name: &str,
        state: &str,
        credential: &str,
    ) -> Result<Option<Vec<String>>> {
        let (actor, user) = (access.actor(), access.person()?);
        let name = factor_name(name, "Passkey")?;
        let rp = self.relying_party()?;
        let state: PasskeyRegistration = parse(state)?;
        let credential: RegisterPublicKeyCredential = parse(credential)?;
        let passkey = rp
            .finish_passkey_registration(&credential, &state)
            .map_err(|_| refused())?;
        let credential_id = URL_SAFE_NO_PAD.encode(passkey.cred_id().as_slice());
        let now = self.now();
        let mut tx = self.db.write().await?;
        super::recovery::lock_user(&mut tx, user).await?;
        let inserted = sqlx::query(
            "INSERT INTO user_factors \
             (id, user_id, kind, name, credential_id, passkey, created_at, confirmed_at) \
             VALUES ($1, $2, 'passkey', $3, $4, $5, $6, $6)",
        )
        .bind(new_id())
        .bind(&user.id)
        .bind(&name)
        .bind(&credential_id)
        .bind(json(&passkey)?)
        .bind(now)
        .execute(&mut *tx)
        .await;
        super::super::store::on_constraint(
            inserted,
            &[(
                "user_factors_credential_key",
                super::super::Invalid::new("passkey", "This passkey is registered already"),
            )],
        )?;
        let detail = format!("passkey: {name}");
        let codes = super::recovery::enrolled(&mut tx, actor, user, now, &detail).await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Starts checking one of the user's passkeys (a second factor, or
    /// step-up).
    pub async fn begin_passkey_check(&self, user: &User) -> Result<Ceremony> {
        let rp = self.relying_party()?;
        let passkeys: Vec<Passkey> = self
            .passkeys(&user.id)
            .await?
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        if passkeys.is_empty() {
            return Err(Error::invalid("passkey", "You have no passkey"));
        }
        let (options, state) = rp
            .start_passkey_authentication(&passkeys)
            .map_err(|e| Error::Config(format!("WebAuthn authentication: {e}")))?;
        Ok(Ceremony {
            options: json(&options)?,
            state: json(&state)?,
        })
    }

    /// Checks the browser's answer to `begin_passkey_check`, on the
    /// account's budget of second-factor attempts; failures are audited.
    pub async fn finish_passkey_check(
        &self,
        actor: &Actor,
        user: &User,
        state: &str,
        credential: &str,
    ) -> Result<()> {
        let attempt = self.second_factor_attempt(user)?;
        let checked = async {
            let rp = self.relying_party()?;
            let state: PasskeyAuthentication = parse(state)?;
            let credential: PublicKeyCredential = parse(credential)?;
            let result = rp
                .finish_passkey_authentication(&credential, &state)
                .map_err(|_| refused())?;
            self.note_passkey_use(&user.id, &result).await
        }
        .await;
        match checked {
            Ok(()) => {
                attempt.give_back();
                Ok(())
            }
            Err(e) => {
                self.second_factor_failed(actor, user, "a passkey that did not verify")
                    .await?;
                Err(e)
            }
        }
    }

    /// Starts a sign-in with a passkey alone: the browser offers the
    /// passkeys it holds for this site, and the one chosen names its user.
    /// `opens_session`: the caller's address, when keeping the ceremony
    /// opens a new session, which spends that address's budget.
    pub fn begin_passkey_sign_in(&self, opens_session: Option<&str>) -> Result<Ceremony> {
        let rp = self.relying_party()?;
        if let Some(address) = opens_session {
            self.limits
                .passkey_sessions
                .take(&Key::address_text(address), self.now())
                .map_err(|retry_after| Error::RateLimited { retry_after })?;
        }
        let (options, state) = rp
            .start_discoverable_authentication()
            .map_err(|e| Error::Config(format!("WebAuthn authentication: {e}")))?;
        Ok(Ceremony {
            options: json(&options)?,
            state: json(&state)?,
        })
    }

    /// The enabled user whose passkey answered `begin_passkey_sign_in`.
    /// Failures spend the address's sign-in budget, as wrong passwords do.
    pub async fn finish_passkey_sign_in(
        &self,
        address: &str,
        state: &str,
        credential: &str,
    ) -> Result<User> {
        let attempt = Attempt::take(
            vec![(&self.limits.sign_in_addresses, Key::address_text(address))],
            self.now(),
        )?;
        let signed_in = async {
            let rp = self.relying_party()?;
            let state: DiscoverableAuthentication = parse(state)?;
            let credential: PublicKeyCredential = parse(credential)?;
            let (handle, _) = rp
                .identify_discoverable_authentication(&credential)
                .map_err(|_| refused())?;
            let user = self
                .user(&handle.to_string())
                .await?
                .filter(|u| u.disabled_at.is_none())
                .ok_or_else(refused)?;
            let keys: Vec<DiscoverableKey> = self
                .passkeys(&user.id)
                .await?
                .iter()
                .map(|(_, p)| p.into())
                .collect();
            let result = rp
                .finish_discoverable_authentication(&credential, state, &keys)
                .map_err(|_| refused())?;
            self.note_passkey_use(&user.id, &result).await?;
            Ok(user)
        }
        .await;
        let actor = Actor {
            user_id: signed_in.as_ref().ok().map(|u| u.id.clone()),
            label: signed_in
                .as_ref()
                .map_or_else(|_| "passkey".to_owned(), |u| u.email.clone()),
            address: address.into(),
        };
        match signed_in {
            Ok(user) => {
                attempt.give_back();
                let mut tx = self.db.write().await?;
                audit::record(
                    &mut tx,
                    user_entry(self.now(), &actor, &user, Action::SignIn, Some("passkey")),
                )
                .await?;
                tx.commit().await?;
                Ok(user)
            }
            Err(e) => {
                self.audit(None, &actor, Action::SignInFailed, None).await?;
                Err(e)
            }
        }
    }

    /// Notes that a passkey was used, with its signature counter as the
    /// authenticator reported it.
    async fn note_passkey_use(
        &self,
        user_id: &str,
        result: &webauthn_rs::prelude::AuthenticationResult,
    ) -> Result<()> {
        let used = URL_SAFE_NO_PAD.encode(result.cred_id().as_slice());
        let Some((id, mut passkey)) = self
            .passkeys(user_id)
            .await?
            .into_iter()
            .find(|(_, p)| URL_SAFE_NO_PAD.encode(p.cred_id().as_slice()) == used)
        else {
            return Err(refused());
        };
        passkey.update_credential(result);
        self.db
            .write_one(
                sqlx::query(
                    "UPDATE user_factors SET passkey = $1, last_used_at = $2 WHERE id = $3",
                )
                .bind(json(&passkey)?)
                .bind(self.now())
                .bind(id),
            )
            .await?;
        Ok(())
    }
}
