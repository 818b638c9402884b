//! The sign-in and first-run setup pages.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::components::{ErrorBanner, Field};
use crate::api::auth::{setup_status, take_flash, CompleteSetup, SignIn};
use crate::api::AppError;
use crate::ui::components::LoadFailed;

#[component]
pub(super) fn Brand() -> impl IntoView {
    view! {
        <div class="brand">
            <span class="logo" aria-hidden="true">"K"</span>
            <span>"Keyport"</span>
        </div>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let flash = Resource::new(|| (), |_| take_flash("sign_in".into()));
    view! {
        <Title text="Sign in"/>
        <main class="centered">
            <div class="card narrow">
                <Brand/>
                <h1>"Sign in"</h1>
                <p class="muted">"Manage the OAuth clients of your integrations."</p>
                <Suspense>
                    {move || Suspend::new(async move {
                        let flash = flash.await.ok().flatten();
                        let email = flash.as_ref().and_then(|f| f.value("email"));
                        let kept = flash.map(|f| f.error);
                        let error = Signal::derive(move || {
                            action.value().get().and_then(Result::err).or_else(|| kept.clone())
                        });
                        let fields = move || view! {
                            <ErrorBanner error/>
                            <input type="hidden" name="next" value=next/>
                            <Field label="Email" name="email" kind="email" value=email.clone().unwrap_or_default()
                                autocomplete="username" required=true error/>
                            <Field label="Password" name="password" kind="password"
                                autocomplete="current-password" required=true error/>
                            <button type="submit" class="button primary wide" disabled=move || action.pending().get()>
                                "Sign in"
                            </button>
                        };
                        // An authorization request must load as a page of its own,
                        // with its own security policy: sign in by a plain post.
                        let form = if next().starts_with("/oauth2/") {
                            view! { <form method="post" action={<SignIn as ServerFn>::PATH}>{fields()}</form> }.into_any()
                        } else {
                            view! { <ActionForm action=action>{fields()}</ActionForm> }.into_any()
                        };
                        view! { {form} <super::factors::PasskeySignIn next=Signal::derive(next)/> }
                    })}
                </Suspense>
            </div>
        </main>
    }
}

#[component]
pub fn SetupPage() -> impl IntoView {
    let action = ServerAction::<CompleteSetup>::new();
    let query = use_query_map();
    let state = Resource::new(
        || (),
        |_| async {
            let open = setup_status().await?;
            Ok::<_, AppError>((open, take_flash("setup".into()).await?))
        },
    );
    view! {
        <Title text="Set up Keyport"/>
        <main class="centered">
            <div class="card narrow">
                <Brand/>
                <h1>"Set up Keyport"</h1>
                <Suspense>
                    {move || Suspend::new(async move {
                        match state.await {
                            Ok((true, flash)) => {
                                let token = query.read_untracked().get("token").unwrap_or_default();
                                let email = flash.as_ref().and_then(|f| f.value("email")).unwrap_or_default();
                                let kept = flash.map(|f| f.error);
                                let error = Signal::derive(move || {
                                    action.value().get().and_then(Result::err).or_else(|| kept.clone())
                                });
                                view! {
                                    <p class="muted">"Create the first administrator. This page works once, with the setup link printed in the server log."</p>
                                    <ActionForm action=action>
                                        <ErrorBanner error/>
                                        <Field label="Setup token" name="token" value=token autocomplete="off" required=true error/>
                                        <Field label="Email" name="email" kind="email" value=email autocomplete="username" required=true error/>
                                        <Field label="Password" name="password" kind="password" autocomplete="new-password"
                                            hint="At least 12 characters." required=true error/>
                                        <Field label="Confirm password" name="confirm" kind="password" autocomplete="new-password"
                                            required=true error/>
                                        <button type="submit" class="button primary wide" disabled=move || action.pending().get()>
                                            "Create administrator"
                                        </button>
                                    </ActionForm>
                                }.into_any()
                            }
                            Ok((false, _)) => view! {
                                <p>"Keyport is already set up."</p>
                                <p><a class="button primary" href="/login">"Sign in"</a></p>
                            }.into_any(),
                            Err(e) => view! { <LoadFailed error=e/> }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </main>
    }
}
