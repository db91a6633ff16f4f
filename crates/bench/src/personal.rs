//! Personal channels (`/users/:userId`), on the hub's servers only (the baseline and the
//! floor have none):
//! - [`publish`]: users with one personal socket each; the backend publishes to a window of
//!   them at a time (`/api/users/broadcast`), one call after another. Deliveries/s, and the
//!   time from each POST to each frame.
//! - [`status_storm`]: users who each watch others; everyone connects from offline at once
//!   (`user:status` frames sent, and the time until every watcher knows every watched user
//!   is online), then everyone drops and reconnects at once (within the offline delay,
//!   ideally: no frame at all).

use crate::probe::{percentile, CpuMeter};
use crate::scenarios::{Run, Server};
use crate::socket::{close_all, collect, upgrade, Reader, Ws};
use futures_util::stream::StreamExt;
use futures_util::SinkExt;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

/// Sockets opening at once, at most (a storm, but not one the load generator chokes on).
const AT_ONCE: usize = 200;

/// A personal socket of `user`, authenticated with `token`; and its `auth:ok`.
async fn sign_in(
    origin: &str,
    user: &str,
    token: &str,
    resume: Option<&str>,
) -> Result<(Ws, String), String> {
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        upgrade(&format!("{origin}/users/{user}"), false),
    )
    .await
    .map_err(|_| format!("{user}: connect timed out"))??;
    let mut auth = serde_json::json!({"type": "auth", "token": token, "userId": user});
    if let Some(ticket) = resume {
        auth["resume"] = ticket.into();
    }
    let auth = auth.to_string();
    ws.send(Message::text(auth))
        .await
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(60), ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) if t.contains("\"auth:ok\"") => Ok((ws, t.to_string())),
        other => Err(format!("{user}: auth answered {other:?}")),
    }
}

/// Refusals the browser client retries: the hub could not check in time
/// (`auth_unavailable`), or did not get to the auth frame in time (`auth_timeout`): a
/// backend, or a runtime, overloaded by the storm.
fn retryable(refusal: &str) -> bool {
    refusal.contains("auth_unavailable") || refusal.contains("auth_timeout")
}

/// `sign_in`, retried as the browser client does after a refusal it retries, after a
/// short jittered wait; the socket, its `auth:ok`, and how many retries it took.
async fn sign_in_retrying(
    origin: &str,
    user: &str,
    token: &str,
    resume: Option<&str>,
) -> Result<(Ws, String, usize), String> {
    let mut retries = 0;
    loop {
        match sign_in(origin, user, token, resume).await {
            Ok((ws, ok)) => return Ok((ws, ok, retries)),
            Err(e) if retryable(&e) && retries < 20 => {
                retries += 1;
                let jitter = (user.len() as u64 * 37 + retries as u64 * 101) % 500;
                tokio::time::sleep(Duration::from_millis(250 + jitter)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Signs every `(user, token)` in, at most `AT_ONCE` at a time.
async fn sign_in_all(origin: &str, who: &[(String, String)]) -> Result<Vec<(Ws, String)>, String> {
    let gate = Arc::new(Semaphore::new(AT_ONCE));
    let tries = who.iter().map(|(user, token)| {
        let gate = Arc::clone(&gate);
        async move {
            let _permit = gate.acquire().await.map_err(|e| e.to_string())?;
            sign_in(origin, user, token, None).await
        }
    });
    futures_util::future::join_all(tries)
        .await
        .into_iter()
        .collect()
}

fn durations_ms(samples: &mut [Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    percentile(samples, p).as_secs_f64() * 1000.0
}

/// `users` personal sockets; `publishes` calls of `/api/users/broadcast`, each to `targets`
/// consecutive users (wrapping), one after another. Every targeted socket must get each of
/// its messages once.
pub async fn publish(
    s: &Server,
    http: &reqwest::Client,
    tag: &str,
    users: usize,
    targets: usize,
    publishes: usize,
) -> Run {
    let ids: Vec<String> = (0..users).map(|i| format!("{tag}-p{i}")).collect();
    let who: Vec<(String, String)> = ids
        .iter()
        .map(|u| (u.clone(), format!("dev:{u}:watch=")))
        .collect();
    let sockets = match sign_in_all(&s.origin, &who).await {
        Ok(s) => s,
        Err(e) => return Run::failed(e),
    };
    let targets = targets.min(users);
    let targeted = |k: usize| (0..targets).map(move |j| (k * targets + j) % users);
    let mut expected = vec![0usize; users];
    for k in 0..publishes {
        targeted(k).for_each(|u| expected[u] += 1);
    }
    let deadline = Instant::now() + Duration::from_secs(60 + publishes as u64 * 5);
    let mut writers = Vec::with_capacity(users);
    let mut readers = Vec::with_capacity(users);
    for (i, (ws, _)) in sockets.into_iter().enumerate() {
        let (w, r) = ws.split();
        writers.push(w);
        let count = expected[i];
        readers.push(tokio::spawn(async move {
            collect(r as Reader, "\"seq\":", count, deadline).await
        }));
    }
    let cpu = CpuMeter::start(s.pid);
    let started = Instant::now();
    let mut sent_at = Vec::with_capacity(publishes);
    for k in 0..publishes {
        let body = serde_json::json!({
            "userIds": targeted(k).map(|u| ids[u].as_str()).collect::<Vec<_>>(),
            "message": {"type": "bench", "seq": k},
        });
        sent_at.push(Instant::now());
        let answer = http
            .post(format!("{}/api/users/broadcast", s.origin))
            .header("Authorization", "Bearer bench-webhook-token")
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => return Run::failed(format!("publish {k}: {}", r.status())),
            Err(e) => return Run::failed(format!("publish {k}: {e}")),
        }
    }
    let mut latencies = Vec::new();
    let mut last = started;
    let mut delivered = 0usize;
    for (i, reader) in readers.into_iter().enumerate() {
        let Ok((got, _)) = reader.await else {
            return Run::failed("a reader panicked");
        };
        let mut seqs: Vec<u64> = got.iter().map(|(n, _)| *n).collect();
        seqs.sort_unstable();
        let mut want: Vec<u64> = (0..publishes)
            .filter(|k| targeted(*k).any(|u| u == i))
            .map(|k| k as u64)
            .collect();
        want.sort_unstable();
        if seqs != want {
            return Run::failed(format!("user {i} got {seqs:?}, expected {want:?}"));
        }
        for (n, at) in got {
            latencies.push(at.duration_since(sent_at[n as usize]));
            last = last.max(at);
            delivered += 1;
        }
    }
    let cpu = cpu.stop();
    close_all(writers).await;
    let took = last.duration_since(started).as_secs_f64().max(1e-9);
    Run {
        value: delivered as f64 / took,
        p50_ms: durations_ms(&mut latencies, 50.0),
        p99_ms: durations_ms(&mut latencies, 99.0),
        cpu,
        error: None,
        extra: serde_json::json!({"users": users, "targets": targets, "publishes": publishes, "deliveries": delivered}),
    }
}

/// What one watcher learned: `user:status` frames, and when it first knew every watched
/// user is online (`None`: not within the deadline).
struct Learned {
    frames: usize,
    /// The resume ticket of its `auth:ok`, if the hub gave one.
    ticket: Option<String>,
    knew_all_at: Option<Instant>,
    writer: crate::socket::Writer,
}

/// Reads `ws` until its user knows every one of `watched` is online (from `auth_ok`'s
/// `online` and `user:status` frames), or until `deadline`; counts the `user:status` frames
/// (for `linger` after it knew, so late or repeated ones count too).
async fn learn(
    ws: Ws,
    auth_ok: String,
    watched: HashSet<String>,
    deadline: Instant,
    linger: Duration,
) -> Learned {
    let (writer, mut reader) = ws.split();
    let ok: serde_json::Value = serde_json::from_str(&auth_ok).unwrap_or_default();
    let ticket = ok["resume"].as_str().map(str::to_owned);
    let mut online: HashSet<String> = ok["online"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut frames = 0;
    let mut knew_all_at = watched.is_subset(&online).then(Instant::now);
    loop {
        let until = knew_all_at.map_or(deadline, |at| at + linger);
        let Some(left) = until.checked_duration_since(Instant::now()) else {
            break;
        };
        let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(left, reader.next()).await else {
            break;
        };
        if !t.contains("\"user:status\"") {
            continue;
        }
        frames += 1;
        let f: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
        if let Some(u) = f["userId"].as_str() {
            if f["online"] == true {
                online.insert(u.to_owned());
            } else {
                online.remove(u);
            }
        }
        if knew_all_at.is_none() && watched.is_subset(&online) {
            knew_all_at = Some(Instant::now());
        }
    }
    Learned {
        frames,
        ticket,
        knew_all_at,
        writer,
    }
}

/// What one wave measured.
struct Wave {
    /// Until every watcher knew every watched user is online.
    seconds: f64,
    status_frames: usize,
    /// Watchers that never knew, within the deadline.
    never: usize,
    /// Auths retried after `auth_unavailable` or `auth_timeout`.
    retries: usize,
    /// Each user's resume ticket, for the next wave.
    tickets: Vec<Option<String>>,
    writers: Vec<crate::socket::Writer>,
}

/// One wave: every user signs in at once (at most `AT_ONCE` connecting at a time), with
/// the resume ticket of `tickets` when there is one, as a reconnecting browser client does.
async fn wave(
    origin: &str,
    who: &[(String, String)],
    watches: &[HashSet<String>],
    tickets: &[Option<String>],
    linger: Duration,
) -> Result<Wave, String> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(180);
    let gate = Arc::new(Semaphore::new(AT_ONCE));
    let runs = who
        .iter()
        .zip(watches)
        .enumerate()
        .map(|(i, ((user, token), watched))| {
            let gate = Arc::clone(&gate);
            let ticket = tickets.get(i).cloned().flatten();
            async move {
                let (ws, ok, retries) = {
                    let _permit = gate.acquire().await.map_err(|e| e.to_string())?;
                    sign_in_retrying(origin, user, token, ticket.as_deref()).await?
                };
                let learned = learn(ws, ok, watched.clone(), deadline, linger).await;
                Ok::<_, String>((learned, retries))
            }
        });
    let learned: Vec<(Learned, usize)> = futures_util::future::join_all(runs)
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let last = learned
        .iter()
        .filter_map(|(l, _)| l.knew_all_at)
        .max()
        .unwrap_or(started);
    Ok(Wave {
        seconds: last.duration_since(started).as_secs_f64(),
        status_frames: learned.iter().map(|(l, _)| l.frames).sum(),
        never: learned
            .iter()
            .filter(|(l, _)| l.knew_all_at.is_none())
            .count(),
        retries: learned.iter().map(|(_, r)| r).sum(),
        tickets: learned.iter().map(|(l, _)| l.ticket.clone()).collect(),
        writers: learned.into_iter().map(|(l, _)| l.writer).collect(),
    })
}

/// `users` users, each watching the next `watched` (wrapping). Wave 1: everyone connects
/// from offline at once. Wave 2: everyone drops and reconnects at once, with the resume
/// ticket of wave 1 (when the hub signs them). The value is wave 1's
/// time until every watcher knew every watched user is online; the extras say how many
/// `user:status` frames each wave sent, how many auths were retried, and wave 2's time.
pub async fn status_storm(s: &Server, tag: &str, users: usize, watched: usize) -> Run {
    let ids: Vec<String> = (0..users).map(|i| format!("{tag}-s{i}")).collect();
    let watches: Vec<HashSet<String>> = (0..users)
        .map(|i| {
            (1..=watched.min(users - 1))
                .map(|d| ids[(i + d) % users].clone())
                .collect()
        })
        .collect();
    let who: Vec<(String, String)> = ids
        .iter()
        .zip(&watches)
        .map(|(u, w)| {
            let list: Vec<&str> = w.iter().map(String::as_str).collect();
            (u.clone(), format!("dev:{u}:watch={}", list.join(",")))
        })
        .collect();
    let cpu = CpuMeter::start(s.pid);
    let linger = Duration::from_secs(2);
    let first = match wave(&s.origin, &who, &watches, &[], linger).await {
        Ok(w) => w,
        Err(e) => return Run::failed(format!("wave 1: {e}")),
    };
    let cpu = cpu.stop();
    close_all(first.writers).await;
    // As after a deploy: every client comes back with its resume ticket.
    let second = match wave(&s.origin, &who, &watches, &first.tickets, linger).await {
        Ok(w) => w,
        Err(e) => return Run::failed(format!("wave 2: {e}")),
    };
    close_all(second.writers).await;
    if first.never + second.never > 0 {
        return Run::failed(format!(
            "watchers that never learned everyone was online: {} (wave 1), {} (wave 2)",
            first.never, second.never
        ));
    }
    Run {
        value: first.seconds,
        cpu,
        extra: serde_json::json!({
            "users": users,
            "watched_each": watched,
            "watch_pairs": users * watched.min(users - 1),
            "wave1_status_frames": first.status_frames,
            "wave1_auth_retries": first.retries,
            "wave2_seconds": second.seconds,
            "wave2_status_frames": second.status_frames,
            "wave2_auth_retries": second.retries,
            "wave2_with_tickets": first.tickets.iter().filter(|t| t.is_some()).count(),
        }),
        ..Run::default()
    }
}
