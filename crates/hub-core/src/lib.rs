//! The hub's rules, pure. This crate has no `worker`, `web-sys` or `js-sys`
//! dependency, so the compiler keeps every decision here free of runtime effects;
//! the root crate's shells (`src/`) carry the effects out.
//!
//! Map of the crate:
//! - [`room`]: the room core. Takes a room's events (a socket accepted, a frame, a
//!   participants-check outcome, a close, a deadline, a wake, a broadcast) with `now`
//!   and tells its [`room::Io`] what to do. Owns the members below.
//! - [`session`]: one connection's state machine, `(session, frame, now) -> Action`,
//!   and its hibernation attachment.
//! - [`protocol`]: client frames parsed once into enums, server frames encoded once;
//!   the stable error and close codes; the hub's own frame types.
//! - [`roster`] (authenticated sockets, for fan-out), [`deadlines`] (auth and check
//!   deadlines behind one timer), [`journal`] (connection rows written behind),
//!   [`rate_limit`] (per-connection token bucket and flood window).
//! - [`internal`]: the Worker ↔ Durable Object requests, one enum, one encoding.
//! - [`broadcast`], [`batch`], [`control`]: the backend's bodies (a broadcast, a batch
//!   of them, a disconnect), validated once; [`body`]: what they share.
//! - [`burst`]: the queue of a busy room's events, flushed as `batch` frames to the
//!   sockets that asked for them.
//! - [`audit`]: the connection audit's events and bounds.
//! - [`auth`] (the participants check as data, and how its answer is judged),
//!   [`bearer`] (the webhook token, compared in constant time), [`resume`] (resume
//!   tickets: issued after a real check, verified without one), [`config`]
//!   (environment variables into typed limits), [`room_id`], [`routes`].
//! - [`shard`]: rooms bigger than one object: placement, the room's one order across
//!   objects, room-wide presence and the control plane's merged answers.
//! - [`personal`]: groundwork for personal channels (`/users/:userId`): user ids, the
//!   offline delay, watchers, fan-out totals; not wired into the shells yet.

pub mod audit;
pub mod auth;
pub mod batch;
pub mod bearer;
pub mod body;
pub mod broadcast;
pub mod burst;
pub mod channel;
pub mod config;
pub mod control;
pub mod errors;
pub mod internal;
pub mod journal;
pub mod personal;
pub mod protocol;
pub mod rate_limit;
pub mod resume;
pub mod room;
pub mod room_id;
pub mod routes;
pub mod session;
pub mod shard;
