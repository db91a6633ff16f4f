//! Client frames: parsed once, at the edge, into [`ClientFrame`], with the error a
//! malformed or oversized frame gets.

use crate::errors::{ClientError, ErrorCode};
use serde_json::value::RawValue;
use std::collections::HashMap;

/// Longest accepted auth token, in bytes.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// Longest accepted claimed user id, in characters.
pub const MAX_USER_ID_CHARS: usize = 128;

/// The auth event: the only event allowed before authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    pub token: String,
    /// Required in a room, which it must name; unused on a personal channel.
    pub room_id: Option<String>,
    /// A room's claimed user id; on a personal channel, required and the channel's.
    pub user_id: Option<String>,
    /// A resume ticket from an earlier `auth:ok`. Anything but a string of at most
    /// `resume::MAX_TICKET_CHARS` is ignored: a bad ticket never refuses a client.
    pub resume: Option<String>,
    /// `"batch": true`: this socket takes a busy room's events as `batch` frames.
    pub batch: bool,
}

/// A client frame, parsed and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    Auth(AuthRequest),
    Typing {
        is_typing: bool,
    },
    /// `t` is kept as the raw JSON text the client sent so the pong echoes it exactly.
    Ping {
        t: Option<String>,
    },
    /// `auth:refresh`: a fresh token for the live connection.
    Refresh {
        token: String,
    },
}

/// Any incoming WebSocket frame, as the runtime hands it over.
pub enum Incoming<'a> {
    Text(&'a str),
    /// A text frame known to be over the limit before it was read.
    TooLarge,
    Binary,
}

/// Parses one incoming frame. `max_bytes` bounds text frames.
pub fn parse_incoming(frame: Incoming<'_>, max_bytes: usize) -> Result<ClientFrame, ClientError> {
    match frame {
        Incoming::Binary => Err(ErrorCode::UnsupportedFrame.into()),
        Incoming::TooLarge => Err(too_large(max_bytes)),
        Incoming::Text(text) if text.len() > max_bytes => Err(too_large(max_bytes)),
        Incoming::Text(text) => parse_client_frame(text),
    }
}

/// Parses a text frame into a [`ClientFrame`].
pub fn parse_client_frame(text: &str) -> Result<ClientFrame, ClientError> {
    // Validate the syntax first so "not JSON" and "JSON of the wrong shape" get different codes.
    let raw: &RawValue = serde_json::from_str(text).map_err(|_| ErrorCode::InvalidJson)?;
    if !raw.get().starts_with('{') {
        return Err(ClientError::with_message(
            ErrorCode::InvalidEvent,
            "event must be a JSON object",
        ));
    }
    let fields: HashMap<String, &RawValue> =
        serde_json::from_str(raw.get()).map_err(|_| invalid_field("object keys"))?;
    let kind: String = match fields.get("type") {
        Some(v) => serde_json::from_str(v.get()).map_err(|_| invalid_field("type"))?,
        None => return Err(invalid_field("type")),
    };
    match kind.as_str() {
        "auth" => parse_auth(&fields).map(ClientFrame::Auth),
        "typing" => match fields.get("isTyping").map(|v| v.get()) {
            Some("true") => Ok(ClientFrame::Typing { is_typing: true }),
            Some("false") => Ok(ClientFrame::Typing { is_typing: false }),
            _ => Err(invalid_field("isTyping")),
        },
        "ping" => Ok(ClientFrame::Ping {
            t: fields.get("t").map(|v| v.get().to_owned()),
        }),
        "auth:refresh" => parse_token(&fields).map(|token| ClientFrame::Refresh { token }),
        _ => Err(ErrorCode::UnknownType.into()),
    }
}

fn too_large(max_bytes: usize) -> ClientError {
    ClientError::with_message(
        ErrorCode::FrameTooLarge,
        format!("text frames are limited to {max_bytes} bytes"),
    )
}

/// The error of a frame missing `field`, or holding an unusable one.
pub fn invalid_field(field: &str) -> ClientError {
    ClientError::with_message(
        ErrorCode::InvalidEvent,
        format!("missing or invalid field: {field}"),
    )
}

fn string_field(
    fields: &HashMap<String, &RawValue>,
    name: &str,
) -> Result<Option<String>, ClientError> {
    match fields.get(name) {
        None => Ok(None),
        Some(v) if v.get() == "null" => Ok(None),
        Some(v) => serde_json::from_str(v.get())
            .map(Some)
            .map_err(|_| invalid_field(name)),
    }
}

/// The `token` of `auth` and `auth:refresh`.
fn parse_token(fields: &HashMap<String, &RawValue>) -> Result<String, ClientError> {
    let token = string_field(fields, "token")?.ok_or_else(|| invalid_field("token"))?;
    // The token goes into an Authorization header: only visible ASCII can travel there
    // safely, and CR/LF must never reach a header.
    if token.is_empty()
        || token.len() > MAX_TOKEN_BYTES
        || !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ClientError::with_message(
            ErrorCode::InvalidEvent,
            format!("token must be 1-{MAX_TOKEN_BYTES} visible ASCII characters"),
        ));
    }
    Ok(token)
}

fn parse_auth(fields: &HashMap<String, &RawValue>) -> Result<AuthRequest, ClientError> {
    let token = parse_token(fields)?;
    let room_id = string_field(fields, "roomId")?;
    let user_id = string_field(fields, "userId")?;
    if let Some(u) = &user_id {
        if u.is_empty() || u.chars().count() > MAX_USER_ID_CHARS {
            return Err(ClientError::with_message(
                ErrorCode::InvalidEvent,
                format!("userId must be 1-{MAX_USER_ID_CHARS} characters"),
            ));
        }
    }
    let resume = fields
        .get("resume")
        .and_then(|v| serde_json::from_str::<String>(v.get()).ok())
        .filter(|t| t.len() <= crate::resume::MAX_TICKET_CHARS);
    let batch = match fields.get("batch").map(|v| v.get()) {
        None | Some("null") | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(invalid_field("batch")),
    };
    Ok(AuthRequest {
        token,
        room_id,
        user_id,
        resume,
        batch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ServerFrame;

    fn code(text: &str) -> ErrorCode {
        parse_client_frame(text).unwrap_err().code
    }

    #[test]
    fn parses_auth_with_and_without_user_id() {
        let f = parse_client_frame(r#"{"type":"auth","token":"t","roomId":"r","userId":"u"}"#);
        assert_eq!(
            f,
            Ok(ClientFrame::Auth(AuthRequest {
                token: "t".into(),
                room_id: Some("r".into()),
                user_id: Some("u".into()),
                resume: None,
                batch: false,
            }))
        );
        let f = parse_client_frame(r#"{"type":"auth","token":"t","roomId":"r","userId":null}"#);
        assert!(matches!(
            f,
            Ok(ClientFrame::Auth(AuthRequest { user_id: None, .. }))
        ));
        let f = parse_client_frame(r#"{"roomId":"r","token":"t","type":"auth","extra":[1]}"#);
        assert!(matches!(f, Ok(ClientFrame::Auth(_))));
    }

    #[test]
    fn a_resume_ticket_is_read_and_a_bad_one_ignored() {
        let resume = |extra: &str| match parse_client_frame(&format!(
            r#"{{"type":"auth","token":"t","roomId":"r"{extra}}}"#
        )) {
            Ok(ClientFrame::Auth(a)) => a.resume,
            other => panic!("{other:?}"),
        };
        assert_eq!(resume(r#","resume":"abc.def""#), Some("abc.def".into()));
        assert_eq!(resume(""), None);
        assert_eq!(resume(r#","resume":null"#), None);
        assert_eq!(resume(r#","resume":7"#), None);
        let long = "a".repeat(crate::resume::MAX_TICKET_CHARS + 1);
        assert_eq!(resume(&format!(r#","resume":"{long}""#)), None);
    }

    #[test]
    fn batching_is_asked_for_with_a_boolean() {
        let batch = |extra: &str| {
            parse_client_frame(&format!(
                r#"{{"type":"auth","token":"t","roomId":"r"{extra}}}"#
            ))
            .map(|f| match f {
                ClientFrame::Auth(a) => a.batch,
                other => panic!("{other:?}"),
            })
        };
        assert_eq!(batch(r#","batch":true"#), Ok(true));
        assert_eq!(batch(r#","batch":false"#), Ok(false));
        assert_eq!(batch(""), Ok(false));
        assert_eq!(batch(r#","batch":null"#), Ok(false));
        assert_eq!(
            batch(r#","batch":"yes""#).map_err(|e| e.code),
            Err(ErrorCode::InvalidEvent)
        );
    }

    #[test]
    fn refuses_bad_auth_fields() {
        assert_eq!(
            code(r#"{"type":"auth","roomId":"r"}"#),
            ErrorCode::InvalidEvent
        );
        assert_eq!(
            code(r#"{"type":"auth","token":"","roomId":"r"}"#),
            ErrorCode::InvalidEvent
        );
        assert_eq!(
            code(r#"{"type":"auth","token":7,"roomId":"r"}"#),
            ErrorCode::InvalidEvent
        );
        // Which of roomId and userId an auth needs is its channel's call (`session`).
        let bare = parse_client_frame(r#"{"type":"auth","token":"t"}"#);
        assert!(matches!(
            bare,
            Ok(ClientFrame::Auth(AuthRequest { room_id: None, .. }))
        ));
        assert_eq!(
            code(r#"{"type":"auth","token":"t","roomId":1}"#),
            ErrorCode::InvalidEvent
        );
        assert_eq!(
            code(r#"{"type":"auth","token":"a\r\nX-Evil: 1","roomId":"r"}"#),
            ErrorCode::InvalidEvent
        );
        assert_eq!(
            code(r#"{"type":"auth","token":"a b","roomId":"r"}"#),
            ErrorCode::InvalidEvent
        );
        let long = format!(
            r#"{{"type":"auth","token":"{}","roomId":"r"}}"#,
            "x".repeat(4097)
        );
        assert_eq!(code(&long), ErrorCode::InvalidEvent);
        let max = format!(
            r#"{{"type":"auth","token":"{}","roomId":"r"}}"#,
            "x".repeat(4096)
        );
        assert!(parse_client_frame(&max).is_ok());
        let uid = format!(
            r#"{{"type":"auth","token":"t","roomId":"r","userId":"{}"}}"#,
            "é".repeat(129)
        );
        assert_eq!(code(&uid), ErrorCode::InvalidEvent);
        let uid = format!(
            r#"{{"type":"auth","token":"t","roomId":"r","userId":"{}"}}"#,
            "é".repeat(128)
        );
        assert!(parse_client_frame(&uid).is_ok());
        assert_eq!(
            code(r#"{"type":"auth","token":"t","roomId":"r","userId":5}"#),
            ErrorCode::InvalidEvent
        );
    }

    #[test]
    fn parses_auth_refresh() {
        assert_eq!(
            parse_client_frame(r#"{"type":"auth:refresh","token":"t2"}"#),
            Ok(ClientFrame::Refresh { token: "t2".into() })
        );
        // The same token rules as `auth`.
        for bad in [
            r#"{"type":"auth:refresh"}"#,
            r#"{"type":"auth:refresh","token":""}"#,
            r#"{"type":"auth:refresh","token":7}"#,
            r#"{"type":"auth:refresh","token":"a\r\nX: 1"}"#,
        ] {
            assert_eq!(code(bad), ErrorCode::InvalidEvent, "{bad}");
        }
    }

    #[test]
    fn parses_typing_and_ping() {
        assert_eq!(
            parse_client_frame(r#"{"type":"typing","isTyping":true}"#),
            Ok(ClientFrame::Typing { is_typing: true })
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"typing","isTyping": false }"#),
            Ok(ClientFrame::Typing { is_typing: false })
        );
        assert_eq!(
            code(r#"{"type":"typing","isTyping":"yes"}"#),
            ErrorCode::InvalidEvent
        );
        assert_eq!(code(r#"{"type":"typing"}"#), ErrorCode::InvalidEvent);
        assert_eq!(
            parse_client_frame(r#"{"type":"ping","t":{"a":[1,2.50,"x"]}}"#),
            Ok(ClientFrame::Ping {
                t: Some(r#"{"a":[1,2.50,"x"]}"#.into())
            })
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"ping"}"#),
            Ok(ClientFrame::Ping { t: None })
        );
    }

    #[test]
    fn ping_echoes_numbers_serde_would_refuse() {
        // Found by the fuzzer: valid JSON numbers outside f64's range stay verbatim.
        let frame = "{\"type\":\"ping\",\"t\":[6E1265, -1e999]}";
        let Ok(ClientFrame::Ping { t }) = parse_client_frame(frame) else {
            panic!("not a ping");
        };
        assert_eq!(
            ServerFrame::Pong { t: t.as_deref() }.encode(),
            r#"{"type":"pong","t":[6E1265, -1e999]}"#
        );
    }

    #[test]
    fn classifies_malformed_frames() {
        assert_eq!(code("not json"), ErrorCode::InvalidJson);
        assert_eq!(code(r#"{"type":"ping""#), ErrorCode::InvalidJson);
        assert_eq!(code(""), ErrorCode::InvalidJson);
        assert_eq!(code("[1,2]"), ErrorCode::InvalidEvent);
        assert_eq!(code("\"auth\""), ErrorCode::InvalidEvent);
        assert_eq!(code("null"), ErrorCode::InvalidEvent);
        assert_eq!(code("{}"), ErrorCode::InvalidEvent);
        assert_eq!(code(r#"{"type":5}"#), ErrorCode::InvalidEvent);
        assert_eq!(code(r#"{"type":"shout"}"#), ErrorCode::UnknownType);
        // Deep nesting is skipped iteratively, never recursed into: no stack overflow.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(code(&deep), ErrorCode::InvalidEvent);
        let unclosed = "[".repeat(100_000);
        assert_eq!(code(&unclosed), ErrorCode::InvalidJson);
        let deep_t = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
        let deep_ping = format!(r#"{{"type":"ping","t":{deep_t}}}"#);
        assert_eq!(
            parse_client_frame(&deep_ping),
            Ok(ClientFrame::Ping { t: Some(deep_t) })
        );
    }

    #[test]
    fn bounds_and_binary_frames() {
        let big = format!(r#"{{"type":"ping","t":"{}"}}"#, "x".repeat(100));
        assert_eq!(
            parse_incoming(Incoming::Text(&big), 50).unwrap_err().code,
            ErrorCode::FrameTooLarge
        );
        assert!(parse_incoming(Incoming::Text(&big), big.len()).is_ok());
        assert_eq!(
            parse_incoming(Incoming::Binary, 1000).unwrap_err().code,
            ErrorCode::UnsupportedFrame
        );
    }
}
