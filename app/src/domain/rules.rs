//! Who may do what to whose objects: every rule that depends on who asks,
//! written once. The console's server functions, the management API and
//! the OAuth endpoints ask these functions and decide nothing of their own
//! (README, "Security model", shows them as a table).

use super::accounts::{Role, User};
use super::applications::Application;

impl Role {
    /// How far the role reaches: a super admin outranks a domain admin,
    /// who outranks a member.
    fn rank(self) -> u8 {
        match self {
            Self::Member => 0,
            Self::DomainAdmin => 1,
            Self::SuperAdmin => 2,
        }
    }

    /// Whether the role reaches at least as far as `other`.
    pub fn reaches(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }
}

/// The least role whose user may hold `scope`: an application holds it
/// only while its owner (or the user who approved it) does. Keyport's own
/// `domains:*` run the whole customer and `audit:read` reads a domain's
/// log, as only admins may in the console; every other permission of the
/// catalog, a registered API's included, is for everyone.
pub fn least_role(scope: &str) -> Role {
    match scope {
        "domains:read" | "domains:write" => Role::SuperAdmin,
        "audit:read" => Role::DomainAdmin,
        _ => Role::Member,
    }
}

/// Whether a user with `role` may hold `scope`.
pub fn may_hold(role: Role, scope: &str) -> bool {
    role.reaches(least_role(scope))
}

/// Whether `admin` may manage `target` (role, disabling, links, factors,
/// moves): a super admin everyone, a domain admin their domain's users
/// but no super admin, a member nobody.
pub fn may_manage_user(admin: &User, target: &User) -> bool {
    match admin.role {
        Role::SuperAdmin => true,
        Role::DomainAdmin => target.domain_id == admin.domain_id && target.role != Role::SuperAdmin,
        Role::Member => false,
    }
}

/// Whether `user` administers the domain `domain_id` (its registration,
/// its users): super admins every domain, domain admins their own.
pub fn may_administer(user: &User, domain_id: &str) -> bool {
    match user.role {
        Role::SuperAdmin => true,
        Role::DomainAdmin => user.domain_id == domain_id,
        Role::Member => false,
    }
}

/// Whether `admin` may give someone `role`: never one above their own.
pub fn may_grant_role(admin: &User, role: Role) -> bool {
    admin.role.is_admin() && admin.role.reaches(role)
}

/// Whether `user` may see and manage `app` (edit, reveal, rotate,
/// transfer, remove): super admins every application, domain admins their
/// domain's but a super admin's, members their own.
pub fn may_manage_application(user: &User, app: &Application) -> bool {
    match user.role {
        Role::SuperAdmin => true,
        Role::DomainAdmin => app.domain_id == user.domain_id && app.owner_role != Role::SuperAdmin,
        Role::Member => app.owner_id == user.id,
    }
}

/// Whether `admin` may hand an application to `owner`: never to someone
/// who then outranks them in it.
pub fn may_hand_to(admin: &User, owner: &User) -> bool {
    admin.role.reaches(owner.role)
}

/// Whether `user` may give `app` access to act for them, and so see its
/// name and icon: super admins any application, everyone else those of
/// their own domain.
pub fn may_authorize(user: &User, app: &Application) -> bool {
    user.role == Role::SuperAdmin || user.domain_id == app.domain_id
}

/// The permissions among `added` that `user` may not give: one above
/// their own role.
pub fn beyond_role<'a>(user: &User, added: impl IntoIterator<Item = &'a String>) -> Vec<&'a str> {
    added
        .into_iter()
        .filter(|s| !may_hold(user.role, s))
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_hold_permissions_up_to_their_rank() {
        for scope in ["domains:read", "domains:write"] {
            assert!(may_hold(Role::SuperAdmin, scope));
            assert!(!may_hold(Role::DomainAdmin, scope));
            assert!(!may_hold(Role::Member, scope));
        }
        assert!(may_hold(Role::DomainAdmin, "audit:read"));
        assert!(!may_hold(Role::Member, "audit:read"));
        for scope in ["clients:read", "clients:write", "reports:read"] {
            assert!(may_hold(Role::Member, scope));
        }
    }

    #[test]
    fn nobody_grants_a_role_above_their_own() {
        let user = |role| User {
            id: "u".into(),
            domain_id: "d".into(),
            email: "u@example.com".into(),
            role,
            disabled_at: None,
        };
        assert!(may_grant_role(&user(Role::SuperAdmin), Role::SuperAdmin));
        assert!(may_grant_role(&user(Role::DomainAdmin), Role::DomainAdmin));
        assert!(!may_grant_role(&user(Role::DomainAdmin), Role::SuperAdmin));
        assert!(!may_grant_role(&user(Role::Member), Role::Member));
        assert!(!may_hand_to(
            &user(Role::DomainAdmin),
            &user(Role::SuperAdmin)
        ));
        assert!(may_hand_to(&user(Role::DomainAdmin), &user(Role::Member)));
    }
}
