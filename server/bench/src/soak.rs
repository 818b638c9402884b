//! `keyport-bench soak` (`make reliability`): a bounded soak. One server on
//! a fresh SQLite file with a full domain (63 applications) takes token
//! requests, management API calls and signed-in page loads at once, for
//! `SOAK_SECONDS` (180) in windows of `SOAK_WINDOW` (15) seconds. Each window
//! reports its rates, p99 latencies, failures and the server's memory.
//!
//! It fails (exit 1) on any failed or non-200 answer, on memory that grows
//! (last window over the first by more than 25 % + 8 MiB), or on a p99 that
//! drifts (the median p99 of the last third over twice that of the first
//! third).

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use keyport_scratch::Scratch;

use crate::count;
use crate::load::{drive, Run};
use crate::server::Server;

/// Connections per kind of request: mostly tokens, as in production.
const MIX: [(&str, usize); 3] = [("token", 8), ("api", 4), ("page", 2)];

struct Window {
    at: Duration,
    runs: Vec<Run>,
    rss_mib: f64,
}

pub(crate) async fn soak() -> ExitCode {
    let outcome = run().await.inspect(|(report, _)| {
        let path = std::path::Path::new("target/reliability");
        let _ = std::fs::create_dir_all(path)
            .and_then(|()| std::fs::write(path.join("soak.md"), report));
    });
    crate::verdict("soak", outcome)
}

async fn run() -> Result<(String, bool), String> {
    let (total, window) = (
        Duration::from_secs(count("SOAK_SECONDS", 180)),
        Duration::from_secs(count("SOAK_WINDOW", 15)),
    );
    let database = Scratch::sqlite("keyport_soak").map_err(|e| e.to_string())?;
    let server = Server::start(&database).await?;
    let seeded = server.seed().await?;
    server.fill_domain(&seeded).await?;
    let loads = [
        seeded.token_load.clone(),
        seeded.api_load(),
        seeded.page_load(),
    ];

    let mut windows = Vec::new();
    let mut at = Duration::ZERO;
    while at < total {
        let runs =
            futures::future::join_all(loads.iter().zip(MIX).map(|(load, (_, connections))| {
                drive(server.addr, load, connections, Duration::ZERO, window)
            }))
            .await;
        at += window;
        windows.push(Window {
            at,
            runs,
            rss_mib: server.rss_mib().unwrap_or(f64::NAN),
        });
    }
    Ok(report(&windows))
}

fn report(windows: &[Window]) -> (String, bool) {
    let mut out = String::from("| t (s) |");
    for (name, connections) in MIX {
        let _ = write!(out, " {name} ({connections} conn) req/s | p99 ms |");
    }
    out += " failed | RSS MiB |\n|---|";
    out += &"---|---|".repeat(MIX.len());
    out += "---|---|\n";
    for w in windows {
        let _ = write!(out, "| {} |", w.at.as_secs());
        for run in &w.runs {
            let _ = write!(out, " {:.0} | {:.2} |", run.rate(), run.p99_ms);
        }
        let failed: usize = w.runs.iter().map(|r| r.not_ok + r.errors).sum();
        let _ = writeln!(out, " {failed} | {:.1} |", w.rss_mib);
    }

    let failed: usize = windows
        .iter()
        .flat_map(|w| &w.runs)
        .map(|r| r.not_ok + r.errors)
        .sum();
    let requests: usize = windows
        .iter()
        .flat_map(|w| &w.runs)
        .map(|r| r.requests)
        .sum();
    let (first, last) = (
        windows.first().map_or(f64::NAN, |w| w.rss_mib),
        windows.last().map_or(f64::NAN, |w| w.rss_mib),
    );
    let memory_flat = last <= first * 1.25 + 8.0;
    let _ = writeln!(
        out,
        "\n{requests} requests, {failed} failed or not 200; RSS {first:.1} → {last:.1} MiB ({})",
        if memory_flat { "flat" } else { "GROWING" }
    );
    let mut stable = true;
    for (i, (name, _)) in MIX.iter().enumerate() {
        let third = (windows.len() / 3).max(1);
        let median = |ws: &[Window]| {
            let mut p99s: Vec<f64> = ws.iter().map(|w| w.runs[i].p99_ms).collect();
            p99s.sort_by(f64::total_cmp);
            p99s.get(p99s.len() / 2).copied().unwrap_or(f64::NAN)
        };
        let (early, late) = (
            median(&windows[..third]),
            median(&windows[windows.len() - third..]),
        );
        let steady = late <= early * 2.0;
        stable &= steady;
        let _ = writeln!(
            out,
            "{name}: p99 {early:.2} ms in the first third, {late:.2} ms in the last ({})",
            if steady { "stable" } else { "DRIFTING" }
        );
    }
    let passed = failed == 0 && memory_flat && stable;
    let _ = writeln!(out, "soak: {}", if passed { "passed" } else { "FAILED" });
    (out, passed)
}
