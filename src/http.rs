//! The public HTTP surface of the Worker: room upgrades, `/api/broadcast`, the
//! stats endpoint, `/healthz`, and JSON errors. Routes to the room's Durable
//! Object; decides nothing about the protocol itself.

use crate::bearer;
use crate::broadcast;
use crate::config::Config;
use crate::net::{read_bounded, ReadError};
use crate::room_id::RoomId;
use crate::routes::{route, Route};
use serde_json::json;
use worker::{Env, Headers, Method, Request, RequestInit, Response, Result, Stub};

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

/// The route of a URL (the `room` query parameter decoded).
pub fn route_of(url: &worker::Url) -> Route {
    let room_query = url
        .query_pairs()
        .find(|(k, _)| k == "room")
        .map(|(_, v)| v.into_owned());
    route(url.path(), room_query.as_deref())
}

pub async fn handle(req: Request, env: Env) -> Result<Response> {
    let url = req.url()?;
    match route_of(&url) {
        Route::Health => {
            Response::from_json(&json!({ "ok": true, "service": "nativor-chat-worker" }))
        }
        Route::Room(Err(e)) => error(400, "invalid_room_id", e.message()),
        Route::Room(Ok(room)) => connect(req, &env, &room).await,
        Route::Broadcast => publish(req, &env).await,
        Route::Stats(room) => stats(req, &env, room).await,
        Route::ApiNotFound => error(404, "not_found", "no such endpoint"),
        Route::Asset => match env.assets("ASSETS") {
            Ok(assets) => assets.fetch_request(req).await,
            Err(_) => error(404, "not_found", "no such page"),
        },
    }
}

fn room_stub(env: &Env, room: &RoomId) -> Result<Stub> {
    env.durable_object(DO_BINDING)?.get_by_name(room.as_str())
}

fn internal_request(
    path: &str,
    method: Method,
    headers: Headers,
    body: Option<String>,
) -> Result<Request> {
    let mut init = RequestInit::new();
    init.with_method(method)
        .with_headers(headers)
        .with_body(body.map(|b| b.into()));
    Request::new_with_init(&format!("{INTERNAL_ORIGIN}{path}"), &init)
}

async fn connect(req: Request, env: &Env, room: &RoomId) -> Result<Response> {
    let upgrade = req.headers().get("Upgrade")?;
    if !upgrade.is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
        return error(
            426,
            "upgrade_required",
            "connect with a WebSocket (Upgrade: websocket)",
        );
    }
    // The request goes to the room as it came: the room reads its id from the same
    // URL, and nothing is copied on the way.
    room_stub(env, room)?.fetch_with_request(req).await
}

/// The webhook secret, or the error response when it is not configured (fail closed).
fn require_webhook_token(req: &Request, env: &Env) -> Result<std::result::Result<(), Response>> {
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
    let header = req.headers().get("Authorization")?;
    if !bearer::authorized(header.as_deref(), &expected) {
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

async fn publish(req: Request, env: &Env) -> Result<Response> {
    if req.method() != Method::Post {
        return method_not_allowed("POST");
    }
    if let Err(resp) = require_webhook_token(&req, env)? {
        return Ok(resp);
    }
    let limit = max_broadcast_bytes(env);
    let too_large = || {
        error(
            413,
            "payload_too_large",
            &format!("body is limited to {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get("Content-Length")?
        .and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|l| l > limit) {
        return too_large();
    }
    let body = match read_bounded(req.inner().body(), limit).await {
        Ok(b) => b,
        Err(ReadError::TooLarge) => return too_large(),
        Err(ReadError::Failed) => return error(400, "invalid_body", "could not read the body"),
    };
    let Ok(text) = String::from_utf8(body) else {
        return error(400, "invalid_json", "body is not UTF-8 JSON");
    };
    let room = match broadcast::parse(&text) {
        Ok(b) => b.room_id,
        Err(e) => return error(400, e.code(), &e.message()),
    };
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
    let forward = internal_request("/broadcast", Method::Post, headers, Some(text))?;
    room_stub(env, &room)?.fetch_with_request(forward).await
}

async fn stats(
    req: Request,
    env: &Env,
    room: std::result::Result<RoomId, crate::room_id::RoomIdError>,
) -> Result<Response> {
    if req.method() != Method::Get {
        return method_not_allowed("GET");
    }
    if let Err(resp) = require_webhook_token(&req, env)? {
        return Ok(resp);
    }
    let room = match room {
        Ok(r) => r,
        Err(e) => return error(400, "invalid_room_id", e.message()),
    };
    let forward = internal_request("/stats", Method::Get, Headers::new(), None)?;
    room_stub(env, &room)?.fetch_with_request(forward).await
}
