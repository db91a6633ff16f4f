//! The backend's control requests on a room's live connections, parsed and
//! validated. Pure.

use crate::body::{id_list, invalid, json_object, present, BodyError};
use crate::broadcast::{MAX_CONNECTION_ID_CHARS, MAX_USER_IDS, MAX_USER_ID_CHARS};
use crate::protocol::ErrorCode;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Why the backend takes connections away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// No longer a participant: `removed`, close 4403; the client must not come back
    /// to this room unchanged.
    #[serde(rename = "removed")]
    Removed,
    /// Authenticate again: `reauth_required`, close 4401; the client gets a fresh
    /// token and reconnects.
    #[serde(rename = "reauth")]
    Reauth,
}

impl Reason {
    /// The error the socket gets (its close code is in `errors`' table).
    pub fn error_code(self) -> ErrorCode {
        match self {
            Reason::Removed => ErrorCode::Removed,
            Reason::Reauth => ErrorCode::ReauthRequired,
        }
    }
}

/// `POST /api/rooms/:roomId/disconnect`: the sockets of these users (every tab) and
/// these connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disconnect {
    #[serde(rename = "u", default)]
    pub user_ids: Vec<String>,
    #[serde(rename = "c", default)]
    pub connection_ids: Vec<String>,
    #[serde(rename = "r")]
    pub reason: Reason,
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(rename = "userIds", borrow)]
    user_ids: Option<&'a RawValue>,
    #[serde(rename = "connectionIds", borrow)]
    connection_ids: Option<&'a RawValue>,
    #[serde(borrow)]
    reason: Option<&'a RawValue>,
}

pub fn parse_disconnect(body: &str) -> Result<Disconnect, BodyError> {
    let body: Body = json_object(body)?;
    let ids = |raw, field, max_chars| {
        id_list(raw, field, 0, MAX_USER_IDS, max_chars).map(Option::unwrap_or_default)
    };
    let user_ids = ids(body.user_ids, "userIds", MAX_USER_ID_CHARS)?;
    let connection_ids = ids(
        body.connection_ids,
        "connectionIds",
        MAX_CONNECTION_ID_CHARS,
    )?;
    if user_ids.is_empty() && connection_ids.is_empty() {
        return Err(invalid(
            "userIds, connectionIds: at least one must be a non-empty array",
        ));
    }
    let reason = match present(body.reason) {
        None => Reason::Removed,
        Some(r) => serde_json::from_str(r.get())
            .map_err(|_| invalid("reason: \"removed\" or \"reauth\""))?,
    };
    Ok(Disconnect {
        user_ids,
        connection_ids,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::CloseCode;

    fn field_error(body: &str) -> String {
        crate::body::invalid_body_message(body, parse_disconnect(body))
    }

    #[test]
    fn parses_targets_and_the_reason() {
        assert_eq!(
            parse_disconnect(r#"{"userIds":["u1"]}"#),
            Ok(Disconnect {
                user_ids: vec!["u1".into()],
                connection_ids: vec![],
                reason: Reason::Removed
            })
        );
        let d =
            parse_disconnect(r#"{"connectionIds":["c1"],"userIds":[],"reason":"reauth"}"#).unwrap();
        assert_eq!(
            (d.connection_ids, d.reason),
            (vec!["c1".to_string()], Reason::Reauth)
        );
        assert_eq!(
            Reason::Removed.error_code().closing().1,
            CloseCode::Forbidden
        );
        assert_eq!(
            Reason::Reauth.error_code().closing().1,
            CloseCode::Unauthorized
        );
    }

    #[test]
    fn names_the_bad_field() {
        assert_eq!(parse_disconnect("{"), Err(BodyError::InvalidJson));
        assert!(field_error("[]").contains("object"));
        assert!(field_error("{}").starts_with("userIds, connectionIds"));
        assert!(field_error(r#"{"userIds":[],"connectionIds":null}"#)
            .starts_with("userIds, connectionIds"));
        assert!(field_error(r#"{"userIds":"u"}"#).starts_with("userIds"));
        assert!(field_error(r#"{"userIds":[""]}"#).starts_with("userIds"));
        assert!(field_error(r#"{"connectionIds":[7]}"#).starts_with("connectionIds"));
        assert!(field_error(r#"{"userIds":["u"],"reason":"kick"}"#).starts_with("reason"));
        let many: Vec<String> = (0..1025).map(|i| format!("\"u{i}\"")).collect();
        assert!(
            field_error(&format!(r#"{{"userIds":[{}]}}"#, many.join(","))).starts_with("userIds")
        );
    }
}
