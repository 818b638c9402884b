//! The portal's pages and components, rendered on the server and hydrated in
//! the browser.

mod account;
mod apis;
mod applications;
mod audit;
mod auth;
mod authorize;
mod charts;
pub(crate) mod components;
mod domains;
mod factors;
mod markup;
mod permissions;
mod portal;
mod registration;
pub(crate) mod step_up;
mod tools;
mod users;
pub(crate) mod webauthn;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::components::{ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::{lazy_route, path, Lazy, LazyRoute, SsrMode};

/// The HTML document around the app. On the server it also sets the
/// per-response Content-Security-Policy whose nonce lets the hydration
/// script run.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        leptos::nonce::provide_nonce();
        crate::api::request::content_security_policy(None);
        // Only the server's fallback renders the shell without Keyport's
        // services: for a path it has no route for, which the browser-side
        // router may still match (`/users/`, `/applications/` with a
        // trailing slash). The app would fail there for want of them.
        if use_context::<crate::domain::Keyport>().is_none() {
            return unrouted(options).into_any();
        }
    }
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="data:,"/>
                <AutoReload options=options.clone()/>
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
    .into_any()
}

/// A path the server has no route for: a plain 404 page, without the app
/// or its hydration script.
#[cfg(feature = "ssr")]
fn unrouted(options: LeptosOptions) -> impl IntoView {
    components::set_page_status(404);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="data:,"/>
                <HashedStylesheet options/>
                <title>"Not found · Keyport"</title>
            </head>
            <body>
                <main class="centered">
                    <div class="card narrow">
                        <h1>"Page not found"</h1>
                        <p>"There is nothing at this address."</p>
                        <p><a href="/applications">"Back to applications"</a></p>
                    </div>
                </main>
            </body>
        </html>
    }
}

/// Text for the inside of a `<title>` or `<textarea>`: the server writes
/// those elements' children as they are (the browser reads no tags there,
/// but `</title>` or `</textarea>` would end the element), so on the server
/// `&`, `<` and `>` become entities, which the browser turns back. In the
/// browser the text goes into the DOM as text and stays as it is.
pub(crate) fn rcdata(text: &str) -> String {
    if cfg!(feature = "ssr") {
        html_escape::encode_text(text).into_owned()
    } else {
        text.to_owned()
    }
}

/// A page whose code the browser loads when it is first shown, in a
/// WebAssembly chunk of its own (`cargo leptos --split`): only the sign-in
/// page, the shell and the applications list are in the bundle every page
/// loads.
macro_rules! lazy_page {
    ($($route:ident => $page:path),* $(,)?) => {$(
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page/> }.into_any()
            }
        }
    )*};
}

lazy_page! {
    Setup => auth::SetupPage,
    Authorize => authorize::AuthorizePage,
    Welcome => users::WelcomePage,
    NewApplication => applications::NewApplicationPage,
    Remove => applications::RemovePage,
    Removed => applications::RemovedPage,
    Application => applications::ApplicationPage,
    Permissions => permissions::PermissionsPage,
    Apis => apis::ApisPage,
    Registration => registration::RegistrationPage,
    Connections => authorize::ConnectionsPage,
    Audit => audit::AuditPage,
    Users => users::UsersPage,
    Domains => domains::DomainsPage,
    TokenInspector => tools::TokenInspectorPage,
    Account => account::AccountPage,
    Verify => factors::VerifyPage,
    Confirm => factors::ConfirmPage,
}

/// What every page's title ends with.
const TITLE_SUFFIX: &str = " · Keyport";

/// The title the app falls back on while no page has given one: in the
/// browser, the page's own part of the title it was served with. A page
/// loaded on demand gives its title only once its code has come, after
/// the rest of the app has come alive; meanwhile the title stays as it
/// was rather than going blank. On the server every page gives its own.
fn served_title() -> String {
    #[cfg(feature = "hydrate")]
    {
        let served = document().title();
        served
            .strip_suffix(TITLE_SUFFIX)
            .unwrap_or_default()
            .to_owned()
    }
    #[cfg(not(feature = "hydrate"))]
    String::new()
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    components::provide_hydrated();
    // Lets tests (and curious admins) see when the page has come alive.
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Title text=served_title() formatter=|page: String| if page.is_empty() { "Keyport".to_string() } else { format!("{page}{TITLE_SUFFIX}", page = rcdata(&page)) }/>
        <Router>
            <Routes fallback=components::NotFound>
                <Route path=path!("/login") view=auth::LoginPage ssr=SsrMode::Async/>
                <Route path=path!("/login/verify") view={Lazy::<Verify>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/confirm") view={Lazy::<Confirm>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/setup") view={Lazy::<Setup>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/oauth2/authorize") view={Lazy::<Authorize>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/welcome") view={Lazy::<Welcome>::new()} ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=portal::Portal ssr=SsrMode::Async>
                    <Route path=path!("") view=|| view! { <Redirect path="/applications"/> } ssr=SsrMode::Async/>
                    <Route path=path!("applications") view=applications::ApplicationsPage ssr=SsrMode::Async/>
                    <Route path=path!("applications/new") view={Lazy::<NewApplication>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("applications/remove") view={Lazy::<Remove>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("applications/removed") view={Lazy::<Removed>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("applications/:id") view={Lazy::<Application>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("permissions") view={Lazy::<Permissions>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("apis") view={Lazy::<Apis>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("registration") view={Lazy::<Registration>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("connected") view={Lazy::<Connections>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("audit") view={Lazy::<Audit>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("users") view={Lazy::<Users>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("domains") view={Lazy::<Domains>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("tools/token") view={Lazy::<TokenInspector>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("account") view={Lazy::<Account>::new()} ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
