//! `keyport`: the portal, the OAuth endpoints and the command line.

#[global_allocator]
static ALLOCATOR: keyport::alloc::Allocator = keyport::alloc::Allocator;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    keyport::cli::run().await
}
