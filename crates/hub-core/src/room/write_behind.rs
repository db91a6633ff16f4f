//! The room's rows and audit events, written behind: changes wait up to
//! `WRITE_BEHIND_MS` so a connection's accept and auth, or a burst of joins, share one
//! commit. Nothing is written until the room has tables (a socket authenticated in it,
//! in this instance or an earlier one), so a room nobody joined stores nothing; until
//! then the audit waits in memory, bounded.

use super::io::{Storage, Timers};
use crate::audit;
use crate::journal::{Journal, Row};
use std::collections::VecDeque;

/// How long row changes wait to be written together (see `journal`): long enough for
/// a connection's accept and auth to land in the same batch (one row write instead of
/// two) and for a burst of joins to share one commit, short enough that the table
/// stays current. Stats flush pending changes before they count.
pub const WRITE_BEHIND_MS: u64 = 250;
/// Pending row changes that trigger a write at once, bounding the batch's memory.
pub const MAX_PENDING_WRITES: usize = 400;

pub struct WriteBehind {
    /// `AUDIT_MAX_EVENTS` and `AUDIT_RETENTION_MS`.
    audit_max: usize,
    audit_retention_ms: u64,
    /// Row changes not yet written.
    journal: Journal,
    /// Audit events not yet written (bounded by `audit_max_events` until the room has
    /// storage; written with the rows afterwards).
    audit: VecDeque<audit::Entry>,
    /// Whether a flush is already scheduled.
    scheduled: bool,
    /// Whether the room may write rows (its tables exist, or may now be created).
    storage: bool,
}

impl WriteBehind {
    pub fn new(audit_max: usize, audit_retention_ms: u64) -> Self {
        WriteBehind {
            audit_max,
            audit_retention_ms,
            journal: Journal::default(),
            audit: VecDeque::new(),
            scheduled: false,
            storage: false,
        }
    }

    pub fn has_storage(&self) -> bool {
        self.storage
    }

    /// The room's tables exist (a wake found them), or may now be created (a socket
    /// authenticated).
    pub fn set_storage(&mut self, storage: bool) {
        self.storage = storage;
    }

    /// Records a row change at `now` and makes sure a write follows.
    pub fn record(&mut self, change: impl FnOnce(&mut Journal), now: u64, io: &mut impl WriteIo) {
        change(&mut self.journal);
        if self.storage {
            self.schedule(now, io);
        }
    }

    /// Records an audit event; it is written with the next batch of rows. Until the
    /// room has storage, only the newest `audit_max_events` wait in memory.
    pub fn log(&mut self, entry: audit::Entry, io: &mut impl WriteIo) {
        let now = entry.at;
        self.audit.push_back(entry);
        if !self.storage {
            while self.audit.len() > self.audit_max {
                self.audit.pop_front();
            }
            return;
        }
        self.schedule(now, io);
    }

    /// A write at once when the batch is full, otherwise after `WRITE_BEHIND_MS` (one
    /// scheduled flush per batch).
    fn schedule(&mut self, now: u64, io: &mut impl WriteIo) {
        let pending = self.journal.len() + self.audit.len();
        if pending >= MAX_PENDING_WRITES {
            self.flush(now, io);
        } else if pending > 0 && !self.scheduled {
            self.scheduled = true;
            io.schedule_flush(WRITE_BEHIND_MS);
        }
    }

    /// Writes every pending change now (the scheduled write-behind, or before
    /// anything reads the tables). `now` dates the audit's pruning.
    pub fn flush(&mut self, now: u64, io: &mut impl Storage) {
        self.scheduled = false;
        if self.storage && (!self.journal.is_empty() || !self.audit.is_empty()) {
            let prune = audit::Prune {
                before: now.saturating_sub(self.audit_retention_ms),
                keep: self.audit_max,
                now,
            };
            let events = self.audit.drain(..).collect();
            io.write_rows(self.journal.take(), events, prune);
        }
    }

    /// The connections of a room that has no storage yet, from memory.
    pub fn pending_rows(&self) -> Vec<Row> {
        self.journal.pending_rows()
    }

    /// The newest audit events waiting in memory, at most `limit`.
    pub fn pending_audit(&self, limit: usize) -> Vec<audit::Entry> {
        self.audit.iter().rev().take(limit).cloned().collect()
    }
}

/// What writing behind needs: a timer for the flush, and the tables.
pub trait WriteIo: Timers + Storage {}

impl<T: Timers + Storage> WriteIo for T {}
