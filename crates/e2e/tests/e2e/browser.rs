//! The demo page and the web client in a real browser: Debian's Chromium, headless, driven by
//! playwright-core from npm (`crates/e2e/browser/two-tabs.mjs`). Two tabs as alice and bob in
//! one room: typing shows on the other tab, a message sent by one appears exactly once on each,
//! and after the runtime restarts both tabs reconnect on their own. Then alice removes bob with
//! the demo's "Remove" action (the development backend's `DELETE …/participants/bob`, which
//! disconnects bob through the hub): bob's tab says it was removed and stays stopped, alice's
//! keeps working. Screenshots of both tabs, before and after the removal (and the driver's
//! transcript), go to `target/e2e-artifacts/`.
//!
//! A second driver (`crates/e2e/browser/personal.mjs`) covers personal channels: unread badges
//! of other rooms, and a contact going offline after the delay, once.
//!
//! The two-tab test is exclusive: it restarts the `main` hub. Chromium missing is a failure, not a skip:
//! `scripts/setup.sh --browser` (what `npm test` runs) installs it, or `CHROMIUM_PATH` names one.

use crate::support::room;
use e2e::exclusive_tests;
use e2e::hub::repo_root;
use e2e::runner::{Hubs, Test};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// The browser: `CHROMIUM_PATH` when set (any Chromium or Chrome), else Debian's.
fn chromium() -> String {
    std::env::var("CHROMIUM_PATH")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/usr/bin/chromium".to_owned())
}
/// The whole exchange with the driver (its own watchdog is 110 s; the runner's limit 120 s).
const DRIVER_WITHIN: Duration = Duration::from_secs(115);
const RESTART_WITHIN: Duration = Duration::from_secs(80);

pub fn tests() -> Vec<Test> {
    // Both run alone: Chromium's CPU would stretch the timings of the tests beside it.
    exclusive_tests![
        browser_two_tabs_typing_messages_once_and_reconnect_after_restart,
        browser_personal_channels_badge_other_rooms_and_say_offline_once,
    ]
}

/// Two demo tabs, carol and dave, each with the personal channel open and different rooms
/// open (`crates/e2e/browser/personal.mjs`): a message in room A raises room A's unread badge
/// in dave's list; his room switch (a reload of his personal channel) tells carol nothing; when
/// he closes everything, carol sees him go offline after the delay, once.
async fn browser_personal_channels_badge_other_rooms_and_say_offline_once(h: Hubs) {
    let (a, b) = (room("browser-a"), room("browser-b"));
    let (summary, _) = drive(&h.main, "personal", &[("--room", a), ("--other", b)]).await;
    let out = artifacts_dir();
    for name in ["carol", "dave", "carol-after"] {
        let shot = out.join(format!("browser-personal-{name}.png"));
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "no screenshot at {}", shot.display());
    }
    println!("  browser (personal): {summary}");
}

/// The driver process; stopped (SIGTERM, so Playwright closes Chromium, then SIGKILL) when
/// dropped, whether the test passed, panicked or timed out.
struct Driver {
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        if let Some(pid) = self.child.id() {
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.start_kill();
    }
}

fn artifacts_dir() -> PathBuf {
    repo_root().join("target/e2e-artifacts")
}

async fn browser_two_tabs_typing_messages_once_and_reconnect_after_restart(h: Hubs) {
    // The page calls the development backend cross-origin (it answers CORS); the hub's own
    // API stays server-to-server only.
    let preflight = h
        .main
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/broadcast", h.main.origin),
        )
        .header("Origin", "http://127.0.0.1:1")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .expect("OPTIONS /api/broadcast");
    assert!(
        preflight
            .headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-")),
        "the hub's /api sent CORS headers: {:?}",
        preflight.headers()
    );
    let hub = h.main.clone();
    let r = room("browser");
    let started = Instant::now();
    let (summary, restart_took) = drive(&hub, "two-tabs", &[("--room", r)]).await;
    let out = artifacts_dir();
    for name in ["alice", "bob", "alice-after-remove", "bob-after-remove"] {
        let shot = out.join(format!("browser-two-tabs-{name}.png"));
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "no screenshot at {}", shot.display());
    }
    println!(
        "  browser: {summary} (hub restart {:.1} s, test {:.1} s)",
        restart_took.map(|d| d.as_secs_f64()).unwrap_or(0.0),
        started.elapsed().as_secs_f64()
    );
}

/// Runs the driver `crates/e2e/browser/<name>.mjs` against `hub` to its end, restarting the hub
/// when it says `RESTART`; returns its `DONE` summary and how long a restart took. Panics with
/// the transcript and the driver's stderr on anything else.
async fn drive(
    hub: &std::sync::Arc<e2e::Hub>,
    name: &str,
    args: &[(&str, String)],
) -> (String, Option<Duration>) {
    let root = repo_root();
    let chromium = chromium();
    assert!(
        Path::new(&chromium).exists(),
        "Chromium is missing at {chromium}: set CHROMIUM_PATH to a Chromium or Chrome executable, \
         or run `bash scripts/setup.sh --browser` (installs Debian's chromium with apt-get)"
    );
    assert!(
        root.join("node_modules/playwright-core/package.json")
            .exists(),
        "playwright-core is missing from node_modules: run `bash scripts/setup.sh`"
    );
    let out = artifacts_dir();
    std::fs::create_dir_all(&out).expect("create target/e2e-artifacts");
    let stderr_log = out.join(format!("browser-{name}.stderr.log"));

    let mut cmd = Command::new("node");
    cmd.arg(root.join(format!("crates/e2e/browser/{name}.mjs")))
        .args(["--hub", &hub.origin])
        .args(["--backend", &hub.backend.origin()]);
    for (flag, value) in args {
        cmd.args([flag, value.as_str()]);
    }
    cmd.arg("--out")
        .arg(&out)
        .current_dir(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_log).expect("create the stderr log"));
    // If this test process dies, node gets SIGTERM and Playwright closes Chromium.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn node (Node.js 20+ is required): {e}"));
    let mut driver = Driver { child };
    let stdout = driver.child.stdout.take().expect("driver stdout");
    let mut stdin = driver.child.stdin.take().expect("driver stdin");
    let mut lines = BufReader::new(stdout).lines();

    let deadline = Instant::now() + DRIVER_WITHIN;
    let mut transcript: Vec<String> = Vec::new();
    let mut done: Option<String> = None;
    let mut restart_took = None;
    let mut problem: Option<String> = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match tokio::time::timeout(left, lines.next_line()).await {
            Err(_) => {
                problem = Some(format!("no progress within {DRIVER_WITHIN:?}"));
                break;
            }
            Ok(Err(e)) => {
                problem = Some(format!("reading the driver's output: {e}"));
                break;
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(line))) => line,
        };
        transcript.push(line.clone());
        if line == "RESTART" {
            let t = Instant::now();
            if let Err(e) = hub.restart(RESTART_WITHIN).await {
                problem = Some(format!("restarting the hub: {e}"));
                break;
            }
            restart_took = Some(t.elapsed());
            transcript.push(format!("(hub restarted in {:?})", t.elapsed()));
            let sent = async {
                stdin.write_all(b"RESTARTED\n").await?;
                stdin.flush().await
            };
            if let Err(e) = sent.await {
                problem = Some(format!("telling the driver: {e}"));
                break;
            }
        } else if let Some(summary) = line.strip_prefix("DONE ") {
            done = Some(summary.to_owned());
        } else if line.starts_with("FAIL") {
            problem = Some(line.clone());
        }
    }
    drop(stdin);
    let status: Option<ExitStatus> = if problem.is_none() {
        tokio::time::timeout(Duration::from_secs(20), driver.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    } else {
        None
    };
    let _ = std::fs::write(
        out.join(format!("browser-{name}.log")),
        transcript.join("\n") + "\n",
    );
    let report = || {
        let stderr = std::fs::read_to_string(&stderr_log).unwrap_or_default();
        let tail: String = stderr
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        format!(
            "transcript:\n{}\n--- driver stderr (last lines) ---\n{tail}\n(artifacts in {})",
            transcript.join("\n"),
            out.display()
        )
    };
    if let Some(p) = problem {
        panic!("browser test failed: {p}\n{}", report());
    }
    let status = status.unwrap_or_else(|| panic!("the driver did not exit\n{}", report()));
    let summary = done.unwrap_or_else(|| panic!("the driver ended without DONE\n{}", report()));
    assert!(
        status.success(),
        "the driver exited with {status}\n{}",
        report()
    );
    (summary, restart_took)
}
