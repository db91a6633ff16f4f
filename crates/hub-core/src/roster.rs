//! The room's authenticated connections, in memory, for fan-out.
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
    /// Sockets per verified user id: presence is per user, not per tab.
    users: HashMap<String, usize>,
    /// Members that take `batch` frames.
    batching: usize,
}

impl<S> Default for Roster<S> {
    fn default() -> Self {
        Roster {
            members: Vec::new(),
            index: HashMap::new(),
            users: HashMap::new(),
            batching: 0,
        }
    }
}

impl<S> Roster<S> {
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Members that take `batch` frames.
    pub fn batching(&self) -> usize {
        self.batching
    }

    /// Distinct verified user ids among the members.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// The distinct verified user ids, in no particular order.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// Adds the member, replacing one with the same connection id. True when it is
    /// the first socket of its (non-null) user.
    pub fn insert(&mut self, member: Member<S>) -> bool {
        self.remove(&member.connection_id);
        let first = match &member.user_id {
            Some(user) => {
                let n = self.users.entry(user.clone()).or_default();
                *n += 1;
                *n == 1
            }
            None => false,
        };
        self.batching += usize::from(member.batch);
        self.index
            .insert(member.connection_id.clone(), self.members.len());
        self.members.push(member);
        first
    }

    /// Removes a member in O(1) (fan-out order is not significant), and says whether
    /// it was the last socket of its (non-null) user.
    pub fn remove(&mut self, connection_id: &str) -> Option<(Member<S>, bool)> {
        let i = self.index.remove(connection_id)?;
        let removed = self.members.swap_remove(i);
        self.batching -= usize::from(removed.batch);
        if let Some(moved) = self.members.get(i) {
            self.index.insert(moved.connection_id.clone(), i);
        }
        let last = match &removed.user_id {
            Some(user) => match self.users.get_mut(user) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                _ => self.users.remove(user).is_some(),
            },
            None => false,
        };
        Some((removed, last))
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

    fn of_user(id: &str, user: &str) -> Member<u32> {
        Member {
            user_id: Some(user.into()),
            ..member(id)
        }
    }

    #[test]
    fn users_are_counted_once_whatever_their_tabs() {
        let mut r = Roster::default();
        assert!(r.insert(of_user("a1", "ann")));
        assert!(!r.insert(of_user("a2", "ann")), "a second tab");
        assert!(r.insert(of_user("b1", "bob")));
        assert!(!r.insert(member("anon")), "null users are not counted");
        assert_eq!(r.user_count(), 2);
        let mut users: Vec<&str> = r.users().collect();
        users.sort();
        assert_eq!(users, ["ann", "bob"]);
        // Replacing a connection keeps the count right.
        assert!(!r.insert(of_user("a2", "ann")));
        assert_eq!(r.user_count(), 2);
        assert_eq!(r.remove("a1").map(|(_, last)| last), Some(false));
        assert_eq!(r.remove("a2").map(|(_, last)| last), Some(true));
        assert_eq!(r.remove("anon").map(|(_, last)| last), Some(false));
        assert_eq!(r.user_count(), 1);
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
        r.insert(again);
        assert_eq!(r.len(), 1);
        assert_eq!(r.iter().next().map(|m| m.socket), Some(7));
        assert!(r.contains("c") && !r.contains("a"));
        r.remove("c");
        assert!(r.is_empty());
    }
}
