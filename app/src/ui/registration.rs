//! `/registration` (admins): initial access tokens, with which tools and
//! agents register themselves (RFC 7591), and the domain's open
//! registration.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::components::{
    capitalized, permission_choices, CopyButton, DomainSwitcher, ErrorBanner, Field,
};
use crate::api::auth::take_flash;
use crate::api::registration::{
    registration_page, CreateRegistrationToken, CreatedToken, RegistrationView as Page,
    RevokeRegistrationToken, SetOpenQuota, SetOpenRegistration, TokenView,
};
use crate::api::{AppError, Flash};
use crate::time::{format_optional_time, format_time};
use crate::ui::components::LoadFailed;

/// The grant types a token may allow, with how the page names them.
const GRANT_TYPES: [(&str, &str); 3] = [
    (
        "authorization_code",
        "Authorization code with PKCE (users sign in)",
    ),
    ("refresh_token", "Refresh tokens"),
    ("client_credentials", "Client credentials (no user)"),
];

#[component]
pub fn RegistrationPage() -> impl IntoView {
    let query = use_query_map();
    let create = ServerAction::<CreateRegistrationToken>::new();
    let revoke = ServerAction::<RevokeRegistrationToken>::new();
    let open = ServerAction::<SetOpenRegistration>::new();
    let quota = ServerAction::<SetOpenQuota>::new();
    let page = Resource::new(
        move || {
            (
                query.with(|q| q.get("domain")),
                create.version().get()
                    + revoke.version().get()
                    + open.version().get()
                    + quota.version().get(),
            )
        },
        |(domain, _)| async move {
            let page = registration_page(domain).await?;
            let kept = take_flash("registration-token".into()).await?;
            let refused = take_flash("registration".into()).await?.map(|f| f.error);
            let quota_kept = take_flash("registration-quota".into()).await?;
            Ok::<_, AppError>((page, kept, refused, quota_kept))
        },
    );
    view! {
        <Title text="Client registration"/>
        <div class="page-head">
            <div>
                <h1>"Client registration"</h1>
                <p class="muted">
                    "Tools and AI agents register themselves (RFC 7591) with an initial access token from this page. "
                    "What registers counts against the domain's limit, belongs to the token's creator, and shows as "
                    <em>"registered by API"</em> " in the applications list."
                </p>
            </div>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok((page, kept, refused, quota_kept)) => {
                        let from_post = page.created.clone();
                        let created = Signal::derive(move || {
                            create.value().get().and_then(Result::ok).or_else(|| from_post.clone())
                        });
                        let kept_error = kept.as_ref().map(|f| f.error.clone());
                        let error = Signal::derive(move || create.value().get().and_then(Result::err).or_else(|| kept_error.clone()));
                        let row_error = Signal::derive(move || {
                            revoke.value().get().and_then(Result::err)
                                .or_else(|| open.value().get().and_then(Result::err))
                                .or_else(|| refused.clone())
                        });
                        let value = |name: &str| kept.as_ref().and_then(|f| f.value(name));
                        let typed = (value("label").unwrap_or_default(), value("uses"), value("expires_days"));
                        view! {
                            <CreatedNotice created endpoint=page.endpoint.clone()/>
                            <ErrorBanner error=row_error plainly=true/>
                            <DomainSwitcher domains=page.domains.clone() current=page.domain.id.clone() page="/registration"/>
                            <p class="muted">"Registration endpoint " <code>{page.endpoint.clone()}</code></p>
                            <TokenTable page=page.clone() revoke/>
                            <NewTokenForm page=page.clone() create error typed/>
                            <OpenRegistration page open quota quota_kept/>
                        }.into_any()
                    }
                    Err(e) => view! { <LoadFailed error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The token just created, to copy and hand over: it is not shown again.
#[component]
fn CreatedNotice(created: Signal<Option<CreatedToken>>, endpoint: String) -> impl IntoView {
    move || {
        created.get().map(|c| {
            let token = c.token.clone();
            let example = format!(
                "curl -X POST {endpoint} \\\n  -H 'Authorization: Bearer {}' -H 'Content-Type: application/json' \\\n  -d '{{\"client_name\": \"My agent\", \"redirect_uris\": [\"http://127.0.0.1/callback\"], \"token_endpoint_auth_method\": \"none\", \"grant_types\": [\"authorization_code\", \"refresh_token\"]}}'",
                c.token
            );
            let copy_example = example.clone();
            view! {
                <section class="card link-notice" role="status">
                    <h2>{format!("Initial access token {}", c.label)}</h2>
                    <p>{format!(
                        "Give it to the tool that registers. It registers {} until {}, and is not shown again.",
                        if c.uses == 1 { "one client".to_owned() } else { format!("up to {} clients", c.uses) },
                        format_time(c.expires_at),
                    )}</p>
                    <div class="snippet">
                        <code class="link" data-testid="initial-access-token">{c.token.clone()}</code>
                        <CopyButton value=Signal::derive(move || Some(token.clone())) label="Copy token"/>
                    </div>
                    <details>
                        <summary>"Registering with it"</summary>
                        <div class="snippet">
                            <pre><code>{example}</code></pre>
                            <CopyButton value=Signal::derive(move || Some(copy_example.clone())) label="Copy example"/>
                        </div>
                    </details>
                </section>
            }
        })
    }
}

#[component]
fn TokenTable(page: Page, revoke: ServerAction<RevokeRegistrationToken>) -> impl IntoView {
    if page.tokens.is_empty() {
        return view! { <p class="empty card">"No initial access tokens yet. Create one below for a tool or agent to register with."</p> }.into_any();
    }
    let domain = page.domain.id.clone();
    view! {
        <div class="table-wrap">
            <table class="tokens">
                <thead><tr>
                    <th>"Label"</th><th>"State"</th><th>"Uses left"</th><th>"Allows"</th>
                    <th>"Owner"</th><th>"Expires"</th><th>"Last used"</th><th>"Actions"</th>
                </tr></thead>
                <tbody>
                    {page.tokens.into_iter().map(|t| view! { <TokenRow t domain=domain.clone() revoke/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn TokenRow(
    t: TokenView,
    domain: String,
    revoke: ServerAction<RevokeRegistrationToken>,
) -> impl IntoView {
    let active = t.state == "active";
    let label = format!("Revoke {}", t.label);
    view! {
        <tr class:disabled=!active>
            <td data-label="Label">{t.label.clone()}</td>
            <td data-label="State"><span class="status" class:off=!active>{capitalized(&t.state)}</span></td>
            <td data-label="Uses left">{format!("{} of {}", t.uses_left.max(0), t.max_uses)}</td>
            <td data-label="Allows">
                <ul class="tags">{t.permissions.iter().map(|p| view! { <li>{p.clone()}</li> }).collect_view()}</ul>
                <p class="hint">{t.grant_types.join(", ")}{if t.public_allowed { "; public clients too" } else { "; confidential clients only" }}</p>
            </td>
            <td data-label="Owner">{t.owner.clone()}</td>
            <td data-label="Expires" class="nowrap">{format_time(t.expires_at)}</td>
            <td data-label="Last used" class="nowrap">{format_optional_time(t.last_used_at)}</td>
            <td data-label="Actions">
                {active.then(|| view! {
                    <ActionForm action=revoke>
                        <input type="hidden" name="domain" value=domain.clone()/>
                        <input type="hidden" name="id" value=t.id.clone()/>
                        <button type="submit" class="button small danger-outline" aria-label=label.clone()>"Revoke"</button>
                    </ActionForm>
                })}
            </td>
        </tr>
    }
}

#[component]
fn NewTokenForm(
    page: Page,
    create: ServerAction<CreateRegistrationToken>,
    error: Signal<Option<AppError>>,
    typed: (String, Option<String>, Option<String>),
) -> impl IntoView {
    let (label, uses, days) = typed;
    let field_error = move |name: &'static str| move || error.get().and_then(|e| e.field(name));
    view! {
        <section class="card form-card" id="new-token">
            <h2>"Create an initial access token"</h2>
            <ActionForm action=create>
                <ErrorBanner error/>
                <input type="hidden" name="domain" value=page.domain.id.clone()/>
                <Field label="Label" name="label" value=label required=true error
                    hint="Who it is for, such as Reporting agent or VS Code for the support team."/>
                <div class="field-row">
                    <Field label="Registrations" name="uses" kind="number" value=uses.unwrap_or_else(|| "1".into()) required=true error
                        hint="How many clients may register with it (1 to 1,000)."/>
                    <Field label="Expires after (days)" name="expires_days" kind="number" value=days.unwrap_or_else(|| "7".into()) required=true error
                        hint="1 to 365 days."/>
                </div>
                <fieldset class="field" class:invalid=move || field_error("permissions")().is_some()>
                    <legend>"Permissions its clients may ask for"</legend>
                    <div class="permission-groups">{permission_choices(page.catalog.clone(), &page.default_permissions, "permissions[]")}</div>
                    <p class="field-error">{field_error("permissions")}</p>
                </fieldset>
                <fieldset class="field" class:invalid=move || field_error("grant_types")().is_some()>
                    <legend>"Grant types its clients may use"</legend>
                    <div class="checks">
                        {GRANT_TYPES.iter().map(|(name, text)| view! {
                            <label class="check-option">
                                <input type="checkbox" name="grant_types[]" value=*name checked=true/>
                                <span><code>{*name}</code><span class="muted">{*text}</span></span>
                            </label>
                        }).collect_view()}
                    </div>
                    <p class="field-error">{field_error("grant_types")}</p>
                </fieldset>
                <fieldset class="field">
                    <legend>"Client types"</legend>
                    <label class="check-option">
                        <input type="checkbox" name="public" value="on" checked=true/>
                        <span>"Public clients may register"<span class="muted">"Native tools and agents without a secret (token_endpoint_auth_method none). Confidential clients always may."</span></span>
                    </label>
                </fieldset>
                <button type="submit" class="button primary" disabled=move || create.pending().get()>"Create token"</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn OpenRegistration(
    page: Page,
    open: ServerAction<SetOpenRegistration>,
    quota: ServerAction<SetOpenQuota>,
    quota_kept: Option<Flash>,
) -> impl IntoView {
    let on = page.open_by.is_some();
    let (open_domain, quota_domain) = (page.domain.id.clone(), page.domain.id.clone());
    let typed = quota_kept
        .as_ref()
        .and_then(|f| f.value("quota"))
        .unwrap_or_else(|| page.open_quota.to_string());
    let kept_error = quota_kept.map(|f| f.error);
    let quota_error = Signal::derive(move || {
        quota
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| kept_error.clone())
    });
    view! {
        <section class="card form-card" id="open-registration">
            <h2>"Open registration"</h2>
            {match page.open_by.clone() {
                Some(owner) => view! {
                    <p>{format!("On for {}: public clients register without a token, owned by {owner}. ", page.domain.name)}
                    "Each address may register 10 an hour, and clients that get no token within a day are removed."</p>
                }.into_any(),
                None => view! {
                    <p>"Off. When on, public clients register without a token in this domain (one domain at a time), "
                    "each address at most 10 an hour; clients that get no token within a day are removed. "
                    "At most the quota below may register, so strangers never fill the domain."</p>
                }.into_any(),
            }}
            {page.open_elsewhere.clone().filter(|_| !on).map(|other| view! {
                <p class="hint">{format!("Open registration is on in {other}. Turning it on here turns it off there.")}</p>
            })}
            <ActionForm action=open>
                <input type="hidden" name="domain" value=open_domain.clone()/>
                <input type="hidden" name="on" value=(!on).to_string()/>
                {(!on && page.open_elsewhere.is_some()).then(|| view! {
                    <input type="hidden" name="move_here" value="true"/>
                })}
                <button type="submit" class="button" class:danger-outline=on>
                    {match (on, page.open_elsewhere.is_some()) {
                        (true, _) => "Turn open registration off",
                        (false, true) => "Move open registration here",
                        (false, false) => "Turn open registration on",
                    }}
                </button>
            </ActionForm>
            <ActionForm action=quota>
                <input type="hidden" name="domain" value=quota_domain.clone()/>
                <Field label="Clients that register themselves, at most" name="quota" kind="number"
                    value=typed required=true error=quota_error/>
                <p class="hint">{format!(
                    "{} registered themselves so far. At most {}: the domain's limit less the applications \
                     its admins registered, so that strangers never take the room admins need. The consent \
                     page tells users that such a client registered itself.",
                    page.open_used, page.open_ceiling
                )}</p>
                <button type="submit" class="button">"Save quota"</button>
            </ActionForm>
        </section>
    }
}
