//! The backend's endpoints on users' personal channels (`/api/users/...`), token-gated
//! like the room endpoints. Each body is validated once (`hub_core::personal::api`),
//! then each user's object gets one internal request, all at once.

use crate::http::{ask, backend_call, backend_post, max_broadcast_bytes};
use crate::respond::{error, json_response};
use futures_util::future::join_all;
use hub_core::channel::Channel;
use hub_core::internal::broadcast::Sent;
use hub_core::internal::personal::{State, UserState};
use hub_core::internal::{Delivery, Internal, Kind};
use hub_core::personal::api::{self, StatusAnswer, UserStatus, UsersSent};
use hub_core::personal::fan::{self, UserSent};
use hub_core::personal::user_channel::{UserChannel, UserChannelError};
use wasm_bindgen_futures::JsFuture;
use worker::{web_sys, Env, Result};

/// `POST /api/users/broadcast`: every personal socket of every listed user gets the
/// message verbatim; keys are kept per user object (`personal::fan`).
pub async fn broadcast(raw: web_sys::Request, env: &Env) -> Result<web_sys::Response> {
    let text = match backend_post(&raw, env, max_broadcast_bytes(env)).await? {
        Ok(text) => text,
        Err(answer) => return Ok(answer),
    };
    let parsed = match api::parse_broadcast(&text) {
        Ok(b) => b,
        Err(e) => return error(400, e.code(), &e.message()).map(Into::into),
    };
    let delivery = Internal::Broadcast(Delivery {
        message: parsed.message.get(),
        exclude: parsed.exclude,
        user_ids: None,
        idempotency_key: parsed.idempotency_key,
    });
    let channels = parsed.users.into_iter().map(Channel::User).collect();
    // A user's object that did not answer reached nobody, and is no duplicate.
    let answers: Vec<UserSent> = ask_all(env, channels, &delivery)
        .await
        .into_iter()
        .map(|text| {
            let sent = text.and_then(|t| serde_json::from_str::<Sent>(&t).ok());
            UserSent {
                delivered: sent.map_or(0, |s| s.delivered),
                duplicate: sent.is_some_and(|s| s.duplicate),
            }
        })
        .collect();
    let (delivered, duplicate) = fan::total(&answers);
    json_response(
        200,
        &serde_json::to_string(&UsersSent {
            success: true,
            delivered,
            duplicate,
        })
        .unwrap_or_default(),
    )
}

/// `POST /api/users/status`: each user's state, in request order.
pub async fn status(raw: web_sys::Request, env: &Env) -> Result<web_sys::Response> {
    let text = match backend_post(&raw, env, max_broadcast_bytes(env)).await? {
        Ok(text) => text,
        Err(answer) => return Ok(answer),
    };
    let users = match api::parse_status(&text) {
        Ok(users) => users,
        Err(e) => return error(400, e.code(), &e.message()).map(Into::into),
    };
    let channels = users.iter().cloned().map(Channel::User).collect();
    let states = ask_all(env, channels, &Internal::State(State)).await;
    let mut answer = Vec::with_capacity(users.len());
    for (user, state) in users.into_iter().zip(states) {
        let Some(state) = state.and_then(|t| serde_json::from_str::<UserState>(&t).ok()) else {
            return error(500, "internal", "a user's object did not answer").map(Into::into);
        };
        answer.push(UserStatus {
            user_id: user.as_str().to_owned(),
            online: state.online,
            connections: state.connections,
        });
    }
    let body = StatusAnswer {
        success: true,
        users: answer,
    };
    json_response(200, &serde_json::to_string(&body).unwrap_or_default())
}

/// `POST /api/users/:userId/disconnect` and `GET /api/users/:userId/connections`,
/// answered by the user's object as a room answers its own. Judged in this order:
/// the method, the token, the body's size, the user id, then the request itself.
pub async fn endpoint(
    kind: Kind,
    raw: web_sys::Request,
    env: &Env,
    user: std::result::Result<UserChannel, UserChannelError>,
) -> Result<web_sys::Response> {
    let body = match backend_call(kind, &raw, env).await? {
        Ok(body) => body,
        Err(answer) => return Ok(answer),
    };
    let user = match user {
        Ok(u) => u,
        Err(e) => return error(400, "invalid_user_id", e.message()).map(Into::into),
    };
    let request = match kind {
        Kind::Disconnect => match api::parse_disconnect(&user, &body) {
            Ok(d) => Internal::Disconnect(d),
            Err(e) => return error(400, e.code(), &e.message()).map(Into::into),
        },
        _ => Internal::Connections(hub_core::internal::connections::Connections),
    };
    ask(env, &Channel::User(user), &request).await
}

/// One internal request to each of `channels`' objects, all at once; each 200 answer's
/// text, in order (`None` for anything else).
async fn ask_all(env: &Env, channels: Vec<Channel>, request: &Internal<'_>) -> Vec<Option<String>> {
    join_all(
        channels
            .iter()
            .map(|c| async move { answer_text(ask(env, c, request).await).await }),
    )
    .await
}

/// A 200 answer's text; `None` for anything else.
async fn answer_text(answer: Result<web_sys::Response>) -> Option<String> {
    let response = answer.ok()?;
    if response.status() != 200 {
        return None;
    }
    JsFuture::from(response.text().ok()?)
        .await
        .ok()?
        .as_string()
}
