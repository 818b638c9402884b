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
        Self::new(cores * TURNS_PER_CORE)
    }

    fn new(turns: usize) -> Self {
        Self(Arc::new(Semaphore::new(turns)))
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use axum::{middleware, Router};
    use tokio::sync::Notify;
    use tower::ServiceExt;

    use super::*;

    /// A router with one turn, whose `/slow` page renders until `go` is
    /// notified.
    fn router(go: Arc<Notify>) -> Router {
        Router::new()
            .route(
                "/slow",
                get(move || async move {
                    go.notified().await;
                    "slow"
                }),
            )
            .route(
                "/page",
                get(|| async { "page" }).post(|| async { "posted" }),
            )
            .layer(middleware::from_fn_with_state(Turns::new(1), in_turn))
    }

    fn request(method: &str, path: &str) -> Request<Body> {
        Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .expect("a valid request")
    }

    #[tokio::test]
    async fn a_page_waits_for_a_turn_and_a_post_does_not() {
        let go = Arc::new(Notify::new());
        let app = router(go.clone());
        let slow = tokio::spawn(app.clone().oneshot(request("GET", "/slow")));
        tokio::time::sleep(Duration::from_millis(50)).await;

        let posted = app.clone().oneshot(request("POST", "/page"));
        let posted = tokio::time::timeout(Duration::from_secs(5), posted).await;
        assert_eq!(
            posted
                .expect("a POST does not wait")
                .map(|r| r.status())
                .ok(),
            Some(StatusCode::OK)
        );

        let mut page = Box::pin(app.clone().oneshot(request("GET", "/page")));
        let waited = tokio::time::timeout(Duration::from_millis(200), &mut page).await;
        assert!(waited.is_err(), "a page renders only in its turn");

        go.notify_one();
        let page = tokio::time::timeout(Duration::from_secs(5), page).await;
        assert_eq!(
            page.expect("the turn came").map(|r| r.status()).ok(),
            Some(StatusCode::OK)
        );
        assert!(slow.await.is_ok());
    }
}
