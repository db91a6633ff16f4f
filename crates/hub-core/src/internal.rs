//! The requests the Worker sends to a room's Durable Object: one enum, one encoding,
//! used by both sides. Pure.
//!
//! The Worker validates the backend's body once (`broadcast::parse`) and forwards only
//! what the room needs, so the room never parses the public body again: the message
//! travels verbatim after one line holding the exclusions.

use crate::broadcast::Broadcast;
use crate::control::Disconnect;
use serde::{Deserialize, Serialize};

/// Base URL of the Worker's requests to a room (never reachable from outside: the
/// Worker forwards only room upgrades from the public URL space).
pub const ORIGIN: &str = "https://chat-room.internal";

const BROADCAST_PATH: &str = "/broadcast";
const STATS_PATH: &str = "/stats";
const CONNECTIONS_PATH: &str = "/connections";
const DISCONNECT_PATH: &str = "/disconnect";
const AUDIT_PATH: &str = "/audit";

/// One request from the Worker to a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Internal<'a> {
    /// Deliver `message` to the room's authenticated sockets.
    Broadcast(Delivery<'a>),
    /// Flush pending rows and report the room's counts.
    Stats,
    /// Flush pending rows and list the room's connections.
    Connections,
    /// Close the sockets of these users and connections.
    Disconnect(Disconnect),
    /// Flush pending rows and list the newest audit events, at most `limit`.
    Audit { limit: usize },
}

/// A broadcast as the room carries it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery<'a> {
    /// The message's exact JSON text, as the backend sent it.
    pub message: &'a str,
    /// Connection ids that must not receive it.
    pub exclude: Vec<String>,
    /// Only sockets of these verified user ids, when set.
    pub user_ids: Option<Vec<String>>,
    /// Deliver at most once per key within the idempotency window.
    pub idempotency_key: Option<String>,
}

impl<'a> From<Broadcast<'a>> for Delivery<'a> {
    fn from(b: Broadcast<'a>) -> Self {
        Delivery {
            message: b.message.get(),
            exclude: b.exclude,
            user_ids: b.user_ids,
            idempotency_key: b.idempotency_key,
        }
    }
}

/// Which internal request a path names, before its body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Broadcast,
    Stats,
    Connections,
    Disconnect,
    Audit,
}

impl Kind {
    pub fn of_path(path: &str) -> Option<Kind> {
        match path {
            BROADCAST_PATH => Some(Kind::Broadcast),
            STATS_PATH => Some(Kind::Stats),
            CONNECTIONS_PATH => Some(Kind::Connections),
            DISCONNECT_PATH => Some(Kind::Disconnect),
            AUDIT_PATH => Some(Kind::Audit),
            _ => None,
        }
    }
}

/// The line ahead of the message: small, and never containing a raw newline (JSON
/// escapes newlines inside strings), so the first `\n` always ends it.
#[derive(Serialize, Deserialize)]
struct Envelope {
    #[serde(rename = "x", default, skip_serializing_if = "Vec::is_empty")]
    exclude: Vec<String>,
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    user_ids: Option<Vec<String>>,
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

/// A body the room could not decode: a bug or version skew between Worker and room,
/// never client input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError;

impl<'a> Internal<'a> {
    pub fn kind(&self) -> Kind {
        match self {
            Internal::Broadcast(_) => Kind::Broadcast,
            Internal::Stats => Kind::Stats,
            Internal::Connections => Kind::Connections,
            Internal::Disconnect(_) => Kind::Disconnect,
            Internal::Audit { .. } => Kind::Audit,
        }
    }

    /// The request's URL on the room.
    pub fn url(&self) -> String {
        let path = match self.kind() {
            Kind::Broadcast => BROADCAST_PATH,
            Kind::Stats => STATS_PATH,
            Kind::Connections => CONNECTIONS_PATH,
            Kind::Disconnect => DISCONNECT_PATH,
            Kind::Audit => AUDIT_PATH,
        };
        format!("{ORIGIN}{path}")
    }

    pub fn method(&self) -> &'static str {
        match self.kind() {
            // The audit's limit travels in the body, so its request is a POST too.
            Kind::Broadcast | Kind::Disconnect | Kind::Audit => "POST",
            Kind::Stats | Kind::Connections => "GET",
        }
    }

    /// The request body, when the request has one.
    pub fn body(&self) -> Option<String> {
        match self {
            Internal::Broadcast(d) => {
                let envelope = Envelope {
                    exclude: d.exclude.clone(),
                    user_ids: d.user_ids.clone(),
                    key: d.idempotency_key.clone(),
                };
                let head = serde_json::to_string(&envelope).unwrap_or_else(|_| "{}".into());
                let mut body = String::with_capacity(head.len() + 1 + d.message.len());
                body.push_str(&head);
                body.push('\n');
                body.push_str(d.message);
                Some(body)
            }
            Internal::Disconnect(d) => serde_json::to_string(d).ok(),
            Internal::Audit { limit } => Some(limit.to_string()),
            Internal::Stats | Internal::Connections => None,
        }
    }

    /// The request the Worker sent, from its kind and body.
    pub fn decode(kind: Kind, body: &'a str) -> Result<Internal<'a>, DecodeError> {
        match kind {
            Kind::Stats => Ok(Internal::Stats),
            Kind::Connections => Ok(Internal::Connections),
            Kind::Disconnect => serde_json::from_str(body)
                .map(Internal::Disconnect)
                .map_err(|_| DecodeError),
            Kind::Audit => body
                .parse()
                .map(|limit| Internal::Audit { limit })
                .map_err(|_| DecodeError),
            Kind::Broadcast => {
                let (head, message) = body.split_once('\n').ok_or(DecodeError)?;
                let envelope: Envelope = serde_json::from_str(head).map_err(|_| DecodeError)?;
                Ok(Internal::Broadcast(Delivery {
                    message,
                    exclude: envelope.exclude,
                    user_ids: envelope.user_ids,
                    idempotency_key: envelope.key,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broadcast;

    fn round_trip(req: &Internal<'_>) {
        let url = req.url();
        let path = url.strip_prefix(ORIGIN).unwrap();
        let kind = Kind::of_path(path).unwrap();
        let body = req.body().unwrap_or_default();
        assert_eq!(&Internal::decode(kind, &body).unwrap(), req);
    }

    #[test]
    fn every_request_round_trips() {
        round_trip(&Internal::Stats);
        round_trip(&Internal::Connections);
        round_trip(&Internal::Audit { limit: 7 });
        round_trip(&Internal::Disconnect(Disconnect {
            user_ids: vec!["u1".into()],
            connection_ids: vec!["c\n1".into()],
            reason: crate::control::Reason::Reauth,
        }));
        round_trip(&Internal::Broadcast(Delivery {
            message: "{\"type\":\"x\",\"text\":\"a\\nb\"}",
            exclude: vec!["c\n1".into(), "c2".into()],
            user_ids: Some(vec!["u\n1".into()]),
            idempotency_key: Some("k-1".into()),
        }));
        round_trip(&Internal::Broadcast(Delivery {
            message: "{\"type\":\"x\"}",
            exclude: vec![],
            user_ids: None,
            idempotency_key: None,
        }));
    }

    #[test]
    fn the_message_travels_verbatim_from_the_parsed_body() {
        let body =
            r#"{"roomId":"r","message":{"type":"x","n":8E88888},"excludeConnectionIds":["a"]}"#;
        let req = Internal::Broadcast(broadcast::parse(body).unwrap().into());
        let encoded = req.body().unwrap();
        assert!(encoded.ends_with("\n{\"type\":\"x\",\"n\":8E88888}"));
        let Internal::Broadcast(d) = Internal::decode(Kind::Broadcast, &encoded).unwrap() else {
            panic!("not a broadcast");
        };
        assert_eq!(d.message, r#"{"type":"x","n":8E88888}"#);
        assert_eq!(d.exclude, ["a"]);
    }

    #[test]
    fn unknown_paths_and_broken_bodies_are_refused() {
        assert_eq!(Kind::of_path("/rooms/broadcast"), None);
        assert_eq!(Kind::of_path("/"), None);
        assert_eq!(Internal::decode(Kind::Broadcast, "{}"), Err(DecodeError));
        assert_eq!(
            Internal::decode(Kind::Broadcast, "nope\n{}"),
            Err(DecodeError)
        );
    }
}
