//! Who is asking, and how they came: the one value every operation that
//! changes or reveals something takes. Each way in builds it once: the
//! console's server functions from the session (`api::access`), the
//! management API from its Bearer token (`Caller`), and the command line.
//! The operation then checks its own rule (`rules`) against it.

use super::accounts::{Role, User};
use super::audit::Actor;
use super::ids::ClientId;
use super::{Error, Result};

/// The principal of a request and how it reached Keyport.
#[derive(Debug, Clone)]
pub struct Access {
    by: By,
    via: Via,
    actor: Actor,
}

#[derive(Debug, Clone)]
enum By {
    /// A user, as they stand now: their role and domain decide.
    User(User),
    /// The operator at the server's command line, who may do everything.
    Operator,
}

/// How the principal came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// Signed in to the console.
    Session,
    /// An application's access token for the management API, acting for
    /// the user who approved it (`delegated`) or on its own for its owner.
    Token {
        client_id: ClientId,
        delegated: bool,
    },
    /// A client's registration access token (RFC 7592), reading or
    /// changing its own registration for its owner.
    Registration { client_id: ClientId },
    /// The server's command line.
    CommandLine,
}

impl Access {
    /// A user signed in to the console, from `address`.
    pub fn session(user: User, address: String) -> Self {
        let actor = Actor::of(&user, address);
        Self {
            by: By::User(user),
            via: Via::Session,
            actor,
        }
    }

    /// An application's management-API token, for `user`: the user who
    /// approved it, or its owner when it acts on its own.
    pub fn token(user: User, client_id: &ClientId, delegated: bool, address: String) -> Self {
        let client = format!("client {client_id}");
        let actor = Actor {
            user_id: delegated.then(|| user.id.clone()),
            label: if delegated {
                format!("{} via {client}", user.email)
            } else {
                client
            },
            address,
        };
        Self {
            by: By::User(user),
            via: Via::Token {
                client_id: client_id.clone(),
                delegated,
            },
            actor,
        }
    }

    /// A client managing its own registration with its registration
    /// access token, for `owner`.
    pub fn registration(owner: User, client_id: &ClientId, address: &str) -> Self {
        Self {
            by: By::User(owner),
            via: Via::Registration {
                client_id: client_id.clone(),
            },
            actor: Actor {
                user_id: None,
                label: format!("registration of {client_id}"),
                address: address.to_owned(),
            },
        }
    }

    /// The operator at the server's command line.
    pub fn operator() -> Self {
        Self {
            by: By::Operator,
            via: Via::CommandLine,
            actor: Actor::command_line(),
        }
    }

    /// The operator at the command line acting as `user` (an application's
    /// owner, an initial access token's creator): that user's rules apply.
    pub fn operator_as(user: User) -> Self {
        Self {
            by: By::User(user),
            via: Via::CommandLine,
            actor: Actor::command_line(),
        }
    }

    /// How the audit log names the principal.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub fn via(&self) -> &Via {
        &self.via
    }

    /// The user asking; the operator is nobody's user.
    pub fn user(&self) -> Option<&User> {
        match &self.by {
            By::User(user) => Some(user),
            By::Operator => None,
        }
    }

    /// The user asking, for an operation that acts as someone.
    pub fn person(&self) -> Result<&User> {
        self.user().ok_or(Error::Forbidden)
    }

    /// Whether the principal reaches `role`: the operator always.
    pub fn reaches(&self, role: Role) -> bool {
        self.user().is_none_or(|user| user.role.reaches(role))
    }

    /// Refused unless a super admin or the operator asks: for what spans
    /// the whole customer (domains, APIs, the permission catalog).
    pub fn require_super_admin(&self) -> Result<()> {
        if self.reaches(Role::SuperAdmin) {
            Ok(())
        } else {
            Err(Error::Forbidden)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role) -> User {
        User {
            id: "u".into(),
            domain_id: "d".into(),
            email: "u@example.com".into(),
            role,
            disabled_at: None,
        }
    }

    #[test]
    fn only_a_super_admin_or_the_operator_spans_the_customer() {
        assert!(Access::operator().require_super_admin().is_ok());
        let address = || "127.0.0.1".to_owned();
        assert!(Access::session(user(Role::SuperAdmin), address())
            .require_super_admin()
            .is_ok());
        for role in [Role::DomainAdmin, Role::Member] {
            assert!(Access::session(user(role), address())
                .require_super_admin()
                .is_err());
            assert!(Access::token(user(role), &"c".into(), true, address())
                .require_super_admin()
                .is_err());
            assert!(Access::operator_as(user(role))
                .require_super_admin()
                .is_err());
        }
        assert!(Access::operator().person().is_err());
    }

    #[test]
    fn the_audit_log_names_how_the_principal_came() {
        let member = user(Role::Member);
        let session = Access::session(member.clone(), "10.0.0.1".into());
        assert_eq!(session.actor().label, "u@example.com");
        assert!(session
            .actor()
            .user_id
            .as_ref()
            .is_some_and(|id| *id == "u"));
        let delegated = Access::token(member.clone(), &"app".into(), true, "10.0.0.1".into());
        assert_eq!(delegated.actor().label, "u@example.com via client app");
        let own = Access::token(member.clone(), &"app".into(), false, "10.0.0.1".into());
        assert_eq!(own.actor().label, "client app");
        assert!(own.actor().user_id.is_none());
        assert_eq!(
            own.via(),
            &Via::Token {
                client_id: "app".into(),
                delegated: false,
            }
        );
        assert_eq!(Access::operator_as(member).actor().label, "cli");
        assert_eq!(Access::operator().via(), &Via::CommandLine);
    }
}
