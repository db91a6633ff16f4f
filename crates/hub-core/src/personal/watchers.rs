//! Who watches a user (their contacts' watchlists), kept by that user's object,
//! bounded (`MAX_WATCHERS_PER_USER`, at most [`MAX_WATCHERS`]): past the bound, a
//! watcher still reads the current state when it registers, but gets no live changes.
//! A user object with no sockets and no watchers keeps nothing.

use std::collections::HashSet;

/// Watchers one user object keeps at most.
pub const MAX_WATCHERS: usize = 4_096;

#[derive(Debug)]
pub struct Watchers {
    ids: HashSet<String>,
    max: usize,
}

impl Default for Watchers {
    fn default() -> Self {
        Watchers::new(MAX_WATCHERS)
    }
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
    /// No watchers, keeping at most `max` (never more than `MAX_WATCHERS`).
    pub fn new(max: usize) -> Self {
        Watchers {
            ids: HashSet::new(),
            max: max.min(MAX_WATCHERS),
        }
    }

    /// The watchers an earlier instance kept, within the bound.
    pub fn restore(max: usize, ids: impl IntoIterator<Item = String>) -> Self {
        let mut w = Watchers::new(max);
        w.ids.extend(ids.into_iter().take(w.max));
        w
    }

    /// `watcher` registers and reads the state in one step, so no change falls
    /// between the two.
    pub fn register(&mut self, watcher: &str, online: bool) -> Registered {
        let live = self.ids.contains(watcher) || self.ids.len() < self.max;
        if live {
            self.ids.insert(watcher.to_owned());
        }
        Registered { online, live }
    }

    /// A watcher has no personal socket left, or no longer watches this user; true
    /// when it was registered.
    pub fn unregister(&mut self, watcher: &str) -> bool {
        self.ids.remove(watcher)
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
        let mut small = Watchers::restore(1, ["a".to_owned(), "b".to_owned()]);
        assert_eq!(small.all().count(), 1);
        assert!(!small.register("c", false).live);
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
