//! The effects the room asks for, split by role so that a concern and its test fake
//! only what it uses. Every method is carried out at once, in order. The runtime's
//! implementation is `src/effects.rs`.
//!
//! Effects go through traits rather than a returned list: a fan-out then walks the
//! roster straight into the runtime's `send`, with no list of targets allocated per
//! broadcast or typing event (the two hot paths), and native tests record the calls.

use super::personal::Known;
use crate::audit;
use crate::journal::Write;
use crate::personal::online::Stored;
use crate::protocol::{ClientError, CloseCode};
use crate::session::Session;
use std::collections::HashSet;

/// The room's sockets and their attachments.
pub trait Sockets<S> {
    /// Takes `socket` into the room under `session` (its tag and attachment); false
    /// when the runtime refused.
    fn accept(&mut self, socket: &S, session: &Session) -> bool;
    /// Answers a socket the room does not take in: it gets `error`, then `code`.
    fn refuse(&mut self, socket: &S, error: &ClientError, code: CloseCode);
    /// Stores `session` as the socket's attachment; false when the runtime refused.
    fn save(&mut self, socket: &S, session: &Session) -> bool;
    /// The socket's attachment, if readable.
    fn load(&mut self, socket: &S) -> Option<Session>;
    /// Sends one frame to one socket.
    fn send(&mut self, socket: &S, frame: &str);
    /// Sends one frame to every socket of `to`; returns how many sends succeeded.
    fn fan_out<'a>(&mut self, frame: &str, to: impl Iterator<Item = &'a S>) -> usize
    where
        S: 'a;
    /// Closes the socket with `code`, `reason` being the stable error code (or empty).
    fn close(&mut self, socket: &S, code: u16, reason: &str);
}

/// Work that runs later: one-shot timers, and participants checks in flight. None of
/// them is periodic, and each exists only while something waits for it.
pub trait Timers {
    /// Calls `Room::on_timer` at Unix ms `at`, replacing any earlier request.
    fn arm_timer(&mut self, at: u64);
    /// Drops the pending timer.
    fn cancel_timer(&mut self);
    /// Calls `Room::flush` after `after_ms`.
    fn schedule_flush(&mut self, after_ms: u64);
    /// Calls `Room::on_burst_timer` after `after_ms` (the burst window).
    fn schedule_burst(&mut self, after_ms: u64);
    /// Aborts the connection's participants check, if one still runs; it then ends
    /// as unavailable.
    fn cancel_check(&mut self, connection_id: &str);
}

/// The room's SQLite tables.
pub trait Storage {
    /// Writes these row changes and audit events in one batch (creating the room's
    /// tables first if they do not exist yet), then prunes the audit as `prune` says.
    fn write_rows(&mut self, writes: Vec<Write>, audit: Vec<audit::Entry>, prune: audit::Prune);
    /// Deletes the rows of every connection not in `live` (left by an earlier instance).
    fn remove_ghost_rows(&mut self, live: &HashSet<String>);
    /// The `delivered` count stored with `key` at or after `since`, if any.
    fn find_key(&mut self, key: &str, since: u64) -> Option<usize>;
    /// How many idempotency keys are stored; `None` when that cannot be read.
    fn key_count(&mut self) -> Option<usize>;
    /// Deletes the keys stored before `before` (an indexed range delete); how many
    /// went (`None`: unknown).
    fn prune_keys(&mut self, before: u64) -> Option<usize>;
    /// Stores `key` with its count at `at` (now, in the same commit as the delivery)
    /// and, with `keep`, deletes all but the newest `keep` (a scan of every key).
    fn store_key(&mut self, key: &str, delivered: usize, at: u64, keep: Option<usize>);
    /// Records that `users` were disconnected at `at`, to be remembered until `until`
    /// (when every resume ticket they could hold has expired), in the same commit as
    /// pruning the records that have run out; creates the room's tables if need be.
    fn revoke(&mut self, users: &[String], at: u64, until: u64);
    /// Every disconnect record still remembered at `now`: (user, at, until); none, and
    /// no tables created, in a room without tables. `None` when they cannot be read.
    fn revocations(&mut self, now: u64) -> Option<Vec<(String, u64, u64)>>;
}

/// The room's other objects, when it spans several (see `shard`). For a room of one
/// object both are no-ops, and cost nothing.
pub trait Spread {
    /// `frame` (typing, presence) is for the members the room's other objects hold too,
    /// all but the socket `except`: from the first object it goes to every further
    /// one, in the room's order; from a further object, up to the first, which sends
    /// it on.
    fn spread(&mut self, frame: &str, except: Option<&str>);
    /// A further object tells the first that `user` now has sockets here (`present`,
    /// `via` the socket that just joined) or no longer has any: the first object
    /// decides what that means for the whole room (`Room::on_remote_user`).
    fn report_user(&mut self, user: &str, present: bool, via: Option<&str>);
    /// A further object admitted `connection_id` without the room's member list (a
    /// resume ticket: no check ran, so none was asked for); its `auth:ok` said
    /// `members: null`. The shell asks the first object, and sends the socket the list
    /// as presence `on` if presence is on room-wide.
    fn list_members_to(&mut self, connection_id: &str);
}

/// A personal channel's ties to other users' objects, and what it keeps of them
/// (see `personal`). A room never asks for any.
pub trait Contacts {
    /// Tells each of `watchers`' objects that this user is `online` (or not) as of
    /// `at`; a watcher that answers it no longer watches is dropped
    /// (`Room::on_unwatched`).
    fn tell_watchers(&mut self, watchers: Vec<String>, online: bool, at: u64);
    /// Keeps the online state for the next instance.
    fn store_online(&mut self, stored: Stored);
    /// Keeps (`present`) or drops one watcher.
    fn store_watcher(&mut self, watcher: &str, present: bool);
    /// Replaces whom this user watches, with what is known of each.
    fn store_watching(&mut self, watching: &[(String, Known)]);
    /// Keeps what is now known of one watched user.
    fn store_known(&mut self, user: &str, known: Known);
}

/// Everything the room as a whole may ask for.
pub trait Io<S>: Sockets<S> + Timers + Storage + Spread + Contacts {}

impl<S, T: Sockets<S> + Timers + Storage + Spread + Contacts> Io<S> for T {}
