//! `/domains`: every domain with its applications, users and last activity;
//! super admins create, rename, limit and delete them, and find an
//! application in any domain. A domain admin reads their own domain.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::components::{ErrorBanner, Field};
use crate::api::auth::take_flash;
use crate::api::domains::{
    domains_page, CreateDomain, DeleteDomain, DomainListing, DomainRow, RenameDomain, Search,
    SetDomainLimit,
};
use crate::api::AppError;
use crate::time::format_optional_time;
use crate::ui::components::LoadFailed;

/// The row forms' actions, which refresh the list and share one banner.
#[derive(Clone, Copy)]
struct RowActions {
    rename: ServerAction<RenameDomain>,
    limit: ServerAction<SetDomainLimit>,
    delete: ServerAction<DeleteDomain>,
}

#[component]
pub fn DomainsPage() -> impl IntoView {
    let query = use_query_map();
    let create = ServerAction::<CreateDomain>::new();
    let rows = RowActions {
        rename: ServerAction::new(),
        limit: ServerAction::new(),
        delete: ServerAction::new(),
    };
    let listing = Resource::new(
        move || {
            (
                query.with(|q| q.get("q")),
                create.version().get()
                    + rows.rename.version().get()
                    + rows.limit.version().get()
                    + rows.delete.version().get(),
            )
        },
        |(q, _)| async move {
            let listing = domains_page(q).await?;
            let created = take_flash("domain".into()).await?;
            let refused = take_flash("domains".into()).await?.map(|f| f.error);
            Ok::<_, AppError>((listing, created, refused))
        },
    );
    view! {
        <Title text="Domains"/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match listing.await {
                    Ok((listing, kept, refused)) => {
                        let row_error = Signal::derive(move || {
                            rows.rename.value().get().and_then(Result::err)
                                .or_else(|| rows.limit.value().get().and_then(Result::err))
                                .or_else(|| rows.delete.value().get().and_then(Result::err))
                                .or_else(|| refused.clone())
                        });
                        let create_error = Signal::derive({
                            let kept = kept.as_ref().map(|f| f.error.clone());
                            move || create.value().get().and_then(Result::err).or_else(|| kept.clone())
                        });
                        let typed = |name| kept.as_ref().and_then(|f| f.value(name));
                        let (name, limit) = (typed("name").unwrap_or_default(), typed("app_limit"));
                        view! {
                            <Head manage=listing.manage/>
                            <SearchForm search=listing.search.clone() everywhere=listing.manage/>
                            {listing.search.clone().map(|search| view! { <Found search/> })}
                            <ErrorBanner error=row_error plainly=true/>
                            <DomainTable listing=listing.clone() rows/>
                            {listing.manage.then(|| view! {
                                <NewDomainForm listing=listing.clone() create error=create_error name limit/>
                            })}
                        }.into_any()
                    }
                    Err(e) => view! { <LoadFailed error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Head(manage: bool) -> impl IntoView {
    let about = if manage {
        "Each domain holds its own users and applications, up to its application limit. Domain admins manage their own domain only."
    } else {
        "Your domain's settings. Only a super admin can change them."
    };
    view! {
        <div class="page-head">
            <div>
                <h1>"Domains"</h1>
                <p class="muted">{about}</p>
            </div>
        </div>
    }
}

/// A plain GET form, so that it works before hydration and a search can be
/// bookmarked.
#[component]
fn SearchForm(search: Option<Search>, everywhere: bool) -> impl IntoView {
    let typed = search.map(|s| s.query).unwrap_or_default();
    let hint = if everywhere {
        "By name or exact client ID, in every domain."
    } else {
        "By name or exact client ID, in your domain."
    };
    view! {
        <form class="card search" method="get" action="/domains" role="search">
            <label for="q">"Find an application"</label>
            <div class="inline-form">
                <input id="q" type="search" name="q" value=typed maxlength="200" aria-describedby="q-hint"/>
                <button type="submit" class="button">"Search"</button>
            </div>
            <p class="hint" id="q-hint">{hint}</p>
        </form>
    }
}

/// What a search found: one list across domains, each leading to its page.
#[component]
fn Found(search: Search) -> impl IntoView {
    if search.found.is_empty() {
        return view! {
            <p class="empty found" role="status">{format!("No application matches \u{201c}{}\u{201d}.", search.query)}</p>
        }
        .into_any();
    }
    let count = search.found.len();
    let summary = if search.more {
        format!("The first {count} applications matching \u{201c}{}\u{201d}; narrow the search to see the rest.", search.query)
    } else {
        format!("{count} matching \u{201c}{}\u{201d}.", search.query)
    };
    view! {
        <section class="found" aria-label="Applications found">
            <p class="muted" role="status">{summary}</p>
            <div class="table-wrap">
                <table>
                    <thead><tr><th>"Application"</th><th>"Client ID"</th><th>"Domain"</th><th>"Owner"</th></tr></thead>
                    <tbody>
                        {search.found.into_iter().map(|f| view! {
                            <tr>
                                <td class="name"><a href=format!("/applications/{}", f.id)><span>{f.name}</span></a></td>
                                <td class="mono-cell"><code>{f.client_id}</code></td>
                                <td><a href=format!("/applications?domain={}", f.domain_id)>{f.domain_name}</a></td>
                                <td>{f.owner_email}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
    .into_any()
}

#[component]
fn DomainTable(listing: DomainListing, rows: RowActions) -> impl IntoView {
    let manage = listing.manage;
    let max = listing.max_limit;
    view! {
        <div class="table-wrap">
            <table class="domains">
                <thead>
                    <tr>
                        <th>"Domain"</th>
                        <th>"Applications"</th>
                        <th>"Users"</th>
                        <th>"Last activity"</th>
                        {manage.then(|| view! { <th>"Settings"</th> })}
                    </tr>
                </thead>
                <tbody>
                    {listing.domains.into_iter().map(|d| view! { <Row d manage max rows/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn Row(d: DomainRow, manage: bool, max: i64, rows: RowActions) -> impl IntoView {
    let full = d.applications >= d.app_limit;
    let removed = (d.removed > 0).then(|| format!("{} removed, kept for restore", d.removed));
    let settings = manage.then(|| view! { <td><Settings d=d.clone() max rows/></td> });
    view! {
        <tr>
            <td>
                <a class="domain-name" href=format!("/applications?domain={}", d.id)>{d.name.clone()}</a>
                <div class="small muted">"Domain ID " <code>{d.id.clone()}</code></div>
            </td>
            <td class="nowrap" data-label="Applications">
                <span class="count" class:full=full>{format!("{} / {}", d.applications, d.app_limit)}</span>
                {removed.map(|r| view! { <div class="small muted">{r}</div> })}
            </td>
            <td data-label="Users">
                <a href=format!("/users?domain={}", d.id)>{format!("{} user{}", d.users, if d.users == 1 { "" } else { "s" })}</a>
            </td>
            <td class="nowrap" data-label="Last activity">{format_optional_time(d.last_activity)}</td>
            {settings}
        </tr>
    }
}

/// Rename, limit and delete, folded away until asked for: plain forms that
/// work without JavaScript too.
#[component]
fn Settings(d: DomainRow, max: i64, rows: RowActions) -> impl IntoView {
    let floor = d.applications.max(1);
    let (name_id, limit_id) = (format!("name-{}", d.id), format!("limit-{}", d.id));
    let floor_hint = format!(
        "1 to {max}, and at least {floor}: it holds {} now.",
        d.applications
    );
    let hint_id = format!("limit-hint-{}", d.id);
    let (rename_id, limit_form_id, delete_id) = (d.id.clone(), d.id.clone(), d.id.clone());
    let (summary, name, delete_label) = (
        format!(" of {}", d.name),
        d.name.clone(),
        format!("Delete {}", d.name),
    );
    view! {
        <details class="settings">
            <summary>"Settings"<span class="visually-hidden">{summary}</span></summary>
            <ActionForm action=rows.rename>
                <input type="hidden" name="id" value=rename_id/>
                <label for=name_id.clone()>"Name"</label>
                <div class="inline-form">
                    <input id=name_id type="text" name="name" value=name required maxlength="64"/>
                    <button type="submit" class="button small">"Rename"</button>
                </div>
            </ActionForm>
            <ActionForm action=rows.limit>
                <input type="hidden" name="id" value=limit_form_id/>
                <label for=limit_id.clone()>"Application limit"</label>
                <div class="inline-form">
                    <input id=limit_id type="number" name="app_limit" value=d.app_limit.to_string()
                        min=floor.to_string() max=max.to_string() required aria-describedby=hint_id.clone()/>
                    <button type="submit" class="button small">"Set limit"</button>
                </div>
                <p class="hint" id=hint_id>{floor_hint}</p>
            </ActionForm>
            {match d.deletable {
                Ok(()) => view! {
                    <ActionForm action=rows.delete>
                        <input type="hidden" name="id" value=delete_id.clone()/>
                        <button type="submit" class="button small danger-outline">{delete_label.clone()}</button>
                    </ActionForm>
                }.into_any(),
                Err(why) => view! { <p class="hint">{why}</p> }.into_any(),
            }}
        </details>
    }
}

#[component]
fn NewDomainForm(
    listing: DomainListing,
    create: ServerAction<CreateDomain>,
    error: Signal<Option<AppError>>,
    name: String,
    limit: Option<String>,
) -> impl IntoView {
    let limit = limit.unwrap_or_else(|| listing.default_limit.to_string());
    view! {
        <section class="card form-card" aria-labelledby="new-domain">
            <h2 id="new-domain">"Create a domain"</h2>
            <ActionForm action=create>
                <ErrorBanner error/>
                <Field label="Name" name="name" value=name required=true error/>
                <Field label="Application limit" name="app_limit" kind="number" value=limit
                    hint="How many applications the domain may hold: 1 to 1,000." required=true error/>
                <button type="submit" class="button primary" disabled=move || create.pending().get()>"Create domain"</button>
            </ActionForm>
        </section>
    }
}
