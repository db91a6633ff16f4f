//! The room's users across its objects, kept by the first object for room-wide
//! presence. Each shard reports a user as present when their first socket there
//! authenticates and as absent when their last one there leaves; the room announces
//! `join` only when a user becomes present in some object while absent from all, and
//! `leave` only when they are absent from every object, wherever their tabs are.
//! Reports are idempotent (a repeated one changes nothing), so a retried call is safe.

use std::collections::{BTreeMap, BTreeSet};

/// What a report means for the whole room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The user's first socket in the room: announce `join`.
    Joined,
    /// The user's last socket in the room: announce `leave`.
    Left,
    /// Nothing to announce.
    None,
}

#[derive(Debug, Default)]
pub struct RoomUsers {
    /// User -> the objects (shard numbers) holding their sockets.
    by_user: BTreeMap<String, BTreeSet<u16>>,
}

impl RoomUsers {
    /// Shard `shard` reports whether `user` has sockets there.
    pub fn report(&mut self, shard: u16, user: &str, present: bool) -> Change {
        if present {
            let shards = self.by_user.entry(user.to_owned()).or_default();
            let first = shards.is_empty();
            return match (shards.insert(shard), first) {
                (true, true) => Change::Joined,
                _ => Change::None,
            };
        }
        let Some(shards) = self.by_user.get_mut(user) else {
            return Change::None;
        };
        if !shards.remove(&shard) || !shards.is_empty() {
            return Change::None;
        }
        self.by_user.remove(user);
        Change::Left
    }

    /// A shard is gone with its sockets (its object restarted and lost them): the
    /// users it held are absent there. Returns those who left the room with it.
    pub fn shard_gone(&mut self, shard: u16) -> Vec<String> {
        let held: Vec<String> = self
            .by_user
            .iter()
            .filter(|(_, shards)| shards.contains(&shard))
            .map(|(user, _)| user.clone())
            .collect();
        held.into_iter()
            .filter(|user| self.report(shard, user, false) == Change::Left)
            .collect()
    }

    /// Distinct users in the room (what `PRESENCE_MAX_MEMBERS` counts).
    pub fn distinct(&self) -> usize {
        self.by_user.len()
    }

    /// The room's users, sorted: `members` in `auth:ok`.
    pub fn list(&self) -> Vec<String> {
        self.by_user.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_and_leave_are_room_wide_wherever_the_tabs_are() {
        let mut u = RoomUsers::default();
        assert_eq!(u.report(0, "ann", true), Change::Joined);
        assert_eq!(
            u.report(2, "ann", true),
            Change::None,
            "a tab in another object"
        );
        assert_eq!(u.report(2, "bob", true), Change::Joined);
        assert_eq!(
            (u.distinct(), u.list()),
            (2, vec!["ann".into(), "bob".into()])
        );
        assert_eq!(u.report(0, "ann", false), Change::None, "still in shard 2");
        assert_eq!(u.report(2, "ann", false), Change::Left);
        assert_eq!(u.list(), ["bob"]);
    }

    #[test]
    fn repeated_and_stray_reports_change_nothing() {
        let mut u = RoomUsers::default();
        assert_eq!(u.report(1, "ann", true), Change::Joined);
        assert_eq!(u.report(1, "ann", true), Change::None);
        assert_eq!(u.report(3, "ann", false), Change::None, "never there");
        assert_eq!(u.report(1, "zed", false), Change::None, "unknown user");
        assert_eq!(u.report(1, "ann", false), Change::Left);
        assert_eq!(u.report(1, "ann", false), Change::None);
        assert_eq!(u.distinct(), 0);
    }

    #[test]
    fn a_lost_shard_takes_only_its_own_users_with_it() {
        let mut u = RoomUsers::default();
        u.report(1, "ann", true);
        u.report(1, "bob", true);
        u.report(0, "bob", true);
        u.report(2, "cat", true);
        assert_eq!(u.shard_gone(1), ["ann"]);
        assert_eq!(u.list(), ["bob", "cat"]);
        assert_eq!(u.report(0, "bob", false), Change::Left);
    }
}
