//! Broadcasts at most once per idempotency key within the window. Room-wide: a key
//! seen anywhere in the room delivers nothing again. Storage is the truth across
//! hibernation; the keys in memory spare a read for a retry to the same instance.

use super::io::Storage;
use std::collections::HashMap;

/// Idempotency keys one room remembers at most (in memory and in storage); the oldest
/// go first. A retry storm of distinct keys cannot grow a room without bound.
pub const MAX_IDEMPOTENCY_KEYS: usize = 10_000;

#[derive(Default)]
pub struct Order {
    /// Keys this instance has seen: (delivered, at).
    keys: HashMap<String, (usize, u64)>,
    /// Keys in storage, at most (read once per instance, then kept in step): the
    /// count-prune scans every key, so it runs only once this passes the cap.
    stored: Option<usize>,
}

impl Order {
    /// The first call's count, when `key` was seen at or after `since`. `stored`:
    /// whether the room keeps keys in storage (only once it has tables).
    pub fn recall(
        &self,
        key: &str,
        since: u64,
        stored: bool,
        io: &mut impl Storage,
    ) -> Option<usize> {
        match self.keys.get(key) {
            Some(&(delivered, at)) if at >= since => Some(delivered),
            _ if stored => io.find_key(key, since),
            _ => None,
        }
    }

    /// Remembers `key` with its count at `now`, dropping keys older than `since`.
    pub fn remember(
        &mut self,
        key: &str,
        delivered: usize,
        (now, since): (u64, u64),
        stored: bool,
        io: &mut impl Storage,
    ) {
        self.keys.retain(|_, (_, at)| *at >= since);
        if self.keys.len() >= MAX_IDEMPOTENCY_KEYS {
            let oldest = self
                .keys
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.keys.remove(&oldest);
            }
        }
        self.keys.insert(key.to_owned(), (delivered, now));
        if stored {
            self.store(key, delivered, (now, since), io);
        }
    }

    /// The count of `key`, stored at `at`, is now `delivered` (a room spread over
    /// several objects learns its total after the fan-out).
    pub fn settle(
        &mut self,
        key: &str,
        delivered: usize,
        at: u64,
        stored: bool,
        io: &mut impl Storage,
    ) {
        if let Some(entry) = self.keys.get_mut(key).filter(|(_, a)| *a == at) {
            entry.0 = delivered;
            if stored {
                io.store_key(key, delivered, at, None);
            }
        }
    }

    /// Writes the key after the age prune, pruning by count only when the stored
    /// keys would pass the cap (or their number is unknown). No await in between: one
    /// commit with the delivery.
    fn store(
        &mut self,
        key: &str,
        delivered: usize,
        (now, since): (u64, u64),
        io: &mut impl Storage,
    ) {
        let before = self.stored.or_else(|| io.key_count());
        let aged = io.prune_keys(since);
        let after = before.zip(aged).map(|(n, aged)| n.saturating_sub(aged) + 1);
        let over = after.is_none_or(|n| n > MAX_IDEMPOTENCY_KEYS);
        io.store_key(key, delivered, now, over.then_some(MAX_IDEMPOTENCY_KEYS));
        self.stored = after.map(|n| n.min(MAX_IDEMPOTENCY_KEYS));
    }
}
