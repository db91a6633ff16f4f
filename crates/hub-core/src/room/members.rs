//! Who is in the room, as users: sockets per verified user id, behind presence. Room-wide:
//! a user's first socket anywhere in the room is a join, their last a leave. Decides
//! which presence frame a change makes; sends nothing.

use crate::protocol::{Presence, ServerFrame};
use std::collections::HashMap;

pub struct Members {
    /// Sockets per verified user id: presence is per user, not per tab.
    users: HashMap<String, usize>,
    /// `PRESENCE_MAX_MEMBERS`: past it, the room stops telling who is in it (0: never).
    max: usize,
}

impl Members {
    pub fn new(max: usize) -> Self {
        Members {
            users: HashMap::new(),
            max,
        }
    }

    /// A socket of `user` joined; true when it is their first.
    pub fn joined(&mut self, user: &str) -> bool {
        let n = self.users.entry(user.to_owned()).or_default();
        *n += 1;
        *n == 1
    }

    /// A socket of `user` left; true when it was their last.
    pub fn left(&mut self, user: &str) -> bool {
        match self.users.get_mut(user) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            _ => self.users.remove(user).is_some(),
        }
    }

    /// Whether the room tells its members who is in it: while it has at most `max`
    /// distinct users.
    pub fn presence_on(&self) -> bool {
        self.max > 0 && self.users.len() <= self.max
    }

    /// The distinct users, sorted (so the list reads the same every time).
    pub fn list(&self) -> Vec<&str> {
        let mut users: Vec<&str> = self.users.keys().map(String::as_str).collect();
        users.sort_unstable();
        users
    }

    /// The frame that tells members of `change` (a join or a leave): the change
    /// itself, or, when the room just crossed the limit (`was_on` differs from now),
    /// that presence went off or came back on with the whole list. `None`: nothing to say.
    pub fn announcement(&self, was_on: bool, change: Presence<'_>) -> Option<String> {
        let list;
        let frame = match (was_on, self.presence_on()) {
            (true, true) => change,
            (true, false) => Presence::Off,
            (false, true) => {
                list = self.list();
                Presence::On(&list)
            }
            (false, false) => return None,
        };
        Some(ServerFrame::Presence(frame).encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_counted_once_whatever_their_tabs() {
        let mut m = Members::new(10);
        assert!(m.joined("ann"));
        assert!(!m.joined("ann"), "a second tab");
        assert!(m.joined("bob"));
        assert_eq!(m.list(), ["ann", "bob"]);
        assert!(!m.left("ann"));
        assert!(m.left("ann"));
        assert!(!m.left("ann"), "not in the room");
        assert_eq!(m.list(), ["bob"]);
    }

    #[test]
    fn crossing_the_limit_turns_presence_off_and_back_on() {
        let mut m = Members::new(1);
        m.joined("ann");
        let join = m.announcement(true, Presence::Join("ann"));
        assert_eq!(
            join.as_deref(),
            Some(r#"{"type":"presence","event":"join","userId":"ann"}"#)
        );
        m.joined("bob");
        let off = m.announcement(true, Presence::Join("bob"));
        assert_eq!(
            off.as_deref(),
            Some(r#"{"type":"presence","event":"off","members":null}"#)
        );
        assert_eq!(m.announcement(false, Presence::Leave("x")), None);
        m.left("bob");
        let on = m.announcement(false, Presence::Leave("bob"));
        assert_eq!(
            on.as_deref(),
            Some(r#"{"type":"presence","event":"on","members":["ann"]}"#)
        );
        assert!(!Members::new(0).presence_on(), "0 turns presence off");
    }
}
