//! Every way out of the room, wired: the room closes a socket (an error, a timeout, an
//! expired token, a disconnect by the backend), or the client closes it.

use super::{send_error, Io, Room};
use crate::audit::{self, Event};
use crate::config::MAX_RESUME_TTL_MS;
use crate::control::Disconnect;
use crate::protocol::{echo_close_code, ClientError, CloseCode, ErrorCode, Presence};
use crate::session::is_expired;
use std::collections::HashSet;

impl<S: Clone> Room<S> {
    /// Sends the error, closes with `code`, and forgets the connection at once. A
    /// socket the room already closed is left alone: one close per socket.
    pub(super) fn close_with(
        &mut self,
        socket: &S,
        connection_id: &str,
        e: &ClientError,
        code: CloseCode,
        io: &mut impl Io<S>,
    ) {
        if !self.gate.is_live(connection_id) {
            return;
        }
        // Marked first, so that a wake before the client answers the close leaves it
        // out: once a socket is closing, the runtime no longer stores its attachment.
        let user = match io.load(socket) {
            Some(mut session) => {
                session.closed = true;
                io.save(socket, &session);
                session.user_id
            }
            None => None,
        };
        let event = Event::of_close(e.code, code.code());
        let entry = audit::Entry::new(self.clock, event, connection_id, user.as_deref());
        self.log(entry, io);
        send_error(io, socket, e);
        io.close(socket, code.code(), e.code.as_str());
        self.forget(connection_id, io);
        self.gate.closed_by_room(connection_id);
    }

    /// Takes the connection out of every concern; a user's last socket leaving is
    /// announced.
    pub(super) fn forget(&mut self, connection_id: &str, io: &mut impl Io<S>) {
        self.timer.unwatch(connection_id, io);
        self.checks.dequeue(connection_id);
        self.gate.gone(connection_id);
        self.limits.forget(connection_id);
        let now = self.clock;
        self.rows.record(|j| j.closed(connection_id), now, io);
        let Some(member) = self.roster.remove(connection_id) else {
            return;
        };
        self.personal_left(now, io);
        let Some(user) = member.user_id.as_deref() else {
            return;
        };
        let was_on = self.members.presence_on();
        if self.members.left(user) {
            self.user_changed(was_on, Presence::Leave(user), None, now, io);
        }
    }

    /// Closes every member whose token has expired (`token_expired`, 4401), before
    /// anything else the room does would reach it. No timer: an expired member is
    /// found by its next frame or the next room event, so an idle room still
    /// hibernates. O(1) until the earliest known expiry has passed.
    pub(super) fn expire(&mut self, now: u64, io: &mut impl Io<S>) {
        if !self.expiry.due(now) {
            return;
        }
        let expired: Vec<(S, String)> = self
            .roster
            .iter()
            .filter(|m| is_expired(m.expires_at, now))
            .map(|m| (m.socket.clone(), m.connection_id.clone()))
            .collect();
        let (e, code) = ErrorCode::TokenExpired.closing();
        for (socket, id) in &expired {
            self.close_with(socket, id, &e, code, io);
        }
        self.expiry.reset(self.roster.iter().map(|m| m.expires_at));
    }

    /// The backend takes connections away: every socket of the listed users (all
    /// their tabs) and every listed connection, authenticated or not, gets the
    /// reason's error and close code. A check in flight for a listed user does not
    /// admit it afterwards. Returns how many sockets were closed.
    pub fn on_disconnect(&mut self, d: &Disconnect, now: u64, io: &mut impl Io<S>) -> usize {
        self.tick(now);
        self.expire(now, io);
        // A check asked for this long ago may still be queued or in flight.
        let oldest_check = self.config.auth_timeout_ms + self.config.auth_check_timeout_ms;
        let horizon = now.saturating_sub(oldest_check);
        self.revocation
            .disconnected(&d.user_ids, d.reason, now, horizon);
        // Resume tickets the users hold are refused from now on, whatever the room's
        // storage and secrets are now: a ticket may have been issued under another
        // configuration, or by an instance that died before its first write. Kept as
        // long as any ticket can live.
        if !d.user_ids.is_empty() {
            let until = now.saturating_add(MAX_RESUME_TTL_MS);
            self.revocation.record(&d.user_ids, now, until, io);
            // The record created the room's tables: its rows and audit go there now.
            self.rows.set_storage(true);
        }
        let users: HashSet<&str> = d.user_ids.iter().map(String::as_str).collect();
        let conns: HashSet<&str> = d.connection_ids.iter().map(String::as_str).collect();
        let members = self.roster.iter().filter(|m| {
            conns.contains(m.connection_id.as_str())
                || m.user_id.as_deref().is_some_and(|u| users.contains(u))
        });
        let mut targets: Vec<(S, String)> = members
            .map(|m| (m.socket.clone(), m.connection_id.clone()))
            .collect();
        targets.extend(self.gate.waiting_among(&conns));
        let (e, code) = d.reason.error_code().closing();
        for (socket, id) in &targets {
            self.close_with(socket, id, &e, code, io);
        }
        targets.len()
    }

    /// The client closed the socket (with its close code), or it failed (no code): the
    /// runtime's close and error events. `connection_id` is `None` when the socket's
    /// attachment could not be read. A close the client started is answered with its
    /// own code (see `protocol::echo_close_code`): with the Hibernation API the runtime
    /// does not answer it, and until it is answered the client waits and the runtime
    /// holds the socket half-closed. A socket the room closed already sent its close.
    pub fn on_close(
        &mut self,
        socket: &S,
        connection_id: Option<&str>,
        code: Option<u16>,
        now: u64,
        io: &mut impl Io<S>,
    ) {
        self.tick(now);
        if connection_id.is_some_and(|id| self.gate.answered(id)) {
            return;
        }
        if code.is_some() {
            io.close(socket, echo_close_code(code), "");
        }
        // Members whose token expired leave first (this one too, if it is among them).
        self.expire(now, io);
        let Some(id) = connection_id.filter(|id| self.gate.is_live(id)) else {
            return;
        };
        let user = self.roster.user_of(id).map(str::to_owned);
        let closed = audit::Entry::new(now, Event::Closed(code), id, user.as_deref());
        self.log(closed, io);
        self.forget(id, io);
    }
}
