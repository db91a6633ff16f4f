//! Rooms bigger than one object: the pure rules of a room spread over several Durable
//! Objects once it holds more than `ROOM_SHARD_SIZE` sockets (the original
//! specification's scaling note: room = object, and a sharding pattern for very large
//! rooms). A room below that size is one object, as every room always was. The
//! shells (`src/shards.rs`, `src/chat_room.rs`, `src/room_api.rs`) carry out what
//! these rules decide.
//!
//! - [`first`]: the room's first object: placement, the users its further objects
//!   hold, and the numbered link to each of them.
//! - [`further`]: a further object: the relayed events in order, and its report up
//!   (one in flight; typing and presence coalesce into the next).
//! - [`merge`]: the control plane's answers for the whole room.
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
