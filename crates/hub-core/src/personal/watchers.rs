//! Who watches a user (their contacts' watchlists), kept by that user's object,
//! bounded: past `MAX_WATCHERS`, a watcher still reads the current state when it
//! registers, but gets no live changes. A user object with no sockets and no watchers
//! keeps nothing.

use std::collections::HashSet;

/// Watchers one user object keeps at most.
pub const MAX_WATCHERS: usize = 4_096;

#[derive(Debug, Default)]
pub struct Watchers {
    ids: HashSet<String>,
}

/// What registering told the watcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    /// The user's state as watchers were last told it.
    pub online: bool,
    /// Whether live changes will follow (false past the bound).
    pub live: bool,
}

impl Watchers {
    /// `watcher` registers and reads the state in one step, so no change falls
    /// between the two.
    pub fn register(&mut self, watcher: &str, online: bool) -> Registered {
        let live = self.ids.contains(watcher) || self.ids.len() < MAX_WATCHERS;
        if live {
            self.ids.insert(watcher.to_owned());
        }
        Registered { online, live }
    }

    /// A watcher has no personal socket left: it stops watching.
    pub fn unregister(&mut self, watcher: &str) {
        self.ids.remove(watcher);
    }

    /// Who to tell of a change.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        self.ids.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchers_past_the_bound_read_the_state_but_get_no_changes() {
        let mut w = Watchers::default();
        for i in 0..MAX_WATCHERS {
            assert!(w.register(&format!("w{i}"), true).live);
        }
        let late = w.register("late", true);
        assert_eq!(
            late,
            Registered {
                online: true,
                live: false
            }
        );
        assert!(w.register("w0", false).live, "already watching");
        w.unregister("w1");
        assert!(w.register("late", false).live, "a place came free");
        assert_eq!(w.all().count(), MAX_WATCHERS);
    }

    #[test]
    fn an_object_without_watchers_keeps_nothing() {
        let mut w = Watchers::default();
        w.register("a", false);
        w.unregister("a");
        w.unregister("never");
        assert!(w.is_empty());
    }
}
