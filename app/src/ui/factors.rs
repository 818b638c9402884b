//! The second step of sign-in (`/login/verify`), the sign-in with a passkey
//! alone, and the confirmation page (`/confirm`) that step-up uses without
//! JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::auth::Brand;
use super::components::{use_hydrated, ErrorBanner, Field};
use super::step_up::ConfirmForm;
use super::webauthn;
use crate::api::auth::take_flash;
use crate::api::factors::{
    passkey_sign_in, passkey_sign_in_options, pending_choice, pending_passkey_options,
    verify_passkey, FactorChoice, VerifyCode,
};
use crate::api::AppError;
use crate::ui::components::LoadFailed;

/// Goes to `path` as a page load of its own (an authorization request
/// needs its own security policy).
fn go(path: &str) {
    #[cfg(feature = "hydrate")]
    let _ = window().location().set_href(path);
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}

/// "Sign in with a passkey" on the sign-in page: the browser offers the
/// passkeys it holds for this site. Without JavaScript, says so.
#[component]
pub fn PasskeySignIn(#[prop(into)] next: Signal<String>) -> impl IntoView {
    let hydrated = use_hydrated();
    let error = RwSignal::new(None::<AppError>);
    let pending = RwSignal::new(false);
    let sign_in = move |_| {
        if !webauthn::passkeys_supported() {
            error.set(Some(AppError::BadRequest(
                "this browser does not offer passkeys".into(),
            )));
            return;
        }
        pending.set(true);
        leptos::task::spawn_local(async move {
            let result = async {
                let options = passkey_sign_in_options().await?;
                let credential = webauthn::get_passkey(options)
                    .await
                    .map_err(AppError::BadRequest)?;
                passkey_sign_in(credential, Some(next.get_untracked())).await
            }
            .await;
            pending.set(false);
            match result {
                Ok(path) => go(&path),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <div class="alternative">
            <p class="or"><span>"or"</span></p>
            <ErrorBanner error plainly=true/>
            <button type="button" class="button wide" on:click=sign_in
                disabled=move || !hydrated.get() || pending.get()>"Sign in with a passkey"</button>
            <p class="hint" hidden=move || hydrated.get()>"Passkeys need JavaScript, which is off or still loading: sign in with your password."</p>
        </div>
    }
}

#[component]
pub fn VerifyPage() -> impl IntoView {
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let state = Resource::new(
        || (),
        |_| async {
            let flash = take_flash("verify".into()).await?;
            Ok::<_, AppError>((pending_choice().await?, flash.map(|f| f.error)))
        },
    );
    view! {
        <Title text="Two-step sign-in"/>
        <main class="centered">
            <div class="card narrow">
                <Brand/>
                <h1>"Two-step sign-in"</h1>
                <Suspense>
                    {move || Suspend::new(async move {
                        match state.await {
                            Ok((Some(choice), kept)) => view! { <SecondStep choice kept next=next()/> }.into_any(),
                            Ok((None, _)) => view! {
                                <p>"This sign-in has expired. Sign in again with your password."</p>
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

#[component]
fn SecondStep(choice: FactorChoice, kept: Option<AppError>, next: String) -> impl IntoView {
    let hydrated = use_hydrated();
    let action = ServerAction::<VerifyCode>::new();
    let passkey_error = RwSignal::new(None::<AppError>);
    let error = Signal::derive(move || {
        action
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| passkey_error.get())
            .or_else(|| kept.clone())
    });
    let pending = RwSignal::new(false);
    let passkey_next = next.clone();
    let use_passkey = move |_| {
        pending.set(true);
        let next = passkey_next.clone();
        leptos::task::spawn_local(async move {
            let result = async {
                let options = pending_passkey_options().await?;
                let credential = webauthn::get_passkey(options)
                    .await
                    .map_err(AppError::BadRequest)?;
                verify_passkey(credential, Some(next)).await
            }
            .await;
            pending.set(false);
            match result {
                Ok(path) => go(&path),
                Err(e) => passkey_error.set(Some(e)),
            }
        });
    };
    let typed = choice.totp || choice.recovery_left > 0;
    view! {
        <p class="muted">"Password accepted for " <strong>{choice.email.clone()}</strong> ". Finish signing in with your second factor."</p>
        <ErrorBanner error/>
        {choice.passkey.then(|| view! {
            <button type="button" class="button primary wide" on:click=use_passkey
                disabled=move || !hydrated.get() || pending.get()>"Use your passkey"</button>
            <p class="hint" hidden=move || hydrated.get()>"Passkeys need JavaScript, which is off or still loading."
                {typed.then_some(" Use a code instead.")}</p>
        })}
        {typed.then(|| view! {
            <ActionForm action=action>
                <input type="hidden" name="next" value=next.clone()/>
                <Field label="Code" name="code" autocomplete="one-time-code" required=true error
                    hint="The 6-digit code from your authenticator app, or one of your recovery codes."/>
                <button type="submit" class="button wide" class:primary=!choice.passkey
                    disabled=move || action.pending().get()>"Verify"</button>
            </ActionForm>
        })}
        <p class="muted small"><a href="/login">"Sign in as someone else"</a></p>
    }
}

/// Step-up without JavaScript (or followed from the banner's link):
/// confirm, then back to the page that asked.
#[component]
pub fn ConfirmPage() -> impl IntoView {
    let query = use_query_map();
    let next =
        crate::api::auth::safe_next(query.read_untracked().get("next").as_deref()).to_owned();
    let back = next.clone();
    let cancel = next.clone();
    view! {
        <Title text="Confirm it is you"/>
        <main class="centered">
            <div class="card narrow">
                <Brand/>
                <h1>"Confirm it is you"</h1>
                <ConfirmForm next=Some(next) on_done=Callback::new(move |_| go(&back))/>
                <p class="muted small"><a href=cancel>"Cancel"</a></p>
            </div>
        </main>
    }
}
