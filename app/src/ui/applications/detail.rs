//! `/applications/{id}`: the credentials, a ready token request, the
//! settings and removal.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::form::{Mode, SettingsForm};
use super::{AppIcon, RemoveDialog};
use crate::api::applications::{
    application_page, reveal_credentials, AppPage, CredentialsView, RetireSecret,
    RevealCredentials, RotateSecret, SecretsView, TransferApplication,
};
use crate::api::auth::take_flash;
use crate::api::AppError;
use crate::time::{format_optional_time, format_time};
use crate::ui::charts::UsageChart;
use crate::ui::components::LoadFailed;
use crate::ui::components::{use_hydrated, CopyButton, ErrorBanner};
use leptos::server_fn::ServerFn;

#[component]
pub fn ApplicationPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let page = Resource::new(
        move || {
            let id = params.with(|p| p.get("id")).unwrap_or_default();
            // Any change of the query (a save, a rotation) reloads.
            let query = query.with(|q| q.to_query_string());
            (id, query)
        },
        |(id, _)| async move {
            let page = application_page(id).await?;
            let flash = take_flash("application".into()).await?;
            let refused = take_flash("rotate".into()).await?.map(|f| f.error);
            let not_transferred = take_flash("transfer".into()).await?.map(|f| f.error);
            Ok::<_, AppError>((page, flash, refused, not_transferred))
        },
    );
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok((page, flash, refused, not_transferred)) => {
                        view! { <Details page flash refused not_transferred/> }.into_any()
                    }
                    Err(AppError::NotFound) => view! { <crate::ui::components::NotFound/> }.into_any(),
                    Err(e) => view! { <LoadFailed error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Which secret credential a row shows (the client ID is not a secret:
/// it shows plainly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Secret,
    Combined,
}

impl Which {
    fn param(self) -> &'static str {
        match self {
            Self::Secret => "client_secret",
            Self::Combined => "oauth_credentials",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Secret => "Client Secret",
            Self::Combined => "OAuth Credentials",
        }
    }

    fn copy_label(self) -> &'static str {
        match self {
            Self::Secret => "Copy Client Secret",
            Self::Combined => "Copy OAuth Credentials",
        }
    }

    fn pick(self, c: &CredentialsView) -> String {
        match self {
            Self::Secret => c.client_secret.clone(),
            Self::Combined => c.oauth_credentials.clone(),
        }
    }
}

#[component]
fn Details(
    page: AppPage,
    flash: Option<crate::api::Flash>,
    /// Why a rotation or retirement posted without JavaScript was refused.
    refused: Option<AppError>,
    /// Why a transfer posted without JavaScript was refused.
    not_transferred: Option<AppError>,
) -> impl IntoView {
    let query = use_query_map();
    let app = page.app.clone();
    let id = app.id.clone();
    let notice = move || query.with(notice);
    let dialog = RwSignal::new(false);
    let remove_ids = Signal::derive({
        let id = id.clone();
        move || vec![id.clone()]
    });
    view! {
        <Title text=app.name.clone()/>
        <div class="page-head">
            <div class="app-title">
                <p class="crumbs"><a href="/applications">"Applications"</a></p>
                <h1><AppIcon name=app.name.clone() url=app.icon_url.clone() class="icon large"/> {app.name.clone()}</h1>
                {(!app.description.is_empty()).then(|| view! { <p class="description">{app.description.clone()}</p> })}
                <p class="muted meta">
                    {format!("Owner {} · Created {} · Last used {}", app.owner, format_time(app.created_at), format_optional_time(app.last_used_at))}
                    {app.registered_by.clone().map(|by| format!(" · {}", crate::ui::components::capitalized(&by)))}
                </p>
            </div>
            <form method="get" action="/applications/remove" on:submit=move |ev| {
                ev.prevent_default();
                dialog.set(true);
            }>
                <input type="hidden" name="ids" value=id.clone()/>
                <button type="submit" class="button danger">"Remove application"</button>
            </form>
        </div>
        {move || notice().map(|text| view! { <p class="banner ok" role="status">{text}</p> })}
        {if app.public {
            view! { <PublicClientCard app=app.clone() token_url=page.token_url.clone()/> }.into_any()
        } else {
            view! {
                <CredentialsCard id=id.clone() client_id=app.client_id.clone() token_url=page.token_url.clone()
                    revealed=page.credentials.clone() shown=page.shown.clone()/>
                <Secrets id=id.clone() secrets=page.secrets.clone() created_at=app.created_at refused/>
            }.into_any()
        }}
        {(!page.owners.is_empty()).then(|| view! {
            <Ownership id=id.clone() owner=app.owner.clone() owners=page.owners.clone() refused=not_transferred/>
        })}
        <section class="card">
            <h2>"Usage, last 30 days"</h2>
            <UsageChart days=page.usage.clone()/>
        </section>
        <section class="card form-card">
            <h2>"Application Settings"</h2>
            <SettingsForm catalog=page.catalog initial=Some(app.clone()) flash mode=Mode::Edit { id: id.clone() }/>
        </section>
        <RemoveDialog ids=remove_ids open=dialog/>
    }
}

/// What the page says after a change the browser was sent back from.
fn notice(query: &leptos_router::params::ParamsMap) -> Option<&'static str> {
    if query.get("saved").is_some() {
        Some("Settings saved.")
    } else if query.get("rotated").is_some() {
        Some("A new secret was issued. Reveal it below and give it to the integration.")
    } else if query.get("retired").is_some() {
        Some("The previous secret was retired: it no longer works.")
    } else if query.get("transferred").is_some() {
        Some("Ownership transferred. The client ID and secret are unchanged.")
    } else if query.get("restored").is_some() {
        Some("The application was restored with its client ID and a new secret. Reveal it below.")
    } else {
        None
    }
}

/// A public client's client ID, and how it signs a user in: the
/// authorization request with PKCE, and the code's exchange without a
/// secret.
#[component]
fn PublicClientCard(app: crate::api::applications::AppView, token_url: String) -> impl IntoView {
    let base = token_url.trim_end_matches("/oauth2/token").to_owned();
    let client_id = app.client_id.clone();
    let callback = if app.callback_url.is_empty() {
        "$CALLBACK_URL".to_owned()
    } else {
        app.callback_url.clone()
    };
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let mut scope = app.permissions.join(" ");
    if app.refresh_tokens {
        scope.push_str(" offline_access");
    }
    let authorize = format!(
        "{base}/oauth2/authorize?response_type=code&client_id={client_id}\n  &redirect_uri={}&scope={}\n  &state=$STATE&code_challenge=$CODE_CHALLENGE&code_challenge_method=S256",
        encode(&callback),
        encode(&scope),
    );
    let exchange = format!(
        "curl -X POST {token_url} \\\n  -d grant_type=authorization_code \\\n  -d client_id={client_id} \\\n  --data-urlencode 'redirect_uri={callback}' \\\n  -d code=$CODE -d code_verifier=$CODE_VERIFIER"
    );
    let id_copy = Signal::derive({
        let client_id = client_id.clone();
        move || Some(client_id.clone())
    });
    let authorize_copy = Signal::derive({
        let authorize = authorize.replace("\n  ", "");
        move || Some(authorize.clone())
    });
    let exchange_copy = Signal::derive({
        let exchange = exchange.clone();
        move || Some(exchange.clone())
    });
    view! {
        <section class="card">
            <h2>"Credentials"</h2>
            <p class="muted">"A public client has no secret: give the tool its client ID. It signs its user in with the authorization code flow and PKCE (S256); on a loopback callback such as http://127.0.0.1/callback any port is accepted."</p>
            <dl class="credentials">
                <div class="credential">
                    <dt>"Client ID"</dt>
                    <dd><code class="client-id">{client_id.clone()}</code><CopyButton value=id_copy label="Copy Client ID"/></dd>
                </div>
                <div class="credential">
                    <dt>"Client Secret"</dt>
                    <dd><span class="muted">"None: public client"</span></dd>
                </div>
            </dl>
            <h3>"Send the user to sign in"</h3>
            <div class="snippet">
                <pre><code>{authorize}</code></pre>
                <CopyButton value=authorize_copy label="Copy authorization URL"/>
            </div>
            <h3>"Exchange the code"</h3>
            <div class="snippet">
                <pre><code>{exchange}</code></pre>
                <CopyButton value=exchange_copy label="Copy curl command"/>
            </div>
            {app.refresh_tokens.then(|| view! {
                <p class="hint">"With "<code>"offline_access"</code>" approved, the answer carries a refresh token: send it with "<code>"grant_type=refresh_token"</code>" and the client ID, and keep the new one each answer brings."</p>
            })}
        </section>
    }
}

/// The credentials, each hidden until shown, and a ready token request
/// that carries the secret once it is shown.
#[component]
fn CredentialsCard(
    id: String,
    client_id: String,
    token_url: String,
    /// What a reveal posted without JavaScript returned, and for which row.
    revealed: Option<CredentialsView>,
    shown: Option<String>,
) -> impl IntoView {
    // Credentials fetched by a reveal; rows shown.
    let shown = RwSignal::new(
        [Which::Secret, Which::Combined]
            .into_iter()
            .filter(|w| revealed.is_some() && shown.as_deref() == Some(w.param()))
            .collect::<Vec<_>>(),
    );
    let credentials = RwSignal::new(revealed);
    let shown_id = client_id.clone();
    let id_copy = Signal::derive({
        let client_id = client_id.clone();
        move || Some(client_id.clone())
    });
    let curl = Signal::derive(move || {
        let secret_shown = shown.with(|s| s.contains(&Which::Secret));
        let secret = credentials
            .with(|c| {
                c.as_ref()
                    .filter(|_| secret_shown)
                    .map(|c| c.client_secret.clone())
            })
            .unwrap_or_else(|| "$CLIENT_SECRET".into());
        format!("curl -X POST {token_url} \\\n  -u '{client_id}:{secret}' \\\n  -d grant_type=client_credentials")
    });
    let curl_copy = Signal::derive(move || Some(curl.get()));
    view! {
    <section class="card">
        <h2>"Credentials"</h2>
        <p class="muted">"Give these to the integration. Every reveal of the secret is written to the audit log."</p>
        <dl class="credentials">
            <div class="credential">
                <dt>"Client ID"</dt>
                <dd><code class="client-id">{shown_id}</code><CopyButton value=id_copy label="Copy Client ID"/></dd>
            </div>
            {[Which::Secret, Which::Combined].into_iter().map(|which| view! {
                <CredentialRow which id=id.clone() credentials shown/>
            }).collect_view()}
        </dl>
        <h3>"Request a token"</h3>
        <div class="snippet">
            <pre><code>{curl}</code></pre>
            <CopyButton value=curl_copy label="Copy curl command"/>
        </div>
    </section>
    }
}

#[component]
fn CredentialRow(
    which: Which,
    id: String,
    credentials: RwSignal<Option<CredentialsView>>,
    shown: RwSignal<Vec<Which>>,
) -> impl IntoView {
    let hydrated = use_hydrated();
    let visible = move || shown.with(|s| s.contains(&which));
    let value = Signal::derive(move || credentials.with(|c| c.as_ref().map(|c| which.pick(c))));
    let base = format!("/applications/{id}");
    let reveal_id = id.clone();
    let step_up = crate::ui::step_up::use_step_up();
    let show = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if credentials.with_untracked(Option::is_some) {
            shown.update(|s| s.push(which));
            return;
        }
        let id = id.clone();
        leptos::task::spawn_local(async move {
            match reveal_credentials(id, None).await {
                Ok(c) => {
                    credentials.set(Some(c));
                    shown.update(|s| s.push(which));
                }
                // The dialog asks, then submits this form again.
                Err(crate::api::AppError::StepUpRequired) => {
                    if let Some(step_up) = step_up {
                        step_up.then_resubmit();
                    }
                }
                Err(_) => {}
            }
        });
    };
    let hide = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        shown.update(|s| s.retain(|w| *w != which));
    };
    let copy_value = Signal::derive(move || if hydrated.get() { value.get() } else { None });
    view! {
        <div class="credential">
            <dt>{which.label()}</dt>
            <dd>
                {move || if visible() {
                    view! {
                        <code class="secret">{value.get()}</code>
                        <a class="button small" href=base.clone() on:click=hide aria-label=format!("Hide {}", which.label())>"Hide"</a>
                    }.into_any()
                } else {
                    // A reveal is a POST; without JavaScript it returns
                    // here once, showing this row.
                    view! {
                        <span class="dots" aria-label="hidden">"••••••••"</span>
                        <form class="reveal" method="post" action={<RevealCredentials as ServerFn>::PATH} on:submit=show.clone()>
                            <input type="hidden" name="id" value=reveal_id.clone()/>
                            <input type="hidden" name="row" value=which.param()/>
                            <button type="submit" class="button small" aria-label=format!("Show {}", which.label())>"Show"</button>
                        </form>
                    }.into_any()
                }}
                <CopyButton value=copy_value label=which.copy_label()/>
            </dd>
        </div>
    }
}

/// Grace periods offered when rotating: seconds and label.
const GRACE_CHOICES: [(i64, &str); 4] = [
    (0, "None: the old secret stops now"),
    (3_600, "1 hour"),
    (86_400, "24 hours"),
    (7 * 86_400, "7 days"),
];

/// Who owns the application, and handing it to someone else: when its
/// owner leaves, the integration keeps its client ID and secret.
#[component]
fn Ownership(
    id: String,
    owner: String,
    owners: Vec<(String, String)>,
    refused: Option<AppError>,
) -> impl IntoView {
    let transfer = ServerAction::<TransferApplication>::new();
    let error = Signal::derive(move || {
        transfer
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| refused.clone())
    });
    view! {
        <section class="card" id="ownership">
            <h2>"Ownership"</h2>
            <ErrorBanner error/>
            <ActionForm action=transfer>
                <input type="hidden" name="id" value=id/>
                <div class="rotate">
                    <div class="field">
                        <label for="owner">"Owner"</label>
                        <select id="owner" name="owner">
                            {owners.into_iter().map(|(user_id, email)| {
                                let current = email == owner;
                                view! { <option value=user_id selected=current>{email}</option> }
                            }).collect_view()}
                        </select>
                    </div>
                    <button type="submit" class="button" disabled=move || transfer.pending().get()>"Transfer ownership"</button>
                </div>
                <p class="hint">"The new owner manages the application and may reveal its secret; tokens it gets from now on act for them. The client ID and secret stay as they are, and the transfer is written to the audit log."</p>
            </ActionForm>
        </section>
    }
}

/// Both secrets' last use, the previous one's deadline, rotation and early
/// retirement.
#[component]
fn Secrets(
    id: String,
    secrets: SecretsView,
    created_at: i64,
    refused: Option<AppError>,
) -> impl IntoView {
    let rotate = ServerAction::<RotateSecret>::new();
    let retire = ServerAction::<RetireSecret>::new();
    let error = Signal::derive(move || {
        rotate
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| retire.value().get().and_then(Result::err))
            .or_else(|| refused.clone())
    });
    let issued = secrets.rotated_at.unwrap_or(created_at);
    let retire_id = id.clone();
    view! {
        <section class="card" id="secrets">
            <h2>"Secrets"</h2>
            <ErrorBanner error/>
            <div class="table-wrap secrets-wrap">
            <table class="secrets">
                <thead><tr><th>"Secret"</th><th>"Issued"</th><th>"Last used"</th><th>"Works until"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                <tbody>
                    <tr>
                        <td>"Current"</td>
                        <td class="nowrap">{format_time(issued)}</td>
                        <td class="nowrap">{format_optional_time(secrets.current_last_used)}</td>
                        <td>"Until rotated"</td>
                        <td></td>
                    </tr>
                    {secrets.previous_expires_at.map(|until| view! {
                        <tr class="previous">
                            <td>"Previous"</td>
                            <td class="nowrap">"Replaced "{format_time(issued)}</td>
                            <td class="nowrap">{format_optional_time(secrets.previous_last_used)}</td>
                            <td class="nowrap"><strong>{format_time(until)}</strong></td>
                            <td>
                                <ActionForm action=retire>
                                    <input type="hidden" name="id" value=retire_id.clone()/>
                                    <button type="submit" class="button small danger-outline">"Retire now"</button>
                                </ActionForm>
                            </td>
                        </tr>
                    })}
                </tbody>
            </table>
            </div>
            <ActionForm action=rotate>
                <input type="hidden" name="id" value=id.clone()/>
                <div class="rotate">
                    <div class="field">
                        <label for="grace_seconds">"Keep the current secret working for"</label>
                        <select id="grace_seconds" name="grace_seconds">
                            {GRACE_CHOICES.into_iter().map(|(seconds, label)| view! {
                                <option value=seconds.to_string() selected=seconds == 86_400>{label}</option>
                            }).collect_view()}
                        </select>
                    </div>
                    <button type="submit" class="button" disabled=move || rotate.pending().get()>"Rotate secret"</button>
                </div>
                <p class="hint">"A new secret takes over at once. Until the deadline both work, so integrations can switch without downtime. Rotating again retires a previous secret still in its grace period."</p>
            </ActionForm>
        </section>
    }
}
