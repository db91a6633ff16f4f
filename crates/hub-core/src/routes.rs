//! Which public endpoint a request is for. Pure.

use crate::internal::Kind;
use crate::personal::user_channel::{UserChannel, UserChannelError};
use crate::room_id::{RoomId, RoomIdError};

#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    Health,
    /// `/rooms/:roomId` or `/rooms?room=:roomId`: a WebSocket into the room.
    Room(Result<RoomId, RoomIdError>),
    /// `/api/broadcast`: the backend publishes to a room.
    Broadcast,
    /// `/api/broadcast/batch`: the backend publishes to many rooms at once.
    BroadcastBatch,
    /// `/api/rooms/:roomId/<endpoint>`: a token-gated room endpoint (stats,
    /// connections, disconnect, audit: the registry in `internal`).
    RoomApi(Kind, Result<RoomId, RoomIdError>),
    /// `/users/:userId` or `/users?user=:userId`: a WebSocket into the user's
    /// personal channel.
    User(Result<UserChannel, UserChannelError>),
    /// `/api/users/broadcast`: the backend publishes to users' personal channels.
    UsersBroadcast,
    /// `/api/users/status`: whether users are online.
    UsersStatus,
    /// `/api/users/:userId/<endpoint>`: a user's connections, or their disconnect.
    UserApi(Kind, Result<UserChannel, UserChannelError>),
    /// Any other `/api/...` path.
    ApiNotFound,
    /// Everything else goes to the static assets.
    Asset,
}

/// `path` is the URL path as received (still percent-encoded); `room_query` is the
/// decoded `room` (or, on `/users`, `user`) query parameter, if any.
pub fn route(path: &str, room_query: Option<&str>) -> Route {
    if path == "/healthz" {
        return Route::Health;
    }
    if path == "/rooms" || path == "/rooms/" {
        return Route::Room(RoomId::parse(room_query.unwrap_or("")));
    }
    if let Some(segment) = path.strip_prefix("/rooms/") {
        return Route::Room(one_segment(segment));
    }
    if path == "/users" || path == "/users/" {
        return Route::User(UserChannel::parse(room_query.unwrap_or("")));
    }
    if let Some(segment) = path.strip_prefix("/users/") {
        return Route::User(user_segment(segment));
    }
    if path == "/api/broadcast" {
        return Route::Broadcast;
    }
    if path == "/api/users/broadcast" {
        return Route::UsersBroadcast;
    }
    if path == "/api/users/status" {
        return Route::UsersStatus;
    }
    // `/api/users/:userId/<endpoint>`: only a user's connections and disconnect.
    if let Some((segment, endpoint)) = path
        .strip_prefix("/api/users/")
        .and_then(|rest| rest.rsplit_once('/'))
    {
        if let Some(kind) = Kind::of_endpoint(endpoint)
            .filter(|k| matches!(k, Kind::Connections | Kind::Disconnect))
        {
            return Route::UserApi(kind, user_segment(segment));
        }
    }
    if path == "/api/broadcast/batch" {
        return Route::BroadcastBatch;
    }
    // `/api/rooms/:roomId/<endpoint>`: the last segment names the endpoint.
    if let Some((segment, endpoint)) = path
        .strip_prefix("/api/rooms/")
        .and_then(|rest| rest.rsplit_once('/'))
    {
        if let Some(kind) = Kind::of_endpoint(endpoint) {
            return Route::RoomApi(kind, one_segment(segment));
        }
    }
    if path == "/api" || path.starts_with("/api/") {
        return Route::ApiNotFound;
    }
    Route::Asset
}

/// The route of a serialized URL. Only `/rooms?room=` needs the query, so only then
/// is the query decoded (as a form: `+` is a space, escapes are decoded).
pub fn route_of(url: &str) -> Route {
    let (path, query) = split_url(url);
    let room_query = match (path, query) {
        ("/rooms" | "/rooms/", Some(q)) => query_value(q, "room"),
        ("/users" | "/users/", Some(q)) => query_value(q, "user"),
        _ => None,
    };
    route(path, room_query.as_deref())
}

/// The path (still percent-encoded) and the query of a URL as the runtime serializes
/// it (WHATWG): the first `/` after the authority starts the path, and within the path
/// `?` and `#` are always percent-encoded. Cheaper than a full parse on every request.
pub fn split_url(url: &str) -> (&str, Option<&str>) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let Some(start) = url[after_scheme..].find('/').map(|i| i + after_scheme) else {
        return ("/", None);
    };
    let rest = &url[start..];
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    }
}

/// A query parameter, decoded as a form (`+` is a space, escapes are decoded).
fn query_value(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn user_segment(segment: &str) -> Result<UserChannel, UserChannelError> {
    if segment.contains('/') {
        return Err(UserChannelError::Invalid);
    }
    UserChannel::parse_encoded(segment)
}

fn one_segment(segment: &str) -> Result<RoomId, RoomIdError> {
    if segment.contains('/') {
        return Err(RoomIdError::InvalidCharacter);
    }
    RoomId::parse_encoded(segment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_url_finds_path_and_query() {
        assert_eq!(split_url("https://h.example/rooms/r1"), ("/rooms/r1", None));
        assert_eq!(
            split_url("http://127.0.0.1:8787/rooms?room=a%2Fb&x=1#frag"),
            ("/rooms", Some("room=a%2Fb&x=1"))
        );
        assert_eq!(
            split_url("https://u:p@h:1/a%3Fb/c?"),
            ("/a%3Fb/c", Some(""))
        );
        assert_eq!(split_url("https://h.example"), ("/", None));
        assert_eq!(split_url("https://h.example/#x?y"), ("/", None));
    }

    fn room(id: &str) -> Result<RoomId, RoomIdError> {
        RoomId::parse(id)
    }

    #[test]
    fn routes_rooms_by_path_and_query() {
        assert_eq!(route("/rooms/room-1", None), Route::Room(room("room-1")));
        assert_eq!(route("/rooms/a%3Ab", None), Route::Room(room("a:b")));
        assert_eq!(
            route("/rooms", Some("conv_abc")),
            Route::Room(room("conv_abc"))
        );
        assert_eq!(route("/rooms/", Some("x")), Route::Room(room("x")));
        assert_eq!(
            route("/rooms", None),
            Route::Room(Err(RoomIdError::Missing))
        );
        assert_eq!(
            route("/rooms/a/b", None),
            Route::Room(Err(RoomIdError::InvalidCharacter))
        );
        assert_eq!(
            route("/rooms/a%2Fb", None),
            Route::Room(Err(RoomIdError::InvalidCharacter))
        );
        assert_eq!(
            route("/rooms/a%20b", None),
            Route::Room(Err(RoomIdError::InvalidCharacter))
        );
        assert_eq!(
            route("/rooms", Some("a/../b")),
            Route::Room(Err(RoomIdError::InvalidCharacter))
        );
        assert_eq!(
            route("/rooms", Some("..")),
            Route::Room(Err(RoomIdError::DotSegment))
        );
    }

    #[test]
    fn routes_whole_urls_decoding_only_the_room_query() {
        assert_eq!(
            route_of("http://h:1/rooms?x=1&room=a%3Ab"),
            Route::Room(room("a:b"))
        );
        assert_eq!(
            route_of("http://h/rooms/?room=a+b"),
            Route::Room(Err(RoomIdError::InvalidCharacter))
        );
        assert_eq!(
            route_of("http://h/rooms?other=1"),
            Route::Room(Err(RoomIdError::Missing))
        );
        assert_eq!(
            route_of("http://h/rooms/r1?room=x"),
            Route::Room(room("r1"))
        );
        assert_eq!(route_of("https://h/api/broadcast"), Route::Broadcast);
    }

    #[test]
    fn routes_the_api() {
        assert_eq!(route("/healthz", None), Route::Health);
        assert_eq!(route("/api/broadcast", None), Route::Broadcast);
        let api = |kind, id| Route::RoomApi(kind, room(id));
        assert_eq!(route("/api/rooms/r1/stats", None), api(Kind::Stats, "r1"));
        assert_eq!(
            route("/api/rooms/r1/connections", None),
            api(Kind::Connections, "r1")
        );
        assert_eq!(
            route("/api/rooms/r1/disconnect", None),
            api(Kind::Disconnect, "r1")
        );
        assert_eq!(route("/api/rooms/r1/audit", None), api(Kind::Audit, "r1"));
        assert_eq!(route("/api/rooms/r1/broadcast", None), Route::ApiNotFound);
        assert_eq!(
            route("/api/rooms/a%2Fb/connections", None),
            Route::RoomApi(Kind::Connections, Err(RoomIdError::InvalidCharacter))
        );
        assert_eq!(
            route("/api/rooms/a/b/stats", None),
            Route::RoomApi(Kind::Stats, Err(RoomIdError::InvalidCharacter))
        );
        assert_eq!(route("/api/broadcast/x", None), Route::ApiNotFound);
        assert_eq!(route("/api/broadcast/batch", None), Route::BroadcastBatch);
        assert_eq!(route("/api", None), Route::ApiNotFound);
        assert_eq!(route("/", None), Route::Asset);
        assert_eq!(route("/index.html", None), Route::Asset);
        assert_eq!(route("/roomsx", None), Route::Asset);
    }

    #[test]
    fn personal_channels_and_the_users_api() {
        let ann = || Ok(UserChannel::parse("a/nn").unwrap());
        assert_eq!(route_of("https://h/users/a%2Fnn"), Route::User(ann()));
        assert_eq!(route_of("https://h/users?user=a%2Fnn"), Route::User(ann()));
        assert_eq!(
            route_of("https://h/users/a/b"),
            Route::User(Err(UserChannelError::Invalid))
        );
        assert_eq!(
            route_of("https://h/users"),
            Route::User(Err(UserChannelError::Missing))
        );
        assert_eq!(
            route_of("https://h/api/users/broadcast"),
            Route::UsersBroadcast
        );
        assert_eq!(route_of("https://h/api/users/status"), Route::UsersStatus);
        assert_eq!(
            route_of("https://h/api/users/a%2Fnn/disconnect"),
            Route::UserApi(Kind::Disconnect, ann())
        );
        assert_eq!(
            route_of("https://h/api/users/a%2Fnn/connections"),
            Route::UserApi(Kind::Connections, ann())
        );
        // A room's other endpoints are not a user's.
        assert_eq!(
            route_of("https://h/api/users/ann/stats"),
            Route::ApiNotFound
        );
        assert_eq!(
            route_of("https://h/api/users/ann/audit"),
            Route::ApiNotFound
        );
    }
}
