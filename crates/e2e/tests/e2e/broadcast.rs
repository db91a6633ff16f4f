//! `POST /api/broadcast`: authentication, validation, delivery with exclusion.

use crate::support::{assert_gated, backend_post, joined, room, WEBHOOK_TOKEN};
use e2e::runner::{Hubs, Test};
use e2e::tests;
use e2e::Client;
use serde_json::{json, Value};
use std::time::Duration;

pub fn tests() -> Vec<Test> {
    tests![
        broadcast_requires_the_webhook_token,
        broadcast_validates_method_body_and_size,
        broadcast_has_no_cors,
        broadcast_delivers_verbatim_to_authenticated_sockets_except_excluded,
        backend_message_loop_excludes_the_sender,
        unconfigured_hub_refuses_every_broadcast,
        broadcast_targets_user_ids_together_with_exclusions,
        a_repeated_idempotency_key_delivers_nothing_even_after_hibernation,
        the_hubs_own_frame_types_cannot_be_broadcast,
        a_batch_reaches_many_rooms_and_each_entry_fails_alone,
        a_batch_envelope_is_validated_as_a_whole,
        a_batch_entry_over_a_single_broadcasts_limit_fails_alone,
    ]
}

async fn post(h: &e2e::Hub, auth: Option<&str>, body: String) -> (u16, Value) {
    let mut req = h
        .http
        .post(format!("{}/api/broadcast", h.origin))
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let resp = req.send().await.unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

fn body(room: &str) -> String {
    json!({"roomId": room, "message": {"type": "x"}}).to_string()
}

async fn broadcast_requires_the_webhook_token(h: Hubs) {
    let r = room("bc-auth");
    let ok = format!("Bearer {WEBHOOK_TOKEN}");
    let short = format!("Bearer {}", &WEBHOOK_TOKEN[..WEBHOOK_TOKEN.len() - 1]);
    let long = format!("Bearer {WEBHOOK_TOKEN}x");
    for auth in [
        None,
        Some("Bearer wrong"),
        Some(short.as_str()),
        Some(long.as_str()),
        Some(WEBHOOK_TOKEN),
        Some("Basic abc"),
    ] {
        let (status, v) = post(&h.main, auth, body(&r)).await;
        assert_eq!(status, 401, "{auth:?}");
        assert_eq!(v["success"], false);
        assert_eq!(v["error"]["code"], "unauthorized");
        assert!(v["error"]["message"].is_string());
    }
    let (status, v) = post(&h.main, Some(&ok), body(&r)).await;
    assert_eq!((status, v), (200, json!({"success": true, "delivered": 0})));
}

async fn broadcast_validates_method_body_and_size(h: Hubs) {
    let auth = format!("Bearer {WEBHOOK_TOKEN}");
    let r = room("bc-valid");
    let cases: Vec<(String, u16, &str, &str)> = vec![
        ("{".into(), 400, "invalid_json", ""),
        ("".into(), 400, "invalid_json", ""),
        ("[]".into(), 400, "invalid_body", "object"),
        (
            json!({"message":{"type":"x"}}).to_string(),
            400,
            "invalid_body",
            "roomId",
        ),
        (
            json!({"roomId":"a/b","message":{"type":"x"}}).to_string(),
            400,
            "invalid_body",
            "roomId",
        ),
        (
            json!({"roomId":r}).to_string(),
            400,
            "invalid_body",
            "message",
        ),
        (
            json!({"roomId":r,"message":"hi"}).to_string(),
            400,
            "invalid_body",
            "message",
        ),
        (
            json!({"roomId":r,"message":{"id":1}}).to_string(),
            400,
            "invalid_body",
            "message.type",
        ),
        (
            json!({"roomId":r,"message":{"type":"x"},"excludeConnectionIds":"c"}).to_string(),
            400,
            "invalid_body",
            "excludeConnectionIds",
        ),
        (
            json!({"roomId":r,"message":{"type":"x","pad":"y".repeat(70_000)}}).to_string(),
            413,
            "payload_too_large",
            "",
        ),
    ];
    for (b, status, code, field) in cases {
        let (got, v) = post(&h.main, Some(&auth), b.clone()).await;
        assert_eq!(got, status, "{}", &b[..b.len().min(80)]);
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(field),
            "{v}"
        );
    }
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let resp = h
            .main
            .http
            .request(method.clone(), format!("{}/api/broadcast", h.main.origin))
            .bearer_auth(WEBHOOK_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 405, "{method}");
        assert_eq!(
            resp.headers().get("allow").and_then(|v| v.to_str().ok()),
            Some("POST")
        );
    }
}

async fn broadcast_has_no_cors(h: Hubs) {
    let url = format!("{}/api/broadcast", h.main.origin);
    let pre = h
        .main
        .http
        .request(reqwest::Method::OPTIONS, &url)
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(!pre.status().is_success());
    let post = h
        .main
        .http
        .post(&url)
        .header("Origin", "https://evil.example")
        .bearer_auth(WEBHOOK_TOKEN)
        .body(body("cors"))
        .send()
        .await
        .unwrap();
    for resp in [&pre, &post] {
        assert!(
            resp.headers()
                .keys()
                .all(|k| !k.as_str().starts_with("access-control-")),
            "{:?}",
            resp.headers()
        );
    }
}

async fn broadcast_delivers_verbatim_to_authenticated_sockets_except_excluded(h: Hubs) {
    let r = room("bc-deliver");
    let mut a = joined(&h.main, &r, "alice").await;
    let mut b = joined(&h.main, &r, "bob").await;
    let mut c = joined(&h.main, &r, "carol").await;
    let mut pending = Client::connect(&h.main.room_url(&r)).await;
    let other_room = room("bc-other");
    let mut other = joined(&h.main, &other_room, "dave").await;

    // Verbatim: key order, spacing inside values and number formatting all survive.
    let message = r#"{"type":"message.created","id":"m123","conversationId":"room-1","preview":"안녕하세요","n":1.50,"z":{"b":1,"a":2}}"#;
    let raw = format!(
        r#"{{"roomId":"{r}","message":{message},"excludeConnectionIds":["{}","not-a-connection"]}}"#,
        a.connection_id.clone().unwrap()
    );
    let (status, v) = post(&h.main, Some(&format!("Bearer {WEBHOOK_TOKEN}")), raw).await;
    assert_eq!((status, v), (200, json!({"success": true, "delivered": 2})));
    for s in [&mut b, &mut c] {
        assert_eq!(
            s.next_text_within(Duration::from_secs(10)).await.as_deref(),
            Some(message)
        );
    }
    a.expect_silence(Duration::from_millis(500)).await;
    pending.expect_silence(Duration::from_millis(100)).await;
    other.expect_silence(Duration::from_millis(100)).await;

    // Without exclusions everyone authenticated gets it.
    let (status, v) = h
        .main
        .broadcast(&json!({"roomId": r, "message": {"type": "all"}}))
        .await;
    assert_eq!((status, v["delivered"].clone()), (200, json!(3)));
    for s in [&mut a, &mut b, &mut c] {
        assert_eq!(s.recv().await, json!({"type": "all"}));
    }
}

/// The dev backend's message endpoint is the reference integration: it stores the
/// message and publishes it excluding the sender's connection.
async fn backend_message_loop_excludes_the_sender(h: Hubs) {
    let r = room("loop");
    let mut a = joined(&h.main, &r, "alice").await;
    let mut b = joined(&h.main, &r, "bob").await;
    let url = format!(
        "{}/api/v1/message-rooms/{r}/messages",
        h.main.backend.origin()
    );
    let resp = h
        .main
        .http
        .post(url)
        .bearer_auth("dev:alice")
        .json(&json!({"text": "hello", "connectionId": a.connection_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["broadcast"], json!({"success": true, "delivered": 1}));
    let got = b.recv().await;
    assert_eq!(got["type"], "message.created");
    assert_eq!(got["preview"], "hello");
    assert_eq!(got["userId"], "alice");
    a.expect_silence(Duration::from_millis(500)).await;
}

async fn unconfigured_hub_refuses_every_broadcast(h: Hubs) {
    let hub = h.unconfigured.expect("the unconfigured hub");
    for auth in [
        None,
        Some("Bearer "),
        Some("Bearer anything"),
        Some("Bearer undefined"),
    ] {
        let (status, v) = post(&hub, auth, body("r")).await;
        assert_eq!(status, 503, "{auth:?}");
        assert_eq!(v["error"]["code"], "not_configured");
    }
}

async fn broadcast_targets_user_ids_together_with_exclusions(h: Hubs) {
    let r = room("targets");
    let mut alice = joined(&h.main, &r, "alice").await;
    let mut alice_tab = joined(&h.main, &r, "alice").await;
    let mut bob = joined(&h.main, &r, "bob").await;
    let mut carol = joined(&h.main, &r, "carol").await;
    let (status, v) = h
        .main
        .broadcast(&json!({
            "roomId": r, "message": {"type": "dm", "n": 1},
            "userIds": ["alice", "carol", "nobody"],
            "excludeConnectionIds": [alice_tab.connection_id],
        }))
        .await;
    assert_eq!((status, v["delivered"].clone()), (200, json!(2)), "{v}");
    assert_eq!(alice.recv().await, json!({"type": "dm", "n": 1}));
    assert_eq!(carol.recv().await, json!({"type": "dm", "n": 1}));
    alice_tab.expect_silence(Duration::from_millis(300)).await;
    bob.expect_silence(Duration::from_millis(100)).await;
    let (status, v) = h
        .main
        .broadcast(&json!({"roomId": r, "message": {"type": "dm"}, "userIds": ["zed"]}))
        .await;
    assert_eq!((status, v["delivered"].clone()), (200, json!(0)));
    let (status, v) = h
        .main
        .broadcast(&json!({"roomId": r, "message": {"type": "dm"}, "userIds": []}))
        .await;
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (400, json!("invalid_body"))
    );
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("userIds"));
}

async fn a_repeated_idempotency_key_delivers_nothing_even_after_hibernation(h: Hubs) {
    let r = room("idempotent");
    let mut a = joined(&h.main, &r, "alice").await;
    let mut b = joined(&h.main, &r, "bob").await;
    let body =
        json!({"roomId": r, "message": {"type": "once"}, "idempotencyKey": "message.created:m1"});
    let (status, first) = h.main.broadcast(&body).await;
    assert_eq!(
        (status, first.clone()),
        (200, json!({"success": true, "delivered": 2}))
    );
    assert_eq!(a.recv().await["type"], "once");
    assert_eq!(b.recv().await["type"], "once");
    let (_, again) = h.main.broadcast(&body).await;
    assert_eq!(
        again,
        json!({"success": true, "delivered": 2, "duplicate": true})
    );
    a.expect_silence(Duration::from_millis(300)).await;
    // Another room: the same key is a different broadcast.
    let other = room("idempotent-other");
    let mut c = joined(&h.main, &other, "carol").await;
    let mut other_body = body.clone();
    other_body["roomId"] = json!(other);
    assert_eq!(h.main.broadcast(&other_body).await.1["delivered"], 1);
    assert_eq!(c.recv().await["type"], "once");
    // After hibernation the key is still known (it is in the room's storage).
    let started = h.main.instance_started_at(&r).await;
    tokio::time::sleep(Duration::from_secs(25)).await;
    let (_, after) = h.main.broadcast(&body).await;
    assert_eq!(
        after,
        json!({"success": true, "delivered": 2, "duplicate": true})
    );
    let woke = h.main.instance_started_at(&r).await;
    assert!(woke > started, "the room never hibernated");
    a.expect_silence(Duration::from_millis(300)).await;
    b.expect_silence(Duration::from_millis(100)).await;
}

async fn the_hubs_own_frame_types_cannot_be_broadcast(h: Hubs) {
    let r = room("reserved");
    let mut a = joined(&h.main, &r, "alice").await;
    for kind in hub_core::protocol::SERVER_FRAME_TYPES {
        let (status, v) = h
            .main
            .broadcast(&json!({"roomId": r, "message": {"type": kind, "connectionId": "forged"}}))
            .await;
        assert_eq!(
            (status, v["error"]["code"].clone()),
            (400, json!("reserved_type")),
            "{kind}"
        );
    }
    a.expect_silence(Duration::from_millis(300)).await;
}

async fn post_batch(h: &e2e::Hub, body: String) -> (u16, Value) {
    backend_post(h, "/api/broadcast/batch", body, "http/batch-response.json").await
}

async fn a_batch_reaches_many_rooms_and_each_entry_fails_alone(h: Hubs) {
    let (r1, r2) = (room("batch-1"), room("batch-2"));
    let mut a = joined(&h.main, &r1, "alice").await;
    let mut b = joined(&h.main, &r2, "bob").await;
    let mut b2 = joined(&h.main, &r2, "bea").await;
    let body = json!({"broadcasts": [
        {"roomId": r1, "message": {"type": "n", "i": 1}},
        {"roomId": r2, "message": {"type": "n", "i": 2}, "userIds": ["bob"], "idempotencyKey": "k2"},
        {"roomId": "bad/room", "message": {"type": "n"}},
        {"roomId": r1, "message": {"type": "auth:ok"}},
        {"roomId": r2, "message": {"type": "n", "i": 2}, "idempotencyKey": "k2"},
    ]});
    let (status, v) = post_batch(&h.main, body.to_string()).await;
    assert_eq!(status, 200, "{v}");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    assert_eq!(
        results[0],
        json!({"roomId": r1, "success": true, "delivered": 1})
    );
    assert_eq!(results[2]["error"]["code"], "invalid_body");
    assert_eq!(results[2]["roomId"], "bad/room");
    assert_eq!(results[3]["error"]["code"], "reserved_type");
    // Entries run in parallel: of the two with key k2, exactly one delivered.
    let keyed = [&results[1], &results[4]];
    assert_eq!(
        keyed.iter().filter(|r| r["duplicate"] == true).count(),
        1,
        "{v}"
    );
    assert!(keyed.iter().all(|r| r["delivered"] == 1), "{v}");
    assert_eq!(a.recv().await, json!({"type": "n", "i": 1}));
    assert_eq!(b.recv().await, json!({"type": "n", "i": 2}));
    b.expect_silence(Duration::from_millis(300)).await;
    b2.expect_silence(Duration::from_millis(100)).await;
}

async fn a_batch_envelope_is_validated_as_a_whole(h: Hubs) {
    for (body, code) in [
        ("nope".to_string(), "invalid_json"),
        (json!({}).to_string(), "invalid_body"),
        (json!({"broadcasts": []}).to_string(), "invalid_body"),
        (
            json!({"broadcasts": vec![json!({"roomId": "r", "message": {"type": "x"}}); 101]})
                .to_string(),
            "invalid_body",
        ),
    ] {
        let (status, v) = post_batch(&h.main, body).await;
        assert_eq!(
            (status, v["error"]["code"].clone()),
            (400, json!(code)),
            "{v}"
        );
    }
    // 16 broadcast bodies' worth of bytes (64 KiB each by default) at most.
    let big = json!({"broadcasts": [{"roomId": "r", "message": {"type": "x", "p": "x".repeat(1100 * 1024)}}]});
    let (status, v) = post_batch(&h.main, big.to_string()).await;
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (413, json!("payload_too_large"))
    );
    assert_gated(&h.main, "/api/broadcast/batch", reqwest::Method::POST).await;
}

/// One entry may not carry more than `/api/broadcast` would take (64 KiB by default),
/// even though the whole batch may be 16 times that: it fails alone.
async fn a_batch_entry_over_a_single_broadcasts_limit_fails_alone(h: Hubs) {
    let r = room("batch-entry");
    let mut a = joined(&h.main, &r, "alice").await;
    let body = json!({"broadcasts": [
        {"roomId": r, "message": {"type": "big", "p": "x".repeat(70 * 1024)}},
        {"roomId": r, "message": {"type": "small"}},
    ]});
    let (status, v) = post_batch(&h.main, body.to_string()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["results"][0]["error"]["code"], "payload_too_large", "{v}");
    assert_eq!(v["results"][0]["roomId"], r.as_str());
    assert_eq!(
        v["results"][1],
        json!({"roomId": r, "success": true, "delivered": 1})
    );
    assert_eq!(a.recv().await["type"], "small");
    a.expect_silence(std::time::Duration::from_millis(300))
        .await;
}
