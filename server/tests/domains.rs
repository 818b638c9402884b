//! Domains an operator runs: created, renamed, limited and deleted by super
//! admins in the portal, through `/api/v1/domains` and on the command line;
//! users moved with their applications or not at all; applications found
//! across domains; and domain admins kept to their own domain.

mod common;
mod process;

use app::domain::accounts::Role;
use app::domain::audit::{self, Action};
use app::domain::tenancy;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::{Browser, Part, TestApp, PNG};
use serde_json::Value;

#[path = "domains/api.rs"]
mod api;
#[path = "domains/command_line.rs"]
mod command_line;
#[path = "domains/manage.rs"]
mod manage;
#[path = "domains/moves.rs"]
mod moves;
#[path = "domains/visibility.rs"]
mod visibility;
use api::*;
use manage::*;
use moves::*;
use visibility::*;

on_both_engines!(
    super_admins_create_domains_with_checked_names_and_limits,
    renames_and_limits_are_audited_with_what_they_were,
    a_domain_is_deleted_only_while_empty,
    a_refused_plain_post_returns_to_the_page_address,
    a_domain_at_its_limit_refuses_registration_and_a_limit_below_its_count,
    a_lowered_limit_and_parallel_registrations_never_overfill_a_domain,
    a_move_takes_the_users_applications_or_changes_nothing,
    a_super_admin_finds_applications_in_every_domain,
    domain_admins_read_their_own_domain_and_touch_no_other,
    the_domains_api_creates_lists_and_changes_domains,
    the_domains_api_needs_its_scope_and_a_super_admin,
);

/// The domain `name` of the domains page, as the page shows it.
pub(crate) fn row<'a>(page: &'a Value, name: &str) -> &'a Value {
    page["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not listed: {page}"))
}

pub(crate) fn field_error(response: &common::Response, field: &str) -> String {
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text
    );
    response.json()["Invalid"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == field)
        .unwrap_or_else(|| panic!("no {field} error: {}", response.text))["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Registers an application in `domain` through the portal's form; the
/// response as it came.
pub(crate) async fn register_in(
    browser: &mut Browser<'_>,
    domain: &str,
    name: &str,
) -> common::Response {
    browser
        .rpc_multipart(
            "applications/create",
            &[
                Part::Text("domain", domain),
                Part::Text("name", name),
                Part::Text("permissions", "clients:read"),
                Part::Text("website_url", "https://example.com"),
                Part::Text("callback_url", "http://127.0.0.1/cb"),
                Part::File("icon", "icon.png", PNG),
            ],
        )
        .await
}

pub(crate) async fn create_domain(browser: &mut Browser<'_>, name: &str, limit: &str) -> String {
    let response = browser
        .rpc("domains/create", &[("name", name), ("app_limit", limit)])
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let page = browser.rpc("domains/page", &[]).await.json();
    row(&page, name)["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn entries(app: &TestApp, action: Action) -> Vec<audit::Record> {
    let filter = audit::Filter {
        action: Some(action),
        ..Default::default()
    };
    audit::search(&app.keyport.db, &filter, 100).await.unwrap()
}
