//! `POST /api/broadcast/batch`: many broadcasts, many rooms, one call. Pure: the
//! body is split into entries (each validated like `/api/broadcast`'s body, failing
//! only itself) and the per-entry results are encoded here.

use crate::body::{invalid, json_object, BodyError};
use crate::broadcast::{self, Broadcast};
use serde::Serialize;
use serde_json::value::RawValue;

/// Most entries one batch may hold.
pub const MAX_ENTRIES: usize = 100;

/// One entry: its broadcast, or why it is refused (with its `roomId` if it had one).
pub type Entry<'a> = Result<Broadcast<'a>, (Option<String>, BodyError)>;

#[derive(serde::Deserialize)]
struct Body<'a> {
    #[serde(borrow)]
    broadcasts: Option<&'a RawValue>,
}

/// The entries of a batch body, in order. Only a body that is not a JSON object with
/// a `broadcasts` array of 1-100 entries is refused as a whole. An entry whose raw
/// JSON is longer than `max_entry_bytes` (a single broadcast's limit) fails alone.
pub fn parse(body: &str, max_entry_bytes: usize) -> Result<Vec<Entry<'_>>, BodyError> {
    let body: Body = json_object(body)?;
    let entries: Vec<&RawValue> = body
        .broadcasts
        .and_then(|b| serde_json::from_str(b.get()).ok())
        .ok_or_else(|| invalid("broadcasts: required array of broadcast bodies"))?;
    if entries.is_empty() || entries.len() > MAX_ENTRIES {
        return Err(invalid(format!("broadcasts: 1-{MAX_ENTRIES} entries")));
    }
    Ok(entries
        .into_iter()
        .map(|e| {
            if e.get().len() > max_entry_bytes {
                return Err((room_of(e), BodyError::TooLarge(max_entry_bytes)));
            }
            broadcast::parse(e.get()).map_err(|err| (room_of(e), err))
        })
        .collect())
}

/// The `roomId` of an entry that failed, when it is at least a string.
fn room_of(entry: &RawValue) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Room {
        #[serde(rename = "roomId")]
        room_id: Option<serde_json::Value>,
    }
    match serde_json::from_str::<Room>(entry.get()).ok()?.room_id? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    }
}

/// One entry's result, in the batch answer's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    Delivered {
        #[serde(rename = "roomId")]
        room_id: String,
        success: bool,
        delivered: u64,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        duplicate: bool,
    },
    Failed {
        #[serde(rename = "roomId")]
        room_id: Option<String>,
        success: bool,
        error: ErrorBody,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

impl Outcome {
    pub fn delivered(room_id: String, delivered: u64, duplicate: bool) -> Self {
        Outcome::Delivered {
            room_id,
            success: true,
            delivered,
            duplicate,
        }
    }

    pub fn failed(room_id: Option<String>, code: &str, message: &str) -> Self {
        Outcome::Failed {
            room_id,
            success: false,
            error: ErrorBody {
                code: code.to_owned(),
                message: message.to_owned(),
            },
        }
    }
}

/// `{"success":true,"results":[…]}`.
pub fn answer(results: &[Outcome]) -> String {
    #[derive(Serialize)]
    struct Answer<'a> {
        success: bool,
        results: &'a [Outcome],
    }
    serde_json::to_string(&Answer {
        success: true,
        results,
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_over_a_single_broadcasts_limit_fails_alone() {
        let big = "x".repeat(200);
        let body = format!(
            r#"{{"broadcasts":[{{"roomId":"a","message":{{"type":"x","t":"{big}"}}}},{{"roomId":"b","message":{{"type":"x"}}}}]}}"#
        );
        let entries = parse(&body, 100).unwrap();
        let (room, err) = entries[0].as_ref().unwrap_err();
        assert_eq!(
            (room.as_deref(), err.code()),
            (Some("a"), "payload_too_large")
        );
        assert!(entries[1].is_ok());
        // Exactly at the limit is fine.
        let exact = r#"{"roomId":"b","message":{"type":"x"}}"#;
        let body = format!(r#"{{"broadcasts":[{exact}]}}"#);
        assert!(parse(&body, exact.len()).unwrap()[0].is_ok());
    }

    #[test]
    fn entries_fail_alone() {
        let body = r#"{"broadcasts":[
            {"roomId":"a","message":{"type":"x"}},
            {"roomId":"b/c","message":{"type":"x"}},
            {"roomId":"d","message":{"type":"auth:ok"}},
            {"roomId":7},
            {"roomId":"e","message":{"type":"x"},"idempotencyKey":"k","userIds":["u"]}
        ]}"#;
        let entries = parse(body, 65_536).unwrap();
        assert_eq!(entries.len(), 5);
        assert_eq!(entries[0].as_ref().unwrap().room_id.as_str(), "a");
        let err = |i: usize| entries[i].as_ref().unwrap_err();
        assert_eq!(
            (err(1).0.as_deref(), err(1).1.code()),
            (Some("b/c"), "invalid_body")
        );
        assert_eq!(
            (err(2).0.as_deref(), err(2).1.code()),
            (Some("d"), "reserved_type")
        );
        assert_eq!(err(3).0, None);
        let e = entries[4].as_ref().unwrap();
        assert_eq!(e.idempotency_key.as_deref(), Some("k"));
    }

    #[test]
    fn only_the_envelope_fails_the_whole_batch() {
        assert_eq!(parse("nope", 65_536).err(), Some(BodyError::InvalidJson));
        for bad in ["[]", "{}", r#"{"broadcasts":{}}"#, r#"{"broadcasts":[]}"#] {
            assert!(
                matches!(parse(bad, 65_536), Err(BodyError::InvalidBody(_))),
                "{bad}"
            );
        }
        let many: Vec<&str> = (0..101)
            .map(|_| r#"{"roomId":"a","message":{"type":"x"}}"#)
            .collect();
        let body = format!(r#"{{"broadcasts":[{}]}}"#, many.join(","));
        assert!(
            matches!(parse(&body, 65_536), Err(BodyError::InvalidBody(m)) if m.starts_with("broadcasts"))
        );
    }

    #[test]
    fn answers_keep_the_order_and_the_shapes() {
        let text = answer(&[
            Outcome::delivered("a".into(), 2, false),
            Outcome::delivered("b".into(), 1, true),
            Outcome::failed(None, "invalid_body", "roomId: required string"),
        ]);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"success": true, "results": [
                {"roomId": "a", "success": true, "delivered": 2},
                {"roomId": "b", "success": true, "delivered": 1, "duplicate": true},
                {"roomId": null, "success": false, "error": {"code": "invalid_body", "message": "roomId: required string"}},
            ]})
        );
    }
}
