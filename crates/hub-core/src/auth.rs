//! The participants check, as data: which URL and body to send, and what the
//! backend's answer means. A personal channel's sessions check follows the same
//! rules, and its 200 may name the users it watches. Pure; the HTTP call itself is
//! in `backend.rs`.

use crate::channel::Channel;
use crate::personal::user_channel::UserChannel;
use crate::protocol::MAX_USER_ID_CHARS;
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::HashMap;

/// Largest participants-check response body read; a longer one is unreadable.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024;

/// `{origin}/api/v1/message-rooms/{room}/participants/check`, or for a personal
/// channel `{origin}/api/v1/users/{userId}/sessions/check`. The id is always one
/// percent-encoded segment, so no client input can change which path is called.
pub fn check_url(backend_origin: &str, channel: &Channel) -> String {
    let origin = backend_origin.trim_end_matches('/');
    match channel {
        Channel::Room(room) => format!(
            "{origin}/api/v1/message-rooms/{}/participants/check",
            room.path_segment()
        ),
        Channel::User(user) => format!(
            "{origin}/api/v1/users/{}/sessions/check",
            user.path_segment()
        ),
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum CheckBody<'a> {
    Room {
        #[serde(rename = "roomId")]
        room_id: &'a str,
        #[serde(rename = "userId")]
        user_id: Option<&'a str>,
        #[serde(rename = "connectionId")]
        connection_id: &'a str,
    },
    User {
        #[serde(rename = "userId")]
        user_id: &'a str,
        #[serde(rename = "connectionId")]
        connection_id: &'a str,
    },
}

/// The JSON body of the check: `{roomId, userId (the claim), connectionId}`, or on a
/// personal channel `{userId (the channel's), connectionId}`.
pub fn check_body(channel: &Channel, claimed_user_id: Option<&str>, connection_id: &str) -> String {
    let body = match channel {
        Channel::Room(room) => CheckBody::Room {
            room_id: room.as_str(),
            user_id: claimed_user_id,
            connection_id,
        },
        Channel::User(user) => CheckBody::User {
            user_id: user.as_str(),
            connection_id,
        },
    };
    serde_json::to_string(&body).unwrap_or_default()
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
    /// 200: a participant, with the identity to use from now on and when its token
    /// expires (Unix ms), if the backend said.
    Verified {
        user_id: Option<String>,
        expires_at: Option<u64>,
        /// A personal channel's watchlist (`watch`): whose status it is told.
        watch: Vec<String>,
    },
    /// 401, 403 or 404: not a participant.
    Denied,
    /// Anything else (5xx, 3xx, other 4xx, timeout, network error): try again later.
    Unavailable,
}

/// A participants-check response body, as far as the hub could read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body<'a> {
    /// The whole body (possibly empty), within `MAX_RESPONSE_BYTES`.
    Text(&'a str),
    /// Over the bound, not UTF-8, or failed to read.
    Unreadable,
}

/// Judges a participants-check response. A 200 never lets the client choose its own
/// identity unless the backend saw the claim and said nothing against it:
/// - an empty body, or a JSON object without `"userId"` (or with `null`): the claim
///   stands (the check's body carried it);
/// - a JSON object with a `"userId"` string of 1–128 characters: that id, whatever the
///   claim; any other `"userId"` (a number, `true`, an object, an empty or too long
///   string) is unavailable: the backend named someone, and the hub cannot tell whom;
/// - anything else (not JSON, not an object, unreadable): unavailable. An origin that
///   answers every request with an HTML page admits nobody.
///
/// `"expiresAt"` (Unix ms) may come with it: absent or `null` means no expiry. Any
/// other value than a whole number of milliseconds is unavailable too: the backend
/// meant the session to end, and the hub cannot tell when.
///
/// A personal channel's 200 may carry `"watch"`: at most [`MAX_WATCH`] user ids. Any
/// other value is unavailable too: the backend meant to say whom, and the hub cannot
/// tell. A room's check never reads it.
pub fn judge(
    status: u16,
    body: Body<'_>,
    claimed_user_id: Option<&str>,
    personal: bool,
) -> AuthOutcome {
    let claim = || claimed_user_id.map(str::to_owned);
    match status {
        200 => match body {
            Body::Text(text) if text.trim().is_empty() => AuthOutcome::Verified {
                user_id: claim(),
                expires_at: None,
                watch: Vec::new(),
            },
            Body::Text(text) => match verdict(text, personal) {
                Some((user_id, expires_at, mut watch)) => {
                    // Nobody watches themselves.
                    watch.retain(|w| Some(w.as_str()) != claimed_user_id);
                    AuthOutcome::Verified {
                        user_id: user_id.or_else(claim),
                        expires_at,
                        watch,
                    }
                }
                None => AuthOutcome::Unavailable,
            },
            Body::Unreadable => AuthOutcome::Unavailable,
        },
        401 | 403 | 404 => AuthOutcome::Denied,
        _ => AuthOutcome::Unavailable,
    }
}

/// Most user ids one personal channel watches.
pub const MAX_WATCH: usize = 1_024;

/// The `userId` (if any), `expiresAt` and (`personal`) `watch` of a JSON object;
/// `None` for anything that is not a JSON object or has an unusable one of them.
/// Other fields are kept raw, so no value the hub does not read can make the body
/// unreadable.
fn verdict(text: &str, personal: bool) -> Option<(Option<String>, Option<u64>, Vec<String>)> {
    let raw: &RawValue = serde_json::from_str(text).ok()?;
    if !raw.get().starts_with('{') {
        return None;
    }
    let fields: HashMap<String, &RawValue> = serde_json::from_str(raw.get()).ok()?;
    let user_id = match fields.get("userId") {
        None => None,
        Some(v) => {
            let id = serde_json::from_str::<Option<String>>(v.get()).ok()?;
            match id {
                Some(id) if id.is_empty() || id.chars().count() > MAX_USER_ID_CHARS => return None,
                id => id,
            }
        }
    };
    let expires_at = match fields.get("expiresAt") {
        None => None,
        Some(v) => serde_json::from_str::<Option<u64>>(v.get()).ok()?,
    };
    let watch = match fields.get("watch") {
        Some(v) if personal => watchlist(v.get())?,
        _ => Vec::new(),
    };
    Some((user_id, expires_at, watch))
}

/// `watch`: `null`, or an array of at most `MAX_WATCH` valid user ids (repeats once).
fn watchlist(raw: &str) -> Option<Vec<String>> {
    let Some(ids) = serde_json::from_str::<Option<Vec<String>>>(raw).ok()? else {
        return Some(Vec::new());
    };
    if ids.len() > MAX_WATCH || ids.iter().any(|id| UserChannel::parse(id).is_err()) {
        return None;
    }
    let mut seen = std::collections::HashSet::new();
    Some(
        ids.into_iter()
            .filter(|id| seen.insert(id.clone()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room_id::RoomId;

    fn room(id: &str) -> Channel {
        Channel::Room(RoomId::parse(id).unwrap())
    }

    #[test]
    fn check_init_carries_the_token_only_in_its_header() {
        let body = check_body(&room("r1"), Some("u\"1"), "c1");
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
        assert_eq!(
            check_url("https://api.nativor.com/", &room("team:1")),
            "https://api.nativor.com/api/v1/message-rooms/team%3A1/participants/check"
        );
        assert_eq!(
            check_url("http://b", &room("...")),
            "http://b/api/v1/message-rooms/.../participants/check"
        );
    }

    #[test]
    fn body_carries_room_claim_and_connection() {
        let room = room("r");
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
    fn a_200_never_lets_the_client_choose_its_identity() {
        let ok = |user: Option<&str>| AuthOutcome::Verified {
            user_id: user.map(str::to_owned),
            expires_at: None,
            watch: Vec::new(),
        };
        let text = |t| judge(200, Body::Text(t), Some("claim"), false);
        assert_eq!(text(r#"{"userId":"srv"}"#), ok(Some("srv")));
        assert_eq!(text(r#" {"userId":"srv","n":8E88888} "#), ok(Some("srv")));
        // The backend saw the claim and named nobody else.
        // A present userId that is not a usable id fails closed.
        for bad in [
            r#"{"userId":42}"#,
            r#"{"userId":true}"#,
            r#"{"userId":{"id":"srv"}}"#,
            r#"{"userId":["srv"]}"#,
            r#"{"userId":""}"#,
        ] {
            assert_eq!(text(bad), AuthOutcome::Unavailable, "{bad}");
        }
        let long = format!(r#"{{"userId":"{}"}}"#, "é".repeat(129));
        assert_eq!(text(&long), AuthOutcome::Unavailable);
        let longest = format!(r#"{{"userId":"{}"}}"#, "é".repeat(128));
        assert!(matches!(text(&longest), AuthOutcome::Verified { .. }));
        assert_eq!(text(r#"{"userId":null}"#), ok(Some("claim")));
        assert_eq!(text("{}"), ok(Some("claim")));
        assert_eq!(text(""), ok(Some("claim")));
        assert_eq!(text(" \n"), ok(Some("claim")));
        assert_eq!(judge(200, Body::Text(""), None, false), ok(None));
        // Anything else fails closed.
        for bad in [
            "<html>",
            "yes, a participant",
            "[]",
            "\"srv\"",
            "7",
            "{",
            "null",
        ] {
            assert_eq!(text(bad), AuthOutcome::Unavailable, "{bad}");
        }
        assert_eq!(
            judge(200, Body::Unreadable, Some("claim"), false),
            AuthOutcome::Unavailable
        );
    }

    #[test]
    fn expiry_is_a_whole_number_of_milliseconds_or_nothing() {
        let text = |t| judge(200, Body::Text(t), None, false);
        let ok = |expires_at| AuthOutcome::Verified {
            user_id: Some("u".into()),
            expires_at,
            watch: Vec::new(),
        };
        assert_eq!(
            text(r#"{"userId":"u","expiresAt":1700000000000}"#),
            ok(Some(1_700_000_000_000))
        );
        assert_eq!(text(r#"{"userId":"u","expiresAt":null}"#), ok(None));
        assert_eq!(text(r#"{"userId":"u"}"#), ok(None));
        for bad in [
            r#"{"userId":"u","expiresAt":"soon"}"#,
            r#"{"userId":"u","expiresAt":-1}"#,
            r#"{"userId":"u","expiresAt":1.5}"#,
            r#"{"userId":"u","expiresAt":1e400}"#,
            r#"{"userId":"u","expiresAt":{}}"#,
        ] {
            assert_eq!(text(bad), AuthOutcome::Unavailable, "{bad}");
        }
    }

    #[test]
    fn statuses() {
        for s in [401, 403, 404] {
            assert_eq!(judge(s, Body::Unreadable, None, true), AuthOutcome::Denied);
        }
        for s in [201, 204, 301, 302, 400, 429, 500, 502, 503] {
            assert_eq!(
                judge(s, Body::Text(r#"{"userId":"x"}"#), None, true),
                AuthOutcome::Unavailable,
                "{s}"
            );
        }
    }

    #[test]
    fn a_personal_channel_checks_its_user_and_reads_its_watchlist() {
        let ann = Channel::from_key("@a/n n").unwrap();
        assert_eq!(
            check_url("https://b/", &ann),
            "https://b/api/v1/users/a%2Fn%20n/sessions/check"
        );
        let v: serde_json::Value =
            serde_json::from_str(&check_body(&ann, Some("ignored"), "c")).unwrap();
        assert_eq!(v, serde_json::json!({"userId":"a/n n","connectionId":"c"}));
        let text = |t| judge(200, Body::Text(t), Some("a/n n"), true);
        let watching = |ids: &[&str]| AuthOutcome::Verified {
            user_id: Some("a/n n".into()),
            expires_at: None,
            watch: ids.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(text(r#"{"watch":["b","c","b"]}"#), watching(&["b", "c"]));
        assert_eq!(text(r#"{"watch":["a/n n","b"]}"#), watching(&["b"]));
        assert_eq!(text(r#"{"watch":null}"#), watching(&[]));
        assert_eq!(text(""), watching(&[]));
        let many: Vec<String> = (0..=MAX_WATCH).map(|i| format!("u{i}")).collect();
        let too_many = serde_json::json!({ "watch": many }).to_string();
        for bad in [
            r#"{"watch":"b"}"#,
            r#"{"watch":[1]}"#,
            r#"{"watch":[""]}"#,
            &too_many,
        ] {
            assert_eq!(text(bad), AuthOutcome::Unavailable, "{bad}");
        }
        // A room's check never reads it.
        let room_check = judge(200, Body::Text(r#"{"watch":"b"}"#), Some("u"), false);
        assert!(matches!(room_check, AuthOutcome::Verified { ref watch, .. } if watch.is_empty()));
    }
}
