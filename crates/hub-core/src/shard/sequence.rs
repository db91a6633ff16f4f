//! A shard's side of the room's one order. The first object numbers every event it
//! accepts (broadcasts, presence, forwarded typing) and sends each to every shard
//! through one long-lived stub per shard. Calls through one stub arrive in order, but
//! a retried call, or a call through a new stub after an error, may not: so a shard
//! delivers events strictly in their numbers' order, holds one that arrives early
//! until the gap before it fills, and drops one it has already delivered. A gap that
//! never fills (a call lost for good) is skipped once `max_held` events wait behind it,
//! rather than stalling the shard.

use std::collections::HashMap;

#[derive(Debug)]
pub struct Sequence<E> {
    /// The number of the next event to deliver; `None` until the first one arrives.
    next: Option<u64>,
    /// Events that arrived before their turn.
    held: HashMap<u64, E>,
    max_held: usize,
}

/// What one arrival lets the shard deliver.
#[derive(Debug, PartialEq, Eq)]
pub struct Due<E> {
    /// Events to deliver now, in order.
    pub events: Vec<E>,
    /// Numbers given up on (a gap that never filled).
    pub skipped: u64,
}

impl<E> Sequence<E> {
    pub fn new(max_held: usize) -> Self {
        Sequence {
            next: None,
            held: HashMap::new(),
            max_held: max_held.max(1),
        }
    }

    /// A shard opened after the room had numbered events up to `next − 1`: it starts
    /// at `next` (handed over with the placement).
    pub fn starting_at(next: u64, max_held: usize) -> Self {
        Sequence {
            next: Some(next),
            ..Sequence::new(max_held)
        }
    }

    /// Event number `seq` arrives.
    pub fn arrive(&mut self, seq: u64, event: E) -> Due<E> {
        let next = *self.next.get_or_insert(seq);
        let mut due = Due {
            events: Vec::new(),
            skipped: 0,
        };
        if seq < next {
            return due;
        }
        self.held.entry(seq).or_insert(event);
        if self.held.len() > self.max_held {
            if let Some(&first) = self.held.keys().min() {
                due.skipped = first - next;
                self.next = Some(first);
            }
        }
        let mut next = self.next.unwrap_or(seq);
        while let Some(event) = self.held.remove(&next) {
            due.events.push(event);
            next += 1;
        }
        self.next = Some(next);
        due
    }

    /// Events waiting for a gap to fill.
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(due: Due<&'static str>) -> Vec<&'static str> {
        due.events
    }

    #[test]
    fn in_order_each_once() {
        let mut s = Sequence::starting_at(5, 8);
        assert_eq!(events(s.arrive(5, "a")), ["a"]);
        assert_eq!(events(s.arrive(6, "b")), ["b"]);
        assert!(events(s.arrive(6, "b")).is_empty(), "a repeat");
        assert!(events(s.arrive(2, "old")).is_empty(), "before the start");
    }

    #[test]
    fn an_early_event_waits_for_the_gap() {
        let mut s = Sequence::starting_at(1, 8);
        assert!(events(s.arrive(3, "c")).is_empty());
        assert!(events(s.arrive(2, "b")).is_empty());
        assert_eq!(s.held(), 2);
        assert!(events(s.arrive(3, "c again")).is_empty());
        assert_eq!(events(s.arrive(1, "a")), ["a", "b", "c"]);
        assert_eq!(s.held(), 0);
    }

    #[test]
    fn a_new_shard_without_a_start_takes_the_first_number_it_sees() {
        let mut s = Sequence::new(8);
        assert_eq!(events(s.arrive(40, "x")), ["x"]);
        assert!(events(s.arrive(39, "late")).is_empty());
        assert_eq!(events(s.arrive(41, "y")), ["y"]);
    }

    #[test]
    fn a_gap_that_never_fills_is_skipped_once_too_much_waits() {
        let mut s = Sequence::starting_at(1, 2);
        assert!(events(s.arrive(2, "b")).is_empty());
        assert!(events(s.arrive(3, "c")).is_empty());
        let due = s.arrive(4, "d");
        assert_eq!((due.events, due.skipped), (vec!["b", "c", "d"], 1));
        assert!(events(s.arrive(1, "a, too late")).is_empty());
        assert_eq!(events(s.arrive(5, "e")), ["e"]);
    }
}
