//! `GET /metrics` in the Prometheus text format (version 0.0.4): tokens
//! issued by grant and refused by reason, request latency by route, and the
//! database pool. Counters live in memory per node; Prometheus sums nodes.
//!
//! Routes are labelled by their template (`/applications/{id}`), never by
//! the path requested, so the number of series stays bounded whatever
//! clients send.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use app::domain::Keyport;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::AppState;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Why the token endpoint refused a request: its RFC 6749 error code, with
/// "temporarily unavailable" told apart as rate limiting or an outage.
pub const REFUSAL_REASONS: [&str; 11] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",
    "rate_limited",
    "unavailable",
    "server_error",
    "body_too_large",
];

pub const GRANTS: [&str; 3] = ["client_credentials", "authorization_code", "refresh_token"];

#[derive(Default)]
pub struct Metrics {
    issued: [AtomicU64; GRANTS.len()],
    refused: [AtomicU64; REFUSAL_REASONS.len()],
    requests: RwLock<HashMap<Series, Arc<Histogram>>>,
    /// When set, scrapes must present it as a Bearer token.
    scrape_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Series {
    route: Arc<str>,
    /// One of the standard methods, or "other": a method is whatever a
    /// client sends, and each label value is a series kept for good.
    method: &'static str,
    /// 2, 3, 4 or 5: the status class.
    class: u16,
}

#[derive(Default)]
struct Histogram {
    /// Per bucket, not cumulative; made cumulative when rendered.
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Metrics {
    pub fn new(scrape_token: Option<String>) -> Self {
        Self {
            scrape_token: scrape_token.filter(|t| !t.is_empty()),
            ..Self::default()
        }
    }

    pub fn issued(&self, grant: &str) {
        if let Some(i) = GRANTS.iter().position(|g| *g == grant) {
            self.issued[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn refused(&self, reason: &str) {
        if let Some(i) = REFUSAL_REASONS.iter().position(|r| *r == reason) {
            self.refused[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn observe(&self, series: Series, seconds: f64) {
        let known = self
            .requests
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&series)
            .cloned();
        let histogram = known.unwrap_or_else(|| {
            self.requests
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .entry(series)
                .or_default()
                .clone()
        });
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            histogram.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        histogram.count.fetch_add(1, Ordering::Relaxed);
        histogram
            .sum_nanos
            .fetch_add((seconds * 1e9) as u64, Ordering::Relaxed);
    }

    /// The exposition text.
    pub fn render(&self, keyport: &Keyport) -> String {
        let mut out = String::new();
        out += "# HELP keyport_tokens_issued_total Access tokens issued, by grant type.\n\
                # TYPE keyport_tokens_issued_total counter\n";
        for (grant, n) in GRANTS.iter().zip(&self.issued) {
            let n = n.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "keyport_tokens_issued_total{{grant_type=\"{grant}\"}} {n}"
            );
        }
        out += "# HELP keyport_token_refusals_total Token requests refused, by reason.\n\
                # TYPE keyport_token_refusals_total counter\n";
        for (reason, n) in REFUSAL_REASONS.iter().zip(&self.refused) {
            let n = n.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "keyport_token_refusals_total{{reason=\"{reason}\"}} {n}"
            );
        }

        out += "# HELP keyport_http_request_duration_seconds Time to answer a request, by route template, method and status class.\n\
                # TYPE keyport_http_request_duration_seconds histogram\n";
        let requests = self.requests.read().unwrap_or_else(|e| e.into_inner());
        let mut series: Vec<_> = requests.iter().collect();
        series.sort_by(|(a, _), (b, _)| {
            (&a.route, a.method, a.class).cmp(&(&b.route, b.method, b.class))
        });
        for (s, h) in series {
            let labels = format!(
                "route=\"{}\",method=\"{}\",status=\"{}xx\"",
                escape(&s.route),
                s.method,
                s.class
            );
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(&h.buckets) {
                cumulative += n.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "keyport_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let sum = h.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "keyport_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}\n\
                 keyport_http_request_duration_seconds_sum{{{labels}}} {sum}\n\
                 keyport_http_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
        drop(requests);

        let pool = &keyport.db.pool;
        let (size, idle) = (pool.size(), pool.num_idle() as u32);
        let max = pool.options().get_max_connections();
        let _ = write!(
            out,
            "# HELP keyport_db_pool_connections Database connections of this node, by state.\n\
             # TYPE keyport_db_pool_connections gauge\n\
             keyport_db_pool_connections{{state=\"in_use\"}} {}\n\
             keyport_db_pool_connections{{state=\"idle\"}} {idle}\n\
             # HELP keyport_db_pool_max_connections The most connections the pool opens.\n\
             # TYPE keyport_db_pool_max_connections gauge\n\
             keyport_db_pool_max_connections {max}\n\
             # HELP keyport_build_info The running version.\n\
             # TYPE keyport_build_info gauge\n\
             keyport_build_info{{version=\"{}\"}} 1\n",
            size.saturating_sub(idle),
            env!("CARGO_PKG_VERSION"),
        );
        out
    }

    fn may_scrape(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.scrape_token else {
            return true;
        };
        let presented = crate::headers::bearer_token(headers)
            .ok()
            .flatten()
            .unwrap_or_default();
        bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
    }
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !state.metrics.may_scrape(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"keyport-metrics\"")],
            "a scrape token is required\n",
        )
            .into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        state.metrics.render(&state.keyport),
    )
        .into_response()
}

/// The route a request matched, handed from inside the router (where it is
/// known) to `track` outside it.
#[derive(Clone)]
struct Route(Arc<str>);

/// Inside the router: notes the matched route's template on the response.
pub async fn note_route(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| Route(m.as_str().into()));
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(route);
    }
    response
}

/// The label of a request's method: the RFC 9110 methods and PATCH by
/// name, anything else as "other".
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("other")
}

/// Outside everything else: times the whole request, sessions and
/// deadline included. Requests no route matched (static files, 404s) are
/// one series.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<Route>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| Arc::from("unmatched"));
    metrics.observe(
        Series {
            route,
            method,
            class: response.status().as_u16() / 100,
        },
        started.elapsed().as_secs_f64(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_fall_in_cumulative_buckets() {
        let metrics = Metrics::default();
        let series = Series {
            route: "/oauth2/token".into(),
            method: "POST",
            class: 2,
        };
        for seconds in [0.0004, 0.003, 0.003, 20.0] {
            metrics.observe(series.clone(), seconds);
        }
        let requests = metrics.requests.read().unwrap();
        let h = &requests[&series];
        let counts: Vec<u64> = h
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        assert_eq!(counts[0], 1, "0.4 ms is under 0.5 ms");
        assert_eq!(counts[3], 2, "3 ms is under 5 ms");
        assert_eq!(counts.iter().sum::<u64>(), 3, "20 s is only under +Inf");
        assert_eq!(h.count.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn a_scrape_token_is_compared_whole() {
        let metrics = Metrics::new(Some("s3cret".into()));
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            metrics.may_scrape(&headers)
        };
        assert!(with("Bearer s3cret"));
        assert!(!with("Bearer s3cre"));
        assert!(!with("Basic s3cret"));
        assert!(!metrics.may_scrape(&HeaderMap::new()));
        assert!(Metrics::new(None).may_scrape(&HeaderMap::new()));
    }
}
