//! Hostile clients: floods, oversized and malformed input, a full room.

use crate::support::{joined, room};
use e2e::runner::{Hubs, Test};
use e2e::tests;
use e2e::{Client, Closed};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub fn tests() -> Vec<Test> {
    tests![
        excess_events_are_dropped_with_one_notice,
        a_typing_flood_closes_4429_and_is_never_amplified,
        thousands_of_invalid_frames_close_4429_without_affecting_others,
        ten_megabyte_and_deeply_nested_frames_get_errors,
        oversized_urls_are_refused_and_the_hub_keeps_serving,
        tight_room_capacity_refuses_with_4503_and_spares_members,
    ]
}

/// Frames until `quiet` passes without one (bounded by 20 s overall).
async fn drain(c: &mut Client, quiet: Duration) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    while Instant::now() < deadline {
        match c.next_text_within(quiet).await {
            Some(t) => out.push(serde_json::from_str(&t).expect("JSON frame")),
            None => break,
        }
    }
    out
}

fn count(frames: &[Value], pred: impl Fn(&Value) -> bool) -> usize {
    frames.iter().filter(|f| pred(f)).count()
}

async fn excess_events_are_dropped_with_one_notice(h: Hubs) {
    let r = room("rate");
    let mut a = joined(&h.main, &r, "alice").await;
    let started = Instant::now();
    for i in 0..30 {
        a.send_text(format!(r#"{{"type":"ping","t":{i}}}"#)).await;
    }
    let frames = drain(&mut a, Duration::from_millis(800)).await;
    // The server handled the pings within this span (the quiet wait is not part of it).
    let span = started.elapsed().saturating_sub(Duration::from_millis(800));
    let pongs = count(&frames, |f| f["type"] == "pong");
    let notices = count(&frames, |f| f["code"] == "rate_limited");
    // Burst of 20 (the auth frame took one), plus at most what refilled (10/s) meanwhile.
    let most = 20 + (span.as_millis() as usize) / 100;
    assert!(
        (19..=most).contains(&pongs),
        "{pongs} pongs in {span:?}: {frames:?}"
    );
    assert!(pongs < 30, "nothing was dropped: {frames:?}");
    assert_eq!(notices, 1, "{frames:?}");
    assert_eq!(frames.len(), pongs + notices);
    // Still open; a second later the client may send again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    a.send_text(r#"{"type":"ping","t":"again"}"#).await;
    assert_eq!(a.recv().await, json!({"type":"pong","t":"again"}));
}

async fn a_typing_flood_closes_4429_and_is_never_amplified(h: Hubs) {
    let r = room("flood");
    let mut a = joined(&h.main, &r, "alice").await;
    let mut b = joined(&h.main, &r, "bob").await;
    let started = Instant::now();
    for _ in 0..300 {
        if !a
            .try_send_text(r#"{"type":"typing","isTyping":true}"#)
            .await
        {
            break;
        }
    }
    let (closed, frames) = a.closed_within(Duration::from_secs(15)).await;
    let elapsed = started.elapsed();
    assert_eq!(
        closed,
        Closed::Code(4429, "rate_limited".into()),
        "{frames:?}"
    );
    assert!(
        frames.last().is_some_and(|f| f.contains("rate_limited")),
        "{frames:?}"
    );
    let typing = drain(&mut b, Duration::from_millis(800)).await;
    // Never more than the limit allows (burst 20 + 10/s for as long as the flood lasted),
    // however many frames the flooder sent.
    let allowed = 20 + 10 * (elapsed.as_secs() as usize + 1);
    assert!(
        typing.len() <= allowed,
        "{} typing events fanned out in {elapsed:?}",
        typing.len()
    );
    assert!(typing.iter().all(|f| f["userId"] == "alice"));
    // The room goes on.
    let mut c = joined(&h.main, &r, "carol").await;
    b.send_text(r#"{"type":"typing","isTyping":false}"#).await;
    assert_eq!(c.recv().await["userId"], "bob");
}

async fn thousands_of_invalid_frames_close_4429_without_affecting_others(h: Hubs) {
    let r = room("junk");
    let mut pending = Client::connect(&h.main.room_url(&r)).await;
    let mut b = joined(&h.main, &r, "bob").await;
    let mut c = joined(&h.main, &r, "carol").await;
    let started = Instant::now();
    for i in 0..2000 {
        if !pending.try_send_text(format!("junk {i} {{")).await {
            break;
        }
    }
    let (closed, frames) = pending.closed_within(Duration::from_secs(15)).await;
    let span = started.elapsed();
    assert_eq!(closed, Closed::Code(4429, "rate_limited".into()));
    let errors: Vec<Value> = frames
        .iter()
        .map(|f| serde_json::from_str(f).unwrap())
        .collect();
    // The burst of 20 is answered, then at most the refill (10/s) until the flood closes it.
    let answered = count(&errors, |f| f["code"] == "invalid_json");
    let most = 20 + (span.as_millis() as usize) / 100;
    assert!(
        (20..=most).contains(&answered),
        "{answered} answered in {span:?}: {errors:?}"
    );
    b.send_text(r#"{"type":"typing","isTyping":true}"#).await;
    assert_eq!(c.recv().await["userId"], "bob");
    b.expect_silence(Duration::from_millis(200)).await;
}

async fn ten_megabyte_and_deeply_nested_frames_get_errors(h: Hubs) {
    let r = room("huge");
    let mut a = joined(&h.main, &r, "alice").await;
    let mut b = joined(&h.main, &r, "bob").await;
    a.send_text("x".repeat(10 * 1024 * 1024)).await;
    a.expect_error("frame_too_large").await;
    a.send_text(format!(
        r#"{{"type":"typing","isTyping":{}}}"#,
        "[".repeat(9000)
    ))
    .await;
    a.expect_error("invalid_json").await;
    a.send_text(format!("{}{}", "[".repeat(8000), "]".repeat(8000)))
        .await;
    a.expect_error("invalid_event").await;
    let deep = format!("{}0{}", "[".repeat(5000), "]".repeat(5000));
    a.send_text(format!(r#"{{"type":"ping","t":{deep}}}"#))
        .await;
    assert_eq!(
        a.next_text_within(Duration::from_secs(10)).await,
        Some(format!(r#"{{"type":"pong","t":{deep}}}"#))
    );
    let mut bytes = vec![0xff, 0xfe, 0xfd];
    bytes.extend(std::iter::repeat_n(0xc3, 100_000));
    a.send_binary(bytes).await;
    a.expect_error("unsupported_frame").await;
    b.expect_silence(Duration::from_millis(300)).await;
    a.send_text(r#"{"type":"typing","isTyping":true}"#).await;
    assert_eq!(b.recv().await["userId"], "alice");
}

async fn oversized_urls_are_refused_and_the_hub_keeps_serving(h: Hubs) {
    let long = "a".repeat(100_000);
    for url in [
        format!("{}/rooms/{long}", h.main.origin),
        format!("{}/rooms?room={long}", h.main.origin),
        format!("{}/api/broadcast?{long}", h.main.origin),
    ] {
        match h
            .main
            .http
            .get(&url)
            .header("Upgrade", "websocket")
            .send()
            .await
        {
            Ok(r) => assert!(r.status().is_client_error(), "{}", r.status()),
            Err(e) => assert!(!e.is_timeout(), "timed out: {e}"),
        }
    }
    let r = room("after-long-url");
    joined(&h.main, &r, "alice").await;
}

async fn tight_room_capacity_refuses_with_4503_and_spares_members(h: Hubs) {
    let hub = h.tight.expect("the tight hub");
    let r = room("full");
    let mut members = Vec::new();
    for i in 0..5 {
        members.push(joined(&hub, &r, &format!("m{i}")).await);
    }
    let mut extra = Client::connect(&hub.room_url(&r)).await;
    extra.expect_closed_with("room_full", 4503).await;
    // Nobody inside noticed.
    members[0]
        .send_text(r#"{"type":"typing","isTyping":true}"#)
        .await;
    for m in members.iter_mut().skip(1) {
        assert_eq!(m.recv().await["userId"], "m0");
    }
    // Another room is not affected by this one being full.
    joined(&hub, &room("not-full"), "x").await;
    // When someone leaves, a newcomer fits.
    members.pop().unwrap().close().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = Client::connect(&hub.room_url(&r)).await;
        c.send_json(&json!({"type":"auth","token":"dev:newcomer","roomId":r}))
            .await;
        let v = c.recv().await;
        if v["type"] == "auth:ok" {
            break;
        }
        assert_eq!(v["code"], "room_full");
        assert!(Instant::now() < deadline, "the room never freed a place");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
