//! The room's first object, in a room spread over several: where new sockets go
//! (`placement`), who the further objects hold (`users`), and the numbered link to
//! each further object. Pure; the shell sends what this decides.

use super::placement::{Limits, Place, Placement};
use super::users::RoomUsers;
use crate::internal::shards::{Relay, Relayed, Report};

pub struct First {
    limits: Limits,
    placement: Placement,
    users: RoomUsers,
    /// The next number on the link to each further object, by index − 1.
    next_seq: Vec<u64>,
    /// This instance (its start, Unix ms): a further object that sees a new one
    /// starts its sequence over and lists its users again.
    epoch: u64,
    /// Frames (typing, presence) waiting to go to the further objects, each with the
    /// object it came from (which has it already): they leave together, within the
    /// batch window or with the next broadcast, ahead of it.
    queued: Vec<(Relayed, Option<u16>)>,
}

/// Where the first object puts a new socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// The first object's own admission decides, counting `elsewhere` sockets on the
    /// room's other objects against the room-wide cap (so a full room refuses it with
    /// `room_full`, 4503).
    Here { elsewhere: usize },
    /// The Worker sends the upgrade to this further object, with this placement
    /// number; `new`: opened now, so it adopts the room's disconnect records first.
    Shard { shard: u16, number: u64, new: bool },
}

/// What a further object's report means for the room.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct News {
    /// Users whose presence in that object changed: (user, present, via).
    pub users: Vec<(String, bool, Option<String>)>,
    /// Frames for the first object's members and every other further object.
    pub frames: Vec<(String, Option<String>)>,
}

impl First {
    pub fn new(limits: Limits, epoch: u64) -> Self {
        First {
            limits,
            placement: Placement::new(limits),
            users: RoomUsers::default(),
            next_seq: Vec::new(),
            epoch,
            queued: Vec::new(),
        }
    }

    /// Queues a frame for every further object in use but `from`; true when it is the
    /// first one queued (the caller then arranges the flush).
    pub fn queue(&mut self, event: Relayed, from: Option<u16>) -> bool {
        self.queued.push((event, from));
        self.queued.len() == 1
    }

    /// What goes to each further object in use now: the queued frames (each but to
    /// the object it came from), then `events`, numbered on each link. One call per
    /// object, however many frames were queued.
    pub fn flush(&mut self, events: &[Relayed]) -> Vec<Relay> {
        let queued = std::mem::take(&mut self.queued);
        let mut relays = Vec::new();
        for shard in self.in_use() {
            let mut batch: Vec<Relayed> = queued
                .iter()
                .filter(|(_, from)| *from != Some(shard))
                .map(|(e, _)| e.clone())
                .collect();
            batch.extend(events.iter().cloned());
            if !batch.is_empty() {
                relays.push(self.relay(shard, batch));
            }
        }
        relays
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Where a new socket goes, the first object holding `own`.
    pub fn place(&mut self, own: usize, now: u64) -> Placed {
        let opened = self.placement.opened();
        match self.placement.place(own, now) {
            Place::Here => Placed::Here {
                elsewhere: self.total(own) - own,
            },
            // The core still refuses it as `room_full`, unless it displaces a silent
            // socket here (which keeps the room's count): the cap counted as reached.
            Place::Full => Placed::Here {
                elsewhere: self.limits.max_connections.saturating_sub(own),
            },
            Place::Shard(shard, number) => Placed::Shard {
                shard,
                number,
                new: shard > opened,
            },
        }
    }

    /// Takes back the shards a previous instance opened (shard, sockets) and the users
    /// they held (shard, user): returns those users, to count in the room's presence
    /// without announcing them (they were announced when they joined).
    pub fn restore(&mut self, shards: &[(u16, usize)], users: &[(u16, String)]) -> Vec<String> {
        self.placement.restore(shards);
        let held = users
            .iter()
            .filter(|(shard, user)| self.users.report(*shard, user, true));
        held.map(|(_, user)| user.clone()).collect()
    }

    /// The further shards opened so far, 1..=this.
    pub fn opened(&self) -> u16 {
        self.placement.opened()
    }

    /// The further shards holding sockets (or about to).
    pub fn in_use(&self) -> Vec<u16> {
        self.placement.in_use()
    }

    /// Whether any further object holds sockets (or is about to): O(opened), no list.
    pub fn has_further(&self) -> bool {
        self.placement.total(0) > 0
    }

    /// Sockets of the whole room, with the first object's `own`.
    pub fn total(&self, own: usize) -> usize {
        self.placement.total(own)
    }

    /// Numbers `events` for the link to `shard`.
    pub fn relay(&mut self, shard: u16, events: Vec<Relayed>) -> Relay {
        let i = usize::from(shard.saturating_sub(1));
        if self.next_seq.len() <= i {
            self.next_seq.resize(i + 1, 1);
        }
        let seq = self.next_seq[i];
        self.next_seq[i] += events.len() as u64;
        Relay {
            shard,
            epoch: self.epoch,
            seq,
            events,
        }
    }

    /// A further object's report: its sockets for placement, its users for presence,
    /// and its typing for the rest of the room.
    pub fn report(&mut self, r: Report) -> News {
        self.placement.report(r.shard, r.sockets, r.seen);
        let mut users = Vec::new();
        if r.full {
            let listed: Vec<String> = r
                .users
                .iter()
                .filter(|u| u.present)
                .map(|u| u.user.clone())
                .collect();
            let changes = self.users.replace(r.shard, &listed);
            users.extend(changes.into_iter().map(|(u, present)| (u, present, None)));
        } else {
            for change in r.users {
                if self.users.report(r.shard, &change.user, change.present) {
                    users.push((change.user, change.present, change.via));
                }
            }
        }
        News {
            users,
            frames: r.frames,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::internal::shards::UserChange;

    fn first() -> First {
        First::new(
            Limits {
                shard_size: 2,
                max_shards: 4,
                max_connections: 100,
            },
            77,
        )
    }

    fn change(user: &str, present: bool) -> UserChange {
        UserChange {
            user: user.into(),
            present,
            via: present.then(|| format!("c-{user}")),
        }
    }

    fn report(shard: u16, full: bool, users: Vec<UserChange>) -> Report {
        Report {
            shard,
            sockets: users.len(),
            seen: 0,
            full,
            users,
            frames: vec![("t".into(), Some("c9".into()))],
        }
    }

    #[test]
    fn a_new_shard_is_told_so_and_links_are_numbered_per_shard() {
        let mut f = first();
        assert_eq!(f.place(1, 0), Placed::Here { elsewhere: 0 });
        let shard = |shard, number, new| Placed::Shard { shard, number, new };
        assert_eq!(f.place(2, 0), shard(1, 1, true));
        assert_eq!(f.place(2, 0), shard(1, 2, false));
        assert_eq!(f.place(2, 0), shard(2, 3, true));
        // A place on the first object again: the others' sockets count toward the cap.
        assert_eq!(f.place(1, 0), Placed::Here { elsewhere: 3 });
        let frame = |n: &str| Relayed::Frame {
            frame: n.into(),
            except: None,
        };
        let a = f.relay(1, vec![frame("a"), frame("b")]);
        assert_eq!((a.shard, a.epoch, a.seq), (1, 77, 1));
        assert_eq!(f.relay(1, vec![frame("c")]).seq, 3);
        assert_eq!(f.relay(2, vec![frame("x")]).seq, 1);
    }

    #[test]
    fn a_full_room_leaves_the_refusal_to_the_first_objects_admission() {
        let mut f = First::new(
            Limits {
                shard_size: 2,
                max_shards: 2,
                max_connections: 3,
            },
            1,
        );
        assert_eq!(
            f.place(2, 0),
            Placed::Shard {
                shard: 1,
                number: 1,
                new: true
            }
        );
        // 3 sockets: full. Counted as the cap minus its own, the first object admits
        // only by displacing one of its own silent sockets.
        assert_eq!(f.place(2, 0), Placed::Here { elsewhere: 1 });
        // Every object full while the cap is not: full all the same.
        let mut f = First::new(
            Limits {
                shard_size: 1,
                max_shards: 2,
                max_connections: 100,
            },
            1,
        );
        assert!(matches!(f.place(1, 0), Placed::Shard { .. }));
        assert_eq!(f.place(1, 0), Placed::Here { elsewhere: 99 });
    }

    #[test]
    fn a_new_instance_announces_only_what_changed_since() {
        let mut f = first();
        let held = [
            (1, "ann".to_string()),
            (1, "bob".to_string()),
            (2, "ann".to_string()),
        ];
        let restored = f.restore(&[(1, 2), (2, 1)], &held);
        assert_eq!(
            restored,
            ["ann", "bob", "ann"],
            "one per object holding them"
        );
        assert_eq!(f.opened(), 2);
        // Shard 1 lists its users again: bob left meanwhile, cat joined.
        let full = f.report(report(
            1,
            true,
            vec![change("ann", true), change("cat", true)],
        ));
        assert_eq!(
            full.users,
            [("bob".into(), false, None), ("cat".into(), true, None)]
        );
    }

    #[test]
    fn queued_frames_leave_together_ahead_of_the_next_broadcast_but_not_to_their_origin() {
        let mut f = first();
        f.place(2, 0);
        f.place(2, 0);
        f.place(2, 0);
        assert_eq!(f.in_use(), [1, 2]);
        let frame = |n: &str| Relayed::Frame {
            frame: n.into(),
            except: None,
        };
        assert!(
            f.queue(frame("t1"), Some(1)),
            "the first arranges the flush"
        );
        assert!(!f.queue(frame("t2"), None));
        let b = Relayed::Broadcast {
            message: "m".into(),
            exclude: vec![],
            user_ids: None,
        };
        let relays = f.flush(std::slice::from_ref(&b));
        assert_eq!(relays.len(), 2, "one call per object");
        assert_eq!((relays[0].shard, relays[0].seq), (1, 1));
        assert_eq!(relays[0].events, [frame("t2"), b.clone()]);
        assert_eq!(relays[1].events, [frame("t1"), frame("t2"), b.clone()]);
        // Numbers go on from there; nothing queued, nothing extra.
        let relays = f.flush(std::slice::from_ref(&b));
        assert_eq!((relays[0].seq, relays[1].seq), (3, 4));
        assert!(f.flush(&[]).is_empty());
    }

    #[test]
    fn reports_become_presence_changes_once() {
        let mut f = first();
        f.place(2, 0);
        let news = f.report(report(1, false, vec![change("ann", true)]));
        assert_eq!(news.users, [("ann".into(), true, Some("c-ann".into()))]);
        assert_eq!(news.frames, [("t".into(), Some("c9".into()))]);
        let again = f.report(report(1, false, vec![change("ann", true)]));
        assert!(again.users.is_empty(), "a repeat changes nothing");
        // A full list after a wake: bob is new, ann is gone.
        let full = f.report(report(1, true, vec![change("bob", true)]));
        assert_eq!(
            full.users,
            [("ann".into(), false, None), ("bob".into(), true, None)]
        );
    }
}
