//! `/applications`: the table an admin works from.

use std::collections::BTreeSet;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{plural, AppIcon, RemoveDialog};
use crate::api::applications::{
    list_applications, reveal_credentials, AppList, AppView, CredentialsView,
};
use crate::ui::charts::Sparkline;
use crate::ui::components::{format_optional_time, format_time, use_hydrated, CopyButton};

#[component]
pub fn ApplicationsPage() -> impl IntoView {
    let query = use_query_map();
    let list = Resource::new(
        move || {
            query.with(|q| {
                (
                    q.get("domain"),
                    q.get("reveal"),
                    q.get("unused"),
                    q.get("removed"),
                )
            })
        },
        |(domain, reveal, unused, _)| list_applications(domain, reveal, unused),
    );
    view! {
        <Title text="Applications"/>
        <Suspense fallback=|| view! { <p class="muted">"Loading applications…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(list) => view! { <ApplicationsTable list/> }.into_any(),
                    Err(e) => view! { <p class="banner error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ApplicationsTable(list: AppList) -> impl IntoView {
    let query = use_query_map();
    let hydrated = use_hydrated();
    let selected = RwSignal::new(BTreeSet::<String>::new());
    let dialog = RwSignal::new(false);
    let all_ids: Vec<String> = list.apps.iter().map(|a| a.id.clone()).collect();
    let total = all_ids.len();
    let domain_param = if list.domains.is_empty() {
        String::new()
    } else {
        format!("domain={}&", list.domain.id)
    };
    let unused_param = if list.unused_only { "unused=1&" } else { "" };
    let all_href = format!("/applications?{}", domain_param.trim_end_matches('&'));
    let unused_href = format!("/applications?{domain_param}unused=1");
    let removed_href = format!(
        "/applications/removed?{}",
        domain_param.trim_end_matches('&')
    );
    let unused_label = format!("Not used for {} days", list.unused_days);
    let row_param = format!("{domain_param}{unused_param}");
    let new_href = if list.domains.is_empty() {
        "/applications/new".to_string()
    } else {
        format!("/applications/new?domain={}", list.domain.id)
    };
    let removed = move || {
        query
            .with(|q| q.get("removed"))
            .and_then(|n| n.parse::<usize>().ok())
    };
    let ids = Signal::derive(move || selected.with(|s| s.iter().cloned().collect::<Vec<_>>()));
    let toggle_all = {
        let all_ids = all_ids.clone();
        move |ev: leptos::ev::Event| {
            let checked = event_target_checked(&ev);
            selected.set(if checked {
                all_ids.iter().cloned().collect()
            } else {
                BTreeSet::new()
            });
        }
    };
    let at_limit = list.count >= list.limit;
    let domains = list.domains.clone();
    let current_domain = list.domain.id.clone();
    let revealed = list.revealed.clone();

    view! {
        <div class="page-head">
            <div>
                <h1>"Applications"</h1>
                <p class="muted">
                    <span class="count" class:full=at_limit>{format!("{} / {} applications", list.count, list.limit)}</span>
                    " in domain " <strong>{list.domain.name.clone()}</strong>
                </p>
            </div>
            <a class="button primary" href=new_href>"Register New Application"</a>
        </div>
        <nav class="tabs" aria-label="Filter applications">
            <a href=all_href aria-current=(!list.unused_only).then_some("page")>"All"</a>
            <a href=unused_href aria-current=list.unused_only.then_some("page")>{unused_label.clone()}</a>
            <a class="aside" href=removed_href>{format!("Recently removed ({})", list.removed)}</a>
        </nav>
        {(domains.len() > 1).then(|| view! {
            <form class="switcher" method="get" action="/applications">
                <label for="domain">"Domain"</label>
                <select id="domain" name="domain">
                    {domains.into_iter().map(|d| {
                        let chosen = d.id == current_domain;
                        view! { <option value=d.id selected=chosen>{d.name}</option> }
                    }).collect_view()}
                </select>
                <button type="submit" class="button small">"Switch"</button>
            </form>
        })}
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
                        <table class="apps">
                            <thead>
                                <tr>
                                    <th class="check">
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
                            <tbody>
                                {list.apps.into_iter().map(|app| {
                                    let shown = revealed.as_ref().filter(|(id, _)| *id == app.id).map(|(_, c)| c.clone());
                                    view! { <Row app selected shown domain_param=row_param.clone()/> }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                </form>
                <RemoveDialog ids open=dialog/>
            }.into_any()
        }}
    }
}

#[component]
fn Row(
    app: AppView,
    selected: RwSignal<BTreeSet<String>>,
    shown: Option<CredentialsView>,
    domain_param: String,
) -> impl IntoView {
    let id = app.id.clone();
    let secret = RwSignal::new(shown.map(|c| c.client_secret));
    let reveal_href = format!("/applications?{domain_param}reveal={}", app.id);
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
    let show = {
        let id = id.clone();
        move |ev: leptos::ev::MouseEvent| {
            ev.prevent_default();
            let id = id.clone();
            leptos::task::spawn_local(async move {
                if let Ok(credentials) = reveal_credentials(id).await {
                    secret.set(Some(credentials.client_secret));
                }
            });
        }
    };
    let hide = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        secret.set(None);
    };
    let client_id = app.client_id.clone();
    let label = format!("Select {}", app.name);
    let name = app.name.clone();
    view! {
        <tr class:selected=is_checked>
            <td class="check">
                <input type="checkbox" name="ids" value=checkbox_id aria-label=label
                    prop:checked=is_checked on:change=toggle/>
            </td>
            <td class="name">
                <a href=format!("/applications/{}", app.id)>
                    <AppIcon name=app.name.clone() url=app.icon_url.clone()/>
                    <span>{app.name.clone()}</span>
                </a>
            </td>
            <td class="mono-cell">
                <code>{app.client_id.clone()}</code>
                <CopyButton value=Signal::derive(move || Some(client_id.clone())) label="Copy client ID"/>
            </td>
            <td class="secret-cell">
                {move || match secret.get() {
                    Some(value) => view! {
                        <code class="secret">{value}</code>
                        <a class="button small" href=hide_href.clone() on:click=hide aria-label=format!("Hide secret of {name}")>"Hide"</a>
                    }.into_any(),
                    None => view! {
                        <span class="dots" aria-label="hidden">"••••••••"</span>
                        <a class="button small" href=reveal_href.clone() on:click=show.clone() aria-label=format!("Show secret of {name}")>"Show"</a>
                    }.into_any(),
                }}
                <CopyButton value=secret label="Copy client secret"/>
            </td>
            <td>
                <ul class="tags">
                    {app.permissions.iter().map(|p| view! { <li>{p.clone()}</li> }).collect_view()}
                </ul>
            </td>
            <td>{app.owner.clone()}</td>
            <td class="nowrap">{format_time(app.created_at)}</td>
            <td class="nowrap">{format_optional_time(app.last_used_at)}</td>
            <td><Sparkline values=app.usage.clone()/></td>
        </tr>
    }
}
