//! Rooms bigger than one object: the pure rules of a room spread over several Durable
//! Objects once it holds more than `ROOM_SHARD_SIZE` sockets (the original
//! specification's scaling note: room = object, and a sharding pattern for very large
//! rooms). Groundwork: these rules are tested here and not wired into the shells yet,
//! so every room is still one object.
//!
//! - [`naming`]: which object holds shard `k` of a room; no room id can name it.
//! - [`placement`]: the room's first object decides where a new socket goes: itself
//!   while it has room, else a further shard, else `room_full`, counting every
//!   object's sockets against the room-wide cap.
//! - [`sequence`]: a shard delivers the events the first object numbered in that
//!   order, each once, whatever order the calls arrive in.
//! - [`users`]: the room's users across its objects, for room-wide presence.

pub mod first;
pub mod further;
pub mod merge;
pub mod naming;
pub mod placement;
pub mod sequence;
pub mod users;
