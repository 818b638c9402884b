//! The consent page of the authorization code flow, and the "Connected
//! applications" page where a user takes that consent back.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_location;

use super::components::{AppIcon, ErrorBanner};
use crate::api::auth::take_flash;
use crate::api::authorize::{
    authorization_request, list_connections, Authorization, ConnectionView, ConsentView,
    DecideAuthorization, DisconnectApplication,
};
use crate::api::AppError;
use crate::time::format_time;
use crate::ui::components::LoadFailed;

/// `/oauth2/authorize`: the request is checked on the server before anything
/// is shown. The decision is a plain form post in every browser, so that the
/// redirect to the application's callback is an ordinary navigation.
#[component]
pub fn AuthorizePage() -> impl IntoView {
    let location = use_location();
    let query = location.search.get_untracked();
    let state = Resource::new(
        || (),
        move |_| {
            let query = query.clone();
            async move {
                let request = authorization_request(query).await;
                let flash = take_flash("authorize".into()).await.ok().flatten();
                (request, flash.map(|f| f.error))
            }
        },
    );
    view! {
        <Title text="Authorize an application"/>
        <main class="centered">
            <Suspense fallback=|| view! { <p class="muted">"Checking the request…"</p> }>
                {move || {
                    let back = super::portal::sign_in_path(&super::portal::here(&location));
                    let request = location.search.get_untracked();
                    Suspend::new(async move {
                    match state.await {
                        (Ok(Authorization::Consent(consent)), error) => {
                            view! { <Consent consent=*consent error request=request.clone()/> }.into_any()
                        }
                        (Ok(Authorization::Redirect(url)), _) => view! {
                            <div class="card narrow">
                                <h1>"Returning to the application"</h1>
                                <p><a href=url>"Continue"</a></p>
                            </div>
                        }.into_any(),
                        (Err(AppError::Unauthenticated), _) => {
                            view! { <Redirect path=back.clone()/> }.into_any()
                        }
                        (Err(e), _) => view! {
                            <div class="card narrow">
                                <h1>"This request cannot be completed"</h1>
                                <p class="banner error" role="alert">{e.to_string()}</p>
                                <p class="muted">
                                    "Nothing was sent to the application. Go back to it and start again, \
                                     or show this message to its vendor."
                                </p>
                                <p><a href="/applications">"Go to Keyport"</a></p>
                            </div>
                        }.into_any(),
                    }
                })}}
            </Suspense>
        </main>
    }
}

#[component]
fn Consent(consent: ConsentView, error: Option<AppError>, request: String) -> impl IntoView {
    let ConsentView {
        app_name,
        icon_url,
        website_url,
        domain_name,
        registered_by,
        permissions,
        returns_to,
        returns_host,
        user_email,
        api,
    } = consent;
    let website = (!website_url.is_empty()).then(|| {
        view! {
            <dt>"Website"</dt>
            <dd><a href=website_url.clone() target="_blank" rel="noopener noreferrer">{website_url.clone()}</a></dd>
        }
    });
    view! {
        <div class="card consent">
            <div class="consent-head">
                <AppIcon name=app_name.clone() url=icon_url class="icon large"/>
                <div>
                    <h1>"Authorize " {app_name.clone()}</h1>
                    <p class="muted">{app_name.clone()} " is asking to act for you on Keyport."</p>
                </div>
            </div>
            <ErrorBanner error=Signal::stored(error)/>
            <dl class="consent-facts">
                {website}
                <dt>"Registered in"</dt>
                <dd>{domain_name} {match registered_by {
                    Some(admin) => view! { " by " {admin} }.into_any(),
                    None => view! { ": " <strong class="self-registered">"registered itself (open registration)"</strong> }.into_any(),
                }}</dd>
                <dt>"Signed in as"</dt>
                <dd>{user_email}</dd>
                {api.map(|api| view! { <dt>"On"</dt><dd>{api}</dd> })}
                <dt>"Returns you to"</dt>
                <dd><strong class="returns-host">{returns_host}</strong></dd>
            </dl>
            <h2>"It will be allowed to"</h2>
            <ul class="consent-permissions">
                {permissions.into_iter().map(|p| view! {
                    <li><span>{p.description}</span> <code>{p.scope}</code></li>
                }).collect_view()}
            </ul>
            <form method="post" action={<DecideAuthorization as ServerFn>::PATH}>
                <input type="hidden" name="request" value=request/>
                <div class="consent-actions">
                    <button type="submit" name="decision" value="deny" class="button">"Deny"</button>
                    <button type="submit" name="decision" value="approve" class="button primary">"Approve"</button>
                </div>
            </form>
            <p class="hint">"Either way you will be returned to " <code>{returns_to}</code> "."</p>
        </div>
    }
}

/// `/connected`: the applications the signed-in user has given access to.
#[component]
pub fn ConnectionsPage() -> impl IntoView {
    let disconnect = ServerAction::<DisconnectApplication>::new();
    let list = Resource::new(
        move || disconnect.version().get(),
        |_| async {
            let list = list_connections().await?;
            Ok::<_, AppError>((list, take_flash("connections".into()).await?))
        },
    );
    view! {
        <Title text="Connected applications"/>
        <div class="page-head">
            <div>
                <h1>"Connected applications"</h1>
                <p class="muted">
                    "Applications you have allowed to act for you. Those that stay connected hold a refresh \
                     token. Disconnecting one stops every token it holds for you at once; it has to ask again."
                </p>
            </div>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok((connections, flash)) => {
                        let kept = flash.map(|f| f.error);
                        let error = Signal::derive(move || {
                            disconnect.value().get().and_then(Result::err).or_else(|| kept.clone())
                        });
                        if connections.is_empty() {
                            return view! {
                                <ErrorBanner error/>
                                <div class="empty">"No application can act for you."</div>
                            }.into_any();
                        }
                        view! {
                            <ErrorBanner error/>
                            <div class="table-wrap">
                                <table class="connections">
                                    <thead><tr>
                                        <th>"Application"</th><th>"Domain"</th><th>"Permissions"</th>
                                        <th>"Approved"</th><th>"Stays connected"</th><th><span class="visually-hidden">"Actions"</span></th>
                                    </tr></thead>
                                    <tbody>
                                        {connections.into_iter().map(|c| view! { <ConnectionRow c disconnect/> }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any()
                    }
                    Err(e) => view! { <LoadFailed error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ConnectionRow(
    c: ConnectionView,
    disconnect: ServerAction<DisconnectApplication>,
) -> impl IntoView {
    view! {
        <tr>
            <td class="name">
                <span class="app-name">
                    <AppIcon name=c.name.clone() url=c.icon_url.clone()/>
                    <span>
                        {c.name.clone()}
                        {(!c.website_url.is_empty()).then(|| view! {
                            <br/><a class="muted small" href=c.website_url.clone() target="_blank" rel="noopener noreferrer">{c.website_url.clone()}</a>
                        })}
                    </span>
                </span>
            </td>
            <td data-label="Domain">{c.domain_name.clone()}</td>
            <td data-label="Permissions"><ul class="tags">{c.permissions.iter().map(|p| view! { <li>{p.clone()}</li> }).collect_view()}</ul></td>
            <td class="nowrap" data-label="Approved">{format_time(c.granted_at)}</td>
            <td class="kept" data-label="Stays connected">
                {if c.kept.is_empty() {
                    view! { <span class="muted">"No"</span> }.into_any()
                } else {
                    view! {
                        <ul class="plain">
                            {c.kept.iter().map(|k| view! {
                                <li>
                                    {format!("Since {}", format_time(k.since))}<br/>
                                    <span class="muted small">{format!("last used {} from {}, ends {}", format_time(k.last_used_at), k.last_address, format_time(k.ends_at))}</span>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            </td>
            <td>
                <ActionForm action=disconnect>
                    <input type="hidden" name="application_id" value=c.application_id.clone()/>
                    <button type="submit" class="button small" aria-label=format!("Disconnect {}", c.name)>"Disconnect"</button>
                </ActionForm>
            </td>
        </tr>
    }
    .into_any()
}
