//! Who is in the socket group and whether a newcomer fits: the open sockets, the ones
//! still waiting to authenticate, and the ones the room closed that the runtime still
//! holds. Per socket group. Decides; closes nothing itself.

use super::deadlines::Deadlines;
use crate::config::Config;
use std::collections::{BTreeMap, HashSet};

/// Sockets one Durable Object can hold, whatever their state (the runtime's limit).
pub const RUNTIME_SOCKET_LIMIT: usize = 32_768;

pub struct Gate<S> {
    /// Connection ids of every open socket the room counts (authenticated or not).
    live: HashSet<String>,
    /// Sockets that have not sent a valid `auth` yet, oldest first (by connection time).
    silent: Deadlines<S>,
    /// Sockets that sent one and wait for its participants check.
    checking: BTreeMap<String, S>,
    /// Sockets the room closed that the runtime still holds until the client answers
    /// the close: not in the room, but counted against the runtime's socket limit.
    closing: HashSet<String>,
}

impl<S> Default for Gate<S> {
    fn default() -> Self {
        Gate {
            live: HashSet::new(),
            silent: Deadlines::default(),
            checking: BTreeMap::new(),
            closing: HashSet::new(),
        }
    }
}

impl<S: Clone> Gate<S> {
    /// Open sockets the room counts toward its capacity.
    pub fn connections(&self) -> usize {
        self.live.len()
    }

    /// Open sockets not authenticated yet (silent, or waiting for their check).
    pub fn waiting(&self) -> usize {
        self.silent.len() + self.checking.len()
    }

    pub fn is_live(&self, connection_id: &str) -> bool {
        self.live.contains(connection_id)
    }

    pub fn live(&self) -> &HashSet<String> {
        &self.live
    }

    /// The silent socket that must make room for a newcomer, if any: the oldest, once
    /// the room holds `max_pending` waiting sockets and it has waited `pending_grace_ms`. A
    /// socket younger than that is not silent yet: in a reconnect storm its auth frame
    /// may be queued behind the room's other events, so until then the newcomer is let
    /// in over the limit (the capacity still bounds the room). A socket that has sent
    /// its auth is never displaced: its check is bounded by its own deadline.
    pub fn to_displace(&self, now: u64, config: &Config) -> Option<(String, S)> {
        if self.waiting() < config.max_pending {
            return None;
        }
        let (id, socket) = self.silent.first()?;
        let since = self.silent.earliest()?;
        (now.saturating_sub(since) >= config.pending_grace_ms)
            .then(|| (id.to_owned(), socket.clone()))
    }

    /// Whether one more socket fits: under the room's capacity (with `elsewhere`, the
    /// sockets the room's other objects hold), and under the runtime's limit counting
    /// the sockets it still holds half-closed.
    pub fn has_room(&self, config: &Config, elsewhere: usize) -> bool {
        self.live.len() + elsewhere < config.max_connections
            && self.live.len() + self.closing.len() < RUNTIME_SOCKET_LIMIT
    }

    /// A new socket, or one still waiting after a wake, silent since `since`.
    pub fn open_silent(&mut self, connection_id: String, since: u64, socket: S) {
        self.live.insert(connection_id.clone());
        self.silent.insert(connection_id, since, socket);
    }

    /// A socket that is in the room without waiting: a member back after a wake.
    pub fn open(&mut self, connection_id: String) {
        self.live.insert(connection_id);
    }

    /// The socket sent a valid `auth`: its check runs, it is no longer silent.
    pub fn checking(&mut self, connection_id: &str) {
        if let Some(socket) = self.silent.remove(connection_id) {
            self.checking.insert(connection_id.to_owned(), socket);
        }
    }

    /// The socket authenticated: it no longer waits.
    pub fn admitted(&mut self, connection_id: &str) {
        self.silent.remove(connection_id);
        self.checking.remove(connection_id);
    }

    /// The room closed the socket; the runtime holds it until the client answers.
    pub fn closed_by_room(&mut self, connection_id: &str) {
        self.gone(connection_id);
        self.closing.insert(connection_id.to_owned());
    }

    /// Whether the room itself closed this socket (it then leaves the runtime too).
    pub fn answered(&mut self, connection_id: &str) -> bool {
        self.closing.remove(connection_id)
    }

    /// The socket is no longer counted.
    pub fn gone(&mut self, connection_id: &str) {
        self.live.remove(connection_id);
        self.admitted(connection_id);
    }

    /// The waiting sockets among `ids`, with their ids.
    pub fn waiting_among(&self, ids: &HashSet<&str>) -> Vec<(S, String)> {
        let checking = self.checking.iter().map(|(id, s)| (id.as_str(), s));
        self.silent
            .iter()
            .chain(checking)
            .filter(|(id, _)| ids.contains(id))
            .map(|(id, s)| (s.clone(), id.to_owned()))
            .collect()
    }
}
