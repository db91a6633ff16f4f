//! The backend's broadcast request body, parsed and validated. Pure.

pub use crate::body::BodyError;
use crate::body::{id_list, invalid, json_object, present};
use crate::protocol::SERVER_FRAME_TYPES;
use crate::room_id::RoomId;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Most connection ids one broadcast may exclude.
pub const MAX_EXCLUDED: usize = 1024;
/// Longest connection id accepted in `excludeConnectionIds` (ours are 22 characters).
pub const MAX_CONNECTION_ID_CHARS: usize = 128;
/// Most user ids one broadcast may target.
pub const MAX_USER_IDS: usize = 1024;
/// Longest user id accepted in `userIds`.
pub const MAX_USER_ID_CHARS: usize = 128;
/// Longest `idempotencyKey`, in visible ASCII characters.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 128;

/// A valid broadcast: the message is kept as the exact JSON text the backend sent,
/// so it is delivered verbatim and serialized zero times.
#[derive(Debug)]
pub struct Broadcast<'a> {
    pub room_id: RoomId,
    pub message: &'a RawValue,
    pub exclude: Vec<String>,
    /// Only authenticated sockets of these verified user ids; `None`: everyone.
    pub user_ids: Option<Vec<String>>,
    /// A retry with the same key within the window delivers nothing.
    pub idempotency_key: Option<String>,
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(rename = "roomId", borrow)]
    room_id: Option<&'a RawValue>,
    #[serde(borrow)]
    message: Option<&'a RawValue>,
    #[serde(rename = "excludeConnectionIds", borrow)]
    exclude: Option<&'a RawValue>,
    #[serde(rename = "userIds", borrow)]
    user_ids: Option<&'a RawValue>,
    #[serde(rename = "idempotencyKey", borrow)]
    idempotency_key: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct MessageHead {
    #[serde(rename = "type")]
    kind: String,
}

pub fn parse(body: &str) -> Result<Broadcast<'_>, BodyError> {
    let body: Body = json_object(body)?;
    let room_id: String = body
        .room_id
        .and_then(|r| serde_json::from_str(r.get()).ok())
        .ok_or_else(|| invalid("roomId: required string"))?;
    let room_id = RoomId::parse(&room_id)
        .map_err(|e| BodyError::InvalidBody(format!("roomId: {}", e.message())))?;
    Ok(Broadcast {
        room_id,
        message: message(body.message)?,
        exclude: exclusions(body.exclude)?,
        user_ids: id_list(body.user_ids, "userIds", 1, MAX_USER_IDS, MAX_USER_ID_CHARS)?,
        idempotency_key: idempotency_key(body.idempotency_key)?,
    })
}

/// `message`: an object with a non-empty `type` that is not one of the hub's own.
pub(crate) fn message(message: Option<&RawValue>) -> Result<&RawValue, BodyError> {
    let message = message.ok_or_else(|| invalid("message: required object"))?;
    if !message.get().starts_with('{') {
        return Err(invalid("message: must be an object"));
    }
    let head: MessageHead = serde_json::from_str(message.get())
        .map_err(|_| invalid("message.type: required string"))?;
    if head.kind.is_empty() {
        return Err(invalid("message.type: must not be empty"));
    }
    // A forged `auth:ok` would rewrite a client's connection id.
    if SERVER_FRAME_TYPES.contains(&head.kind.as_str()) {
        return Err(BodyError::ReservedType(head.kind));
    }
    Ok(message)
}

/// `excludeConnectionIds`: at most `MAX_EXCLUDED` connection ids.
pub(crate) fn exclusions(raw: Option<&RawValue>) -> Result<Vec<String>, BodyError> {
    let exclude: Vec<String> = match present(raw) {
        None => Vec::new(),
        Some(r) => serde_json::from_str(r.get())
            .map_err(|_| invalid("excludeConnectionIds: must be an array of strings"))?,
    };
    if exclude.len() > MAX_EXCLUDED {
        return Err(BodyError::InvalidBody(format!(
            "excludeConnectionIds: at most {MAX_EXCLUDED} entries"
        )));
    }
    if exclude
        .iter()
        .any(|c| c.chars().count() > MAX_CONNECTION_ID_CHARS)
    {
        return Err(BodyError::InvalidBody(format!(
            "excludeConnectionIds: entries are at most {MAX_CONNECTION_ID_CHARS} characters"
        )));
    }
    Ok(exclude)
}

/// `idempotencyKey`: 1–`MAX_IDEMPOTENCY_KEY_CHARS` visible ASCII characters.
pub(crate) fn idempotency_key(raw: Option<&RawValue>) -> Result<Option<String>, BodyError> {
    let Some(r) = present(raw) else {
        return Ok(None);
    };
    let key: String =
        serde_json::from_str(r.get()).map_err(|_| invalid("idempotencyKey: must be a string"))?;
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY_CHARS
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(BodyError::InvalidBody(format!(
            "idempotencyKey: 1-{MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters"
        )));
    }
    Ok(Some(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_error(body: &str) -> String {
        crate::body::invalid_body_message(body, parse(body))
    }

    #[test]
    fn parses_a_full_body_keeping_the_message_verbatim() {
        let body = r#"{"roomId":"room-1","message":{"type":"message.created","id":"m1","n":1.50},"excludeConnectionIds":["a","b"]}"#;
        let b = parse(body).unwrap();
        assert_eq!(b.room_id.as_str(), "room-1");
        assert_eq!(
            b.message.get(),
            r#"{"type":"message.created","id":"m1","n":1.50}"#
        );
        assert_eq!(b.exclude, vec!["a", "b"]);
    }

    #[test]
    fn messages_with_numbers_serde_would_refuse_stay_verbatim() {
        // Found by the fuzzer: valid JSON numbers outside f64's range are delivered as sent.
        let body = r#"{"roomId":"r","message":{"type":"x","n":8E88888}}"#;
        assert_eq!(
            parse(body).unwrap().message.get(),
            r#"{"type":"x","n":8E88888}"#
        );
    }

    #[test]
    fn targets_and_keys_are_optional_and_validated() {
        let b = parse(
            r#"{"roomId":"r","message":{"type":"x"},"userIds":["a","b"],"idempotencyKey":"m-1:x"}"#,
        )
        .unwrap();
        assert_eq!(b.user_ids, Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(b.idempotency_key.as_deref(), Some("m-1:x"));
        let b =
            parse(r#"{"roomId":"r","message":{"type":"x"},"userIds":null,"idempotencyKey":null}"#)
                .unwrap();
        assert_eq!((b.user_ids, b.idempotency_key), (None, None));
        for (field, bad) in [
            ("userIds", "[]"),
            ("userIds", r#"[""]"#),
            ("userIds", r#""a""#),
            ("userIds", "[1]"),
            ("idempotencyKey", r#""" "#),
            ("idempotencyKey", r#""a b""#),
            ("idempotencyKey", "7"),
        ] {
            let body = format!(r#"{{"roomId":"r","message":{{"type":"x"}},"{field}":{bad}}}"#);
            assert!(field_error(&body).starts_with(field), "{field} {bad}");
        }
        let many: Vec<String> = (0..1025).map(|i| format!("\"u{i}\"")).collect();
        let body = format!(
            r#"{{"roomId":"r","message":{{"type":"x"}},"userIds":[{}]}}"#,
            many.join(",")
        );
        assert!(field_error(&body).starts_with("userIds"));
        let long = format!(
            r#"{{"roomId":"r","message":{{"type":"x"}},"idempotencyKey":"{}"}}"#,
            "k".repeat(129)
        );
        assert!(field_error(&long).starts_with("idempotencyKey"));
    }

    #[test]
    fn the_hubs_own_frame_types_are_reserved() {
        for kind in SERVER_FRAME_TYPES {
            let body = format!(r#"{{"roomId":"r","message":{{"type":"{kind}"}}}}"#);
            let e = parse(&body).unwrap_err();
            assert_eq!(e.code(), "reserved_type", "{kind}");
            assert!(e.message().contains(kind));
        }
        assert!(parse(r#"{"roomId":"r","message":{"type":"auth:ok2"}}"#).is_ok());
    }

    #[test]
    fn exclusions_are_optional() {
        assert!(parse(r#"{"roomId":"r","message":{"type":"x"}}"#)
            .unwrap()
            .exclude
            .is_empty());
        assert!(
            parse(r#"{"roomId":"r","message":{"type":"x"},"excludeConnectionIds":null}"#)
                .unwrap()
                .exclude
                .is_empty()
        );
    }

    #[test]
    fn names_the_bad_field() {
        assert_eq!(parse("{").err(), Some(BodyError::InvalidJson));
        assert_eq!(parse("").err(), Some(BodyError::InvalidJson));
        assert!(field_error("[]").contains("object"));
        assert!(field_error(r#"{"message":{"type":"x"}}"#).starts_with("roomId"));
        assert!(field_error(r#"{"roomId":5,"message":{"type":"x"}}"#).starts_with("roomId"));
        assert!(field_error(r#"{"roomId":"a/b","message":{"type":"x"}}"#).starts_with("roomId"));
        assert!(field_error(r#"{"roomId":"r"}"#).starts_with("message"));
        assert!(field_error(r#"{"roomId":"r","message":"hi"}"#).starts_with("message"));
        assert!(field_error(r#"{"roomId":"r","message":{"id":1}}"#).starts_with("message.type"));
        assert!(field_error(r#"{"roomId":"r","message":{"type":""}}"#).starts_with("message.type"));
        assert!(
            field_error(r#"{"roomId":"r","message":{"type":"x"},"excludeConnectionIds":"a"}"#)
                .starts_with("excludeConnectionIds")
        );
        assert!(
            field_error(r#"{"roomId":"r","message":{"type":"x"},"excludeConnectionIds":[1]}"#)
                .starts_with("excludeConnectionIds")
        );
        let many: Vec<String> = (0..1025).map(|i| format!("\"c{i}\"")).collect();
        let body = format!(
            r#"{{"roomId":"r","message":{{"type":"x"}},"excludeConnectionIds":[{}]}}"#,
            many.join(",")
        );
        assert!(field_error(&body).starts_with("excludeConnectionIds"));
    }
}
