//! `keyport-bench measure` (`make bench`): Keyport measured against its own
//! limits on this machine, every figure from one run. It starts servers on
//! an empty SQLite file and on a fresh PostgreSQL database, and one more on
//! a SQLite file of its own for the refresh row and another for the
//! registration row, seeds them, then drives
//! each row with the load generator on the same cores, and prints one table
//! (report.rs), also written to `target/bench/report.md`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use keyport_scratch::{postgres_admin_url, Scratch};

use crate::load::{drive, Load, Run};
use crate::server::{Seeded, Server};
use crate::{count, Result};
use crate::{refresh, registration};

/// Each row runs at each of these numbers of connections.
pub(crate) const CONNECTIONS: [usize; 2] = [16, 64];
/// What the names of the scratch databases and folders start with.
const SCRATCH: &str = "keyport_bench";

/// One row of the table: what it measured at each number of connections.
pub(crate) struct Row {
    pub(crate) name: &'static str,
    pub(crate) runs: Vec<(usize, Run)>,
}

impl Row {
    pub(crate) fn at(&self, connections: usize) -> Option<&Run> {
        self.runs
            .iter()
            .find(|(c, _)| *c == connections)
            .map(|(_, r)| r)
    }
}

/// `keyport-bench measure`: prints the table and writes it under `target/`.
pub async fn measure() -> ExitCode {
    match measure_all().await {
        Ok(report) => {
            println!("{report}");
            let path = Path::new("target/bench");
            let written = std::fs::create_dir_all(path)
                .and_then(|()| std::fs::write(path.join("report.md"), &report));
            match written {
                Ok(()) => eprintln!("bench: table written to target/bench/report.md"),
                Err(e) => eprintln!("bench: could not write target/bench/report.md: {e}"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("keyport-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn measure_all() -> Result<String> {
    let rounds = count("BENCH_ROUNDS", 3) as usize;
    let (warm_up, measured) = (
        Duration::from_secs(1),
        Duration::from_secs(count("BENCH_SECONDS", 3)),
    );
    let startup = start_up().await?;

    let sqlite_database = Scratch::sqlite(SCRATCH).map_err(|e| e.to_string())?;
    let sqlite = Server::start(&sqlite_database).await?;
    let seeded = sqlite.seed().await?;
    sqlite.fill_domain(&seeded).await?;
    // The refresh row's application would not fit in that full domain, and
    // its writes would grow the file the other SQLite rows read.
    let refresh_database = Scratch::sqlite(SCRATCH).map_err(|e| e.to_string())?;
    let refresh_server = Server::start(&refresh_database).await?;
    let refresh_load = refresh::seed(&refresh_server, &refresh_server.seed().await?).await?;
    // Registrations fill domains of their own, on a file of their own.
    let registration_database = Scratch::sqlite(SCRATCH).map_err(|e| e.to_string())?;
    let registration_server = Server::start(&registration_database).await?;
    registration_server.seed().await?;
    let registration_load = registration::seed(&registration_server).await?;
    let postgres_database =
        Scratch::postgres(SCRATCH, &postgres_admin_url("KEYPORT_BENCH_POSTGRES"))
            .await
            .map_err(|e| e.to_string())?;
    let postgres = Server::start(&postgres_database).await?;
    let pg_seeded = postgres.seed().await?;
    let pg_refresh_load = refresh::seed(&postgres, &pg_seeded).await?;

    let loads = loads(
        (sqlite.addr, &seeded),
        (postgres.addr, &pg_seeded),
        (refresh_server.addr, refresh_load),
        pg_refresh_load,
        (registration_server.addr, registration_load),
    );
    let seeded_peaks = (
        sqlite.peak_rss_mib(),
        postgres.peak_rss_mib(),
        refresh_server.peak_rss_mib(),
        registration_server.peak_rss_mib(),
    );
    sqlite.forget_peak();
    postgres.forget_peak();
    refresh_server.forget_peak();
    registration_server.forget_peak();
    let rows = measure_rows(&loads, rounds, warm_up, measured).await;
    let report = crate::report::report(
        &rows,
        startup,
        [
            ("SQLite server", sqlite.peak_rss_mib(), seeded_peaks.0),
            ("PostgreSQL server", postgres.peak_rss_mib(), seeded_peaks.1),
            (
                "SQLite refresh server",
                refresh_server.peak_rss_mib(),
                seeded_peaks.2,
            ),
            (
                "SQLite registration server",
                registration_server.peak_rss_mib(),
                seeded_peaks.3,
            ),
        ],
        measured,
        rounds,
    );
    drop(postgres);
    if let Err(e) = postgres_database.finish().await {
        eprintln!("bench: {e}");
    }
    Ok(report)
}

/// From start to a healthy `/healthz` on an empty SQLite file, three times;
/// the median counts.
async fn start_up() -> Result<Duration> {
    let mut startups = Vec::new();
    for _ in 0..3 {
        let fresh = Scratch::sqlite(SCRATCH).map_err(|e| e.to_string())?;
        startups.push(Server::start(&fresh).await?.started_in);
    }
    startups.sort();
    Ok(startups[startups.len() / 2])
}

/// Every row's request and the server it goes to: `token-pg` and
/// `refresh-pg` to the PostgreSQL server, `refresh` and `registration` each
/// to a SQLite server of its own, the others to the SQLite server.
fn loads(
    (sqlite, seeded): (SocketAddr, &Seeded),
    (postgres, pg_seeded): (SocketAddr, &Seeded),
    (refresh_server, refresh_load): (SocketAddr, Load),
    pg_refresh_load: Load,
    (registration_server, registration_load): (SocketAddr, Load),
) -> Vec<(&'static str, SocketAddr, Load)> {
    let loads = [
        ("ceiling", sqlite, Load::get("/bench/noop")),
        ("sign-only", sqlite, Load::get("/bench/sign")),
        ("token", sqlite, seeded.token_load.clone()),
        ("token-pg", postgres, pg_seeded.token_load.clone()),
        ("refresh", refresh_server, refresh_load),
        ("refresh-pg", postgres, pg_refresh_load),
        ("registration", registration_server, registration_load),
        ("api", sqlite, seeded.api_load()),
        ("page", sqlite, seeded.page_load()),
    ];
    // BENCH_ROWS (names, comma-separated) measures only those rows, for a
    // profiler to watch one at a time.
    let only = std::env::var("BENCH_ROWS").ok();
    loads
        .into_iter()
        .filter(|(name, _, _)| {
            only.as_deref()
                .is_none_or(|only| only.split(',').any(|n| n == *name))
        })
        .collect()
}

/// Every row at every concurrency, `rounds` times over, one after another,
/// so that a disturbance of the machine (another process, a flush) lands in
/// one round of many rows rather than in all of one row.
async fn measure_rows(
    loads: &[(&'static str, SocketAddr, Load)],
    rounds: usize,
    warm_up: Duration,
    measured: Duration,
) -> Vec<Row> {
    let mut measured_runs: Vec<Vec<Vec<Run>>> = loads
        .iter()
        .map(|_| CONNECTIONS.iter().map(|_| Vec::new()).collect())
        .collect();
    for round in 1..=rounds {
        for ((name, addr, load), runs) in loads.iter().zip(&mut measured_runs) {
            for (connections, runs) in CONNECTIONS.iter().zip(runs.iter_mut()) {
                eprintln!("bench: round {round}/{rounds}, {name} at {connections} connections");
                runs.push(drive(*addr, load, *connections, warm_up, measured).await);
            }
        }
    }
    loads
        .iter()
        .zip(measured_runs)
        .map(|((name, _, _), runs)| Row {
            name,
            runs: CONNECTIONS
                .iter()
                .copied()
                .zip(runs.into_iter().map(Run::of_rounds))
                .collect(),
        })
        .collect()
}
