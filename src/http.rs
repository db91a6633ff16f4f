//! The public HTTP surface of the Worker: room upgrades, `/api/broadcast`, the
//! stats endpoint, `/healthz`, and JSON errors. Routes to the room's Durable
//! Object; decides nothing about the protocol itself.

use crate::bearer;
use crate::broadcast;
use crate::config::Config;
use crate::net::{read_bounded, ReadError};
use crate::room_id::RoomId;
use crate::routes::{route, split_url, Route};
use serde_json::json;
use wasm_bindgen_futures::future_to_promise;
use worker::js_sys::{Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::ext::ResponseInitExt;
use worker::worker_sys::{DurableObject, DurableObjectNamespace};
use worker::{console_error, web_sys, Env, Method, Request, Response, Result, Url, WebSocket};

/// The Durable Object namespace binding.
pub const DO_BINDING: &str = "Chat";
/// Base URL of requests from the Worker to a room's Durable Object (never public).
pub const INTERNAL_ORIGIN: &str = "https://chat-room.internal";

/// A JSON error in the one shape every endpoint uses:
/// `{"success":false,"error":{"code":…,"message":…}}`.
pub fn error(status: u16, code: &str, message: &str) -> Result<Response> {
    Ok(Response::from_json(&json!({
        "success": false,
        "error": { "code": code, "message": message },
    }))?
    .with_status(status))
}

/// The route of a serialized URL. Only `/rooms?room=` needs the query, so only then
/// is the URL parsed in full (the `room` parameter decoded).
pub fn route_of(url: &str) -> Route {
    let (path, query) = split_url(url);
    let room_query = match (path, query) {
        ("/rooms" | "/rooms/", Some(_)) => Url::parse(url).ok().and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "room")
                .map(|(_, v)| v.into_owned())
        }),
        _ => None,
    };
    route(path, room_query.as_deref())
}

/// A JSON response on the runtime's own `Response` (no workers-rs conversion).
pub fn json_response(status: u16, body: &str) -> Result<web_sys::Response> {
    let headers = web_sys::Headers::new()?;
    headers.set("Content-Type", "application/json")?;
    let init = web_sys::ResponseInit::new();
    init.set_status(status);
    init.set_headers(&headers);
    Ok(web_sys::Response::new_with_opt_str_and_init(
        Some(body),
        &init,
    )?)
}

/// The `101 Switching Protocols` answer handing `client` to the runtime.
pub fn websocket_response(client: WebSocket) -> Result<web_sys::Response> {
    let mut init = web_sys::ResponseInit::new();
    init.set_status(101);
    init.websocket(client.as_ref())?;
    Ok(web_sys::Response::new_with_opt_str_and_init(None, &init)?)
}

/// The value a handler hands back to the runtime: the response, or a JSON 500 (and
/// a log line) when building it failed.
pub fn respond(answer: Result<web_sys::Response>) -> JsValue {
    match answer {
        Ok(response) => response.into(),
        Err(e) => {
            console_error!("internal error: {e}");
            match error(500, "internal", "internal error") {
                Ok(response) => web_sys::Response::from(response).into(),
                Err(_) => JsValue::UNDEFINED,
            }
        }
    }
}

/// The same for an answer that must await: a promise of the response. Only paths
/// that read a body or call out pay for a future (a task and a microtask per poll).
pub fn respond_later(
    answer: impl std::future::Future<Output = Result<web_sys::Response>> + 'static,
) -> JsValue {
    future_to_promise(async move { Ok(respond(answer.await)) }).into()
}

/// The Worker's entry (exported as `fetch` in `lib.rs`). A room upgrade is handed to
/// the room's Durable Object and the runtime receives the room's own promise: nothing
/// awaits in wasm. The hot paths (upgrades, broadcasts) stay on the runtime's request
/// and response objects: converting to workers-rs types copies headers and reads
/// `request.cf`, which a perf profile of the handshake showed costing as much as the
/// routing itself.
pub fn entry(raw: web_sys::Request, env: Env) -> JsValue {
    let route = route_of(&raw.url());
    if let Route::Room(Ok(room)) = &route {
        if is_upgrade(&raw) {
            // The request goes to the room as it came: the room reads its id from the
            // same URL, and nothing is copied on the way.
            return match room_stub(&env, room).and_then(|stub| Ok(stub.fetch_with_request(&raw)?)) {
                Ok(promise) => promise.into(),
                Err(e) => respond(Err(e)),
            };
        }
    }
    respond_later(async move { handle(route, raw, env).await })
}

async fn handle(route: Route, raw: web_sys::Request, env: Env) -> Result<web_sys::Response> {
    let response = match route {
        Route::Room(Ok(_)) => error(
            426,
            "upgrade_required",
            "connect with a WebSocket (Upgrade: websocket)",
        ),
        Route::Broadcast => return publish(raw, &env).await,
        Route::Health => {
            Response::from_json(&json!({ "ok": true, "service": "nativor-chat-worker" }))
        }
        Route::Room(Err(e)) => error(400, "invalid_room_id", e.message()),
        Route::Stats(room) => stats(Request::from(raw), &env, room).await,
        Route::ApiNotFound => error(404, "not_found", "no such endpoint"),
        Route::Asset => match env.assets("ASSETS") {
            Ok(assets) => assets.fetch_request(Request::from(raw)).await,
            Err(_) => error(404, "not_found", "no such page"),
        },
    };
    response.map(Into::into)
}

/// The room's Durable Object stub. The binding is read as is: workers-rs's typed
/// lookup also reads the binding's constructor name on every request.
fn room_stub(env: &Env, room: &RoomId) -> Result<DurableObject> {
    let namespace = Reflect::get(env, &JsValue::from_str(DO_BINDING))?;
    if namespace.is_undefined() {
        return Err(format!("the {DO_BINDING} Durable Object binding is missing").into());
    }
    let namespace: DurableObjectNamespace = namespace.unchecked_into();
    Ok(namespace.get_by_name(room.as_str())?)
}

/// Sends a request to the room's Durable Object and returns its response as is.
async fn to_room(env: &Env, room: &RoomId, req: &web_sys::Request) -> Result<web_sys::Response> {
    let stub = room_stub(env, room)?;
    let response = JsFuture::from(stub.fetch_with_request(req)?).await?;
    Ok(response.unchecked_into())
}

fn internal_request(path: &str, method: &str, body: Option<&str>) -> Result<web_sys::Request> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        init.set_body(&JsValue::from_str(body));
    }
    Ok(web_sys::Request::new_with_str_and_init(
        &format!("{INTERNAL_ORIGIN}{path}"),
        &init,
    )?)
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

/// The configuration from the Worker's vars (see `Config::from_lookup`).
pub fn config_from_env(env: &Env) -> (Config, Vec<&'static str>) {
    Config::from_lookup(|k| env.var(k).ok().map(|v| v.to_string()))
}

/// The broadcast body limit, read from the environment once per isolate (vars do not
/// change while an isolate lives) rather than on every broadcast.
fn max_broadcast_bytes(env: &Env) -> usize {
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

async fn publish(raw: web_sys::Request, env: &Env) -> Result<web_sys::Response> {
    if raw.method() != "POST" {
        return method_not_allowed("POST").map(Into::into);
    }
    if let Err(resp) = require_webhook_token(header(&raw, "Authorization"), env)? {
        return Ok(resp.into());
    }
    let limit = max_broadcast_bytes(env);
    let too_large = || {
        error(
            413,
            "payload_too_large",
            &format!("body is limited to {limit} bytes"),
        )
        .map(Into::into)
    };
    let declared = header(&raw, "Content-Length").and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|l| l > limit) {
        return too_large();
    }
    // A declared length within the limit is read in one call; otherwise the body is
    // read in chunks and refused once it passes the limit.
    let body = match declared {
        Some(_) => read_whole(&raw).await.map_err(|_| ReadError::Failed),
        None => read_bounded(raw.body(), limit).await,
    };
    let body = match body {
        Ok(b) => b,
        Err(ReadError::TooLarge) => return too_large(),
        Err(ReadError::Failed) => {
            return error(400, "invalid_body", "could not read the body").map(Into::into)
        }
    };
    let Ok(text) = String::from_utf8(body) else {
        return error(400, "invalid_json", "body is not UTF-8 JSON").map(Into::into);
    };
    let room = match broadcast::parse(&text) {
        Ok(b) => b.room_id,
        Err(e) => return error(400, e.code(), &e.message()).map(Into::into),
    };
    let forward = internal_request("/broadcast", "POST", Some(&text))?;
    to_room(env, &room, &forward).await
}

async fn read_whole(raw: &web_sys::Request) -> Result<Vec<u8>> {
    let buffer = JsFuture::from(raw.array_buffer()?).await?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

async fn stats(
    req: Request,
    env: &Env,
    room: std::result::Result<RoomId, crate::room_id::RoomIdError>,
) -> Result<Response> {
    if req.method() != Method::Get {
        return method_not_allowed("GET");
    }
    if let Err(resp) = require_webhook_token(req.headers().get("Authorization")?, env)? {
        return Ok(resp);
    }
    let room = match room {
        Ok(r) => r,
        Err(e) => return error(400, "invalid_room_id", e.message()),
    };
    let forward = internal_request("/stats", "GET", None)?;
    Ok(to_room(env, &room, &forward).await?.into())
}
