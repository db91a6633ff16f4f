//! What a socket is connected to: a room (`/rooms/:roomId`), or one person's own
//! channel (`/users/:userId`, see `personal`). Its key names the Durable Object that
//! holds it: a room's id, or `@` and the user id, which no room id can be.

use crate::personal::user_channel::UserChannel;
use crate::room_id::RoomId;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};

/// A room, or one user's personal channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Channel {
    Room(RoomId),
    User(UserChannel),
}

/// Everything but the unreserved characters is encoded in an internal query.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b':')
    .remove(b'@');

impl Channel {
    /// The channel a key names (a room id, or `@<userId>`).
    pub fn from_key(key: &str) -> Option<Channel> {
        match key.strip_prefix('@') {
            Some(user) => UserChannel::parse(user).ok().map(Channel::User),
            None => RoomId::parse(key).ok().map(Channel::Room),
        }
    }

    /// The name of the object that holds it (a room's first object).
    pub fn key(&self) -> String {
        match self {
            Channel::Room(room) => room.as_str().to_owned(),
            Channel::User(user) => user.object_name(),
        }
    }

    /// The key as a query value (`room=<this>` on internal requests).
    pub fn query_value(&self) -> String {
        utf8_percent_encode(&self.key(), QUERY).to_string()
    }

    /// The channel a query value names.
    pub fn from_query_value(value: &str) -> Option<Channel> {
        Channel::from_key(&percent_decode_str(value).decode_utf8().ok()?)
    }

    pub fn room(&self) -> Option<&RoomId> {
        match self {
            Channel::Room(room) => Some(room),
            Channel::User(_) => None,
        }
    }

    pub fn user(&self) -> Option<&UserChannel> {
        match self {
            Channel::Room(_) => None,
            Channel::User(user) => Some(user),
        }
    }

    pub fn is_personal(&self) -> bool {
        matches!(self, Channel::User(_))
    }
}

impl From<RoomId> for Channel {
    fn from(room: RoomId) -> Self {
        Channel::Room(room)
    }
}

impl TryFrom<String> for Channel {
    type Error = &'static str;

    fn try_from(key: String) -> Result<Self, Self::Error> {
        Channel::from_key(&key).ok_or("not a room id or @<userId>")
    }
}

impl From<Channel> for String {
    fn from(channel: Channel) -> String {
        channel.key()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_never_collide() {
        let room = Channel::from_key("team:42").unwrap();
        assert_eq!(room.room().map(RoomId::as_str), Some("team:42"));
        let user = Channel::from_key("@team:42").unwrap();
        assert_eq!(user.user().map(UserChannel::as_str), Some("team:42"));
        assert_ne!(room.key(), user.key());
        assert_eq!(Channel::from_key(&user.key()), Some(user.clone()));
        assert_eq!(Channel::from_key("@"), None);
        assert_eq!(Channel::from_key("a/b"), None);
        let odd = Channel::User(UserChannel::parse("a&room=b#c d").unwrap());
        let value = odd.query_value();
        assert!(!value.contains(['&', '#', ' ', '=']), "{value}");
        assert_eq!(Channel::from_query_value(&value), Some(odd));
    }

    #[test]
    fn a_channel_is_stored_as_its_key() {
        let user = Channel::from_key("@사용자").unwrap();
        let text = serde_json::to_string(&user).unwrap();
        assert_eq!(text, "\"@사용자\"");
        assert_eq!(serde_json::from_str::<Channel>(&text).unwrap(), user);
        assert!(serde_json::from_str::<Channel>("\"a/b\"").is_err());
    }
}
