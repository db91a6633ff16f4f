//! What the room sends to many sockets, wired: the backend's broadcasts (once per
//! idempotency key), typing, presence, and the burst queue behind them.

use super::delivery::Emit;
use super::{Io, Room};
use crate::burst::Audience;
use crate::internal::Delivery as Broadcast;
use crate::protocol::Presence;
use crate::session::is_expired;

/// What a broadcast did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Sockets it was sent to (for a duplicate: the first call's count).
    pub delivered: usize,
    /// The key was seen within the window: nothing was sent.
    pub duplicate: bool,
}

impl<S: Clone> Room<S> {
    /// A broadcast: the message goes verbatim to every authenticated socket not
    /// excluded and, with `user_ids`, whose verified user id is listed. With an
    /// idempotency key seen within the window, nothing is sent and the first call's
    /// count is returned.
    pub fn on_broadcast(&mut self, b: &Broadcast<'_>, now: u64, io: &mut impl Io<S>) -> Published {
        self.tick(now);
        let since = now.saturating_sub(self.config.idempotency_window_ms);
        let stored = self.rows.has_storage();
        if let Some(key) = &b.idempotency_key {
            if let Some(delivered) = self.order.recall(key, since, stored, io) {
                return Published {
                    delivered,
                    duplicate: true,
                };
            }
        }
        self.expire(now, io);
        let audience = if b.exclude.is_empty() && b.user_ids.is_none() {
            Audience::Everyone
        } else {
            Audience::Selected {
                exclude: b.exclude.iter().cloned().collect(),
                users: b.user_ids.as_ref().map(|u| u.iter().cloned().collect()),
            }
        };
        let delivered = self.emit(b.message, audience, now, io);
        if let Some(key) = &b.idempotency_key {
            self.order
                .remember(key, delivered, (now, since), stored, io);
        }
        Published {
            delivered,
            duplicate: false,
        }
    }

    /// One event for the members `to` names, at once or queued (see `delivery`).
    /// Returns how many members it is for.
    pub(super) fn emit(
        &mut self,
        frame: &str,
        to: Audience,
        now: u64,
        io: &mut impl Io<S>,
    ) -> usize {
        let window = self.config.batch_window_ms;
        match self
            .delivery
            .emit(frame, to, (now, window), &self.roster, io)
        {
            Emit::Sent(n) | Emit::Queued(n, false) => n,
            Emit::Queued(n, true) => {
                self.flush_burst(io);
                n
            }
        }
    }

    /// The burst window asked for with `Timers::schedule_burst` is over: the queue goes.
    pub fn on_burst_timer(&mut self, now: u64, io: &mut impl Io<S>) {
        self.tick(now);
        self.delivery.window_over();
        // Expired members are closed first (their leaves go out before the queue).
        self.expire(now, io);
        self.flush_burst(io);
    }

    /// Sends the queued burst now. Members whose token has expired get nothing: the
    /// next room event closes them.
    pub(super) fn flush_burst(&mut self, io: &mut impl Io<S>) {
        self.delivery.flush(&self.roster, self.clock, io);
    }

    /// Tells every member but `except` that a user joined or left (`change`), or that
    /// presence went off or came back on (see `members`). After the events already
    /// queued, so that each socket sees the room's order. Members whose token has
    /// expired get nothing: they are on their way out.
    pub(super) fn announce(
        &mut self,
        was_on: bool,
        change: Presence<'_>,
        except: Option<&str>,
        now: u64,
        io: &mut impl Io<S>,
    ) {
        let Some(frame) = self.members.announcement(was_on, change) else {
            return;
        };
        // Presence going off or back on is news for the joiner too when it joined on
        // another object: its `auth:ok` listed the members as they were before.
        let spread_except = if was_on == self.members.presence_on() {
            except
        } else {
            None
        };
        self.flush_burst(io);
        let to = self
            .roster
            .iter()
            .filter(|m| Some(m.connection_id.as_str()) != except)
            .filter(|m| !is_expired(m.expires_at, now))
            .map(|m| &m.socket);
        io.fan_out(&frame, to);
        io.spread(&frame, spread_except);
    }
}
