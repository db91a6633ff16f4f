//! Personal channels' side of the development backend: the sessions check the hub
//! calls for `/users/:userId`, the watchlists it answers with, and who shares a room
//! (for those watchlists and for publishing `conversation:updated` to everyone in a
//! room).
//!
//! Tokens are the participants check's (`dev:<userId>`, `deny:…`, …), with an optional
//! last part `:watch=<id>,<id>,…` that gives the watchlist exactly (possibly empty:
//! `:watch=`). Without it, the watchlist is the demo's users and everyone who shares a
//! room with the user.

use crate::checks::{answer_for_token, bearer};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Most users one watchlist names (the hub refuses more).
const MAX_WATCH: usize = 1_024;

/// The demo page's users (`public/index.html`).
const DEMO_USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];

/// A token without its `:watch=` part, and that part's ids, if it had one.
pub fn split_watch(token: &str) -> (&str, Option<Vec<&str>>) {
    match token.split_once(":watch=") {
        Some((rest, "")) => (rest, Some(Vec::new())),
        Some((rest, ids)) => (rest, Some(ids.split(',').collect())),
        None => (token, None),
    }
}

impl AppState {
    /// `user` takes part in `room` (a participants check admitted them, or they wrote).
    pub(crate) fn seen_in(&self, room: &str, user: &str) {
        if let Ok(mut rooms) = self.rooms.lock() {
            rooms
                .entry(room.to_owned())
                .or_default()
                .insert(user.to_owned());
        }
    }

    /// Everyone known to take part in `room`.
    pub(crate) fn participants(&self, room: &str) -> Vec<String> {
        let rooms = self.rooms.lock();
        rooms
            .ok()
            .and_then(|r| r.get(room).map(|u| u.iter().cloned().collect()))
            .unwrap_or_default()
    }

    /// The default watchlist: the demo's users and everyone who shares a room with
    /// `user`, but `user`. The demo's users are there from the start: a watchlist is read
    /// when the personal channel authenticates, so "who shares a room" alone would leave
    /// out whoever joins one later.
    fn default_watchlist(&self, user: &str) -> Vec<String> {
        let mut users: BTreeSet<String> = DEMO_USERS
            .iter()
            .filter(|u| **u != user)
            .map(|u| u.to_string())
            .collect();
        let Ok(rooms) = self.rooms.lock() else {
            return users.into_iter().collect();
        };
        for members in rooms.values().filter(|m| m.contains(user)) {
            users.extend(members.iter().filter(|u| *u != user).cloned());
        }
        users.into_iter().take(MAX_WATCH).collect()
    }
}

/// `POST /api/v1/users/:userId/sessions/check`: the participants check's token scheme,
/// plus `watch` on a 200.
pub(crate) async fn sessions_check(
    State(state): State<Arc<AppState>>,
    Path(user): Path<String>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.record(&method, &uri, &headers, &body);
    let (token, listed) = match bearer(&headers) {
        Some(t) => split_watch(t),
        None => ("", None),
    };
    let answer = if let Some(u) = token.strip_prefix("bench:") {
        crate::checks::bench_check(&state, u).await
    } else {
        answer_for_token(Some(token)).await
    };
    if answer.status() != StatusCode::OK {
        return answer;
    }
    let (parts, bytes) = answer.into_parts();
    let Ok(bytes) = axum::body::to_bytes(bytes, 4 << 20).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    // Bodies that are not a JSON object (`text:`) go back as they came.
    let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    let watch: Vec<String> = match listed {
        Some(ids) => ids.into_iter().map(str::to_owned).collect(),
        None => state.default_watchlist(&user),
    };
    fields.insert("watch".into(), json!(watch));
    Json(Value::Object(fields)).into_response()
}

/// After a message is stored in `room`: `conversation:updated` to the personal channel
/// of everyone in the room (the sender's other devices too), once per message. A
/// failure is logged without content and changes nothing else.
pub(crate) async fn publish_to_participants(
    state: &AppState,
    room: &str,
    message: &Value,
    id: &str,
) {
    let users = state.participants(room);
    if users.is_empty() {
        return;
    }
    let body = json!({
        "userIds": users,
        "message": {
            "type": "conversation:updated",
            "roomId": room,
            "message": message,
            "at": crate::checks::now_ms(),
        },
        "idempotencyKey": format!("conversation:{id}"),
    });
    let sent = state
        .http
        .post(format!("{}/api/users/broadcast", state.options.hub_origin))
        .bearer_auth(&state.options.webhook_token)
        .json(&body)
        .send()
        .await;
    match sent {
        Ok(resp) if resp.status().is_success() => {}
        Ok(resp) => eprintln!(
            "publishing to personal channels: the hub answered {}",
            resp.status()
        ),
        Err(_) => eprintln!("publishing to personal channels: the hub is unreachable"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_default_watchlist_is_the_demo_and_who_shares_a_room() {
        let backend = crate::start(
            "127.0.0.1:0".parse().unwrap(),
            crate::Options {
                hub_origin: "http://127.0.0.1:9".into(),
                webhook_token: "t".into(),
                bench: Default::default(),
            },
        )
        .await
        .unwrap();
        backend.state.seen_in("r1", "zed");
        backend.state.seen_in("r1", "alice");
        backend.state.seen_in("r2", "yan");
        let check = |token: &'static str, user: &'static str| {
            let url = format!("{}/api/v1/users/{user}/sessions/check", backend.origin());
            async move {
                let resp = reqwest::Client::new()
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"userId": user, "connectionId": "c"}))
                    .send()
                    .await
                    .unwrap();
                (
                    resp.status().as_u16(),
                    resp.json::<Value>().await.unwrap_or(Value::Null),
                )
            }
        };
        let (status, body) = check("dev:alice", "alice").await;
        assert_eq!(status, 200);
        assert_eq!(body["watch"], json!(["bob", "carol", "dave", "zed"]));
        let (_, body) = check("dev:alice:watch=yan", "alice").await;
        assert_eq!(body["watch"], json!(["yan"]));
        let (_, body) = check("dev:mallory", "alice").await;
        assert_eq!(
            body["userId"], "mallory",
            "the hub refuses it as identity_changed"
        );
        let (status, _) = check("deny:x", "alice").await;
        assert_eq!(status, 403);
        let recorded = backend.state.requests();
        assert_eq!(recorded.len(), 4);
        assert_eq!(recorded[0].path, "/api/v1/users/alice/sessions/check");
    }

    #[test]
    fn a_watch_suffix_lists_exactly_its_ids() {
        assert_eq!(split_watch("dev:ann"), ("dev:ann", None));
        assert_eq!(split_watch("dev:ann:watch="), ("dev:ann", Some(vec![])));
        assert_eq!(
            split_watch("dev:ann:ttl=5:watch=b,c"),
            ("dev:ann:ttl=5", Some(vec!["b", "c"]))
        );
        assert_eq!(
            crate::dev_user("dev:ann:ttl=5:watch=b"),
            Some(("ann", Some(5)))
        );
        assert_eq!(crate::dev_user("dev:ann:watch=b"), Some(("ann", None)));
    }
}
