//! `keyport-bench scale` (`make bench`): one node at the size of a large
//! customer, beside a small one. Both start on fresh SQLite files seeded as
//! `measure` seeds one (an administrator, a full domain of 63 applications).
//! The second is stopped, its file seeded through SQL in bulk up to 200
//! domains × 63 applications (12,600 clients), 2,000 users, 5 million audit
//! entries, 1 million revoked tokens and 100,000 sessions, and restarted.
//! It takes a restart storm (the first token request of every client, as
//! after a deploy); then the token, API, page and audit-page rows run on
//! both nodes in turn. It prints one table, also written to
//! `target/bench/scale.md`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use keyport_scratch::Scratch;

use crate::load::{drive, fetch, Load, Run};
use crate::seed::seed;
use crate::server::{token_load, Seeded, Server, APPLICATIONS};
use crate::{count, Result};

/// What the names of the scratch folders start with.
const SCRATCH: &str = "keyport_scale";
/// Every row and the restart storm run over this many connections, where
/// the page targets are judged (report.rs explains why not at 64).
const CONNECTIONS: usize = 16;
const WARM_UP: Duration = Duration::from_secs(1);
/// Each request of the restart storm is given up on after this long.
const STORM_REQUEST_LIMIT: Duration = Duration::from_secs(10);
/// The rows measured on both deployments, in the order `loads` gives them.
const ROWS: [&str; 4] = ["token", "api", "page", "audit page"];
/// What the scaled node holds: the figures, each of which the
/// environment can set (`SCALE_DOMAINS`, `SCALE_USERS`,
/// `SCALE_AUDIT_ENTRIES`, `SCALE_REVOKED_TOKENS`, `SCALE_SESSIONS`), lower
/// to try the run quickly.
pub(crate) struct Size {
    pub(crate) domains: i64,
    pub(crate) users: i64,
    pub(crate) audit_entries: i64,
    pub(crate) revoked_tokens: i64,
    pub(crate) sessions: i64,
}

impl Size {
    fn from_env() -> Result<Self> {
        let figure = |name, default| {
            i64::try_from(count(name, default)).map_err(|_| format!("{name} is too large"))
        };
        let size = Self {
            domains: figure("SCALE_DOMAINS", 200)?,
            users: figure("SCALE_USERS", 2_000)?,
            audit_entries: figure("SCALE_AUDIT_ENTRIES", 5_000_000)?,
            revoked_tokens: figure("SCALE_REVOKED_TOKENS", 1_000_000)?,
            sessions: figure("SCALE_SESSIONS", 100_000)?,
        };
        // Each domain's first user owns its applications.
        if size.users < size.domains {
            return Err("SCALE_USERS must be at least SCALE_DOMAINS".into());
        }
        Ok(size)
    }

    pub(crate) fn applications(&self) -> i64 {
        self.domains * per_domain()
    }
}

/// Applications per domain: as many as `Server::fill_domain` registers.
pub(crate) fn per_domain() -> i64 {
    i64::try_from(APPLICATIONS).unwrap_or(i64::MAX)
}

/// What the run measured, for the report.
struct Outcome {
    size: Size,
    rounds: usize,
    measured: Duration,
    small: Vec<Run>,
    seeded_in: Duration,
    started_in: Duration,
    storm: Storm,
    /// The same requests once more, every client now remembered: what
    /// fresh connections cost alone.
    storm_again: Storm,
    scaled: Vec<Run>,
    peak_rss_mib: Option<f64>,
}

/// `keyport-bench scale`: prints the table and writes it under `target/`.
/// Like `measure`, it fails only when it could not measure, never for a
/// missed target.
pub(crate) async fn scale() -> ExitCode {
    match run().await {
        Ok(outcome) => {
            let table = report(&outcome);
            println!("{table}");
            let folder = std::path::Path::new("target/bench");
            match std::fs::create_dir_all(folder)
                .and_then(|()| std::fs::write(folder.join("scale.md"), &table))
            {
                Ok(()) => eprintln!("scale: table written to target/bench/scale.md"),
                Err(e) => eprintln!("scale: could not write target/bench/scale.md: {e}"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("keyport-bench scale: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<Outcome> {
    let size = Size::from_env()?;
    let rounds = count("SCALE_ROUNDS", 3) as usize;
    let measured = Duration::from_secs(count("BENCH_SECONDS", 3));
    // The small deployment stays up beside the scaled one, so that each row
    // is measured on both within seconds, whatever else the machine does.
    let small_database = scratch()?;
    let small = Server::start(&small_database).await?;
    let small_seeded = small.seed().await?;
    small.fill_domain(&small_seeded).await?;

    let database = scratch()?;
    let scaled = scale_up(&database, &size).await?;
    eprintln!("scale: restart storm, {} clients", scaled.client_ids.len());
    let (addr, secret) = (scaled.server.addr, &scaled.seeded.client_secret);
    let storm = restart_storm(addr, &scaled.client_ids, secret).await;
    let storm_again = restart_storm(addr, &scaled.client_ids, secret).await;
    let [small_runs, scaled_runs] = measure_rows(
        [
            (small.addr, loads(&small_seeded)),
            (scaled.server.addr, loads(&scaled.seeded)),
        ],
        rounds,
        measured,
    )
    .await;
    Ok(Outcome {
        size,
        rounds,
        measured,
        small: small_runs,
        seeded_in: scaled.seeded_in,
        started_in: scaled.server.started_in,
        storm,
        storm_again,
        scaled: scaled_runs,
        peak_rss_mib: scaled.server.peak_rss_mib(),
    })
}

fn scratch() -> Result<Scratch> {
    Scratch::sqlite(SCRATCH).map_err(|e| e.to_string())
}

/// The scaled node, just restarted.
struct Scaled {
    server: Server,
    seeded: Seeded,
    seeded_in: Duration,
    /// Every client's ID, in the order of the IDs: random, so the domains
    /// mixed as a deploy's reconnecting integrations would be.
    client_ids: Arc<Vec<String>>,
}

/// A server on `database` seeded as the small one is, stopped, seeded
/// through SQL up to `size`, and started again at the same address (as a
/// deploy restarts a node), so that its tokens and sessions still hold.
async fn scale_up(database: &Scratch, size: &Size) -> Result<Scaled> {
    let server = Server::start(database).await?;
    let seeded = server.seed().await?;
    server.fill_domain(&seeded).await?;
    let addr = server.addr;
    server.stop().await?;

    let seeding = Instant::now();
    let limit = Duration::from_secs(count("SCALE_SEED_SECONDS", 1_800));
    let client_ids = tokio::time::timeout(limit, seed(database, &seeded.client_id, size))
        .await
        .map_err(|_| {
            format!(
                "seeding took over {} s (SCALE_SEED_SECONDS)",
                limit.as_secs()
            )
        })??;
    let seeded_in = seeding.elapsed();
    eprintln!("scale: seeded in {:.0} s", seeded_in.as_secs_f64());
    Ok(Scaled {
        server: Server::start_at(database, addr).await?,
        seeded,
        seeded_in,
        client_ids: Arc::new(client_ids),
    })
}

/// The requests of `ROWS`, in that order.
fn loads(seeded: &Seeded) -> [Load; 4] {
    [
        seeded.token_load.clone(),
        seeded.api_load(),
        seeded.page_load(),
        seeded.audit_load(),
    ]
}

/// Every row on the small and the scaled node, one after the other, and
/// all of them `rounds` times over, so that a disturbance of the machine
/// lands in one round of many rows rather than in all of one.
async fn measure_rows(
    nodes: [(SocketAddr, [Load; 4]); 2],
    rounds: usize,
    measured: Duration,
) -> [Vec<Run>; 2] {
    let mut runs: [Vec<Vec<Run>>; 2] =
        std::array::from_fn(|_| ROWS.iter().map(|_| Vec::new()).collect());
    for round in 1..=rounds {
        for (row, name) in ROWS.iter().enumerate() {
            for ((node, (addr, loads)), runs) in
                ["small", "scaled"].iter().zip(&nodes).zip(&mut runs)
            {
                eprintln!("scale: round {round}/{rounds}, {name}, {node}");
                runs[row].push(drive(*addr, &loads[row], CONNECTIONS, WARM_UP, measured).await);
            }
        }
    }
    runs.map(|rows| rows.into_iter().map(Run::of_rounds).collect())
}

/// What the restart storm measured.
struct Storm {
    clients: usize,
    not_ok: usize,
    /// Requests that got no answer (refused, dropped, or over the limit).
    errors: usize,
    took: Duration,
    p99_ms: f64,
}

impl Storm {
    fn rate(&self) -> f64 {
        self.clients as f64 / self.took.as_secs_f64()
    }

    /// Its time, rate (also as a share of `warm`), p99 and failures.
    fn summary(&self, warm: f64) -> String {
        format!(
            "{:.2} s, {:.0}/s = {:.2} × warm token, p99 {:.2} ms, {} not 200, {} unanswered",
            self.took.as_secs_f64(),
            self.rate(),
            self.rate() / warm,
            self.p99_ms,
            self.not_ok,
            self.errors
        )
    }
}

/// The first token request of every client, right after a start, each on
/// a fresh connection (a restart closed the old ones), `CONNECTIONS` in
/// flight at a time. Every client asks once.
async fn restart_storm(addr: SocketAddr, clients: &Arc<Vec<String>>, secret: &str) -> Storm {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (clients, next, secret) = (clients.clone(), next.clone(), secret.to_owned());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while let Some(client_id) = clients.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let load = token_load(client_id, &secret);
                    let sent = Instant::now();
                    let answer = tokio::time::timeout(STORM_REQUEST_LIMIT, fetch(addr, &load))
                        .await
                        .ok()
                        .and_then(Result::ok);
                    answers.push((sent.elapsed(), answer.map(|(status, _, _)| status)));
                }
                answers
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(clients.len());
    for worker in futures::future::join_all(workers).await {
        answers.extend(worker.unwrap_or_default());
    }
    let took = started.elapsed();
    let mut latencies: Vec<Duration> = answers.iter().map(|(latency, _)| *latency).collect();
    latencies.sort_unstable();
    let p99 = latencies
        .get(latencies.len() * 99 / 100)
        .or(latencies.last())
        .map_or(f64::NAN, |l| l.as_secs_f64() * 1000.0);
    let answered = answers
        .iter()
        .filter(|(_, status)| status.is_some())
        .count();
    Storm {
        clients: clients.len(),
        not_ok: answers
            .iter()
            .filter(|(_, status)| status.is_some_and(|s| s != StatusCode::OK))
            .count(),
        errors: clients.len() - answered,
        took,
        p99_ms: p99,
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "missed"
    }
}

fn report(o: &Outcome) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let s = &o.size;
    let mut out = format!(
        "Keyport at scale: nodes on SQLite, {cores} cores, loopback, load generator on \
         the same cores. Small: one domain of {APPLICATIONS} applications. Scaled: a node \
         seeded the same way, then through SQL in {:.0} s to {} domains × {APPLICATIONS} \
         applications ({} clients), {} users, {} audit entries, {} revoked tokens and {} \
         sessions, and restarted (healthy in {} ms). Each row: {CONNECTIONS} keep-alive \
         connections, {} rounds of {} s measured after 1 s of warm-up, on both nodes in \
         turn; requests/s is the median round, p99 is over all rounds.\n\n",
        o.seeded_in.as_secs_f64(),
        s.domains,
        s.applications(),
        s.users,
        s.audit_entries,
        s.revoked_tokens,
        s.sessions,
        o.started_in.as_millis(),
        o.rounds,
        o.measured.as_secs()
    );
    rows(&mut out, o);
    storm_and_memory(&mut out, o);
    out
}

/// Each row on both deployments: the scaled rate within 20 % of the small
/// one, the pages' p99 within 50 ms, and every answer of the scaled node a
/// 200 (a failure on the small one is shown, but is not the scale's).
fn rows(out: &mut String, o: &Outcome) {
    let _ = writeln!(
        out,
        "| row | small req/s | small p99 ms | scaled req/s | scaled p99 ms | ratio | target | verdict |\n\
         |---|---:|---:|---:|---:|---:|---|---|"
    );
    for ((name, small), scaled) in ROWS.iter().zip(&o.small).zip(&o.scaled) {
        let ratio = scaled.rate() / small.rate();
        let page = name.contains("page");
        let failed = [small, scaled].map(|run| run.not_ok + run.errors);
        let met = ratio >= 0.8 && (!page || scaled.p99_ms <= 50.0) && failed[1] == 0;
        let _ = writeln!(
            out,
            "| {name} | {:.0} | {:.2} | {:.0} | {:.2} | {ratio:.2} | ≥ 0.80{}, all 200 | {}{} |",
            small.rate(),
            small.p99_ms,
            scaled.rate(),
            scaled.p99_ms,
            if page { ", p99 ≤ 50 ms" } else { "" },
            verdict(met),
            if failed == [0, 0] {
                String::new()
            } else {
                format!(" (not 200: {} small, {} scaled)", failed[0], failed[1])
            }
        );
    }
}

/// The restart storm against the scaled node's warm token rate, the same
/// requests again once every client is remembered, and the scaled node's
/// peak memory over the whole run.
fn storm_and_memory(out: &mut String, o: &Outcome) {
    let warm = o.scaled.first().map_or(f64::NAN, Run::rate);
    let storm = &o.storm;
    let met = storm.rate() >= 0.5 * warm && storm.not_ok + storm.errors == 0;
    let _ = writeln!(
        out,
        "\n| measure | value | target | verdict |\n|---|---|---|---|\n\
         | restart storm: the first token request of each of {} clients, a fresh connection \
         each, {CONNECTIONS} at a time | {} | ≥ 0.5 × warm token ({warm:.0}/s), all 200 | {} |",
        storm.clients,
        storm.summary(warm),
        verdict(met)
    );
    let _ = writeln!(
        out,
        "| the same requests again, every client now remembered (what fresh connections \
         cost alone) | {} | | |",
        o.storm_again.summary(warm)
    );
    let _ = writeln!(
        out,
        "| peak RSS, scaled node (start, storms and every row) | {} | ≤ 128 MiB | {} |",
        o.peak_rss_mib
            .map_or("unknown".to_owned(), |m| format!("{m:.1} MiB")),
        o.peak_rss_mib.map_or("", |m| verdict(m <= 128.0))
    );
}
