//! What every body the backend sends has in common: a JSON object whose optional
//! fields may be `null`, lists of ids within bounds, and one error type whose codes
//! and messages go back in the `{"success":false,"error":…}` answer. Pure.

use crate::protocol::SERVER_FRAME_TYPES;
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The body is not JSON.
    InvalidJson,
    /// The body is JSON of the wrong shape; the message names the field.
    InvalidBody(String),
    /// `message.type` is one of the hub's own frame types.
    ReservedType(String),
    /// One entry of a batch is larger than a single broadcast may be (its limit).
    TooLarge(usize),
}

impl BodyError {
    pub fn code(&self) -> &'static str {
        match self {
            BodyError::InvalidJson => "invalid_json",
            BodyError::InvalidBody(_) => "invalid_body",
            BodyError::ReservedType(_) => "reserved_type",
            BodyError::TooLarge(_) => "payload_too_large",
        }
    }

    pub fn message(&self) -> String {
        match self {
            BodyError::InvalidJson => "body is not valid JSON".to_owned(),
            BodyError::InvalidBody(m) => m.clone(),
            BodyError::ReservedType(t) => format!(
                "message.type: {t:?} is one of the hub's own frame types ({})",
                SERVER_FRAME_TYPES.join(", ")
            ),
            BodyError::TooLarge(limit) => {
                format!("a broadcast is limited to {limit} bytes, in a batch too")
            }
        }
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> BodyError {
    BodyError::InvalidBody(message.into())
}

/// The body as the JSON object `T`: `invalid_json` when it is not JSON, `invalid_body`
/// when it is JSON but not an object.
pub(crate) fn json_object<'a, T: Deserialize<'a>>(body: &'a str) -> Result<T, BodyError> {
    let raw: &RawValue = serde_json::from_str(body).map_err(|_| BodyError::InvalidJson)?;
    if !raw.get().starts_with('{') {
        return Err(invalid("body must be a JSON object"));
    }
    serde_json::from_str(raw.get()).map_err(|_| invalid("body must be a JSON object"))
}

/// An optional field's value: `null` counts as absent.
pub(crate) fn present(raw: Option<&RawValue>) -> Option<&RawValue> {
    raw.filter(|r| r.get() != "null")
}

/// An optional array of `min`-`max_len` ids of 1-`max_chars` characters; the error
/// names `field`.
pub(crate) fn id_list(
    raw: Option<&RawValue>,
    field: &str,
    min: usize,
    max_len: usize,
    max_chars: usize,
) -> Result<Option<Vec<String>>, BodyError> {
    let Some(raw) = present(raw) else {
        return Ok(None);
    };
    let ids: Vec<String> = serde_json::from_str(raw.get())
        .map_err(|_| invalid(format!("{field}: must be an array of strings")))?;
    let bad = |id: &String| id.is_empty() || id.chars().count() > max_chars;
    if ids.len() < min || ids.len() > max_len || ids.iter().any(bad) {
        let count = match min {
            0 => format!("at most {max_len}"),
            _ => format!("{min}-{max_len}"),
        };
        return Err(invalid(format!(
            "{field}: {count} ids of 1-{max_chars} characters"
        )));
    }
    Ok(Some(ids))
}

/// The message of an `invalid_body` error, for tests that check which field it names.
#[cfg(test)]
pub(crate) fn invalid_body_message<T: std::fmt::Debug>(
    body: &str,
    result: Result<T, BodyError>,
) -> String {
    match result {
        Err(BodyError::InvalidBody(m)) => m,
        other => panic!("expected invalid_body for {body}, got {other:?}"),
    }
}
