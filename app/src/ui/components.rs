//! Small pieces shared by the pages: labelled fields with their own error,
//! the error banner, the not-found page.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::applications::{DomainView, PermissionView};
use crate::api::AppError;

/// A labelled input whose error, if any, is shown right under it and tied to
/// it for screen readers.
#[component]
pub fn Field(
    label: &'static str,
    name: &'static str,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional, into)] value: Option<String>,
    #[prop(optional)] autocomplete: Option<&'static str>,
    #[prop(optional)] required: bool,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(into)] error: Signal<Option<AppError>>,
) -> impl IntoView {
    let message = move || error.get().and_then(|e| e.field(name));
    let error_id = format!("{name}-error");
    let hint_id = format!("{name}-hint");
    let described_by = if hint.is_some() {
        format!("{hint_id} {error_id}")
    } else {
        error_id.clone()
    };
    view! {
        <div class="field" class:invalid=move || message().is_some()>
            <label for=name>{label}</label>
            <input
                id=name
                name=name
                type=kind
                value=value
                autocomplete=autocomplete
                required=required
                aria-describedby=described_by
                aria-invalid=move || if message().is_some() { "true" } else { "false" }
            />
            {hint.map(|h| view! { <p class="hint" id=hint_id>{h}</p> })}
            <p class="field-error" id=error_id>{message}</p>
        </div>
    }
}

/// The message of a refused request, above the form (`plainly`: every
/// field's message, for forms without fields of their own). A sensitive
/// action refused for want of a fresh check opens the step-up dialog,
/// which then submits the form again.
#[component]
pub fn ErrorBanner(
    #[prop(into)] error: Signal<Option<AppError>>,
    #[prop(optional)] plainly: bool,
) -> impl IntoView {
    crate::ui::step_up::ask_on_step_up(error);
    move || {
        error.get().map(|e| match e {
            AppError::StepUpRequired => view! {
                <p class="banner info" role="status">
                    {e.to_string()} " " <a href=confirm_path()>"Confirm"</a>
                </p>
            }
            .into_any(),
            AppError::Unauthenticated => view! {
                <p class="banner error" role="alert">
                    {e.to_string()} " " <a href=sign_in_here()>"Sign in"</a>
                </p>
            }
            .into_any(),
            e => {
                let text = if plainly { e.plainly() } else { e.to_string() };
                view! { <p class="banner error" role="alert">{text}</p> }.into_any()
            }
        })
    }
}

/// Why a page's data could not be read. A session that ended meanwhile
/// (it expired, or was signed out elsewhere) goes to the sign-in page and
/// comes back here afterwards, as a reload of the page would.
#[component]
pub fn LoadFailed(error: AppError) -> impl IntoView {
    if error == AppError::Unauthenticated {
        return view! { <leptos_router::components::Redirect path=sign_in_here()/> }.into_any();
    }
    view! { <p class="banner error" role="alert">{error.to_string()}</p> }.into_any()
}

/// The sign-in page, returning to this one.
fn sign_in_here() -> String {
    let location = leptos_router::hooks::use_location();
    crate::ui::portal::sign_in_path(&crate::ui::portal::here(&location))
}

/// The confirmation page, returning to this one.
fn confirm_path() -> String {
    let location = leptos_router::hooks::use_location();
    let here = crate::ui::portal::here(&location);
    format!("/confirm?next={}", crate::ui::portal::urlencode(&here))
}

/// A super admin's choice of domain for `page`, shown only when there is
/// more than one: a plain GET form, so it works before hydration too.
#[component]
pub fn DomainSwitcher(
    domains: Vec<DomainView>,
    current: String,
    page: &'static str,
) -> impl IntoView {
    (domains.len() > 1).then(|| {
        view! {
            <form class="switcher" method="get" action=page>
                <label for="domain">"Domain"</label>
                <select id="domain" name="domain">
                    {domains.into_iter().map(|d| {
                        let chosen = d.id == current;
                        view! { <option value=d.id selected=chosen>{d.name}</option> }
                    }).collect_view()}
                </select>
                <button type="submit" class="button small">"Switch"</button>
            </form>
        }
    })
}

/// An application's icon, or its initial on a tinted square.
#[component]
pub fn AppIcon(
    name: String,
    url: Option<String>,
    #[prop(default = "icon")] class: &'static str,
) -> impl IntoView {
    match url {
        Some(src) => view! { <img class=class src=src alt="" width="32" height="32"/> }.into_any(),
        None => view! { <span class=format!("{class} placeholder") aria-hidden="true">{initial(&name)}</span> }
            .into_any(),
    }
}

/// What stands for an application without an icon: its first letter.
pub fn initial(name: &str) -> String {
    name.chars()
        .next()
        .map(|c| c.to_uppercase().to_string())
        .unwrap_or_default()
}

/// While rendering on the server, answers the page with `status`.
pub fn set_page_status(status: u16) {
    #[cfg(feature = "ssr")]
    if let (Some(response), Ok(status)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::StatusCode::from_u16(status),
    ) {
        response.set_status(status);
    }
    #[cfg(not(feature = "ssr"))]
    let _ = status;
}

#[component]
pub fn NotFound() -> impl IntoView {
    set_page_status(404);
    view! {
        <Title text="Not found"/>
        <main class="centered">
            <div class="card narrow">
                <h1>"Page not found"</h1>
                <p>"There is nothing at this address, or you are not allowed to see it."</p>
                <p><a href="/applications">"Back to applications"</a></p>
            </div>
        </main>
    }
}

/// Whether the WASM has taken over the page: one signal for the whole app.
#[derive(Clone, Copy)]
struct Hydrated(ReadSignal<bool>);

/// False during server rendering and until the WASM has taken over the page;
/// true after.
fn hydration_signal() -> ReadSignal<bool> {
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    hydrated
}

/// Provides one `Hydrated` signal to every component of the app (a list
/// row has several controls that ask for it).
pub fn provide_hydrated() {
    provide_context(Hydrated(hydration_signal()));
}

/// False during server rendering and until the WASM has taken over the page;
/// true after. Controls that only work with JavaScript show from then on.
///
/// A page in a chunk of its own (`lazy_page!`) is hydrated after the shared
/// signal turned true: hydration takes the server's markup as it is, so a
/// control drawn for "not yet" would stay so. Such a page gets a signal of
/// its own, which turns true once the page is live.
pub fn use_hydrated() -> ReadSignal<bool> {
    match use_context::<Hydrated>() {
        Some(Hydrated(shared)) if !shared.get_untracked() => shared,
        _ => hydration_signal(),
    }
}

/// Copies `value()` to the clipboard; shown once hydrated and while there is
/// a value to copy.
#[component]
pub fn CopyButton(
    #[prop(into)] value: Signal<Option<String>>,
    label: &'static str,
) -> impl IntoView {
    let hydrated = use_hydrated();
    let (copied, set_copied) = signal(false);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(text) = value.get_untracked() {
            let _ = window().navigator().clipboard().write_text(&text);
            set_copied.set(true);
            set_timeout(
                move || set_copied.set(false),
                std::time::Duration::from_millis(1500),
            );
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (value, set_copied);
    };
    view! {
        <button type="button" class="button small" on:click=copy aria-label=label
            hidden=move || !hydrated.get() || value.with(Option::is_none)>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
    }
}

/// A checkbox per permission of the catalog, ticked if `granted`, under
/// the name of its API when there are several; each named `name`.
pub fn permission_choices(
    catalog: Vec<PermissionView>,
    granted: &[String],
    name: &'static str,
) -> impl IntoView {
    let mut apis: Vec<String> = catalog.iter().map(|p| p.api.clone()).collect();
    apis.sort();
    apis.dedup();
    if apis.len() < 2 {
        return view! { <div class="checks">{checkboxes(catalog, granted, name)}</div> }.into_any();
    }
    apis.into_iter()
        .map(|api| {
            let of_api: Vec<PermissionView> =
                catalog.iter().filter(|p| p.api == api).cloned().collect();
            view! {
                <div class="api-group">
                    <p class="api-name">{api}</p>
                    <div class="checks">{checkboxes(of_api, granted, name)}</div>
                </div>
            }
        })
        .collect_view()
        .into_any()
}

fn checkboxes(
    catalog: Vec<PermissionView>,
    granted: &[String],
    name: &'static str,
) -> impl IntoView {
    catalog
        .into_iter()
        .map(|p| {
            let checked = granted.contains(&p.scope);
            let id = format!("perm-{}", p.scope.replace(':', "-"));
            view! {
                <label class="check-option">
                    <input type="checkbox" id=id name=name value=p.scope.clone() checked=checked/>
                    <span><code>{p.scope.clone()}</code><span class="muted">{p.description.clone()}</span></span>
                </label>
            }
        })
        .collect_view()
}

/// `text` with its first letter in capitals.
pub fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The value of the field `name` in the form `ev` submits, as the browser
/// holds it: what was typed before the page came alive counts too.
pub fn form_value(ev: &leptos::ev::SubmitEvent, name: &str) -> String {
    use leptos::wasm_bindgen::JsCast as _;
    ev.target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
        .and_then(|form| web_sys::FormData::new_with_form(&form).ok())
        .and_then(|data| data.get(name).as_string())
        .unwrap_or_default()
}
