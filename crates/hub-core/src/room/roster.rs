//! The socket group's authenticated connections, in memory, for fan-out. Per socket
//! group; who they are as users (presence) is `members`, room-wide.
//!
//! A cache, never the truth: the truth is each socket's attachment. It is rebuilt
//! from the attachments whenever a new Durable Object instance starts (after
//! hibernation or a restart), so fan-out never reads an attachment per socket.
//! Generic over the socket type so it is tested natively.

use std::collections::HashMap;

pub struct Member<S> {
    pub connection_id: String,
    pub user_id: Option<String>,
    /// When its token expires (Unix ms), if it does.
    pub expires_at: Option<u64>,
    /// Takes a busy room's events as `batch` frames.
    pub batch: bool,
    /// The room's join counter when it joined (see `burst::Queued::seq`).
    pub joined: u64,
    pub socket: S,
}

pub struct Roster<S> {
    members: Vec<Member<S>>,
    index: HashMap<String, usize>,
    /// Members that take `batch` frames.
    batching: usize,
}

impl<S> Default for Roster<S> {
    fn default() -> Self {
        Roster {
            members: Vec::new(),
            index: HashMap::new(),
            batching: 0,
        }
    }
}

impl<S> Roster<S> {
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Members that take `batch` frames.
    pub fn batching(&self) -> usize {
        self.batching
    }

    /// Adds the member, replacing (and returning) one with the same connection id.
    pub fn insert(&mut self, member: Member<S>) -> Option<Member<S>> {
        let replaced = self.remove(&member.connection_id);
        self.batching += usize::from(member.batch);
        self.index
            .insert(member.connection_id.clone(), self.members.len());
        self.members.push(member);
        replaced
    }

    /// Removes a member in O(1) (fan-out order is not significant).
    pub fn remove(&mut self, connection_id: &str) -> Option<Member<S>> {
        let i = self.index.remove(connection_id)?;
        let removed = self.members.swap_remove(i);
        self.batching -= usize::from(removed.batch);
        if let Some(moved) = self.members.get(i) {
            self.index.insert(moved.connection_id.clone(), i);
        }
        Some(removed)
    }

    /// Sets a member's token expiry (after a refresh).
    pub fn set_expiry(&mut self, connection_id: &str, expires_at: Option<u64>) {
        if let Some(&i) = self.index.get(connection_id) {
            self.members[i].expires_at = expires_at;
        }
    }

    /// The verified user id of a member.
    pub fn user_of(&self, connection_id: &str) -> Option<&str> {
        let i = *self.index.get(connection_id)?;
        self.members[i].user_id.as_deref()
    }

    pub fn contains(&self, connection_id: &str) -> bool {
        self.index.contains_key(connection_id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Member<S>> {
        self.members.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str) -> Member<u32> {
        Member {
            connection_id: id.into(),
            user_id: None,
            expires_at: None,
            batch: false,
            joined: 0,
            socket: 0,
        }
    }

    #[test]
    fn a_refresh_sets_the_expiry_in_place() {
        let mut r = Roster::default();
        r.insert(member("b1"));
        r.set_expiry("b1", Some(7));
        assert_eq!(r.iter().next().and_then(|m| m.expires_at), Some(7));
    }

    fn ids(r: &Roster<u32>) -> Vec<String> {
        let mut v: Vec<String> = r.iter().map(|m| m.connection_id.clone()).collect();
        v.sort();
        v
    }

    #[test]
    fn insert_remove_and_replace() {
        let mut r = Roster::default();
        for id in ["a", "b", "c", "d"] {
            r.insert(member(id));
        }
        assert_eq!(r.len(), 4);
        assert!(r.remove("b").is_some());
        assert!(r.remove("b").is_none());
        assert_eq!(ids(&r), ["a", "c", "d"]);
        assert!(r.remove("d").is_some());
        assert!(r.remove("a").is_some());
        assert_eq!(ids(&r), ["c"]);
        let mut again = member("c");
        again.socket = 7;
        assert_eq!(r.insert(again).map(|m| m.socket), Some(0));
        assert_eq!(r.len(), 1);
        assert_eq!(r.iter().next().map(|m| m.socket), Some(7));
        assert!(r.contains("c") && !r.contains("a"));
        r.remove("c");
        assert_eq!(r.len(), 0);
    }
}
