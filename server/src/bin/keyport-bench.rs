//! `keyport-bench`: the `keyport` command line, built with the bench-only
//! routes, plus `keyport-bench measure` (`make bench`) and `keyport-bench
//! soak` (`make reliability`).

#[global_allocator]
static ALLOCATOR: keyport::alloc::Allocator = keyport::alloc::Allocator;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("measure") => keyport::bench::measure().await,
        Some("soak") => keyport::soak::soak().await,
        _ => keyport::cli::run().await,
    }
}
