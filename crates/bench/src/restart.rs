//! The restart scenario: a deploy's storm, measured. Authenticated sockets are in their
//! rooms; the server under test is killed and started again (its storage kept, as a
//! deploy keeps a Durable Object's); every client reconnects with the browser client's
//! own policy (full jitter, the same bounds as `decideReconnect` in
//! `clients/web/nativor-chat.js`) and sends its resume ticket when it has one. Against
//! the dev backend's bench mode, a backend that saturates (a cost per check, a cap on
//! checks at once), so the backend, not the clients' jitter, sets the pace without
//! tickets.

use crate::probe::{percentile, CpuShare};
use crate::scenarios::{Run, Server};
use crate::socket::{close_all, rejoin, Joined, Refused, Writer};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// The browser client's `DEFAULTS`: the first window after a transient close (1006),
/// after a failed authentication (`auth_unavailable`), and the cap of every window.
const SOON_BASE_MS: u64 = 1_000;
const BACKOFF_BASE_MS: u64 = 2_000;
const MAX_DELAY_MS: u64 = 30_000;
/// How long the clients may take to recover before the run counts as failed.
const RECOVER_WITHIN: Duration = Duration::from_secs(120);
const JOIN_CONCURRENCY: usize = 64;

/// How to start a server again: `workerd serve <config>`, output appended to `log`.
#[derive(Clone, Debug)]
pub struct Restart {
    pub workerd: String,
    pub config: String,
    pub log: String,
}

/// `fullJitter` of the browser client: uniform in `[0, min(cap, base * 2^attempt))`.
fn full_jitter(attempt: u32, base_ms: u64, cap_ms: u64, random: f64) -> u64 {
    let window = cap_ms.min(base_ms.saturating_mul(1u64 << attempt.min(30)));
    ((random * window as f64) as u64).min(window.saturating_sub(1))
}

/// A small PRNG for jitter (not for secrets): xorshift64*.
struct Jitter(u64);

impl Jitter {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One client's way back: waits for its connection to drop, then reconnects as the
/// browser client would until `auth:ok`. Returns when it recovered, how many times
/// the hub refused it meanwhile, and its new socket.
async fn come_back(
    origin: String,
    room: String,
    token: String,
    ticket: Option<String>,
    mut ws: crate::socket::Ws,
    seed: u64,
    deadline: Instant,
) -> Result<(Instant, Vec<String>, Writer), String> {
    loop {
        match tokio::time::timeout_at(deadline.into(), ws.next()).await {
            Err(_) => return Err("the connection never dropped".into()),
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => break,
            Ok(Some(Ok(_))) => continue,
        }
    }
    // Closed on this side too at once, as a browser does: a half-closed connection
    // would keep the server's port bound (FIN-WAIT-2) after it died.
    drop(ws);
    let mut jitter = Jitter(seed | 1);
    let (mut attempt, mut base) = (0u32, SOON_BASE_MS);
    let mut refusals: Vec<String> = Vec::new();
    let mut last = String::new();
    loop {
        let delay = full_jitter(attempt, base, MAX_DELAY_MS, jitter.next());
        tokio::time::sleep(Duration::from_millis(delay)).await;
        if Instant::now() > deadline {
            return Err(format!(
                "not back after {} refusals; last: {last}",
                refusals.len()
            ));
        }
        match rejoin(&origin, &room, &token, ticket.as_deref(), false).await {
            Ok(j) => {
                let (writer, _) = j.ws.split();
                return Ok((Instant::now(), refusals, writer));
            }
            Err(Refused::Connect(why)) => {
                last = why;
                base = SOON_BASE_MS;
            }
            Err(Refused::Auth(why)) => {
                // The hub's error code (`auth_unavailable`, `auth_timeout`, …).
                let code = serde_json::from_str::<Value>(&why)
                    .ok()
                    .and_then(|v| v["code"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| "no answer".to_owned());
                refusals.push(code);
                last = why;
                base = BACKOFF_BASE_MS;
            }
        }
        attempt += 1;
    }
}

async fn checks_so_far(http: &reqwest::Client, backend: &str) -> Result<u64, String> {
    let resp = http
        .get(format!("{backend}/api/dev/stats"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let text = resp.text().await.map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    v["checks"].as_u64().ok_or("no check count".into())
}

/// Kills the server and starts it again; its new pid once `/healthz` answers.
async fn restart(s: &Server, how: &Restart) -> Result<u32, String> {
    // SIGKILL, like a runtime that goes away: no close frames.
    unsafe {
        libc::kill(s.pid as i32, libc::SIGKILL);
    }
    let gone_by = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{}/stat", s.pid)).exists()
        && std::fs::read_to_string(format!("/proc/{}/stat", s.pid))
            .map(|st| !st.contains(") Z "))
            .unwrap_or(false)
    {
        if Instant::now() > gone_by {
            return Err("the server did not die".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let spawn = || -> Result<std::process::Child, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&how.log)
            .map_err(|e| e.to_string())?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        std::process::Command::new(&how.workerd)
            .args(["serve", &how.config])
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("start {}: {e}", how.workerd))
    };
    let mut child = spawn()?;
    let http = reqwest::Client::new();
    let up_by = Instant::now() + Duration::from_secs(30);
    loop {
        let up = http
            .get(format!("{}/healthz", s.origin))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if up {
            let pid = child.id();
            // Not waited for here: scripts/bench.sh stops it at the end.
            std::mem::forget(child);
            return Ok(pid);
        }
        // A connection of the dead server still holding the port: try again shortly.
        if let Ok(Some(_)) = child.try_wait() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            child = spawn()?;
        }
        if Instant::now() > up_by {
            let _ = child.kill();
            return Err("the server did not come back within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `rooms` rooms of `per_room` sockets, then a restart. `value` is the time from the
/// kill to 99% recovered (s); `p50_ms`/`p99_ms` the times to 50% and 99%; `extra` has
/// the time to 100%, the participants checks the backend received during recovery and
/// the refused authentications.
pub async fn run(
    s: &mut Server,
    how: &Restart,
    backend: &str,
    http: &reqwest::Client,
    tag: &str,
    rooms: usize,
    per_room: usize,
) -> Run {
    let names: Vec<String> = (0..rooms).map(|r| format!("{tag}-rs-{r}")).collect();
    let jobs: Vec<(String, usize)> = names
        .iter()
        .flat_map(|r| (0..per_room).map(move |i| (r.clone(), i)))
        .collect();
    let origin = s.origin.clone();
    let joined: Result<Vec<(String, String, Joined)>, String> = stream::iter(jobs)
        .map(|(room, i)| {
            let (origin, token) = (origin.clone(), format!("bench:u{i}"));
            async move {
                rejoin(&origin, &room, &token, None, false)
                    .await
                    .map(|j| (room, token, j))
                    .map_err(|e| format!("join: {e:?}"))
            }
        })
        .buffer_unordered(JOIN_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect();
    let joined = match joined {
        Ok(j) => j,
        Err(e) => return Run::failed(e),
    };
    let n = joined.len();
    let checks_before = match checks_so_far(http, backend).await {
        Ok(c) => c,
        Err(e) => return Run::failed(format!("dev backend stats: {e}")),
    };
    let deadline = Instant::now() + RECOVER_WITHIN;
    let seed0 = std::process::id() as u64 ^ 0x9e37_79b9_7f4a_7c15;
    let clients: Vec<_> = joined
        .into_iter()
        .enumerate()
        .map(|(i, (room, token, j))| {
            let ticket = serde_json::from_str::<Value>(&j.auth_ok)
                .ok()
                .and_then(|v| v["resume"].as_str().map(str::to_owned));
            let seed = seed0.wrapping_mul(i as u64 + 1);
            tokio::spawn(come_back(
                origin.clone(),
                room,
                token,
                ticket,
                j.ws,
                seed,
                deadline,
            ))
        })
        .collect();
    let killed_at = Instant::now();
    let pid = match restart(s, how).await {
        Ok(pid) => pid,
        Err(e) => return Run::failed(e),
    };
    let back_up = killed_at.elapsed();
    s.pid = pid;
    let (mut times, mut writers, mut lost) = (Vec::new(), Vec::new(), 0);
    let mut refusals: std::collections::BTreeMap<String, u64> = Default::default();
    for c in clients {
        match c.await {
            Ok(Ok((at, refused, w))) => {
                times.push(at.duration_since(killed_at));
                for code in refused {
                    *refusals.entry(code).or_default() += 1;
                }
                writers.push(w);
            }
            _ => lost += 1,
        }
    }
    let checks = checks_so_far(http, backend)
        .await
        .map(|c| c - checks_before)
        .unwrap_or(u64::MAX);
    close_all(writers).await;
    let t100 = times.iter().max().copied().unwrap_or_default();
    let (t50, t99) = (percentile(&mut times, 50.0), percentile(&mut times, 99.0));
    let extra = json!({
        "sockets": n,
        "t100_ms": ms(t100),
        "checks": checks,
        "refused_auths": refusals.values().sum::<u64>(),
        "refused_by_code": refusals,
        "server_back_ms": ms(back_up),
    });
    if lost > 0 {
        let mut r = Run::failed(format!(
            "{lost} of {n} sockets did not recover within {RECOVER_WITHIN:?}"
        ));
        r.extra = extra;
        return r;
    }
    Run {
        value: t99.as_secs_f64(),
        p50_ms: ms(t50),
        p99_ms: ms(t99),
        cpu: CpuShare::default(),
        error: None,
        extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_windows_match_the_browser_client() {
        assert_eq!(full_jitter(0, 1_000, 30_000, 0.0), 0);
        assert_eq!(full_jitter(0, 1_000, 30_000, 0.999_999), 999);
        assert_eq!(full_jitter(2, 1_000, 30_000, 0.5), 2_000);
        assert_eq!(full_jitter(10, 1_000, 30_000, 0.999_999), 29_999);
        let mut j = Jitter(7);
        assert!((0..1000).map(|_| j.next()).all(|r| (0.0..1.0).contains(&r)));
    }
}
