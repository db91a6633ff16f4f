//! Every error a client or the backend can be told about, declared once: its wire
//! code, its message, the close code that goes with it when the hub closes a socket
//! for it, and what such a close is in the connection audit. Everything else (the
//! session's and the room's closes, the audit, the docs test) reads this table.

use serde::{Serialize, Serializer};

/// Close codes the hub sends. Clients decide from these whether to reconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum CloseCode {
    /// Not authenticated: auth failed, backend unavailable, no auth in time, the
    /// token expired or changed hands, or the backend asked for a new authentication.
    Unauthorized = 4401,
    /// The socket tried to act on another room, or the backend removed it.
    Forbidden = 4403,
    /// A user has as many personal sockets as `MAX_CONNECTIONS_PER_USER` allows.
    TooManyConnections = 4409,
    /// A sustained flood of events.
    RateLimited = 4429,
    /// The room is at capacity.
    RoomFull = 4503,
}

impl CloseCode {
    pub const ALL: [CloseCode; 5] = [
        CloseCode::Unauthorized,
        CloseCode::Forbidden,
        CloseCode::TooManyConnections,
        CloseCode::RateLimited,
        CloseCode::RoomFull,
    ];

    pub fn code(self) -> u16 {
        self as u16
    }
}

/// What a close by the hub for an error is, in the connection audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAs {
    /// Turned away (`refused`, with the error code).
    Refused,
    /// Taken away by the backend with `reason: "removed"`.
    Removed,
    /// Taken away by the backend with `reason: "reauth"`.
    Reauth,
    /// Closed for another cause (`closed`, with the close code).
    Closed,
}

macro_rules! error_codes {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident = $wire:literal, $close:expr, $audit:ident, $message:expr;
    )+) => {
        /// Every error a client or the backend can be told about. The wire code
        /// ([`ErrorCode::as_str`]) is part of the public contract: never rename one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $name,)+
        }

        impl ErrorCode {
            pub const ALL: [ErrorCode; [$($wire),+].len()] = [$(ErrorCode::$name),+];

            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$name => $wire,)+ }
            }

            /// A default human-readable message; specific errors may carry a more
            /// precise one.
            pub fn message(self) -> &'static str {
                match self { $(ErrorCode::$name => $message,)+ }
            }

            /// The close code that goes with this error when the hub closes a socket
            /// for it; `None` for an error that is only ever a reply.
            pub fn close_code(self) -> Option<CloseCode> {
                match self { $(ErrorCode::$name => $close,)+ }
            }

            /// What a close for this error is in the connection audit.
            pub fn audit_as(self) -> AuditAs {
                match self { $(ErrorCode::$name => AuditAs::$audit,)+ }
            }
        }
    };
}

use CloseCode::{Forbidden, RateLimited, RoomFull, TooManyConnections, Unauthorized};

error_codes! {
    InvalidJson = "invalid_json", None, Closed, "frame is not valid JSON";
    InvalidEvent = "invalid_event", None, Closed, "event is malformed";
    UnknownType = "unknown_type", None, Closed, "unknown event type";
    UnsupportedFrame = "unsupported_frame", None, Closed,
        "binary frames are not supported; send JSON text";
    FrameTooLarge = "frame_too_large", None, Closed, "frame is too large";
    Unauthenticated = "unauthenticated", None, Closed,
        "authenticate first: send {\"type\":\"auth\",...}";
    Unauthorized = "unauthorized", Some(Unauthorized), Refused, "not a participant of this room";
    AuthUnavailable = "auth_unavailable", Some(Unauthorized), Refused,
        "authentication is unavailable; retry later";
    AuthTimeout = "auth_timeout", Some(Unauthorized), Refused, "no auth received in time";
    AuthInProgress = "auth_in_progress", None, Closed, "authentication is already in progress";
    AlreadyAuthenticated = "already_authenticated", None, Closed, "already authenticated";
    RoomMismatch = "room_mismatch", Some(Forbidden), Refused,
        "roomId does not match the room of this connection";
    UserMismatch = "user_mismatch", Some(Forbidden), Refused,
        "userId does not match the user of this personal channel";
    RateLimited = "rate_limited", Some(RateLimited), Closed, "too many events; slow down";
    RoomFull = "room_full", Some(RoomFull), Refused, "room is full";
    TooManyConnections = "too_many_connections", Some(TooManyConnections), Refused,
        "this user has as many personal connections as allowed";
    Removed = "removed", Some(Forbidden), Removed, "removed from this room";
    ReauthRequired = "reauth_required", Some(Unauthorized), Reauth,
        "authenticate again with a fresh token";
    TokenExpired = "token_expired", Some(Unauthorized), Refused,
        "the token expired; authenticate again with a fresh token";
    IdentityChanged = "identity_changed", Some(Unauthorized), Refused,
        "the refreshed token belongs to another user";
}

impl ErrorCode {
    /// This error and the close code that goes with it, for a close by the hub. An
    /// error that is only ever a reply closes as `unauthorized` would: fail closed.
    pub fn closing(self) -> (ClientError, CloseCode) {
        debug_assert!(self.close_code().is_some(), "{self:?} never closes");
        (
            self.into(),
            self.close_code().unwrap_or(CloseCode::Unauthorized),
        )
    }
}

impl Serialize for ErrorCode {
    fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A client error with its wire code and the message to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientError {
    pub code: ErrorCode,
    pub message: String,
}

impl ClientError {
    pub fn new(code: ErrorCode) -> Self {
        ClientError {
            code,
            message: code.message().to_owned(),
        }
    }

    pub fn with_message(code: ErrorCode, message: impl Into<String>) -> Self {
        ClientError {
            code,
            message: message.into(),
        }
    }
}

impl From<ErrorCode> for ClientError {
    fn from(code: ErrorCode) -> Self {
        ClientError::new(code)
    }
}

/// The code the hub answers a client's close frame with: the client's own code, or
/// 1000 for one no endpoint may send in a close frame (1005 "no code", 1006 "abnormal",
/// 1015 "TLS", and anything outside the sendable ranges of RFC 6455 §7.4).
pub fn echo_close_code(client: Option<u16>) -> u16 {
    client
        .filter(|code| matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999))
        .unwrap_or(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()));
            assert!(c
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert!(!c.message().is_empty());
        }
    }

    #[test]
    fn every_close_is_audited_by_its_kind() {
        for c in ErrorCode::ALL {
            match (c.close_code(), c.audit_as()) {
                (None, AuditAs::Closed) => {}
                (None, other) => panic!("{c:?} never closes but is audited as {other:?}"),
                (Some(_), _) => {}
            }
        }
        assert_eq!(
            ErrorCode::Removed.closing().1,
            CloseCode::Forbidden,
            "the backend's removal"
        );
        assert_eq!(ErrorCode::RateLimited.closing().1.code(), 4429);
    }

    #[test]
    fn a_client_close_is_echoed_unless_its_code_may_not_be_sent() {
        for code in [1000, 1001, 1003, 1008, 1011, 3000, 4000, 4999] {
            assert_eq!(echo_close_code(Some(code)), code);
        }
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            assert_eq!(echo_close_code(Some(code)), 1000, "{code}");
        }
        assert_eq!(echo_close_code(None), 1000);
    }
}
