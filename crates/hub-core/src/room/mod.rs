//! The room core: every rule that involves more than one socket, or the room's
//! memory, timers and rows. Pure: it takes the room's events with `now` and tells its
//! [`Io`] what to do; the runtime's `Io` is `src/effects.rs`, and `src/chat_room.rs`
//! hands each runtime event to one `on_*` entry point here.
//!
//! This file holds the entry points and the wiring; each concern is a module that owns
//! its state, cut along the line a room spread over several objects needs:
//! - per socket group: [`admission`] (capacity, waiting sockets), [`roster`] (members,
//!   for fan-out), [`delivery`] (fan-out and the burst queue, with [`send_cost`], the
//!   runtime's cost of a send), [`checks`] (participants checks in flight and
//!   queued), [`timer`] (auth, queue and check deadlines behind one timer), [`expiry`],
//!   [`limits`] (rates, typing), [`tickets`] (resume tickets on admission);
//! - room-wide: [`order`] (idempotency keys), [`revocation`] (who was taken away),
//!   [`members`] (the users behind presence), [`write_behind`] (rows and the audit);
//! - on a personal channel: [`personal`] (the user's cap, online state, watchers and
//!   watchlist).
//!
//! The auth path is wired in `joining.rs`, publishing in `publishing.rs`, every way
//! out of the room in `leaving.rs`, and the room's part in a room spread over several
//! objects ([`shards`]: this object's place, presence across objects, relayed frames)
//! in `shards.rs`. Generic over the socket handle `S`, so tests
//! use plain values.

mod admission;
mod checks;
mod deadlines;
mod delivery;
mod expiry;
mod io;
mod joining;
mod leaving;
mod limits;
mod members;
mod order;
mod personal;
mod publishing;
mod revocation;
mod roster;
mod send_cost;
mod shards;
mod tickets;
mod timer;
mod write_behind;

pub use admission::RUNTIME_SOCKET_LIMIT;
pub use io::{Contacts, Io, Sockets, Spread, Storage, Timers};
pub use limits::TYPING_REPEAT_MS;
pub use order::MAX_IDEMPOTENCY_KEYS;
pub use personal::{Known, Registered, Restored};
pub use publishing::Published;
pub use write_behind::{MAX_PENDING_WRITES, WRITE_BEHIND_MS};

use crate::audit::{self, Event};
use crate::burst::Audience;
use crate::channel::Channel;
use crate::config::Config;
use crate::journal::Row;
use crate::protocol::{AuthRequest, ClientError, ClientFrame, ErrorCode, ServerFrame};
use crate::rate_limit::Verdict;
use crate::session::{self, Action, Session};
use admission::Gate;
use checks::Checks;
use delivery::Delivery;
use expiry::Expiry;
use limits::Limits;
use members::Members;
use order::Order;
use revocation::Revocation;
use roster::{Member, Roster};
use shards::Objects;
use timer::{Timer, Watch};
use write_behind::WriteBehind;

/// Close code for a socket whose attachment cannot be read (should never happen).
pub const LOST_STATE: u16 = 1011;

/// How a new socket fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Told why and closed (the room is full).
    Refused,
    /// The runtime would not take the socket.
    Failed,
}

/// A participants check for the shell to run (an auth, or a member's refresh); its
/// outcome comes back through [`Room::on_check_done`] with the same session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check<S> {
    pub socket: S,
    pub session: Session,
    pub request: AuthRequest,
}

/// The state of one room instance in memory: rebuilt from the sockets' attachments
/// whenever a new instance starts ([`Room::on_wake`]).
pub struct Room<S> {
    config: Config,
    /// The latest time an event brought (Unix ms), for work that has no event of its own.
    clock: u64,
    gate: Gate<S>,
    roster: Roster<S>,
    delivery: Delivery,
    timer: Timer<S>,
    checks: Checks<S>,
    expiry: Expiry,
    limits: Limits,
    order: Order,
    revocation: Revocation,
    members: Members,
    rows: WriteBehind,
    objects: Objects,
    /// Set on a personal channel (see `personal`).
    personal: Option<personal::Personal>,
}

impl<S: Clone> Room<S> {
    pub fn new(config: Config) -> Self {
        Room {
            members: Members::new(config.presence_max_members),
            checks: Checks::new(config.auth_check_concurrency),
            rows: WriteBehind::new(config.audit_max_events, config.audit_retention_ms),
            config,
            clock: 0,
            gate: Gate::default(),
            roster: Roster::default(),
            delivery: Delivery::default(),
            timer: Timer::default(),
            expiry: Expiry::default(),
            limits: Limits::default(),
            order: Order::default(),
            revocation: Revocation::default(),
            objects: Objects::default(),
            personal: None,
        }
    }

    /// Authenticated sockets.
    pub fn authenticated(&self) -> usize {
        self.roster.len()
    }

    /// Open sockets the room counts toward its capacity.
    pub fn connections(&self) -> usize {
        self.gate.connections()
    }

    /// What one send is estimated to cost on this runtime, in ns (see `send_cost`).
    pub fn send_cost_ns(&self) -> u64 {
        self.delivery.send_cost_ns()
    }

    /// Participants checks in flight, and queued.
    pub fn checks(&self) -> (usize, usize) {
        (self.checks.in_flight(), self.checks.queued())
    }

    /// Open sockets not authenticated yet.
    pub fn waiting(&self) -> usize {
        self.gate.waiting()
    }

    /// Whether the room has (or may now create) its tables.
    pub fn has_storage(&self) -> bool {
        self.rows.has_storage()
    }

    /// A new instance starts with the sockets the runtime kept (and their attachments,
    /// `None` when unreadable): authenticated ones rejoin the roster, ones caught
    /// mid-check (the check died with the previous instance) and ones past their auth
    /// deadline are closed, waiting ones get their deadline back, ones the room had
    /// closed stay out, and rows of connections that no longer exist are deleted.
    /// `has_storage`: whether the room's tables exist.
    pub fn on_wake(
        &mut self,
        sockets: impl IntoIterator<Item = (S, Option<Session>)>,
        has_storage: bool,
        now: u64,
        io: &mut impl Io<S>,
    ) {
        self.rows.set_storage(has_storage);
        self.tick(now);
        for (socket, session) in sockets {
            let Some(session) = session else {
                io.close(&socket, LOST_STATE, "lost state");
                continue;
            };
            let id = session.connection_id.clone();
            match session::on_wake(&session, now) {
                session::Wake::Closing => self.gate.closed_by_room(&id),
                session::Wake::Rejoin => {
                    self.gate.open(id);
                    self.join(session, socket);
                }
                session::Wake::Close(e, code) => {
                    self.gate.open(id.clone());
                    self.close_with(&socket, &id, &e, code, io);
                }
                session::Wake::Wait => {
                    self.gate
                        .open_silent(id.clone(), session.connected_at, socket.clone());
                    let at = session.auth_deadline;
                    self.timer.watch(id, at, Watch::Auth(socket), io);
                }
            }
        }
        // Members whose token expired while the room slept leave before anything else.
        self.expire(now, io);
        if self.rows.has_storage() {
            io.remove_ghost_rows(self.gate.live());
        }
    }

    /// A new socket for the room, with a fresh connection id. When the room holds
    /// `max_pending` sockets that have not authenticated, the oldest silent one makes
    /// room (see `admission`); members are never displaced.
    pub fn on_connect(
        &mut self,
        socket: S,
        connection_id: String,
        channel: Channel,
        now: u64,
        io: &mut impl Io<S>,
    ) -> Admission {
        self.tick(now);
        if let Some((oldest, oldest_socket)) = self.gate.to_displace(now, &self.config) {
            let (e, code) = ErrorCode::AuthTimeout.closing();
            self.close_with(&oldest_socket, &oldest, &e, code, io);
        }
        if !self.gate.has_room(&self.config, self.objects.elsewhere) {
            return self.on_room_full(socket, &connection_id, now, io);
        }
        let session = Session {
            shard: self.objects.shard,
            ..Session::new(connection_id, channel, now, self.config.auth_timeout_ms)
        };
        if !io.accept(&socket, &session) {
            return Admission::Failed;
        }
        let id = session.connection_id.clone();
        self.gate.open_silent(id.clone(), now, socket.clone());
        self.rows
            .record(|j| j.accepted(row_of(&session, None)), now, io);
        self.log(audit::Entry::new(now, Event::Connected, &id, None), io);
        self.timer
            .watch(id, session.auth_deadline, Watch::Auth(socket), io);
        Admission::Admitted
    }

    /// A new socket the room has no place for, wherever it would land (the first
    /// object of a room spread over several counts every object): `room_full`, 4503.
    pub fn on_room_full(
        &mut self,
        socket: S,
        connection_id: &str,
        now: u64,
        io: &mut impl Io<S>,
    ) -> Admission {
        self.tick(now);
        let (e, code) = ErrorCode::RoomFull.closing();
        io.refuse(&socket, &e, code);
        let refused = Event::Refused(ErrorCode::RoomFull);
        self.log(audit::Entry::new(now, refused, connection_id, None), io);
        Admission::Refused
    }

    /// One client frame. `parse` reads and parses it, and is called only when the
    /// frame is to be handled: a frame the rate limit drops is never copied or parsed.
    /// Returns the participants check to run, for an auth or a refresh.
    pub fn on_frame(
        &mut self,
        socket: &S,
        session: Option<Session>,
        parse: impl FnOnce(usize) -> Result<ClientFrame, ClientError>,
        now: u64,
        io: &mut impl Io<S>,
    ) -> Option<Check<S>> {
        self.tick(now);
        let Some(session) = session else {
            io.close(socket, LOST_STATE, "lost state");
            return None;
        };
        // Expired members leave first (the sender too, if its token has expired).
        self.expire(now, io);
        let id = &session.connection_id;
        // Frames already in flight when the room closed this socket (a flood, a room
        // mismatch, a timeout) still arrive: they must not count as a new connection.
        if !self.gate.is_live(id) {
            return None;
        }
        match self.limits.rate_check(id, &self.config.rate_limit, now) {
            Verdict::Allow => {}
            Verdict::Drop { notify } => {
                if notify {
                    send_error(io, socket, &ErrorCode::RateLimited.into());
                }
                return None;
            }
            Verdict::Close => {
                let (e, code) = ErrorCode::RateLimited.closing();
                self.close_with(socket, id, &e, code, io);
                return None;
            }
        }
        let frame = parse(self.config.max_frame_bytes);
        match session::decide(&session, frame, now) {
            Action::Reply(e) => send_error(io, socket, &e),
            Action::Close(e, code) => self.close_with(socket, id, &e, code, io),
            Action::Pong(t) => io.send(socket, &ServerFrame::Pong { t: t.as_deref() }.encode()),
            Action::Typing(is_typing) => self.typing(&session, is_typing, now, io),
            Action::StartAuth(request) => {
                return self.start_auth(socket, session, request, now, io)
            }
            Action::Refresh(token) => return self.start_refresh(socket, session, token, now, io),
        }
        None
    }

    fn typing(&mut self, session: &Session, is_typing: bool, now: u64, io: &mut impl Io<S>) {
        let id = &session.connection_id;
        if !self.limits.typing_is_news(id, is_typing, now) {
            return;
        }
        self.expire(now, io);
        self.limits.typed(id, is_typing, now);
        let frame = ServerFrame::Typing {
            user_id: session.user_id.as_deref(),
            is_typing,
        }
        .encode();
        self.emit(&frame, Audience::AllBut(id.clone()), now, io);
        io.spread(&frame, Some(id));
    }

    /// The timer asked for with [`Timers::arm_timer`] fired: sockets past their auth
    /// deadline are closed, checks past theirs are aborted and queued checks past
    /// theirs dropped (their auth then fails as `auth_unavailable`), and the timer is
    /// armed for the next deadline.
    pub fn on_timer(&mut self, now: u64, io: &mut impl Io<S>) {
        self.tick(now);
        for (connection_id, watch) in self.timer.fired(now) {
            match watch {
                Watch::Auth(socket) => {
                    let (e, code) = ErrorCode::AuthTimeout.closing();
                    self.close_with(&socket, &connection_id, &e, code, io);
                }
                Watch::Check(_) => io.cancel_check(&connection_id),
                Watch::Queued(_) => self.queue_timed_out(&connection_id, now, io),
                Watch::Offline => self.offline_due(now, io),
            }
        }
        self.timer.arm(io);
    }

    /// Writes every pending row change at `now` (the scheduled write-behind, or before
    /// anything reads the table).
    pub fn flush(&mut self, now: u64, io: &mut impl Io<S>) {
        self.tick(now);
        self.rows.flush(self.clock, io);
    }

    /// The room's connections exactly as they stand at `now`: `None` when they are all
    /// in the table (pending changes written first), else the rows of a room that has
    /// no storage yet, from memory.
    pub fn connection_rows(&mut self, now: u64, io: &mut impl Io<S>) -> Option<Vec<Row>> {
        self.settle(now, io);
        (!self.rows.has_storage()).then(|| self.rows.pending_rows())
    }

    /// The newest audit events at `now`, at most `limit`: `None` when they are all in
    /// the table (pending events written first), else those of a room that has no
    /// storage yet, from memory.
    pub fn audit_events(
        &mut self,
        limit: usize,
        now: u64,
        io: &mut impl Io<S>,
    ) -> Option<Vec<audit::Entry>> {
        self.settle(now, io);
        (!self.rows.has_storage()).then(|| self.rows.pending_audit(limit))
    }

    /// Brings the room up to `now` before it is counted or listed: expired members
    /// leave, and pending rows are written.
    pub fn settle(&mut self, now: u64, io: &mut impl Io<S>) {
        self.tick(now);
        self.expire(now, io);
        self.flush(now, io);
    }

    /// Every entry point starts here: the room's clock, and the first clock reading
    /// after a fan-out, which bounds what its sends cost (see `send_cost`).
    fn tick(&mut self, now: u64) {
        self.clock = self.clock.max(now);
        self.delivery.observe(now);
    }

    /// Records an audit event; it is written with the next batch of rows.
    fn log(&mut self, entry: audit::Entry, io: &mut impl Io<S>) {
        self.rows.log(entry, io);
    }

    /// A verified session joins the roster and the room's members; true when it is
    /// its user's first socket in the room.
    fn join(&mut self, session: Session, socket: S) -> bool {
        self.expiry.note(session.expires_at);
        let member = Member {
            joined: self.delivery.next_join(),
            connection_id: session.connection_id,
            user_id: session.user_id,
            expires_at: session.expires_at,
            batch: session.batch,
            socket,
        };
        let user = member.user_id.clone();
        if let Some(replaced) = self.roster.insert(member) {
            if let Some(u) = replaced.user_id.as_deref() {
                self.members.left(u);
            }
        }
        user.is_some_and(|u| self.members.joined(&u))
    }
}

fn row_of(session: &Session, authenticated_at: Option<u64>) -> Row {
    Row {
        connection_id: session.connection_id.clone(),
        user_id: session.user_id.clone(),
        state: session.state,
        connected_at: session.connected_at,
        authenticated_at,
    }
}

fn send_error<S>(io: &mut impl Sockets<S>, socket: &S, e: &ClientError) {
    io.send(socket, &ServerFrame::Error(e).encode());
}

#[cfg(test)]
mod tests;
