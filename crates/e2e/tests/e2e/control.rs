//! The backend's control of live connections: `POST /api/rooms/:roomId/disconnect`.

use crate::support::{assert_gated, backend_post, joined, room, WEBHOOK_TOKEN};
use e2e::runner::{Hubs, Test};
use e2e::tests;
use e2e::{Client, Hub};
use serde_json::{json, Value};
use std::time::Duration;

pub fn tests() -> Vec<Test> {
    tests![
        disconnect_removes_every_tab_of_a_user_and_reauths_a_connection,
        disconnect_during_a_check_does_not_admit_the_user,
        disconnect_validates_like_every_backend_endpoint,
        the_dev_backend_removes_a_participant_for_good,
        the_audit_tells_what_happened_newest_first,
        unconfigured_hub_refuses_every_control_endpoint,
    ]
}

async fn disconnect(h: &Hub, room: &str, body: Value) -> (u16, Value) {
    let path = format!("/api/rooms/{room}/disconnect");
    backend_post(h, &path, body.to_string(), "http/disconnect-response.json").await
}

async fn disconnect_removes_every_tab_of_a_user_and_reauths_a_connection(h: Hubs) {
    let r = room("remove");
    let mut tab1 = joined(&h.main, &r, "alice").await;
    let mut tab2 = joined(&h.main, &r, "alice").await;
    let mut bob = joined(&h.main, &r, "bob").await;
    let mut carol = joined(&h.main, &r, "carol").await;
    let (status, v) = disconnect(&h.main, &r, json!({"userIds": ["alice"]})).await;
    assert_eq!(
        (status, v),
        (200, json!({"success": true, "disconnected": 2}))
    );
    tab1.expect_closed_with("removed", 4403).await;
    tab2.expect_closed_with("removed", 4403).await;
    let bob_id = bob.connection_id.clone();
    let (_, v) = disconnect(
        &h.main,
        &r,
        json!({"connectionIds": [bob_id], "reason": "reauth"}),
    )
    .await;
    assert_eq!(v["disconnected"], 1);
    bob.expect_closed_with("reauth_required", 4401).await;
    // Nobody else noticed, and the removed user gets nothing more.
    let (_, v) = h
        .main
        .broadcast(&json!({"roomId": r, "message": {"type": "after"}}))
        .await;
    assert_eq!(v["delivered"], 1);
    assert_eq!(carol.recv().await["type"], "after");
    // reauth: a fresh token gets the user back in.
    joined(&h.main, &r, "bob").await;
}

async fn disconnect_during_a_check_does_not_admit_the_user(h: Hubs) {
    let r = room("remove-race");
    let mut c = Client::connect(&h.main.room_url(&r)).await;
    c.send_json(&json!({"type": "auth", "token": "slow:1500:dave", "roomId": r}))
        .await;
    // The check is in flight (the dev backend answers after 1.5 s).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, v) = disconnect(&h.main, &r, json!({"userIds": ["dave"]})).await;
    assert_eq!((status, v["disconnected"].clone()), (200, json!(0)));
    c.expect_closed_with("removed", 4403).await;
    assert_eq!(h.main.stats(&r).await["authenticated"], 0);
}

async fn disconnect_validates_like_every_backend_endpoint(h: Hubs) {
    let r = room("remove-bad");
    for (body, field) in [
        (json!({}), "userIds, connectionIds"),
        (json!({"userIds": []}), "userIds, connectionIds"),
        (json!({"userIds": "u"}), "userIds"),
        (json!({"connectionIds": [7]}), "connectionIds"),
        (json!({"userIds": ["u"], "reason": "kick"}), "reason"),
    ] {
        let (status, v) = disconnect(&h.main, &r, body).await;
        assert_eq!(
            (status, v["error"]["code"].clone()),
            (400, json!("invalid_body"))
        );
        assert!(
            v["error"]["message"].as_str().unwrap().starts_with(field),
            "{v}"
        );
    }
    let path = format!("/api/rooms/{r}/disconnect");
    assert_gated(&h.main, &path, reqwest::Method::POST).await;
    let (status, v) = disconnect(&h.main, "a%2Fb", json!({"userIds": ["u"]})).await;
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (400, json!("invalid_room_id"))
    );
}

/// The development backend's "remove participant": the other tab is told why, and the
/// removed user cannot come back with the same token.
async fn the_dev_backend_removes_a_participant_for_good(h: Hubs) {
    let r = room("dev-remove");
    let mut alice = joined(&h.main, &r, "alice").await;
    let mut bob = joined(&h.main, &r, "bob").await;
    let resp = h
        .main
        .http
        .delete(format!(
            "{}/api/v1/message-rooms/{r}/participants/bob",
            h.main.backend.origin()
        ))
        .bearer_auth("dev:alice")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["hub"], json!({"success": true, "disconnected": 1}), "{v}");
    bob.expect_closed_with("removed", 4403).await;
    let mut again = Client::connect(&h.main.room_url(&r)).await;
    again
        .send_json(&json!({"type": "auth", "token": "dev:bob", "roomId": r}))
        .await;
    again.expect_closed_with("unauthorized", 4401).await;
    alice.send_text(r#"{"type":"ping","t":1}"#).await;
    assert_eq!(alice.recv().await, json!({"type": "pong", "t": 1}));
}

async fn audit(h: &Hub, room: &str, query: &str) -> (u16, Value) {
    let resp = h
        .http
        .get(format!("{}/api/rooms/{room}/audit{query}", h.origin))
        .bearer_auth(WEBHOOK_TOKEN)
        .send()
        .await
        .expect("audit request");
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    e2e::spec::check_api_response(status, "http/audit-response.json", &v);
    (status, v)
}

async fn the_audit_tells_what_happened_newest_first(h: Hubs) {
    let r = room("audit");
    let alice = joined(&h.main, &r, "alice").await;
    let mut denied = Client::connect(&h.main.room_url(&r)).await;
    denied
        .send_json(&json!({"type": "auth", "token": "deny:x", "roomId": r}))
        .await;
    denied.expect_closed_with("unauthorized", 4401).await;
    let mut bob = joined(&h.main, &r, "bob").await;
    disconnect(&h.main, &r, json!({"userIds": ["bob"]})).await;
    bob.expect_closed_with("removed", 4403).await;
    alice.close().await;
    // The close event reaches the room shortly after the client's close frame.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let events = loop {
        let (status, v) = audit(&h.main, &r, "").await;
        assert_eq!(status, 200, "{v}");
        let events = v["events"].as_array().unwrap().clone();
        if events.first().is_some_and(|e| e["event"] == "closed") {
            break events;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no close recorded: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let trail: Vec<(String, Value, Value)> = events
        .iter()
        .rev()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_owned(),
                e["userId"].clone(),
                e["detail"].clone(),
            )
        })
        .collect();
    let step = |event: &str, user: Value, detail: Value| (event.to_owned(), user, detail);
    assert_eq!(
        trail,
        [
            step("connected", Value::Null, Value::Null),
            step("authenticated", json!("alice"), Value::Null),
            step("connected", Value::Null, Value::Null),
            step("refused", Value::Null, json!("unauthorized")),
            step("connected", Value::Null, Value::Null),
            step("authenticated", json!("bob"), Value::Null),
            step("disconnected", json!("bob"), json!("removed")),
            // The test client closes without a code: the runtime reports 1005.
            step("closed", json!("alice"), json!("1005")),
        ]
    );
    assert!(events
        .windows(2)
        .all(|w| w[0]["at"].as_u64() >= w[1]["at"].as_u64()));
    let (_, v) = audit(&h.main, &r, "?limit=2").await;
    assert_eq!(v["events"].as_array().unwrap().len(), 2);
    let (status, v) = audit(&h.main, &r, "?limit=0").await;
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (400, json!("invalid_query"))
    );
    assert_gated(
        &h.main,
        &format!("/api/rooms/{r}/audit"),
        reqwest::Method::GET,
    )
    .await;
}

/// Without `WEBHOOK_TOKEN` every backend endpoint fails closed: 503 `not_configured`.
async fn unconfigured_hub_refuses_every_control_endpoint(h: Hubs) {
    let hub = h.unconfigured.expect("the unconfigured hub");
    let r = room("unconfigured-control");
    let calls = [
        (reqwest::Method::POST, "/api/broadcast/batch".to_string()),
        (reqwest::Method::POST, format!("/api/rooms/{r}/disconnect")),
        (reqwest::Method::GET, format!("/api/rooms/{r}/connections")),
        (reqwest::Method::GET, format!("/api/rooms/{r}/audit")),
    ];
    for (method, path) in calls {
        let resp = hub
            .http
            .request(method, format!("{}{path}", hub.origin))
            .bearer_auth(WEBHOOK_TOKEN)
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(
            (status, v["error"]["code"].clone()),
            (503, json!("not_configured")),
            "{path}"
        );
    }
}
