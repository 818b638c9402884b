//! `/applications/remove?ids=…`: the confirmation a browser without
//! JavaScript gets before removing ticked applications.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::plural;
use crate::api::applications::{applications_named, RemoveApplications};
use crate::ui::components::ErrorBanner;
use crate::ui::components::LoadFailed;

#[component]
pub fn RemovePage() -> impl IntoView {
    let query = use_query_map();
    let named = Resource::new(
        move || query.with(|q| q.get_all("ids").unwrap_or_default()),
        applications_named,
    );
    let remove = ServerAction::<RemoveApplications>::new();
    view! {
        <Title text="Remove applications"/>
        <Suspense>
            {move || Suspend::new(async move {
                match named.await {
                    Ok(apps) if apps.is_empty() => view! {
                        <div class="card narrow-block">
                            <h1>"Nothing to remove"</h1>
                            <p>"Tick at least one application in the list, then press Remove."</p>
                            <p><a class="button" href="/applications">"Back to applications"</a></p>
                        </div>
                    }.into_any(),
                    Ok(apps) => {
                        let count = apps.len();
                        view! {
                            <div class="card narrow-block">
                                <h1>{format!("Remove {}?", plural(count, "application"))}</h1>
                                <p>"Their client credentials stop working at once. For 30 days they can be restored from Recently removed."</p>
                                <ul class="remove-list">
                                    {apps.iter().map(|(_, name)| view! { <li>{name.clone()}</li> }).collect_view()}
                                </ul>
                                <ErrorBanner error=Signal::derive(move || remove.value().get().and_then(Result::err))/>
                                <ActionForm action=remove>
                                    {apps.iter().enumerate().map(|(i, (id, _))| view! {
                                        <input type="hidden" name=format!("ids[{i}]") value=id.clone()/>
                                    }).collect_view()}
                                    <div class="actions">
                                        <a class="button" href="/applications">"Cancel"</a>
                                        <button type="submit" class="button danger">{format!("Remove {}", plural(count, "application"))}</button>
                                    </div>
                                </ActionForm>
                            </div>
                        }.into_any()
                    }
                    Err(e) => view! { <LoadFailed error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
