//! Failing closed under hostile input: identity, capacity, storage, memory, closed
//! sockets, pre-auth frames and typing floods.

use crate::support::{joined, room};
use e2e::runner::{Hubs, Test};
use e2e::{exclusive_tests, tests};
use e2e::{Client, Hub};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub fn tests() -> Vec<Test> {
    let mut t = tests![
        a_200_that_is_not_a_json_object_admits_nobody,
        tight_silent_sockets_make_room_oldest_first_and_never_displace_members,
        unknown_events_before_auth_are_unauthenticated,
        repeated_typing_is_fanned_out_once,
        a_flooder_stays_closed_after_hibernation,
    ];
    t.extend(exclusive_tests![
        rooms_nobody_joined_leave_no_tables,
        oversized_frames_are_refused_before_they_reach_wasm_memory,
    ]);
    t
}

async fn a_200_that_is_not_a_json_object_admits_nobody(h: Hubs) {
    for token in ["text:bob", "huge:bob"] {
        let r = room("fail-closed-200");
        let mut c = Client::connect(&h.main.room_url(&r)).await;
        c.send_json(&json!({"type":"auth","token":token,"roomId":r,"userId":"mallory"}))
            .await;
        c.expect_closed_with("auth_unavailable", 4401).await;
    }
    // An empty object still lets the claim the backend saw stand.
    let r = room("fail-closed-anon");
    let mut c = Client::connect(&h.main.room_url(&r)).await;
    assert_eq!(c.auth(&r, "anon", Some("carol")).await["userId"], "carol");
}

/// The tight hub: capacity 5, at most 2 sockets waiting to authenticate, 5 s to do so.
async fn tight_silent_sockets_make_room_oldest_first_and_never_displace_members(h: Hubs) {
    let hub = h.tight.expect("the tight hub");
    let r = room("pending");
    let mut member = joined(&hub, &r, "m0").await;
    let oldest_connected = Instant::now();
    let mut oldest = Client::connect(&hub.room_url(&r)).await;
    // Accepted in order: the second socket reaches the room after the first.
    oldest.send_text(r#"{"type":"ping"}"#).await;
    oldest.expect_error("unauthenticated").await;
    let mut second = Client::connect(&hub.room_url(&r)).await;
    second.send_text(r#"{"type":"ping"}"#).await;
    second.expect_error("unauthenticated").await;
    let mut newest = Client::connect(&hub.room_url(&r)).await;
    oldest.expect_closed_with("auth_timeout", 4401).await;
    // Made room for the newest, well before its own 5 s deadline.
    assert!(oldest_connected.elapsed() < Duration::from_secs(4));
    // The two newer ones were left alone: both can still authenticate.
    second.auth(&r, "dev:m2", None).await;
    newest.auth(&r, "dev:m3", None).await;
    // A newcomer past two silent sockets makes room the same way and joins.
    let silent = [
        Client::connect(&hub.room_url(&r)).await,
        Client::connect(&hub.room_url(&r)).await,
    ];
    let mut m1 = joined(&hub, &r, "m1").await;
    member
        .send_text(r#"{"type":"typing","isTyping":true}"#)
        .await;
    assert_eq!(m1.recv().await["userId"], "m0");
    for c in silent {
        c.close().await;
    }
    // The fifth member fits once the silent socket's close reaches the room.
    let deadline = Instant::now() + Duration::from_secs(10);
    let m4 = loop {
        let mut c = Client::connect(&hub.room_url(&r)).await;
        c.send_json(&json!({"type":"auth","token":"dev:m4","roomId":r}))
            .await;
        let v = c.recv().await;
        if v["type"] == "auth:ok" {
            break c;
        }
        assert_eq!(v["code"], "room_full");
        assert!(Instant::now() < deadline, "the silent socket never left");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // A room full of members still answers room_full; no member was displaced.
    let mut members = [member, m1, second, newest, m4];
    let mut extra = Client::connect(&hub.room_url(&r)).await;
    extra.expect_closed_with("room_full", 4503).await;
    assert_eq!(hub.stats(&r).await["authenticated"], 5);
    members[0]
        .send_text(r#"{"type":"typing","isTyping":false}"#)
        .await;
    // Everyone still gets it (m2 and m3 first get m0's earlier `true`).
    for m in members.iter_mut().skip(1) {
        let mut v = m.recv().await;
        if v["isTyping"] == true {
            v = m.recv().await;
        }
        assert_eq!(
            (v["userId"].clone(), v["isTyping"].clone()),
            (json!("m0"), json!(false))
        );
    }
}

async fn unknown_events_before_auth_are_unauthenticated(h: Hubs) {
    let r = room("preauth");
    let mut c = Client::connect(&h.main.room_url(&r)).await;
    c.send_text(r#"{"type":"message.send","text":"hi"}"#).await;
    c.expect_error("unauthenticated").await;
    c.send_text("not json").await;
    c.expect_error("invalid_json").await;
    c.auth(&r, "dev:alice", None).await;
    c.send_text(r#"{"type":"message.send","text":"hi"}"#).await;
    c.expect_error("unknown_type").await;
}

async fn repeated_typing_is_fanned_out_once(h: Hubs) {
    let r = room("typing-state");
    let mut a = joined(&h.main, &r, "alice").await;
    let mut b = joined(&h.main, &r, "bob").await;
    for _ in 0..5 {
        a.send_text(r#"{"type":"typing","isTyping":true}"#).await;
    }
    a.send_text(r#"{"type":"typing","isTyping":false}"#).await;
    a.send_text(r#"{"type":"typing","isTyping":false}"#).await;
    assert_eq!(b.recv().await["isTyping"], true);
    assert_eq!(b.recv().await["isTyping"], false);
    b.expect_silence(Duration::from_millis(500)).await;
    a.expect_silence(Duration::from_millis(100)).await;
}

/// Floods until 4429 with a client that never answers the close (it reads nothing),
/// lets the room hibernate, then broadcasts and pings: the flooder is not back.
async fn a_flooder_stays_closed_after_hibernation(h: Hubs) {
    let r = room("flooder");
    let mut flooder = joined(&h.main, &r, "flooder").await;
    let mut b = joined(&h.main, &r, "bob").await;
    for i in 0..150 {
        if !flooder
            .try_send_text(format!(r#"{{"type":"ping","t":{i}}}"#))
            .await
        {
            break;
        }
    }
    let started = h.main.instance_started_at(&r).await;
    // No timer is left (both authenticated): the runtime hibernates ~10 s after the
    // last event.
    tokio::time::sleep(Duration::from_secs(25)).await;
    let (status, v) = h
        .main
        .broadcast(&json!({"roomId": r, "message": {"type": "after-wake"}}))
        .await;
    assert_eq!((status, v["delivered"].clone()), (200, json!(1)), "{v}");
    assert_eq!(b.recv().await["type"], "after-wake");
    let woke = h.main.instance_started_at(&r).await;
    assert!(woke > started, "the room never hibernated");
    flooder
        .try_send_text(r#"{"type":"ping","t":"again"}"#)
        .await;
    let mut seen = Vec::new();
    while let Some(t) = flooder.next_text_within(Duration::from_secs(2)).await {
        seen.push(t);
    }
    assert!(
        seen.iter().any(|t| t.contains("rate_limited")),
        "sanity: the flooder was closed for flooding: {seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|t| t.contains("after-wake") || t.contains("again")),
        "the flooder came back after the wake: {seen:?}"
    );
}

/// The room's SQLite files under the hub's persisted state.
fn sqlite_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(sqlite_files(&p));
        } else if p.extension().is_some_and(|x| x == "sqlite") {
            out.push(p);
        }
    }
    out
}

/// Whether the database (with its write-ahead log) defines a table of ours: the
/// schema text of `_migrations` or `connections` is stored in the file once created.
fn has_our_tables(db: &Path) -> bool {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    [db.to_path_buf(), PathBuf::from(wal)].iter().any(|f| {
        std::fs::read(f).is_ok_and(|bytes| {
            [&b"_migrations"[..], b"connection_id TEXT"]
                .iter()
                .any(|n| bytes.windows(n.len()).any(|w| w == *n))
        })
    })
}

async fn cycle(hub: &Hub, r: &str) {
    let c = Client::connect(&hub.room_url(r)).await;
    c.close().await;
}

/// Runs alone, so every SQLite file that appears meanwhile belongs to its rooms.
async fn rooms_nobody_joined_leave_no_tables(h: Hubs) {
    let dir = h.main.persist_to.clone();
    let before: Vec<PathBuf> = sqlite_files(&dir);
    let prefix = room("junk");
    for batch in 0..50 {
        let cycles = (0..10).map(|i| {
            let r = format!("{prefix}-{}", batch * 10 + i);
            let hub = h.main.clone();
            async move { cycle(&hub, &r).await }
        });
        futures_util::future::join_all(cycles).await;
    }
    // A room someone joined does get its tables: the check below can see them.
    let joined_room = room("joined");
    let member = joined(&h.main, &joined_room, "alice").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let tables = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let new: Vec<PathBuf> = sqlite_files(&dir)
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect();
        let with_tables: Vec<&PathBuf> = new.iter().filter(|f| has_our_tables(f)).collect();
        if !with_tables.is_empty() || Instant::now() > deadline {
            break (new.len(), with_tables.len());
        }
    };
    member.close().await;
    assert_eq!(
        tables.1, 1,
        "of {} new room files, {} have tables (only the joined room should)",
        tables.0, tables.1
    );
}

/// A hundred 10 MB frames from a socket that never authenticates (paced under the
/// rate limit, so each one is handled): wasm memory stays where it was.
async fn oversized_frames_are_refused_before_they_reach_wasm_memory(h: Hubs) {
    const MARGIN: u64 = 1 << 20;
    let r = room("big-frames");
    let mut a = joined(&h.main, &r, "alice").await;
    let mut b = joined(&h.main, &r, "bob").await;
    let memory = |s: &Value| s["wasmMemoryBytes"].as_u64().expect("wasmMemoryBytes");
    let before = memory(&h.main.stats(&r).await);
    let frame = "é".repeat(5 * 1024 * 1024);
    let mut sent = 0;
    // Four sockets share the hundred frames: each stays within its auth deadline.
    for _ in 0..4 {
        let mut silent = Client::connect(&h.main.room_url(&r)).await;
        for i in 0..25 {
            silent.send_text(frame.clone()).await;
            // The burst of 20, then the sustained 10 per second.
            if i >= 19 {
                tokio::time::sleep(Duration::from_millis(110)).await;
            }
            silent.expect_error("frame_too_large").await;
            sent += 1;
        }
    }
    assert_eq!(sent, 100);
    let after = memory(&h.main.stats(&r).await);
    assert!(
        after <= before + MARGIN,
        "wasm memory grew from {before} to {after} bytes"
    );
    a.send_text(r#"{"type":"typing","isTyping":true}"#).await;
    assert_eq!(b.recv().await["userId"], "alice");
}
