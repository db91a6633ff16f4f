//! Live membership: presence per user, token expiry, and refresh in band.

use crate::support::{joined, room};
use e2e::runner::{Hubs, Test};
use e2e::{exclusive_tests, tests};
use e2e::{Client, Hub};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn tests() -> Vec<Test> {
    let mut t = tests![
        presence_is_per_user_and_never_names_the_anonymous,
        tight_presence_turns_off_above_the_limit_and_back_on_with_the_list,
        a_refresh_for_another_user_or_a_refused_token_closes,
        a_refresh_the_backend_cannot_answer_keeps_the_socket,
        presence_and_expiry_survive_hibernation,
    ];
    // Timed against tokens that live a few seconds: alone, so a busy runtime thread
    // cannot stretch a step past an expiry.
    t.extend(exclusive_tests![
        an_expired_socket_is_closed_at_its_next_frame,
        a_delivery_never_reaches_an_expired_socket,
        a_refresh_renews_the_token_in_band,
    ]);
    t
}

const SHORT: Duration = Duration::from_millis(400);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A socket in `room` as `user` that sees presence frames from now on; its `auth:ok`.
async fn watching(hub: &Hub, room: &str, token: &str) -> (Client, Value) {
    let mut c = Client::connect(&hub.room_url(room)).await;
    let ok = c.auth(room, token, None).await;
    c.see_presence = true;
    (c, ok)
}

fn presence(event: &str, user: &str) -> Value {
    json!({"type": "presence", "event": event, "userId": user})
}

/// `expiresAt` of a frame, checked to be about `ttl_s` seconds from now.
fn expiry_in(frame: &Value, ttl_s: u64) -> u64 {
    let at = frame["expiresAt"].as_u64().expect("expiresAt");
    let now = now_ms();
    assert!(
        at > now && at <= now + ttl_s * 1000 + 1000,
        "expiresAt {at} is not ~{ttl_s} s after {now}"
    );
    at
}

async fn presence_is_per_user_and_never_names_the_anonymous(h: Hubs) {
    let r = room("presence");
    let (mut ann, ok) = watching(&h.main, &r, "dev:ann").await;
    assert_eq!(
        (ok["members"].clone(), ok["expiresAt"].clone()),
        (json!(["ann"]), Value::Null)
    );
    let (mut bob, ok) = watching(&h.main, &r, "dev:bob").await;
    assert_eq!(ok["members"], json!(["ann", "bob"]));
    assert_eq!(ann.recv().await, presence("join", "bob"));
    // Bob's second tab and an anonymous socket: listed per user, announced never.
    let (bob2, ok) = watching(&h.main, &r, "dev:bob").await;
    assert_eq!(ok["members"], json!(["ann", "bob"]));
    let mut anon = Client::connect(&h.main.room_url(&r)).await;
    let ok = anon.auth(&r, "anon", None).await;
    assert_eq!(
        (ok["userId"].clone(), ok["members"].clone()),
        (Value::Null, json!(["ann", "bob"]))
    );
    ann.expect_silence(SHORT).await;
    bob.expect_silence(Duration::from_millis(1)).await;
    // Bob leaves with his last tab, whatever closes it.
    bob.close().await;
    ann.expect_silence(SHORT).await;
    bob2.close().await;
    assert_eq!(ann.recv().await, presence("leave", "bob"));
    anon.close().await;
    ann.expect_silence(SHORT).await;
}

async fn tight_presence_turns_off_above_the_limit_and_back_on_with_the_list(h: Hubs) {
    let hub = &h.tight.expect("the tight hub");
    let r = room("presence-limit");
    let (mut u1, _) = watching(hub, &r, "dev:u1").await;
    let (mut u2, ok) = watching(hub, &r, "dev:u2").await;
    assert_eq!(ok["members"], json!(["u1", "u2"]));
    assert_eq!(u1.recv().await, presence("join", "u2"));
    // A third user crosses PRESENCE_MAX_MEMBERS (2 on this hub).
    let (u3, ok) = watching(hub, &r, "dev:u3").await;
    assert_eq!(ok["members"], Value::Null);
    let off = json!({"type": "presence", "event": "off", "members": null});
    assert_eq!(u1.recv().await, off);
    assert_eq!(u2.recv().await, off);
    u1.expect_silence(SHORT).await;
    // Back within the limit: the whole list, once, instead of a leave.
    u3.close().await;
    let on = json!({"type": "presence", "event": "on", "members": ["u1", "u2"]});
    assert_eq!(u1.recv().await, on);
    assert_eq!(u2.recv().await, on);
    u2.close().await;
    assert_eq!(u1.recv().await, presence("leave", "u2"));
}

async fn an_expired_socket_is_closed_at_its_next_frame(h: Hubs) {
    let r = room("expiry");
    let (mut ann, ok) = watching(&h.main, &r, "dev:ann:ttl=3").await;
    expiry_in(&ok, 3);
    ann.send_json(&json!({"type": "ping", "t": 1})).await;
    assert_eq!(ann.recv().await, json!({"type": "pong", "t": 1}));
    tokio::time::sleep(Duration::from_millis(3_300)).await;
    ann.send_json(&json!({"type": "ping", "t": 2})).await;
    ann.expect_closed_with("token_expired", 4401).await;
    // A token the backend says has expired never gets in.
    let mut late = Client::connect(&h.main.room_url(&r)).await;
    late.send_json(&json!({"type": "auth", "token": "dev:ann:ttl=0", "roomId": r}))
        .await;
    late.expect_closed_with("token_expired", 4401).await;
}

async fn a_delivery_never_reaches_an_expired_socket(h: Hubs) {
    let r = room("expiry-delivery");
    // Long enough for bob to join first even on a busy machine (an expired member is
    // closed before a newcomer's auth:ok).
    let (mut ann, _) = watching(&h.main, &r, "dev:ann:ttl=3").await;
    let (mut bob, _) = watching(&h.main, &r, "dev:bob").await;
    assert_eq!(ann.recv().await, presence("join", "bob"));
    tokio::time::sleep(Duration::from_millis(3_300)).await;
    let (status, v) = h
        .main
        .broadcast(&json!({"roomId": r, "message": {"type": "after-expiry"}}))
        .await;
    assert_eq!((status, v["delivered"].clone()), (200, json!(1)), "{v}");
    ann.expect_closed_with("token_expired", 4401).await;
    assert_eq!(bob.recv().await, presence("leave", "ann"));
    assert_eq!(bob.recv().await["type"], "after-expiry");
    assert_eq!(h.main.stats(&r).await["authenticated"], 1);
}

async fn a_refresh_renews_the_token_in_band(h: Hubs) {
    let r = room("refresh");
    let (mut ann, ok) = watching(&h.main, &r, "dev:ann:ttl=4").await;
    let id = ok["connectionId"].clone();
    let (mut bob, _) = watching(&h.main, &r, "dev:bob").await;
    assert_eq!(ann.recv().await, presence("join", "bob"));
    // A slow check, and a second refresh while it runs.
    ann.send_json(&json!({"type": "auth:refresh", "token": "slow:600:ann"}))
        .await;
    ann.send_json(&json!({"type": "auth:refresh", "token": "dev:ann:ttl=60"}))
        .await;
    ann.expect_error("auth_in_progress").await;
    let refreshed = ann.recv().await;
    assert_eq!(
        (refreshed["type"].clone(), refreshed["expiresAt"].clone()),
        (json!("auth:refreshed"), Value::Null)
    );
    // The main hub has RESUME_SECRET: a real check issues a fresh ticket.
    assert!(refreshed["resume"].is_string(), "{refreshed}");
    ann.send_json(&json!({"type": "auth:refresh", "token": "dev:ann:ttl=60"}))
        .await;
    let refreshed = ann.recv().await;
    assert_eq!(refreshed["type"], "auth:refreshed");
    expiry_in(&refreshed, 60);
    // Past the first token's expiry: same connection, still delivered to, no presence.
    tokio::time::sleep(Duration::from_millis(4_300)).await;
    ann.send_json(&json!({"type": "ping", "t": "alive"})).await;
    assert_eq!(ann.recv().await, json!({"type": "pong", "t": "alive"}));
    let (_, v) = h
        .main
        .broadcast(&json!({"roomId": r, "message": {"type": "m"}, "excludeConnectionIds": [id]}))
        .await;
    assert_eq!(v["delivered"], 1, "the connection id did not change: {v}");
    assert_eq!(bob.recv().await["type"], "m");
    ann.expect_silence(SHORT).await;
    // The backend saw the same room, connection and user each time.
    let checks = h.main.checks_for(&r);
    let bodies: Vec<Value> = checks.into_iter().map(|c| c.body).collect();
    let ann_checks: Vec<&Value> = bodies.iter().filter(|b| b["connectionId"] == id).collect();
    assert_eq!(ann_checks.len(), 3, "{bodies:?}");
    assert!(
        ann_checks[1..].iter().all(|b| b["userId"] == "ann"),
        "{bodies:?}"
    );
}

async fn a_refresh_for_another_user_or_a_refused_token_closes(h: Hubs) {
    let r = room("refresh-bad");
    let (mut ann, _) = watching(&h.main, &r, "dev:ann").await;
    let (mut bob, _) = watching(&h.main, &r, "dev:bob").await;
    ann.send_json(&json!({"type": "auth:refresh", "token": "dev:mallory"}))
        .await;
    assert_eq!(ann.recv().await, presence("join", "bob"));
    ann.expect_closed_with("identity_changed", 4401).await;
    assert_eq!(bob.recv().await, presence("leave", "ann"));
    bob.send_json(&json!({"type": "auth:refresh", "token": "deny:bob"}))
        .await;
    bob.expect_closed_with("unauthorized", 4401).await;
    // Refreshes are events: a burst of them meets the rate limit.
    let (mut carol, _) = watching(&h.main, &r, "dev:carol").await;
    for _ in 0..25 {
        carol
            .send_json(&json!({"type": "auth:refresh", "token": "slow:2000:carol"}))
            .await;
    }
    // The first answer may wait behind a busy runtime; the rest follow it at once.
    let first = carol.recv().await;
    let mut codes = vec![first["code"].as_str().unwrap_or_default().to_owned()];
    while let Some(t) = carol.next_text_within(SHORT).await {
        let v: Value = serde_json::from_str(&t).expect("JSON");
        codes.push(v["code"].as_str().unwrap_or_default().to_owned());
    }
    assert!(codes.contains(&"rate_limited".to_owned()), "{codes:?}");
    assert!(codes.contains(&"auth_in_progress".to_owned()), "{codes:?}");
    // Before auth, a refresh is refused like any other event.
    let mut pending = Client::connect(&h.main.room_url(&r)).await;
    pending
        .send_json(&json!({"type": "auth:refresh", "token": "dev:ann"}))
        .await;
    pending.expect_error("unauthenticated").await;
}

async fn a_refresh_the_backend_cannot_answer_keeps_the_socket(h: Hubs) {
    let r = room("refresh-503");
    let (mut ann, ok) = watching(&h.main, &r, "dev:ann:ttl=30").await;
    let at = expiry_in(&ok, 30);
    ann.send_json(&json!({"type": "auth:refresh", "token": "status:503"}))
        .await;
    ann.expect_error("auth_unavailable").await;
    ann.send_json(&json!({"type": "ping", "t": "still"})).await;
    assert_eq!(ann.recv().await, json!({"type": "pong", "t": "still"}));
    // Its expiry is unchanged: a refresh now renews it.
    ann.send_json(&json!({"type": "auth:refresh", "token": "dev:ann:ttl=60"}))
        .await;
    let renewed = ann.recv().await;
    assert!(expiry_in(&renewed, 60) > at);
}

/// A room whose members are idle hibernates (no timer for expiry or presence); after
/// it wakes, the tabs of one user still count as one, and an expired token is still
/// found at the next delivery.
async fn presence_and_expiry_survive_hibernation(h: Hubs) {
    let r = room("presence-hibernate");
    let (mut carol, _) = watching(&h.main, &r, "dev:carol").await;
    let mut ann = Client::connect(&h.main.room_url(&r)).await;
    ann.auth(&r, "dev:ann:ttl=15", None).await;
    let bob1 = joined(&h.main, &r, "bob").await;
    let mut bob2 = joined(&h.main, &r, "bob").await;
    assert_eq!(carol.recv().await, presence("join", "ann"));
    assert_eq!(carol.recv().await, presence("join", "bob"));
    let before = h.main.instance_started_at(&r).await;
    // The runtime hibernates ~10 s after the last event; ann's token expires meanwhile,
    // and nothing fires when it does (no timer).
    tokio::time::sleep(Duration::from_secs(25)).await;
    carol.expect_silence(SHORT).await;
    // The next room event (one of bob's tabs closing: bob stays) closes ann first.
    bob1.close().await;
    ann.expect_closed_with("token_expired", 4401).await;
    assert_eq!(carol.recv().await, presence("leave", "ann"));
    let (status, v) = h
        .main
        .broadcast(&json!({"roomId": r, "message": {"type": "woke"}}))
        .await;
    assert_eq!((status, v["delivered"].clone()), (200, json!(2)), "{v}");
    assert_eq!(carol.recv().await["type"], "woke");
    assert_eq!(bob2.recv().await["type"], "woke");
    let after = h.main.instance_started_at(&r).await;
    assert!(after > before, "the room never hibernated");
    bob2.close().await;
    assert_eq!(carol.recv().await, presence("leave", "bob"));
}
