//! `/applications`: the table an admin works from.

use std::collections::BTreeSet;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{plural, RemoveDialog};
use crate::api::applications::{
    list_applications, reveal_credentials, AppList, CredentialsView, ListedApp, RevealCredentials,
};
use crate::time::{format_optional_time, format_time};
use crate::ui::charts::sparkline;
use crate::ui::components::LoadFailed;
use crate::ui::components::{initial, use_hydrated, DomainSwitcher};
use crate::ui::markup::Markup;
use leptos::server_fn::ServerFn;

#[component]
pub fn ApplicationsPage() -> impl IntoView {
    let query = use_query_map();
    let list = Resource::new(
        move || query.with(|q| (q.get("domain"), q.get("unused"), q.get("removed"))),
        |(domain, unused, _)| list_applications(domain, unused),
    );
    // The table is built inside a `Suspend` of its own, not a closure under
    // `Suspense`: the server would run such a closure, and build all 63 rows,
    // once for each pass over the view. The closure around it draws the
    // list again when the data changes.
    view! {
        <Title text="Applications"/>
        {move || {
            list.track();
            view! {
                <Suspense fallback=|| view! { <p class="muted">"Loading applications…"</p> }>
                    {Suspend::new(async move {
                        match list.await {
                            Ok(list) => view! { <ApplicationsTable list/> }.into_any(),
                            Err(e) => view! { <LoadFailed error=e/> }.into_any(),
                        }
                    })}
                </Suspense>
            }
        }}
    }
}

#[component]
fn ApplicationsTable(list: AppList) -> impl IntoView {
    let query = use_query_map();
    let hydrated = use_hydrated();
    let selected = RwSignal::new(BTreeSet::<String>::new());
    let dialog = RwSignal::new(false);
    let all_ids: Vec<String> = list.apps.iter().map(|a| a.id.clone()).collect();
    let domain_param = if list.domains.is_empty() {
        String::new()
    } else {
        format!("domain={}&", list.domain.id)
    };
    let unused_param = if list.unused_only { "unused=1&" } else { "" };
    let row_param = format!("{domain_param}{unused_param}");
    let removed = move || {
        query
            .with(|q| q.get("removed"))
            .and_then(|n| n.parse::<usize>().ok())
    };
    let ids = Signal::derive(move || selected.with(|s| s.iter().cloned().collect::<Vec<_>>()));
    let revealed = list.revealed.clone();

    view! {
        {list_head(&list, &domain_param)}
        {move || removed().map(|n| view! {
            <p class="banner ok" role="status">{format!("Removed {}.", plural(n, "application"))}</p>
        })}
        {if list.apps.is_empty() && list.unused_only {
            view! {
                <div class="empty">
                    <p>{format!("Every application was used in the last {} days.", list.unused_days)}</p>
                </div>
            }.into_any()
        } else if list.apps.is_empty() {
            view! {
                <div class="empty">
                    <p>"No applications yet."</p>
                    <p>"Register one to give an integration its client ID and secret."</p>
                </div>
            }.into_any()
        } else {
            view! {
                <form method="get" action="/applications/remove" on:submit=move |ev| {
                    ev.prevent_default();
                    if !selected.with(BTreeSet::is_empty) {
                        dialog.set(true);
                    }
                }>
                    <div class="toolbar">
                        <span class="muted">{move || {
                            let n = selected.with(BTreeSet::len);
                            if n == 0 { "Tick applications to remove them.".to_string() } else { format!("{} selected", plural(n, "application")) }
                        }}</span>
                        <button type="submit" class="button danger"
                            disabled=move || hydrated.get() && selected.with(BTreeSet::is_empty)>
                            "Remove"
                        </button>
                    </div>
                    <div class="table-wrap">
                        // One listener copies for every row's Copy button, which
                        // shows once the table is live.
                        <table class="apps" class:live=hydrated on:click=copy_clicked>
                            {table_head(all_ids, selected, hydrated)}
                            {table_body(list.domain.id, list.apps, revealed, row_param, selected)}
                        </table>
                    </div>
                </form>
                <RemoveDialog ids open=dialog/>
            }.into_any()
        }}
    }
}

/// The table's header, with a box that ticks every row once the table is
/// live.
fn table_head(
    all_ids: Vec<String>,
    selected: RwSignal<BTreeSet<String>>,
    hydrated: ReadSignal<bool>,
) -> impl IntoView {
    let total = all_ids.len();
    let toggle_all = move |ev: leptos::ev::Event| {
        let checked = event_target_checked(&ev);
        selected.set(if checked {
            all_ids.iter().cloned().collect()
        } else {
            BTreeSet::new()
        });
    };
    view! {
            <thead>
                <tr>
                    <th class="check">
                        // Named for screen readers while "select all" waits for the page to come alive.
                        <span class="visually-hidden" hidden=move || hydrated.get()>"Select"</span>
                        <input type="checkbox" aria-label="Select all applications" hidden=move || !hydrated.get()
                            prop:checked=move || { total > 0 && selected.with(BTreeSet::len) == total }
                            on:change=toggle_all/>
                    </th>
                    <th>"Application"</th>
                    <th>"Client ID"</th>
                    <th>"Client Secret"</th>
                    <th>"Permissions"</th>
                    <th>"Owner"</th>
                    <th>"Created"</th>
                    <th>"Last used"</th>
                    <th>"Tokens, 30 days"</th>
                </tr>
            </thead>
    }
}

/// The list's heading: how full the domain is, the filters, and for a super
/// admin the domain switcher.
fn list_head(list: &AppList, domain_param: &str) -> impl IntoView {
    let all_href = format!("/applications?{}", domain_param.trim_end_matches('&'));
    let unused_href = format!("/applications?{domain_param}unused=1");
    let removed_href = format!(
        "/applications/removed?{}",
        domain_param.trim_end_matches('&')
    );
    let unused_label = format!("Not used for {} days", list.unused_days);
    let new_href = if list.domains.is_empty() {
        "/applications/new".to_string()
    } else {
        format!("/applications/new?domain={}", list.domain.id)
    };
    let at_limit = list.count >= list.limit;
    let domains = list.domains.clone();
    let current_domain = list.domain.id.clone();
    let (count, limit, domain_name) = (list.count, list.limit, list.domain.name.clone());
    let (unused_only, removed) = (list.unused_only, list.removed);
    view! {
        <div class="page-head">
            <div>
                <h1>"Applications"</h1>
                <p class="muted">
                    <span class="count" class:full=at_limit>{format!("{count} / {limit} applications")}</span>
                    " in domain " <strong>{domain_name}</strong>
                </p>
            </div>
            <a class="button primary" href=new_href>"Register New Application"</a>
        </div>
        <nav class="tabs" aria-label="Filter applications">
            <a href=all_href aria-current=(!unused_only).then_some("page")>"All"</a>
            <a href=unused_href aria-current=unused_only.then_some("page")>{unused_label.clone()}</a>
            <a class="aside" href=removed_href>{format!("Recently removed ({removed})")}</a>
        </nav>
        <DomainSwitcher domains current=current_domain page="/applications"/>
    }
}

/// The table's body: a row for each application. The server writes the
/// rows' markup once for as long as what they show stays the same (their
/// markup is most of the page, and an admin's list changes far less often
/// than it is shown); the browser hydrates each row from that markup, as
/// from any other. A revealed secret is never kept: such a list is written
/// afresh.
fn table_body(
    domain: String,
    apps: Vec<ListedApp>,
    revealed: Option<(String, CredentialsView)>,
    row_param: String,
    selected: RwSignal<BTreeSet<String>>,
) -> AnyView {
    let secret_shown = revealed.is_some();
    let rows = move |apps: Vec<ListedApp>, row_param: String| {
        apps.into_iter()
            .map(|app| {
                let shown = revealed
                    .as_ref()
                    .filter(|(id, _)| *id == app.id)
                    .map(|(_, c)| c.clone());
                view! { <Row app selected shown domain_param=row_param.clone()/> }
            })
            .collect_view()
    };
    #[cfg(feature = "ssr")]
    if !secret_shown {
        let markup = crate::api::applications::list_rows(&domain, &row_param, &apps, || {
            rows(apps.clone(), row_param.clone()).to_html()
        });
        return view! { <tbody inner_html=markup></tbody> }.into_any();
    }
    // In the browser, only the server's branch above reads these.
    let _ = (domain, secret_shown);
    view! { <tbody>{rows(apps, row_param)}</tbody> }.into_any()
}

#[component]
fn Row(
    app: ListedApp,
    selected: RwSignal<BTreeSet<String>>,
    shown: Option<CredentialsView>,
    domain_param: String,
) -> impl IntoView {
    let id = app.id.clone();
    let secret = RwSignal::new(shown.map(|c| c.client_secret));
    let hide_href = format!("/applications?{}", domain_param.trim_end_matches('&'));
    let checkbox_id = id.clone();
    let is_checked = Signal::derive({
        let id = id.clone();
        move || selected.with(|s| s.contains(&id))
    });
    let toggle = {
        let id = id.clone();
        move |ev: leptos::ev::Event| {
            let checked = event_target_checked(&ev);
            selected.update(|s| {
                if checked {
                    s.insert(id.clone());
                } else {
                    s.remove(&id);
                }
            });
        }
    };
    let step_up = crate::ui::step_up::use_step_up();
    let show = {
        let id = id.clone();
        move |ev: leptos::ev::MouseEvent| {
            ev.prevent_default();
            reveal_secret(id.clone(), secret, step_up);
        }
    };
    let hide = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        secret.set(None);
    };
    let label = format!("Select {}", app.name);
    let name = app.name.clone();
    let public = app.public;
    view! {
        <tr class:selected=is_checked>
            <td class="check">
                <input type="checkbox" name="ids" value=checkbox_id aria-label=label
                    prop:checked=is_checked on:change=toggle/>
            </td>
            <td class="name" inner_html=name_cell(&app)></td>
            <td class="mono-cell" inner_html=client_id_cell(&app.client_id)></td>
            <td class="secret-cell">
                {move || match secret.get() {
                    _ if public => view! { <span class="muted">"None: public client"</span> }.into_any(),
                    Some(value) => view! {
                        <code class="secret">{value.clone()}</code>
                        <a class="button small" href=hide_href.clone() on:click=hide aria-label=format!("Hide secret of {name}")>"Hide"</a>
                        <button type="button" class="button small copy" data-copy=value aria-label="Copy client secret">"Copy"</button>
                    }.into_any(),
                    None => view! {
                        <span class="dots" aria-label="hidden">"••••••••"</span>
                        // Without JavaScript, the list's form posts to the
                        // reveal, which returns here once with the secret.
                        <button type="submit" class="button small" formmethod="post"
                            formaction={<RevealCredentials as ServerFn>::PATH} name="id" value=id.clone()
                            on:click=show.clone() aria-label=format!("Show secret of {name}")>"Show"</button>
                    }.into_any(),
                }}
            </td>
            <td inner_html=permission_tags(&app.permissions)></td>
            <td>{app.owner.clone()}</td>
            <td class="nowrap">{format_time(app.created_at)}</td>
            <td class="nowrap">{format_optional_time(app.last_used_at)}</td>
            <td inner_html=sparkline(&app.usage)></td>
        </tr>
    }
}

/// Fetches a row's secret into `secret`; asked for a fresh check first,
/// fetches it once the user has confirmed.
fn reveal_secret(
    id: String,
    secret: RwSignal<Option<String>>,
    step_up: Option<crate::ui::step_up::StepUp>,
) {
    leptos::task::spawn_local(async move {
        match reveal_credentials(id.clone(), None).await {
            Ok(credentials) => secret.set(Some(credentials.client_secret)),
            Err(crate::api::AppError::StepUpRequired) => {
                if let Some(step_up) = step_up {
                    step_up.then(move || reveal_secret(id.clone(), secret, Some(step_up)));
                }
            }
            Err(_) => {}
        }
    });
}

/// Copies the `data-copy` value of the Copy button clicked in the table.
fn copy_clicked(ev: leptos::ev::MouseEvent) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let button = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|e| e.closest("[data-copy]").ok().flatten());
        if let Some((button, value)) =
            button.and_then(|b| b.get_attribute("data-copy").map(|v| (b, v)))
        {
            let _ = window().navigator().clipboard().write_text(&value);
            button.set_text_content(Some("Copied"));
            set_timeout(
                move || button.set_text_content(Some("Copy")),
                std::time::Duration::from_millis(1500),
            );
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ev;
}

// The cells below hold no control: they are written as markup, which costs
// the server a fraction of a reactive view for each of 63 rows.

/// The application's icon (or initial) and name, linking to its page.
fn name_cell(app: &ListedApp) -> String {
    let mut cell = Markup::with_capacity(256);
    cell.raw("<a href=\"/applications/")
        .text(&app.id)
        .raw("\">");
    match &app.icon_url {
        Some(src) => cell
            .raw("<img class=\"icon\" src=\"")
            .text(src)
            .raw("\" alt=\"\" width=\"32\" height=\"32\">"),
        None => cell
            .raw("<span class=\"icon placeholder\" aria-hidden=\"true\">")
            .text(&initial(&app.name))
            .raw("</span>"),
    };
    cell.raw("<span>").text(&app.name).raw("</span></a>");
    if let Some(by) = &app.registered_by {
        cell.raw("<span class=\"registered-by\">")
            .text(by)
            .raw("</span>");
    }
    cell.into_string()
}

/// The client ID with its Copy button (the table's listener copies it).
fn client_id_cell(client_id: &str) -> String {
    let mut cell = Markup::with_capacity(192);
    cell.raw("<code>")
        .text(client_id)
        .raw("</code><button type=\"button\" class=\"button small copy\" data-copy=\"")
        .text(client_id)
        .raw("\" aria-label=\"Copy client ID\">Copy</button>");
    cell.into_string()
}

fn permission_tags(permissions: &[String]) -> String {
    let mut tags = Markup::with_capacity(128);
    tags.raw("<ul class=\"tags\">");
    for p in permissions {
        tags.raw("<li>").text(p).raw("</li>");
    }
    tags.raw("</ul>");
    tags.into_string()
}
