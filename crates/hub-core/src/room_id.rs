//! Room ids: the one place that decides what a room id may be and how it is
//! written into a backend URL. Pure; no `worker` types.

use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest room id accepted, in characters (all accepted characters are ASCII).
pub const MAX_LEN: usize = 128;

/// A validated room id: 1–128 characters of `A-Z a-z 0-9 _ - . :`, never `.` or `..`.
///
/// Holding a `RoomId` is proof of validity, so nothing downstream re-checks it, and
/// [`RoomId::path_segment`] can never produce `/`, `?`, `#` or a dot-segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomId(String);

impl TryFrom<String> for RoomId {
    type Error = &'static str;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        RoomId::parse(&raw).map_err(RoomIdError::message)
    }
}

impl From<RoomId> for String {
    fn from(id: RoomId) -> String {
        id.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomIdError {
    Missing,
    TooLong,
    InvalidCharacter,
    DotSegment,
}

impl RoomIdError {
    pub fn message(self) -> &'static str {
        match self {
            RoomIdError::Missing => "room id is missing",
            RoomIdError::TooLong => "room id is longer than 128 characters",
            RoomIdError::InvalidCharacter => "room id may only contain A-Z a-z 0-9 _ - . :",
            RoomIdError::DotSegment => "room id may not be '.' or '..'",
        }
    }
}

fn allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':')
}

impl RoomId {
    pub fn parse(raw: &str) -> Result<RoomId, RoomIdError> {
        if raw.is_empty() {
            return Err(RoomIdError::Missing);
        }
        if !raw.bytes().all(allowed) {
            return Err(RoomIdError::InvalidCharacter);
        }
        // Every allowed character is one byte, so bytes == characters here.
        if raw.len() > MAX_LEN {
            return Err(RoomIdError::TooLong);
        }
        if raw == "." || raw == ".." {
            return Err(RoomIdError::DotSegment);
        }
        Ok(RoomId(raw.to_owned()))
    }

    /// Parses a room id that arrived percent-encoded in a URL path segment
    /// (`/rooms/a%3Ab`). Encoded `/`, `?`, `#`, spaces or invalid UTF-8 are refused.
    pub fn parse_encoded(segment: &str) -> Result<RoomId, RoomIdError> {
        // `%` is outside the alphabet, so a `%` the decoder leaves alone (not followed
        // by two hex digits) is refused by `parse`, as is anything not UTF-8.
        let decoded = percent_decode_str(segment)
            .decode_utf8()
            .map_err(|_| RoomIdError::InvalidCharacter)?;
        RoomId::parse(&decoded)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as one percent-encoded path segment. `:` is encoded too, so the
    /// segment is made only of RFC 3986 unreserved characters and `%3A`.
    pub fn path_segment(&self) -> String {
        let mut out = String::with_capacity(self.0.len());
        for c in self.0.chars() {
            if c == ':' {
                out.push_str("%3A");
            } else {
                out.push(c);
            }
        }
        out
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for ok in [
            "a",
            "room-1",
            "conv_abc",
            "A.b:c-d_9",
            "...",
            &"x".repeat(128),
        ] {
            assert_eq!(RoomId::parse(ok).map(|r| r.0), Ok(ok.to_string()), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        assert_eq!(RoomId::parse(""), Err(RoomIdError::Missing));
        assert_eq!(RoomId::parse("."), Err(RoomIdError::DotSegment));
        assert_eq!(RoomId::parse(".."), Err(RoomIdError::DotSegment));
        assert_eq!(RoomId::parse(&"x".repeat(129)), Err(RoomIdError::TooLong));
        for bad in [
            "a/b", "a?b", "a#b", "a b", "a%2Fb", "é", "a\nb", "a\\b", "a\0",
        ] {
            assert_eq!(
                RoomId::parse(bad),
                Err(RoomIdError::InvalidCharacter),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn decodes_path_segments_strictly() {
        assert_eq!(
            RoomId::parse_encoded("a%3Ab").map(|r| r.0),
            Ok("a:b".into())
        );
        assert_eq!(
            RoomId::parse_encoded("a%2Fb"),
            Err(RoomIdError::InvalidCharacter)
        );
        assert_eq!(
            RoomId::parse_encoded("%2E%2E"),
            Err(RoomIdError::DotSegment)
        );
        assert_eq!(
            RoomId::parse_encoded("a%2"),
            Err(RoomIdError::InvalidCharacter)
        );
        assert_eq!(
            RoomId::parse_encoded("a%zz"),
            Err(RoomIdError::InvalidCharacter)
        );
        assert_eq!(
            RoomId::parse_encoded("%ff"),
            Err(RoomIdError::InvalidCharacter)
        );
    }

    #[test]
    fn path_segment_is_only_unreserved_characters() {
        let id = RoomId::parse("team:42.general_-x").unwrap();
        assert_eq!(id.path_segment(), "team%3A42.general_-x");
        assert!(id
            .path_segment()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.%".contains(&b)));
    }
}
