//! The participants checks one object has toward the backend: at most
//! `AUTH_CHECK_CONCURRENCY` in flight, the rest queued in the order their `auth` (or
//! `auth:refresh`) arrived. In a reconnect storm the backend then serves checks as fast
//! as it can instead of timing out the tail of thousands sent at once: a check's own
//! timeout runs from the moment it is sent, not from the moment it was queued. Per
//! socket group. Decides; sends nothing itself.

use super::Check;
use std::collections::{HashMap, VecDeque};

pub struct Checks<S> {
    /// How many checks may be in flight at once.
    limit: usize,
    /// Checks in flight, by connection id (a refresh whose check was abandoned at its
    /// deadline may send another while the first has not answered yet).
    running: HashMap<String, usize>,
    /// Their sum.
    in_flight: usize,
    /// Checks waiting for a free slot, oldest first, each with when it was queued.
    queued: VecDeque<(Check<S>, u64)>,
}

impl<S> Checks<S> {
    pub fn new(limit: usize) -> Self {
        Checks {
            limit: limit.max(1),
            running: HashMap::new(),
            in_flight: 0,
            queued: VecDeque::new(),
        }
    }

    /// Takes a slot for this connection's check if one is free and nobody queued
    /// before it (first come, first served); false when it must queue.
    pub fn try_start(&mut self, connection_id: &str) -> bool {
        if !self.queued.is_empty() || self.in_flight >= self.limit {
            return false;
        }
        self.take_slot(connection_id);
        true
    }

    fn take_slot(&mut self, connection_id: &str) {
        *self.running.entry(connection_id.to_owned()).or_default() += 1;
        self.in_flight += 1;
    }

    /// Queues a check that found no free slot at `now`.
    pub fn enqueue(&mut self, check: Check<S>, now: u64) {
        self.queued.push_back((check, now));
    }

    /// The connection's check answered (or was aborted): its slot is free. False
    /// when it held none.
    pub fn finished(&mut self, connection_id: &str) -> bool {
        let Some(n) = self.running.get_mut(connection_id) else {
            return false;
        };
        *n -= 1;
        if *n == 0 {
            self.running.remove(connection_id);
        }
        self.in_flight -= 1;
        true
    }

    /// The oldest queued check, with when it was queued, if a slot is free for it;
    /// the slot is now taken.
    pub fn next(&mut self) -> Option<(Check<S>, u64)> {
        if self.in_flight >= self.limit {
            return None;
        }
        let (check, queued_at) = self.queued.pop_front()?;
        self.take_slot(&check.session.connection_id);
        Some((check, queued_at))
    }

    /// Takes the connection's queued check out (its socket left, or it waited too
    /// long).
    pub fn dequeue(&mut self, connection_id: &str) -> Option<Check<S>> {
        let at = self
            .queued
            .iter()
            .position(|(c, _)| c.session.connection_id == connection_id)?;
        self.queued.remove(at).map(|(check, _)| check)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    pub fn queued(&self) -> usize {
        self.queued.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::AuthRequest;
    use crate::room_id::RoomId;
    use crate::session::Session;

    fn check(id: &str) -> Check<u32> {
        let room = RoomId::parse("r").unwrap();
        Check {
            socket: 0,
            session: Session::new(id.to_owned(), room, 0, 1),
            request: AuthRequest {
                token: "t".into(),
                room_id: Some("r".into()),
                user_id: None,
                resume: None,
                batch: false,
            },
        }
    }

    fn id(next: Option<(Check<u32>, u64)>) -> Option<(String, u64)> {
        next.map(|(c, at)| (c.session.connection_id, at))
    }

    #[test]
    fn slots_are_taken_in_order_and_freed_once() {
        let mut c = Checks::new(2);
        assert!(c.try_start("a") && c.try_start("b"));
        assert!(!c.try_start("c"), "both slots taken");
        c.enqueue(check("c"), 10);
        c.enqueue(check("d"), 11);
        assert!(id(c.next()).is_none(), "no slot free");
        assert!(c.finished("a"));
        assert!(!c.finished("a"), "a slot is freed once");
        assert!(!c.try_start("e"), "a newcomer never overtakes the queue");
        assert_eq!(id(c.next()), Some(("c".into(), 10)));
        assert!(id(c.next()).is_none());
        assert_eq!((c.in_flight(), c.queued()), (2, 1));
    }

    #[test]
    fn a_queued_check_can_leave_the_queue() {
        let mut c = Checks::new(1);
        assert!(c.try_start("a"));
        c.enqueue(check("b"), 1);
        c.enqueue(check("c"), 2);
        assert!(c.dequeue("b").is_some());
        assert!(c.dequeue("b").is_none());
        assert!(c.finished("a"));
        assert_eq!(id(c.next()), Some(("c".into(), 2)));
        assert!(!c.finished("b"), "b never ran");
    }

    #[test]
    fn two_checks_of_one_connection_hold_two_slots() {
        let mut c = Checks::<u32>::new(2);
        assert!(c.try_start("a") && c.try_start("a"));
        assert!(!c.try_start("b"));
        assert!(c.finished("a") && c.finished("a") && !c.finished("a"));
        assert_eq!(c.in_flight(), 0);
    }

    #[test]
    fn the_limit_is_at_least_one() {
        let mut c = Checks::<u32>::new(0);
        assert!(c.try_start("a"));
        assert!(!c.try_start("b"));
    }
}
