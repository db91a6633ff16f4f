//! The room's one deadline timer: sockets that must authenticate in time, checks that
//! must leave the queue in time, participants checks that must answer in time and a
//! personal channel's offline delay, earliest first (see `deadlines`).
//! Per socket group. The timer exists only while something waits, so a room of
//! authenticated idle sockets has none and hibernates.

use super::deadlines::Deadlines;
use super::io::Timers;

/// What a deadline guards.
pub enum Watch<S> {
    /// A socket that must authenticate in time.
    Auth(S),
    /// A participants check that must answer in time, asked for at this Unix ms.
    Check(u64),
    /// A participants check queued at this Unix ms (see `checks`), which must be sent
    /// in time.
    Queued(u64),
    /// A personal channel's offline delay (see `personal`).
    Offline,
}

pub struct Timer<S> {
    deadlines: Deadlines<Watch<S>>,
    /// When the timer asked of the `Io` fires, if one is pending.
    armed_at: Option<u64>,
}

impl<S> Default for Timer<S> {
    fn default() -> Self {
        Timer {
            deadlines: Deadlines::default(),
            armed_at: None,
        }
    }
}

impl<S> Timer<S> {
    pub fn watch(&mut self, connection_id: String, at: u64, watch: Watch<S>, io: &mut impl Timers) {
        self.deadlines.insert(connection_id, at, watch);
        self.arm(io);
    }

    /// Stops watching the connection. A check still in flight is aborted: its socket
    /// is authenticated or gone. With nothing left to wait for, the timer goes.
    pub fn unwatch(&mut self, connection_id: &str, io: &mut impl Timers) {
        if let Some(Watch::Check(_)) = self.deadlines.remove(connection_id) {
            io.cancel_check(connection_id);
        }
        if self.deadlines.is_empty() && self.armed_at.take().is_some() {
            io.cancel_timer();
        }
    }

    /// When the connection's participants check was asked for, if one is queued or in
    /// flight.
    pub fn check_started(&self, connection_id: &str) -> Option<u64> {
        match self.deadlines.get(connection_id) {
            Some(Watch::Check(started) | Watch::Queued(started)) => Some(*started),
            _ => None,
        }
    }

    /// The timer fired: every watch due at `now`, taken out.
    pub fn fired(&mut self, now: u64) -> Vec<(String, Watch<S>)> {
        self.armed_at = None;
        self.deadlines.take_due(now)
    }

    /// Makes sure the timer fires at or before the earliest deadline. A timer for an
    /// earlier deadline is kept: when it fires it finds nobody due and re-arms.
    pub fn arm(&mut self, io: &mut impl Timers) {
        let Some(earliest) = self.deadlines.earliest() else {
            return;
        };
        if self.armed_at.is_some_and(|at| at <= earliest) {
            return;
        }
        self.armed_at = Some(earliest);
        io.arm_timer(earliest);
    }
}
