//! Per-connection event rate limiting: a token bucket for the normal limit and a
//! one-second window that detects a flood. Pure; counters live in memory and may
//! reset when the room hibernates, which only ever makes the limit more lenient.

/// The limits, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained events per second.
    pub per_sec: u32,
    /// Events allowed at once above the sustained rate.
    pub burst: u32,
    /// Frames within one second that close the connection as a flood.
    pub flood_per_sec: u32,
}

/// What to do with one incoming frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Drop the frame; `notify` is true for the first drop of the window, so a client
    /// gets one `rate_limited` error per second rather than one per dropped frame.
    Drop {
        notify: bool,
    },
    /// A sustained flood: close the connection.
    Close,
}

/// One connection's counters.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    tokens: f64,
    last_ms: u64,
    window_start_ms: u64,
    window_frames: u32,
    notified: bool,
}

const WINDOW_MS: u64 = 1000;

impl Bucket {
    pub fn new(limit: &RateLimit, now_ms: u64) -> Bucket {
        Bucket {
            tokens: f64::from(limit.burst),
            last_ms: now_ms,
            window_start_ms: now_ms,
            window_frames: 0,
            notified: false,
        }
    }

    /// Accounts for one frame arriving at `now_ms`.
    pub fn check(&mut self, limit: &RateLimit, now_ms: u64) -> Verdict {
        if now_ms.saturating_sub(self.window_start_ms) >= WINDOW_MS {
            self.window_start_ms = now_ms;
            self.window_frames = 0;
            self.notified = false;
        }
        self.window_frames = self.window_frames.saturating_add(1);
        if self.window_frames > limit.flood_per_sec {
            return Verdict::Close;
        }
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64;
        self.last_ms = self.last_ms.max(now_ms);
        let cap = f64::from(limit.burst.max(1));
        self.tokens = (self.tokens + elapsed * f64::from(limit.per_sec) / 1000.0).min(cap);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Verdict::Allow
        } else {
            let notify = !self.notified;
            self.notified = true;
            Verdict::Drop { notify }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: RateLimit = RateLimit {
        per_sec: 10,
        burst: 20,
        flood_per_sec: 100,
    };

    fn run(b: &mut Bucket, n: usize, now: u64) -> Vec<Verdict> {
        (0..n).map(|_| b.check(&LIMIT, now)).collect()
    }

    #[test]
    fn a_burst_passes_then_drops_with_one_notice() {
        let mut b = Bucket::new(&LIMIT, 0);
        let v = run(&mut b, 25, 0);
        assert!(v[..20].iter().all(|v| *v == Verdict::Allow));
        assert_eq!(v[20], Verdict::Drop { notify: true });
        assert!(v[21..]
            .iter()
            .all(|v| *v == Verdict::Drop { notify: false }));
    }

    #[test]
    fn tokens_refill_at_the_sustained_rate() {
        let mut b = Bucket::new(&LIMIT, 0);
        run(&mut b, 20, 0);
        assert_eq!(b.check(&LIMIT, 50), Verdict::Drop { notify: true });
        // 100 ms later one token is back.
        assert_eq!(b.check(&LIMIT, 150), Verdict::Allow);
        assert_eq!(b.check(&LIMIT, 150), Verdict::Drop { notify: false });
        // 900 ms later 9 tokens are back, and the new window notifies once more.
        let v = run(&mut b, 12, 1_050);
        assert_eq!(v.iter().filter(|v| **v == Verdict::Allow).count(), 9);
        assert_eq!(v[9], Verdict::Drop { notify: true });
        assert_eq!(v[10..], [Verdict::Drop { notify: false }; 2]);
    }

    #[test]
    fn a_steady_client_at_the_limit_is_never_dropped() {
        let mut b = Bucket::new(&LIMIT, 0);
        for i in 0..1000 {
            assert_eq!(b.check(&LIMIT, i * 100), Verdict::Allow, "event {i}");
        }
    }

    #[test]
    fn a_flood_closes() {
        let mut b = Bucket::new(&LIMIT, 0);
        let v = run(&mut b, 101, 10);
        assert_eq!(v[99], Verdict::Drop { notify: false });
        assert_eq!(v[100], Verdict::Close);
    }

    #[test]
    fn time_going_backwards_is_harmless() {
        let mut b = Bucket::new(&LIMIT, 5_000);
        assert_eq!(b.check(&LIMIT, 1_000), Verdict::Allow);
        assert_eq!(b.check(&LIMIT, 6_000), Verdict::Allow);
    }
}
