//! Helpers shared by the end-to-end tests.

use e2e::{Client, Hub};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub const WEBHOOK_TOKEN: &str = "e2e-webhook-token-7f3a9c";

/// A room id no other test (or earlier run) uses.
pub fn room(name: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    format!("{name}-{t}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// A backend call: `POST {origin}{path}` with the webhook token and `body`. The answer
/// carries no CORS headers and matches `spec/schemas/http/<schema>` (or the error
/// shape); returns (status, JSON body).
pub async fn backend_post(hub: &Hub, path: &str, body: String, schema: &str) -> (u16, Value) {
    let resp = hub
        .http
        .post(format!("{}{path}", hub.origin))
        .bearer_auth(WEBHOOK_TOKEN)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("backend request");
    let status = resp.status().as_u16();
    assert!(
        resp.headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-")),
        "{path} sent CORS headers"
    );
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    e2e::spec::check_api_response(status, schema, &v);
    (status, v)
}

/// A socket in `room`, authenticated as `user` with a development token.
pub async fn joined(hub: &Hub, room: &str, user: &str) -> Client {
    let mut c = Client::connect(&hub.room_url(room)).await;
    c.auth(room, &format!("dev:{user}"), None).await;
    c
}
