//! The portal's pages and components, rendered on the server and hydrated in
//! the browser.

mod applications;
mod auth;
mod components;
mod permissions;
mod portal;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::{path, SsrMode};

/// The HTML document around the app. On the server it also sets the
/// per-response Content-Security-Policy whose nonce lets the hydration
/// script run.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="data:,"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[cfg(feature = "ssr")]
fn content_security_policy() {
    leptos::nonce::provide_nonce();
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    );
    if let Ok(value) = http::HeaderValue::from_str(&policy) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Lets tests (and curious admins) see when the page has come alive.
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Stylesheet id="leptos" href="/pkg/keyport.css"/>
        <Title formatter=|page: String| if page.is_empty() { "Keyport".to_string() } else { format!("{page} · Keyport") }/>
        <Router>
            <Routes fallback=components::NotFound>
                <Route path=path!("/login") view=auth::LoginPage ssr=SsrMode::Async/>
                <Route path=path!("/setup") view=auth::SetupPage ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=portal::Portal ssr=SsrMode::Async>
                    <Route path=path!("") view=|| view! { <Redirect path="/applications"/> } ssr=SsrMode::Async/>
                    <Route path=path!("applications") view=applications::ApplicationsPage ssr=SsrMode::Async/>
                    <Route path=path!("applications/new") view=applications::NewApplicationPage ssr=SsrMode::Async/>
                    <Route path=path!("applications/remove") view=applications::RemovePage ssr=SsrMode::Async/>
                    <Route path=path!("applications/:id") view=applications::ApplicationPage ssr=SsrMode::Async/>
                    <Route path=path!("permissions") view=permissions::PermissionsPage ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
