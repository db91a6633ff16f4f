//! The participants check the hub calls, answered by the development token scheme
//! (see the table in `lib.rs`), and the count the benchmark reads.

use crate::{AppState, BenchMode};
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

pub(crate) fn user(user_id: &str) -> Response {
    Json(json!({ "userId": user_id })).into_response()
}

/// The user of a `dev:<userId>` or `dev:<userId>:ttl=<seconds>` token, and the
/// token's lifetime in seconds when it has one.
pub fn dev_user(token: &str) -> Option<(&str, Option<u64>)> {
    // A personal channel's watchlist is no part of the user.
    let (token, _) = crate::personal::split_watch(token);
    let rest = token.strip_prefix("dev:")?;
    match rest.rsplit_once(":ttl=") {
        Some((user, ttl)) => ttl.parse().ok().map(|ttl| (user, Some(ttl))),
        None => Some((rest, None)),
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What the development token scheme answers for `token`.
pub async fn answer_for_token(token: Option<&str>) -> Response {
    let token = token.unwrap_or("");
    if let Some((u, ttl)) = dev_user(token) {
        return match ttl {
            Some(ttl) => {
                let expires_at = now_ms().saturating_add(ttl.saturating_mul(1000));
                Json(json!({ "userId": u, "expiresAt": expires_at })).into_response()
            }
            None => user(u),
        };
    }
    if token == "anon" {
        return Json(json!({})).into_response();
    }
    if token.starts_with("deny:") {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({ "error": "not a participant" })),
        )
            .into_response();
    }
    if let Some(code) = token.strip_prefix("status:") {
        let status = code.parse().ok().and_then(|c| StatusCode::from_u16(c).ok());
        let status = status.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, "scripted").into_response();
        if status.is_redirection() {
            if let Ok(v) = "http://127.0.0.1:9/elsewhere".parse() {
                resp.headers_mut().insert(header::LOCATION, v);
            }
        }
        return resp;
    }
    if let Some(rest) = token.strip_prefix("slow:") {
        let (ms, u) = rest.split_once(':').unwrap_or((rest, "slow-user"));
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(1000))).await;
        return user(u);
    }
    if let Some(u) = token.strip_prefix("text:") {
        let _ = u;
        return (StatusCode::OK, "yes, a participant").into_response();
    }
    if let Some(u) = token.strip_prefix("huge:") {
        let padding = "x".repeat(1024 * 1024);
        return Json(json!({ "userId": u, "padding": padding })).into_response();
    }
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "error": "unknown token" })),
    )
        .into_response()
}

pub(crate) async fn participants_check(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.record(&method, &uri, &headers, &body);
    state
        .checks
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let token = bearer(&headers);
    if let Some(user) = token.and_then(|t| t.strip_prefix("bench:")) {
        return bench_check(&state, user).await;
    }
    if let Some((user, _)) = token.and_then(dev_user) {
        let removed = state
            .removed
            .lock()
            .map(|r| r.contains(&(room.clone(), user.to_owned())))
            .unwrap_or(false);
        if removed {
            return (
                StatusCode::FORBIDDEN,
                Json(json!({ "error": "removed from this room" })),
            )
                .into_response();
        }
        state.seen_in(&room, user);
    }
    answer_for_token(token).await
}

/// A `bench:` check: queued behind the bench mode's concurrency, then its cost.
pub(crate) async fn bench_check(state: &AppState, user: &str) -> Response {
    let BenchMode {
        cost_ms,
        concurrency,
    } = state.options.bench;
    if concurrency == 0 {
        return self::user(user);
    }
    let Ok(_permit) = state.bench_gate.acquire().await else {
        return (StatusCode::SERVICE_UNAVAILABLE, "closed").into_response();
    };
    tokio::time::sleep(Duration::from_millis(cost_ms)).await;
    self::user(user)
}

/// `GET /api/dev/stats`: how many participants checks arrived (the benchmark reads it).
pub(crate) async fn dev_stats(State(state): State<Arc<AppState>>) -> Response {
    let checks = state.checks.load(std::sync::atomic::Ordering::Relaxed);
    Json(json!({ "checks": checks })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn dev_tokens_may_carry_a_lifetime() {
        assert_eq!(dev_user("dev:ann"), Some(("ann", None)));
        assert_eq!(dev_user("dev:team:1"), Some(("team:1", None)));
        assert_eq!(dev_user("dev:ann:ttl=5"), Some(("ann", Some(5))));
        assert_eq!(dev_user("dev:ann:ttl=soon"), None);
        assert_eq!(dev_user("anon"), None);
    }

    #[tokio::test]
    async fn a_ttl_token_expires_that_many_seconds_from_now() {
        let before = now_ms();
        let resp = answer_for_token(Some("dev:ann:ttl=30")).await;
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["userId"], "ann");
        let at = body["expiresAt"].as_u64().unwrap();
        assert!((before + 30_000..=now_ms() + 30_000).contains(&at), "{at}");
    }
}
