//! A portal request's handler runs under that request's own reactive owner,
//! from its first poll to its response.
//!
//! leptos_axum 0.8 reads the thread's current owner where it should not:
//! after rendering a page it looks up the page's nonce, its WebAssembly
//! split manifest and its meta context (to add `<link rel="preload">` for
//! the chunks the page used) under whichever owner is current on the
//! thread that polls it, and a server function's owner is made a child of
//! that owner. On a thread where another request's owner was current, a
//! page took that request's nonce and meta context, or found a meta
//! context missing ("tried to use a leptos_meta component without
//! `ServerMetaContext` provided"); elsewhere it found nothing and left the
//! preloads out.
//!
//! So each poll of a portal handler runs under an empty root owner of the
//! request's own, and once leptos_axum has made the request's owner (and
//! `note` has kept it), under that one. Nothing is read from another
//! request, and every page loaded on demand preloads its chunks.
//!
//! A client that hangs up mid-render drops the handler, and with it
//! leptos_axum's hold on the request's owner; cleaning the owner up there
//! took the context (the router's among it) from under what the page had
//! started on other threads (its resources, and the views they render),
//! which then panicked ("tried to use <A/> outside a <Router/>"). So the
//! handler holds the owner too, and a handler dropped before its answer
//! leaves the owner to be cleaned up only once its work has had the time
//! any request is given (`KEYPORT_REQUEST_TIMEOUT`).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use leptos::prelude::{use_context, Owner};
use leptos::reactive::owner::WeakOwner;

/// Where the request's owner is kept, in its extensions. Weak: the
/// owner's context holds these extensions.
#[derive(Clone, Default)]
struct RequestOwner(Arc<OnceLock<WeakOwner>>);

/// Around the portal's routes; `grace` is the request timeout.
pub async fn own_owner(
    State(grace): State<Duration>,
    mut request: Request,
    next: Next,
) -> Response {
    let page = RequestOwner::default();
    request.extensions_mut().insert(page.clone());
    UnderOwner {
        page,
        before: Owner::new_root(None),
        held: None,
        answered: false,
        grace,
        handler: Box::pin(next.run(request)),
    }
    .await
}

/// Called in the request's owner as leptos_axum sets it up (with the
/// request's parts provided): keeps that owner for `own_owner`.
pub fn note() {
    let Some(parts) = use_context::<Parts>() else {
        return;
    };
    if let (Some(RequestOwner(page)), Some(owner)) =
        (parts.extensions.get::<RequestOwner>(), Owner::current())
    {
        let _ = page.set(owner.downgrade());
    }
}

struct UnderOwner<F> {
    page: RequestOwner,
    /// The owner until the request's is known.
    before: Owner,
    /// The request's owner, held while the handler runs.
    held: Option<Owner>,
    /// Whether the handler has answered.
    answered: bool,
    grace: Duration,
    handler: Pin<Box<F>>,
}

impl<F: Future> Future for UnderOwner<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let Self {
            page,
            before,
            held,
            answered,
            handler,
            ..
        } = self.get_mut();
        if held.is_none() {
            *held = page.0.get().and_then(WeakOwner::upgrade);
        }
        let polled = held
            .as_ref()
            .unwrap_or(before)
            .with(|| handler.as_mut().poll(cx));
        if polled.is_ready() {
            // The page is whole: nothing of it runs on.
            *held = None;
            *answered = true;
        }
        polled
    }
}

impl<F> Drop for UnderOwner<F> {
    /// A handler dropped before its answer (the client hung up): what the
    /// page started may still be running under its owner, which the
    /// handler (dropped after this) holds until then.
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let owner = self.held.take().or_else(|| self.page.0.get()?.upgrade());
        let (Some(owner), Ok(runtime)) = (owner, tokio::runtime::Handle::try_current()) else {
            return;
        };
        let grace = self.grace;
        runtime.spawn(async move {
            tokio::time::sleep(grace).await;
            drop(owner);
        });
    }
}
