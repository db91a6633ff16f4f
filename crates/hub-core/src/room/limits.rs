//! Per-connection throttles: the rate limit on client frames, and typing fanned out
//! only when it is news. In memory only (they may reset on hibernation). Per socket
//! group.

use crate::rate_limit::{Bucket, RateLimit, Verdict};
use std::collections::HashMap;

/// A repeated `isTyping:true` is fanned out again only after this long, so a client
/// that keeps saying it is typing costs one fan-out per period, not one per frame.
pub const TYPING_REPEAT_MS: u64 = 3_000;

#[derive(Default)]
pub struct Limits {
    rates: HashMap<String, Bucket>,
    /// The last typing state fanned out per connection, and when.
    typing: HashMap<String, (bool, u64)>,
}

impl Limits {
    /// Counts one frame against the connection's rate limit.
    pub fn rate_check(&mut self, connection_id: &str, limit: &RateLimit, now: u64) -> Verdict {
        match self.rates.get_mut(connection_id) {
            Some(bucket) => bucket.check(limit, now),
            None => {
                let mut bucket = Bucket::new(limit, now);
                let verdict = bucket.check(limit, now);
                self.rates.insert(connection_id.to_owned(), bucket);
                verdict
            }
        }
    }

    /// Whether a typing event is news: another state than the last one fanned out,
    /// or the same `true` after `TYPING_REPEAT_MS` (so a typing indicator stays lit).
    pub fn typing_is_news(&self, connection_id: &str, is_typing: bool, now: u64) -> bool {
        match self.typing.get(connection_id) {
            None => true,
            Some(&(was, at)) => {
                was != is_typing || (is_typing && now.saturating_sub(at) > TYPING_REPEAT_MS)
            }
        }
    }

    pub fn typed(&mut self, connection_id: &str, is_typing: bool, now: u64) {
        self.typing
            .insert(connection_id.to_owned(), (is_typing, now));
    }

    pub fn forget(&mut self, connection_id: &str) {
        self.rates.remove(connection_id);
        self.typing.remove(connection_id);
    }
}
