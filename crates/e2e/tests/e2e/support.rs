//! Helpers shared by the end-to-end tests.

use e2e::{Client, Hub};
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

/// A socket in `room`, authenticated as `user` with a development token.
pub async fn joined(hub: &Hub, room: &str, user: &str) -> Client {
    let mut c = Client::connect(&hub.room_url(room)).await;
    c.auth(room, &format!("dev:{user}"), None).await;
    c
}
