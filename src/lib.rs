//! Nativor Chat Worker: the realtime WebSocket hub of Nativor chat.
//!
//! One `ChatRoom` Durable Object per room fans events out; it never stores
//! messages. Pure modules decide (`protocol`, `session`, `auth`, `broadcast`,
//! `room_id`, `routes`, `config`, `bearer`, `roster`); thin shells act
//! (`http` for the Worker, `chat_room` for the Durable Object, `backend`,
//! `store`, `fanout`, `net`).

pub mod auth;
pub mod bearer;
pub mod broadcast;
pub mod config;
pub mod conn_id;
pub mod deadlines;
pub mod journal;
pub mod protocol;
pub mod rate_limit;
pub mod room_id;
pub mod roster;
pub mod routes;
pub mod session;

mod backend;
mod chat_room;
mod fanout;
mod http;
mod net;
mod store;

pub use chat_room::ChatRoom;

use wasm_bindgen::prelude::*;
use worker::{event, web_sys, Env};

#[event(start)]
fn start() {
    net::schedule_futures_with_promises();
}

/// The Worker's fetch handler. Exported directly rather than through
/// `#[event(fetch)]`, which runs every request as a future: a room upgrade answers
/// with the room's own promise (see `http::entry`).
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env, _ctx: JsValue) -> JsValue {
    http::entry(req, env)
}
