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
use leptos_router::{path, ChooseView, SsrMode};

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

/// Pages whose code the browser loads together, when the first of them is
/// shown: each section is one WebAssembly chunk (`cargo leptos --split`),
/// preloaded by every page of it the server renders. Only the shell, the
/// step-up dialog and what they share are in the module every page loads.
/// A section per kind of visit keeps the chunks few (each is a file, and
/// code two sections share is a file more) and a visit's download small.
/// A route names its page as `Section::Page`.
macro_rules! sections {
    ($($section:ident in $module:ident { $($page:ident => $component:path),* $(,)? })*) => {$(
        #[derive(Clone, Copy)]
        enum $section {
            $($page),*
        }

        mod $module {
            use super::*;

            #[leptos::lazy($module)]
            pub fn pages(page: $section) -> AnyView {
                match page {
                    $($section::$page => view! { <$component/> }.into_any()),*
                }
            }
        }

        impl ChooseView for $section {
            async fn choose(self) -> AnyView {
                $module::pages(self).await
            }

            async fn preload(&self) {
                #[cfg(feature = "hydrate")]
                $module::__preload_pages().await;
            }
        }
    )*};
}

sections! {
    SignIn in sign_in_pages {
        Login => auth::LoginPage,
        Verify => factors::VerifyPage,
        Confirm => factors::ConfirmPage,
        Setup => auth::SetupPage,
        Welcome => users::WelcomePage,
    }
    Own in own_pages {
        Account => account::AccountPage,
        Authorize => authorize::AuthorizePage,
        Connections => authorize::ConnectionsPage,
    }
    Applications in application_pages {
        List => applications::ApplicationsPage,
        New => applications::NewApplicationPage,
        One => applications::ApplicationPage,
        Remove => applications::RemovePage,
        Removed => applications::RemovedPage,
    }
    Admin in admin_pages {
        Users => users::UsersPage,
        Domains => domains::DomainsPage,
        Apis => apis::ApisPage,
        Registration => registration::RegistrationPage,
        Permissions => permissions::PermissionsPage,
        Audit => audit::AuditPage,
        TokenInspector => tools::TokenInspectorPage,
    }
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
                <Route path=path!("/login") view=SignIn::Login ssr=SsrMode::Async/>
                <Route path=path!("/login/verify") view=SignIn::Verify ssr=SsrMode::Async/>
                <Route path=path!("/confirm") view=SignIn::Confirm ssr=SsrMode::Async/>
                <Route path=path!("/setup") view=SignIn::Setup ssr=SsrMode::Async/>
                <Route path=path!("/oauth2/authorize") view=Own::Authorize ssr=SsrMode::Async/>
                <Route path=path!("/welcome") view=SignIn::Welcome ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=portal::Portal ssr=SsrMode::Async>
                    <Route path=path!("") view=|| view! { <Redirect path="/applications"/> } ssr=SsrMode::Async/>
                    <Route path=path!("applications") view=Applications::List ssr=SsrMode::Async/>
                    <Route path=path!("applications/new") view=Applications::New ssr=SsrMode::Async/>
                    <Route path=path!("applications/remove") view=Applications::Remove ssr=SsrMode::Async/>
                    <Route path=path!("applications/removed") view=Applications::Removed ssr=SsrMode::Async/>
                    <Route path=path!("applications/:id") view=Applications::One ssr=SsrMode::Async/>
                    <Route path=path!("permissions") view=Admin::Permissions ssr=SsrMode::Async/>
                    <Route path=path!("apis") view=Admin::Apis ssr=SsrMode::Async/>
                    <Route path=path!("registration") view=Admin::Registration ssr=SsrMode::Async/>
                    <Route path=path!("connected") view=Own::Connections ssr=SsrMode::Async/>
                    <Route path=path!("audit") view=Admin::Audit ssr=SsrMode::Async/>
                    <Route path=path!("users") view=Admin::Users ssr=SsrMode::Async/>
                    <Route path=path!("domains") view=Admin::Domains ssr=SsrMode::Async/>
                    <Route path=path!("tools/token") view=Admin::TokenInspector ssr=SsrMode::Async/>
                    <Route path=path!("account") view=Own::Account ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
