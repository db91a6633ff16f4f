//! `dev-backend`: runs the development backend from the command line.
//!
//! ```text
//! dev-backend [--port 8788] [--hub http://127.0.0.1:8787] [--webhook-token TOKEN]
//!             [--bench-check-ms 20 --bench-concurrency 8]
//! ```
//! The bench options make `bench:<userId>` checks cost that long, that many at a time:
//! a backend that saturates, for the benchmark's restart scenario.
//! The webhook token defaults to `$WEBHOOK_TOKEN`, then to `WEBHOOK_TOKEN=` in `.dev.vars`.

use std::net::SocketAddr;

fn token_from_dev_vars() -> Option<String> {
    let text = std::fs::read_to_string(".dev.vars").ok()?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("WEBHOOK_TOKEN="))
        .map(|v| v.trim().trim_matches('"').to_owned())
}

#[tokio::main]
async fn main() {
    let mut port: u16 = 8788;
    let mut hub = "http://127.0.0.1:8787".to_owned();
    let mut token = std::env::var("WEBHOOK_TOKEN")
        .ok()
        .or_else(token_from_dev_vars);
    let mut bench = dev_backend::BenchMode::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("--port", Some(v)) => {
                port = v.parse().unwrap_or_else(|_| fail("--port needs a number"))
            }
            ("--hub", Some(v)) => hub = v,
            ("--webhook-token", Some(v)) => token = Some(v),
            ("--bench-check-ms", Some(v)) => {
                bench.cost_ms = v.parse().unwrap_or_else(|_| fail("--bench-check-ms needs a number"))
            }
            ("--bench-concurrency", Some(v)) => {
                bench.concurrency = v
                    .parse()
                    .unwrap_or_else(|_| fail("--bench-concurrency needs a number"))
            }
            _ => fail("usage: dev-backend [--port N] [--hub URL] [--webhook-token TOKEN] [--bench-check-ms MS --bench-concurrency N]"),
        }
    }
    let Some(webhook_token) = token else {
        fail("no webhook token: set WEBHOOK_TOKEN, pass --webhook-token, or create .dev.vars");
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let backend = dev_backend::start(
        addr,
        dev_backend::Options {
            hub_origin: hub.clone(),
            webhook_token,
            bench,
        },
    )
    .await
    .unwrap_or_else(|e| fail(&format!("cannot listen on {addr}: {e}")));
    println!("dev-backend listening on {} (hub: {hub})", backend.origin());
    let _ = tokio::signal::ctrl_c().await;
}

fn fail(msg: &str) -> ! {
    eprintln!("dev-backend: {msg}");
    std::process::exit(2);
}
