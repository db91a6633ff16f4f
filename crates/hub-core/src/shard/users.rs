//! The room's users across its further objects, kept by the first object for
//! room-wide presence. A further object reports a user when their first socket there
//! authenticates and when their last one there leaves; the first object counts each
//! object holding a user as one of that user's sockets (`Room::on_remote_user`), so a
//! join is announced on a user's first socket anywhere in the room and a leave on their
//! last, wherever their tabs are. Reports are idempotent: a repeated one changes nothing,
//! so only what changes what an object holds reaches the room.

use std::collections::{HashMap, HashSet};

#[derive(Debug, Default)]
pub struct RoomUsers {
    /// User -> the further objects (shard numbers) holding their sockets: a few at
    /// most (`ROOM_MAX_SHARDS`), so a list.
    by_user: HashMap<String, Vec<u16>>,
}

impl RoomUsers {
    /// Shard `shard` reports whether `user` has sockets there; true when that changes
    /// what the shard holds (and so must reach the room's presence).
    pub fn report(&mut self, shard: u16, user: &str, present: bool) -> bool {
        if present {
            let shards = self.by_user.entry(user.to_owned()).or_default();
            let new = !shards.contains(&shard);
            if new {
                shards.push(shard);
            }
            return new;
        }
        let Some(shards) = self.by_user.get_mut(user) else {
            return false;
        };
        let before = shards.len();
        shards.retain(|k| *k != shard);
        let changed = shards.len() < before;
        if shards.is_empty() {
            self.by_user.remove(user);
        }
        changed
    }

    /// Shard `shard` lists every user it holds (after a wake, or for a new instance of
    /// the first object): the changes that makes, as (user, present), those who left
    /// first.
    pub fn replace(&mut self, shard: u16, users: &[String]) -> Vec<(String, bool)> {
        let listed: HashSet<&str> = users.iter().map(String::as_str).collect();
        let gone: Vec<String> = self
            .by_user
            .iter()
            .filter(|(user, shards)| shards.contains(&shard) && !listed.contains(user.as_str()))
            .map(|(user, _)| user.clone())
            .collect();
        let mut changes = Vec::new();
        for user in gone {
            if self.report(shard, &user, false) {
                changes.push((user, false));
            }
        }
        for user in users {
            if self.report(shard, user, true) {
                changes.push((user.to_owned(), true));
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_changes_an_object_counts() {
        let mut u = RoomUsers::default();
        assert!(u.report(1, "ann", true));
        assert!(!u.report(1, "ann", true), "a repeat");
        assert!(u.report(2, "ann", true), "a tab in another object");
        assert!(!u.report(3, "ann", false), "never there");
        assert!(!u.report(1, "zed", false), "unknown user");
        assert!(u.report(1, "ann", false));
        assert!(!u.report(1, "ann", false));
        assert!(u.report(2, "ann", false));
    }

    #[test]
    fn a_full_list_replaces_what_the_object_held() {
        let mut u = RoomUsers::default();
        u.report(1, "ann", true);
        u.report(1, "bob", true);
        u.report(2, "bob", true);
        let changes = u.replace(1, &["bob".into(), "cat".into()]);
        assert_eq!(changes, [("ann".into(), false), ("cat".into(), true)]);
        assert!(u.replace(1, &["bob".into(), "cat".into()]).is_empty());
        assert_eq!(u.replace(2, &[]), [("bob".into(), false)]);
    }
}
