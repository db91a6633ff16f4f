//! Adaptive batching: in a busy room, sockets that sent `"batch": true` get the queued
//! events as `batch` frames; every socket still gets every event exactly once, in the
//! room's order. On the `tight` hub, whose window (`BATCH_WINDOW_MS`) is 300 ms so that
//! concurrent broadcasts reliably share a burst.

use crate::support::{joined, room};
use e2e::runner::{Hubs, Test};
use e2e::tests;
use e2e::{Client, Hub};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub fn tests() -> Vec<Test> {
    tests![
        tight_concurrent_broadcasts_reach_a_mixed_room_once_each_in_one_order,
        tight_exclusions_targets_and_typing_inside_one_burst,
        tight_an_idle_event_arrives_unbatched_and_at_once,
    ]
}

/// A socket as `user` that asked for batch frames.
async fn batching(hub: &Hub, room: &str, user: &str) -> Client {
    let mut c = Client::connect(&hub.room_url(room)).await;
    let auth =
        json!({"type": "auth", "token": format!("dev:{user}"), "roomId": room, "batch": true});
    c.send_json(&auth).await;
    let ok = c.recv().await;
    assert_eq!(ok["type"], "auth:ok", "{ok}");
    c.connection_id = ok["connectionId"].as_str().map(str::to_owned);
    c
}

/// Reads events until `count` of type `m` arrived (batches unpacked); returns them
/// in order and how many batch frames carried them.
async fn events(c: &mut Client, count: usize) -> (Vec<Value>, usize) {
    let (mut got, mut batches) = (Vec::new(), 0);
    while got.iter().filter(|e: &&Value| e["type"] == "m").count() < count {
        let frame = c.recv().await;
        if frame["type"] == "batch" {
            batches += 1;
            got.extend(frame["events"].as_array().expect("events").iter().cloned());
        } else {
            got.push(frame);
        }
    }
    (got, batches)
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .filter(|e| e["type"] == "m")
        .map(|e| e["n"].as_u64().expect("n"))
        .collect()
}

async fn publish_all(hub: &Hub, bodies: Vec<Value>) {
    let posts = bodies.iter().map(|b| hub.broadcast(b));
    for (status, v) in futures_util::future::join_all(posts).await {
        assert_eq!(status, 200, "{v}");
    }
}

async fn tight_concurrent_broadcasts_reach_a_mixed_room_once_each_in_one_order(h: Hubs) {
    let hub = &h.tight.expect("the tight hub");
    let r = room("batch-mixed");
    let mut a = batching(hub, &r, "a").await;
    let mut b = batching(hub, &r, "b").await;
    let mut c = joined(hub, &r, "c").await;
    let mut d = joined(hub, &r, "d").await;
    // One broadcast, then a burst of 12 in flight at once.
    let mut bodies = vec![json!({"roomId": r, "message": {"type": "m", "n": 0}})];
    publish_all(hub, bodies.clone()).await;
    bodies = (1..=12)
        .map(|n| json!({"roomId": r, "message": {"type": "m", "n": n}}))
        .collect();
    publish_all(hub, bodies).await;
    let (ea, ba) = events(&mut a, 13).await;
    let (eb, bb) = events(&mut b, 13).await;
    let (ec, bc) = events(&mut c, 13).await;
    let (ed, bd) = events(&mut d, 13).await;
    // Exactly once each, and the same order on every socket.
    let order = seqs(&ea);
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..=12).collect::<Vec<u64>>(), "{order:?}");
    for (name, got) in [("b", &eb), ("c", &ec), ("d", &ed)] {
        assert_eq!(seqs(got), order, "socket {name}");
    }
    // The batching sockets got batches; the others never do.
    assert!(ba >= 1 && bb >= 1, "no batch frame: {ba} {bb}");
    assert_eq!((bc, bd), (0, 0));
    for mut s in [a, b, c, d] {
        s.expect_silence(Duration::from_millis(400)).await;
    }
}

async fn tight_exclusions_targets_and_typing_inside_one_burst(h: Hubs) {
    let hub = &h.tight.expect("the tight hub");
    let r = room("batch-select");
    let mut a = batching(hub, &r, "ua").await;
    let mut b = batching(hub, &r, "ub").await;
    let mut c = joined(hub, &r, "uc").await;
    let a_id = a.connection_id.clone().expect("a's id");
    let c_id = c.connection_id.clone().expect("c's id");
    publish_all(
        hub,
        vec![json!({"roomId": r, "message": {"type": "m", "n": 0}})],
    )
    .await;
    // Within the window: four broadcasts with their own audiences, and c typing.
    c.send_json(&json!({"type": "typing", "isTyping": true}))
        .await;
    publish_all(
        hub,
        vec![
            json!({"roomId": r, "message": {"type": "m", "n": 1}, "excludeConnectionIds": [a_id]}),
            json!({"roomId": r, "message": {"type": "m", "n": 2}, "userIds": ["ub"]}),
            json!({"roomId": r, "message": {"type": "m", "n": 3}, "userIds": ["ua", "uc"], "excludeConnectionIds": [c_id]}),
            json!({"roomId": r, "message": {"type": "m", "n": 4}}),
        ],
    )
    .await;
    let (ea, _) = events(&mut a, 3).await;
    let (eb, _) = events(&mut b, 4).await;
    let (ec, _) = events(&mut c, 3).await;
    let sorted = |e: &[Value]| {
        let mut s = seqs(e);
        s.sort_unstable();
        s
    };
    assert_eq!(sorted(&ea), [0, 3, 4]);
    assert_eq!(sorted(&eb), [0, 1, 2, 4]);
    assert_eq!(sorted(&ec), [0, 1, 4]);
    // Typing went to the others, once, never to its sender.
    let typing = |e: &[Value]| e.iter().filter(|f| f["type"] == "typing").count();
    let (ta, tb) = (typing(&ea), typing(&eb));
    let (mut rest_a, mut rest_b) = (Vec::new(), Vec::new());
    if ta == 0 {
        rest_a = events_until_typing(&mut a).await;
    }
    if tb == 0 {
        rest_b = events_until_typing(&mut b).await;
    }
    assert_eq!(ta + typing(&rest_a), 1);
    assert_eq!(tb + typing(&rest_b), 1);
    assert_eq!(typing(&ec), 0);
    c.expect_silence(Duration::from_millis(400)).await;
}

async fn events_until_typing(c: &mut Client) -> Vec<Value> {
    let mut got = Vec::new();
    while !got.iter().any(|e: &Value| e["type"] == "typing") {
        let frame = c.recv().await;
        match frame["type"].as_str() {
            Some("batch") => {
                got.extend(frame["events"].as_array().expect("events").iter().cloned())
            }
            _ => got.push(frame),
        }
    }
    got
}

async fn tight_an_idle_event_arrives_unbatched_and_at_once(h: Hubs) {
    let hub = &h.tight.expect("the tight hub");
    let r = room("batch-idle");
    let mut a = batching(hub, &r, "a").await;
    // Quiet for longer than the window: the next event goes out in the broadcast's own
    // event, before its answer, as a plain frame.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, v) = hub
        .broadcast(&json!({"roomId": r, "message": {"type": "m", "n": 1}}))
        .await;
    assert_eq!((status, v["delivered"].clone()), (200, json!(1)));
    let answered = Instant::now();
    let frame = a.recv().await;
    let waited = answered.elapsed();
    assert_eq!(frame, json!({"type": "m", "n": 1}));
    // A queued event would come a whole window (300 ms) after the answer.
    assert!(
        waited < Duration::from_millis(150),
        "the idle event waited {waited:?} after the broadcast was answered"
    );
}
