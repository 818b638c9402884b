//! The portal's pages and components, rendered on the server and hydrated in
//! the browser.

mod applications;
mod audit;
mod auth;
mod authorize;
mod charts;
pub(crate) mod components;
mod permissions;
mod portal;
mod tools;
mod users;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::{path, SsrMode};

/// The HTML document around the app. On the server it also sets the
/// per-response Content-Security-Policy whose nonce lets the hydration
/// script run.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        leptos::nonce::provide_nonce();
        crate::api::request::content_security_policy(None);
    }
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
                <Route path=path!("/oauth2/authorize") view=authorize::AuthorizePage ssr=SsrMode::Async/>
                <Route path=path!("/welcome") view=users::WelcomePage ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=portal::Portal ssr=SsrMode::Async>
                    <Route path=path!("") view=|| view! { <Redirect path="/applications"/> } ssr=SsrMode::Async/>
                    <Route path=path!("applications") view=applications::ApplicationsPage ssr=SsrMode::Async/>
                    <Route path=path!("applications/new") view=applications::NewApplicationPage ssr=SsrMode::Async/>
                    <Route path=path!("applications/remove") view=applications::RemovePage ssr=SsrMode::Async/>
                    <Route path=path!("applications/removed") view=applications::RemovedPage ssr=SsrMode::Async/>
                    <Route path=path!("applications/:id") view=applications::ApplicationPage ssr=SsrMode::Async/>
                    <Route path=path!("permissions") view=permissions::PermissionsPage ssr=SsrMode::Async/>
                    <Route path=path!("connected") view=authorize::ConnectionsPage ssr=SsrMode::Async/>
                    <Route path=path!("audit") view=audit::AuditPage ssr=SsrMode::Async/>
                    <Route path=path!("users") view=users::UsersPage ssr=SsrMode::Async/>
                    <Route path=path!("tools/token") view=tools::TokenInspectorPage ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
