//! A personal channel's user id: one percent-encoded path segment of 1–128
//! characters once decoded, any characters but control ones. It is written into the
//! backend's path re-encoded as one segment, so no input can change which path is
//! called, and its object's name starts with `@`, which no room id contains (rooms'
//! further objects add `#k` to a room id): no personal object is ever a room's.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Longest user id, in characters.
pub const MAX_CHARS: usize = 128;

/// Everything but the unreserved characters is encoded in the backend's path.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserChannel(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChannelError {
    Missing,
    TooLong,
    /// Not UTF-8 once decoded, or a control character.
    Invalid,
}

impl UserChannelError {
    pub fn message(self) -> &'static str {
        match self {
            UserChannelError::Missing => "user id is missing",
            UserChannelError::TooLong => "user id is longer than 128 characters",
            UserChannelError::Invalid => {
                "user id must be one path segment of UTF-8 without control characters"
            }
        }
    }
}

impl UserChannel {
    /// A user id as it arrived in a URL path segment (still percent-encoded).
    pub fn parse_encoded(segment: &str) -> Result<UserChannel, UserChannelError> {
        let decoded = percent_decode_str(segment)
            .decode_utf8()
            .map_err(|_| UserChannelError::Invalid)?;
        UserChannel::parse(&decoded)
    }

    /// A user id as text (a query parameter, a frame's `userId`).
    pub fn parse(id: &str) -> Result<UserChannel, UserChannelError> {
        if id.is_empty() {
            return Err(UserChannelError::Missing);
        }
        if id.chars().count() > MAX_CHARS {
            return Err(UserChannelError::TooLong);
        }
        if id.chars().any(char::is_control) {
            return Err(UserChannelError::Invalid);
        }
        Ok(UserChannel(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as one path segment of the backend's URL.
    pub fn path_segment(&self) -> String {
        utf8_percent_encode(&self.0, SEGMENT).to_string()
    }

    /// The Durable Object that holds every personal socket of this user.
    pub fn object_name(&self) -> String {
        format!("@{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room_id::RoomId;

    #[test]
    fn ids_decode_from_one_segment_and_encode_back_into_one() {
        let id = UserChannel::parse_encoded("a%2F..%3Fb%23c%20d").unwrap();
        assert_eq!(id.as_str(), "a/..?b#c d");
        assert_eq!(id.path_segment(), "a%2F..%3Fb%23c%20d");
        assert!(!id.path_segment().contains(['/', '?', '#']));
        let korean = UserChannel::parse("사용자").unwrap();
        assert_eq!(
            UserChannel::parse_encoded(&korean.path_segment()),
            Ok(korean)
        );
    }

    #[test]
    fn lengths_count_characters_and_odd_input_is_refused() {
        assert!(UserChannel::parse(&"가".repeat(MAX_CHARS)).is_ok());
        let long = "a".repeat(MAX_CHARS + 1);
        assert_eq!(UserChannel::parse(&long), Err(UserChannelError::TooLong));
        assert_eq!(UserChannel::parse(""), Err(UserChannelError::Missing));
        assert_eq!(UserChannel::parse("a\nb"), Err(UserChannelError::Invalid));
        assert_eq!(
            UserChannel::parse_encoded("%FF"),
            Err(UserChannelError::Invalid)
        );
    }

    #[test]
    fn no_personal_object_is_a_rooms() {
        let id = UserChannel::parse("team:42").unwrap();
        assert_eq!(id.object_name(), "@team:42");
        assert!(RoomId::parse(&id.object_name()).is_err());
        let shard = crate::shard::naming::parse_object_name(&id.object_name());
        assert_eq!(shard, None);
    }
}
