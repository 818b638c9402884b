//! Pages take turns to render. A server-rendered page is CPU work from its
//! first byte to its last, so rendering more pages at once than there are
//! cores finishes none sooner; it only holds more of them in memory (each
//! holds its view, its data and its HTML) and spreads them over the caches.
//! A page waits for a turn, fairly, in arrival order; everything else
//! (server functions, the API, the token endpoint, files) passes.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::Semaphore;

/// Turns per core: one rendering, one starting while the other finishes.
const TURNS_PER_CORE: usize = 2;

#[derive(Clone)]
pub struct Turns(Arc<Semaphore>);

impl Turns {
    pub fn per_core() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self(Arc::new(Semaphore::new(cores * TURNS_PER_CORE)))
    }
}

/// Around the portal's routes: a page (a `GET`; server functions are
/// `POST`s) renders in its turn.
pub async fn in_turn(State(Turns(turns)): State<Turns>, request: Request, next: Next) -> Response {
    if request.method() != Method::GET {
        return next.run(request).await;
    }
    // The semaphore is never closed, so a turn always comes.
    let _turn = turns.acquire().await;
    next.run(request).await
}
