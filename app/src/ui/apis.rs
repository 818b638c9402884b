//! `/apis`: the APIs tokens are issued for (admins read, super admins
//! register), each with the metadata its owner publishes and how it checks
//! a token.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::components::{CopyButton, ErrorBanner, Field};
use crate::api::apis::{list_apis, ApiView, CreateApi};
use crate::api::auth::take_flash;
use crate::api::AppError;
use crate::ui::components::LoadFailed;

#[component]
pub fn ApisPage() -> impl IntoView {
    let create = ServerAction::<CreateApi>::new();
    let query = use_query_map();
    let page = Resource::new(
        move || (create.version().get(), query.with(|q| q.get("registered"))),
        |_| async {
            let page = list_apis().await?;
            Ok::<_, AppError>((page, take_flash("api".into()).await?))
        },
    );
    view! {
        <Title text="APIs"/>
        <div class="page-head">
            <div>
                <h1>"APIs"</h1>
                <p class="muted">
                    "Each API is a resource its clients name with " <code>"resource"</code>
                    ": its tokens carry its identifier as " <code>"aud"</code>
                    " and only its permissions. Without " <code>"resource"</code>
                    ", a token is for Keyport's own management API."
                </p>
            </div>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok((page, flash)) => {
                        let kept = flash.as_ref().map(|f| f.error.clone());
                        let error = Signal::derive(move || {
                            create.value().get().and_then(Result::err).or_else(|| kept.clone())
                        });
                        let value = |name: &str| flash.as_ref().and_then(|f| f.value(name)).unwrap_or_default();
                        let (name, identifier, permissions) = (value("name"), value("identifier"), value("permissions"));
                        let registered = query.with_untracked(|q| q.get("registered").is_some());
                        view! {
                            {registered.then(|| view! { <p class="banner ok" role="status">"API registered. Publish its metadata and check its tokens as shown below."</p> })}
                            <p class="muted">{format!("Issuer {} · Keys {}", page.issuer, page.jwks_uri)}</p>
                            {page.apis.into_iter().map(|api| view! { <ApiCard api/> }).collect_view()}
                            {page.can_register.then(|| view! {
                                <section class="card form-card" id="register">
                                    <h2>"Register an API"</h2>
                                    <ActionForm action=create>
                                        <ErrorBanner error/>
                                        <Field label="Name" name="name" value=name required=true error/>
                                        <Field label="Identifier" name="identifier" value=identifier required=true error
                                            hint="An absolute https:// URI (http:// on a loopback host), such as https://reports.example.com/api: the aud of its tokens."/>
                                        <div class="field" class:invalid=move || error.get().and_then(|e| e.field("permissions")).is_some()>
                                            <label for="permissions">"Permissions"</label>
                                            <textarea id="permissions" name="permissions" aria-describedby="permissions-hint permissions-error"
                                                placeholder="reports:read Read the reports">{crate::ui::rcdata(&permissions)}</textarea>
                                            <p class="hint" id="permissions-hint">"One per line: its name, then what it allows. Names are unique across APIs, such as reports:read."</p>
                                            <p class="field-error" id="permissions-error">{move || error.get().and_then(|e| e.field("permissions"))}</p>
                                        </div>
                                        <button type="submit" class="button primary" disabled=move || create.pending().get()>"Register API"</button>
                                    </ActionForm>
                                </section>
                            })}
                        }.into_any()
                    }
                    Err(e) => view! { <LoadFailed error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// One API: its identifier and permissions, and what its owner publishes
/// and checks.
#[component]
fn ApiCard(api: ApiView) -> impl IntoView {
    let anchor = format!("api-{}", api.id.clone().unwrap_or_else(|| "keyport".into()));
    let metadata = api.metadata.clone();
    let metadata_copy = Signal::derive(move || Some(metadata.clone()));
    let verify = api.verify.clone();
    let verify_copy = Signal::derive(move || Some(verify.clone()));
    let own = api.id.is_none();
    view! {
        <section class="card api" id=anchor>
            <h2>{api.name.clone()}{own.then(|| view! { " " <span class="tag">"built in"</span> })}</h2>
            <dl class="credentials">
                <div class="credential">
                    <dt>"Identifier"</dt>
                    <dd><code class="client-id">{api.identifier.clone()}</code></dd>
                </div>
            </dl>
            <ul class="tags">
                {api.permissions.iter().map(|p| view! { <li title=p.description.clone()>{p.scope.clone()}</li> }).collect_view()}
            </ul>
            <details>
                <summary>"What its owner publishes and checks"</summary>
                <h3>"Protected-resource metadata (RFC 9728)"</h3>
                <p class="hint">"Serve this at " <code>{api.metadata_url.clone()}</code> ", so that clients find where to get its tokens."</p>
                <div class="snippet">
                    <pre><code>{api.metadata.clone()}</code></pre>
                    <CopyButton value=metadata_copy label="Copy metadata"/>
                </div>
                <h3>"Verifying a token"</h3>
                <p class="hint">
                    "Check the signature with the keys at the JWKS URL, " <code>"iss"</code> ", " <code>"aud"</code> " = "
                    <code>{api.identifier.clone()}</code> ", " <code>"typ"</code> " = " <code>"at+jwt"</code>
                    " and " <code>"exp"</code> " (5 s of leeway), then the permission the call needs in " <code>"scope"</code> ". With the jose library for Node.js:"
                </p>
                <div class="snippet">
                    <pre><code>{api.verify.clone()}</code></pre>
                    <CopyButton value=verify_copy label="Copy example"/>
                </div>
            </details>
        </section>
    }
}
