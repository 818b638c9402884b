//! `/account`: the signed-in user's passkeys, authenticator app and
//! recovery codes.

use leptos::prelude::*;
use leptos_meta::Title;

use super::components::{use_hydrated, ErrorBanner, Field};
use super::portal::role_label;
use super::webauthn;
use crate::api::account::{
    account_page, add_passkey, new_passkey_options, AccountView, BeginTotp, ConfirmTotp,
    FactorView, NewRecoveryCodes, RemoveFactor, TotpSetupView,
};
use crate::api::AppError;
use crate::time::{format_optional_time, format_time};
use crate::ui::components::LoadFailed;

#[component]
pub fn AccountPage() -> impl IntoView {
    let begin = ServerAction::<BeginTotp>::new();
    let confirm = ServerAction::<ConfirmTotp>::new();
    let remove = ServerAction::<RemoveFactor>::new();
    let regenerate = ServerAction::<NewRecoveryCodes>::new();
    // Codes a passkey added as the first factor brought.
    let passkey_codes = RwSignal::new(None::<Vec<String>>);
    let added = RwSignal::new(0u32);
    // The header's reminder goes once a factor is set up.
    Effect::new(move |_| {
        let enrolled = matches!(confirm.value().get(), Some(Ok(_))) || added.get() > 0;
        if enrolled {
            super::portal::ViewerChanged::notify();
        }
    });
    let page = Resource::new(
        move || {
            (
                confirm.version().get(),
                remove.version().get(),
                regenerate.version().get(),
                added.get(),
            )
        },
        |_| account_page(),
    );
    view! {
        <Title text="Account"/>
        <div class="page-head">
            <div>
                <h1>"Account"</h1>
                <p class="muted">"How you prove it is you when you sign in, and before Keyport shows a secret or changes who has access."</p>
            </div>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(view) => view! {
                        <Account view begin confirm remove regenerate passkey_codes added/>
                    }.into_any(),
                    Err(e) => view! { <LoadFailed error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Account(
    view: AccountView,
    begin: ServerAction<BeginTotp>,
    confirm: ServerAction<ConfirmTotp>,
    remove: ServerAction<RemoveFactor>,
    regenerate: ServerAction<NewRecoveryCodes>,
    passkey_codes: RwSignal<Option<Vec<String>>>,
    added: RwSignal<u32>,
) -> impl IntoView {
    let passkey_error = RwSignal::new(None::<AppError>);
    let error = Signal::derive(move || {
        begin
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| remove.value().get().and_then(Result::err))
            .or_else(|| regenerate.value().get().and_then(Result::err))
            .or_else(|| passkey_error.get())
    });
    let kept_codes = view.new_codes.clone();
    let codes = Signal::derive(move || {
        confirm
            .value()
            .get()
            .and_then(Result::ok)
            .flatten()
            .or_else(|| regenerate.value().get().and_then(Result::ok))
            .or_else(|| passkey_codes.get())
            .or_else(|| kept_codes.clone())
    });
    let (passkeys, apps): (Vec<FactorView>, Vec<FactorView>) = view
        .factors
        .iter()
        .cloned()
        .partition(|f| f.kind == "passkey");
    let has_factor = !view.factors.is_empty();
    let kept_setup = view.totp_setup.clone();
    let setup = Signal::derive(move || {
        begin
            .value()
            .get()
            .and_then(Result::ok)
            .or_else(|| kept_setup.clone())
    });
    view! {
        <p class="muted">"Signed in as " <strong>{view.email.clone()}</strong> " (" {role_label(&view.role)} ")."</p>
        {view.enrol_by.map(|by| view! {
            <p class="banner warn">{format!(
                "Your role needs a second factor. Set up a passkey or an authenticator app{}.",
                if by > 0 { format!(" (by {})", format_time(by)) } else { String::new() }
            )}</p>
        })}
        <ErrorBanner error plainly=true/>
        {move || codes.get().map(|codes| view! { <RecoveryCodes codes/> })}
        <section class="card" aria-labelledby="passkeys-title">
            <h2 id="passkeys-title">"Passkeys"</h2>
            <p class="muted">"A passkey signs you in with your device's screen lock or a security key, on its own or after your password. Nothing to type, nothing to phish."</p>
            <FactorTable factors=passkeys remove kind="passkey"/>
            <AddPasskey available=view.passkeys_available passkey_error passkey_codes added/>
        </section>
        <section class="card" aria-labelledby="totp-title">
            <h2 id="totp-title">"Authenticator app"</h2>
            <p class="muted">"An app such as Google Authenticator, 1Password or Aegis shows a new 6-digit code every 30 seconds."</p>
            {if apps.is_empty() {
                view! { <TotpSetup begin confirm setup/> }.into_any()
            } else {
                view! { <FactorTable factors=apps remove kind="authenticator app"/> }.into_any()
            }}
        </section>
        <section class="card" aria-labelledby="codes-title">
            <h2 id="codes-title">"Recovery codes"</h2>
            {if has_factor {
                view! {
                    <p>{format!("{} of {} recovery codes left.", view.recovery_left, view.recovery_total)}
                        " Each works once, in place of your passkey or app, if you lose them."</p>
                    <ActionForm action=regenerate>
                        <button type="submit" class="button">"Make new recovery codes"</button>
                        <p class="hint">"The codes you have now stop working."</p>
                    </ActionForm>
                }.into_any()
            } else {
                view! { <p class="muted">"You get ten recovery codes when you set up your first passkey or authenticator app."</p> }.into_any()
            }}
        </section>
    }
}

/// Fresh recovery codes: shown this once.
#[component]
fn RecoveryCodes(codes: Vec<String>) -> impl IntoView {
    let all = Signal::derive({
        let text = codes.join("\n");
        move || Some(text.clone())
    });
    view! {
        <section class="card highlight" aria-labelledby="new-codes-title">
            <h2 id="new-codes-title">"Save your recovery codes"</h2>
            <p>"Keep them somewhere safe, such as a password manager. Each works once. Keyport will not show them again."</p>
            <ul class="codes" data-testid="recovery-codes">
                {codes.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
            </ul>
            <super::components::CopyButton value=all label="Copy recovery codes"/>
        </section>
    }
}

/// The user's factors of one kind, each with a Remove button.
#[component]
fn FactorTable(
    factors: Vec<FactorView>,
    remove: ServerAction<RemoveFactor>,
    kind: &'static str,
) -> impl IntoView {
    if factors.is_empty() {
        return view! { <p class="muted">{format!("No {kind} yet.")}</p> }.into_any();
    }
    view! {
        <table class="factors">
            <thead>
                <tr><th scope="col">"Name"</th><th scope="col">"Added"</th><th scope="col">"Last used"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr>
            </thead>
            <tbody>
                {factors.into_iter().map(|f| view! {
                    <tr>
                        <td data-label="Name">{f.name.clone()}</td>
                        <td data-label="Added" class="nowrap">{format_time(f.created_at)}</td>
                        <td data-label="Last used" class="nowrap">{format_optional_time(f.last_used_at)}</td>
                        <td>
                            <ActionForm action=remove>
                                <input type="hidden" name="id" value=f.id.clone()/>
                                <button type="submit" class="button small danger" aria-label=format!("Remove {}", f.name)>"Remove"</button>
                            </ActionForm>
                        </td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// Adds a passkey: a name, then the browser's own dialog.
#[component]
fn AddPasskey(
    available: bool,
    passkey_error: RwSignal<Option<AppError>>,
    passkey_codes: RwSignal<Option<Vec<String>>>,
    added: RwSignal<u32>,
) -> impl IntoView {
    let hydrated = use_hydrated();
    if !available {
        return view! {
            <p class="hint">"Passkeys need Keyport served under a host name, such as localhost or keyport.example.com (KEYPORT_PUBLIC_URL), not an IP address. Use an authenticator app meanwhile."</p>
        }
        .into_any();
    }
    let pending = RwSignal::new(false);
    let step_up = super::step_up::use_step_up();
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let name = super::components::form_value(&ev, "name");
        enrol_passkey(name, pending, passkey_error, passkey_codes, added, step_up);
    };
    view! {
        <form class="inline-form" on:submit=add>
            <div class="field">
                <label for="passkey-name">"Name"</label>
                <input id="passkey-name" name="name" maxlength="64" placeholder="Work laptop"
                    aria-describedby="passkey-name-hint"/>
                <p class="hint" id="passkey-name-hint">"So that you can tell your passkeys apart."</p>
            </div>
            <button type="submit" class="button primary" disabled=move || !hydrated.get() || pending.get()>"Add a passkey"</button>
        </form>
        <p class="hint" hidden=move || hydrated.get()>"Adding a passkey needs JavaScript, which is off or still loading. An authenticator app works without."</p>
    }
    .into_any()
}

/// The passkey ceremony: options from the server, the browser's dialog,
/// the answer back. Asked for a fresh check first, starts again once the
/// user has confirmed.
fn enrol_passkey(
    name: String,
    pending: RwSignal<bool>,
    passkey_error: RwSignal<Option<AppError>>,
    passkey_codes: RwSignal<Option<Vec<String>>>,
    added: RwSignal<u32>,
    step_up: Option<super::step_up::StepUp>,
) {
    pending.set(true);
    passkey_error.set(None);
    leptos::task::spawn_local(async move {
        let result = async {
            let options = new_passkey_options().await?;
            let credential = webauthn::create_passkey(options)
                .await
                .map_err(AppError::BadRequest)?;
            add_passkey(name.clone(), credential).await
        }
        .await;
        pending.set(false);
        match result {
            Ok(codes) => {
                passkey_codes.set(codes);
                added.update(|n| *n += 1);
            }
            Err(AppError::StepUpRequired) => {
                if let Some(step_up) = step_up {
                    step_up.then(move || {
                        enrol_passkey(
                            name.clone(),
                            pending,
                            passkey_error,
                            passkey_codes,
                            added,
                            Some(step_up),
                        )
                    });
                }
            }
            Err(e) => passkey_error.set(Some(e)),
        }
    });
}

/// Setting up an authenticator app: a button, then the QR code, the secret
/// as text and a field for the first code.
#[component]
fn TotpSetup(
    begin: ServerAction<BeginTotp>,
    confirm: ServerAction<ConfirmTotp>,
    setup: Signal<Option<TotpSetupView>>,
) -> impl IntoView {
    let confirm_error = Signal::derive(move || confirm.value().get().and_then(Result::err));
    move || {
        match setup.get() {
        None => view! {
            <ActionForm action=begin>
                <button type="submit" class="button primary">"Set up an authenticator app"</button>
            </ActionForm>
        }
        .into_any(),
        Some(setup) => view! {
            <div class="totp-setup">
                // Drawn on the server from the otpauth URI: no request
                // leaves Keyport for it.
                <div class="qr" role="img" aria-label="QR code to scan with your authenticator app" inner_html=setup.qr_svg.clone()></div>
                <div>
                    <ol>
                        <li>"Scan the QR code with your authenticator app."</li>
                        <li>"Or type this key into it: " <code class="secret" data-testid="totp-secret">{setup.secret.clone()}</code></li>
                        <li>"Enter the 6-digit code the app shows."</li>
                    </ol>
                    <ActionForm action=confirm>
                        <ErrorBanner error=confirm_error plainly=true/>
                        <Field label="Code from the app" name="code" autocomplete="one-time-code" required=true error=confirm_error/>
                        <button type="submit" class="button primary" disabled=move || confirm.pending().get()>"Turn on"</button>
                    </ActionForm>
                </div>
            </div>
        }
        .into_any(),
    }
    }
}
