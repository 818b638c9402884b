//! Small pieces shared by the pages: labelled fields with their own error,
//! the error banner, the not-found page.

use leptos::prelude::*;
use leptos_meta::Title;

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

/// The message of a refused request, above the form.
#[component]
pub fn ErrorBanner(#[prop(into)] error: Signal<Option<AppError>>) -> impl IntoView {
    move || {
        error.get().map(|e| {
            view! { <p class="banner error" role="alert">{e.to_string()}</p> }
        })
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
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
