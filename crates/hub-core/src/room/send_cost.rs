//! What one `send` costs the runtime this room runs on, learned from what the room
//! can observe between events. Per socket group; behind batching's busy estimate.
//!
//! The runtime's clock stands still while an event runs (deployed, `Date.now()` moves
//! only between events), so a fan-out cannot time itself. What the room does see is
//! when the next event starts: a fan-out is synchronous, so it ended before then, and
//! `(next event − fan-out start) / sends` is an upper bound on the cost of one send.
//! It is tight exactly when it matters: while the room is busy, the next event was
//! waiting behind the fan-out and starts as soon as it ends. When the room was idle in
//! between, the bound is loose. So the estimate is the least of the recent bounds
//! (`SAMPLES`), each capped (`MAX_NS`) so that a quiet room never looks busy for long;
//! until the first bound, it is the reference machine's figure (`burst::SEND_COST_US`).
//! Only fan-outs observed to take at least `MIN_SAMPLE_MS` count: the clock has
//! millisecond steps.

use crate::burst::SEND_COST_US;
use std::collections::VecDeque;

/// Bounds the estimate is the least of.
pub const SAMPLES: usize = 8;
/// Shortest span, fan-out start to next event, that gives a bound (the clock's step is
/// 1 ms, so a bound may be up to 1/8 low).
pub const MIN_SAMPLE_MS: u64 = 8;
/// Least and most a bound may say a send costs, in ns.
pub const MIN_NS: u64 = 1_000;
pub const MAX_NS: u64 = 200_000;

#[derive(Debug, Clone, Copy)]
struct Fanout {
    /// When the event that sent it started (Unix ms).
    start: u64,
    sends: u64,
    /// Whether the next event has been seen (it gave its bound, or none).
    observed: bool,
}

#[derive(Debug, Default)]
pub struct SendCost {
    /// Recent bounds, ns per send, oldest first.
    bounds: VecDeque<u64>,
    last: Option<Fanout>,
}

impl SendCost {
    /// The estimated cost of one send, in ns.
    pub fn ns(&self) -> u64 {
        self.bounds
            .iter()
            .copied()
            .min()
            .unwrap_or(SEND_COST_US * 1_000)
    }

    /// An event started at `now`. The first event after a fan-out, at a later clock
    /// reading, bounds its cost; the same event (the clock has not moved) does not.
    pub fn observe(&mut self, now: u64) {
        let Some(f) = self.last.as_mut() else {
            return;
        };
        if f.observed || now <= f.start {
            return;
        }
        f.observed = true;
        let span = now - f.start;
        if span < MIN_SAMPLE_MS {
            return;
        }
        let bound = (span * 1_000_000 / f.sends).clamp(MIN_NS, MAX_NS);
        if self.bounds.len() == SAMPLES {
            self.bounds.pop_front();
        }
        self.bounds.push_back(bound);
    }

    /// A fan-out of `sends` frames, in an event that started at `now`. Fan-outs of one
    /// event (the clock has not moved) add up.
    pub fn fanned_out(&mut self, now: u64, sends: usize) {
        if sends == 0 {
            return;
        }
        self.observe(now);
        let sends = sends as u64;
        match self.last.as_mut() {
            Some(f) if !f.observed && f.start == now => f.sends += sends,
            _ => {
                self.last = Some(Fanout {
                    start: now,
                    sends,
                    observed: false,
                })
            }
        }
    }

    /// When the room's last fan-out is estimated to have ended (Unix ms).
    pub fn busy_until(&self) -> Option<u64> {
        let f = self.last?;
        let took = (f.sends * self.ns()).div_ceil(1_000_000);
        Some(f.start.saturating_add(took))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime where a send costs `ns`, under a clock that stands still within an
    /// event: each fan-out of `sends` is followed by an event that waited behind it
    /// and starts `gap_ms` after it ends. Returns the estimate.
    fn run(cost: &mut SendCost, ns: u64, sends: usize, gap_ms: u64, rounds: usize) -> u64 {
        let mut now = 1_000_000;
        for _ in 0..rounds {
            cost.fanned_out(now, sends);
            now += (sends as u64 * ns).div_ceil(1_000_000) + gap_ms;
            cost.observe(now);
        }
        cost.ns()
    }

    #[test]
    fn before_any_bound_it_is_the_reference_figure() {
        let c = SendCost::default();
        assert_eq!(c.ns(), 40_000);
        assert_eq!(c.busy_until(), None);
    }

    #[test]
    fn it_follows_a_faster_or_slower_runtime() {
        for ns in [10_000, 27_000, 60_000, 150_000] {
            let learned = run(&mut SendCost::default(), ns, 1_000, 0, 3);
            assert!(learned.abs_diff(ns) <= ns / 50, "{ns}: {learned}");
        }
        // A runtime that slows down later is followed once the faster bounds age out.
        let mut c = SendCost::default();
        run(&mut c, 20_000, 1_000, 0, 5);
        assert_eq!(run(&mut c, 50_000, 1_000, 0, SAMPLES), 50_000);
    }

    #[test]
    fn the_estimate_places_the_end_of_a_fan_out() {
        let mut c = SendCost::default();
        run(&mut c, 27_000, 1_000, 0, 2);
        c.fanned_out(5_000_000, 1_000);
        assert_eq!(c.busy_until(), Some(5_000_027));
    }

    #[test]
    fn a_quiet_room_does_not_raise_it() {
        let mut c = SendCost::default();
        run(&mut c, 27_000, 1_000, 0, 2);
        // Broadcasts a minute apart: the bounds are loose (and capped).
        assert_eq!(run(&mut c, 27_000, 1_000, 60_000, 6), 27_000);
        let mut quiet = SendCost::default();
        assert_eq!(run(&mut quiet, 27_000, 1_000, 60_000, 3), MAX_NS);
        quiet.fanned_out(9_000_000, 1_000);
        assert_eq!(quiet.busy_until(), Some(9_000_200), "busy 0.2 s at most");
    }

    #[test]
    fn the_same_event_and_short_spans_give_no_bound() {
        let mut c = SendCost::default();
        // Two fan-outs of one event (the clock stood still) are one fan-out.
        c.fanned_out(100, 500);
        c.observe(100);
        c.fanned_out(100, 500);
        assert_eq!(c.busy_until(), Some(140));
        c.observe(127);
        assert_eq!(c.ns(), 27_000);
        // Fan-outs shorter than the clock can tell apart give none.
        let mut short = SendCost::default();
        short.fanned_out(100, 50);
        short.observe(101);
        assert_eq!(short.ns(), 40_000);
        // Only the first event after a fan-out bounds it.
        c.fanned_out(200, 1_000);
        c.observe(230);
        c.observe(260);
        assert_eq!(c.ns(), 27_000);
    }
}
