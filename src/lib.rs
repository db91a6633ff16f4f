//! Nativor Chat Worker: the realtime WebSocket hub of Nativor chat.
//!
//! One `ChatRoom` Durable Object per room fans events out; it never stores
//! messages. Every rule lives in the pure `hub-core` crate (`crates/hub-core`: the
//! room core, sessions, protocol, roster, deadlines, journal, rate limit, config,
//! the internal requests). This crate holds the shells that carry out effects:
//! - `http`: the Worker entry, the public HTTP surface; routes to the rooms.
//! - `chat_room`: the Durable Object, a dispatcher from runtime events to the core;
//!   `room_api`: its answers to the Worker's internal requests; `shards`: the links
//!   between the objects of a room spread over several.
//! - `effects`: the core's effects (`hub_core::room::Io`) on the runtime.
//! - `backend` (the participants check call), `store` (SQLite rows), `fanout`
//!   (sending), `attachment` (a socket's session), `net` (timers, bounded reads),
//!   `respond` (responses), `vars` (environment variables), `conn_id`.

mod attachment;
mod backend;
mod chat_room;
pub mod conn_id;
mod effects;
mod fanout;
mod http;
mod net;
mod personal;
mod personal_store;
mod placement;
mod respond;
mod room_api;
mod shards;
mod store;
mod users_api;
mod vars;

pub use chat_room::ChatRoom;

use wasm_bindgen::prelude::*;
use worker::{event, web_sys, Env};

#[event(start)]
fn start() {
    net::schedule_futures_with_promises();
}

/// The Worker's fetch handler. Exported directly rather than through
/// `#[event(fetch)]`, which runs every request as a future and converts requests and
/// responses: hand-written exports for the Worker and the `ChatRoom` class let
/// upgrades and most events run synchronously on the runtime's own objects, which
/// measurably raised the hub's handshake rate (the figures: docs/benchmarks.md,
/// "Design decisions and the measurements behind them"). A room upgrade answers with
/// the room's own promise (see `http::entry`).
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env, _ctx: JsValue) -> JsValue {
    http::entry(req, env)
}
