//! Server frames: every frame the hub sends, encoded from [`ServerFrame`], and the one
//! list of their types.

use crate::errors::ClientError;
use serde::Serialize;
use serde_json::value::RawValue;

/// The `type` of every frame the hub itself sends: the one list. The JSON Schemas,
/// the end-to-end frame check and the browser client's parser are tested against it
/// (`tests/frame_types.rs` at the repository root), and `every_server_frame_type_is_listed`
/// below fails when a variant of [`ServerFrame`] (or the `batch` frame of `burst`) is
/// missing here.
pub const SERVER_FRAME_TYPES: [&str; 8] = [
    "auth:ok",
    "user:status",
    "auth:refreshed",
    "presence",
    "typing",
    "pong",
    "error",
    "batch",
];

/// A change of who is in the room, told to its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence<'a> {
    /// A user's first socket joined.
    Join(&'a str),
    /// A user's last socket left.
    Leave(&'a str),
    /// The room grew past `PRESENCE_MAX_MEMBERS`: the member list is no longer kept.
    Off,
    /// The room is back within the limit: here is the whole list.
    On(&'a [&'a str]),
}

impl Serialize for Presence<'_> {
    /// `{"event":"join"|"leave","userId"}`, or `{"event":"off","members":null}`, or
    /// `{"event":"on","members":[…]}`.
    fn serialize<Z: serde::Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        match self {
            Presence::Join(u) => {
                map.serialize_entry("event", "join")?;
                map.serialize_entry("userId", u)?;
            }
            Presence::Leave(u) => {
                map.serialize_entry("event", "leave")?;
                map.serialize_entry("userId", u)?;
            }
            Presence::Off => {
                map.serialize_entry("event", "off")?;
                map.serialize_entry("members", &None::<()>)?;
            }
            Presence::On(list) => {
                map.serialize_entry("event", "on")?;
                map.serialize_entry("members", list)?;
            }
        }
        map.end()
    }
}

/// Frames the hub sends to clients, as they go on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type")]
pub enum ServerFrame<'a> {
    #[serde(rename = "auth:ok", rename_all = "camelCase")]
    AuthOk {
        connection_id: &'a str,
        user_id: Option<&'a str>,
        /// When the token expires (Unix ms), as the backend said.
        expires_at: Option<u64>,
        /// The distinct users in the room, this socket's included; `None` while
        /// presence is off.
        members: Option<&'a [&'a str]>,
        /// A resume ticket (only with `RESUME_SECRET` set and a verified user id).
        #[serde(skip_serializing_if = "Option::is_none")]
        resume: Option<&'a str>,
    },
    /// A personal channel's `auth:ok`: its user, and the watched users online now.
    #[serde(rename = "auth:ok", rename_all = "camelCase")]
    PersonalOk {
        connection_id: &'a str,
        user_id: &'a str,
        expires_at: Option<u64>,
        online: &'a [&'a str],
        #[serde(skip_serializing_if = "Option::is_none")]
        resume: Option<&'a str>,
    },
    /// A watched user came online (first personal socket) or went offline (none for
    /// `OFFLINE_DELAY_MS`).
    #[serde(rename = "user:status", rename_all = "camelCase")]
    UserStatus { user_id: &'a str, online: bool },
    #[serde(rename = "auth:refreshed", rename_all = "camelCase")]
    Refreshed {
        expires_at: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        resume: Option<&'a str>,
    },
    #[serde(rename = "presence")]
    Presence(Presence<'a>),
    #[serde(rename = "typing", rename_all = "camelCase")]
    Typing {
        user_id: Option<&'a str>,
        is_typing: bool,
    },
    #[serde(rename = "pong")]
    Pong {
        /// The client's `t`, verbatim JSON (it came from a parsed frame).
        #[serde(skip_serializing_if = "Option::is_none", serialize_with = "raw_json")]
        t: Option<&'a str>,
    },
    #[serde(rename = "error")]
    Error(&'a ClientError),
}

/// Writes JSON text as it is (numbers outside f64's range included); text that is
/// not JSON is written as `null`.
fn raw_json<Z: serde::Serializer>(t: &Option<&str>, s: Z) -> Result<Z::Ok, Z::Error> {
    let raw = t.and_then(|t| serde_json::from_str::<&RawValue>(t).ok());
    raw.serialize(s)
}

impl ServerFrame<'_> {
    pub fn encode(&self) -> String {
        // Serializing these plain structs cannot fail (no maps with non-string keys).
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::ErrorCode;

    #[test]
    fn encodes_server_frames() {
        assert_eq!(
            ServerFrame::AuthOk {
                connection_id: "c1",
                user_id: Some("u1"),
                expires_at: Some(1_700_000_000_000),
                members: Some(&["u1", "u\"2"]),
                resume: Some("p.m"),
            }
            .encode(),
            r#"{"type":"auth:ok","connectionId":"c1","userId":"u1","expiresAt":1700000000000,"members":["u1","u\"2"],"resume":"p.m"}"#
        );
        assert_eq!(
            ServerFrame::AuthOk {
                connection_id: "c1",
                user_id: None,
                expires_at: None,
                members: None,
                resume: None,
            }
            .encode(),
            r#"{"type":"auth:ok","connectionId":"c1","userId":null,"expiresAt":null,"members":null}"#
        );
        assert_eq!(
            ServerFrame::PersonalOk {
                connection_id: "c1",
                user_id: "u1",
                expires_at: None,
                online: &["u2"],
                resume: None,
            }
            .encode(),
            r#"{"type":"auth:ok","connectionId":"c1","userId":"u1","expiresAt":null,"online":["u2"]}"#
        );
        assert_eq!(
            ServerFrame::UserStatus {
                user_id: "u\"2",
                online: false,
            }
            .encode(),
            r#"{"type":"user:status","userId":"u\"2","online":false}"#
        );
        assert_eq!(
            ServerFrame::Refreshed {
                expires_at: Some(5),
                resume: None,
            }
            .encode(),
            r#"{"type":"auth:refreshed","expiresAt":5}"#
        );
        assert_eq!(
            ServerFrame::Refreshed {
                expires_at: None,
                resume: Some("t.k")
            }
            .encode(),
            r#"{"type":"auth:refreshed","expiresAt":null,"resume":"t.k"}"#
        );
        let presence = |p| ServerFrame::Presence(p).encode();
        assert_eq!(
            presence(Presence::Join("u1")),
            r#"{"type":"presence","event":"join","userId":"u1"}"#
        );
        assert_eq!(
            presence(Presence::Leave("u1")),
            r#"{"type":"presence","event":"leave","userId":"u1"}"#
        );
        assert_eq!(
            presence(Presence::Off),
            r#"{"type":"presence","event":"off","members":null}"#
        );
        assert_eq!(
            presence(Presence::On(&["a", "b"])),
            r#"{"type":"presence","event":"on","members":["a","b"]}"#
        );
        assert_eq!(
            ServerFrame::Typing {
                user_id: Some("u\"1"),
                is_typing: true
            }
            .encode(),
            r#"{"type":"typing","userId":"u\"1","isTyping":true}"#
        );
        assert_eq!(
            ServerFrame::Pong {
                t: Some("1710000000")
            }
            .encode(),
            r#"{"type":"pong","t":1710000000}"#
        );
        assert_eq!(ServerFrame::Pong { t: None }.encode(), r#"{"type":"pong"}"#);
        let e = ClientError::new(ErrorCode::RoomMismatch);
        let v: serde_json::Value = serde_json::from_str(&ServerFrame::Error(&e).encode()).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["code"], "room_mismatch");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    #[test]
    fn every_server_frame_type_is_listed() {
        let e = ClientError::new(ErrorCode::InvalidJson);
        let frames = [
            ServerFrame::AuthOk {
                connection_id: "c",
                user_id: None,
                expires_at: None,
                members: None,
                resume: None,
            },
            ServerFrame::PersonalOk {
                connection_id: "c",
                user_id: "u",
                expires_at: None,
                online: &[],
                resume: None,
            },
            ServerFrame::UserStatus {
                user_id: "u",
                online: true,
            },
            ServerFrame::Refreshed {
                expires_at: None,
                resume: None,
            },
            ServerFrame::Presence(Presence::Off),
            ServerFrame::Typing {
                user_id: None,
                is_typing: true,
            },
            ServerFrame::Pong { t: None },
            ServerFrame::Error(&e),
        ];
        let mut texts: Vec<String> = frames.iter().map(ServerFrame::encode).collect();
        // Batch frames are built from queued events (`burst`), not from a variant.
        texts.extend(crate::burst::batch_frames([
            r#"{"type":"a"}"#,
            r#"{"type":"b"}"#,
        ]));
        let mut kinds: Vec<String> = texts
            .iter()
            .map(|f| {
                let v: serde_json::Value = serde_json::from_str(f).unwrap();
                v["type"].as_str().unwrap().to_owned()
            })
            .collect();
        kinds.dedup();
        assert_eq!(kinds, SERVER_FRAME_TYPES);
    }
}
