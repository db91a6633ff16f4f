//! The backend's own side of the loop: storing a message and publishing it through the
//! hub's broadcast, and removing a participant through the hub's disconnect.

use crate::checks::{bearer, dev_user};
use crate::{AppState, StoredMessage};
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// `DELETE /api/v1/message-rooms/:roomId/participants/:userId` (`Bearer dev:<anyone>`):
/// removes the participant (its checks for this room answer 403 from now on) and takes
/// its live connections away through the hub's disconnect endpoint: the reference for
/// the backend team's own "remove participant".
pub(crate) async fn remove_participant(
    State(state): State<Arc<AppState>>,
    Path((room, user)): Path<(String, String)>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Response {
    state.record(&method, &uri, &headers, &[]);
    if !bearer(&headers).is_some_and(|t| t.starts_with("dev:")) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "use Bearer dev:<userId>" })),
        )
            .into_response();
    }
    if let Ok(mut removed) = state.removed.lock() {
        removed.insert((room.clone(), user.clone()));
    }
    let sent = state
        .http
        .post(format!(
            "{}/api/rooms/{room}/disconnect",
            state.options.hub_origin
        ))
        .bearer_auth(&state.options.webhook_token)
        .json(&json!({ "userIds": [user], "reason": "removed" }))
        .send()
        .await;
    let hub: Value = match sent {
        Ok(resp) => resp.json().await.unwrap_or(Value::Null),
        Err(_) => json!({ "success": false, "error": "hub unreachable" }),
    };
    Json(json!({ "removed": user, "hub": hub })).into_response()
}

#[derive(Deserialize)]
struct NewMessage {
    text: String,
    #[serde(rename = "connectionId")]
    connection_id: Option<String>,
}

pub(crate) async fn create_message(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.record(&method, &uri, &headers, &body);
    let Some((user_id, _)) = bearer(&headers).and_then(dev_user) else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "use Bearer dev:<userId>" })),
        )
            .into_response();
    };
    let Ok(new) = serde_json::from_slice::<NewMessage>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "expected {\"text\":…}" })),
        )
            .into_response();
    };
    state.seen_in(&room, user_id);
    let message = {
        let Ok(mut messages) = state.messages.lock() else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let m = StoredMessage {
            id: format!("m{}", messages.len() + 1),
            room_id: room.clone(),
            user_id: user_id.to_owned(),
            text: new.text,
        };
        messages.push(m.clone());
        m
    };
    // The integration loop: publish to the room, excluding the sender's own socket,
    // which already shows the message it sent.
    let created = json!({
        "type": "message.created",
        "id": message.id,
        "conversationId": message.room_id,
        "userId": message.user_id,
        "preview": message.text,
    });
    let broadcast = json!({
        "roomId": room,
        "message": created,
        "excludeConnectionIds": new.connection_id.into_iter().collect::<Vec<_>>(),
        // A retry of this call (after a timeout, say) can never show the message twice.
        // Ids restart with the process, so the key carries when this process started.
        "idempotencyKey": format!("message.created:{}:{}", boot_ms(), message.id),
    });
    let sent = state
        .http
        .post(format!("{}/api/broadcast", state.options.hub_origin))
        .bearer_auth(&state.options.webhook_token)
        .json(&broadcast)
        .send()
        .await;
    let hub: Value = match sent {
        Ok(resp) => resp.json().await.unwrap_or(Value::Null),
        Err(_) => json!({ "success": false, "error": "hub unreachable" }),
    };
    // The conversation list of everyone in the room: their personal channels.
    let id = format!("{}:{}", boot_ms(), message.id);
    crate::personal::publish_to_participants(&state, &room, &created, &id).await;
    (
        StatusCode::CREATED,
        Json(json!({ "message": message, "broadcast": hub })),
    )
        .into_response()
}

/// When this process started (Unix ms), fixed at the first call.
fn boot_ms() -> u128 {
    static BOOT: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    *BOOT.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    })
}

pub(crate) async fn list_messages(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
) -> Response {
    let list: Vec<StoredMessage> = state
        .messages()
        .into_iter()
        .filter(|m| m.room_id == room)
        .collect();
    Json(json!({ "messages": list })).into_response()
}
