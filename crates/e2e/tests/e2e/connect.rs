//! Connecting: routes, upgrade, room ids, `/healthz`, assets.

use crate::support::{joined, room};
use e2e::runner::{Hubs, Test};
use e2e::tests;
use e2e::Client;
use serde_json::Value;

pub fn tests() -> Vec<Test> {
    tests![
        healthz_answers_json,
        both_room_urls_reach_the_rooms_durable_object,
        connection_ids_are_random_128_bit_base64url,
        plain_http_to_a_room_gets_426,
        invalid_room_ids_get_400,
        static_assets_are_served,
    ]
}

async fn healthz_answers_json(h: Hubs) {
    let r = h
        .main
        .http
        .get(format!("{}/healthz", h.main.origin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["ok"], true);
    e2e::spec::check_api_response(200, "http/health-response.json", &v);
}

/// The room's DO answers auth only if the upgrade really reached it and the
/// backend check ran: `auth:ok` proves the whole pipe.
async fn both_room_urls_reach_the_rooms_durable_object(h: Hubs) {
    let r = room("urls");
    let mut by_path = Client::connect(&h.main.room_url(&r)).await;
    by_path.auth(&r, "dev:alice", None).await;
    let query_url = format!("{}/rooms?room={}", h.main.ws_origin, r);
    let mut by_query = Client::connect(&query_url).await;
    by_query.auth(&r, "dev:bob", None).await;
    // Same room, same DO: a typing event crosses from one URL form to the other.
    by_path
        .send_text(r#"{"type":"typing","isTyping":true}"#)
        .await;
    let v = by_query.recv().await;
    assert_eq!(
        v,
        serde_json::json!({"type":"typing","userId":"alice","isTyping":true})
    );
    // And a room id with ':' percent-encoded in the path is the same room as the plain one.
    let colon = room("team:1");
    let mut enc = Client::connect(&h.main.room_url(&colon.replace(':', "%3A"))).await;
    enc.auth(&colon, "dev:carol", None).await;
}

async fn connection_ids_are_random_128_bit_base64url(h: Hubs) {
    let r = room("ids");
    let mut seen = std::collections::HashSet::new();
    for i in 0..5 {
        let c = joined(&h.main, &r, &format!("u{i}")).await;
        let id = c.connection_id.clone().unwrap();
        assert!(id.len() >= 22, "{id}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{id}"
        );
        assert!(seen.insert(id));
    }
}

async fn plain_http_to_a_room_gets_426(h: Hubs) {
    for path in ["/rooms/plain", "/rooms?room=plain"] {
        let r = h
            .main
            .http
            .get(format!("{}{path}", h.main.origin))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 426, "{path}");
        let v: Value = r.json().await.unwrap();
        e2e::spec::check_api_response(426, "", &v);
        assert_eq!(v["error"]["code"], "upgrade_required");
    }
}

async fn invalid_room_ids_get_400(h: Hubs) {
    let long = "x".repeat(129);
    let cases = [
        "/rooms".to_string(),
        "/rooms?room=".to_string(),
        "/rooms?room=..".to_string(),
        "/rooms?room=a%2Fb".to_string(),
        "/rooms?room=a%20b".to_string(),
        "/rooms/a%2Fb".to_string(),
        "/rooms/a%23b".to_string(),
        "/rooms/a%3Fb".to_string(),
        "/rooms/a/b".to_string(),
        format!("/rooms/{long}"),
        "/rooms/%C3%A9".to_string(),
    ];
    for path in cases {
        let url = format!("{}{path}", h.main.origin);
        let r = h
            .main
            .http
            .get(&url)
            .header("Upgrade", "websocket")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{path}");
        let v: Value = r.json().await.unwrap();
        e2e::spec::check_api_response(400, "", &v);
        assert_eq!(v["error"]["code"], "invalid_room_id", "{path}");
        // The WebSocket handshake is refused too.
        assert!(
            Client::try_connect(&format!("{}{path}", h.main.ws_origin))
                .await
                .is_err(),
            "{path}"
        );
    }
    // None of these reached the backend.
    assert!(h
        .main
        .backend
        .state
        .requests()
        .iter()
        .all(|r| !r.path.contains("%2F") && !r.path.contains("a%20b")));
}

async fn static_assets_are_served(h: Hubs) {
    let r = h
        .main
        .http
        .get(format!("{}/", h.main.origin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("Nativor Chat Worker"));
}
