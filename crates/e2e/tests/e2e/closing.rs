//! Every close completes: a close the client starts is answered with its own code
//! (1000 for a code no endpoint may send) within 1 s, before auth, after it and after
//! hibernation; in a busy room closing a thousand sockets at once, every one of them.
//! `/stats` then shows no socket the runtime holds beyond the room's own count
//! (`runtimeSockets` = `connections`).
//!
//! What tells a hub that answers from one that does not is the close frame: the runtime
//! stops listing a socket in `getWebSockets()` (so in `runtimeSockets`) once the
//! client's close has arrived, whether the hub answers it or not (measured on workerd
//! 2026-11-17); the stats check is the accounting around it.
//!
//! Each test here is timed (the "within 1 s"): they run alone.

use crate::support::{joined, room};
use e2e::client::WAIT;
use e2e::exclusive_tests;
use e2e::runner::{Hubs, Test};
use e2e::{Client, Closed, Hub};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn tests() -> Vec<Test> {
    exclusive_tests![
        closing_before_auth_is_answered_with_the_clients_code,
        closing_after_auth_ok_is_answered_with_the_clients_code,
        closing_without_a_code_is_answered_with_1000,
        closing_after_hibernation_is_answered_with_the_clients_code,
        closing_a_thousand_sockets_under_broadcasts_leaves_none_half_closed,
    ]
}

/// The bound: the answer to a close, and the runtime letting go, within 1 s.
const WITHIN: Duration = Duration::from_secs(1);

/// A code from the range applications may use (RFC 6455 §7.4.2).
const CODE: u16 = 4000;

/// Closes `c` with `code` and asserts the hub answers with `expected` within 1 s;
/// returns how long the answer took.
async fn close_answered(c: &mut Client, code: Option<u16>, expected: u16, case: &str) -> Duration {
    let (closed, took) = c.close_with(code, WAIT).await;
    println!("closing: {case}: close frame {closed:?} after {took:?}");
    assert_eq!(
        closed,
        Some(Closed::Code(expected, String::new())),
        "{case}: the hub's answer to a close with {code:?}"
    );
    assert!(took <= WITHIN, "{case}: the close frame took {took:?}");
    took
}

/// Polls the room's stats (without pause) from `since` until the runtime holds no more
/// sockets than the room counts, or `WITHIN` has passed; returns the last stats and when
/// they arrived, counted from `since`.
async fn runtime_catches_up(hub: &Hub, room: &str, since: Instant) -> (Value, Duration) {
    loop {
        let s = hub.stats(room).await;
        let at = since.elapsed();
        if s["runtimeSockets"] == s["connections"] || at > WITHIN {
            return (s, at);
        }
    }
}

/// Asserts that the runtime holds exactly the room's `live` sockets within 1 s of `since`.
async fn no_half_closed_sockets(hub: &Hub, room: &str, since: Instant, live: u64, case: &str) {
    let (s, at) = runtime_catches_up(hub, room, since).await;
    println!("closing: {case}: stats {s} after {at:?}");
    assert_eq!(
        (s["runtimeSockets"].as_u64(), s["connections"].as_u64()),
        (Some(live), Some(live)),
        "{case}: half-closed sockets left after {at:?}: {s}"
    );
    assert!(at <= WITHIN, "{case}: the runtime let go after {at:?}: {s}");
}

async fn closing_before_auth_is_answered_with_the_clients_code(h: Hubs) {
    let r = room("close-preauth");
    let mut c = Client::connect(&h.main.room_url(&r)).await;
    // The upgrade answered: the room has accepted the socket.
    assert_eq!(h.main.stats(&r).await["connections"], 1);
    let since = Instant::now();
    close_answered(&mut c, Some(CODE), CODE, "before auth").await;
    no_half_closed_sockets(&h.main, &r, since, 0, "before auth").await;
}

async fn closing_after_auth_ok_is_answered_with_the_clients_code(h: Hubs) {
    let r = room("close-member");
    let mut a = joined(&h.main, &r, "alice").await;
    let mut b = joined(&h.main, &r, "bob").await;
    let since = Instant::now();
    close_answered(&mut a, Some(CODE), CODE, "after auth:ok").await;
    no_half_closed_sockets(&h.main, &r, since, 1, "after auth:ok").await;
    // The room goes on without it.
    let (status, v) = h
        .main
        .broadcast(&json!({"roomId": r, "message": {"type": "after-close"}}))
        .await;
    assert_eq!((status, v["delivered"].clone()), (200, json!(1)), "{v}");
    assert_eq!(b.recv().await["type"], "after-close");
}

/// An empty close frame (the runtime reports 1005, a code that may not be sent back) is
/// answered with 1000.
async fn closing_without_a_code_is_answered_with_1000(h: Hubs) {
    let r = room("close-nocode");
    let mut a = joined(&h.main, &r, "alice").await;
    let since = Instant::now();
    close_answered(&mut a, None, 1000, "no code").await;
    no_half_closed_sockets(&h.main, &r, since, 0, "no code").await;
}

async fn closing_after_hibernation_is_answered_with_the_clients_code(h: Hubs) {
    let r = room("close-hibernated");
    let mut a = joined(&h.main, &r, "alice").await;
    let mut b = joined(&h.main, &r, "bob").await;
    let started = h.main.instance_started_at(&r).await;
    // No timer is left (both authenticated): the runtime hibernates ~10 s after the
    // last event.
    tokio::time::sleep(Duration::from_secs(25)).await;
    let since = Instant::now();
    close_answered(&mut a, Some(CODE), CODE, "after hibernation").await;
    let woke = h.main.instance_started_at(&r).await;
    assert!(woke > started, "the room never hibernated");
    no_half_closed_sockets(&h.main, &r, since, 1, "after hibernation").await;
    // Bob, who slept through it, is still in the room.
    let (status, v) = h
        .main
        .broadcast(&json!({"roomId": r, "message": {"type": "after-wake"}}))
        .await;
    assert_eq!((status, v["delivered"].clone()), (200, json!(1)), "{v}");
    assert_eq!(b.recv().await["type"], "after-wake");
}

/// A room kept busy by broadcasts (one every 100 ms, or as soon as the previous one is
/// answered): 1,000 sockets of 1,000 users join, then all close at once from the client
/// side, each waiting for the hub's answer, which must carry its code.
///
/// Every `/stats` requested within 1 s of the last close frame must show
/// `runtimeSockets` = `connections`; the requests go back to back from the last close
/// until 1 s has passed. Their answers can arrive later: the room answers them after the
/// close events queued before them, and under `wrangler dev` on two cores working
/// through a thousand closes took 3–30 s (the dev runtime's WebSocket relays, not the
/// hub: the same closes take about 1 s on plain workerd), so the arrival is printed,
/// not asserted.
async fn closing_a_thousand_sockets_under_broadcasts_leaves_none_half_closed(h: Hubs) {
    const SOCKETS: usize = 1_000;
    const JOINING_AT_ONCE: usize = 50;
    // A thousand closes queued in one room can take this long to be answered under
    // wrangler dev on a busy two-core machine (see above).
    const BACKLOG: Duration = Duration::from_secs(60);
    let hub = h.main.clone();
    let r = room("close-thousand");
    let mut watcher = joined(&hub, &r, "watcher").await;
    let all = SOCKETS as u64 + 1;

    let stop = Arc::new(AtomicBool::new(false));
    // Broadcasts sent so far, and how many sockets the latest one reached.
    let sent = Arc::new(AtomicU64::new(0));
    let reached = Arc::new(AtomicU64::new(0));
    let broadcaster = tokio::spawn({
        let (hub, r) = (hub.clone(), r.clone());
        let (stop, sent, reached) = (stop.clone(), sent.clone(), reached.clone());
        async move {
            let mut every = tokio::time::interval(Duration::from_millis(100));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !stop.load(Ordering::Relaxed) {
                every.tick().await;
                let n = sent.load(Ordering::Relaxed);
                let (status, v) = hub
                    .broadcast(&json!({"roomId": r, "message": {"type": "tick", "seq": n}}))
                    .await;
                assert_eq!(status, 200, "broadcast {n}: {v}");
                reached.store(v["delivered"].as_u64().unwrap_or(0), Ordering::Relaxed);
                sent.store(n + 1, Ordering::Relaxed);
            }
        }
    });

    let joining = Instant::now();
    let clients: Vec<Client> = futures_util::stream::iter(0..SOCKETS)
        .map(|i| {
            let (hub, r) = (hub.clone(), r.clone());
            async move { joined(&hub, &r, &format!("u{i}")).await }
        })
        .buffer_unordered(JOINING_AT_ONCE)
        .collect()
        .await;
    let joined_in = joining.elapsed();
    let s = hub.stats(&r).await;
    assert_eq!(
        (
            s["connections"].as_u64(),
            s["runtimeSockets"].as_u64(),
            s["authenticated"].as_u64()
        ),
        (Some(all), Some(all), Some(all)),
        "{s}"
    );
    // The room is busy with all of them: a broadcast reaches every socket.
    let deadline = Instant::now() + WAIT;
    while reached.load(Ordering::Relaxed) < all {
        assert!(
            Instant::now() < deadline && !broadcaster.is_finished(),
            "no broadcast reached all {all} sockets"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Every client closes at once, each on its own task, and waits for the answer.
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let closers: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            let sent_tx = sent_tx.clone();
            tokio::spawn(async move {
                let at = c.send_close(Some(CODE)).await;
                let _ = sent_tx.send(Instant::now());
                c.await_close(at, BACKLOG).await
            })
        })
        .collect();
    drop(sent_tx);
    let mut last_close = joining;
    for _ in 0..SOCKETS {
        last_close = last_close.max(sent_rx.recv().await.expect("every close frame sent"));
    }
    let sent_at_close = sent.load(Ordering::Relaxed);
    // Every stats requested in the second after the last close: (requested, answered, stats).
    let mut polled = Vec::new();
    while last_close.elapsed() <= WITHIN {
        let requested = last_close.elapsed();
        let s = stats_waiting(&hub, &r, BACKLOG).await;
        polled.push((requested, last_close.elapsed(), s));
    }

    let mut answers = Vec::with_capacity(SOCKETS);
    for closer in closers {
        answers.push(closer.await.expect("a closing client"));
    }
    let wrong: Vec<&(Option<Closed>, Duration)> = answers
        .iter()
        .filter(|(closed, _)| *closed != Some(Closed::Code(CODE, String::new())))
        .collect();
    let mut took: Vec<Duration> = answers.iter().map(|(_, t)| *t).collect();
    took.sort();
    // Afterwards (not timed): the room counts only the watcher, and so does the runtime.
    let settled = stats_until(&hub, &r, |s| s["connections"] == 1).await;
    // The broadcasts went on through it all: the watcher gets one sent after the closes.
    if broadcaster.is_finished() {
        panic!("the broadcaster stopped: {:?}", broadcaster.await);
    }
    loop {
        let v = watcher.recv().await;
        if v["type"] == "tick" && v["seq"].as_u64() > Some(sent_at_close) {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    broadcaster.await.expect("the broadcaster");
    let summary: Vec<String> = polled
        .iter()
        .map(|(requested, answered, s)| {
            format!(
                "requested at {requested:?}, answered at {answered:?}: connections {} runtimeSockets {}",
                s["connections"], s["runtimeSockets"]
            )
        })
        .collect();
    println!(
        "closing: {SOCKETS} sockets joined in {joined_in:?}; {} broadcasts; stats after the \
         last close: {summary:?}; close answers: p50 {:?}, p99 {:?}, max {:?}, {} wrong; \
         afterwards {settled}",
        sent.load(Ordering::Relaxed),
        took[took.len() / 2],
        took[took.len() * 99 / 100],
        took[took.len() - 1],
        wrong.len()
    );
    for (requested, answered, s) in &polled {
        assert_eq!(
            s["runtimeSockets"], s["connections"],
            "half-closed sockets in stats requested {requested:?} after the last close \
             (answered at {answered:?}): {s}"
        );
    }
    assert!(
        wrong.is_empty(),
        "{} of {SOCKETS} closes were not answered with {CODE}, e.g. {:?}",
        wrong.len(),
        wrong.first()
    );
    assert_eq!(settled["runtimeSockets"], 1, "{settled}");
}

/// `GET /api/rooms/:room/stats` like [`Hub::stats`], waiting up to `wait` for the answer
/// (the hub's HTTP client gives up after 30 s).
async fn stats_waiting(hub: &Hub, room: &str, wait: Duration) -> Value {
    let resp = hub
        .http
        .get(format!("{}/api/rooms/{room}/stats", hub.origin))
        .bearer_auth(crate::support::WEBHOOK_TOKEN)
        .timeout(wait)
        .send()
        .await
        .expect("stats request");
    assert_eq!(resp.status().as_u16(), 200, "stats status");
    let body = resp.json().await.expect("stats JSON");
    e2e::spec::check_api_response(200, "http/stats-response.json", &body);
    body
}

/// Polls the stats until `pred` holds (bounded).
async fn stats_until(hub: &Hub, room: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = hub.stats(room).await;
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "stats never matched: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
