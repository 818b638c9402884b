//! The load generator: one request (`Load`) sent over a fixed number of
//! keep-alive HTTP/1.1 connections, each sending its next request as soon as
//! the last is answered, and what that measured (`Run`). A refresh token
//! grant's request changes with every answer (refresh.rs).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Collected, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::refresh::Chains;
use crate::Result;

/// One request, sent over and over; a chained one with the body each
/// connection's chain gives it.
#[derive(Clone)]
pub(crate) struct Load {
    method: Method,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// A header whose value is connection n's own (`each_connection`).
    own: Option<(HeaderName, Arc<[HeaderValue]>)>,
    body: Body,
    /// The status every answer should have.
    expected: StatusCode,
    /// For a portal page: the `<title>` it should carry.
    title: Option<Arc<str>>,
}

#[derive(Clone)]
enum Body {
    /// The same bytes every time.
    Same(Bytes),
    /// Connection n's next refresh in chain n, which each 200 answer moves
    /// on.
    Chained(Arc<Chains>),
}

impl Load {
    pub(crate) fn get(path: &str) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            headers: Vec::new(),
            own: None,
            body: Body::Same(Bytes::new()),
            expected: StatusCode::OK,
            title: None,
        }
    }

    pub(crate) fn post(path: &str, body: impl Into<Bytes>) -> Self {
        Self {
            method: Method::POST,
            path: path.into(),
            headers: Vec::new(),
            own: None,
            body: Body::Same(body.into()),
            expected: StatusCode::OK,
            title: None,
        }
    }

    /// A POST whose body each connection takes from its chain.
    pub(crate) fn post_chains(path: &str, chains: Chains) -> Self {
        Self {
            method: Method::POST,
            path: path.into(),
            headers: Vec::new(),
            own: None,
            body: Body::Chained(Arc::new(chains)),
            expected: StatusCode::OK,
            title: None,
        }
    }

    pub(crate) fn header(mut self, name: HeaderName, value: &str) -> Self {
        self.headers
            .push((name, HeaderValue::from_str(value).expect("valid header")));
        self
    }

    /// Sends `name` with `values[n]` on connection `n` (there must be one
    /// for every connection).
    pub(crate) fn each_connection(mut self, name: HeaderName, values: &[String]) -> Self {
        let values = values
            .iter()
            .map(|v| HeaderValue::from_str(v).expect("valid header"))
            .collect();
        self.own = Some((name, values));
        self
    }

    /// Every answer should have `status`, rather than 200.
    pub(crate) fn expecting(mut self, status: StatusCode) -> Self {
        self.expected = status;
        self
    }

    /// A portal page: every answer should carry `<title>` `title`, and a
    /// Content-Security-Policy whose nonce its scripts carry (a page
    /// rendered with another request's state would not).
    pub(crate) fn titled(mut self, title: &str) -> Self {
        self.title = Some(title.into());
        self
    }

    /// The request connection `n` sends next.
    fn request(&self, host: &HeaderValue, n: usize) -> Request<Full<Bytes>> {
        let mut request = Request::builder()
            .method(self.method.clone())
            .uri(&self.path)
            .header(header::HOST, host.clone());
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some((name, values)) = &self.own {
            request = request.header(name, &values[n]);
        }
        let body = match &self.body {
            Body::Same(body) => body.clone(),
            Body::Chained(chains) => chains.form(n),
        };
        request.body(Full::new(body)).expect("valid request")
    }

    /// Whether connection `n`'s request was answered as it should be: with
    /// the expected status, for a chain with the successor it presents
    /// next, for a page with its title and nonce.
    fn answered(
        &self,
        n: usize,
        status: StatusCode,
        headers: &HeaderMap,
        body: Collected<Bytes>,
    ) -> bool {
        let body = body.to_bytes();
        status == self.expected
            && match &self.body {
                Body::Same(_) => true,
                Body::Chained(chains) => chains.advance(n, &body),
            }
            && self
                .title
                .as_deref()
                .is_none_or(|title| is_page(title, headers, &body))
    }
}

/// What one row at one concurrency measured.
pub(crate) struct Run {
    pub(crate) requests: usize,
    pub(crate) not_ok: usize,
    pub(crate) errors: usize,
    seconds: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    /// Each request's time, in microseconds, sorted.
    latencies: Vec<u32>,
}

impl Run {
    pub(crate) fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    fn from_latencies(mut latencies: Vec<u32>, not_ok: usize, errors: usize, seconds: f64) -> Self {
        latencies.sort_unstable();
        let at = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
                .map_or(f64::NAN, |us| f64::from(*us) / 1000.0)
        };
        Self {
            requests: latencies.len(),
            not_ok,
            errors,
            seconds,
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            latencies,
        }
    }

    /// Rounds of the same row at the same concurrency as one: the median
    /// round's rate (one disturbed round does not move it), and the
    /// latencies of all rounds together.
    pub(crate) fn of_rounds(mut rounds: Vec<Run>) -> Run {
        rounds.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
        let median = rounds.get(rounds.len() / 2).map_or(0.0, Run::rate);
        let (mut latencies, mut not_ok, mut errors) = (Vec::new(), 0, 0);
        for round in rounds {
            latencies.extend(round.latencies);
            not_ok += round.not_ok;
            errors += round.errors;
        }
        let mut run = Run::from_latencies(latencies, not_ok, errors, 1.0);
        run.seconds = run.requests as f64 / median;
        run
    }
}

/// Drives `load` over `connections` keep-alive connections: `warm_up`
/// unmeasured, then `measured`.
pub(crate) async fn drive(
    addr: SocketAddr,
    load: &Load,
    connections: usize,
    warm_up: Duration,
    measured: Duration,
) -> Run {
    let start = Instant::now();
    let (from, until) = (start + warm_up, start + warm_up + measured);
    let host = HeaderValue::from_str(&addr.to_string()).expect("an address is a valid host");
    let load = Arc::new(load.clone());
    let tasks: Vec<_> = (0..connections)
        .map(|n| {
            let (load, host) = (load.clone(), host.clone());
            tokio::spawn(async move { connection(addr, &load, &host, n, from, until).await })
        })
        .collect();
    let (mut latencies, mut not_ok, mut errors) = (Vec::new(), 0, 0);
    for task in tasks {
        match task.await {
            Ok(done) => {
                latencies.extend(done.latencies);
                not_ok += done.not_ok;
                errors += done.errors;
            }
            Err(_) => errors += 1,
        }
    }
    Run::from_latencies(latencies, not_ok, errors, measured.as_secs_f64())
}

struct Connection {
    latencies: Vec<u32>,
    not_ok: usize,
    errors: usize,
}

/// Connection `n` of a run.
async fn connection(
    addr: SocketAddr,
    load: &Load,
    host: &HeaderValue,
    n: usize,
    from: Instant,
    until: Instant,
) -> Connection {
    let mut done = Connection {
        latencies: Vec::with_capacity(64 * 1024),
        not_ok: 0,
        errors: 0,
    };
    while Instant::now() < until {
        let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
            done.errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok((mut sender, driver)) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
        else {
            done.errors += 1;
            continue;
        };
        tokio::spawn(driver);
        loop {
            let sent = Instant::now();
            if sent >= until {
                return done;
            }
            let answered = match sender.send_request(load.request(host, n)).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    body.collect().await.map(|body| (parts, body))
                }
                Err(_) => {
                    done.errors += 1;
                    break; // reconnect
                }
            };
            let Ok((parts, body)) = answered else {
                done.errors += 1;
                break;
            };
            let elapsed = sent.elapsed();
            // A chain moves on during the warm-up too.
            let ok = load.answered(n, parts.status, &parts.headers, body);
            if sent >= from {
                done.latencies
                    .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
                if !ok {
                    done.not_ok += 1;
                }
            }
        }
    }
    done
}

/// Whether an HTML page carries `<title>` `title` and a
/// Content-Security-Policy with a nonce that its scripts carry.
fn is_page(title: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let html = String::from_utf8_lossy(body);
    let nonce = headers
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|policy| policy.to_str().ok())
        .and_then(|policy| policy.split("'nonce-").nth(1))
        .and_then(|rest| rest.split('\'').next())
        .filter(|nonce| !nonce.is_empty());
    nonce.is_some_and(|nonce| html.contains(&format!(" nonce=\"{nonce}\"")))
        && html.contains(&format!("<title>{title}</title>"))
}

/// One request on a fresh connection.
pub(crate) async fn fetch(addr: SocketAddr, load: &Load) -> Result<(StatusCode, HeaderMap, Bytes)> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(driver);
    let host = HeaderValue::from_str(&addr.to_string()).map_err(|e| e.to_string())?;
    let response = sender
        .send_request(load.request(&host, 0))
        .await
        .map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((parts.status, parts.headers, body))
}
