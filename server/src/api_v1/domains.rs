//! `/api/v1/domains`: the customer's domains for automation. Reading takes
//! `domains:read`, creating and changing `domains:write`, and either only
//! for a token whose user is a super admin now.

use app::domain::tenancy::{self, DomainChange};
use app::domain::Keyport;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, Caller};

/// A domain as the API answers with it.
fn domain_json(domain: &tenancy::Domain) -> Value {
    json!({
        "domain_id": domain.id,
        "name": domain.name,
        "app_limit": domain.app_limit,
    })
}

/// Every domain with its counts, by name.
pub async fn list(State(keyport): State<Keyport>, _: Caller) -> Result<Response, ApiError> {
    let all = tenancy::summaries(&keyport.db).await?;
    let body: Vec<Value> = all
        .into_iter()
        .map(|s| {
            let mut domain = domain_json(&s.domain);
            domain["applications"] = s.applications.into();
            domain["users"] = s.users.into();
            domain["created_at"] = s.created_at.into();
            domain["last_activity"] = s.last_activity.into();
            domain
        })
        .collect();
    Ok(Json(body).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDomain {
    name: String,
    app_limit: Option<i64>,
}

pub async fn create(
    State(keyport): State<Keyport>,
    caller: Caller,
    body: Result<Json<NewDomain>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(ApiError::json)?;
    let domain = keyport
        .create_domain(&caller.access(), &body.name, body.app_limit)
        .await?;
    Ok((StatusCode::CREATED, Json(domain_json(&domain))).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    name: Option<String>,
    app_limit: Option<i64>,
}

/// Renames a domain or sets its application limit, both or neither.
pub async fn change(
    State(keyport): State<Keyport>,
    caller: Caller,
    Path(domain_id): Path<String>,
    body: Result<Json<Change>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(ApiError::json)?;
    let change = DomainChange {
        name: body.name.as_deref(),
        app_limit: body.app_limit,
    };
    let domain = keyport
        .change_domain(&caller.access(), &domain_id, change)
        .await
        .map_err(|e| match e {
            app::domain::Error::NotFound => ApiError::domain_not_found(),
            e => e.into(),
        })?;
    Ok(Json(domain_json(&domain)).into_response())
}
