//! Step-up in the hydrated portal: a sensitive action the server refused
//! for want of a fresh check (`AppError::StepUpRequired`) opens a dialog in
//! place; once the user has confirmed, the action goes ahead by itself (the
//! form that asked is submitted again, or the call is made again). Without
//! JavaScript the server sends the browser to `/confirm` instead.

use std::rc::Rc;

use leptos::prelude::*;

use crate::api::factors::{
    confirm_identity, confirm_with_passkey, step_up_choice, step_up_passkey_options, FactorChoice,
};
use crate::api::AppError;
use crate::ui::components::LoadFailed;
use crate::ui::webauthn;

/// What goes ahead once the user has confirmed.
#[derive(Clone)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Resume {
    /// The form last submitted, by the control that submitted it.
    Form(web_sys::HtmlFormElement, Option<web_sys::HtmlElement>),
    Run(Rc<dyn Fn()>),
}

/// The portal's one step-up dialog.
#[derive(Clone, Copy)]
pub struct StepUp {
    open: RwSignal<bool>,
}

thread_local! {
    /// What goes ahead once the user has confirmed, and the form the page
    /// last submitted. Browser values, kept out of the reactive graph: on
    /// the server, which renders but never runs handlers, they stay empty.
    static RESUME: std::cell::RefCell<Option<Resume>> = const { std::cell::RefCell::new(None) };
    static LAST_FORM: std::cell::RefCell<Option<Resume>> = const { std::cell::RefCell::new(None) };
}

impl StepUp {
    /// Asks for a fresh check, then runs `again`.
    pub fn then(self, again: impl Fn() + 'static) {
        RESUME.set(Some(Resume::Run(Rc::new(again))));
        self.open.set(true);
    }

    /// Asks for a fresh check, then submits again the form whose action
    /// was refused.
    pub fn then_resubmit(self) {
        if self.open.get_untracked() {
            return;
        }
        RESUME.set(LAST_FORM.with_borrow(Clone::clone));
        self.open.set(true);
    }

    fn confirmed(self) {
        self.open.set(false);
        match RESUME.take() {
            Some(Resume::Form(form, submitter)) => {
                let _ = form.request_submit_with_submitter(submitter.as_ref());
            }
            Some(Resume::Run(again)) => again(),
            None => {}
        }
    }
}

/// The step-up of the portal around this component, if any.
pub fn use_step_up() -> Option<StepUp> {
    use_context::<StepUp>()
}

/// Provides the step-up dialog's handle, and remembers each form the page
/// submits (the one a refused action came from).
pub fn provide_step_up() -> StepUp {
    let step_up = StepUp {
        open: RwSignal::new(false),
    };
    provide_context(step_up);
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast as _;
        let handle = window_event_listener(leptos::ev::submit, move |ev| {
            let form = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok());
            let submitter = ev
                .submitter()
                .and_then(|s| s.dyn_into::<web_sys::HtmlElement>().ok());
            if let Some(form) = form {
                LAST_FORM.set(Some(Resume::Form(form, submitter)));
            }
        });
        on_cleanup(move || handle.remove());
    }
    step_up
}

/// Opens the dialog when `error` says a sensitive action needs step-up:
/// for the error banner of any form.
pub fn ask_on_step_up(error: Signal<Option<AppError>>) {
    if let Some(step_up) = use_step_up() {
        Effect::new(move |_| {
            if error.get() == Some(AppError::StepUpRequired) {
                step_up.then_resubmit();
            }
        });
    }
}

/// The dialog: a passkey, a code or the password, whichever the user has.
#[component]
pub fn StepUpDialog(step_up: StepUp) -> impl IntoView {
    let open = step_up.open;
    view! {
        <Show when=move || open.get()>
            <div class="backdrop">
                <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="step-up-title">
                    <h2 id="step-up-title">"Confirm it is you"</h2>
                    <ConfirmForm next=None on_done=Callback::new(move |_| step_up.confirmed())/>
                    <button type="button" class="button subtle wide" on:click=move |_| open.set(false)>"Cancel"</button>
                </div>
            </div>
        </Show>
    }
}

/// The ways to confirm: a passkey button when the user has one, and a
/// field for a code (or the password, for a user without a second
/// factor). `next`: without JavaScript, where the server returns to.
#[component]
pub fn ConfirmForm(next: Option<String>, on_done: Callback<()>) -> impl IntoView {
    // Without JavaScript a refused confirmation returns to this page, with
    // its error kept once.
    let choice = Resource::new(
        || (),
        |_| async {
            let flash = crate::api::auth::take_flash("confirm".into()).await?;
            Ok::<_, AppError>((step_up_choice().await?, flash.map(|f| f.error)))
        },
    );
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new({
                let next = next.clone();
                async move {
                    match choice.await {
                        Ok((choice, kept)) => view! { <ConfirmChoices choice kept next on_done/> }.into_any(),
                        Err(e) => view! { <LoadFailed error=e/> }.into_any(),
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn ConfirmChoices(
    choice: FactorChoice,
    kept: Option<AppError>,
    next: Option<String>,
    on_done: Callback<()>,
) -> impl IntoView {
    let hydrated = crate::ui::components::use_hydrated();
    let error = RwSignal::new(kept);
    let pending = RwSignal::new(false);
    let path = <crate::api::factors::ConfirmIdentity as leptos::server_fn::ServerFn>::PATH;
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let secret = crate::ui::components::form_value(&ev, "secret");
        pending.set(true);
        leptos::task::spawn_local(async move {
            let result = confirm_identity(secret, None).await;
            pending.set(false);
            match result {
                Ok(()) => on_done.run(()),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let passkey = move |_| {
        pending.set(true);
        leptos::task::spawn_local(async move {
            let result = async {
                let options = step_up_passkey_options().await?;
                let credential = webauthn::get_passkey(options)
                    .await
                    .map_err(AppError::BadRequest)?;
                confirm_with_passkey(credential).await
            }
            .await;
            pending.set(false);
            match result {
                Ok(()) => on_done.run(()),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let (label, kind, autocomplete, hint) = if choice.password_only {
        (
            "Password",
            "password",
            "current-password",
            "The password you sign in with.",
        )
    } else {
        (
            "Code",
            "text",
            "one-time-code",
            "The 6-digit code from your authenticator app, or a recovery code.",
        )
    };
    let typed = choice.password_only || choice.totp || choice.recovery_left > 0;
    let message = move || error.get().map(|e| e.plainly());
    view! {
        <p class="muted">{format!(
            "Keyport asks again before it shows a secret or changes who has access. Once confirmed, it does not ask again for {}.",
            duration(choice.step_up_ttl)
        )}</p>
        <p class="muted">"Signed in as " <strong>{choice.email.clone()}</strong></p>
        {choice.passkey.then(|| view! {
            <button type="button" class="button primary wide" on:click=passkey
                disabled=move || pending.get() || !hydrated.get()>"Use your passkey"</button>
            <p class="hint" hidden=move || hydrated.get()>"Passkeys need JavaScript. Use a code instead."</p>
        })}
        {typed.then(|| view! {
            <form method="post" action=path on:submit=submit class="confirm">
                {next.clone().map(|n| view! { <input type="hidden" name="next" value=n/> })}
                <div class="field" class:invalid=move || error.get().is_some()>
                    <label for="step-up-secret">{label}</label>
                    <input id="step-up-secret" name="secret" type=kind autocomplete=autocomplete required=true
                        aria-describedby="step-up-hint step-up-error"/>
                    <p class="hint" id="step-up-hint">{hint}</p>
                    <p class="field-error" id="step-up-error" role="alert">{message}</p>
                </div>
                <button type="submit" class="button primary wide" disabled=move || pending.get()>"Confirm"</button>
            </form>
        })}
    }
}

/// A check's lifetime in words: "5 minutes", "20 seconds".
fn duration(seconds: i64) -> String {
    match seconds {
        60 => "1 minute".into(),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        1 => "1 second".into(),
        s => format!("{s} seconds"),
    }
}
