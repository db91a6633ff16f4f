//! End-to-end suite: real WebSockets against `wrangler dev` (workerd) and the dev backend.
//!
//! Run all: `cargo test -p e2e`; run some: `cargo test -p e2e -- typing ping`
//! (a test runs when its name contains any of the words).
//!
//! Hubs: `main` has the default configuration; `unconfigured` has no WEBHOOK_TOKEN and a
//! backend where nothing listens; `tight` has small limits (see `TIGHT_VARS`) and is the
//! one the exclusive tests restart; `sharded` spreads a room over several objects past
//! 2 sockets (see `SHARDED_VARS`). A hub starts only if a selected test uses it.

mod abuse;
mod batching;
mod broadcast;
mod browser;
mod closing;
mod connect;
mod control;
mod fail_closed;
mod frames;
mod handshake;
mod membership;
mod personal;
mod resilience;
mod resume;
mod sharding;
mod ship;
mod storage;
mod support;

use e2e::hub::{build_worker, repo_root, Hub, HubOptions};
use e2e::runner::{self, Hubs};
use std::sync::Arc;
use std::time::Duration;

/// Starting wrangler dev (two workerd processes) takes a few seconds; allow for a busy machine.
const READY_WITHIN: Duration = Duration::from_secs(180);
const TEST_LIMIT: Duration = Duration::from_secs(120);

/// The `main` hub signs resume tickets with `RESUME_SECRET` and still accepts those of
/// `RESUME_SECRET_PREVIOUS` (a rotation); the other hubs have neither.
pub const RESUME_SECRET: &str = "e2e-resume-secret-3b1f9c";
pub const RESUME_SECRET_PREVIOUS: &str = "e2e-resume-previous-8d0a77";

pub const TIGHT_VARS: &[(&str, &str)] = &[
    ("MAX_CONNECTIONS_PER_ROOM", "5"),
    ("MAX_PENDING_PER_ROOM", "2"),
    // The pending test opens sockets milliseconds apart: no grace period here.
    ("PENDING_GRACE_MS", "0"),
    // Concurrent broadcasts from the tests reliably share one burst.
    ("BATCH_WINDOW_MS", "300"),
    ("AUTH_CHECK_TIMEOUT_MS", "1000"),
    ("AUTH_TIMEOUT_MS", "5000"),
    ("PRESENCE_MAX_MEMBERS", "2"),
    // Personal channels: 2 sockets per user, 1 watcher kept per user, a short delay.
    ("MAX_CONNECTIONS_PER_USER", "2"),
    ("MAX_WATCHERS_PER_USER", "1"),
    ("OFFLINE_DELAY_MS", "1500"),
];

/// Objects of 2 sockets, 3 objects and 5 sockets per room: a handful of sockets spans
/// every object of a room.
pub const SHARDED_VARS: &[(&str, &str)] = &[
    ("ROOM_SHARD_SIZE", "2"),
    ("ROOM_MAX_SHARDS", "3"),
    ("MAX_CONNECTIONS_PER_ROOM", "5"),
    // Presence stays on up to 4 distinct users: the fifth, on the third object, turns
    // it off room-wide.
    ("PRESENCE_MAX_MEMBERS", "4"),
    ("RESUME_SECRET", RESUME_SECRET),
];

/// Every hub's backend serves `bench:<userId>` checks one at a time, 50 ms each
/// (20 checks/s): a backend saturated by a reconnect storm. Other tokens answer as before.
pub const STORM_BACKEND: dev_backend::BenchMode = dev_backend::BenchMode {
    cost_ms: 50,
    concurrency: 1,
};

fn all_tests() -> Vec<runner::Test> {
    let mut t = Vec::new();
    t.extend(connect::tests());
    t.extend(handshake::tests());
    t.extend(frames::tests());
    t.extend(broadcast::tests());
    t.extend(control::tests());
    t.extend(membership::tests());
    t.extend(batching::tests());
    t.extend(resume::tests());
    t.extend(browser::tests());
    t.extend(storage::tests());
    t.extend(abuse::tests());
    t.extend(resilience::tests());
    t.extend(fail_closed::tests());
    t.extend(closing::tests());
    t.extend(sharding::tests());
    t.extend(personal::tests());
    t.extend(ship::tests());
    t
}

async fn start_if(needed: bool, options: HubOptions) -> Result<Option<Arc<Hub>>, String> {
    if !needed {
        return Ok(None);
    }
    Hub::start(options, READY_WITHIN).await.map(Some)
}

/// `closing` opens a thousand sockets, and the hubs relay each of them: more open files
/// than the common default soft limit of 1,024. Raised to the hard limit (as
/// scripts/bench.sh does) before any hub starts, so wrangler and workerd inherit it.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn main() {
    raise_open_files_limit();
    // The tools npm installed come first (wrangler needs the pinned Node 22 of
    // node_modules/.bin), also when the suite runs as plain `cargo test -p e2e`.
    // Set before any thread starts.
    let tools = repo_root().join("node_modules/.bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let paths = std::iter::once(tools).chain(std::env::split_paths(&path));
    if let Ok(joined) = std::env::join_paths(paths) {
        std::env::set_var("PATH", joined);
    }
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let tests = runner::select(all_tests(), &filters);
    if let Err(e) = build_worker() {
        eprintln!("{e}");
        println!("0 passed, 1 failed");
        std::process::exit(1);
    }
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let failed = rt.block_on(async move {
        let run_dir = repo_root()
            .join("target/e2e")
            .join(std::process::id().to_string());
        let uses = |word: &str| tests.iter().any(|t| t.name.contains(word));
        let options =
            |name: &str, token: bool, reachable: bool, vars: &[(&str, &str)]| HubOptions {
                webhook_token: token.then(|| support::WEBHOOK_TOKEN.to_owned()),
                vars: vars
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                persist_to: run_dir.join(name),
                backend_reachable: reachable,
                bench: STORM_BACKEND,
            };
        let (main, unconfigured, tight, sharded) = tokio::join!(
            Hub::start(
                options(
                    "main",
                    true,
                    true,
                    &[
                        ("RESUME_SECRET", RESUME_SECRET),
                        ("RESUME_SECRET_PREVIOUS", RESUME_SECRET_PREVIOUS)
                    ]
                ),
                READY_WITHIN
            ),
            start_if(
                uses("unconfigured"),
                options("unconfigured", false, false, &[])
            ),
            start_if(uses("tight"), options("tight", true, true, TIGHT_VARS)),
            start_if(
                uses("sharded"),
                options("sharded", true, true, SHARDED_VARS)
            ),
        );
        let started: Vec<Arc<Hub>> = [main.as_ref().ok().cloned()]
            .into_iter()
            .chain([
                unconfigured.as_ref().ok().cloned().flatten(),
                tight.as_ref().ok().cloned().flatten(),
                sharded.as_ref().ok().cloned().flatten(),
            ])
            .flatten()
            .collect();
        let (main, unconfigured, tight, sharded) = match (main, unconfigured, tight, sharded) {
            (Ok(m), Ok(u), Ok(t), Ok(s)) => (m, u, t, s),
            (m, u, t, s) => {
                started.iter().for_each(|h| h.stop());
                eprintln!(
                    "could not start the hubs: {:?} {:?} {:?} {:?}",
                    m.err(),
                    u.err(),
                    t.err(),
                    s.err()
                );
                println!("0 passed, 1 failed");
                return 1;
            }
        };
        // Stop everything on Ctrl-C / SIGTERM too.
        let on_signal = started.clone();
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
        let hubs = Hubs {
            main,
            unconfigured,
            tight,
            sharded,
        };
        let (passed, failed) = runner::run(hubs, tests, TEST_LIMIT).await;
        started.iter().for_each(|h| h.stop());
        println!("{passed} passed, {failed} failed");
        failed
    });
    drop(rt);
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
