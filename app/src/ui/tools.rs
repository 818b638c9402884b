//! `/tools/token`: paste an access token, get a plain verdict with its
//! decoded header and claims.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::tools::{last_inspection, InspectToken, InspectionView};
use crate::ui::components::LoadFailed;

#[component]
pub fn TokenInspectorPage() -> impl IntoView {
    let inspect = ServerAction::<InspectToken>::new();
    // What a post without JavaScript left for this page.
    let posted = Resource::new(|| (), |_| last_inspection());
    view! {
        <Title text="Token inspector"/>
        <div class="page-head">
            <div>
                <h1>"Token inspector"</h1>
                <p class="muted">"Paste an access token to see whether this deployment's APIs accept it, and why not. It is checked on the server and neither logged nor stored."</p>
            </div>
        </div>
        <section class="card form-card">
            <ActionForm action=inspect>
                <div class="field">
                    <label for="token">"Access token"</label>
                    <textarea id="token" name="token" rows="5" spellcheck="false" autocomplete="off" required
                        placeholder="eyJhbGciOi…"></textarea>
                </div>
                <button type="submit" class="button primary" disabled=move || inspect.pending().get()>"Inspect"</button>
            </ActionForm>
        </section>
        <Suspense>
            {move || Suspend::new(async move {
                let posted = posted.await.ok().flatten();
                let result = Signal::derive(move || match inspect.value().get() {
                    Some(Ok(view)) => Some(Ok(view)),
                    Some(Err(e)) => Some(Err(e)),
                    None => posted.clone().map(Ok),
                });
                view! {
                    {move || result.get().map(|r| match r {
                        Ok(view) => view! { <Verdict view/> }.into_any(),
                        Err(e) => view! { <LoadFailed error=e/> }.into_any(),
                    })}
                }
            })}
        </Suspense>
    }
}

#[component]
fn Verdict(view: InspectionView) -> impl IntoView {
    view! {
        <section class="card verdict" class:valid=view.valid aria-live="polite">
            <h2 class="verdict-line">{view.verdict.clone()}</h2>
            <p>{view.explanation.clone()}</p>
            {view.header.clone().map(|h| view! { <h3>"Header"</h3><pre class="json"><code>{h}</code></pre> })}
            {view.claims.clone().map(|c| view! { <h3>"Claims"</h3><pre class="json"><code>{c}</code></pre> })}
        </section>
    }
}
