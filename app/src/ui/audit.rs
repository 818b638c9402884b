//! `/audit`: who did what, when, from where; filtered by actor, action,
//! application and dates, paged newest first, exported as CSV.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::components::{ErrorBanner, Field};
use crate::api::audit::{audit_page, AuditListing, AuditQuery};
use crate::api::AppError;
use crate::time::format_time;
use crate::ui::components::LoadFailed;

fn query_string(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", super::portal::urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let filters = Memo::new(move |_| {
        query.with(|q| AuditQuery {
            actor: q.get("actor"),
            action: q.get("action"),
            client_id: q.get("client_id"),
            from: q.get("from"),
            until: q.get("until"),
            before: q.get("before").and_then(|b| b.parse().ok()),
        })
    });
    let listing = Resource::new(
        move || filters.get(),
        |q| audit_page(q.actor, q.action, q.client_id, q.from, q.until, q.before),
    );
    view! {
        <Title text="Audit log"/>
        <div class="page-head">
            <div>
                <h1>"Audit log"</h1>
                <p class="muted">"Sign-ins, registrations, edits, reveals, rotations, removals, restores, user and permission changes. Secrets are never recorded."</p>
            </div>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let q = filters.get_untracked();
                match listing.await {
                    Ok(listing) => view! { <Filters q=q.clone() listing=Some(listing.clone()) error=None/><Entries q listing/> }.into_any(),
                    Err(e @ AppError::Invalid(_)) => view! { <Filters q listing=None error=Some(e)/> }.into_any(),
                    Err(e) => view! { <LoadFailed error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Filters(q: AuditQuery, listing: Option<AuditListing>, error: Option<AppError>) -> impl IntoView {
    let actions = listing
        .as_ref()
        .map(|l| l.actions.clone())
        .unwrap_or_default();
    let applications = listing.map(|l| l.applications).unwrap_or_default();
    let chosen_action = q.action.clone().unwrap_or_default();
    let chosen_client = q.client_id.clone().unwrap_or_default();
    let action_error = error.as_ref().and_then(|e| e.field("action"));
    let action_invalid = action_error.is_some();
    let error = Signal::derive(move || error.clone());
    let export = format!("/audit.csv?{}", query_string(&q.filters()));
    view! {
        <form class="card filters" method="get" action="/audit">
            <ErrorBanner error/>
            <div class="filter-grid">
                <Field label="Actor" name="actor" kind="search" value=q.actor.clone().unwrap_or_default() hint="An email address." error/>
                <div class="field" class:invalid=action_invalid>
                    <label for="action">"Action"</label>
                    <select id="action" name="action">
                        <option value="">"Any action"</option>
                        {actions.into_iter().map(|a| {
                            let selected = a == chosen_action;
                            view! { <option value=a.clone() selected=selected>{a.replace('_', " ")}</option> }
                        }).collect_view()}
                    </select>
                    <p class="field-error" id="action-error">{action_error}</p>
                </div>
                <div class="field">
                    <label for="client_id">"Application"</label>
                    <select id="client_id" name="client_id">
                        <option value="">"Any application"</option>
                        {applications.into_iter().map(|(client_id, name)| {
                            let selected = client_id == chosen_client;
                            view! { <option value=client_id selected=selected>{name}</option> }
                        }).collect_view()}
                    </select>
                </div>
                <Field label="From" name="from" kind="date" value=q.from.clone().unwrap_or_default() error/>
                <Field label="Until" name="until" kind="date" value=q.until.clone().unwrap_or_default() error/>
            </div>
            <div class="actions">
                <a class="button subtle" href="/audit">"Clear"</a>
                <a class="button" href=export download="keyport-audit.csv">"Export CSV"</a>
                <button type="submit" class="button primary">"Filter"</button>
            </div>
        </form>
    }
}

#[component]
fn Entries(q: AuditQuery, listing: AuditListing) -> impl IntoView {
    let filters = q.filters();
    let newest = format!("/audit?{}", query_string(&filters));
    let older = listing.older.map(|before| {
        let mut pairs = filters.clone();
        pairs.push(("before", before.to_string()));
        format!("/audit?{}", query_string(&pairs))
    });
    if listing.entries.is_empty() {
        return view! { <div class="empty"><p>"No entries match these filters."</p></div> }
            .into_any();
    }
    // A wide table with nothing to focus in it: the region itself takes
    // focus, so that a keyboard can scroll it sideways.
    view! {
        <div class="table-wrap" role="region" aria-label="Audit entries" tabindex="0">
            <table class="audit">
                <thead><tr><th>"Time"</th><th>"Actor"</th><th>"Action"</th><th>"Target"</th><th>"Detail"</th><th>"Address"</th></tr></thead>
                <tbody>
                    {listing.entries.into_iter().map(|e| view! {
                        <tr>
                            <td class="nowrap">{format_time(e.at)}</td>
                            <td>{e.actor}</td>
                            <td><span class="action" class:failed=e.action.ends_with("failed") || e.action.ends_with("replayed")>{e.action.replace('_', " ")}</span></td>
                            <td>{e.target.unwrap_or_default()}</td>
                            <td class="muted">{e.detail.unwrap_or_default()}</td>
                            <td class="mono-cell">{e.address}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <nav class="pager" aria-label="Pages">
            {q.before.is_some().then(|| view! { <a class="button small" href=newest>"Newest"</a> })}
            {older.map(|href| view! { <a class="button small" href=href>"Older entries"</a> })}
        </nav>
    }.into_any()
}
