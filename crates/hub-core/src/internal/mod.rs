//! The requests the Worker sends to a room's (or a user's) Durable Object, and that
//! objects send one another, with their answers: one registry, one encoding, used by
//! both sides. Pure.
//!
//! A room endpoint is one module here ([`Endpoint`]: its name, the backend's request
//! read once in the Worker, its internal encoding, its answer) plus one line in the
//! `registry!` below. The Worker routes `/api/rooms/:roomId/<name>` by that name
//! (`routes`), the room dispatches on [`Internal`] (`src/room_api.rs`), and the rule
//! lives in the room core.

/// What the backend gets for an internal-only endpoint: it does not exist.
pub(crate) fn internal_only<T>() -> Result<T, Invalid> {
    Err(Invalid {
        code: "not_found",
        message: "no such endpoint".into(),
    })
}

/// An internal-only endpoint whose body is its request as JSON.
macro_rules! json_endpoint {
    ($ty:ty, $name:literal, $answer:ty) => {
        impl $crate::internal::Endpoint<'_> for $ty {
            const NAME: &'static str = $name;
            const METHOD: Option<$crate::internal::Method> = None;
            type Answer = $answer;

            fn from_public(
                _query: Option<&str>,
                _body: &str,
            ) -> Result<Self, $crate::internal::Invalid> {
                $crate::internal::internal_only()
            }

            fn encode(&self) -> String {
                // Plain structs with string keys: serializing cannot fail.
                serde_json::to_string(self).unwrap_or_default()
            }

            fn decode(body: &str) -> Result<Self, $crate::internal::DecodeError> {
                serde_json::from_str(body).map_err(|_| $crate::internal::DecodeError)
            }
        }
    };
}

pub mod audit;
pub mod broadcast;
pub mod connections;
pub mod disconnect;
pub mod personal;
pub mod shards;
pub mod stats;

pub use broadcast::Delivery;

use crate::channel::Channel;
use serde::Serialize;

/// Base URL of the Worker's requests to a room (never reachable from outside: the
/// Worker forwards only room upgrades from the public URL space).
pub const ORIGIN: &str = "https://chat-room.internal";

/// A body the room could not decode: a bug or version skew between Worker and room,
/// never client input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError;

/// The backend's request was invalid: answered 400 with this code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
}

/// The backend's method for a room endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// What every room endpoint declares.
pub trait Endpoint<'a>: Sized {
    /// The internal path's name and, for a public one, the last segment of
    /// `/api/rooms/:roomId/<NAME>`.
    const NAME: &'static str;
    /// How the backend calls it under `/api/rooms/:roomId/`; `None`: not there.
    const METHOD: Option<Method>;
    /// What the room answers (as JSON).
    type Answer: Serialize;
    /// The request from the backend's query and body, validated once in the Worker.
    fn from_public(query: Option<&str>, body: &'a str) -> Result<Self, Invalid>;
    /// The internal request's body.
    fn encode(&self) -> String;
    /// The internal request from its body.
    fn decode(body: &'a str) -> Result<Self, DecodeError>;
}

macro_rules! registry {
    ($lt:lifetime; $($variant:ident($ty:ty)),+ $(,)?) => {
        /// One request from the Worker to a room.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Internal<$lt> {
            $($variant($ty)),+
        }

        /// Which internal request a path names, before its body is read.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Kind {
            $($variant),+
        }

        // The methods name the lifetime the request types carry; nothing borrows.
        #[allow(clippy::extra_unused_lifetimes)]
        impl Kind {
            pub const ALL: [Kind; [$(stringify!($variant)),+].len()] = [$(Kind::$variant),+];

            pub fn name<$lt>(self) -> &'static str {
                match self { $(Kind::$variant => <$ty as Endpoint>::NAME),+ }
            }

            /// How the backend calls it under `/api/rooms/:roomId/`, if it does.
            pub fn method<$lt>(self) -> Option<Method> {
                match self { $(Kind::$variant => <$ty as Endpoint>::METHOD),+ }
            }
        }

        impl<$lt> Internal<$lt> {
            pub fn kind(&self) -> Kind {
                match self { $(Internal::$variant(_) => Kind::$variant),+ }
            }

            /// The request body.
            pub fn body(&self) -> String {
                match self { $(Internal::$variant(r) => r.encode()),+ }
            }

            /// The request the Worker sent, from its kind and body.
            pub fn decode(kind: Kind, body: &$lt str) -> Result<Self, DecodeError> {
                match kind { $(Kind::$variant => <$ty>::decode(body).map(Internal::$variant)),+ }
            }

            /// The request a backend's call to `/api/rooms/:roomId/<name>` makes.
            pub fn from_public(
                kind: Kind,
                query: Option<&str>,
                body: &$lt str,
            ) -> Result<Self, Invalid> {
                match kind {
                    $(Kind::$variant => <$ty>::from_public(query, body).map(Internal::$variant)),+
                }
            }
        }
    };
}

registry! { 'a;
    Broadcast(broadcast::Delivery<'a>),
    Stats(stats::Stats),
    Connections(connections::Connections),
    Disconnect(crate::control::Disconnect),
    Audit(audit::Audit),
    Relay(shards::Relay),
    Report(shards::Report),
    Members(shards::Members),
    Watch(personal::Watch),
    Status(personal::Status),
    State(personal::State),
}

impl Kind {
    /// The internal request a path of the room names.
    pub fn of_path(path: &str) -> Option<Kind> {
        let name = path.strip_prefix('/')?;
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The room endpoint `/api/rooms/:roomId/<name>` names.
    pub fn of_endpoint(name: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.method().is_some() && k.name() == name)
    }
}

impl Internal<'_> {
    /// The request's URL on the room. Every internal request is a POST.
    pub fn url(&self) -> String {
        format!("{ORIGIN}/{}", self.kind().name())
    }

    /// The request's URL on an object of `channel`, which it names: an object learns
    /// its room's (or user's) id from it even when it holds no socket.
    pub fn url_for(&self, channel: &Channel) -> String {
        format!(
            "{ORIGIN}/{}?room={}",
            self.kind().name(),
            channel.query_value()
        )
    }
}

/// The channel an internal request's query names (`room=<key>`).
pub fn channel_of_query(query: Option<&str>) -> Option<Channel> {
    let value = query?.split('&').find_map(|p| p.strip_prefix("room="))?;
    Channel::from_query_value(value)
}

/// An answer as the room sends it.
pub fn answer_json(answer: &impl Serialize) -> String {
    // Plain structs with string keys: serializing cannot fail.
    serde_json::to_string(answer).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{Disconnect, Reason};

    fn round_trip(req: &Internal<'_>) {
        let url = req.url();
        let path = url.strip_prefix(ORIGIN).unwrap();
        let kind = Kind::of_path(path).unwrap();
        let body = req.body();
        assert_eq!(&Internal::decode(kind, &body).unwrap(), req);
    }

    #[test]
    fn every_request_round_trips() {
        round_trip(&Internal::Stats(stats::Stats));
        round_trip(&Internal::Connections(connections::Connections));
        round_trip(&Internal::Audit(audit::Audit { limit: 7 }));
        round_trip(&Internal::Disconnect(Disconnect {
            user_ids: vec!["u1".into()],
            connection_ids: vec!["c\n1".into()],
            reason: Reason::Reauth,
        }));
        round_trip(&Internal::Broadcast(Delivery {
            message: "{\"type\":\"x\",\"text\":\"a\\nb\"}",
            exclude: vec!["c\n1".into(), "c2".into()],
            user_ids: Some(vec!["u\n1".into()]),
            idempotency_key: Some("k-1".into()),
        }));
        round_trip(&Internal::Relay(shards::Relay {
            shard: 2,
            epoch: 9,
            seq: 4,
            events: vec![
                shards::Relayed::Broadcast {
                    message: "{\"type\":\"x\"}".into(),
                    exclude: vec!["c1".into()],
                    user_ids: Some(vec!["u\n1".into()]),
                },
                shards::Relayed::Frame {
                    frame: "t".into(),
                    except: None,
                },
                shards::Relayed::Revoked {
                    records: vec![("u".into(), 1, 2)],
                },
            ],
        }));
        round_trip(&Internal::Report(shards::Report {
            shard: 1,
            sockets: 3,
            seen: 7,
            full: true,
            users: vec![shards::UserChange {
                user: "ann".into(),
                present: true,
                via: Some("c1".into()),
            }],
            frames: vec![("t".into(), Some("c1".into()))],
        }));
        round_trip(&Internal::Members(shards::Members));
        round_trip(&Internal::Watch(personal::Watch {
            watcher: "a\nb".into(),
        }));
        round_trip(&Internal::Status(personal::Status {
            user: "u".into(),
            online: true,
            at: 7,
        }));
        round_trip(&Internal::State(personal::State));
        round_trip(&Internal::Broadcast(Delivery {
            message: "{\"type\":\"x\"}",
            exclude: vec![],
            user_ids: None,
            idempotency_key: None,
        }));
    }

    #[test]
    fn room_endpoints_are_found_by_name_and_broadcast_is_not_one() {
        assert_eq!(Kind::of_endpoint("stats"), Some(Kind::Stats));
        assert_eq!(Kind::of_endpoint("audit"), Some(Kind::Audit));
        assert_eq!(Kind::of_endpoint("disconnect"), Some(Kind::Disconnect));
        assert_eq!(Kind::of_endpoint("connections"), Some(Kind::Connections));
        assert_eq!(Kind::of_endpoint("broadcast"), None);
        // The objects of a sharded room talk among themselves; the backend cannot.
        for internal in ["relay", "report", "members", "watch", "status", "state"] {
            assert_eq!(Kind::of_endpoint(internal), None, "{internal}");
            assert!(
                Kind::of_path(&format!("/{internal}")).is_some(),
                "{internal}"
            );
        }
        assert_eq!(Kind::of_path("/broadcast"), Some(Kind::Broadcast));
        let names: std::collections::HashSet<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), Kind::ALL.len(), "names are unique");
    }

    #[test]
    fn an_internal_url_names_its_room() {
        let room = Channel::from_key("team:42").unwrap();
        let url = Internal::Stats(stats::Stats).url_for(&room);
        assert_eq!(url, format!("{ORIGIN}/stats?room=team:42"));
        let (path, query) = crate::routes::split_url(&url);
        assert_eq!(Kind::of_path(path), Some(Kind::Stats));
        assert_eq!(channel_of_query(query), Some(room));
        assert_eq!(channel_of_query(Some("x=1&room=a#b")), None);
        assert_eq!(channel_of_query(None), None);
        // A user's object, whatever its id holds.
        let ann = Channel::from_key("@a&room=b c").unwrap();
        let url = Internal::State(personal::State).url_for(&ann);
        let (path, query) = crate::routes::split_url(&url);
        assert_eq!(Kind::of_path(path), Some(Kind::State));
        assert_eq!(channel_of_query(query), Some(ann));
    }

    #[test]
    fn unknown_paths_and_broken_bodies_are_refused() {
        assert_eq!(Kind::of_path("/rooms/broadcast"), None);
        assert_eq!(Kind::of_path("/"), None);
        assert_eq!(Internal::decode(Kind::Broadcast, "{}"), Err(DecodeError));
        assert_eq!(
            Internal::decode(Kind::Broadcast, "nope\n{}"),
            Err(DecodeError)
        );
        assert_eq!(Internal::decode(Kind::Audit, "x"), Err(DecodeError));
    }

    #[test]
    fn public_requests_are_validated_once() {
        let audit = Internal::from_public(Kind::Audit, Some("limit=0"), "");
        assert_eq!(audit.map_err(|e| e.code), Err("invalid_query"));
        let d = Internal::from_public(Kind::Disconnect, None, "{}");
        assert_eq!(d.map_err(|e| e.code), Err("invalid_body"));
        let stats = Internal::from_public(Kind::Stats, Some("x=1"), "");
        assert_eq!(stats, Ok(Internal::Stats(stats::Stats)));
    }
}
