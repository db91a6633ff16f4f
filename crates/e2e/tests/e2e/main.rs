//! End-to-end suite: real WebSockets against `wrangler dev` (workerd) and the dev backend.
//!
//! Run all: `cargo test -p e2e`; run some: `cargo test -p e2e -- typing ping`
//! (a test runs when its name contains any of the words).

mod broadcast;
mod connect;
mod frames;
mod handshake;
mod storage;
mod support;

use harness::hub::{repo_root, Hub, HubOptions};
use harness::runner::{self, Hubs};
use std::sync::Arc;
use std::time::Duration;

/// wrangler dev builds the worker before serving; a cold build takes a few minutes.
const READY_WITHIN: Duration = Duration::from_secs(600);
const TEST_LIMIT: Duration = Duration::from_secs(90);

fn all_tests() -> Vec<runner::Test> {
    let mut t = Vec::new();
    t.extend(connect::tests());
    t.extend(handshake::tests());
    t.extend(frames::tests());
    t.extend(broadcast::tests());
    t.extend(storage::tests());
    t
}

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let tests = runner::select(all_tests(), &filters);
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let failed = rt.block_on(async move {
        let run_dir = repo_root()
            .join("target/e2e")
            .join(std::process::id().to_string());
        let needs_unconfigured = tests.iter().any(|t| t.name.contains("unconfigured"));
        let main = Hub::start(
            HubOptions {
                webhook_token: Some(support::WEBHOOK_TOKEN.to_owned()),
                vars: vec![],
                persist_to: run_dir.join("main"),
            },
            READY_WITHIN,
        );
        let unconfigured = async {
            if !needs_unconfigured {
                return Ok(None);
            }
            Hub::start(
                HubOptions {
                    webhook_token: None,
                    vars: vec![],
                    persist_to: run_dir.join("unconfigured"),
                },
                READY_WITHIN,
            )
            .await
            .map(Some)
        };
        let (main, unconfigured) = tokio::join!(main, unconfigured);
        let (main, unconfigured) = match (main, unconfigured) {
            (Ok(m), Ok(u)) => (m, u),
            (m, u) => {
                for hub in [m.as_ref().ok(), u.as_ref().ok().and_then(|u| u.as_ref())]
                    .into_iter()
                    .flatten()
                {
                    hub.stop();
                }
                eprintln!("could not start the hub: {:?} {:?}", m.err(), u.err());
                println!("0 passed, 1 failed");
                return 1;
            }
        };
        let stoppers: Vec<Arc<Hub>> = std::iter::once(main.clone())
            .chain(unconfigured.clone())
            .collect();
        // Stop everything on Ctrl-C / SIGTERM too.
        let on_signal = stoppers.clone();
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term.recv() => {} }
            on_signal.iter().for_each(|h| h.stop());
            std::process::exit(130);
        });
        println!(
            "running {} end-to-end tests against {}",
            tests.len(),
            main.origin
        );
        let (passed, failed) = runner::run(Hubs { main, unconfigured }, tests, TEST_LIMIT).await;
        stoppers.iter().for_each(|h| h.stop());
        println!("{passed} passed, {failed} failed");
        failed
    });
    drop(rt);
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
