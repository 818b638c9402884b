//! `keyport-bench pages` (`make soak`; `make test` runs 10 s of it): every
//! portal page rendered for a signed-in super admin over 16 keep-alive
//! connections for `PAGES_SECONDS` (60), while 200 more requests for them
//! are cut off, half before their answer comes (mid-render), half after its
//! first bytes (mid-response).
//!
//! It fails (exit 1) on an answer that is not the page (200, its own
//! `<title>`, scripts carrying the nonce of its Content-Security-Policy),
//! or on anything in the server's output (standard output and error, at
//! the default log level) that is a warning, an error, a panic or a
//! leptos_meta complaint. Pages render concurrently on every core, so state
//! one request left behind would show in another's answer or in the log.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use keyport_scratch::Scratch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::count;
use crate::load::{drive, fetch, Load, Run};
use crate::server::{Seeded, Server};

const CONNECTIONS: usize = 16;
const CUT_OFF: usize = 200;

/// What a line of the server's output must not say.
const UNWANTED: [&str; 4] = ["WARN", "ERROR", "panicked", "ServerMetaContext"];

pub(crate) async fn pages() -> ExitCode {
    crate::verdict("pages", run().await)
}

async fn run() -> Result<(String, bool), String> {
    let seconds = Duration::from_secs(count("PAGES_SECONDS", 60));
    let database = Scratch::sqlite("keyport_pages").map_err(|e| e.to_string())?;
    let output = database.dir().join("server.log");
    let server = Server::start_writing(&database, &output).await?;
    let seeded = server.seed().await?;
    server.fill_domain(&seeded).await?;
    let pages = portal_pages(&server, &seeded).await?;

    let loads: Vec<Load> = pages
        .iter()
        .map(|(path, title)| seeded.signed_in_page(path).titled(title))
        .collect();
    // The connections, dealt out over the pages.
    let connections: Vec<usize> = (0..loads.len())
        .map(|n| CONNECTIONS / loads.len() + usize::from(n < CONNECTIONS % loads.len()))
        .collect();
    let rendering = loads
        .iter()
        .zip(&connections)
        .map(|(load, &n)| drive(server.addr, load, n, Duration::ZERO, seconds));
    let (runs, cut) = tokio::join!(
        futures::future::join_all(rendering),
        cut_off(server.addr, &seeded, &pages, seconds),
    );
    // What the cut-off requests left running finishes, or says why not.
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.stop().await?;
    let said = std::fs::read_to_string(&output).map_err(|e| e.to_string())?;
    // Kept for a look at what the server said.
    let kept = std::path::Path::new("target/soak");
    let _ =
        std::fs::create_dir_all(kept).and_then(|()| std::fs::write(kept.join("pages.log"), &said));
    Ok(report(&pages, &connections, &runs, cut?, &said))
}

/// Every page of the portal, with its title, as the seeded super admin
/// sees them.
async fn portal_pages(server: &Server, seeded: &Seeded) -> Result<Vec<(String, String)>, String> {
    // The seeded client's page, as the list links to it.
    let (_, _, list) = fetch(server.addr, &seeded.signed_in_page("/applications")).await?;
    let list = String::from_utf8_lossy(&list);
    let application = list
        .split("<a href=\"/applications/")
        .skip(1)
        .find_map(|link| {
            let (id, rest) = link.split_once('"')?;
            let text = rest.split("</a>").next()?;
            (id.len() == 36 && text.contains("Bench client")).then_some(id)
        })
        .ok_or("the seeded client is not listed")?;
    Ok([
        ("/applications", "Applications"),
        ("/applications/new", "Register New Application"),
        ("/applications/remove", "Remove applications"),
        ("/applications/removed", "Recently removed"),
        (&format!("/applications/{application}"), "Bench client"),
        ("/permissions", "Permissions"),
        ("/apis", "APIs"),
        ("/registration", "Client registration"),
        ("/connected", "Connected applications"),
        ("/audit", "Audit log"),
        ("/users", "Users"),
        ("/domains", "Domains"),
        ("/tools/token", "Token inspector"),
        ("/account", "Account"),
    ]
    .into_iter()
    .map(|(path, title)| (path.to_owned(), format!("{title} · Keyport")))
    .collect())
}

/// `CUT_OFF` page requests spread over `seconds`, each on a connection of
/// its own that is closed before its answer has come or after its first
/// bytes. Returns how many were answered before they were cut.
async fn cut_off(
    addr: SocketAddr,
    seeded: &Seeded,
    pages: &[(String, String)],
    seconds: Duration,
) -> Result<usize, String> {
    let pause = seconds / u32::try_from(CUT_OFF).unwrap_or(u32::MAX);
    let mut answered = 0;
    for n in 0..CUT_OFF {
        let (path, _) = &pages[n % pages.len()];
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/html\r\nCookie: {}\r\n\r\n",
            seeded.cookie
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        if n % 2 == 0 {
            // Mid-render: some of the page's work has started.
            tokio::time::sleep(Duration::from_micros(250 * (n as u64 % 8))).await;
        } else {
            // An answer that never starts is cut off too, after the
            // longest any request may take.
            let mut first = [0; 16];
            let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut first)).await;
            if matches!(read, Ok(Ok(read)) if read > 0) {
                answered += 1;
            }
        }
        drop(stream);
        tokio::time::sleep(pause).await;
    }
    Ok(answered)
}

fn report(
    pages: &[(String, String)],
    connections: &[usize],
    runs: &[Run],
    cut: usize,
    said: &str,
) -> (String, bool) {
    let mut out = String::from(
        "| page | connections | pages/s | p99 ms | not the page |\n|---|---|---|---|---|\n",
    );
    let (mut requests, mut failed, mut unseen) = (0, 0, 0);
    for (((path, _), n), run) in pages.iter().zip(connections).zip(runs) {
        let _ = writeln!(
            out,
            "| {path} | {n} | {:.0} | {:.2} | {} |",
            run.rate(),
            run.p99_ms,
            run.not_ok + run.errors
        );
        requests += run.requests;
        failed += run.not_ok + run.errors;
        unseen += usize::from(run.requests == 0);
    }
    // Each unwanted message once, with how often it came (a log line's
    // time left out).
    let mut unwanted = std::collections::BTreeMap::<&str, usize>::new();
    for line in said.lines() {
        if UNWANTED.iter().any(|word| line.contains(word)) {
            let message = match line.split_once(' ') {
                Some((time, rest)) if time.starts_with("20") => rest.trim_start(),
                _ => line,
            };
            *unwanted.entry(message).or_default() += 1;
        }
    }
    let _ = writeln!(
        out,
        "\n{requests} pages over {CONNECTIONS} connections, {failed} not the page; \
         {CUT_OFF} cut off ({cut} after their first bytes); \
         the server's output (target/soak/pages.log): {} lines, {} unwanted",
        said.lines().count(),
        unwanted.values().sum::<usize>()
    );
    for (message, times) in unwanted.iter().take(10) {
        let _ = writeln!(out, "    {times} × {message}");
    }
    if unseen > 0 {
        let _ = writeln!(out, "{unseen} pages were never rendered");
    }
    let passed = unseen == 0 && failed == 0 && unwanted.is_empty();
    let _ = writeln!(out, "pages: {}", if passed { "passed" } else { "FAILED" });
    (out, passed)
}
