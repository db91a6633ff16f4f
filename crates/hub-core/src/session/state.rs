//! The session: a socket's id, room, identity, auth state and deadline, kept as its
//! hibernation attachment.

use crate::channel::Channel;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthState {
    /// Connected, waiting for the auth event until `deadline`.
    #[serde(rename = "p")]
    Pending,
    /// The participants check is in flight.
    #[serde(rename = "a")]
    Authenticating,
    /// Verified by the backend.
    #[serde(rename = "ok")]
    Authenticated,
}

impl AuthState {
    /// The state a connections-table name stands for.
    pub fn parse(name: &str) -> Option<AuthState> {
        [
            AuthState::Pending,
            AuthState::Authenticating,
            AuthState::Authenticated,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }

    /// The name stored in the connections table.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthState::Pending => "pending",
            AuthState::Authenticating => "authenticating",
            AuthState::Authenticated => "authenticated",
        }
    }
}

/// Per-socket state. Field names are short because this is stored per socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Connection id (also the socket's tag).
    #[serde(rename = "c")]
    pub connection_id: String,
    /// Its room, or its user's personal channel (`@<userId>`).
    #[serde(rename = "r")]
    pub channel: Channel,
    /// Unix ms.
    #[serde(rename = "t")]
    pub connected_at: u64,
    /// Unix ms after which a socket that has not authenticated is closed.
    #[serde(rename = "d")]
    pub auth_deadline: u64,
    #[serde(rename = "s")]
    pub state: AuthState,
    /// The identity the backend verified (or the claim it accepted).
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// When the token expires (Unix ms), as the backend said; after it, the socket is
    /// closed at its next frame or delivery.
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Asked for `batch` frames in its auth.
    #[serde(rename = "b", default, skip_serializing_if = "is_false")]
    pub batch: bool,
    /// Closed by the room: the runtime may still hold the socket (until the client
    /// answers the close), but the room never takes it back, even after a wake.
    #[serde(rename = "x", default, skip_serializing_if = "is_false")]
    pub closed: bool,
    /// Which object of its room holds the socket (0: the room's first; see `shard`):
    /// a further object learns its own number back from its sockets after a wake.
    #[serde(rename = "k", default, skip_serializing_if = "is_zero")]
    pub shard: u16,
}

fn is_zero(k: &u16) -> bool {
    *k == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Session {
    pub fn new(
        connection_id: String,
        channel: impl Into<Channel>,
        now: u64,
        auth_timeout_ms: u64,
    ) -> Self {
        Session {
            connection_id,
            channel: channel.into(),
            connected_at: now,
            auth_deadline: now.saturating_add(auth_timeout_ms),
            state: AuthState::Pending,
            user_id: None,
            expires_at: None,
            batch: false,
            closed: false,
            shard: 0,
        }
    }

    /// The socket attachment: compact JSON in one JS string. One string crosses the
    /// wasm boundary once, where a structured attachment would cost a JS call per field.
    pub fn to_attachment(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_attachment(text: &str) -> Option<Session> {
        serde_json::from_str(text).ok()
    }

    /// A socket still waiting for its auth event after the deadline must be closed.
    pub fn is_overdue(&self, now: u64) -> bool {
        self.state == AuthState::Pending && now >= self.auth_deadline
    }
}

/// Whether a token that expires at `expires_at` has expired at `now`.
pub fn is_expired(expires_at: Option<u64>, now: u64) -> bool {
    expires_at.is_some_and(|at| now >= at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::support::*;

    #[test]
    fn new_sessions_are_pending_with_a_deadline() {
        let s = Session::new("c".into(), room("r"), 5, 10);
        assert_eq!(
            (s.state, s.auth_deadline, s.connected_at),
            (AuthState::Pending, 15, 5)
        );
        assert!(!s.is_overdue(14));
        assert!(s.is_overdue(15));
    }

    #[test]
    fn attachments_round_trip_and_stay_small() {
        for state in [
            AuthState::Pending,
            AuthState::Authenticating,
            AuthState::Authenticated,
        ] {
            let s = session(state);
            let text = s.to_attachment();
            assert_eq!(Session::from_attachment(&text), Some(s));
            assert!(text.len() < 120, "{text}");
        }
        assert_eq!(Session::from_attachment("{}"), None);
        // A room id in an attachment is validated like any other.
        let bad = session(AuthState::Pending)
            .to_attachment()
            .replace("room-1", "a/b");
        assert_eq!(Session::from_attachment(&bad), None);
        assert_eq!(Session::from_attachment("garbage"), None);
    }
}
