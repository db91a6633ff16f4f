//! The backend's calls on users' personal channels (`/api/users/...`), parsed and
//! validated once in the Worker, and their answers. Pure.
//!
//! - `POST /api/users/broadcast`: one message to every personal socket of 1–1,024
//!   users, with the room broadcast's rules (reserved types, size, exclusions, keys).
//! - `POST /api/users/status`: whether each of 1–1,024 users is online.
//! - `POST /api/users/:userId/disconnect`: a user's personal sockets, or some of them.

use crate::body::{id_list, invalid, json_object, present, BodyError};
use crate::broadcast::{
    exclusions, idempotency_key, message, MAX_CONNECTION_ID_CHARS, MAX_USER_IDS,
};
use crate::control::{Disconnect, Reason};
use crate::personal::user_channel::{UserChannel, MAX_CHARS};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::HashSet;

/// `POST /api/users/broadcast`, valid.
#[derive(Debug)]
pub struct UsersBroadcast<'a> {
    /// Each listed user once, in the order first listed.
    pub users: Vec<UserChannel>,
    /// The exact JSON text the backend sent, delivered verbatim.
    pub message: &'a RawValue,
    pub exclude: Vec<String>,
    pub idempotency_key: Option<String>,
}

#[derive(Deserialize)]
struct BroadcastBody<'a> {
    #[serde(rename = "userIds", borrow)]
    user_ids: Option<&'a RawValue>,
    #[serde(borrow)]
    message: Option<&'a RawValue>,
    #[serde(rename = "excludeConnectionIds", borrow)]
    exclude: Option<&'a RawValue>,
    #[serde(rename = "idempotencyKey", borrow)]
    idempotency_key: Option<&'a RawValue>,
}

pub fn parse_broadcast(body: &str) -> Result<UsersBroadcast<'_>, BodyError> {
    let body: BroadcastBody = json_object(body)?;
    Ok(UsersBroadcast {
        users: users(body.user_ids)?,
        message: message(body.message)?,
        exclude: exclusions(body.exclude)?,
        idempotency_key: idempotency_key(body.idempotency_key)?,
    })
}

#[derive(Deserialize)]
struct StatusBody<'a> {
    #[serde(rename = "userIds", borrow)]
    user_ids: Option<&'a RawValue>,
}

/// `POST /api/users/status`: the users, in request order (repeats answered each time).
pub fn parse_status(body: &str) -> Result<Vec<UserChannel>, BodyError> {
    let body: StatusBody = json_object(body)?;
    let ids = id_list(body.user_ids, "userIds", 1, MAX_USER_IDS, MAX_CHARS)?
        .ok_or_else(|| invalid("userIds: required array"))?;
    ids.iter().map(|id| user(id)).collect()
}

/// `userIds` of a broadcast: each user once.
fn users(raw: Option<&RawValue>) -> Result<Vec<UserChannel>, BodyError> {
    let ids = id_list(raw, "userIds", 1, MAX_USER_IDS, MAX_CHARS)?
        .ok_or_else(|| invalid("userIds: required array"))?;
    let mut seen = HashSet::new();
    ids.iter()
        .filter(|id| seen.insert(id.as_str()))
        .map(|id| user(id))
        .collect()
}

fn user(id: &str) -> Result<UserChannel, BodyError> {
    UserChannel::parse(id).map_err(|_| invalid("userIds: ids may not hold control characters"))
}

#[derive(Deserialize)]
struct DisconnectBody<'a> {
    #[serde(rename = "connectionIds", borrow)]
    connection_ids: Option<&'a RawValue>,
    #[serde(borrow)]
    reason: Option<&'a RawValue>,
}

/// `POST /api/users/:userId/disconnect` `{"connectionIds"?, "reason"?}`: without
/// `connectionIds`, every personal socket of the user, and (as a room's disconnect
/// of a user does) its personal resume tickets are refused from now on.
pub fn parse_disconnect(user: &UserChannel, body: &str) -> Result<Disconnect, BodyError> {
    let body: DisconnectBody = json_object(body)?;
    let connection_ids = id_list(
        body.connection_ids,
        "connectionIds",
        1,
        MAX_USER_IDS,
        MAX_CONNECTION_ID_CHARS,
    )?;
    let reason = match present(body.reason) {
        None => Reason::Removed,
        Some(r) => serde_json::from_str(r.get())
            .map_err(|_| invalid("reason: \"removed\" or \"reauth\""))?,
    };
    Ok(match connection_ids {
        Some(connection_ids) => Disconnect {
            user_ids: Vec::new(),
            connection_ids,
            reason,
        },
        None => Disconnect {
            user_ids: vec![user.as_str().to_owned()],
            connection_ids: Vec::new(),
            reason,
        },
    })
}

/// `/api/users/broadcast`'s answer: `duplicate` is always there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UsersSent {
    pub success: bool,
    pub delivered: usize,
    pub duplicate: bool,
}

/// One user in `/api/users/status`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserStatus {
    pub user_id: String,
    pub online: bool,
    pub connections: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusAnswer {
    pub success: bool,
    pub users: Vec<UserStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::invalid_body_message;

    #[test]
    fn a_users_broadcast_follows_the_rooms_rules() {
        let b = parse_broadcast(
            r#"{"userIds":["a","b","a"],"message":{"type":"x","n":1},"excludeConnectionIds":["c1"],"idempotencyKey":"k"}"#,
        )
        .unwrap();
        let ids: Vec<&str> = b.users.iter().map(UserChannel::as_str).collect();
        assert_eq!(ids, ["a", "b"], "each user once");
        assert_eq!(b.message.get(), r#"{"type":"x","n":1}"#);
        assert_eq!(
            (b.exclude, b.idempotency_key),
            (vec!["c1".into()], Some("k".into()))
        );
        let reserved = parse_broadcast(r#"{"userIds":["a"],"message":{"type":"user:status"}}"#);
        assert!(matches!(reserved, Err(BodyError::ReservedType(_))));
        for (body, field) in [
            (r#"{"message":{"type":"x"}}"#, "userIds"),
            (r#"{"userIds":[],"message":{"type":"x"}}"#, "userIds"),
            (
                r#"{"userIds":["a\u0000"],"message":{"type":"x"}}"#,
                "userIds",
            ),
            (r#"{"userIds":["a"]}"#, "message"),
        ] {
            let m = invalid_body_message(body, parse_broadcast(body));
            assert!(m.starts_with(field), "{body}: {m}");
        }
        let many: Vec<String> = (0..=MAX_USER_IDS).map(|i| i.to_string()).collect();
        let body = serde_json::json!({"userIds": many, "message": {"type":"x"}}).to_string();
        assert!(parse_broadcast(&body).is_err());
    }

    #[test]
    fn status_keeps_the_request_order() {
        let users = parse_status(r#"{"userIds":["b","a","b"]}"#).unwrap();
        let ids: Vec<&str> = users.iter().map(UserChannel::as_str).collect();
        assert_eq!(ids, ["b", "a", "b"]);
        assert!(parse_status("{}").is_err());
        assert!(parse_status(r#"{"userIds":"a"}"#).is_err());
    }

    #[test]
    fn a_disconnect_without_connections_takes_every_socket_of_the_user() {
        let ann = UserChannel::parse("ann").unwrap();
        let all = parse_disconnect(&ann, r#"{"reason":"reauth"}"#).unwrap();
        assert_eq!(all.user_ids, ["ann"]);
        assert_eq!(all.reason, Reason::Reauth);
        let some = parse_disconnect(&ann, r#"{"connectionIds":["c1"]}"#).unwrap();
        assert_eq!((some.user_ids.len(), some.reason), (0, Reason::Removed));
        assert!(parse_disconnect(&ann, r#"{"connectionIds":[]}"#).is_err());
        assert!(parse_disconnect(&ann, r#"{"reason":"gone"}"#).is_err());
        assert!(parse_disconnect(&ann, "[]").is_err());
    }
}
