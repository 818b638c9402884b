//! `/permissions`: the catalog of scopes applications can be granted
//! (super admins).

use leptos::prelude::*;
use leptos_meta::Title;

use super::components::{ErrorBanner, Field};
use crate::api::auth::take_flash;
use crate::api::permissions::{list_permissions, AddPermission, DescribePermission};
use crate::api::AppError;
use crate::ui::components::LoadFailed;

#[component]
pub fn PermissionsPage() -> impl IntoView {
    let add = ServerAction::<AddPermission>::new();
    let describe = ServerAction::<DescribePermission>::new();
    let catalog = Resource::new(
        move || (add.version().get(), describe.version().get()),
        |_| async {
            let list = list_permissions().await?;
            Ok::<_, AppError>((list, take_flash("permission".into()).await?))
        },
    );
    view! {
        <Title text="Permissions"/>
        <div class="page-head">
            <div>
                <h1>"Permissions"</h1>
                <p class="muted">"The scopes an application can be granted and request in its tokens."</p>
            </div>
        </div>
        <Suspense>
            {move || Suspend::new(async move {
                match catalog.await {
                    Ok((list, flash)) => {
                        let kept = flash.as_ref().map(|f| f.error.clone());
                        let error = Signal::derive(move || add.value().get().and_then(Result::err).or_else(|| kept.clone()));
                        let scope = flash.as_ref().and_then(|f| f.value("scope")).unwrap_or_default();
                        let description = flash.as_ref().and_then(|f| f.value("description")).unwrap_or_default();
                        let describe_error = Signal::derive(move || describe.value().get().and_then(Result::err));
                        view! {
                            <ErrorBanner error=describe_error/>
                            <div class="table-wrap">
                                <table class="permissions">
                                    <thead><tr><th>"Scope"</th><th>"Least role"</th><th>"Description"</th></tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|p| {
                                            let input_id = format!("describe-{}", p.scope.replace(':', "-"));
                                            view! {
                                                <tr>
                                                    <td><code>{p.scope.clone()}</code></td>
                                                    <td>{p.least_role.clone()}</td>
                                                    <td>
                                                        <ActionForm action=describe>
                                                            <div class="inline-form">
                                                                <input type="hidden" name="scope" value=p.scope.clone()/>
                                                                <label class="visually-hidden" for=input_id.clone()>{format!("Description of {}", p.scope)}</label>
                                                                <input id=input_id type="text" name="description" value=p.description.clone()/>
                                                                <button type="submit" class="button small">"Save"</button>
                                                            </div>
                                                        </ActionForm>
                                                    </td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            <section class="card form-card">
                                <h2>"Add a permission"</h2>
                                <ActionForm action=add>
                                    <ErrorBanner error/>
                                    <Field label="Scope" name="scope" value=scope hint="Such as reports:read." required=true error/>
                                    <Field label="Description" name="description" value=description required=true error/>
                                    <button type="submit" class="button primary">"Add permission"</button>
                                </ActionForm>
                            </section>
                        }.into_any()
                    }
                    Err(e) => view! { <LoadFailed error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
