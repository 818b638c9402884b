//! The signed-in shell: header with tenancy and user, navigation, and the
//! pages inside it. Signed-out visitors are sent to `/login` and back.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Outlet, Redirect, A};
use leptos_router::hooks::{use_location, use_query_map};
use leptos_router::location::Location;

use crate::api::auth::{current_viewer, SignOut, Viewer};
use crate::api::AppError;
use crate::ui::components::set_page_status;

/// The header waits for the signed-in user; the page beside it loads its
/// own data. Keeping the page out of the header's `Suspense` lets each
/// hydrate on its own.
#[component]
pub fn Portal() -> impl IntoView {
    // Read again when `?domain=` changes: the header names that domain.
    let query = use_query_map();
    let refreshed = RwSignal::new(0u32);
    provide_context(ViewerChanged(refreshed));
    let viewer = Resource::new(
        move || (query.with(|q| q.get("domain")), refreshed.get()),
        |(domain, _)| current_viewer(domain),
    );
    let location = use_location();
    let step_up = crate::ui::step_up::provide_step_up();
    view! {
        <div class="shell">
        <Suspense>
            {move || {
                let again = here(&location);
                let back = sign_in_path(&again);
                Suspend::new(async move {
                match viewer.await {
                    // Past the grace period for the second factor their role
                    // needs, only the Account page works.
                    Ok(Some(v)) if v.must_enrol && location.pathname.get_untracked() != "/account" => {
                        view! { <Redirect path="/account"/> }.into_any()
                    }
                    Ok(Some(v)) => view! { <Header viewer=v/> }.into_any(),
                    Ok(None) => view! { <Redirect path=back/> }.into_any(),
                    Err(AppError::Unavailable) => {
                        set_page_status(503);
                        view! { <Unavailable again/> }.into_any()
                    }
                    Err(e) => {
                        set_page_status(e.status());
                        view! { <header><div class="banner error" role="alert">{e.to_string()}</div></header> }.into_any()
                    }
                }
            })}}
        </Suspense>
        <main class="page"><Outlet/></main>
        <crate::ui::step_up::StepUpDialog step_up/>
        </div>
    }
}

/// Tells the header to read the signed-in user again: their second factor
/// changed what it shows.
#[derive(Clone, Copy)]
pub struct ViewerChanged(RwSignal<u32>);

impl ViewerChanged {
    pub fn notify() {
        if let Some(ViewerChanged(signal)) = use_context() {
            signal.update(|n| *n += 1);
        }
    }
}

/// In place of the whole page while the database cannot be reached (the
/// page beside it is hidden by the stylesheet: `.outage ~ .page`).
#[component]
fn Unavailable(again: String) -> impl IntoView {
    view! {
        <Title text="Temporarily unavailable"/>
        <div class="outage centered">
            <div class="card narrow" role="alert">
                <h1>"Keyport is temporarily unavailable"</h1>
                <p>"Keyport cannot reach its database at the moment, so this page cannot be shown."</p>
                <p class="muted">"Try again in a moment. If this persists, ask your administrator to check the database."</p>
                <p><a class="button" href=again>"Try again"</a></p>
            </div>
        </div>
    }
}

/// The current path with its query string.
pub fn here(location: &Location) -> String {
    let search = location.search.get_untracked();
    let path = location.pathname.get_untracked();
    if search.is_empty() {
        path
    } else {
        format!("{path}?{search}")
    }
}

/// The sign-in page, sending the user back to `here` afterwards.
pub fn sign_in_path(here: &str) -> String {
    format!("/login?next={}", urlencode(here))
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[component]
fn Header(viewer: Viewer) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    let menu = menu_for(&viewer);
    view! {
        <header>
            <div class="topbar">
                <a class="brand" href="/applications">
                    <span class="logo" aria-hidden="true">"K"</span>
                    <span>"Keyport"</span>
                </a>
                <div class="who">
                    <span class="email">{viewer.email.clone()}</span>
                    <span class="role">{role_label(&viewer.role)}</span>
                    <A href="/account">"Account"</A>
                    <ActionForm action=sign_out>
                        <button type="submit" class="button subtle">"Sign out"</button>
                    </ActionForm>
                </div>
            </div>
            <div class="tenancy">
                <span>"Customer ID " <code>{viewer.customer_id.clone()}</code></span>
                <span>"Domain ID " <code data-testid="domain-id">{viewer.domain_id.clone()}</code> " (" {viewer.domain_name.clone()} ")"</span>
            </div>
            {viewer.enrol_by.map(|by| view! {
                <p class="banner warn">
                    {if viewer.must_enrol {
                        "Your role needs a passkey or an authenticator app. Set one up to go on.".to_string()
                    } else {
                        format!("Your role needs a passkey or an authenticator app: set one up by {}.", crate::time::format_time(by))
                    }}
                    " " <a href="/account">"Set it up"</a>
                </p>
            })}
        </header>
        <Menu groups=menu/>
    }
}

/// Who sees a link of the menu.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Seen {
    Everyone,
    Admins,
    SuperAdmins,
}

/// A group of the menu: its words (none for a link of its own), the id
/// that labels its list, and its links, each with where it goes, its
/// words, and who sees it.
struct Group {
    title: &'static str,
    id: &'static str,
    links: &'static [(&'static str, &'static str, Seen)],
}

/// The portal's pages in groups, each link with who sees it (the rules
/// table decides what they may do there). A group nobody sees is left out.
const MENU: &[Group] = &[
    Group {
        title: "",
        id: "menu-applications",
        links: &[("/applications", "Applications", Seen::Everyone)],
    },
    Group {
        title: "Access",
        id: "menu-access",
        links: &[
            ("/users", "Users", Seen::Admins),
            ("/domains", "Domains", Seen::Admins),
        ],
    },
    Group {
        title: "APIs and agents",
        id: "menu-apis",
        links: &[
            ("/apis", "APIs", Seen::Admins),
            ("/registration", "Registration", Seen::Admins),
            ("/permissions", "Permissions", Seen::SuperAdmins),
        ],
    },
    Group {
        title: "Activity",
        id: "menu-activity",
        links: &[
            ("/audit", "Audit log", Seen::Admins),
            ("/connected", "Connected apps", Seen::Everyone),
        ],
    },
    Group {
        title: "Tools",
        id: "menu-tools",
        links: &[("/tools/token", "Token inspector", Seen::Everyone)],
    },
];

/// A group as `viewer` sees it: its words, its id and the links they see.
type MenuGroup = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
);

/// The groups and links `viewer` sees.
fn menu_for(viewer: &Viewer) -> Vec<MenuGroup> {
    let sees = |seen: Seen| match seen {
        Seen::Everyone => true,
        Seen::Admins => viewer.is_admin,
        Seen::SuperAdmins => viewer.is_super_admin,
    };
    MENU.iter()
        .map(|group| {
            let links = group
                .links
                .iter()
                .filter(|(_, _, seen)| sees(*seen))
                .map(|(href, label, _)| (*href, *label))
                .collect::<Vec<_>>();
            (group.title, group.id, links)
        })
        .filter(|(_, _, links)| !links.is_empty())
        .collect()
}

/// The menu: a sidebar from 1024 px, a button that opens the same list on
/// a narrower screen. A `<details>`, so it opens without JavaScript; once
/// hydrated, following one of its links closes it.
#[component]
fn Menu(groups: Vec<MenuGroup>) -> impl IntoView {
    let menu = NodeRef::<leptos::html::Details>::new();
    let location = use_location();
    // Not on the first run: a menu the visitor opened before the page
    // came alive stays open.
    Effect::new(move |ran_before: Option<()>| {
        location.pathname.track();
        if ran_before.is_some() {
            if let Some(menu) = menu.get_untracked() {
                menu.set_open(false);
            }
        }
    });
    let groups = groups
        .into_iter()
        .map(|(title, id, links)| {
            let links = links
                .into_iter()
                .map(|(href, label)| view! { <li><A href=href>{label}</A></li> })
                .collect_view();
            if title.is_empty() {
                view! { <ul>{links}</ul> }.into_any()
            } else {
                view! {
                    <p class="menu-group" id=id>{title}</p>
                    <ul aria-labelledby=id>{links}</ul>
                }
                .into_any()
            }
        })
        .collect_view();
    view! {
        <details class="menu" node_ref=menu>
            <summary>"Menu"</summary>
            <nav aria-label="Main">{groups}</nav>
        </details>
    }
}

pub fn role_label(role: &str) -> &'static str {
    match role {
        "super_admin" => "Super admin",
        "domain_admin" => "Domain admin",
        _ => "Member",
    }
}
