//! Finding applications across domains by name or client ID.

use crate::domain::accounts::{Role, User};
use crate::domain::validate::storable;
use crate::domain::{Error, Keyport, Result};

/// The most applications a search answers with.
pub const FOUND_MAX: usize = 50;
/// The longest text a search looks for.
const QUERY_MAX: usize = 200;

/// An application a search found, with its domain.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Found {
    pub id: String,
    pub name: String,
    pub client_id: String,
    pub domain_id: String,
    pub domain_name: String,
    pub owner_email: String,
}

impl Keyport {
    /// Applications in use whose name holds `query` (any case) or whose
    /// client ID is `query`: across every domain for a super admin, in
    /// their own for a domain admin. At most `FOUND_MAX`, by name; the
    /// flag says whether there were more.
    pub async fn find_applications(&self, admin: &User, query: &str) -> Result<(Vec<Found>, bool)> {
        let query = query.trim();
        if !admin.role.is_admin() {
            return Err(Error::Forbidden);
        }
        if query.is_empty() || !storable(query) {
            return Ok((Vec::new(), false));
        }
        if query.chars().count() > QUERY_MAX {
            return Err(Error::invalid(
                "q",
                format!("Search for at most {QUERY_MAX} characters."),
            ));
        }
        let pattern = format!("%{}%", like_escaped(&query.to_lowercase()));
        let everywhere = admin.role == Role::SuperAdmin;
        let mut found: Vec<Found> = sqlx::query_as(
            "SELECT a.id, a.name, a.client_id, a.domain_id, d.name AS domain_name, u.email AS owner_email \
             FROM applications a JOIN domains d ON d.id = a.domain_id JOIN users u ON u.id = a.owner_id \
             WHERE a.removed_at IS NULL AND (lower(a.name) LIKE $1 ESCAPE '\\' OR a.client_id = $2) \
             AND ($3 OR a.domain_id = $4) \
             ORDER BY lower(a.name), lower(d.name), a.id LIMIT $5",
        )
        .bind(pattern)
        .bind(query)
        .bind(everywhere)
        .bind(&admin.domain_id)
        .bind(FOUND_MAX as i64 + 1)
        .fetch_all(&self.db.pool)
        .await?;
        let more = found.len() > FOUND_MAX;
        found.truncate(FOUND_MAX);
        Ok((found, more))
    }
}

/// `text` with LIKE's wildcards and escape taken literally.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_takes_wildcards_literally() {
        assert_eq!(like_escaped("50%_off\\"), "50\\%\\_off\\\\");
    }
}
