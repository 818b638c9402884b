//! `keyport`: the portal, the OAuth endpoints and the command line.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    keyport::cli::run().await
}
