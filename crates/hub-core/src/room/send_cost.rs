//! What one `send` costs the runtime this room runs on, learned from what the room
//! can observe between events. Per socket group; behind batching's busy estimate.
//!
//! The runtime's clock stands still while an event runs (deployed, `Date.now()` moves
//! only between events), so a fan-out cannot time itself. What the room does see is
//! when later events start. A send is partly synchronous (the frame is queued on the
//! socket) and partly not (the runtime writes it out after the event), on the same
//! thread: the next event may start before the writes are done, so one fan-out and the
//! event after it show only the first part. Over several fan-outs the second part must
//! have been paid too, all but the last one's. So the estimate is the span from the
//! oldest of the last `WINDOW` fan-outs to the latest event, over the frames they sent:
//! an upper bound (bar the last fan-out's writes) that is tight while the room is
//! busy, because each event then waited behind the work before it. When the room was
//! idle in between, it is loose, and capped (`MAX_NS`) so that a quiet room never
//! counts itself busy for long. Until the first span of at least `MIN_SPAN_MS` (the
//! clock has millisecond steps), it is the reference machine's figure
//! (`burst::SEND_COST_US`).

use crate::burst::SEND_COST_US;
use std::collections::VecDeque;

/// Fan-outs the estimate spans.
pub const WINDOW: usize = 8;
/// Shortest span that gives an estimate.
pub const MIN_SPAN_MS: u64 = 8;
/// Least and most the estimate may say a send costs, in ns.
pub const MIN_NS: u64 = 1_000;
pub const MAX_NS: u64 = 200_000;

#[derive(Debug, Clone, Copy)]
struct Fanout {
    /// When the event that sent it started (Unix ms).
    start: u64,
    sends: u64,
}

#[derive(Debug, Default)]
pub struct SendCost {
    /// The last `WINDOW` fan-outs, oldest first.
    fanouts: VecDeque<Fanout>,
    /// Whether an event has started since the latest fan-out.
    observed: bool,
    /// The latest estimate, ns per send.
    estimate: Option<u64>,
}

impl SendCost {
    /// The estimated cost of one send, in ns.
    pub fn ns(&self) -> u64 {
        self.estimate.unwrap_or(SEND_COST_US * 1_000)
    }

    /// An event started at `now`. The first event after a fan-out, at a later clock
    /// reading, bounds what the recent fan-outs cost; the same event (the clock has
    /// not moved) does not.
    pub fn observe(&mut self, now: u64) {
        let (Some(oldest), Some(latest)) = (self.fanouts.front(), self.fanouts.back()) else {
            return;
        };
        if self.observed || now <= latest.start {
            return;
        }
        self.observed = true;
        let span = now.saturating_sub(oldest.start);
        if span < MIN_SPAN_MS {
            return;
        }
        let sends: u64 = self.fanouts.iter().map(|f| f.sends).sum();
        self.estimate = Some((span * 1_000_000 / sends).clamp(MIN_NS, MAX_NS));
    }

    /// A fan-out of `sends` frames, in an event that started at `now`. Fan-outs of one
    /// event (the clock has not moved) add up.
    pub fn fanned_out(&mut self, now: u64, sends: usize) {
        if sends == 0 {
            return;
        }
        self.observe(now);
        let sends = sends as u64;
        match self.fanouts.back_mut() {
            Some(f) if !self.observed && f.start == now => f.sends += sends,
            _ => {
                if self.fanouts.len() == WINDOW {
                    self.fanouts.pop_front();
                }
                self.fanouts.push_back(Fanout { start: now, sends });
                self.observed = false;
            }
        }
    }

    /// When the room's last fan-out is estimated to have ended (Unix ms).
    pub fn busy_until(&self) -> Option<u64> {
        let f = self.fanouts.back()?;
        let took = (f.sends * self.ns()).div_ceil(1_000_000);
        Some(f.start.saturating_add(took))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A busy room on a runtime where a send costs `ns` in all, `sync_ns` of it before
    /// the event ends, under a clock that stands still within an event: fan-outs of
    /// `sends` frames back to back, `gap_ms` apart, each followed by an event (a ping,
    /// say) that starts as soon as the sending event ends. Returns the estimate.
    fn busy(
        cost: &mut SendCost,
        (ns, sync_ns): (u64, u64),
        sends: u64,
        gap_ms: u64,
        n: usize,
    ) -> u64 {
        // Later than anything the estimate has seen.
        let mut now = cost.fanouts.back().map_or(1_000_000, |f| f.start + 600_000);
        for _ in 0..n {
            cost.fanned_out(now, sends as usize);
            cost.observe(now + (sends * sync_ns).div_ceil(1_000_000));
            now += (sends * ns).div_ceil(1_000_000) + gap_ms;
        }
        cost.ns()
    }

    fn within(estimate: u64, ns: u64, pct: u64) -> bool {
        estimate.abs_diff(ns) * 100 <= ns * pct
    }

    #[test]
    fn before_any_span_it_is_the_reference_figure() {
        let c = SendCost::default();
        assert_eq!(c.ns(), 40_000);
        assert_eq!(c.busy_until(), None);
    }

    #[test]
    fn it_follows_a_faster_or_slower_runtime() {
        for ns in [10_000, 27_000, 60_000, 150_000] {
            let learned = busy(&mut SendCost::default(), (ns, ns), 1_000, 0, 3);
            assert!(within(learned, ns, 2), "{ns}: {learned}");
        }
        // A runtime that slows down later is followed once the window has moved on.
        let mut c = SendCost::default();
        busy(&mut c, (20_000, 20_000), 1_000, 0, 5);
        let slower = busy(&mut c, (50_000, 50_000), 1_000, 0, WINDOW);
        assert!(within(slower, 50_000, 2), "{slower}");
    }

    #[test]
    fn writes_after_the_event_are_counted_over_the_window() {
        // 40 µs a send, of which only 15 µs before the event ends: one fan-out shows
        // 15 µs, the window all but 1/8 of the rest.
        let mut c = SendCost::default();
        assert_eq!(busy(&mut c, (40_000, 15_000), 1_000, 0, 1), 15_000);
        let learned = busy(&mut c, (40_000, 15_000), 1_000, 0, WINDOW);
        assert!(within(learned, 40_000, 8), "{learned}");
    }

    #[test]
    fn the_estimate_places_the_end_of_a_fan_out() {
        let mut c = SendCost::default();
        busy(&mut c, (27_000, 27_000), 1_000, 0, WINDOW);
        c.fanned_out(5_000_000, 1_000);
        assert_eq!(c.busy_until(), Some(5_000_027));
    }

    #[test]
    fn a_quiet_room_is_never_busy_for_long() {
        // Broadcasts a minute apart: the spans are loose, and capped.
        let mut quiet = SendCost::default();
        assert_eq!(busy(&mut quiet, (27_000, 27_000), 1_000, 60_000, 3), MAX_NS);
        quiet.fanned_out(9_000_000, 1_000);
        assert_eq!(quiet.busy_until(), Some(9_000_200), "busy 0.2 s at most");
        // A burst brings it back down within a window.
        let learned = busy(&mut quiet, (27_000, 27_000), 1_000, 0, WINDOW + 1);
        assert!(within(learned, 27_000, 2), "{learned}");
    }

    #[test]
    fn the_same_event_and_short_spans_give_no_estimate() {
        let mut c = SendCost::default();
        // Two fan-outs of one event (the clock stood still) are one fan-out.
        c.fanned_out(100, 500);
        c.observe(100);
        c.fanned_out(100, 500);
        assert_eq!(c.busy_until(), Some(140));
        c.observe(127);
        assert_eq!(c.ns(), 27_000);
        // Spans shorter than the clock can tell apart give none.
        let mut short = SendCost::default();
        short.fanned_out(100, 50);
        short.observe(101);
        assert_eq!(short.ns(), 40_000);
        // Only the first event after a fan-out counts.
        let mut once = SendCost::default();
        once.fanned_out(200, 1_000);
        once.observe(230);
        once.observe(260);
        assert_eq!(once.ns(), 30_000);
    }
}
