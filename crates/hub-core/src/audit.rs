//! The connection audit of a room: what happened to which connection, when. Pure.
//! Never a token, message content or an address: connection ids, verified user ids,
//! error and close codes only.

use crate::control::Reason;
use crate::errors::{AuditAs, ErrorCode};
use serde::Serialize;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The socket was accepted into the room.
    Connected,
    /// The backend's participants check admitted it.
    Authenticated,
    /// A resume ticket admitted it, without a participants check.
    Resumed,
    /// Turned away: auth failed, timed out, another room, the room full, the token
    /// expired or changed hands.
    Refused(ErrorCode),
    /// Closed, by the client (its close code) or by the hub for another cause.
    Closed(Option<u16>),
    /// Taken away by the backend (`/api/rooms/:roomId/disconnect`).
    Disconnected(Reason),
}

/// Every event name, as stored.
pub const NAMES: [&str; 6] = [
    "connected",
    "authenticated",
    "resumed",
    "refused",
    "closed",
    "disconnected",
];

/// The stored name `name` stands for, if it is one.
pub fn known_name(name: &str) -> Option<&'static str> {
    NAMES.into_iter().find(|n| *n == name)
}

impl Event {
    pub fn name(self) -> &'static str {
        match self {
            Event::Connected => "connected",
            Event::Authenticated => "authenticated",
            Event::Resumed => "resumed",
            Event::Refused(_) => "refused",
            Event::Closed(_) => "closed",
            Event::Disconnected(_) => "disconnected",
        }
    }

    /// The event's detail as stored: the error code, the close code or the reason.
    pub fn detail(self) -> Option<String> {
        match self {
            Event::Connected | Event::Authenticated | Event::Resumed => None,
            Event::Refused(code) => Some(code.as_str().to_owned()),
            Event::Closed(code) => code.map(|c| c.to_string()),
            Event::Disconnected(Reason::Removed) => Some("removed".to_owned()),
            Event::Disconnected(Reason::Reauth) => Some("reauth".to_owned()),
        }
    }

    /// The event a close by the room records, from the error it sent.
    pub fn of_close(code: ErrorCode, close: u16) -> Event {
        match code.audit_as() {
            AuditAs::Removed => Event::Disconnected(Reason::Removed),
            AuditAs::Reauth => Event::Disconnected(Reason::Reauth),
            AuditAs::Refused => Event::Refused(code),
            AuditAs::Closed => Event::Closed(Some(close)),
        }
    }
}

/// One audit row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub at: u64,
    pub event: &'static str,
    #[serde(rename = "connectionId")]
    pub connection_id: String,
    #[serde(rename = "userId")]
    pub user_id: Option<String>,
    pub detail: Option<String>,
}

impl Entry {
    pub fn new(at: u64, event: Event, connection_id: &str, user_id: Option<&str>) -> Entry {
        Entry {
            at,
            event: event.name(),
            connection_id: connection_id.to_owned(),
            user_id: user_id.map(str::to_owned),
            detail: event.detail(),
        }
    }
}

/// The rows to keep: none older than `before`, at most `keep`, newest kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prune {
    pub before: u64,
    pub keep: usize,
    /// The room's time: disconnect records remembered until then are dropped too.
    pub now: u64,
}

/// Most rows `GET /api/rooms/:roomId/audit` returns, and its default.
pub const MAX_LIMIT: usize = 1_000;
pub const DEFAULT_LIMIT: usize = 100;

/// The `limit` query parameter: absent gives the default; otherwise 1-1000.
pub fn parse_limit(query: Option<&str>) -> Result<usize, String> {
    let raw = query
        .into_iter()
        .flat_map(|q| form_urlencoded::parse(q.as_bytes()))
        .find(|(k, _)| k == "limit")
        .map(|(_, v)| v.into_owned());
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(format!("limit: an integer from 1 to {MAX_LIMIT}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_codes_never_content() {
        let e = Entry::new(5, Event::Refused(ErrorCode::Unauthorized), "c1", None);
        assert_eq!(
            (e.event, e.detail.as_deref()),
            ("refused", Some("unauthorized"))
        );
        let e = Entry::new(5, Event::Closed(Some(1000)), "c1", Some("u1"));
        assert_eq!((e.event, e.detail.as_deref()), ("closed", Some("1000")));
        assert_eq!(Event::Closed(None).detail(), None);
        assert_eq!(known_name("refused"), Some("refused"));
        assert_eq!(known_name("x"), None);
        let names = [
            Event::Connected,
            Event::Authenticated,
            Event::Resumed,
            Event::Refused(ErrorCode::Unauthorized),
            Event::Closed(None),
            Event::Disconnected(Reason::Removed),
        ]
        .map(Event::name);
        assert_eq!(names, NAMES);
        assert_eq!(
            Event::Disconnected(Reason::Reauth).detail().as_deref(),
            Some("reauth")
        );
        let answer = crate::internal::audit::Events {
            success: true,
            events: vec![e],
        };
        let v = serde_json::to_value(answer).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"success": true, "events": [
                {"at": 5, "event": "closed", "connectionId": "c1", "userId": "u1", "detail": "1000"}
            ]})
        );
    }

    #[test]
    fn closes_by_the_room_are_classified_by_their_error() {
        assert_eq!(
            Event::of_close(ErrorCode::AuthTimeout, 4401),
            Event::Refused(ErrorCode::AuthTimeout)
        );
        assert_eq!(
            Event::of_close(ErrorCode::Removed, 4403),
            Event::Disconnected(Reason::Removed)
        );
        assert_eq!(
            Event::of_close(ErrorCode::RateLimited, 4429),
            Event::Closed(Some(4429))
        );
    }

    #[test]
    fn limits() {
        assert_eq!(parse_limit(None), Ok(100));
        assert_eq!(parse_limit(Some("x=1")), Ok(100));
        assert_eq!(parse_limit(Some("limit=7")), Ok(7));
        assert_eq!(parse_limit(Some("limit=1000")), Ok(1000));
        for bad in ["limit=0", "limit=1001", "limit=x", "limit=", "limit=-1"] {
            assert!(
                parse_limit(Some(bad)).unwrap_err().starts_with("limit"),
                "{bad}"
            );
        }
    }
}
