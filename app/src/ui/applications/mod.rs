//! The applications portal: the list with its checkboxes, the registration
//! form, the application page and the removal confirmation.

mod detail;
mod form;
mod list;
mod remove;
mod removed;

pub use detail::ApplicationPage;
pub use form::NewApplicationPage;
pub use list::ApplicationsPage;
pub use remove::RemovePage;
pub use removed::RemovedPage;

use leptos::prelude::*;

use super::components::AppIcon;

use crate::api::applications::RemoveApplications;

/// Asks before removing `ids` (a dialog once hydrated) and removes them in
/// one request. Without JavaScript the surrounding GET form leads to the
/// confirmation page instead.
#[component]
fn RemoveDialog(ids: Signal<Vec<String>>, open: RwSignal<bool>) -> impl IntoView {
    let remove = ServerAction::<RemoveApplications>::new();
    let count = move || ids.with(Vec::len);
    let confirm = move |_| {
        remove.dispatch(RemoveApplications {
            ids: ids.get_untracked(),
        });
    };
    let step_up = crate::ui::step_up::use_step_up();
    Effect::new(move |_| match remove.value().get() {
        Some(Ok(_)) => open.set(false),
        Some(Err(crate::api::AppError::StepUpRequired)) => {
            if let Some(step_up) = step_up {
                step_up.then(move || {
                    remove.dispatch(RemoveApplications {
                        ids: ids.get_untracked(),
                    });
                });
            }
        }
        _ => {}
    });
    view! {
        <Show when=move || open.get()>
            <div class="backdrop">
                <div class="dialog" role="alertdialog" aria-modal="true" aria-labelledby="remove-title">
                    <h2 id="remove-title">{move || format!("Remove {}?", plural(count(), "application"))}</h2>
                    <p>"Their client credentials stop working at once. For 30 days they can be restored from Recently removed."</p>
                    {move || remove.value().get().and_then(Result::err)
                        .filter(|e| *e != crate::api::AppError::StepUpRequired)
                        .map(|e| view! { <p class="banner error" role="alert">{e.to_string()}</p> })}
                    <div class="actions">
                        <button type="button" class="button" on:click=move |_| open.set(false)>"Cancel"</button>
                        <button type="button" class="button danger" on:click=confirm disabled=move || remove.pending().get()>
                            {move || format!("Remove {}", plural(count(), "application"))}
                        </button>
                    </div>
                </div>
            </div>
        </Show>
    }
}

pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
