//! The audit log for admins: filters, keyset pages and the CSV export's
//! address.

use crate::api::codec::JsonText;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::AppError;

/// Entries per page.
pub const PAGE: i64 = 50;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub client_id: Option<String>,
    /// `YYYY-MM-DD`, inclusive.
    pub from: Option<String>,
    /// `YYYY-MM-DD`, inclusive.
    pub until: Option<String>,
    pub before: Option<i64>,
}

impl AuditQuery {
    /// The query string of these filters (without paging).
    pub fn filters(&self) -> Vec<(&'static str, String)> {
        [
            ("actor", &self.actor),
            ("action", &self.action),
            ("client_id", &self.client_id),
            ("from", &self.from),
            ("until", &self.until),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().filter(|v| !v.is_empty()).map(|v| (k, v)))
        .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntryView {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub address: String,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditListing {
    pub entries: Vec<AuditEntryView>,
    /// The `before` of the next (older) page, if there is one.
    pub older: Option<i64>,
    pub actions: Vec<String>,
    /// Applications to filter by: client ID and name.
    pub applications: Vec<(String, String)>,
}

#[cfg(feature = "ssr")]
impl AuditQuery {
    /// The domain filter for `user`: admins read their domain, super admins
    /// every domain. Each field that does not parse is named.
    pub fn to_filter(
        &self,
        user: &crate::domain::accounts::User,
    ) -> Result<crate::domain::audit::Filter, AppError> {
        use crate::domain::accounts::Role;

        if !user.role.is_admin() {
            return Err(AppError::Forbidden);
        }
        let domain = (user.role != Role::SuperAdmin).then(|| user.domain_id.to_string());
        Ok(self.parse(domain)?)
    }

    /// These filters within `domain_id` (`None`: every domain).
    pub fn parse(
        &self,
        domain_id: Option<String>,
    ) -> crate::domain::Result<crate::domain::audit::Filter> {
        crate::domain::audit::Filter::parse(
            domain_id,
            crate::domain::audit::Typed {
                actor: self.actor.as_deref(),
                action: self.action.as_deref(),
                client_id: self.client_id.as_deref(),
                from: self.from.as_deref(),
                until: self.until.as_deref(),
            },
            self.before,
        )
    }
}

#[cfg(feature = "ssr")]
impl From<crate::domain::audit::Record> for AuditEntryView {
    fn from(r: crate::domain::audit::Record) -> Self {
        Self {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            target: r.target,
            address: r.address,
            detail: r.detail,
        }
    }
}

#[server(output = JsonText, prefix = "/rpc", endpoint = "audit/page")]
pub async fn audit_page(
    actor: Option<String>,
    action: Option<String>,
    client_id: Option<String>,
    from: Option<String>,
    until: Option<String>,
    before: Option<i64>,
) -> Result<AuditListing, AppError> {
    use super::request::keyport;
    use crate::api::access::allow;
    use crate::domain::{applications, audit};

    let query = AuditQuery {
        actor,
        action,
        client_id,
        from,
        until,
        before,
    };
    let user = allow::<AuditPage>().await?.user()?;
    let filter = query.to_filter(&user)?;
    let keyport = keyport()?;
    let mut entries = audit::search(&keyport.db, &filter, PAGE + 1).await?;
    let older = (entries.len() as i64 > PAGE).then(|| {
        entries.truncate(PAGE as usize);
        entries.last().map(|e| e.id).unwrap_or_default()
    });
    let domain = applications::visible_domain(&keyport, &user, None).await?;
    let applications = keyport
        .list_applications(&user, &domain)
        .await?
        .into_iter()
        .map(|a| (a.app.client_id.into(), a.app.name))
        .collect();
    Ok(AuditListing {
        entries: entries.into_iter().map(Into::into).collect(),
        older,
        actions: audit::Action::ALL
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
        applications,
    })
}
