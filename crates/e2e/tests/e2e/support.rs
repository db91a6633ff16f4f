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

/// A backend endpoint's gate: `method` without the token is 401; the other method
/// (GET for a POST endpoint, POST for a GET one) with the token is 405 with
/// `Allow: <method>`; neither answer carries CORS headers.
pub async fn assert_gated(hub: &Hub, path: &str, method: reqwest::Method) {
    let url = format!("{}{path}", hub.origin);
    let no_cors = |resp: &reqwest::Response| {
        assert!(
            resp.headers()
                .keys()
                .all(|k| !k.as_str().starts_with("access-control-")),
            "{path} sent CORS headers"
        )
    };
    let resp = hub
        .http
        .request(method.clone(), &url)
        .body("{}")
        .send()
        .await
        .expect("request without a token");
    assert_eq!(
        resp.status().as_u16(),
        401,
        "{method} {path} without a token"
    );
    no_cors(&resp);
    let other = if method == reqwest::Method::GET {
        reqwest::Method::POST
    } else {
        reqwest::Method::GET
    };
    let resp = hub
        .http
        .request(other.clone(), &url)
        .bearer_auth(WEBHOOK_TOKEN)
        .send()
        .await
        .expect("request with another method");
    assert_eq!(resp.status().as_u16(), 405, "{other} {path}");
    assert_eq!(resp.headers()["allow"], method.as_str(), "{other} {path}");
    no_cors(&resp);
}

/// A socket in `room`, authenticated as `user` with a development token.
pub async fn joined(hub: &Hub, room: &str, user: &str) -> Client {
    let mut c = Client::connect(&hub.room_url(room)).await;
    c.auth(room, &format!("dev:{user}"), None).await;
    c
}
