//! The public HTTP surface of the Worker: room and personal-channel upgrades,
//! `/api/broadcast` and its batch, the room endpoints (stats, connections, disconnect,
//! audit), the users' endpoints (`users_api`), `/healthz`, and JSON errors. Validates
//! the backend's bodies once (in `hub_core`) and hands each object one internal
//! request; decides nothing about the protocol itself.

use crate::net::{read_bounded, ReadError};
use crate::placement::PLACE_HEADER;
use crate::respond::{error, json_response, respond, respond_later};
use crate::shards::{internal_request, stub};
use crate::users_api;
use crate::vars::config_from_env;
use futures_util::future::join_all;
use hub_core::batch;
use hub_core::bearer;
use hub_core::broadcast;
use hub_core::channel::Channel;
use hub_core::internal::ORIGIN;
use hub_core::internal::{broadcast::Sent, Internal, Kind, Method as RoomMethod};
use hub_core::room_id::{RoomId, RoomIdError};
use hub_core::routes::{route_of, split_url, Route};
use hub_core::shard::naming::{join_path, object_name};
use serde_json::json;
use worker::js_sys::Uint8Array;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{web_sys, Env, Request, Response, Result};

/// The Worker's entry (exported as `fetch` in `lib.rs`). A room upgrade is handed to
/// the room's first Durable Object. The hot paths (upgrades, broadcasts) stay on the
/// runtime's request and response objects: converting to workers-rs types copies
/// headers and reads `request.cf`, which a perf profile of the handshake showed costing
/// as much as the routing itself.
pub fn entry(raw: web_sys::Request, env: Env) -> JsValue {
    let route = route_of(&raw.url());
    // A personal channel is one object, named for its user.
    if let (Route::User(Ok(user)), true) = (&route, is_upgrade(&raw)) {
        let object = Channel::User(user.clone()).key();
        return match stub(&env, &object).and_then(|stub| Ok(stub.fetch_with_request(&raw)?)) {
            Ok(promise) => {
                respond_later(async move { Ok(JsFuture::from(promise).await?.unchecked_into()) })
            }
            Err(e) => respond(Err(e)),
        };
    }
    if let Route::Room(Ok(room)) = &route {
        if is_upgrade(&raw) {
            // The request goes to the room as it came: the room reads its id from the
            // same URL, and nothing is copied on the way.
            let first =
                stub(&env, room.as_str()).and_then(|stub| Ok(stub.fetch_with_request(&raw)?));
            return match first {
                Ok(promise) => {
                    let room = room.clone();
                    respond_later(async move { placed(promise, raw, room, env).await })
                }
                Err(e) => respond(Err(e)),
            };
        }
    }
    respond_later(async move { handle(route, raw, env).await })
}

/// The first object's answer to an upgrade: the socket (or its refusal), or, in a room
/// past `ROOM_SHARD_SIZE`, the further object to send the same upgrade to
/// (`hub_core::shard::placement`); a socket never moves once accepted.
async fn placed(
    promise: worker::js_sys::Promise,
    raw: web_sys::Request,
    room: RoomId,
    env: Env,
) -> Result<web_sys::Response> {
    let answer: web_sys::Response = JsFuture::from(promise).await?.unchecked_into();
    let place = answer.headers().get(PLACE_HEADER).ok().flatten();
    let Some((shard, number)) = place.as_deref().and_then(parse_place) else {
        return Ok(answer);
    };
    let init = web_sys::RequestInit::new();
    init.set_method("GET");
    init.set_headers(&raw.headers());
    let url = format!("{ORIGIN}{}", join_path(&room, shard, number));
    let forward = web_sys::Request::new_with_str_and_init(&url, &init)?;
    let further = stub(&env, &object_name(&room, shard))?;
    Ok(JsFuture::from(further.fetch_with_request(&forward)?)
        .await?
        .unchecked_into())
}

fn parse_place(value: &str) -> Option<(u16, u64)> {
    let (shard, number) = value.split_once(' ')?;
    Some((shard.parse().ok()?, number.parse().ok()?))
}

async fn handle(route: Route, raw: web_sys::Request, env: Env) -> Result<web_sys::Response> {
    let response = match route {
        Route::Room(Ok(_)) => error(
            426,
            "upgrade_required",
            "connect with a WebSocket (Upgrade: websocket)",
        ),
        Route::Broadcast => return publish(raw, &env).await,
        Route::BroadcastBatch => return publish_batch(raw, &env).await,
        Route::Health => {
            Response::from_json(&json!({ "ok": true, "service": "nativor-chat-worker" }))
        }
        Route::Room(Err(e)) => error(400, "invalid_room_id", e.message()),
        Route::RoomApi(kind, room) => return room_endpoint(kind, raw, &env, room).await,
        Route::User(Ok(_)) => error(
            426,
            "upgrade_required",
            "connect with a WebSocket (Upgrade: websocket)",
        ),
        Route::User(Err(e)) => error(400, "invalid_user_id", e.message()),
        Route::UsersBroadcast => return users_api::broadcast(raw, &env).await,
        Route::UsersStatus => return users_api::status(raw, &env).await,
        Route::UserApi(kind, user) => return users_api::endpoint(kind, raw, &env, user).await,
        Route::ApiNotFound => error(404, "not_found", "no such endpoint"),
        Route::Asset => match env.assets("ASSETS") {
            Ok(assets) => assets.fetch_request(Request::from(raw)).await,
            Err(_) => error(404, "not_found", "no such page"),
        },
    };
    response.map(Into::into)
}

/// Sends one internal request to the room's (or user's) Durable Object and returns
/// its response as is.
pub(crate) async fn ask(
    env: &Env,
    channel: &Channel,
    request: &Internal<'_>,
) -> Result<web_sys::Response> {
    let forward = internal_request(&request.url_for(channel), &request.body())?;
    let stub = stub(env, &channel.key())?;
    let response = JsFuture::from(stub.fetch_with_request(&forward)?).await?;
    Ok(response.unchecked_into())
}

/// Sends one internal request to the room's first object.
async fn ask_room(env: &Env, room: &RoomId, request: Internal<'_>) -> Result<web_sys::Response> {
    ask(env, &Channel::Room(room.clone()), &request).await
}

fn header(req: &web_sys::Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

fn is_upgrade(raw: &web_sys::Request) -> bool {
    header(raw, "Upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
}

/// The webhook secret, or the error response when it is not configured (fail closed).
fn require_webhook_token(
    authorization: Option<String>,
    env: &Env,
) -> Result<std::result::Result<(), Response>> {
    let expected = env
        .secret("WEBHOOK_TOKEN")
        .map(|s| s.to_string())
        .unwrap_or_default();
    if expected.is_empty() {
        return Ok(Err(error(
            503,
            "not_configured",
            "WEBHOOK_TOKEN is not configured",
        )?));
    }
    if !bearer::authorized(authorization.as_deref(), &expected) {
        return Ok(Err(error(
            401,
            "unauthorized",
            "missing or invalid bearer token",
        )?));
    }
    Ok(Ok(()))
}

/// The broadcast body limit, read from the environment once per isolate (vars do not
/// change while an isolate lives) rather than on every broadcast.
pub(crate) fn max_broadcast_bytes(env: &Env) -> usize {
    thread_local! {
        static LIMIT: std::cell::OnceCell<usize> = const { std::cell::OnceCell::new() };
    }
    LIMIT.with(|l| *l.get_or_init(|| config_from_env(env).0.max_broadcast_bytes))
}

fn method_not_allowed(allow: &str) -> Result<Response> {
    let mut resp = error(405, "method_not_allowed", &format!("use {allow}"))?;
    resp.headers_mut().set("Allow", allow)?;
    Ok(resp)
}

/// The JSON text of a token-gated POST from the backend, read with the body limit;
/// `Err` holds the answer to send instead (405, 401, 503, 413, 400).
pub(crate) async fn backend_post(
    raw: &web_sys::Request,
    env: &Env,
    limit: usize,
) -> Result<std::result::Result<String, web_sys::Response>> {
    if raw.method() != "POST" {
        return Ok(Err(method_not_allowed("POST")?.into()));
    }
    if let Err(resp) = require_webhook_token(header(raw, "Authorization"), env)? {
        return Ok(Err(resp.into()));
    }
    let too_large = || -> Result<std::result::Result<String, web_sys::Response>> {
        let resp = error(
            413,
            "payload_too_large",
            &format!("body is limited to {limit} bytes"),
        )?;
        Ok(Err(resp.into()))
    };
    let declared = header(raw, "Content-Length").and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|l| l > limit) {
        return too_large();
    }
    // A declared length within the limit is read in one call; otherwise the body is
    // read in chunks and refused once it passes the limit.
    let body = match declared {
        Some(_) => read_whole(raw).await.map_err(|_| ReadError::Failed),
        None => read_bounded(raw.body(), limit).await,
    };
    let body = match body {
        Ok(b) => b,
        Err(ReadError::TooLarge) => return too_large(),
        Err(ReadError::Failed) => {
            return Ok(Err(
                error(400, "invalid_body", "could not read the body")?.into()
            ))
        }
    };
    match String::from_utf8(body) {
        Ok(text) => Ok(Ok(text)),
        Err(_) => Ok(Err(
            error(400, "invalid_json", "body is not UTF-8 JSON")?.into()
        )),
    }
}

async fn publish(raw: web_sys::Request, env: &Env) -> Result<web_sys::Response> {
    let text = match backend_post(&raw, env, max_broadcast_bytes(env)).await? {
        Ok(text) => text,
        Err(answer) => return Ok(answer),
    };
    // Parsed once, here: the room receives only what it needs (`hub_core::internal`).
    let parsed = match broadcast::parse(&text) {
        Ok(b) => b,
        Err(e) => return error(400, e.code(), &e.message()).map(Into::into),
    };
    let room = parsed.room_id.clone();
    ask_room(env, &room, Internal::Broadcast(parsed.into())).await
}

/// A batch body may hold this many broadcast bodies' worth of bytes.
const BATCH_BYTES_PER_BROADCAST_LIMIT: usize = 16;

/// `POST /api/broadcast/batch`: every valid entry goes to its room, all rooms at
/// once; each entry gets its own result, in order.
async fn publish_batch(raw: web_sys::Request, env: &Env) -> Result<web_sys::Response> {
    let limit = max_broadcast_bytes(env).saturating_mul(BATCH_BYTES_PER_BROADCAST_LIMIT);
    let text = match backend_post(&raw, env, limit).await? {
        Ok(text) => text,
        Err(answer) => return Ok(answer),
    };
    let entries = match batch::parse(&text, max_broadcast_bytes(env)) {
        Ok(entries) => entries,
        Err(e) => return error(400, e.code(), &e.message()).map(Into::into),
    };
    let results = join_all(entries.into_iter().map(|entry| async move {
        match entry {
            Err((room, e)) => batch::Outcome::failed(room, e.code(), &e.message()),
            Ok(b) => {
                let room = b.room_id.clone();
                let answer = ask_room(env, &room, Internal::Broadcast(b.into())).await;
                outcome_of(room.to_string(), answer).await
            }
        }
    }))
    .await;
    json_response(200, &batch::answer(&results))
}

/// One room's answer to a broadcast, as a batch result: its typed answer on 200,
/// else the error it gave.
async fn outcome_of(room: String, answer: Result<web_sys::Response>) -> batch::Outcome {
    #[derive(serde::Deserialize)]
    struct Refusal {
        error: batch::ErrorBody,
    }
    let unanswered =
        |room| batch::Outcome::failed(Some(room), "internal", "the room did not answer");
    let Ok(response) = answer else {
        return unanswered(room);
    };
    let text = match response.text() {
        Ok(p) => JsFuture::from(p).await.ok().and_then(|t| t.as_string()),
        Err(_) => None,
    };
    let Some(text) = text else {
        return unanswered(room);
    };
    if response.status() == 200 {
        return match serde_json::from_str::<Sent>(&text) {
            Ok(sent) => batch::Outcome::delivered(room, sent.delivered as u64, sent.duplicate),
            Err(_) => unanswered(room),
        };
    }
    match serde_json::from_str::<Refusal>(&text) {
        Ok(Refusal { error: e }) => batch::Outcome::failed(Some(room), &e.code, &e.message),
        Err(_) => unanswered(room),
    }
}

async fn read_whole(raw: &web_sys::Request) -> Result<Vec<u8>> {
    let buffer = JsFuture::from(raw.array_buffer()?).await?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// The body of a backend call to an endpoint of `kind` (empty for a GET), after its
/// method and token; `Err` holds the answer to send instead (405, 401, 503, 413, 400).
pub(crate) async fn backend_call(
    kind: Kind,
    raw: &web_sys::Request,
    env: &Env,
) -> Result<std::result::Result<String, web_sys::Response>> {
    if kind.method() == Some(RoomMethod::Post) {
        return backend_post(raw, env, max_broadcast_bytes(env)).await;
    }
    if raw.method() != "GET" {
        return Ok(Err(method_not_allowed("GET")?.into()));
    }
    if let Err(resp) = require_webhook_token(header(raw, "Authorization"), env)? {
        return Ok(Err(resp.into()));
    }
    Ok(Ok(String::new()))
}

/// A token-gated `/api/rooms/:roomId/<endpoint>` (the registry in
/// `hub_core::internal`), answered by the room itself. Judged in this order: the
/// method, the token, the body's size, the room id, then the request itself.
async fn room_endpoint(
    kind: Kind,
    raw: web_sys::Request,
    env: &Env,
    room: std::result::Result<RoomId, RoomIdError>,
) -> Result<web_sys::Response> {
    let body = match backend_call(kind, &raw, env).await? {
        Ok(body) => body,
        Err(answer) => return Ok(answer),
    };
    let room = match room {
        Ok(r) => r,
        Err(e) => return error(400, "invalid_room_id", e.message()).map(Into::into),
    };
    let query = split_url(&raw.url()).1.map(str::to_owned);
    match Internal::from_public(kind, query.as_deref(), &body) {
        Ok(request) => ask_room(env, &room, request).await,
        Err(e) => error(400, e.code, &e.message).map(Into::into),
    }
}
