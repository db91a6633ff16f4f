//! The benchmark scenarios. Each one verifies that every delivery arrived exactly once
//! (and in order where order is defined); a run that loses or duplicates anything
//! returns an error instead of a number.

use crate::probe::{percentile, CpuMeter, CpuShare};
use crate::socket::{close_all, close_joined, collect, join_with, Joined, Writer};
use futures_util::stream::{self, StreamExt};
use futures_util::SinkExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// A server under test.
#[derive(Clone, Debug)]
pub struct Server {
    pub name: String,
    pub origin: String,
    pub pid: u32,
    pub token: String,
    /// Its clients ask for `batch` frames (`"batch": true` in their auth).
    pub batch: bool,
    /// Its clients offer permessage-deflate, as browsers do (`crate::deflate`).
    pub deflate: bool,
}

impl Server {
    /// The floor answers auth without a backend and sends typing without identities.
    pub fn is_floor(&self) -> bool {
        self.name == "floor"
    }
}

/// One measured run.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// Deliveries/s, handshakes/s, or KiB per socket (see the scenario).
    pub value: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub cpu: CpuShare,
    pub error: Option<String>,
    /// Whatever else the scenario reports (the restart scenario's counts).
    pub extra: serde_json::Value,
}

impl Run {
    pub fn failed(e: impl Into<String>) -> Run {
        Run {
            value: f64::NAN,
            error: Some(e.into()),
            ..Run::default()
        }
    }
}

const CONNECT_CONCURRENCY: usize = 64;
const DEADLINE: Duration = Duration::from_secs(60);

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Joins `per_room` sockets to each room; the token's user is `u<index>`.
pub async fn join_many(
    s: &Server,
    rooms: &[String],
    per_room: usize,
) -> Result<Vec<Joined>, String> {
    let jobs: Vec<(String, usize)> = rooms
        .iter()
        .flat_map(|r| (0..per_room).map(move |i| (r.clone(), i)))
        .collect();
    let results: Vec<Result<Joined, String>> = stream::iter(jobs)
        .map(|(room, i)| {
            let token = if s.token.ends_with(':') {
                format!("{}u{i}", s.token)
            } else {
                s.token.clone()
            };
            let (origin, batch, deflate) = (s.origin.clone(), s.batch, s.deflate);
            async move { join_with(&origin, &room, &token, batch, deflate).await }
        })
        .buffered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

/// A join storm: `n` distinct users connect to one room at once, as after a restart.
/// Measured until every socket knows every member (from its `auth:ok` list and the
/// `presence` joins after it), which checks that no join is lost or repeated.
pub async fn join_storm(s: &Server, tag: &str, n: usize) -> Run {
    let room = format!("{tag}-storm");
    let meter = CpuMeter::start(s.pid);
    let started = Instant::now();
    let joins = (0..n).map(|i| {
        let (origin, room, token) = (s.origin.clone(), room.clone(), format!("{}u{i}", s.token));
        async move { join_with(&origin, &room, &token, false, false).await }
    });
    let joined: Result<Vec<Joined>, String> = futures_util::future::join_all(joins)
        .await
        .into_iter()
        .collect();
    let joined = match joined {
        Ok(j) => j,
        Err(e) => return Run::failed(e),
    };
    let deadline = Instant::now() + DEADLINE;
    let known = futures_util::future::join_all(joined.into_iter().map(|j| async move {
        let result = learn_members(j.ws, &j.auth_ok, n, deadline).await;
        (result, j.handshake)
    }))
    .await;
    let wall = started.elapsed();
    let cpu = meter.stop();
    let mut times = Vec::with_capacity(n);
    let mut writers = Vec::with_capacity(n);
    for (result, handshake) in known {
        match result {
            Ok(w) => writers.push(w),
            Err(e) => return Run::failed(e),
        }
        times.push(handshake);
    }
    close_all(writers).await;
    Run {
        value: n as f64 / wall.as_secs_f64(),
        p50_ms: ms(percentile(&mut times, 50.0)),
        p99_ms: ms(percentile(&mut times, 99.0)),
        cpu,
        error: None,
        extra: serde_json::Value::Null,
    }
}

/// Reads `presence` joins until the socket knows all `n` members; fails on a repeated
/// or unexpected member.
async fn learn_members(
    ws: crate::socket::Ws,
    auth_ok: &str,
    n: usize,
    deadline: Instant,
) -> Result<Writer, String> {
    let ok: serde_json::Value = serde_json::from_str(auth_ok).map_err(|e| e.to_string())?;
    let listed = ok["members"].as_array().ok_or("auth:ok without members")?;
    let mut members: std::collections::HashSet<String> = listed
        .iter()
        .filter_map(|m| m.as_str().map(str::to_owned))
        .collect();
    let (writer, mut reader) = ws.split();
    while members.len() < n {
        let left = deadline
            .checked_duration_since(Instant::now())
            .ok_or_else(|| format!("knew {} of {n} members at the deadline", members.len()))?;
        match tokio::time::timeout(left, reader.next()).await {
            Ok(Some(Ok(Message::Text(t)))) if t.contains(r#""event":"join""#) => {
                let v: serde_json::Value = serde_json::from_str(&t).map_err(|e| e.to_string())?;
                let user = v["userId"].as_str().unwrap_or_default().to_owned();
                if !members.insert(user.clone()) {
                    return Err(format!("join of {user} repeated"));
                }
            }
            Ok(Some(Ok(_))) => continue,
            _ => return Err(format!("knew {} of {n} members", members.len())),
        }
    }
    Ok(writer)
}

/// (a) connect + auth of `n` sockets spread over `rooms` rooms.
pub async fn handshakes(s: &Server, tag: &str, n: usize, rooms: usize) -> Run {
    let names: Vec<String> = (0..rooms).map(|r| format!("{tag}-hs-{r}")).collect();
    let meter = CpuMeter::start(s.pid);
    let started = Instant::now();
    let joined = match join_many(s, &names, n / rooms).await {
        Ok(j) => j,
        Err(e) => return Run::failed(e),
    };
    let wall = started.elapsed();
    let cpu = meter.stop();
    let mut times: Vec<Duration> = joined.iter().map(|j| j.handshake).collect();
    let count = joined.len();
    close_joined(joined).await;
    Run {
        value: count as f64 / wall.as_secs_f64(),
        p50_ms: ms(percentile(&mut times, 50.0)),
        p99_ms: ms(percentile(&mut times, 99.0)),
        cpu,
        error: None,
        extra: serde_json::Value::Null,
    }
}

/// An error with its causes: reqwest's "error sending request" alone does not say
/// whether the connection was refused, reset, or closed while it was being reused.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

fn broadcast_body(room: &str, seq: usize) -> String {
    format!(
        r#"{{"roomId":"{room}","message":{{"type":"bench.message","seq":{seq},"room":"{room}","preview":"a benchmark message of ordinary length"}},"excludeConnectionIds":["bench-nobody"]}}"#
    )
}

/// Posts the broadcasts `(room, seq)` with `inflight` requests at a time; records when
/// each was sent; checks every answer reports `expect` deliveries.
async fn post_all(
    s: &Server,
    http: &reqwest::Client,
    jobs: Vec<(String, usize)>,
    inflight: usize,
    expect: usize,
) -> Result<Vec<Instant>, String> {
    let sent = Arc::new(Mutex::new(vec![None; jobs.len()]));
    let next = Arc::new(AtomicUsize::new(0));
    let jobs = Arc::new(jobs);
    let mut workers = Vec::new();
    for _ in 0..inflight {
        let (sent, next, jobs, http) = (sent.clone(), next.clone(), jobs.clone(), http.clone());
        let url = format!("{}/api/broadcast", s.origin);
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((room, seq)) = jobs.get(i) else {
                    return Ok(());
                };
                let body = broadcast_body(room, *seq);
                if let Ok(mut sent) = sent.lock() {
                    sent[i] = Some(Instant::now());
                }
                let resp = http
                    .post(&url)
                    .header("Authorization", "Bearer bench-webhook-token")
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| format!("POST: {}", error_chain(&e)))?;
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                if status != 200 || !text.contains(&format!("\"delivered\":{expect}")) {
                    return Err(format!(
                        "broadcast answered {status}: {text} (expected {expect} deliveries)"
                    ));
                }
            }
        }));
    }
    for w in workers {
        w.await.map_err(|e| e.to_string())??;
    }
    let sent = sent.lock().map_err(|e| e.to_string())?.clone();
    sent.into_iter()
        .map(|t| t.ok_or("a broadcast was never sent".to_owned()))
        .collect()
}

/// Latencies and rate of a set of deliveries `(job index, arrival)`, given send times;
/// `frames` carried them (fewer than deliveries when batched).
fn summarize(
    deliveries: &[Vec<(u64, Instant)>],
    frames: usize,
    sent: &[Instant],
    cpu: CpuShare,
) -> Run {
    let first = sent.iter().min().copied();
    let last = deliveries.iter().flatten().map(|d| d.1).max();
    let (Some(first), Some(last)) = (first, last) else {
        return Run::failed("nothing was delivered");
    };
    let mut lat: Vec<Duration> = deliveries
        .iter()
        .flatten()
        .map(|(i, at)| at.saturating_duration_since(sent[*i as usize]))
        .collect();
    let total = lat.len();
    let wall = last.duration_since(first).as_secs_f64().max(1e-9);
    Run {
        value: total as f64 / wall,
        p50_ms: ms(percentile(&mut lat, 50.0)),
        p99_ms: ms(percentile(&mut lat, 99.0)),
        cpu,
        error: None,
        extra: serde_json::json!({ "frames": frames, "frames_per_s": frames as f64 / wall }),
    }
}

/// Every socket got every one of its broadcasts exactly once; with `ordered`, in the
/// order they were sent; otherwise all sockets of a room in the same order.
fn verify(
    deliveries: &[Vec<(u64, Instant)>],
    expected: &[u64],
    ordered: bool,
) -> Result<(), String> {
    let mut want = expected.to_vec();
    want.sort_unstable();
    let reference: Vec<u64> = deliveries
        .first()
        .map(|d| d.iter().map(|x| x.0).collect())
        .unwrap_or_default();
    for (i, d) in deliveries.iter().enumerate() {
        let got: Vec<u64> = d.iter().map(|x| x.0).collect();
        let mut sorted = got.clone();
        sorted.sort_unstable();
        if sorted != want {
            return Err(format!(
                "socket {i} received {} of {} broadcasts (lost or duplicated)",
                got.len(),
                want.len()
            ));
        }
        if ordered && got != expected {
            return Err(format!("socket {i} received broadcasts out of order"));
        }
        if !ordered && got != reference {
            return Err(format!("socket {i} saw a different order than socket 0"));
        }
    }
    Ok(())
}

/// A reader task: the frames it matched, with their arrival times.
type Collector = tokio::task::JoinHandle<(Vec<(u64, Instant)>, usize)>;

/// Splits each socket: the writers are returned (dropping one closes nothing, but
/// keeping them keeps the sockets owned), the readers collect `count` frames matching `key`.
fn listen(joined: Vec<Joined>, key: &'static str, count: usize) -> (Vec<Writer>, Vec<Collector>) {
    let counts = vec![count; joined.len()];
    listen_for(joined, key, &counts)
}

/// `listen`, with its own count for each socket.
fn listen_for(
    joined: Vec<Joined>,
    key: &'static str,
    counts: &[usize],
) -> (Vec<Writer>, Vec<Collector>) {
    let deadline = Instant::now() + DEADLINE;
    joined
        .into_iter()
        .zip(counts)
        .map(|(j, &count)| {
            let (w, r) = futures_util::StreamExt::split(j.ws);
            (w, tokio::spawn(collect(r, key, count, deadline)))
        })
        .unzip()
}

/// Every reader's deliveries, and how many frames carried them in all.
async fn gather(readers: Vec<Collector>) -> (Vec<Vec<(u64, Instant)>>, usize) {
    let mut out = Vec::with_capacity(readers.len());
    let mut frames = 0;
    for r in readers {
        let (got, n) = r.await.unwrap_or_default();
        out.push(got);
        frames += n;
    }
    (out, frames)
}

/// Posts the broadcasts, then waits for every reader; the CPU meter covers both.
async fn post_and_gather(
    s: &Server,
    http: &reqwest::Client,
    jobs: Vec<(String, usize)>,
    inflight: usize,
    expect: usize,
    readers: Vec<Collector>,
) -> (
    Result<Vec<Instant>, String>,
    (Vec<Vec<(u64, Instant)>>, usize),
    CpuShare,
) {
    let meter = CpuMeter::start(s.pid);
    let sent = post_all(s, http, jobs, inflight, expect).await;
    let deliveries = gather(readers).await;
    (sent, deliveries, meter.stop())
}

/// (b) fan-out to one room of `n` sockets: `k` broadcasts one after another, then `k`
/// more (to fresh sockets) with `inflight` in flight. Returns (sequential, in flight).
pub async fn fanout(
    s: &Server,
    http: &reqwest::Client,
    tag: &str,
    n: usize,
    k: usize,
    inflight: usize,
    settle_to: usize,
) -> (Run, Run) {
    let sequential = fanout_phase(s, http, &format!("{tag}-fanout-{n}-seq"), n, k, 1).await;
    // The first phase's sockets must be released before the second opens as many.
    crate::probe::settle(s.pid, settle_to).await;
    let in_flight = fanout_phase(
        s,
        http,
        &format!("{tag}-fanout-{n}-inflight"),
        n,
        k,
        inflight,
    )
    .await;
    (sequential, in_flight)
}

/// One fan-out run: `n` sockets in `room`, `k` broadcasts with `inflight` in flight.
pub async fn fanout_phase(
    s: &Server,
    http: &reqwest::Client,
    room: &str,
    n: usize,
    k: usize,
    inflight: usize,
) -> Run {
    let joined = match join_many(s, &[room.to_owned()], n).await {
        Ok(j) => j,
        Err(e) => return Run::failed(e),
    };
    let negotiated = negotiated(&joined);
    let (writers, readers) = listen(joined, "\"seq\":", k);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let jobs: Vec<(String, usize)> = (0..k).map(|i| (room.to_owned(), i)).collect();
    let bytes = WireBytes::start();
    let (sent, (deliveries, frames), cpu) =
        post_and_gather(s, http, jobs, inflight, n, readers).await;
    let (wire, inflated) = bytes.stop();
    close_all(writers).await;
    let sent = match sent {
        Ok(sent) => sent,
        Err(e) => return Run::failed(e),
    };
    let expected: Vec<u64> = (0..k as u64).collect();
    match verify(&deliveries, &expected, inflight == 1) {
        Ok(()) => {
            let mut run = summarize(&deliveries, frames, &sent, cpu);
            if s.deflate {
                run.extra["negotiated"] = negotiated;
                // Received data-frame payload: as sent, and inflated (the layer
                // counts it only on sockets that negotiated compression).
                run.extra["wire_bytes_per_frame"] = (wire as f64 / frames as f64).into();
                run.extra["inflated_bytes_per_frame"] = (inflated as f64 / frames as f64).into();
            }
            run
        }
        Err(e) => Run::failed(e),
    }
}

/// How many sockets negotiated permessage-deflate, and the first socket's answer.
fn negotiated(joined: &[Joined]) -> serde_json::Value {
    let deflating = joined
        .iter()
        .filter(|j| {
            j.extensions
                .as_deref()
                .is_some_and(|e| e.contains("permessage-deflate"))
        })
        .count();
    serde_json::json!({
        "sockets": joined.len(),
        "deflate_sockets": deflating,
        "extensions": joined.first().and_then(|j| j.extensions.clone()),
    })
}

/// The deflate layer's byte counters over one measured interval.
struct WireBytes(u64, u64);

impl WireBytes {
    fn start() -> WireBytes {
        WireBytes(
            crate::deflate::WIRE_BYTES.load(Ordering::Relaxed),
            crate::deflate::INFLATED_BYTES.load(Ordering::Relaxed),
        )
    }

    fn stop(&self) -> (u64, u64) {
        (
            crate::deflate::WIRE_BYTES.load(Ordering::Relaxed) - self.0,
            crate::deflate::INFLATED_BYTES.load(Ordering::Relaxed) - self.1,
        )
    }
}

/// The runtime's compression switches as a client sees them: the
/// `Sec-WebSocket-Extensions` each upgrade got back without an offer, with the
/// browser's offer, and with the offer on a socket the server was asked to answer
/// uncompressed (`?compression=off`: the JS floor and baseline answer that upgrade with
/// an empty `Sec-WebSocket-Extensions`, `?compression=none` with the value "none"; this
/// hub ignores the query). A socket whose
/// answer names no extension must then get uncompressed frames: `auth:ok` is read
/// through tungstenite, which fails on a frame with RSV1 set.
pub async fn extensions(s: &Server, tag: &str) -> serde_json::Value {
    let room = format!("{tag}-extensions");
    let mut out = serde_json::Map::new();
    let cases = [
        ("no_offer", "", false),
        ("offer", "", true),
        ("offer_socket_off", "?compression=off", true),
        ("offer_socket_none", "?compression=none", true),
    ];
    for (case, query, deflate) in cases {
        let url = format!("{}/rooms/{room}{query}", s.origin);
        let auth = format!(
            r#"{{"type":"auth","token":"{}u1","roomId":"{room}"}}"#,
            s.token
        );
        let value = match crate::socket::upgrade(&url, deflate).await {
            Ok((mut ws, header)) => {
                let answer = match ws.send(Message::text(auth)).await {
                    Ok(()) => tokio::time::timeout(Duration::from_secs(10), ws.next()).await,
                    Err(e) => Ok(Some(Err(e))),
                };
                let auth_ok =
                    matches!(&answer, Ok(Some(Ok(Message::Text(t)))) if t.contains("auth:ok"));
                let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                let mut v = serde_json::json!({ "extensions": header, "auth_ok": auth_ok });
                if !auth_ok {
                    v["answer"] = format!("{answer:?}").into();
                }
                v
            }
            Err(e) => serde_json::json!({ "error": e }),
        };
        out.insert(case.to_owned(), value);
    }
    out.into()
}

/// (c) typing fan-out in a room of `n`: every socket sends `events` typing events,
/// 5 per second, alternating true and false; every other socket must receive each
/// exactly once.
/// Only the first `typers` sockets type (all of them in `typing_200`; 50 of 1,000 in
/// the typing storm).
pub async fn typing(s: &Server, tag: &str, n: usize, typers: usize, events: usize) -> Run {
    let room = format!("{tag}-typing-{n}");
    let joined = match join_many(s, std::slice::from_ref(&room), n).await {
        Ok(j) => j,
        Err(e) => return Run::failed(e),
    };
    // Typing frames only: presence frames carry a user id too.
    let counts: Vec<usize> = (0..n)
        .map(|i| (typers - usize::from(i < typers)) * events)
        .collect();
    let (writers, readers) = listen_for(joined, "\"typing\",\"userId\":\"u", &counts);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let meter = CpuMeter::start(s.pid);
    let senders: Vec<_> = writers
        .into_iter()
        .enumerate()
        .map(|(i, mut w)| {
            tokio::spawn(async move {
                if i >= typers {
                    return (w, Vec::new());
                }
                tokio::time::sleep(Duration::from_millis((i as u64 * 200) / typers as u64)).await;
                let mut times = Vec::with_capacity(events);
                // Alternating states: the hub fans out a typing event only when the
                // state changes (or a `true` is renewed after 3 s), so each one is news.
                for e in 0..events {
                    times.push(Instant::now());
                    let frame = if e % 2 == 0 {
                        r#"{"type":"typing","isTyping":true}"#
                    } else {
                        r#"{"type":"typing","isTyping":false}"#
                    };
                    if w.send(Message::text(frame)).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                (w, times)
            })
        })
        .collect();
    let mut send_times = Vec::new();
    let mut keep = Vec::new();
    for t in senders {
        match t.await {
            Ok((w, times)) => {
                keep.push(w);
                send_times.push(times);
            }
            Err(e) => return Run::failed(e.to_string()),
        }
    }
    let (deliveries, frames) = gather(readers).await;
    let cpu = meter.stop();
    // Verify and pair the j-th arrival from sender u with u's j-th send.
    let mut lat = Vec::new();
    for (receiver, d) in deliveries.iter().enumerate() {
        let mut seen = vec![0usize; n];
        for (sender, at) in d {
            let u = *sender as usize;
            if u >= typers || u == receiver {
                return Run::failed(format!("socket {receiver} received typing from {u}"));
            }
            let Some(sent) = send_times[u].get(seen[u]) else {
                return Run::failed(format!(
                    "socket {receiver} received too many typing events from {u}"
                ));
            };
            lat.push(at.saturating_duration_since(*sent));
            seen[u] += 1;
        }
        if let Some((u, c)) = seen
            .iter()
            .enumerate()
            .find(|(u, c)| *u < typers && *u != receiver && **c != events)
        {
            return Run::failed(format!(
                "socket {receiver} received {c} of {events} typing events from {u}"
            ));
        }
    }
    let first = send_times.iter().flatten().min().copied();
    let last = deliveries.iter().flatten().map(|d| d.1).max();
    close_all(keep).await;
    let (Some(first), Some(last)) = (first, last) else {
        return Run::failed("no typing delivered");
    };
    let total = lat.len();
    let wall = last.duration_since(first).as_secs_f64().max(1e-9);
    Run {
        value: total as f64 / wall,
        p50_ms: ms(percentile(&mut lat, 50.0)),
        p99_ms: ms(percentile(&mut lat, 99.0)),
        cpu,
        error: None,
        extra: serde_json::json!({ "frames": frames, "frames_per_s": frames as f64 / wall }),
    }
}

/// (d) `rooms` rooms of `per_room` sockets, `per_room_broadcasts` broadcasts each,
/// spread across the rooms with `inflight` requests in flight.
pub async fn many_rooms(
    s: &Server,
    http: &reqwest::Client,
    tag: &str,
    rooms: usize,
    per_room: usize,
    broadcasts: usize,
    inflight: usize,
) -> Run {
    let names: Vec<String> = (0..rooms).map(|r| format!("{tag}-rooms-{r}")).collect();
    let joined = match join_many(s, &names, per_room).await {
        Ok(j) => j,
        Err(e) => return Run::failed(e),
    };
    let (writers, readers) = listen(joined, "\"seq\":", broadcasts);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Job i is broadcast number i / rooms to room i % rooms: spread across the rooms.
    let jobs: Vec<(String, usize)> = (0..rooms * broadcasts)
        .map(|i| (names[i % rooms].clone(), i))
        .collect();
    let (sent, (deliveries, frames), cpu) =
        post_and_gather(s, http, jobs, inflight, per_room, readers).await;
    close_all(writers).await;
    let sent = match sent {
        Ok(s) => s,
        Err(e) => return Run::failed(e),
    };
    for (i, d) in deliveries.iter().enumerate() {
        let room = i / per_room;
        let expected: Vec<u64> = (0..broadcasts).map(|b| (b * rooms + room) as u64).collect();
        if let Err(e) = verify(std::slice::from_ref(d), &expected, false) {
            return Run::failed(format!("room {room}: {e}"));
        }
    }
    summarize(&deliveries, frames, &sent, cpu)
}

/// (e) resident memory per idle authenticated socket: the server's RSS growth while
/// `n` more sockets join `rooms` rooms (kept open by the caller, so each round adds
/// fresh ones). One room isolates the per-socket cost from the per-room cost.
pub async fn memory(s: &Server, tag: &str, n: usize, rooms: usize, keep: &mut Vec<Joined>) -> Run {
    let before = crate::probe::process_rss_kib(s.pid);
    let names: Vec<String> = (0..rooms).map(|r| format!("{tag}-idle-{r}")).collect();
    let negotiated = match join_many(s, &names, n / rooms).await {
        Ok(j) => {
            let negotiated = negotiated(&j);
            keep.extend(j);
            negotiated
        }
        Err(e) => return Run::failed(e),
    };
    // The same sockets while their room is still awake (1 s after the joins): what a
    // room costs between events, before the runtime hibernates it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let awake = crate::probe::process_rss_kib(s.pid);
    // Idle means idle: past the runtime's ~10 s hibernation window, as in production.
    tokio::time::sleep(Duration::from_secs(if n >= 500 { 11 } else { 1 })).await;
    let after = crate::probe::process_rss_kib(s.pid);
    let mut extra = serde_json::json!({ "awake_kib_per_socket": (awake - before) / n as f64 });
    if s.deflate {
        extra["negotiated"] = negotiated;
    }
    Run {
        value: (after - before) / n as f64,
        extra,
        ..Run::default()
    }
}
