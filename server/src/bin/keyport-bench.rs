//! `keyport-bench`: the `keyport` command line, built with the bench-only
//! routes, plus `keyport-bench measure`, which `make bench` runs.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if std::env::args().nth(1).as_deref() == Some("measure") {
        keyport::bench::measure().await
    } else {
        keyport::cli::run().await
    }
}
