//! Where a new socket of a room goes, decided by the room's first object (shard 0),
//! which every upgrade reaches first. A socket accepted by one object can never move,
//! and only the Worker can send an upgrade to an object: so the first object accepts
//! while it holds fewer than `shard_size` sockets (a room below that size costs nothing
//! extra), and otherwise names the shard the Worker sends the same upgrade to.
//!
//! The first object knows the further shards' sockets from their reports, each
//! carrying the number of the last placement the shard had received. Placements sent
//! after it still count (their sockets are on the way), so two upgrades in quick
//! succession never both take a shard's last place, and the room-wide cap
//! (`max_connections`) holds across every object. A placement whose socket never
//! arrives stops counting after `PLACEMENT_TTL_MS`.

use std::collections::VecDeque;

/// How long a placement counts without the shard confirming it: the Worker sends the
/// upgrade on at once, so this only bounds a client that went away in between.
pub const PLACEMENT_TTL_MS: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `ROOM_SHARD_SIZE`: sockets one object of the room holds.
    pub shard_size: usize,
    /// `ROOM_MAX_SHARDS`: objects of the room, the first included.
    pub max_shards: u16,
    /// `MAX_CONNECTIONS_PER_ROOM`: sockets of the whole room.
    pub max_connections: usize,
}

/// Where a new socket goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The first object takes it.
    Here,
    /// The Worker sends the upgrade to this shard (≥ 1), with this placement number.
    Shard(u16, u64),
    /// The room is full: `room_full`, 4503, wherever it would have landed.
    Full,
}

#[derive(Debug, Default, Clone)]
struct Further {
    /// Sockets the shard last reported.
    reported: usize,
    /// The last placement number the shard had received by then.
    seen: u64,
    /// Placements sent since (number, when), oldest first.
    sent: VecDeque<(u64, u64)>,
}

impl Further {
    fn count(&self) -> usize {
        self.reported + self.sent.len()
    }

    fn expire(&mut self, now: u64) {
        while self
            .sent
            .front()
            .is_some_and(|(_, at)| now.saturating_sub(*at) >= PLACEMENT_TTL_MS)
        {
            self.sent.pop_front();
        }
    }
}

#[derive(Debug, Clone)]
pub struct Placement {
    limits: Limits,
    /// Shards 1.., by index − 1.
    further: Vec<Further>,
    last_number: u64,
}

impl Placement {
    pub fn new(limits: Limits) -> Self {
        Placement {
            limits,
            further: Vec::new(),
            last_number: 0,
        }
    }

    /// A new socket reaches the first object, which holds `own` open sockets.
    pub fn place(&mut self, own: usize, now: u64) -> Place {
        self.further.iter_mut().for_each(|f| f.expire(now));
        if self.total(own) >= self.limits.max_connections {
            return Place::Full;
        }
        if own < self.limits.shard_size {
            return Place::Here;
        }
        // The lowest shard with room: sockets fill the fewest objects.
        let size = self.limits.shard_size;
        let index = match self.further.iter().position(|f| f.count() < size) {
            Some(i) => i,
            None if self.further.len() + 1 < usize::from(self.limits.max_shards) => {
                self.further.push(Further::default());
                self.further.len() - 1
            }
            None => return Place::Full,
        };
        self.last_number += 1;
        self.further[index].sent.push_back((self.last_number, now));
        Place::Shard(index as u16 + 1, self.last_number)
    }

    /// Shard `shard` holds `sockets` open sockets, and had received placements up to
    /// number `seen`. A further object sends one report at a time, so they arrive in
    /// order; one that restarted reports `seen` 0, and the placements still counted
    /// then run out with their TTL (counted twice meanwhile: the cap errs toward
    /// refusing).
    pub fn report(&mut self, shard: u16, sockets: usize, seen: u64) {
        let Some(f) = self.further_mut(shard) else {
            return;
        };
        f.reported = sockets;
        f.seen = seen;
        f.sent.retain(|(number, _)| *number > seen);
    }

    /// A new instance of the first object takes back the shards the previous one
    /// had opened, with their last reported sockets.
    pub fn restore(&mut self, shards: &[(u16, usize)]) {
        for &(shard, sockets) in shards {
            if shard == 0 || shard >= self.limits.max_shards {
                continue;
            }
            while self.further.len() < usize::from(shard) {
                self.further.push(Further::default());
            }
            if let Some(f) = self.further_mut(shard) {
                f.reported = sockets;
            }
        }
    }

    fn further_mut(&mut self, shard: u16) -> Option<&mut Further> {
        usize::from(shard)
            .checked_sub(1)
            .and_then(|i| self.further.get_mut(i))
    }

    /// The further shards opened so far (1..=this): where a control-plane request
    /// and a disconnect go.
    pub fn opened(&self) -> u16 {
        self.further.len() as u16
    }

    /// Sockets of the whole room, with the first object's `own`.
    pub fn total(&self, own: usize) -> usize {
        own + self.further.iter().map(Further::count).sum::<usize>()
    }

    /// The further shards that hold (or are about to hold) sockets: where a broadcast
    /// goes besides the first object.
    pub fn in_use(&self) -> Vec<u16> {
        let used = self
            .further
            .iter()
            .enumerate()
            .filter(|(_, f)| f.count() > 0);
        used.map(|(i, _)| i as u16 + 1).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(shard_size: usize, max_shards: u16, max_connections: usize) -> Limits {
        Limits {
            shard_size,
            max_shards,
            max_connections,
        }
    }

    #[test]
    fn a_room_below_the_shard_size_stays_one_object() {
        let mut p = Placement::new(limits(3, 4, 100));
        for own in 0..3 {
            assert_eq!(p.place(own, 0), Place::Here);
        }
        assert!(p.in_use().is_empty());
        assert_eq!(p.total(3), 3);
    }

    #[test]
    fn sockets_past_it_fill_further_shards_in_order_up_to_the_limits() {
        // Objects of 2; 3 objects in all (the first included).
        let mut p = Placement::new(limits(2, 3, 100));
        assert_eq!(p.place(2, 0), Place::Shard(1, 1));
        assert_eq!(p.place(2, 0), Place::Shard(1, 2), "in flight counts");
        assert_eq!(p.place(2, 0), Place::Shard(2, 3));
        assert_eq!(p.place(2, 0), Place::Shard(2, 4));
        assert_eq!(p.place(2, 0), Place::Full, "every object is full");
        assert_eq!(p.in_use(), [1, 2]);
        // A socket leaves shard 1: its place is taken first.
        p.report(1, 1, 2);
        assert_eq!(p.place(2, 0), Place::Shard(1, 5));
        // The first object's own room comes back first.
        assert_eq!(p.place(1, 0), Place::Here);
    }

    #[test]
    fn the_room_wide_cap_counts_every_object() {
        let mut p = Placement::new(limits(2, 8, 5));
        assert_eq!(p.place(2, 0), Place::Shard(1, 1));
        assert_eq!(p.place(2, 0), Place::Shard(1, 2));
        assert_eq!(p.place(2, 0), Place::Shard(2, 3));
        assert_eq!(p.total(2), 5);
        assert_eq!(p.place(2, 0), Place::Full, "5 sockets in 3 objects");
        // A socket leaves shard 2: the next one takes its place, and no more.
        p.report(2, 0, 3);
        assert_eq!(p.place(2, 0), Place::Shard(2, 4));
        assert_eq!(p.place(2, 0), Place::Full);
    }

    #[test]
    fn reports_count_what_they_saw() {
        let mut p = Placement::new(limits(2, 4, 100));
        assert_eq!(p.place(2, 0), Place::Shard(1, 1));
        assert_eq!(p.place(2, 0), Place::Shard(1, 2));
        // Shard 1 has seen placement 1 only: placement 2 still counts.
        p.report(1, 1, 1);
        assert_eq!(p.total(0), 2);
        p.report(1, 2, 2);
        assert_eq!(p.total(0), 2);
        // A shard that restarted has seen nothing: what it was sent counts until the
        // placement's TTL, erring toward full.
        assert_eq!(p.place(2, 0), Place::Shard(2, 3));
        p.report(2, 1, 0);
        assert_eq!(p.total(0), 4);
        assert_eq!(p.opened(), 2);
        // Reports for shards that do not exist are ignored.
        p.report(0, 9, 9);
        p.report(7, 9, 9);
        assert_eq!(p.total(0), 4);
    }

    #[test]
    fn a_new_instance_takes_back_the_shards_opened_before() {
        let mut p = Placement::new(limits(2, 4, 100));
        p.restore(&[(2, 2), (1, 1), (0, 9), (9, 9)]);
        assert_eq!((p.opened(), p.total(2)), (2, 5));
        assert_eq!(p.in_use(), [1, 2]);
        assert_eq!(
            p.place(2, 0),
            Place::Shard(1, 1),
            "shard 1 has a place left"
        );
        assert_eq!(p.place(2, 0), Place::Shard(3, 2));
    }

    #[test]
    fn a_placement_whose_socket_never_arrives_stops_counting() {
        let mut p = Placement::new(limits(1, 2, 100));
        assert_eq!(p.place(1, 0), Place::Shard(1, 1));
        assert_eq!(p.place(1, 1), Place::Full);
        assert_eq!(p.place(1, PLACEMENT_TTL_MS), Place::Shard(1, 2));
    }
}
