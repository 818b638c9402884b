//! `keyport-bench`: the `keyport` command line, built with the bench-only
//! routes (`keyport`'s `bench` feature), plus `keyport-bench measure` and
//! `keyport-bench scale` (`make bench`), `keyport-bench soak` (`make
//! reliability`) and `keyport-bench pages` (`make soak`). They start
//! `keyport-bench serve` processes, so the servers measured are this binary.

mod load;
mod measure;
mod pages;
mod refresh;
mod registration;
mod report;
mod scale;
mod seed;
mod server;
mod soak;

#[global_allocator]
static ALLOCATOR: keyport::alloc::Allocator = keyport::alloc::Allocator;

type Result<T, E = String> = std::result::Result<T, E>;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("measure") => measure::measure().await,
        Some("scale") => scale::scale().await,
        Some("soak") => soak::soak().await,
        Some("pages") => pages::pages().await,
        _ => keyport::cli::run().await,
    }
}

/// Prints a check's report (or why it could not run) and makes its verdict
/// the exit status.
fn verdict(command: &str, outcome: Result<(String, bool)>) -> std::process::ExitCode {
    match outcome {
        Ok((report, passed)) => {
            println!("{report}");
            if passed {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("keyport-bench {command}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A positive whole number from the environment variable `name`, or
/// `default` when it is unset or not one.
fn count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}
