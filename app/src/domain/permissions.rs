//! The permission catalog: the scopes applications can be granted.

use super::access::Access;
use super::audit::Action;
use super::{Error, Invalid, Keyport, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Permission {
    pub scope: String,
    pub description: String,
    /// The API it belongs to; `None`: Keyport's own management API.
    pub api_id: Option<String>,
}

const SCOPE_MAX: usize = 64;
const DESCRIPTION_MAX: usize = 200;

/// RFC 6749 §3.3 allows any printable ASCII but space, `"` and `\`; the
/// catalog keeps to a narrower, readable set such as `clients:read`.
pub(crate) fn check_scope(scope: &str) -> Option<Invalid> {
    let ok = !scope.is_empty()
        && scope.len() <= SCOPE_MAX
        && scope.starts_with(|c: char| c.is_ascii_lowercase())
        && scope
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.:-".contains(c));
    (!ok).then(|| {
        Invalid::new(
            "scope",
            "Use 1–64 lowercase letters, digits and _ . : - starting with a letter, such as reports:read.",
        )
    })
}

pub(crate) fn check_description(description: &str) -> Option<Invalid> {
    let len = description.chars().count();
    if len == 0 {
        Some(Invalid::new(
            "description",
            "Describe what the permission allows.",
        ))
    } else if len > DESCRIPTION_MAX || description.chars().any(super::validate::is_hidden_control) {
        Some(Invalid::new(
            "description",
            format!("Use at most {DESCRIPTION_MAX} characters on one line."),
        ))
    } else {
        None
    }
}

impl Keyport {
    pub async fn permissions(&self) -> Result<Vec<Permission>> {
        Ok(
            sqlx::query_as("SELECT scope, description, api_id FROM permissions ORDER BY scope")
                .fetch_all(&self.db.pool)
                .await?,
        )
    }

    pub async fn add_permission(
        &self,
        access: &Access,
        scope: &str,
        description: &str,
    ) -> Result<Permission> {
        access.require_super_admin()?;
        let (scope, description) = (scope.trim(), description.trim());
        let problems: Vec<Invalid> = [check_scope(scope), check_description(description)]
            .into_iter()
            .flatten()
            .collect();
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        let inserted = self
            .db
            .write_one(
                sqlx::query(
                    "INSERT INTO permissions (scope, description, created_at) VALUES ($1, $2, $3)",
                )
                .bind(scope)
                .bind(description)
                .bind(self.now()),
            )
            .await;
        let exists = Invalid::new("scope", "This permission already exists.");
        super::store::on_constraint(inserted, &[("permissions_pkey", exists)])?;
        self.audit(None, access.actor(), Action::PermissionAdded, Some(scope))
            .await?;
        Ok(Permission {
            scope: scope.into(),
            description: description.into(),
            api_id: None,
        })
    }

    pub async fn describe_permission(
        &self,
        access: &Access,
        scope: &str,
        description: &str,
    ) -> Result<()> {
        access.require_super_admin()?;
        let description = description.trim();
        if let Some(problem) = check_description(description) {
            return Err(Error::Invalid(vec![problem]));
        }
        if !super::validate::storable(scope) {
            return Err(Error::NotFound);
        }
        let updated = self
            .db
            .write_one(
                sqlx::query("UPDATE permissions SET description = $1 WHERE scope = $2")
                    .bind(description)
                    .bind(scope),
            )
            .await?;
        if updated.rows_affected() == 0 {
            return Err(Error::NotFound);
        }
        self.audit(
            None,
            access.actor(),
            Action::PermissionDescribed,
            Some(scope),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_readable_tokens() {
        for good in ["clients:read", "reports.v2:write", "a"] {
            assert!(check_scope(good).is_none(), "{good}");
        }
        for bad in [
            "",
            "Clients:read",
            "has space",
            "1abc",
            "quote\"",
            &"x".repeat(65),
        ] {
            assert!(check_scope(bad).is_some(), "{bad}");
        }
    }
}
