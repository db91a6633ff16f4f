//! A further object of a room spread over several: its place in the room, the
//! events the first object relays to it (delivered in the room's order, each once;
//! see `sequence`), and its report to the first (one in flight at a time; what
//! happens meanwhile is merged into the next, so typing coalesces per object).

use super::sequence::Sequence;
use crate::internal::shards::{Relay, Relayed, Report, UserChange};

/// Events held behind a gap before the gap is given up on.
const MAX_HELD: usize = 1_024;

pub struct Further {
    pub shard: u16,
    /// The last placement number received.
    seen: u64,
    /// The first object's instance and this link's order.
    link: Option<(u64, Sequence<Relayed>)>,
    /// Changes since the last report, latest per user.
    users: Vec<UserChange>,
    frames: Vec<(String, Option<String>)>,
    /// The next report lists every user (a wake here, or a new first instance).
    full: bool,
    in_flight: bool,
    /// Sockets as last reported.
    reported: Option<usize>,
}

impl Further {
    /// `full`: this instance starts with sockets it must list (a wake).
    pub fn new(shard: u16, full: bool) -> Self {
        Further {
            shard,
            seen: 0,
            link: None,
            users: Vec::new(),
            frames: Vec::new(),
            full,
            in_flight: false,
            reported: None,
        }
    }

    /// A socket arrived with placement number `n`.
    pub fn placed(&mut self, n: u64) {
        self.seen = self.seen.max(n);
    }

    pub fn user(&mut self, user: &str, present: bool, via: Option<&str>) {
        self.users.retain(|c| c.user != user);
        self.users.push(UserChange {
            user: user.to_owned(),
            present,
            via: via.map(str::to_owned),
        });
    }

    pub fn frame(&mut self, frame: &str, except: Option<&str>) {
        self.frames
            .push((frame.to_owned(), except.map(str::to_owned)));
    }

    /// The report to send now, if one is due and none is in flight. `sockets`: what
    /// this object holds; `all_users`: every user it holds (asked only for a full one).
    pub fn take_report(
        &mut self,
        sockets: usize,
        all_users: impl FnOnce() -> Vec<String>,
    ) -> Option<Report> {
        let news = self.full || !self.users.is_empty() || !self.frames.is_empty();
        if self.in_flight || (!news && self.reported == Some(sockets)) {
            return None;
        }
        let users = if self.full {
            self.users.clear();
            all_users()
                .into_iter()
                .map(|user| UserChange {
                    user,
                    present: true,
                    via: None,
                })
                .collect()
        } else {
            std::mem::take(&mut self.users)
        };
        let report = Report {
            shard: self.shard,
            sockets,
            seen: self.seen,
            full: std::mem::take(&mut self.full),
            users,
            frames: std::mem::take(&mut self.frames),
        };
        self.in_flight = true;
        self.reported = Some(sockets);
        Some(report)
    }

    /// The report was answered by the first object's instance `epoch` (`None`: it
    /// failed, and what it carried is sent again in full).
    pub fn report_done(&mut self, epoch: Option<u64>) {
        self.in_flight = false;
        match epoch {
            Some(epoch) => self.saw_epoch(epoch),
            None => self.full = true,
        }
    }

    /// Events relayed by the first object: those to deliver now, in order.
    pub fn relay(&mut self, relay: Relay) -> Vec<Relayed> {
        self.saw_epoch(relay.epoch);
        let Some((_, sequence)) = &mut self.link else {
            return Vec::new();
        };
        let mut due = Vec::new();
        for (i, event) in relay.events.into_iter().enumerate() {
            due.extend(sequence.arrive(relay.seq + i as u64, event).events);
        }
        due
    }

    /// A new instance of the first object numbers from 1 again and knows nothing of
    /// this object's users: the link starts over, and the next report lists them all.
    fn saw_epoch(&mut self, epoch: u64) {
        match &self.link {
            Some((known, _)) if *known == epoch => {}
            known => {
                if known.is_some() {
                    self.full = true;
                }
                self.link = Some((epoch, Sequence::starting_at(1, MAX_HELD)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(f: &str) -> Relayed {
        Relayed::Frame {
            frame: f.into(),
            except: None,
        }
    }

    fn relay(epoch: u64, seq: u64, events: Vec<Relayed>) -> Relay {
        Relay {
            shard: 1,
            epoch,
            seq,
            events,
        }
    }

    #[test]
    fn relays_are_delivered_in_order_once_and_a_new_epoch_starts_over() {
        let mut f = Further::new(1, false);
        assert_eq!(
            f.relay(relay(5, 1, vec![frame("a"), frame("b")])),
            [frame("a"), frame("b")]
        );
        assert!(
            f.relay(relay(5, 2, vec![frame("b")])).is_empty(),
            "a repeat"
        );
        assert!(f.relay(relay(5, 4, vec![frame("d")])).is_empty(), "early");
        assert_eq!(
            f.relay(relay(5, 3, vec![frame("c")])),
            [frame("c"), frame("d")]
        );
        // The first object restarted: its numbers start over, and it must hear of
        // every user here again.
        assert_eq!(f.relay(relay(9, 1, vec![frame("x")])), [frame("x")]);
        let r = f.take_report(0, || vec!["ann".into()]).unwrap();
        assert!(r.full);
        assert_eq!(r.users[0].user, "ann");
    }

    #[test]
    fn one_report_in_flight_and_news_coalesces_into_the_next() {
        let mut f = Further::new(2, false);
        f.placed(3);
        f.user("ann", true, Some("c1"));
        f.frame("t1", Some("c1"));
        let r = f.take_report(1, Vec::new).unwrap();
        assert_eq!((r.shard, r.sockets, r.seen, r.full), (2, 1, 3, false));
        assert_eq!((r.users.len(), r.frames.len()), (1, 1));
        // While it is in flight, news waits; a user's latest change wins.
        f.frame("t2", Some("c1"));
        f.frame("t3", Some("c1"));
        f.user("bob", true, Some("c2"));
        f.user("bob", false, None);
        assert!(f.take_report(2, Vec::new).is_none());
        f.report_done(Some(7));
        let r = f.take_report(2, Vec::new).unwrap();
        assert_eq!(r.frames.len(), 2, "typing coalesced into one call");
        assert_eq!((r.users.len(), r.users[0].present), (1, false));
        f.report_done(Some(7));
        assert!(f.take_report(2, Vec::new).is_none(), "nothing new");
        assert!(f.take_report(1, Vec::new).is_some(), "a socket left");
    }

    #[test]
    fn a_failed_report_is_followed_by_a_full_one() {
        let mut f = Further::new(1, false);
        f.user("ann", true, None);
        f.take_report(1, Vec::new).unwrap();
        f.report_done(None);
        let r = f.take_report(1, || vec!["ann".into()]).unwrap();
        assert!(r.full && r.users.len() == 1);
    }
}
