//! The requests the objects of a room spread over several send one another (see
//! `shard`); none is reachable from the backend. The first object relays events to
//! a further one in the room's order ([`Relay`]); a further object reports its
//! sockets, its users and its typing up to the first ([`Report`]), and asks it for
//! the room-wide member list an `auth:ok` carries ([`Members`]).

use super::{internal_only, DecodeError, Endpoint, Invalid};
use serde::{Deserialize, Serialize};

/// One event the first object sends on to a further one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Relayed {
    /// A broadcast, as the backend asked for it, without its idempotency key: the
    /// first object keeps the room's keys.
    #[serde(rename_all = "camelCase")]
    Broadcast {
        message: String,
        #[serde(default)]
        exclude: Vec<String>,
        #[serde(default)]
        user_ids: Option<Vec<String>>,
    },
    /// A frame (typing, presence) for every member but `except`.
    Frame {
        frame: String,
        #[serde(default)]
        except: Option<String>,
    },
    /// The room's disconnect records (user, at, until), for an object the room opens
    /// after them: a revocation holds on every object.
    Revoked { records: Vec<(String, u64, u64)> },
}

/// Events numbered `seq`, `seq + 1`, … on the link from the first object's instance
/// `epoch` to shard `shard`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relay {
    pub shard: u16,
    pub epoch: u64,
    pub seq: u64,
    pub events: Vec<Relayed>,
}

/// What the further object did with a relay: the sockets its broadcasts reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayDone {
    pub delivered: usize,
}

json_endpoint!(Relay, "relay", RelayDone);

/// A user of a further object: their first socket there (`present`, `via` that
/// socket) or their last one gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserChange {
    pub user: String,
    pub present: bool,
    #[serde(default)]
    pub via: Option<String>,
}

/// A further object's news for the first, latest state first: one in flight at a
/// time, and what happens meanwhile goes in the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub shard: u16,
    /// Open sockets the object holds.
    pub sockets: usize,
    /// The last placement number the object has received (see `shard::placement`).
    pub seen: u64,
    /// Every user the object holds is listed (after a wake, or when the first object
    /// restarted): users not listed have no sockets there.
    pub full: bool,
    pub users: Vec<UserChange>,
    /// Frames (typing) for the room's other objects: (frame, all but this socket).
    pub frames: Vec<(String, Option<String>)>,
}

/// The first object's answer: its instance (a new one asks for a full report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reported {
    pub epoch: u64,
}

json_endpoint!(Report, "report", Reported);

/// A further object asks for the room's members, for an `auth:ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Members;

/// The room-wide list, sorted; `None` while presence is off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberList {
    pub members: Option<Vec<String>>,
}

impl Endpoint<'_> for Members {
    const NAME: &'static str = "members";
    const METHOD: Option<super::Method> = None;
    type Answer = MemberList;

    fn from_public(_query: Option<&str>, _body: &str) -> Result<Self, Invalid> {
        internal_only()
    }

    fn encode(&self) -> String {
        String::new()
    }

    fn decode(_body: &str) -> Result<Self, DecodeError> {
        Ok(Members)
    }
}
