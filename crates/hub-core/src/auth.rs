//! The participants check, as data: which URL and body to send, and what the
//! backend's answer means. Pure; the HTTP call itself is in `backend.rs`.

use crate::room_id::RoomId;
use serde::{Deserialize, Serialize};

/// Largest participants-check response body read; anything longer is ignored as a body.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024;

/// `{origin}/api/v1/message-rooms/{room}/participants/check`. The room id is always one
/// percent-encoded segment, so no client input can change which path is called.
pub fn check_url(backend_origin: &str, room: &RoomId) -> String {
    format!(
        "{}/api/v1/message-rooms/{}/participants/check",
        backend_origin.trim_end_matches('/'),
        room.path_segment()
    )
}

#[derive(Serialize)]
struct CheckBody<'a> {
    #[serde(rename = "roomId")]
    room_id: &'a str,
    #[serde(rename = "userId")]
    user_id: Option<&'a str>,
    #[serde(rename = "connectionId")]
    connection_id: &'a str,
}

/// The JSON body of the participants check.
pub fn check_body(room: &RoomId, claimed_user_id: Option<&str>, connection_id: &str) -> String {
    serde_json::to_string(&CheckBody {
        room_id: room.as_str(),
        user_id: claimed_user_id,
        connection_id,
    })
    .unwrap_or_default()
}

#[derive(Serialize)]
struct CheckHeaders<'a> {
    #[serde(rename = "Authorization")]
    authorization: &'a str,
    #[serde(rename = "Content-Type")]
    content_type: &'static str,
}

#[derive(Serialize)]
struct CheckInit<'a> {
    method: &'static str,
    headers: CheckHeaders<'a>,
    body: &'a str,
    /// A redirect is an answer, not an instruction: never follow it with the token.
    redirect: &'static str,
}

/// The participants check's `fetch` options (all but the abort signal) as one JSON
/// text, so the runtime builds them in one call (`JSON.parse`) instead of one call
/// per field and header from wasm.
pub fn check_init(token: &str, body: &str) -> String {
    serde_json::to_string(&CheckInit {
        method: "POST",
        headers: CheckHeaders {
            authorization: &format!("Bearer {token}"),
            content_type: "application/json",
        },
        body,
        redirect: "manual",
    })
    .unwrap_or_default()
}

/// What the participants check decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// 200: a participant, with the identity to use from now on.
    Verified { user_id: Option<String> },
    /// 401, 403 or 404: not a participant.
    Denied,
    /// Anything else (5xx, 3xx, other 4xx, timeout, network error): try again later.
    Unavailable,
}

#[derive(Deserialize)]
struct CheckResponse {
    #[serde(rename = "userId", default)]
    user_id: Option<serde_json::Value>,
}

/// Judges a participants-check response. The backend's `"userId"` (when a string) wins
/// over the client's claim; a 200 with a body that is not JSON still admits the client,
/// under its claimed id.
pub fn judge(status: u16, body: Option<&str>, claimed_user_id: Option<&str>) -> AuthOutcome {
    match status {
        200 => {
            let verified = body
                .and_then(|b| serde_json::from_str::<CheckResponse>(b).ok())
                .and_then(|r| match r.user_id {
                    Some(serde_json::Value::String(s)) => Some(s),
                    _ => None,
                });
            AuthOutcome::Verified {
                user_id: verified.or_else(|| claimed_user_id.map(str::to_owned)),
            }
        }
        401 | 403 | 404 => AuthOutcome::Denied,
        _ => AuthOutcome::Unavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_init_carries_the_token_only_in_its_header() {
        let body = check_body(&RoomId::parse("r1").unwrap(), Some("u\"1"), "c1");
        let token = "t\",\"redirect\":\"follow";
        let init: serde_json::Value = serde_json::from_str(&check_init(token, &body)).unwrap();
        assert_eq!(
            init,
            serde_json::json!({
                "method": "POST",
                "headers": {
                    "Authorization": format!("Bearer {token}"),
                    "Content-Type": "application/json",
                },
                "body": body,
                "redirect": "manual",
            })
        );
        let sent: serde_json::Value = serde_json::from_str(init["body"].as_str().unwrap()).unwrap();
        assert_eq!(sent["userId"], "u\"1");
    }

    #[test]
    fn url_always_targets_the_participants_check() {
        let room = RoomId::parse("team:1").unwrap();
        assert_eq!(
            check_url("https://api.nativor.com/", &room),
            "https://api.nativor.com/api/v1/message-rooms/team%3A1/participants/check"
        );
        let dots = RoomId::parse("...").unwrap();
        assert_eq!(
            check_url("http://b", &dots),
            "http://b/api/v1/message-rooms/.../participants/check"
        );
    }

    #[test]
    fn body_carries_room_claim_and_connection() {
        let room = RoomId::parse("r").unwrap();
        let v: serde_json::Value = serde_json::from_str(&check_body(&room, None, "c")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"roomId":"r","userId":null,"connectionId":"c"})
        );
        let v: serde_json::Value =
            serde_json::from_str(&check_body(&room, Some("u\"x"), "c")).unwrap();
        assert_eq!(v["userId"], "u\"x");
    }

    #[test]
    fn backend_identity_wins_over_the_claim() {
        let ok = |user: Option<&str>| AuthOutcome::Verified {
            user_id: user.map(str::to_owned),
        };
        assert_eq!(
            judge(200, Some(r#"{"userId":"srv"}"#), Some("claim")),
            ok(Some("srv"))
        );
        assert_eq!(
            judge(200, Some(r#"{"userId":42}"#), Some("claim")),
            ok(Some("claim"))
        );
        assert_eq!(judge(200, Some(r#"{}"#), Some("claim")), ok(Some("claim")));
        assert_eq!(judge(200, Some("<html>"), Some("claim")), ok(Some("claim")));
        assert_eq!(judge(200, None, None), ok(None));
        assert_eq!(judge(200, Some(r#"{"userId":null}"#), None), ok(None));
    }

    #[test]
    fn statuses() {
        for s in [401, 403, 404] {
            assert_eq!(judge(s, None, None), AuthOutcome::Denied);
        }
        for s in [201, 204, 301, 302, 400, 429, 500, 502, 503] {
            assert_eq!(
                judge(s, Some(r#"{"userId":"x"}"#), None),
                AuthOutcome::Unavailable,
                "{s}"
            );
        }
    }
}
