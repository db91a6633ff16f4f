//! `GET /api/rooms/:roomId/stats`: the room's counts, for operators.

use super::{DecodeError, Endpoint, Invalid, Method};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats;

/// The room's counts. Pending rows are written first, and expired members closed,
/// so the counts are exact at the time of the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Open sockets the room counts (waiting, authenticating, authenticated).
    pub connections: usize,
    /// Every socket the runtime still holds, half-closed ones included.
    pub runtime_sockets: usize,
    pub authenticated: usize,
    /// Participants checks sent to the backend and not answered yet (at most
    /// `AUTH_CHECK_CONCURRENCY`).
    pub checks_in_flight: usize,
    /// Participants checks waiting for one of those slots.
    pub checks_queued: usize,
    /// What one `send` is estimated to cost on this runtime, in ns: behind batching's
    /// busy estimate (learned between events; see `room::send_cost`).
    pub send_cost_ns: u64,
    /// Rows in the room's connections table.
    pub stored_connections: u64,
    /// When the room's current in-memory instance started (Unix ms).
    pub instance_started_at: u64,
    /// The isolate's wasm memory (it never shrinks).
    pub wasm_memory_bytes: usize,
    /// The room's objects holding sockets: 1 unless the room has spread past
    /// `ROOM_SHARD_SIZE` (see `shard`). The counts above are the whole room's; the
    /// instance, send cost and memory are its first object's.
    pub shards: usize,
}

impl Endpoint<'_> for Stats {
    const NAME: &'static str = "stats";
    const METHOD: Option<Method> = Some(Method::Get);
    type Answer = Counts;

    fn from_public(_query: Option<&str>, _body: &str) -> Result<Self, Invalid> {
        Ok(Stats)
    }

    fn encode(&self) -> String {
        String::new()
    }

    fn decode(_body: &str) -> Result<Self, DecodeError> {
        Ok(Stats)
    }
}
