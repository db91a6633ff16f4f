//! When the earliest member token of the socket group expires: a lower bound, so the
//! room looks for expired members only once it has passed. No timer: an expired
//! member is found by its next frame or the next room event. Per socket group.

#[derive(Default)]
pub struct Expiry {
    earliest: Option<u64>,
}

impl Expiry {
    /// A member whose token expires at `expires_at` joined or refreshed.
    pub fn note(&mut self, expires_at: Option<u64>) {
        if let Some(at) = expires_at {
            self.earliest = Some(self.earliest.map_or(at, |e| e.min(at)));
        }
    }

    /// Whether some member's token may have expired at `now`.
    pub fn due(&self, now: u64) -> bool {
        self.earliest.is_some_and(|at| now >= at)
    }

    /// The members left after the expired ones were closed: their expiries.
    pub fn reset(&mut self, remaining: impl Iterator<Item = Option<u64>>) {
        self.earliest = remaining.flatten().min();
    }
}
