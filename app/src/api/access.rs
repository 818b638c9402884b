//! Who may call each server function, and how recently they must have
//! proved who they are: one table, checked at the edge before a function
//! reads its arguments (the server's `rpc_access` layer), and again when a
//! page calls a function while it renders. Whose objects a caller may touch
//! is the domain's to decide (`domain::rules`).
//!
//! A server function without a row here is refused; the rules test
//! (`server/tests/rules.rs`) fails for any registered function the table
//! misses and acts as each kind of caller against every row.

/// Who may call a server function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// Anyone, signed in or not: setting up, signing in, a password link.
    Anyone,
    /// A browser whose password was accepted and whose second factor is
    /// awaited.
    SecondFactorDue,
    /// A signed-in, enabled user, even past their grace period to set up a
    /// second factor: their Account page and the step-up check.
    SignedIn,
    /// A signed-in, enabled user within any grace period: the portal.
    User,
    /// A domain admin or a super admin.
    Admin,
    SuperAdmin,
}

/// One server function's rule: its endpoint under `/rpc/`, who may call
/// it, and whether it asks for a check of who they are within the step-up
/// lifetime (`KEYPORT_STEP_UP_TTL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub endpoint: &'static str,
    pub who: Who,
    pub step_up: bool,
}

const fn rule(endpoint: &'static str, who: Who) -> Rule {
    Rule {
        endpoint,
        who,
        step_up: false,
    }
}

/// A rule that also asks for a fresh check: the function reveals, grants
/// or removes.
const fn fresh(endpoint: &'static str, who: Who) -> Rule {
    Rule {
        endpoint,
        who,
        step_up: true,
    }
}

use Who::{Admin, Anyone, SecondFactorDue, SignedIn, SuperAdmin, User};

/// Every server function, by endpoint.
pub const RULES: &[Rule] = &[
    // Signing in and setting up.
    rule("setup_status", Anyone),
    rule("setup", Anyone),
    rule("sign_in", Anyone),
    rule("sign_out", Anyone),
    rule("viewer", Anyone),
    rule("flash", Anyone),
    rule("welcome/user", Anyone),
    rule("welcome/password", Anyone),
    rule("factors/sign_in_options", Anyone),
    rule("factors/sign_in", Anyone),
    rule("factors/pending", SecondFactorDue),
    rule("factors/verify", SecondFactorDue),
    rule("factors/passkey_options", SecondFactorDue),
    rule("factors/passkey", SecondFactorDue),
    // Proving who one is again, and one's own second factors.
    rule("factors/step_up", SignedIn),
    rule("factors/confirm", SignedIn),
    rule("factors/step_up_options", SignedIn),
    rule("factors/step_up_passkey", SignedIn),
    rule("account/page", SignedIn),
    fresh("account/totp", SignedIn),
    fresh("account/totp_confirm", SignedIn),
    fresh("account/passkey_options", SignedIn),
    fresh("account/passkey", SignedIn),
    fresh("account/remove_factor", SignedIn),
    fresh("account/recovery_codes", SignedIn),
    // Applications: which ones, the domain decides (`domain::rules`).
    rule("applications/list", User),
    rule("applications/options", User),
    rule("applications/named", User),
    rule("applications/page", User),
    rule("applications/create", User),
    rule("applications/update", User),
    rule("applications/removed", User),
    rule("applications/restore", User),
    fresh("applications/remove", User),
    fresh("applications/reveal", User),
    fresh("applications/rotate", User),
    fresh("applications/retire", User),
    fresh("applications/transfer", User),
    // What a user gave applications, and their tools.
    rule("authorize/request", User),
    rule("authorize/decide", User),
    rule("connections/list", User),
    rule("connections/disconnect", User),
    rule("tools/inspect", User),
    rule("tools/inspection", User),
    // A domain's users and client registration.
    rule("users/page", Admin),
    fresh("users/create", Admin),
    fresh("users/link", Admin),
    fresh("users/role", Admin),
    fresh("users/disable", Admin),
    fresh("users/reset_factors", Admin),
    rule("audit/page", Admin),
    rule("registration/page", Admin),
    fresh("registration/create", Admin),
    rule("registration/revoke", Admin),
    fresh("registration/open", Admin),
    fresh("registration/quota", Admin),
    rule("apis/list", Admin),
    rule("domains/page", Admin),
    // What spans domains.
    fresh("apis/create", SuperAdmin),
    rule("permissions/list", SuperAdmin),
    rule("permissions/describe", SuperAdmin),
    fresh("permissions/add", SuperAdmin),
    fresh("users/mfa_policy", SuperAdmin),
    fresh("users/move", SuperAdmin),
    fresh("domains/create", SuperAdmin),
    fresh("domains/rename", SuperAdmin),
    fresh("domains/limit", SuperAdmin),
    fresh("domains/delete", SuperAdmin),
];

/// The prefix every server function's path has.
pub const PREFIX: &str = "/rpc/";

/// The rule for the server function at `path` (`/rpc/…`).
pub fn rule_for(path: &str) -> Option<&'static Rule> {
    let endpoint = path.strip_prefix(PREFIX)?;
    RULES.iter().find(|r| r.endpoint == endpoint)
}

#[cfg(feature = "ssr")]
pub use checks::*;

#[cfg(feature = "ssr")]
mod checks {
    use leptos::prelude::*;
    use tower_sessions::Session;

    use super::{rule_for, Rule, Who};
    use crate::api::request::{self, session_error};
    use crate::api::AppError;
    use crate::domain::access::Access;
    use crate::domain::accounts::{Role, User};
    use crate::domain::Keyport;

    /// Who is asking, as their function's rule let them in: the user, for
    /// every rule but `Anyone` and `SecondFactorDue`.
    #[derive(Debug, Clone)]
    pub struct Admitted {
        user: Option<User>,
    }

    impl Admitted {
        /// The signed-in user the rule let in, for what they read.
        pub fn user(self) -> Result<User, AppError> {
            self.user.ok_or(AppError::Unauthenticated)
        }

        /// The signed-in user the rule let in, as the principal of what
        /// they change or reveal.
        pub fn access(self) -> Result<Access, AppError> {
            Ok(Access::session(self.user()?, request::client_address()))
        }
    }

    /// Checks `rule` against the caller of `session`.
    pub async fn check(
        keyport: &Keyport,
        session: &Session,
        rule: &Rule,
    ) -> Result<Admitted, AppError> {
        let user = match rule.who {
            Who::Anyone => return Ok(Admitted { user: None }),
            Who::SecondFactorDue => {
                let pending: Option<serde_json::Value> =
                    session.get(request::PENDING).await.map_err(session_error)?;
                return match pending {
                    Some(_) => Ok(Admitted { user: None }),
                    None => Err(AppError::Unauthenticated),
                };
            }
            Who::SignedIn => request::session_user(keyport, session)
                .await?
                .ok_or(AppError::Unauthenticated)?,
            Who::User | Who::Admin | Who::SuperAdmin => {
                request::session_portal_user(keyport, session).await?
            }
        };
        let reaches = match rule.who {
            Who::Admin => user.role.is_admin(),
            Who::SuperAdmin => user.role == Role::SuperAdmin,
            _ => true,
        };
        if !reaches {
            return Err(AppError::Forbidden);
        }
        if rule.step_up && request::verified_for_session(keyport, session).await? <= 0 {
            return Err(AppError::StepUpRequired);
        }
        Ok(Admitted { user: Some(user) })
    }

    /// The caller of the server function `F`, as its rule lets them in:
    /// checked at the edge for a call over HTTP, here for a page that calls
    /// it while rendering. Refused for a step-up, a plain form post goes
    /// to the confirmation page.
    pub async fn allow<F: server_fn::ServerFn>() -> Result<Admitted, AppError> {
        let parts = use_context::<http::request::Parts>();
        if let Some(access) = parts
            .as_ref()
            .filter(|p| p.uri.path() == F::PATH)
            .and_then(|p| p.extensions.get::<Admitted>())
        {
            return Ok(access.clone());
        }
        let Some(rule) = rule_for(F::PATH) else {
            tracing::error!(path = F::PATH, "a server function without a rule");
            return Err(AppError::Forbidden);
        };
        let keyport = request::keyport()?;
        let checked = check(&keyport, &request::session().await?, rule).await;
        if checked
            .as_ref()
            .is_err_and(|e| *e == AppError::StepUpRequired)
        {
            if let Some(parts) = parts.filter(|_| request::is_plain_form_post()) {
                leptos_axum::redirect(&confirm_address(&parts.headers));
            }
        }
        checked
    }

    /// The confirmation page, returning to the page a form was posted
    /// from (its Referer; the applications list without one).
    pub fn confirm_address(headers: &http::HeaderMap) -> String {
        let back = headers
            .get(http::header::REFERER)
            .and_then(|r| r.to_str().ok())
            .and_then(|r| url::Url::parse(r).ok())
            .map(|u| match u.query() {
                Some(q) => format!("{}?{q}", u.path()),
                None => u.path().to_owned(),
            });
        let next = crate::api::auth::safe_next(back.as_deref());
        let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        format!("/confirm?next={encoded}")
    }
}
