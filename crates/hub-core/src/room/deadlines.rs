//! The room's pending deadlines (sockets that must authenticate, participants checks
//! that must answer), earliest first. Pure.
//!
//! The room runs one timer, for the earliest deadline, instead of one per socket and
//! one per check: each socket's own timer (arming it, cancelling it on auth, and the
//! futures around both) cost more than the state it guards (docs/benchmarks.md). Nothing here runs a timer: `room::timer` asks its `Io` for one,
//! and the runtime's `src/effects.rs` runs it.

use std::collections::{BTreeMap, HashMap};

#[derive(Debug)]
pub struct Deadlines<T> {
    by_time: BTreeMap<(u64, String), T>,
    by_id: HashMap<String, u64>,
}

impl<T> Default for Deadlines<T> {
    fn default() -> Self {
        Deadlines {
            by_time: BTreeMap::new(),
            by_id: HashMap::new(),
        }
    }
}

impl<T> Deadlines<T> {
    /// Watches `id` until `at` (Unix ms), replacing an earlier watch of the same id.
    pub fn insert(&mut self, id: String, at: u64, item: T) {
        self.remove(&id);
        self.by_id.insert(id.clone(), at);
        self.by_time.insert((at, id), item);
    }

    pub fn remove(&mut self, id: &str) -> Option<T> {
        let at = self.by_id.remove(id)?;
        self.by_time.remove(&(at, id.to_owned()))
    }

    /// The earliest deadline still watched.
    pub fn earliest(&self) -> Option<u64> {
        self.by_time.keys().next().map(|(at, _)| *at)
    }

    /// The watch of `id`, if any.
    pub fn get(&self, id: &str) -> Option<&T> {
        let at = self.by_id.get(id)?;
        self.by_time.get(&(*at, id.to_owned()))
    }

    /// Every watch, earliest first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.by_time
            .iter()
            .map(|((_, id), item)| (id.as_str(), item))
    }

    /// The earliest watch still held, without removing it.
    pub fn first(&self) -> Option<(&str, &T)> {
        self.by_time
            .iter()
            .next()
            .map(|((_, id), item)| (id.as_str(), item))
    }

    /// Removes and returns every watch whose deadline is at or before `now`.
    pub fn take_due(&mut self, now: u64) -> Vec<(String, T)> {
        let later = self
            .by_time
            .split_off(&(now.saturating_add(1), String::new()));
        let due = std::mem::replace(&mut self.by_time, later);
        due.into_iter()
            .map(|((_, id), item)| {
                self.by_id.remove(&id);
                (id, item)
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_watches_come_out_earliest_first_and_only_once() {
        let mut d = Deadlines::default();
        d.insert("b".into(), 20, 'b');
        d.insert("a".into(), 10, 'a');
        d.insert("c".into(), 30, 'c');
        assert_eq!(d.earliest(), Some(10));
        assert_eq!(d.first(), Some(("a", &'a')));
        assert_eq!(d.get("b"), Some(&'b'));
        assert_eq!(d.get("z"), None);
        assert_eq!(
            d.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert!(d.take_due(9).is_empty());
        assert_eq!(
            d.take_due(20),
            vec![("a".to_string(), 'a'), ("b".to_string(), 'b')]
        );
        assert!(d.take_due(20).is_empty());
        assert_eq!(d.earliest(), Some(30));
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn removed_watches_never_come_due() {
        let mut d = Deadlines::default();
        d.insert("a".into(), 10, 1);
        d.insert("b".into(), 10, 2);
        assert_eq!(d.remove("a"), Some(1));
        assert_eq!(d.remove("a"), None);
        assert_eq!(d.take_due(u64::MAX), vec![("b".to_string(), 2)]);
        assert!(d.is_empty());
        assert_eq!(d.earliest(), None);
    }

    #[test]
    fn watching_an_id_again_replaces_its_deadline() {
        let mut d = Deadlines::default();
        d.insert("a".into(), 10, 1);
        d.insert("a".into(), 50, 2);
        assert_eq!(d.len(), 1);
        assert!(d.take_due(49).is_empty());
        assert_eq!(d.take_due(50), vec![("a".to_string(), 2)]);
    }
}
