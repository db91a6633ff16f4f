//! A broadcast as the room carries it out, and its answer. The Worker validates the
//! backend's body once (`crate::broadcast::parse`) and forwards only what the room
//! needs, so the room never parses the public body again: the message travels
//! verbatim after one line holding the exclusions. Not under `/api/rooms/:roomId/`:
//! `/api/broadcast` and its batch name the room in the body.

use super::{DecodeError, Endpoint, Invalid};
use crate::broadcast::Broadcast;
use serde::{Deserialize, Serialize};

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

/// `{"success":true,"delivered":N}`, with `"duplicate":true` when the key was seen
/// within the window (nothing was sent; `delivered` is the first call's count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    pub success: bool,
    pub delivered: usize,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
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

impl<'a> Endpoint<'a> for Delivery<'a> {
    const NAME: &'static str = "broadcast";
    const METHOD: Option<super::Method> = None;
    type Answer = Sent;

    /// Never called: a broadcast is not under `/api/rooms/:roomId/`.
    fn from_public(_query: Option<&str>, _body: &'a str) -> Result<Self, Invalid> {
        Err(Invalid {
            code: "not_found",
            message: "publish with POST /api/broadcast".into(),
        })
    }

    fn encode(&self) -> String {
        let envelope = Envelope {
            exclude: self.exclude.clone(),
            user_ids: self.user_ids.clone(),
            key: self.idempotency_key.clone(),
        };
        let head = serde_json::to_string(&envelope).unwrap_or_else(|_| "{}".into());
        let mut body = String::with_capacity(head.len() + 1 + self.message.len());
        body.push_str(&head);
        body.push('\n');
        body.push_str(self.message);
        body
    }

    fn decode(body: &'a str) -> Result<Self, DecodeError> {
        let (head, message) = body.split_once('\n').ok_or(DecodeError)?;
        let envelope: Envelope = serde_json::from_str(head).map_err(|_| DecodeError)?;
        Ok(Delivery {
            message,
            exclude: envelope.exclude,
            user_ids: envelope.user_ids,
            idempotency_key: envelope.key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broadcast;

    #[test]
    fn the_message_travels_verbatim_from_the_parsed_body() {
        let body =
            r#"{"roomId":"r","message":{"type":"x","n":8E88888},"excludeConnectionIds":["a"]}"#;
        let d: Delivery = broadcast::parse(body).unwrap().into();
        let encoded = d.encode();
        assert!(encoded.ends_with("\n{\"type\":\"x\",\"n\":8E88888}"));
        let d = Delivery::decode(&encoded).unwrap();
        assert_eq!(d.message, r#"{"type":"x","n":8E88888}"#);
        assert_eq!(d.exclude, ["a"]);
    }

    #[test]
    fn the_answer_says_duplicate_only_when_it_is_one() {
        let sent = |duplicate| Sent {
            success: true,
            delivered: 3,
            duplicate,
        };
        let first = super::super::answer_json(&sent(false));
        assert_eq!(first, r#"{"success":true,"delivered":3}"#);
        let again = super::super::answer_json(&sent(true));
        assert_eq!(again, r#"{"success":true,"delivered":3,"duplicate":true}"#);
        assert_eq!(serde_json::from_str::<Sent>(&first).unwrap(), sent(false));
    }
}
