//! The requests users' objects send one another for watchlists (see `personal`),
//! and the one the Worker sends for `/api/users/status`; none is reachable from the
//! backend as such.
//!
//! - [`Watch`]: a watcher's object registers with a watched user's object and reads
//!   its state in the same call.
//! - [`Status`]: a watched user's object tells a watcher's object of a change.
//! - [`State`]: a user object's state for `/api/users/status`.

use serde::{Deserialize, Serialize};

/// `watcher` watches the user of the object it calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watch {
    pub watcher: String,
}

/// The watched user's state as watchers were last told it, stamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watched {
    pub online: bool,
    pub at: u64,
    /// False past `MAX_WATCHERS_PER_USER`: no changes will follow.
    pub live: bool,
}

/// `user` is now `online` (or not), as of `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub user: String,
    pub online: bool,
    pub at: u64,
}

/// Whether the watcher still watches; when not, the watched object forgets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heard {
    pub watching: bool,
}

/// A user object's state, for `/api/users/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct State;

/// Whether watchers were last told the user is online, and its authenticated
/// personal sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserState {
    pub online: bool,
    pub connections: usize,
}

json_endpoint!(Watch, "watch", Watched);
json_endpoint!(Status, "status", Heard);
json_endpoint!(State, "state", UserState);
