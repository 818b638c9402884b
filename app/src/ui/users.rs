//! `/users` (admins): create users with a role and a one-time password
//! link, change roles, disable and enable. `/welcome?token=…`: where a new
//! user sets their password.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::components::{ErrorBanner, Field};
use super::portal::role_label;
use crate::api::applications::DomainView;
use crate::api::auth::take_flash;
use crate::api::domains::MoveUser;
use crate::api::users::{
    users_page, welcome_user, ChangeRole, CreateUser, LinkView, PasswordLink, PolicyView,
    ResetUserFactors, SetMfaPolicy, SetPassword, SetUserDisabled, UserListing, UserView,
};
use crate::api::AppError;
use crate::time::format_time;
use crate::ui::components::LoadFailed;
use crate::ui::components::{CopyButton, DomainSwitcher};

#[component]
pub fn UsersPage() -> impl IntoView {
    let query = use_query_map();
    let create = ServerAction::<CreateUser>::new();
    let link = ServerAction::<PasswordLink>::new();
    let role = ServerAction::<ChangeRole>::new();
    let disable = ServerAction::<SetUserDisabled>::new();
    let moved = ServerAction::<MoveUser>::new();
    let reset = ServerAction::<ResetUserFactors>::new();
    let policy = ServerAction::<SetMfaPolicy>::new();
    let actions = RowActions {
        role,
        disable,
        link,
        moved,
        reset,
    };
    let listing = Resource::new(
        move || {
            (
                query.with(|q| q.get("domain")),
                create.version().get()
                    + link.version().get()
                    + role.version().get()
                    + disable.version().get()
                    + moved.version().get()
                    + reset.version().get()
                    + policy.version().get(),
            )
        },
        |(domain, _)| async move {
            let listing = users_page(domain).await?;
            let created = take_flash("user".into()).await?;
            let refused = take_flash("users".into()).await?.map(|f| f.error);
            Ok::<_, AppError>((listing, created, refused))
        },
    );
    view! {
        <Title text="Users"/>
        <div class="page-head">
            <div>
                <h1>"Users"</h1>
                <p class="muted">"Who can sign in to this portal, and with what role. A new user sets their own password through a one-time link."</p>
            </div>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match listing.await {
                    Ok((listing, kept, refused)) => {
                        let shown_link = Signal::derive({
                            let from_post = listing.link.clone();
                            move || {
                                create.value().get().and_then(Result::ok)
                                    .or_else(|| link.value().get().and_then(Result::ok))
                                    .or_else(|| from_post.clone())
                            }
                        });
                        let create_error = Signal::derive({
                            let kept = kept.as_ref().map(|f| f.error.clone());
                            move || create.value().get().and_then(Result::err).or_else(|| kept.clone())
                        });
                        let row_error = Signal::derive(move || {
                            role.value().get().and_then(Result::err)
                                .or_else(|| disable.value().get().and_then(Result::err))
                                .or_else(|| link.value().get().and_then(Result::err))
                                .or_else(|| moved.value().get().and_then(Result::err))
                                .or_else(|| reset.value().get().and_then(Result::err))
                                .or_else(|| refused.clone())
                        });
                        let email = kept.as_ref().and_then(|f| f.value("email")).unwrap_or_default();
                        let typed_role = kept.as_ref().and_then(|f| f.value("role"));
                        view! {
                            <LinkNotice link=shown_link/>
                            <ErrorBanner error=row_error plainly=true/>
                            <UserTable listing=listing.clone() actions/>
                            <NewUserForm listing=listing.clone() create error=create_error email typed_role/>
                            <PolicyForm policy_view=listing.policy.clone() domain=listing.domain.id.clone() action=policy/>
                        }.into_any()
                    }
                    Err(e) => view! { <LoadFailed error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The form that creates a user in the listed domain, with a role the
/// viewer may give.
#[component]
fn NewUserForm(
    listing: UserListing,
    create: ServerAction<CreateUser>,
    error: Signal<Option<AppError>>,
    email: String,
    typed_role: Option<String>,
) -> impl IntoView {
    let create_error = error;
    view! {
    <section class="card form-card">
        <h2>"Create a user"</h2>
        <ActionForm action=create>
            <ErrorBanner error=create_error/>
            <DomainChoice domains=listing.domains.clone() current=listing.domain.id.clone()/>
            <Field label="Email" name="email" kind="email" value=email required=true error=create_error/>
            <div class="field">
                <label for="role">"Role"</label>
                <select id="role" name="role">
                    {listing.roles.iter().map(|r| {
                        let selected = typed_role.as_deref().unwrap_or("member") == r;
                        view! { <option value=r.clone() selected=selected>{role_label(r)}</option> }
                    }).collect_view()}
                </select>
                <p class="field-error" id="role-error">{move || create_error.get().and_then(|e| e.field("role"))}</p>
            </div>
            {(listing.domains.len() < 2).then(|| view! { <p class="hint">{format!("In domain {}.", listing.domain.name)}</p> })}
            <button type="submit" class="button primary" disabled=move || create.pending().get()>"Create user"</button>
        </ActionForm>
    </section>
    }
}

/// Where a new user goes: for a super admin with several domains a choice,
/// the listed domain first; for anyone else the listed domain.
#[component]
fn DomainChoice(domains: Vec<DomainView>, current: String) -> impl IntoView {
    if domains.len() < 2 {
        return view! { <input type="hidden" name="domain" value=current/> }.into_any();
    }
    view! {
        <div class="field">
            <label for="new-user-domain">"Domain"</label>
            <select id="new-user-domain" name="domain">
                {domains.into_iter().map(|d| {
                    let chosen = d.id == current;
                    view! { <option value=d.id selected=chosen>{d.name}</option> }
                }).collect_view()}
            </select>
        </div>
    }
    .into_any()
}

/// The actions of a user's row, which refresh the list and share a banner.
#[derive(Clone, Copy)]
struct RowActions {
    role: ServerAction<ChangeRole>,
    disable: ServerAction<SetUserDisabled>,
    link: ServerAction<PasswordLink>,
    moved: ServerAction<MoveUser>,
    reset: ServerAction<ResetUserFactors>,
}

/// The one-time link just made, to copy and send.
#[component]
fn LinkNotice(link: Signal<Option<LinkView>>) -> impl IntoView {
    move || {
        link.get().map(|l| {
            let url = l.url.clone();
            view! {
                <section class="card link-notice" role="status">
                    <h2>{format!("Password link for {}", l.email)}</h2>
                    <p>{format!("Send this link to {}. It works once, until {}, and is not shown again.", l.email, format_time(l.expires_at))}</p>
                    <div class="snippet">
                        <code class="link">{l.url.clone()}</code>
                        <CopyButton value=Signal::derive(move || Some(url.clone())) label="Copy link"/>
                    </div>
                </section>
            }
        })
    }
}

#[component]
fn UserTable(listing: UserListing, actions: RowActions) -> impl IntoView {
    let domains = listing.domains.clone();
    let current = listing.domain.id.clone();
    let roles = listing.roles.clone();
    // Where a super admin may move a user: every other domain.
    let elsewhere: Vec<DomainView> = listing
        .domains
        .iter()
        .filter(|d| d.id != listing.domain.id)
        .cloned()
        .collect();
    view! {
        <DomainSwitcher domains current page="/users"/>
        <div class="table-wrap">
            <table class="users">
                <thead><tr><th>"Email"</th><th>"Role"</th><th>"Status"</th><th>"Second factor"</th><th>"Created"</th><th>"Actions"</th></tr></thead>
                <tbody>
                    {listing.users.into_iter().map(|u| view! { <UserRow u roles=roles.clone() elsewhere=elsewhere.clone() actions/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn UserRow(
    u: UserView,
    roles: Vec<String>,
    elsewhere: Vec<DomainView>,
    actions: RowActions,
) -> impl IntoView {
    let RowActions {
        role,
        disable,
        link,
        moved,
        reset,
    } = actions;
    let status = if u.disabled {
        "Disabled"
    } else if !u.has_password {
        "Waiting for password"
    } else {
        "Active"
    };
    let role_id = format!("role-{}", u.id);
    let (id, email) = (u.id.clone(), u.email.clone());
    let role_label_text = format!("Role of {}", u.email);
    let toggle_label = format!(
        "{} {}",
        if u.disabled { "Enable" } else { "Disable" },
        u.email
    );
    let link_label = format!("New password link for {}", u.email);
    let current_role = u.role.clone();
    let (disable_id, link_id, move_id) = (u.id.clone(), u.id.clone(), u.id.clone());
    let move_email = u.email.clone();
    let reset_id = u.id.clone();
    let reset_label = format!("Reset the second factor of {}", u.email);
    let manageable = u.manageable && roles.contains(&u.role);
    view! {
        <tr class:disabled=u.disabled>
            <td>{email}{u.is_self.then(|| view! { <span class="muted">" (you)"</span> })}</td>
            <td>
                {if manageable {
                    view! {
                        <ActionForm action=role>
                            <div class="inline-form">
                                <input type="hidden" name="id" value=id.clone()/>
                                <label class="visually-hidden" for=role_id.clone()>{role_label_text.clone()}</label>
                                <select id=role_id.clone() name="role">
                                    {roles.iter().map(|r| view! { <option value=r.clone() selected=*r == current_role>{role_label(r)}</option> }).collect_view()}
                                </select>
                                <button type="submit" class="button small">"Save"</button>
                            </div>
                        </ActionForm>
                    }.into_any()
                } else {
                    view! { <span>{role_label(&u.role)}</span> }.into_any()
                }}
            </td>
            <td><span class="status" class:off=u.disabled class:pending=!u.has_password>{status}</span></td>
            <td>{factor_cell(&u)}</td>
            <td class="nowrap">{format_time(u.created_at)}</td>
            <td>
                {u.manageable.then(|| view! {
                    <div class="row-actions">
                        <ActionForm action=disable>
                            <input type="hidden" name="id" value=disable_id.clone()/>
                            <input type="hidden" name="disabled" value=(!u.disabled).to_string()/>
                            <button type="submit" class="button small" class:danger-outline=!u.disabled aria-label=toggle_label.clone()>
                                {if u.disabled { "Enable" } else { "Disable" }}
                            </button>
                        </ActionForm>
                        <ActionForm action=link>
                            <input type="hidden" name="id" value=link_id.clone()/>
                            <button type="submit" class="button small" aria-label=link_label.clone()>"New password link"</button>
                        </ActionForm>
                        <MoveForm id=move_id.clone() email=move_email.clone() elsewhere=elsewhere.clone() moved/>
                        {(!u.factors.is_empty()).then(|| view! {
                            <ActionForm action=reset>
                                <input type="hidden" name="id" value=reset_id.clone()/>
                                <button type="submit" class="button small danger-outline" aria-label=reset_label.clone()>"Reset second factor"</button>
                            </ActionForm>
                        })}
                    </div>
                })}
            </td>
        </tr>
    }
}

/// A user's second factors, or whether their role needs one.
fn factor_cell(u: &UserView) -> impl IntoView {
    if !u.factors.is_empty() {
        view! { <span>{super::components::capitalized(&u.factors)}</span> }.into_any()
    } else if u.factor_required {
        view! { <span class="status pending">"None: required"</span> }.into_any()
    } else {
        view! { <span class="muted">"None"</span> }.into_any()
    }
}

/// Which roles of the domain must have a second factor: a super admin
/// changes it, a domain admin reads it.
#[component]
fn PolicyForm(
    policy_view: PolicyView,
    domain: String,
    action: ServerAction<SetMfaPolicy>,
) -> impl IntoView {
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let saved = move || matches!(action.value().get(), Some(Ok(())));
    let names = ["super_admin", "domain_admin", "member"];
    if !policy_view.editable {
        let required: Vec<&str> = names
            .iter()
            .filter(|r| policy_view.roles.iter().any(|p| p == *r))
            .map(|r| role_label(r))
            .collect();
        return view! {
            <section class="card form-card">
                <h2>"Second factor"</h2>
                <p>{if required.is_empty() {
                    "No role of this domain must have a second factor.".to_string()
                } else {
                    format!("Required of: {}. Users without one may sign in for {} days, then only set one up.", required.join(", "), policy_view.grace_days)
                }}</p>
            </section>
        }
        .into_any();
    }
    view! {
        <section class="card form-card">
            <h2>"Second factor"</h2>
            <p class="muted">"Roles ticked here must sign in with a passkey or an authenticator app. Someone without one may sign in with their password for the grace period, reminded on every page; after it, only their Account page opens until they set one up."</p>
            <ActionForm action>
                <ErrorBanner error plainly=true/>
                {move || saved().then(|| view! { <p class="banner ok" role="status">"Saved."</p> })}
                <input type="hidden" name="domain" value=domain.clone()/>
                <fieldset>
                    <legend>"Required of"</legend>
                    {names.into_iter().map(|r| {
                        let id = format!("mfa-{r}");
                        let label_for = id.clone();
                        let checked = policy_view.roles.iter().any(|p| p == r);
                        view! {
                            <label class="check" for=label_for>
                                <input type="checkbox" id=id name="roles[]" value=r checked=checked/>
                                {role_label(r)}
                            </label>
                        }
                    }).collect_view()}
                </fieldset>
                <Field label="Grace period (days)" name="grace_days" kind="number" value=policy_view.grace_days.to_string()
                    hint="0 to 90. Counts from the user's first sign-in without a second factor." error/>
                <button type="submit" class="button">"Save"</button>
            </ActionForm>
        </section>
    }
    .into_any()
}

/// Moves a user, with the applications they own, to another domain (super
/// admins, when there is another domain).
#[component]
fn MoveForm(
    id: String,
    email: String,
    elsewhere: Vec<DomainView>,
    moved: ServerAction<MoveUser>,
) -> impl IntoView {
    (!elsewhere.is_empty()).then(|| {
        let select_id = format!("move-{id}");
        view! {
            <ActionForm action=moved>
                <div class="inline-form">
                    <input type="hidden" name="id" value=id/>
                    <label class="visually-hidden" for=select_id.clone()>{format!("Domain to move {email} to")}</label>
                    <select id=select_id name="domain">
                        {elsewhere.into_iter().map(|d| view! { <option value=d.id>{d.name}</option> }).collect_view()}
                    </select>
                    <button type="submit" class="button small" aria-label=format!("Move {email}")>"Move"</button>
                </div>
            </ActionForm>
        }
    })
}

#[component]
pub fn WelcomePage() -> impl IntoView {
    let query = use_query_map();
    let action = ServerAction::<SetPassword>::new();
    let state = Resource::new(
        move || query.with(|q| q.get("token").unwrap_or_default()),
        |token| async move {
            let email = welcome_user(token).await?;
            Ok::<_, AppError>((email, take_flash("welcome".into()).await?))
        },
    );
    view! {
        <Title text="Set your password"/>
        <main class="centered">
            <div class="card narrow">
                <super::auth::Brand/>
                <h1>"Set your password"</h1>
                <Suspense>
                    {move || Suspend::new(async move {
                        let token = query.with_untracked(|q| q.get("token").unwrap_or_default());
                        match state.await {
                            Ok((Some(email), flash)) => {
                                let kept = flash.map(|f| f.error);
                                let error = Signal::derive(move || action.value().get().and_then(Result::err).or_else(|| kept.clone()));
                                view! {
                                    <p class="muted">{format!("For {email}. This link works once.")}</p>
                                    <ActionForm action=action>
                                        <ErrorBanner error/>
                                        <input type="hidden" name="token" value=token/>
                                        <input type="email" name="email" value=email autocomplete="username" hidden/>
                                        <Field label="Password" name="password" kind="password" autocomplete="new-password"
                                            hint="At least 12 characters." required=true error/>
                                        <Field label="Confirm password" name="confirm" kind="password" autocomplete="new-password"
                                            required=true error/>
                                        <button type="submit" class="button primary wide" disabled=move || action.pending().get()>"Set password and sign in"</button>
                                    </ActionForm>
                                }.into_any()
                            }
                            Ok((None, _)) => view! {
                                <p class="banner error" role="alert">"This link has expired or was already used. Ask an administrator for a new one."</p>
                                <p><a class="button" href="/login">"Sign in"</a></p>
                            }.into_any(),
                            Err(e) => view! { <LoadFailed error=e/> }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </main>
    }
}
