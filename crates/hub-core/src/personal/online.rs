//! Whether a user's watchers are told they are online: on the first authenticated
//! personal socket, at once; offline only once the user has had no personal socket for
//! `OFFLINE_DELAY_MS`, so a page reload says nothing. The change in waiting needs one
//! one-shot timer, armed only while it waits; it is lost with the object's instance,
//! so the state is kept with the object's storage and rebuilt at a wake.

/// What watchers must be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tell {
    Online,
    Offline,
}

/// What the shell must do after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    Nothing,
    Tell(Tell),
    /// Arm the one-shot timer for this time (Unix ms).
    ArmTimer(u64),
    /// Drop the timer: the change it waited for is off.
    CancelTimer,
}

/// What survives an instance: what watchers were last told and when (Unix ms; the
/// watchers order one user's changes by it), and when an offline change is due, if
/// one waits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    pub told_online: bool,
    pub offline_at: Option<u64>,
    pub told_at: u64,
}

impl Stored {
    /// Nothing worth keeping: offline, nothing waiting.
    pub fn is_idle(&self) -> bool {
        !self.told_online && self.offline_at.is_none()
    }
}

#[derive(Debug, Default)]
pub struct Online {
    sockets: usize,
    stored: Stored,
}

impl Online {
    /// A new instance with `sockets` authenticated personal sockets and the stored
    /// state: a change that was waiting is waiting again (or due now).
    pub fn wake(sockets: usize, stored: Stored, now: u64) -> (Online, Then) {
        let mut online = Online { sockets, stored };
        let then = match (sockets, stored.offline_at) {
            (0, Some(at)) if at <= now => online.fire(now),
            (0, Some(at)) => Then::ArmTimer(at),
            (0, None) if stored.told_online => {
                // Told online, no socket and nothing waiting (the instance died before
                // arming it): offline is due now.
                online.fire(now)
            }
            (_, Some(_)) => {
                online.stored.offline_at = None;
                Then::Nothing
            }
            _ => Then::Nothing,
        };
        (online, then)
    }

    /// What watchers were last told (`/api/users/status`'s `online`).
    pub fn told_online(&self) -> bool {
        self.stored.told_online
    }

    /// To store after every change.
    pub fn stored(&self) -> Stored {
        self.stored
    }

    /// When watchers were last told (0: never, as far as this object keeps).
    pub fn told_at(&self) -> u64 {
        self.stored.told_at
    }

    /// A personal socket authenticated at `now`.
    pub fn joined(&mut self, now: u64) -> Then {
        self.sockets += 1;
        if self.stored.offline_at.take().is_some() {
            // Back within the delay: watchers never heard otherwise.
            return Then::CancelTimer;
        }
        if self.stored.told_online {
            return Then::Nothing;
        }
        self.stored.told_online = true;
        self.tell_at(now);
        Then::Tell(Tell::Online)
    }

    /// An authenticated personal socket closed.
    pub fn left(&mut self, now: u64, delay_ms: u64) -> Then {
        self.sockets = self.sockets.saturating_sub(1);
        if self.sockets > 0 || !self.stored.told_online {
            return Then::Nothing;
        }
        let at = now.saturating_add(delay_ms);
        self.stored.offline_at = Some(at);
        Then::ArmTimer(at)
    }

    /// The timer fired.
    pub fn fire(&mut self, now: u64) -> Then {
        match self.stored.offline_at {
            Some(at) if at > now => Then::ArmTimer(at),
            _ if self.sockets > 0 || !self.stored.told_online => {
                self.stored.offline_at = None;
                Then::Nothing
            }
            _ => {
                self.stored.told_online = false;
                self.stored.offline_at = None;
                self.tell_at(now);
                Then::Tell(Tell::Offline)
            }
        }
    }
}

impl Online {
    /// Changes are stamped strictly later than the one before, even within a
    /// millisecond, so a watcher can keep only the newest.
    fn tell_at(&mut self, now: u64) {
        self.stored.told_at = now.max(self.stored.told_at.saturating_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELAY: u64 = 3_000;

    #[test]
    fn online_at_once_offline_after_the_delay_and_once() {
        let mut o = Online::default();
        assert_eq!(o.joined(5), Then::Tell(Tell::Online));
        assert_eq!(o.told_at(), 5);
        assert_eq!(o.joined(6), Then::Nothing, "a second tab");
        assert_eq!(o.left(10, DELAY), Then::Nothing);
        assert_eq!(o.left(20, DELAY), Then::ArmTimer(3_020));
        assert!(o.told_online(), "still online until announced otherwise");
        assert_eq!(o.fire(1_000), Then::ArmTimer(3_020), "early");
        assert_eq!(o.fire(3_020), Then::Tell(Tell::Offline));
        assert_eq!(o.fire(3_500), Then::Nothing, "only once");
        assert!(o.stored().is_idle(), "nothing worth keeping");
        assert_eq!(o.told_at(), 3_020);
        // Back at once, within the same millisecond: still a later change.
        assert_eq!(o.joined(3_020), Then::Tell(Tell::Online));
        assert_eq!(o.told_at(), 3_021);
    }

    #[test]
    fn a_reload_within_the_delay_says_nothing() {
        let mut o = Online::default();
        o.joined(0);
        assert_eq!(o.left(0, DELAY), Then::ArmTimer(DELAY));
        assert_eq!(o.joined(1), Then::CancelTimer);
        assert_eq!(o.fire(DELAY), Then::Nothing, "a stale timer");
        assert!(o.told_online());
    }

    #[test]
    fn a_wake_rebuilds_the_change_in_waiting() {
        let waiting = Stored {
            told_online: true,
            offline_at: Some(5_000),
            told_at: 1,
        };
        assert_eq!(Online::wake(0, waiting, 4_000).1, Then::ArmTimer(5_000));
        assert_eq!(Online::wake(0, waiting, 6_000).1, Then::Tell(Tell::Offline));
        // A socket came back: nothing waits, nothing to say.
        let (o, then) = Online::wake(1, waiting, 6_000);
        assert_eq!((then, o.stored().offline_at), (Then::Nothing, None));
        // Told online, no socket, nothing armed: the instance died in between.
        let lost = Stored {
            told_online: true,
            offline_at: None,
            told_at: 1,
        };
        assert_eq!(Online::wake(0, lost, 1).1, Then::Tell(Tell::Offline));
        assert_eq!(Online::wake(0, Stored::default(), 1).1, Then::Nothing);
    }
}
