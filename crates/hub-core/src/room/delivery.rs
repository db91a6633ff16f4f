//! Fan-out to the socket group's members: at once while the room is idle, queued as a
//! burst while it is busy (see `burst`), flushed as `batch` frames to the members that
//! asked and one frame per event to the others. Per socket group.

use super::io::{Sockets, Timers};
use super::roster::{Member, Roster};
use super::send_cost::SendCost;
use crate::burst::{self, Audience, Burst, Queued};
use crate::session::is_expired;

#[derive(Default)]
pub struct Delivery {
    /// The events of a burst, waiting for their flush.
    burst: Burst,
    /// Whether the flush is scheduled.
    scheduled: bool,
    /// The runtime's cost of a send, behind when the last fan-out is estimated to end.
    send_cost: SendCost,
    /// Counts joins: a member gets a queued event only if it joined before the event.
    joins: u64,
}

/// How one event goes out.
pub enum Emit {
    /// Sent at once to this many members.
    Sent(usize),
    /// Queued for this many members; `true`: the queue is full and must go now.
    Queued(usize, bool),
}

impl Delivery {
    /// A member joins: its place in the order of joins (see `burst::Queued::seq`).
    pub fn next_join(&mut self) -> u64 {
        self.joins += 1;
        self.joins
    }

    /// An event started at `now`: it bounds the last fan-out's cost (see `send_cost`).
    pub fn observe(&mut self, now: u64) {
        self.send_cost.observe(now);
    }

    /// The estimated cost of one send, in ns.
    pub fn send_cost_ns(&self) -> u64 {
        self.send_cost.ns()
    }

    pub fn has_burst(&self) -> bool {
        !self.burst.is_empty()
    }

    /// One event for the members `to` names: at once while the room is idle (and
    /// always when no member takes `batch` frames or batching is off); queued while it
    /// is busy, that is, within `window` of the previous fan-out or while a burst is
    /// already queued. The frame is copied only when it is queued.
    pub fn emit<S>(
        &mut self,
        frame: &str,
        to: Audience,
        (now, window): (u64, u64),
        roster: &Roster<S>,
        io: &mut (impl Sockets<S> + Timers),
    ) -> Emit {
        let recent = self
            .send_cost
            .busy_until()
            .is_some_and(|end| now < end.saturating_add(window));
        let queue = window > 0 && (self.has_burst() || (recent && roster.batching() > 0));
        let members = roster
            .iter()
            .filter(|m| to.includes(&m.connection_id, m.user_id.as_deref()));
        if !queue {
            let sent = io.fan_out(frame, members.map(|m| &m.socket));
            self.send_cost.fanned_out(now, sent);
            return Emit::Sent(sent);
        }
        let count = members.count();
        let full = self.burst.push(Queued {
            frame: frame.to_owned(),
            audience: to,
            seq: self.joins,
        });
        if !full && !self.scheduled {
            self.scheduled = true;
            io.schedule_burst(window);
        }
        Emit::Queued(count, full)
    }

    /// The burst window is over.
    pub fn window_over(&mut self) {
        self.scheduled = false;
    }

    /// Sends the queued events of a burst: each batching member one frame with the
    /// events it is due (in order; more frames only past `MAX_BATCH_FRAME_BYTES`),
    /// every other member each event as its own frame. Members that joined after an
    /// event, and members whose token has expired at `now`, do not get it.
    pub fn flush<S>(&mut self, roster: &Roster<S>, now: u64, io: &mut impl Sockets<S>) {
        if self.burst.is_empty() {
            return;
        }
        let events = self.burst.take();
        let due = |m: &Member<S>, q: &Queued| {
            m.joined <= q.seq
                && !is_expired(m.expires_at, now)
                && q.audience.includes(&m.connection_id, m.user_id.as_deref())
        };
        let mut sent = 0;
        for q in &events {
            let per_frame = roster.iter().filter(|m| !m.batch && due(m, q));
            sent += io.fan_out(&q.frame, per_frame.map(|m| &m.socket));
        }
        // Batching members grouped by the events they are due: usually one group.
        let mut groups: std::collections::BTreeMap<u128, Vec<&S>> = Default::default();
        for m in roster.iter().filter(|m| m.batch) {
            let mask = events
                .iter()
                .enumerate()
                .filter(|(_, q)| due(m, q))
                .fold(0u128, |mask, (i, _)| mask | (1 << i));
            if mask != 0 {
                groups.entry(mask).or_default().push(&m.socket);
            }
        }
        for (mask, sockets) in groups {
            let picked = events
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, q)| q.frame.as_str());
            for frame in burst::batch_frames(picked) {
                sent += io.fan_out(&frame, sockets.iter().copied());
            }
        }
        self.send_cost.fanned_out(now, sent);
    }
}
