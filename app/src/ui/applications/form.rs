//! The Application Settings form, for registering (`/applications/new`) and
//! for editing on the application page.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::applications::{registration_options, AppView, PermissionView};
use crate::api::auth::take_flash;
use crate::api::{AppError, Flash};
use crate::ui::components::permission_choices;
use crate::ui::components::ErrorBanner;
use crate::ui::components::LoadFailed;

#[component]
pub fn NewApplicationPage() -> impl IntoView {
    let query = use_query_map();
    let options = Resource::new(
        move || query.with(|q| q.get("domain")),
        |domain| async move {
            let options = registration_options(domain).await?;
            Ok::<_, AppError>((options, take_flash("application".into()).await?))
        },
    );
    view! {
        <Title text="Register New Application"/>
        <div class="page-head">
            <div>
                <p class="crumbs"><a href="/applications">"Applications"</a></p>
                <h1>"Register New Application"</h1>
            </div>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match options.await {
                    Ok((options, flash)) => {
                        let full = options.count >= options.limit;
                        view! {
                            <section class="card form-card">
                                <h2>"Application Settings"</h2>
                                <p class="muted">{format!("{} / {} applications in domain {}", options.count, options.limit, options.domain.name)}</p>
                                {full.then(|| view! {
                                    <p class="banner error" role="status">
                                        {format!("This domain has reached its limit of {} applications. Remove one before registering another.", options.limit)}
                                    </p>
                                })}
                                <SettingsForm catalog=options.catalog initial=None flash
                                    mode=Mode::Create { domain: options.domain.id }/>
                            </section>
                        }.into_any()
                    }
                    Err(e) => view! { <LoadFailed error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Create { domain: String },
    Edit { id: String },
}

/// The labelled fields of contract §3. Without JavaScript it posts as a
/// multipart form and comes back with its values and errors; once hydrated
/// it submits in place and previews the chosen icon.
#[component]
pub fn SettingsForm(
    catalog: Vec<PermissionView>,
    initial: Option<AppView>,
    flash: Option<Flash>,
    mode: Mode,
) -> impl IntoView {
    // The outcome of an in-page submission (hydrated only); a plain post
    // reloads the page instead.
    let outcome = RwSignal::new(None::<Result<(), AppError>>);
    let pending = RwSignal::new(false);
    let kept_error = flash.as_ref().map(|f| f.error.clone());
    let error = Signal::derive(move || {
        outcome
            .get()
            .and_then(Result::err)
            .or_else(|| kept_error.clone())
    });
    let field_error = move |name: &'static str| move || error.get().and_then(|e| e.field(name));

    let Values {
        name,
        description,
        website,
        callback,
        granted,
        icon: current_icon,
        public,
        refresh_tokens,
        refresh_idle_days,
        refresh_absolute_days,
    } = Values::new(flash.as_ref(), initial.as_ref());
    let creating = matches!(mode, Mode::Create { .. });
    let preview = RwSignal::new(current_icon);

    let (action, hidden, label) = match &mode {
        Mode::Create { domain } => (
            "/rpc/applications/create",
            ("domain", domain.clone()),
            "Create",
        ),
        Mode::Edit { id } => (
            "/rpc/applications/update",
            ("id", id.clone()),
            "Save changes",
        ),
    };
    let on_submit = submit_in_place(mode, pending, outcome);
    view! {
        <form method="post" action=action enctype="multipart/form-data" on:submit=on_submit novalidate>
            <ErrorBanner error/>
            <input type="hidden" name=hidden.0 value=hidden.1/>
            <div class="field" class:invalid=move || field_error("name")().is_some()>
                <label for="name">"Application Name"</label>
                <input id="name" name="name" type="text" value=name required aria-describedby="name-error"/>
                <p class="field-error" id="name-error">{field_error("name")}</p>
            </div>
            <div class="field" class:invalid=move || field_error("description")().is_some()>
                <label for="description">"Description"</label>
                <textarea id="description" name="description" aria-describedby="description-hint description-error">{crate::ui::rcdata(&description)}</textarea>
                <p class="hint" id="description-hint">"Optional, up to 500 characters."</p>
                <p class="field-error" id="description-error">{field_error("description")}</p>
            </div>
            <fieldset class="field" class:invalid=move || field_error("permissions")().is_some() aria-describedby="permissions-error">
                <legend>"Permission"</legend>
                <div class="permission-groups">{permission_choices(catalog, &granted, "permissions")}</div>
                <p class="field-error" id="permissions-error">{field_error("permissions")}</p>
            </fieldset>
            {icon_field(error, preview)}
            <div class="field" class:invalid=move || field_error("website_url")().is_some()>
                <label for="website_url">"Website URL"</label>
                <input id="website_url" name="website_url" type="text" inputmode="url" value=website
                    placeholder="https://example.com" aria-describedby="website_url-error"/>
                <p class="field-error" id="website_url-error">{field_error("website_url")}</p>
            </div>
            <div class="field" class:invalid=move || field_error("callback_url")().is_some()>
                <label for="callback_url">"Callback URL"</label>
                <input id="callback_url" name="callback_url" type="text" inputmode="url" value=callback
                    placeholder="https://gateway.example.com/oauth/callback" aria-describedby="callback_url-hint callback_url-error"/>
                <p class="hint" id="callback_url-hint">"https://, or http:// for a loopback host such as http://127.0.0.1/opswat."</p>
                <p class="field-error" id="callback_url-error">{field_error("callback_url")}</p>
            </div>
            {client_type_field(creating, public)}
            <fieldset class="field" class:invalid=move || field_error("refresh_idle")().is_some() || field_error("refresh_absolute")().is_some()>
                <legend>"Refresh tokens"</legend>
                <label class="check-option">
                    <input type="checkbox" id="refresh_tokens" name="refresh_tokens" value="on" checked=refresh_tokens/>
                    <span>"Issue a refresh token when a user approves "<code>"offline_access"</code>
                        <span class="muted">"Each use returns a new one; a used one presented again ends every token of that approval."</span></span>
                </label>
                <div class="lifetimes">
                    <div>
                        <label for="refresh_idle_days">"Unused for at most (days)"</label>
                        <input id="refresh_idle_days" name="refresh_idle_days" type="number" min="1" max="365"
                            value=refresh_idle_days aria-describedby="refresh_idle-error"/>
                        <p class="field-error" id="refresh_idle-error">{field_error("refresh_idle")}</p>
                    </div>
                    <div>
                        <label for="refresh_absolute_days">"At most in all (days)"</label>
                        <input id="refresh_absolute_days" name="refresh_absolute_days" type="number" min="1" max="365"
                            value=refresh_absolute_days aria-describedby="refresh_absolute-error"/>
                        <p class="field-error" id="refresh_absolute-error">{field_error("refresh_absolute")}</p>
                    </div>
                </div>
            </fieldset>
            <button type="submit" class="button primary" disabled=move || pending.get()>{label}</button>
        </form>
    }
}

/// Confidential (a secret) or public (no secret): chosen when registering,
/// shown after.
fn client_type_field(creating: bool, public: bool) -> impl IntoView {
    if !creating {
        let kind = match public {
            true => "Public: no client secret. It signs users in with the authorization code flow and PKCE.",
            false => "Confidential: it authenticates with its client secret.",
        };
        return view! {
            <div class="field">
                <p class="label">"Client type"</p>
                <p>{kind}</p>
            </div>
        }
        .into_any();
    }
    view! {
        <fieldset class="field">
            <legend>"Client type"</legend>
            <div class="checks">
                <label class="check-option">
                    <input type="radio" name="client_type" value="confidential" checked=!public/>
                    <span>"Confidential"<span class="muted">"A server, gateway or script that can keep a client secret."</span></span>
                </label>
                <label class="check-option">
                    <input type="radio" name="client_type" value="public" checked=public/>
                    <span>"Public"<span class="muted">"A native app, command-line tool or AI agent: no secret; users sign in with PKCE, on a loopback callback on any port."</span></span>
                </label>
            </div>
        </fieldset>
    }
    .into_any()
}

/// Once hydrated, the form submits in place: success redirects (the server
/// says where); only errors stay on the page.
fn submit_in_place(
    mode: Mode,
    pending: RwSignal<bool>,
    outcome: RwSignal<Option<Result<(), AppError>>>,
) -> impl Fn(leptos::ev::SubmitEvent) + Clone + 'static {
    move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let form = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok());
            let Some(data) = form.and_then(|f| web_sys::FormData::new_with_form(&f).ok()) else {
                return;
            };
            let mode = mode.clone();
            pending.set(true);
            leptos::task::spawn_local(async move {
                let result = match mode {
                    Mode::Create { .. } => {
                        crate::api::applications::create_application(data.into())
                            .await
                            .map(|_| ())
                    }
                    Mode::Edit { .. } => {
                        crate::api::applications::update_application(data.into()).await
                    }
                };
                pending.set(false);
                outcome.set(Some(result));
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&mode, pending, outcome);
    }
}

/// The icon picker, with a preview of the icon chosen or current.
fn icon_field(error: Signal<Option<AppError>>, preview: RwSignal<Option<String>>) -> impl IntoView {
    let icon_error = move || error.get().and_then(|e| e.field("icon"));
    view! {
        <div class="field" class:invalid=move || icon_error().is_some()>
            <label for="icon">"Icon File"</label>
            <div class="icon-picker">
                {move || preview.get().map(|src| view! { <img class="icon large" src=src alt="Icon preview"/> })}
                <input id="icon" name="icon" type="file" accept="image/png,image/jpeg,image/webp"
                    on:change=preview_icon(preview) aria-describedby="icon-hint icon-error"/>
            </div>
            <p class="hint" id="icon-hint">"PNG, JPEG or WebP, at most 256 KiB."</p>
            <p class="field-error" id="icon-error">{icon_error}</p>
        </div>
    }
}

/// Shows the chosen icon before it is sent, if it is one the server would
/// accept.
fn preview_icon(preview: RwSignal<Option<String>>) -> impl Fn(leptos::ev::Event) + Clone + 'static {
    move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let file = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                .and_then(|input| input.files())
                .and_then(|files| files.get(0));
            let file = file.filter(|f| {
                matches!(
                    f.type_().as_str(),
                    "image/png" | "image/jpeg" | "image/webp"
                )
            });
            preview.set(None);
            if let Some(file) = file {
                if let Ok(url) = web_sys::Url::create_object_url_with_blob(&file) {
                    preview.set(Some(url));
                }
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, preview);
    }
}

/// What the fields start with: a refused post's values, else the
/// application's current settings.
struct Values {
    name: String,
    description: String,
    website: String,
    callback: String,
    granted: Vec<String>,
    icon: Option<String>,
    public: bool,
    refresh_tokens: bool,
    refresh_idle_days: String,
    refresh_absolute_days: String,
}

impl Values {
    fn new(flash: Option<&Flash>, initial: Option<&AppView>) -> Self {
        let value = |name: &str, current: Option<&str>| {
            flash
                .and_then(|f| f.value(name))
                .or(current.map(str::to_owned))
                .unwrap_or_default()
        };
        Self {
            name: value("name", initial.map(|a| a.name.as_str())),
            description: value("description", initial.map(|a| a.description.as_str())),
            website: value("website_url", initial.map(|a| a.website_url.as_str())),
            callback: value("callback_url", initial.map(|a| a.callback_url.as_str())),
            granted: match (flash, initial) {
                (Some(f), _) => f.all("permissions"),
                (None, Some(app)) => app.permissions.clone(),
                (None, None) => Vec::new(),
            },
            icon: initial.and_then(|a| a.icon_url.clone()),
            public: match flash {
                Some(f) => f.value("client_type").as_deref() == Some("public"),
                None => initial.is_some_and(|a| a.public),
            },
            refresh_tokens: match flash {
                Some(f) => f.value("refresh_tokens").is_some(),
                None => initial.is_some_and(|a| a.refresh_tokens),
            },
            refresh_idle_days: value(
                "refresh_idle_days",
                Some(&initial.map_or(7, |a| a.refresh_idle_days).to_string()),
            ),
            refresh_absolute_days: value(
                "refresh_absolute_days",
                Some(&initial.map_or(30, |a| a.refresh_absolute_days).to_string()),
            ),
        }
    }
}
