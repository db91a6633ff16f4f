//! Connection metadata in SQLite, and state that survives hibernation.

use crate::support::{assert_gated, joined, room, WEBHOOK_TOKEN};
use e2e::runner::{Hubs, Test};
use e2e::tests;
use e2e::{Client, Hub};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

pub fn tests() -> Vec<Test> {
    tests![
        one_row_per_live_connection,
        no_token_or_message_content_is_stored,
        state_survives_hibernation,
        connections_lists_the_room_exactly,
    ]
}

/// Polls the stats until `pred` holds (bounded).
async fn stats_until(hub: &Hub, room: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = hub.stats(room).await;
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "stats never matched: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn one_row_per_live_connection(h: Hubs) {
    let r = room("rows");
    let pending = Client::connect(&h.main.room_url(&r)).await;
    let a = joined(&h.main, &r, "alice").await;
    let b = joined(&h.main, &r, "bob").await;
    let s = h.main.stats(&r).await;
    assert_eq!(
        (
            s["connections"].as_u64(),
            s["authenticated"].as_u64(),
            s["storedConnections"].as_u64()
        ),
        (Some(3), Some(2), Some(3)),
        "{s}"
    );
    pending.close().await;
    stats_until(&h.main, &r, |s| {
        s["storedConnections"] == 2 && s["authenticated"] == 2
    })
    .await;
    a.close().await;
    stats_until(&h.main, &r, |s| {
        s["storedConnections"] == 1 && s["authenticated"] == 1
    })
    .await;
    drop(b); // dropped without a close frame
    stats_until(&h.main, &r, |s| {
        s["storedConnections"] == 0 && s["authenticated"] == 0
    })
    .await;
}

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return hits;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            hits.extend(files_containing(&p, needle));
        } else if p.extension().is_none_or(|x| x != "log") {
            if let Ok(bytes) = std::fs::read(&p) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    hits.push(p.display().to_string());
                }
            }
        }
    }
    hits
}

async fn no_token_or_message_content_is_stored(h: Hubs) {
    let r = room("nostore");
    let token = "dev:tokenuser-5b1e";
    let mut a = Client::connect(&h.main.room_url(&r)).await;
    a.auth(&r, token, None).await;
    let mut b = joined(&h.main, &r, "bob").await;
    let secret_text = "secret-message-body-9c2d";
    h.main
        .broadcast(
            &json!({"roomId": r, "message": {"type": "message.created", "preview": secret_text}}),
        )
        .await;
    assert_eq!(a.recv().await["preview"], secret_text);
    assert_eq!(b.recv().await["preview"], secret_text);
    // The rows exist (so storage was written) but hold neither the token nor the text.
    assert_eq!(h.main.stats(&r).await["storedConnections"], 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        files_containing(&h.main.persist_to, b"tokenuser-5b1e")
            .iter()
            .any(|f| f.contains("sqlite")),
        "the user id should be in the room's SQLite file (sanity check of this test)"
    );
    assert_eq!(
        files_containing(&h.main.persist_to, token.as_bytes()),
        Vec::<String>::new()
    );
    assert_eq!(
        files_containing(&h.main.persist_to, secret_text.as_bytes()),
        Vec::<String>::new()
    );
}

async fn state_survives_hibernation(h: Hubs) {
    let r = room("hibernate");
    let mut a = joined(&h.main, &r, "alice").await;
    let mut b = joined(&h.main, &r, "bob").await;
    let before = h.main.instance_started_at(&r).await;
    // Auth timers end 10 s after connecting; the runtime hibernates ~10 s after the last event.
    tokio::time::sleep(Duration::from_secs(25)).await;
    a.send_json(&json!({"type":"typing","isTyping":true})).await;
    assert_eq!(
        b.recv().await,
        json!({"type":"typing","userId":"alice","isTyping":true})
    );
    a.send_json(&json!({"type":"ping","t":"after"})).await;
    assert_eq!(a.recv().await, json!({"type":"pong","t":"after"}));
    let (status, v) = h
        .main
        .broadcast(&json!({
            "roomId": r, "message": {"type": "woke"}, "excludeConnectionIds": [a.connection_id]
        }))
        .await;
    assert_eq!((status, v["delivered"].clone()), (200, json!(1)));
    assert_eq!(b.recv().await, json!({"type": "woke"}));
    a.expect_silence(Duration::from_millis(300)).await;
    let after = h.main.stats(&r).await;
    assert!(
        after["instanceStartedAt"].as_u64().unwrap() > before,
        "no new instance: the room never hibernated ({before} vs {after})"
    );
    assert_eq!(after["authenticated"], 2);
}

async fn connections_lists_the_room_exactly(h: Hubs) {
    let r = room("who");
    // A room nobody joined yet: its waiting socket is listed from memory.
    let waiting = Client::connect(&h.main.room_url(&r)).await;
    let v = h.main.connections(&r).await;
    let list = v["connections"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    assert_eq!(
        (list[0]["state"].clone(), list[0]["userId"].clone()),
        (json!("pending"), Value::Null)
    );
    let a = joined(&h.main, &r, "alice").await;
    let b = joined(&h.main, &r, "bob").await;
    // Right after the auths (row writes are pending): the list is already exact.
    let v = h.main.connections(&r).await;
    let list = v["connections"].as_array().unwrap();
    assert_eq!(list.len(), 3, "{v}");
    let by_id = |c: &Client| {
        list.iter()
            .find(|e| e["connectionId"] == json!(c.connection_id))
            .cloned()
            .unwrap_or_else(|| panic!("{:?} not listed: {v}", c.connection_id))
    };
    let alice = by_id(&a);
    assert_eq!(
        (alice["userId"].clone(), alice["state"].clone()),
        (json!("alice"), json!("authenticated"))
    );
    assert!(alice["authenticatedAt"].as_u64().unwrap() >= alice["connectedAt"].as_u64().unwrap());
    assert_eq!(by_id(&b)["userId"], "bob");
    // Oldest first.
    assert_eq!(list[0]["state"], "pending");
    waiting.close().await;
    a.close().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = h.main.connections(&r).await;
        let ids: Vec<Value> = v["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["connectionId"].clone())
            .collect();
        if ids == vec![json!(b.connection_id)] {
            break;
        }
        assert!(Instant::now() < deadline, "never only bob: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The same rules as the other room endpoints.
    let path = format!("/api/rooms/{r}/connections");
    assert_gated(&h.main, &path, reqwest::Method::GET).await;
    let bad = format!("{}/api/rooms/a%2Fb/connections", h.main.origin);
    let resp = h
        .main
        .http
        .get(&bad)
        .bearer_auth(WEBHOOK_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}
