//! A tiny concurrent test runner: every test gets the shared hubs, a time limit,
//! and its panic turned into a failure. Ends with the line `N passed, N failed`.

use crate::hub::Hub;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The hubs a test may use.
#[derive(Clone)]
pub struct Hubs {
    /// Default configuration, WEBHOOK_TOKEN set.
    pub main: Arc<Hub>,
    /// No WEBHOOK_TOKEN, and a backend origin where nothing listens.
    pub unconfigured: Option<Arc<Hub>>,
    /// Small limits (see `tests/e2e/main.rs`); also the hub the exclusive tests restart.
    pub tight: Option<Arc<Hub>>,
    /// Rooms spread over several objects past 2 sockets (see `tests/e2e/main.rs`).
    pub sharded: Option<Arc<Hub>>,
}

pub type TestFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

pub struct Test {
    pub name: &'static str,
    pub run: fn(Hubs) -> TestFuture,
    /// Runs alone, after the concurrent tests (it restarts a hub, say).
    pub exclusive: bool,
}

/// Registers async test functions: `tests![a, b, c]`.
#[macro_export]
macro_rules! tests {
    ($($name:path),* $(,)?) => {
        vec![$($crate::runner::Test {
            name: stringify!($name),
            run: |hubs| Box::pin($name(hubs)),
            exclusive: false,
        }),*]
    };
}

/// Registers tests that must run alone: `exclusive_tests![restart]`.
#[macro_export]
macro_rules! exclusive_tests {
    ($($name:path),* $(,)?) => {
        vec![$($crate::runner::Test {
            name: stringify!($name),
            run: |hubs| Box::pin($name(hubs)),
            exclusive: true,
        }),*]
    };
}

/// Which tests to run: all, or those whose name contains any filter argument.
pub fn select(tests: Vec<Test>, filters: &[String]) -> Vec<Test> {
    if filters.is_empty() {
        return tests;
    }
    tests
        .into_iter()
        .filter(|t| filters.iter().any(|f| t.name.contains(f.as_str())))
        .collect()
}

/// Runs the concurrent tests together, then each exclusive test alone; returns
/// (passed, failed).
pub async fn run(hubs: Hubs, tests: Vec<Test>, limit: Duration) -> (usize, usize) {
    let (exclusive, concurrent): (Vec<Test>, Vec<Test>) =
        tests.into_iter().partition(|t| t.exclusive);
    let (mut passed, mut failed) = run_together(hubs.clone(), concurrent, limit).await;
    for t in exclusive {
        let (p, f) = run_together(hubs.clone(), vec![t], limit).await;
        passed += p;
        failed += f;
    }
    (passed, failed)
}

async fn run_together(hubs: Hubs, tests: Vec<Test>, limit: Duration) -> (usize, usize) {
    let mut handles = Vec::new();
    for t in tests {
        let hubs = hubs.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let result = tokio::time::timeout(limit, (t.run)(hubs)).await;
            (result, started.elapsed())
        });
        handles.push((t.name, task));
    }
    let (mut passed, mut failed) = (0, 0);
    for (name, task) in handles {
        let (outcome, ms) = match task.await {
            Ok((Ok(()), took)) => (Ok(()), took.as_millis()),
            Ok((Err(_), took)) => (Err(format!("timed out after {limit:?}")), took.as_millis()),
            Err(e) if e.is_panic() => (Err("panicked (message above)".to_owned()), 0),
            Err(e) => (Err(e.to_string()), 0),
        };
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok ({ms} ms)");
            }
            Err(why) => {
                failed += 1;
                println!("test {name} ... FAILED: {why} ({ms} ms)");
            }
        }
    }
    (passed, failed)
}
