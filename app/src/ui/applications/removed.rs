//! `/applications/removed`: applications removed in the last 30 days, each
//! with a Restore button that brings it back with the same client ID and a
//! fresh secret.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::applications::{removed_applications, RestoreApplication};
use crate::api::auth::take_flash;
use crate::api::AppError;
use crate::time::format_time;
use crate::ui::components::ErrorBanner;
use crate::ui::components::LoadFailed;

#[component]
pub fn RemovedPage() -> impl IntoView {
    let query = use_query_map();
    let restore = ServerAction::<RestoreApplication>::new();
    let list = Resource::new(
        move || query.with(|q| q.get("domain")),
        |domain| async move {
            let list = removed_applications(domain).await?;
            let refused = take_flash("restore".into()).await?.map(|f| f.error);
            Ok::<_, AppError>((list, refused))
        },
    );
    view! {
        <Title text="Recently removed"/>
        <div class="page-head">
            <div>
                <p class="crumbs"><a href="/applications">"Applications"</a></p>
                <h1>"Recently removed"</h1>
                <p class="muted">"Removed applications are refused at once and kept here for 30 days. Restoring one keeps its client ID and issues a new secret; tokens issued before the removal stay refused."</p>
            </div>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok((list, refused)) => {
                        let error = Signal::derive(move || {
                            restore.value().get().and_then(Result::err).or_else(|| refused.clone())
                        });
                        if list.apps.is_empty() {
                            return view! {
                                <ErrorBanner error/>
                                <div class="empty"><p>"Nothing was removed in the last 30 days."</p></div>
                            }.into_any();
                        }
                        view! {
                            <ErrorBanner error/>
                            <div class="table-wrap">
                                <table class="removed">
                                    <thead><tr><th>"Application"</th><th>"Client ID"</th><th>"Owner"</th><th>"Removed"</th><th>"Purged"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                                    <tbody>
                                        {list.apps.into_iter().map(|app| view! {
                                            <tr>
                                                <td class="name">{app.name.clone()}</td>
                                                <td class="mono-cell"><code>{app.client_id.clone()}</code></td>
                                                <td>{app.owner.clone()}</td>
                                                <td class="nowrap">{format_time(app.removed_at)}</td>
                                                <td class="nowrap">{format_time(app.purged_at)}</td>
                                                <td>
                                                    <ActionForm action=restore>
                                                        <input type="hidden" name="id" value=app.id.clone()/>
                                                        <button type="submit" class="button small" aria-label=format!("Restore {}", app.name)>"Restore"</button>
                                                    </ActionForm>
                                                </td>
                                            </tr>
                                        }).collect_view()}
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
