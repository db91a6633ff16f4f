//! The room core: every rule that involves more than one socket, or the room's
//! memory, timers and rows. Pure: it takes the room's events with `now` and tells an
//! [`Io`] what to do. The Durable Object (`src/chat_room.rs`) implements `Io` on the
//! runtime and does nothing else.
//!
//! Effects go through a trait rather than a returned list: a fan-out then walks the
//! roster straight into the runtime's `send`, with no list of targets allocated per
//! broadcast or typing event (the two hot paths), and native tests record the calls.
//!
//! Generic over the socket handle `S`, so tests use plain values.

use crate::audit::{self, Event};
use crate::auth::AuthOutcome;
use crate::burst::{self, Audience, Burst, Queued};
use crate::config::Config;
use crate::control::{Disconnect, Reason};
use crate::deadlines::Deadlines;
use crate::internal::Delivery;
use crate::journal::{Journal, Row, Write};
use crate::protocol::{
    echo_close_code, AuthRequest, ClientError, ClientFrame, CloseCode, ErrorCode, Presence,
    ServerFrame,
};
use crate::rate_limit::{Bucket, Verdict};
use crate::resume::{self, Claims};
use crate::room_id::RoomId;
use crate::roster::{Member, Roster};
use crate::session::{self, is_expired, Action, AuthState, Refreshed, Session};
use std::collections::{HashMap, HashSet};

/// How long row changes wait to be written together (see `journal`): long enough for
/// a connection's accept and auth to land in the same batch (one row write instead of
/// two) and for a burst of joins to share one commit, short enough that the table
/// stays current. Stats flush pending changes before they count.
pub const WRITE_BEHIND_MS: u64 = 250;
/// Pending row changes that trigger a write at once, bounding the batch's memory.
pub const MAX_PENDING_WRITES: usize = 400;
/// Close code for a socket whose attachment cannot be read (should never happen).
pub const LOST_STATE: u16 = 1011;
/// Sockets one Durable Object can hold, whatever their state (the runtime's limit).
pub const RUNTIME_SOCKET_LIMIT: usize = 32_768;
/// A repeated `isTyping:true` is fanned out again only after this long, so a client
/// that keeps saying it is typing costs one fan-out per period, not one per frame.
pub const TYPING_REPEAT_MS: u64 = 3_000;
/// Idempotency keys one room remembers at most (in memory and in storage); the oldest
/// go first. A retry storm of distinct keys cannot grow a room without bound.
pub const MAX_IDEMPOTENCY_KEYS: usize = 10_000;

/// The effects the room asks for. Every method is carried out at once, in order.
pub trait Io<S> {
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
    /// Closes the socket with `code`, `reason` being the stable error code.
    fn close(&mut self, socket: &S, code: u16, reason: &str);
    /// Runs the participants check of `session` (saved as authenticating, or an
    /// authenticated one refreshing its token); its outcome comes back through
    /// [`Room::on_check_done`] with the same session.
    fn start_check(&mut self, socket: &S, session: Session, request: AuthRequest);
    /// Aborts the connection's participants check, if one still runs; it then ends
    /// as unavailable.
    fn cancel_check(&mut self, connection_id: &str);
    /// Calls [`Room::on_timer`] at Unix ms `at`, replacing any earlier request.
    fn arm_timer(&mut self, at: u64);
    /// Drops the pending timer.
    fn cancel_timer(&mut self);
    /// Calls [`Room::flush`] after `after_ms`.
    fn schedule_flush(&mut self, after_ms: u64);
    /// Calls [`Room::on_burst_timer`] after `after_ms` (a one-shot timer: the burst
    /// window; it exists only while a burst is queued).
    fn schedule_burst(&mut self, after_ms: u64);
    /// Writes these row changes and audit events in one batch (creating the room's
    /// tables first if they do not exist yet), then prunes the audit as `prune` says.
    fn write_rows(&mut self, writes: Vec<Write>, audit: Vec<audit::Entry>, prune: audit::Prune);
    /// Deletes the rows of every connection not in `live` (left by an earlier instance).
    fn remove_ghost_rows(&mut self, live: &HashSet<String>);
    /// The `delivered` count stored with `key` at or after `since`, if any.
    fn find_key(&mut self, key: &str, since: u64) -> Option<usize>;
    /// Stores `key` with its count at `at` (now, in the same commit as the delivery),
    /// deleting keys older than `prune_before` and all but the newest
    /// `MAX_IDEMPOTENCY_KEYS`.
    fn store_key(&mut self, key: &str, delivered: usize, at: u64, prune_before: u64);
    /// Records that `users` were disconnected at `at`, to be remembered until `until`
    /// (when every resume ticket they could hold has expired), in the same commit as
    /// pruning the records that have run out.
    fn revoke(&mut self, users: &[String], at: u64, until: u64);
    /// Every disconnect record still remembered at `now`: (user, at, until). `None`
    /// when they cannot be read.
    fn revocations(&mut self, now: u64) -> Option<Vec<(String, u64, u64)>>;
}

/// What a broadcast did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Sockets it was sent to (for a duplicate: the first call's count).
    pub delivered: usize,
    /// The key was seen within the window: nothing was sent.
    pub duplicate: bool,
}

/// What a deadline guards.
enum Watch<S> {
    /// A socket that must authenticate in time.
    Auth(S),
    /// A participants check that must answer in time, started at this Unix ms.
    Check(u64),
}

/// How a new socket fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Told why and closed (the room is full).
    Refused,
    /// The runtime would not take the socket.
    Failed,
}

/// The state of one room instance in memory: rebuilt from the sockets' attachments
/// whenever a new instance starts ([`Room::on_wake`]).
pub struct Room<S> {
    config: Config,
    /// Authenticated sockets, for fan-out.
    roster: Roster<S>,
    /// Connection ids of every open socket the room counts (authenticated or not).
    live: HashSet<String>,
    /// Sockets not authenticated yet, oldest first (by connection time).
    waiting: Deadlines<S>,
    /// Sockets the room closed that the runtime still holds until the client answers
    /// the close: not in the room, but counted against the runtime's socket limit.
    closing: HashSet<String>,
    /// The last typing state fanned out per connection, and when.
    typing: HashMap<String, (bool, u64)>,
    /// Idempotency keys this instance has seen: (delivered, at). Storage is the truth
    /// across hibernation; this spares a read for a retry to the same instance.
    keys: HashMap<String, (usize, u64)>,
    /// Users the backend disconnected, when and why: a participants check in flight
    /// at that moment must not admit them afterwards. Kept for one check timeout.
    revoked: HashMap<String, (u64, Reason)>,
    /// The room's disconnect records (user -> (at, until)), read from storage once per
    /// instance on the first resume ticket and kept in step with each disconnect, so a
    /// storm of resumes after a deploy costs one read, not one per socket.
    revocations: Option<HashMap<String, (u64, u64)>>,
    /// The events of a burst, waiting for their flush (see `burst`), whether the flush
    /// is scheduled, and when the room's last fan-out is estimated to have ended.
    burst: Burst,
    burst_scheduled: bool,
    fanout_end: Option<u64>,
    /// Counts joins: a member gets a queued event only if it joined before the event.
    joins: u64,
    /// Per-connection rate counters (in memory only: they may reset on hibernation).
    rates: HashMap<String, Bucket>,
    /// Sockets still waiting to authenticate and checks in flight, by deadline.
    deadlines: Deadlines<Watch<S>>,
    /// When the one timer asked of the `Io` fires, if one is pending.
    timer_at: Option<u64>,
    /// Row changes not yet written, and whether a flush is already scheduled.
    journal: Journal,
    flush_scheduled: bool,
    /// Audit events not yet written (bounded by `audit_max_events` until the room has
    /// storage; written with the rows afterwards).
    audit: std::collections::VecDeque<audit::Entry>,
    /// The latest time an event brought (Unix ms), for work that has no event of its own.
    clock: u64,
    /// No member's token expires before this (Unix ms): a lower bound, so a fan-out
    /// looks for expired members only once it has passed.
    expiry: Option<u64>,
    /// Whether the room may write rows: only once a socket has authenticated (in
    /// this instance or an earlier one), so a room nobody joined stores nothing.
    storage: bool,
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

impl<S: Clone> Room<S> {
    pub fn new(config: Config) -> Self {
        Room {
            config,
            roster: Roster::default(),
            live: HashSet::new(),
            waiting: Deadlines::default(),
            closing: HashSet::new(),
            typing: HashMap::new(),
            keys: HashMap::new(),
            revoked: HashMap::new(),
            revocations: None,
            burst: Burst::default(),
            burst_scheduled: false,
            fanout_end: None,
            joins: 0,
            rates: HashMap::new(),
            deadlines: Deadlines::default(),
            timer_at: None,
            journal: Journal::default(),
            flush_scheduled: false,
            audit: std::collections::VecDeque::new(),
            clock: 0,
            expiry: None,
            storage: false,
        }
    }

    /// Authenticated sockets.
    pub fn authenticated(&self) -> usize {
        self.roster.len()
    }

    /// Open sockets the room counts toward its capacity.
    pub fn connections(&self) -> usize {
        self.live.len()
    }

    /// Open sockets not authenticated yet.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Whether the room has (or may now create) its tables.
    pub fn has_storage(&self) -> bool {
        self.storage
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
        self.storage = has_storage;
        self.tick(now);
        for (socket, session) in sockets {
            let Some(session) = session else {
                io.close(&socket, LOST_STATE, "lost state");
                continue;
            };
            let wake = session::on_wake(&session, now);
            if wake == session::Wake::Closing {
                self.closing.insert(session.connection_id);
                continue;
            }
            self.live.insert(session.connection_id.clone());
            match wake {
                session::Wake::Closing => {}
                session::Wake::Rejoin => {
                    self.note_expiry(session.expires_at);
                    self.joins += 1;
                    self.roster.insert(Member {
                        connection_id: session.connection_id,
                        user_id: session.user_id,
                        expires_at: session.expires_at,
                        batch: session.batch,
                        joined: self.joins,
                        socket,
                    });
                }
                session::Wake::Close(e, code) => {
                    self.close_with(&socket, &session.connection_id, &e, code, io)
                }
                session::Wake::Wait => {
                    self.waiting.insert(
                        session.connection_id.clone(),
                        session.connected_at,
                        socket.clone(),
                    );
                    self.watch(
                        session.connection_id,
                        session.auth_deadline,
                        Watch::Auth(socket),
                        io,
                    );
                }
            }
        }
        if self.storage {
            io.remove_ghost_rows(&self.live);
        }
    }

    /// A new socket for the room, with a fresh connection id. When the room holds
    /// `max_pending` sockets that have not authenticated, the oldest of them makes
    /// room (`auth_timeout`, 4401) once it has waited `pending_grace_ms`: silent
    /// sockets never lock members out for longer than that, and members are never
    /// displaced.
    pub fn on_connect(
        &mut self,
        socket: S,
        connection_id: String,
        room_id: RoomId,
        now: u64,
        io: &mut impl Io<S>,
    ) -> Admission {
        self.tick(now);
        // A socket younger than the grace period is not silent yet: in a reconnect storm
        // its auth frame may be queued behind the room's other events. Until the oldest
        // has waited that long, the newcomer is let in over the limit (the capacity
        // still bounds the room).
        let oldest_is_silent = self
            .waiting
            .earliest()
            .is_some_and(|at| now.saturating_sub(at) >= self.config.pending_grace_ms);
        if self.waiting.len() >= self.config.max_pending && oldest_is_silent {
            if let Some((oldest, oldest_socket)) = self.waiting.first() {
                let (oldest, oldest_socket) = (oldest.to_owned(), oldest_socket.clone());
                let (e, code) = session::auth_timeout();
                self.close_with(&oldest_socket, &oldest, &e, code, io);
            }
        }
        if self.live.len() >= self.config.max_connections
            || self.live.len() + self.closing.len() >= RUNTIME_SOCKET_LIMIT
        {
            io.refuse(&socket, &ErrorCode::RoomFull.into(), CloseCode::RoomFull);
            let refused = Event::Refused(ErrorCode::RoomFull);
            self.log(audit::Entry::new(now, refused, &connection_id, None), io);
            return Admission::Refused;
        }
        let session = Session::new(connection_id, room_id, now, self.config.auth_timeout_ms);
        if !io.accept(&socket, &session) {
            return Admission::Failed;
        }
        self.live.insert(session.connection_id.clone());
        self.waiting
            .insert(session.connection_id.clone(), now, socket.clone());
        self.record(|j| j.accepted(row_of(&session, None)), io);
        let connected = audit::Entry::new(now, Event::Connected, &session.connection_id, None);
        self.log(connected, io);
        self.watch(
            session.connection_id,
            session.auth_deadline,
            Watch::Auth(socket),
            io,
        );
        Admission::Admitted
    }

    /// One client frame. `parse` reads and parses it, and is called only when the
    /// frame is to be handled: a frame the rate limit drops is never copied or parsed.
    pub fn on_frame(
        &mut self,
        socket: &S,
        session: Option<Session>,
        parse: impl FnOnce(usize) -> Result<ClientFrame, ClientError>,
        now: u64,
        io: &mut impl Io<S>,
    ) {
        self.tick(now);
        let Some(session) = session else {
            io.close(socket, LOST_STATE, "lost state");
            return;
        };
        let id = &session.connection_id;
        // Frames already in flight when the room closed this socket (a flood, a room
        // mismatch, a timeout) still arrive: they must not count as a new connection.
        if !self.live.contains(id) {
            return;
        }
        match self.rate_check(id, now) {
            Verdict::Allow => {}
            Verdict::Drop { notify } => {
                if notify {
                    send_error(io, socket, &ErrorCode::RateLimited.into());
                }
                return;
            }
            Verdict::Close => {
                let e = ErrorCode::RateLimited.into();
                return self.close_with(
                    socket,
                    &session.connection_id,
                    &e,
                    CloseCode::RateLimited,
                    io,
                );
            }
        }
        let frame = parse(self.config.max_frame_bytes);
        match session::decide(&session, frame, now) {
            Action::Reply(e) => send_error(io, socket, &e),
            Action::Close(e, code) => self.close_with(socket, &session.connection_id, &e, code, io),
            Action::Pong(t) => io.send(socket, &ServerFrame::Pong { t: t.as_deref() }.encode()),
            Action::Typing(is_typing) => {
                let last = self.typing.get(&session.connection_id).copied();
                if !typing_news(last, is_typing, now) {
                    return;
                }
                self.expire(now, io);
                self.typing
                    .insert(session.connection_id.clone(), (is_typing, now));
                let frame = ServerFrame::Typing {
                    user_id: session.user_id.as_deref(),
                    is_typing,
                }
                .encode();
                let sender = Audience::AllBut(session.connection_id.clone());
                self.emit(&frame, sender, now, io);
            }
            Action::StartAuth(request) => self.start_auth(socket, session, request, now, io),
            Action::Refresh(token) => self.start_refresh(socket, session, token, now, io),
        }
    }

    /// `auth:refresh`: the participants check again, for the same room, connection
    /// and user, under the same deadline as an auth's. One at a time per socket.
    fn start_refresh(
        &mut self,
        socket: &S,
        session: Session,
        token: String,
        now: u64,
        io: &mut impl Io<S>,
    ) {
        let id = session.connection_id.clone();
        if matches!(self.deadlines.get(&id), Some(Watch::Check(_))) {
            return send_error(io, socket, &ErrorCode::AuthInProgress.into());
        }
        let at = now.saturating_add(self.config.auth_check_timeout_ms);
        self.watch(id, at, Watch::Check(now), io);
        let request = AuthRequest {
            token,
            room_id: session.room_id.as_str().to_owned(),
            user_id: session.user_id.clone(),
            resume: None,
            batch: false,
        };
        io.start_check(socket, session, request);
    }

    fn start_auth(
        &mut self,
        socket: &S,
        session: Session,
        request: AuthRequest,
        now: u64,
        io: &mut impl Io<S>,
    ) {
        let session = Session {
            batch: request.batch,
            ..session
        };
        if let Some(claims) = self.resume_claims(&session, request.resume.as_deref(), now, io) {
            let resumed = Session {
                state: AuthState::Authenticated,
                user_id: Some(claims.user_id),
                expires_at: Some(claims.expires_at),
                ..session
            };
            // The same ticket: only a real check issues a new one.
            return self.admit(socket, resumed, request.resume, Event::Resumed, now, io);
        }
        let checking = session::begin_auth(session);
        // Saved before the check, so a second auth meanwhile gets `auth_in_progress`.
        if !io.save(socket, &checking) {
            return;
        }
        // The socket's auth deadline no longer applies while its check runs: the
        // check's own deadline replaces it.
        let at = now.saturating_add(self.config.auth_check_timeout_ms);
        self.watch(checking.connection_id.clone(), at, Watch::Check(now), io);
        io.start_check(socket, checking, request);
    }

    /// The participants check of `checking` answered (or was aborted).
    pub fn on_check_done(
        &mut self,
        socket: &S,
        checking: &Session,
        outcome: AuthOutcome,
        now: u64,
        io: &mut impl Io<S>,
    ) {
        self.tick(now);
        if checking.state == AuthState::Authenticated {
            return self.on_refresh_done(socket, checking, outcome, now, io);
        }
        let id = &checking.connection_id;
        // The socket may have closed, or been closed by the room, while the check ran.
        if !self.live.contains(id) {
            return;
        }
        let done = match session::finish_auth(checking, outcome, now) {
            Ok(done) => done,
            Err((e, code)) => return self.close_with(socket, id, &e, code, io),
        };
        // The backend disconnected this user while its check was in flight.
        if let Some(reason) = self.revoked_during_check(id, done.user_id.as_deref()) {
            let (code, close) = reason.close();
            return self.close_with(socket, id, &code.into(), close, io);
        }
        let ticket = self.issue_ticket(&done, now);
        self.admit(socket, done, ticket, Event::Authenticated, now, io);
    }

    /// The claims of a resume ticket that lets this socket in without a check: signed
    /// by a configured secret, for this room, not expired, and issued after the last
    /// time the backend disconnected its user. Anything else is `None`, and the
    /// participants check runs as if there were no ticket.
    fn resume_claims(
        &mut self,
        session: &Session,
        ticket: Option<&str>,
        now: u64,
        io: &mut impl Io<S>,
    ) -> Option<Claims> {
        let secrets = self.config.resume_secrets();
        if secrets.is_empty() {
            return None;
        }
        let claims = resume::verify(&secrets, ticket?, session.room_id.as_str(), now).ok()?;
        // Tickets exist only where someone authenticated, and so do disconnect records:
        // a room without tables has neither.
        if !self.storage {
            return Some(claims);
        }
        if self.revocations.is_none() {
            // Unreadable records refuse every ticket: the check decides (fail closed).
            let records = io.revocations(now)?;
            let map = records.into_iter().map(|(u, at, until)| (u, (at, until)));
            self.revocations = Some(map.collect());
        }
        let revoked = self
            .revocations
            .as_ref()
            .and_then(|r| r.get(&claims.user_id));
        match revoked {
            Some(&(at, until)) if until > now && at >= claims.issued_at => None,
            _ => Some(claims),
        }
    }

    /// A resume ticket for a session a real check just verified: until its token
    /// expires, and at most `resume_ttl_ms`. None without a secret or a user id.
    fn issue_ticket(&self, verified: &Session, now: u64) -> Option<String> {
        let secret = self.config.resume_secret.as_ref()?;
        let user = verified.user_id.as_deref()?;
        let cap = now.saturating_add(self.config.resume_ttl_ms);
        let until = verified.expires_at.map_or(cap, |at| at.min(cap));
        Some(resume::issue(
            secret,
            verified.room_id.as_str(),
            user,
            now,
            until,
        ))
    }

    /// Lets an authenticated socket into the room: its attachment, row and audit
    /// event, the roster and presence, and its `auth:ok` (with `ticket`, if any).
    fn admit(
        &mut self,
        socket: &S,
        done: Session,
        ticket: Option<String>,
        event: Event,
        now: u64,
        io: &mut impl Io<S>,
    ) {
        let id = &done.connection_id.clone();
        if !io.save(socket, &done) {
            return self.forget(id, io);
        }
        self.unwatch(id, io);
        self.waiting.remove(id);
        // The first member: from now on the room keeps rows.
        self.storage = true;
        self.record(|j| j.authenticated(row_of(&done, Some(now))), io);
        let user = done.user_id.as_deref();
        self.log(audit::Entry::new(now, event, id, user), io);
        // Expired members leave before the member list is read.
        self.expire(now, io);
        let was_on = self.presence_on();
        self.note_expiry(done.expires_at);
        self.joins += 1;
        let first = self.roster.insert(Member {
            connection_id: done.connection_id.clone(),
            user_id: done.user_id.clone(),
            expires_at: done.expires_at,
            batch: done.batch,
            joined: self.joins,
            socket: socket.clone(),
        });
        let members = self.presence_on().then(|| self.member_list());
        io.send(
            socket,
            &ServerFrame::AuthOk {
                connection_id: id,
                user_id: done.user_id.as_deref(),
                expires_at: done.expires_at,
                members: members.as_deref(),
                resume: ticket.as_deref(),
            }
            .encode(),
        );
        if let (true, Some(user)) = (first, done.user_id.as_deref()) {
            self.announce_change(was_on, Presence::Join(user), Some(id), io);
        }
    }

    /// The participants check of a member's `auth:refresh` answered.
    fn on_refresh_done(
        &mut self,
        socket: &S,
        checking: &Session,
        outcome: AuthOutcome,
        now: u64,
        io: &mut impl Io<S>,
    ) {
        let id = &checking.connection_id;
        if !self.roster.contains(id) {
            return;
        }
        self.unwatch(id, io);
        // The attachment as it stands now, not as it stood when the check started.
        let current = io.load(socket).unwrap_or_else(|| checking.clone());
        match session::finish_refresh(&current, outcome, now) {
            Refreshed::Renewed(renewed) => {
                if !io.save(socket, &renewed) {
                    return self.forget(id, io);
                }
                self.roster.set_expiry(id, renewed.expires_at);
                self.note_expiry(renewed.expires_at);
                let ticket = self.issue_ticket(&renewed, now);
                let frame = ServerFrame::Refreshed {
                    expires_at: renewed.expires_at,
                    resume: ticket.as_deref(),
                };
                io.send(socket, &frame.encode());
            }
            Refreshed::Kept(e) => send_error(io, socket, &e),
            Refreshed::Close(e, code) => self.close_with(socket, id, &e, code, io),
        }
    }

    /// Whether the room tells its members who is in it: while it has at most
    /// `presence_max_members` distinct users.
    fn presence_on(&self) -> bool {
        let max = self.config.presence_max_members;
        max > 0 && self.roster.user_count() <= max
    }

    /// The distinct users in the room, sorted (so the list reads the same every time).
    fn member_list(&self) -> Vec<&str> {
        let mut users: Vec<&str> = self.roster.users().collect();
        users.sort_unstable();
        users
    }

    /// Tells every member but `except` that a user joined or left (`change`), or, when
    /// the room just crossed the presence limit (`was_on` differs from now), that
    /// presence went off or came back on with the whole list. Members whose token has
    /// expired get nothing: they are on their way out.
    fn announce_change(
        &mut self,
        was_on: bool,
        change: Presence<'_>,
        except: Option<&str>,
        io: &mut impl Io<S>,
    ) {
        // After the events already queued, so that each socket sees the room's order.
        self.flush_burst(io);
        let list;
        let frame = match (was_on, self.presence_on()) {
            (true, true) => change,
            (true, false) => Presence::Off,
            (false, true) => {
                list = self.member_list();
                Presence::On(&list)
            }
            (false, false) => return,
        };
        let frame = ServerFrame::Presence(frame).encode();
        let now = self.clock;
        io.fan_out(
            &frame,
            self.roster
                .iter()
                .filter(|m| Some(m.connection_id.as_str()) != except)
                .filter(|m| !is_expired(m.expires_at, now))
                .map(|m| &m.socket),
        );
    }

    fn note_expiry(&mut self, expires_at: Option<u64>) {
        if let Some(at) = expires_at {
            self.expiry = Some(self.expiry.map_or(at, |e| e.min(at)));
        }
    }

    /// Closes every member whose token has expired (`token_expired`, 4401), before a
    /// fan-out would reach it. No timer: an expired member is found by its next frame
    /// or the next delivery, so an idle room still hibernates.
    fn expire(&mut self, now: u64, io: &mut impl Io<S>) {
        if self.expiry.is_none_or(|at| now < at) {
            return;
        }
        let expired: Vec<(S, String)> = self
            .roster
            .iter()
            .filter(|m| is_expired(m.expires_at, now))
            .map(|m| (m.socket.clone(), m.connection_id.clone()))
            .collect();
        let (e, code) = session::token_expired();
        for (socket, id) in &expired {
            self.close_with(socket, id, &e, code, io);
        }
        self.expiry = self.roster.iter().filter_map(|m| m.expires_at).min();
    }

    /// The backend takes connections away: every socket of the listed users (all
    /// their tabs) and every listed connection, authenticated or not, gets the
    /// reason's error and close code. A check in flight for a listed user does not
    /// admit it afterwards. Returns how many sockets were closed.
    pub fn on_disconnect(&mut self, d: &Disconnect, now: u64, io: &mut impl Io<S>) -> usize {
        self.tick(now);
        let horizon = now.saturating_sub(self.config.auth_check_timeout_ms);
        self.revoked.retain(|_, (at, _)| *at >= horizon);
        for user in &d.user_ids {
            self.revoked.insert(user.clone(), (now, d.reason));
        }
        // Resume tickets the users hold are refused from now on, until the last of
        // them would have expired anyway. (A room without tables issued none.)
        if self.storage && !d.user_ids.is_empty() && !self.config.resume_secrets().is_empty() {
            let until = now.saturating_add(self.config.resume_ttl_ms);
            io.revoke(&d.user_ids, now, until);
            if let Some(records) = &mut self.revocations {
                records.retain(|_, (_, u)| *u > now);
                for user in &d.user_ids {
                    records.insert(user.clone(), (now, until));
                }
            }
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
        targets.extend(
            self.waiting
                .iter()
                .filter(|(id, _)| conns.contains(id))
                .map(|(id, s)| (s.clone(), id.to_owned())),
        );
        let (code, close) = d.reason.close();
        let e: ClientError = code.into();
        for (socket, id) in &targets {
            self.close_with(socket, id, &e, close, io);
        }
        targets.len()
    }

    /// Whether `user` was disconnected after the check of `connection_id` started.
    fn revoked_during_check(&self, connection_id: &str, user: Option<&str>) -> Option<Reason> {
        let (at, reason) = self.revoked.get(user?)?;
        match self.deadlines.get(connection_id) {
            Some(Watch::Check(started)) if started > at => None,
            _ => Some(*reason),
        }
    }

    /// The client closed the socket (with its close code), or it failed (no code): the
    /// runtime's close and error events. `connection_id` is `None` when the socket's
    /// attachment could not be read. A close the client started is answered with its own
    /// code (see `protocol::echo_close_code`): with the Hibernation API the runtime does
    /// not answer it, and until it is answered the client waits and the runtime holds the
    /// socket half-closed. A socket the room closed itself already sent its close frame.
    pub fn on_close(
        &mut self,
        socket: &S,
        connection_id: Option<&str>,
        code: Option<u16>,
        now: u64,
        io: &mut impl Io<S>,
    ) {
        self.tick(now);
        let Some(connection_id) = connection_id else {
            if code.is_some() {
                io.close(socket, echo_close_code(code), "");
            }
            return;
        };
        // A socket the room closed itself was forgotten then; the runtime lets go now.
        if self.closing.remove(connection_id) {
            return;
        }
        if code.is_some() {
            io.close(socket, echo_close_code(code), "");
        }
        if self.live.contains(connection_id) {
            let user = self.roster.user_of(connection_id).map(str::to_owned);
            let closed =
                audit::Entry::new(now, Event::Closed(code), connection_id, user.as_deref());
            self.log(closed, io);
            self.forget(connection_id, io);
        }
    }

    /// The timer asked for with [`Io::arm_timer`] fired: sockets past their auth
    /// deadline are closed, checks past theirs are aborted (their auth then fails as
    /// `auth_unavailable`), and the timer is armed for the next deadline.
    pub fn on_timer(&mut self, now: u64, io: &mut impl Io<S>) {
        self.tick(now);
        self.timer_at = None;
        for (connection_id, watch) in self.deadlines.take_due(now) {
            match watch {
                Watch::Auth(socket) => {
                    let (e, code) = session::auth_timeout();
                    self.close_with(&socket, &connection_id, &e, code, io);
                }
                Watch::Check(_) => io.cancel_check(&connection_id),
            }
        }
        self.arm_timer(io);
    }

    /// A broadcast: the message goes verbatim to every authenticated socket not
    /// excluded and, with `user_ids`, whose verified user id is listed. With an
    /// idempotency key seen within the window, nothing is sent and the first call's
    /// count is returned.
    pub fn on_broadcast(&mut self, d: &Delivery<'_>, now: u64, io: &mut impl Io<S>) -> Published {
        let since = now.saturating_sub(self.config.idempotency_window_ms);
        if let Some(key) = &d.idempotency_key {
            if let Some(delivered) = self.recall_key(key, since, io) {
                return Published {
                    delivered,
                    duplicate: true,
                };
            }
        }
        self.expire(now, io);
        let delivered = self.deliver(d, now, io);
        if let Some(key) = &d.idempotency_key {
            self.remember_key(key, delivered, now, since, io);
        }
        Published {
            delivered,
            duplicate: false,
        }
    }

    fn deliver(&mut self, d: &Delivery<'_>, now: u64, io: &mut impl Io<S>) -> usize {
        let audience = if d.exclude.is_empty() && d.user_ids.is_none() {
            Audience::Everyone
        } else {
            Audience::Selected {
                exclude: d.exclude.iter().cloned().collect(),
                users: d.user_ids.as_ref().map(|u| u.iter().cloned().collect()),
            }
        };
        self.emit(d.message, audience, now, io)
    }

    /// One event for the members `to` names: at once while the room is idle (and
    /// always when no member takes `batch` frames or batching is off); queued while it
    /// is busy, that is, within `batch_window_ms` of the previous fan-out or while a
    /// burst is already queued. Returns how many members it is for.
    /// The frame is copied only when it is queued: an idle room sends the caller's text.
    fn emit(&mut self, frame: &str, to: Audience, now: u64, io: &mut impl Io<S>) -> usize {
        let window = self.config.batch_window_ms;
        let recent = self
            .fanout_end
            .is_some_and(|end| now < end.saturating_add(window));
        let queue =
            window > 0 && (!self.burst.is_empty() || (recent && self.roster.batching() > 0));
        if !queue {
            let members = self
                .roster
                .iter()
                .filter(|m| to.includes(&m.connection_id, m.user_id.as_deref()));
            let sent = io.fan_out(frame, members.map(|m| &m.socket));
            self.fanned_out(now, sent);
            return sent;
        }
        let count = self
            .roster
            .iter()
            .filter(|m| to.includes(&m.connection_id, m.user_id.as_deref()))
            .count();
        let full = self.burst.push(Queued {
            frame: frame.to_owned(),
            audience: to,
            seq: self.joins,
        });
        if full {
            self.flush_burst(io);
        } else if !self.burst_scheduled {
            self.burst_scheduled = true;
            io.schedule_burst(window);
        }
        count
    }

    /// The burst window asked for with [`Io::schedule_burst`] is over: the queue goes.
    pub fn on_burst_timer(&mut self, now: u64, io: &mut impl Io<S>) {
        self.tick(now);
        self.burst_scheduled = false;
        self.flush_burst(io);
    }

    /// Sends the queued events of a burst: each batching member one frame with the
    /// events it is due (in order; more frames only past `MAX_BATCH_FRAME_BYTES`), every
    /// other member each event as its own frame. Members that joined after an event,
    /// and members whose token has expired, do not get it.
    fn flush_burst(&mut self, io: &mut impl Io<S>) {
        if self.burst.is_empty() {
            return;
        }
        let events = self.burst.take();
        let now = self.clock;
        // Expired members are closed first (their leaves go out now, before these).
        self.expire(now, io);
        let due = |m: &Member<S>, q: &Queued| {
            m.joined <= q.seq && q.audience.includes(&m.connection_id, m.user_id.as_deref())
        };
        let mut sent = 0;
        for q in &events {
            let per_frame = self.roster.iter().filter(|m| !m.batch && due(m, q));
            sent += io.fan_out(&q.frame, per_frame.map(|m| &m.socket));
        }
        // Batching members grouped by the events they are due: usually one group.
        let mut groups: std::collections::BTreeMap<u128, Vec<&S>> = Default::default();
        for m in self.roster.iter().filter(|m| m.batch) {
            let mask = events
                .iter()
                .enumerate()
                .filter(|(_, q)| due(m, q))
                .fold(0u128, |mask, (i, _)| mask | (1 << i));
            if mask != 0 {
                groups.entry(mask).or_default().push(&m.socket);
            }
        }
        for (mask, sockets) in groups {
            let picked = events
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, q)| q.frame.as_str());
            for frame in burst::batch_frames(picked) {
                sent += io.fan_out(&frame, sockets.iter().copied());
            }
        }
        self.fanned_out(now, sent);
    }

    /// Notes a fan-out of `sends` frames that started at `now`. The runtime's clock
    /// stands still while an event runs, so the next event's `now` already includes this
    /// fan-out's own time: its end is estimated from the cost of a `send`.
    fn fanned_out(&mut self, now: u64, sends: usize) {
        let took = (sends as u64 * burst::SEND_COST_US).div_ceil(1_000);
        self.fanout_end = Some(now.saturating_add(took));
    }

    fn recall_key(&mut self, key: &str, since: u64, io: &mut impl Io<S>) -> Option<usize> {
        match self.keys.get(key) {
            Some(&(delivered, at)) if at >= since => Some(delivered),
            // Keys are stored only once the room has storage (see `storage`).
            _ if self.storage => io.find_key(key, since),
            _ => None,
        }
    }

    fn remember_key(
        &mut self,
        key: &str,
        delivered: usize,
        now: u64,
        since: u64,
        io: &mut impl Io<S>,
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
        if self.storage {
            io.store_key(key, delivered, now, since);
        }
    }

    /// The room's connections exactly as they stand: `None` when they are all in the
    /// table (pending changes written first), else the rows of a room that has no
    /// storage yet, from memory.
    pub fn connection_rows(&mut self, io: &mut impl Io<S>) -> Option<Vec<crate::journal::Row>> {
        self.flush(io);
        (!self.storage).then(|| self.journal.pending_rows())
    }

    /// Writes every pending row change now (the scheduled write-behind, or before
    /// anything reads the table).
    pub fn flush(&mut self, io: &mut impl Io<S>) {
        self.flush_scheduled = false;
        if self.storage && (!self.journal.is_empty() || !self.audit.is_empty()) {
            let prune = audit::Prune {
                before: self.clock.saturating_sub(self.config.audit_retention_ms),
                keep: self.config.audit_max_events,
                now: self.clock,
            };
            let events = self.audit.drain(..).collect();
            io.write_rows(self.journal.take(), events, prune);
        }
    }

    /// The newest audit events, at most `limit`: `None` when they are all in the
    /// table (pending events written first), else those of a room that has no
    /// storage yet, from memory.
    pub fn audit_events(&mut self, limit: usize, io: &mut impl Io<S>) -> Option<Vec<audit::Entry>> {
        self.flush(io);
        (!self.storage).then(|| self.audit.iter().rev().take(limit).cloned().collect())
    }

    fn tick(&mut self, now: u64) {
        self.clock = self.clock.max(now);
    }

    /// Records an audit event; it is written with the next batch of rows. Until the
    /// room has storage, only the newest `audit_max_events` wait in memory.
    fn log(&mut self, entry: audit::Entry, io: &mut impl Io<S>) {
        self.audit.push_back(entry);
        if !self.storage {
            while self.audit.len() > self.config.audit_max_events {
                self.audit.pop_front();
            }
            return;
        }
        self.schedule_write(io);
    }

    /// Sends the error, closes with `code`, and forgets the connection at once.
    fn close_with(
        &mut self,
        socket: &S,
        connection_id: &str,
        e: &ClientError,
        code: CloseCode,
        io: &mut impl Io<S>,
    ) {
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
        self.closing.insert(connection_id.to_owned());
    }

    fn forget(&mut self, connection_id: &str, io: &mut impl Io<S>) {
        self.unwatch(connection_id, io);
        if let Some((member, true)) = self.roster.remove(connection_id) {
            if let Some(user) = member.user_id.as_deref() {
                let was_on = self.roster.user_count() < self.config.presence_max_members;
                self.announce_change(was_on, Presence::Leave(user), None, io);
            }
        }
        self.live.remove(connection_id);
        self.waiting.remove(connection_id);
        self.typing.remove(connection_id);
        self.rates.remove(connection_id);
        self.record(|j| j.closed(connection_id), io);
    }

    /// Counts one frame against the connection's rate limit.
    fn rate_check(&mut self, connection_id: &str, now: u64) -> Verdict {
        let limit = &self.config.rate_limit;
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

    fn watch(&mut self, connection_id: String, at: u64, watch: Watch<S>, io: &mut impl Io<S>) {
        self.deadlines.insert(connection_id, at, watch);
        self.arm_timer(io);
    }

    /// Stops watching the connection. A check still in flight is aborted: its socket
    /// is authenticated or gone. With nothing left to wait for, the timer goes, so
    /// an authenticated room can hibernate.
    fn unwatch(&mut self, connection_id: &str, io: &mut impl Io<S>) {
        if let Some(Watch::Check(_)) = self.deadlines.remove(connection_id) {
            io.cancel_check(connection_id);
        }
        if self.deadlines.is_empty() && self.timer_at.take().is_some() {
            io.cancel_timer();
        }
    }

    /// Makes sure the timer fires at or before the earliest deadline. A timer for an
    /// earlier deadline is kept: when it fires it finds nobody due and re-arms.
    fn arm_timer(&mut self, io: &mut impl Io<S>) {
        let Some(earliest) = self.deadlines.earliest() else {
            return;
        };
        if self.timer_at.is_some_and(|at| at <= earliest) {
            return;
        }
        self.timer_at = Some(earliest);
        io.arm_timer(earliest);
    }

    /// Records a row change and makes sure a write follows: at once when the batch is
    /// full, otherwise after `WRITE_BEHIND_MS` (one scheduled flush per batch).
    /// Until the room has storage, changes only wait in the journal (bounded by the
    /// open sockets: a row accepted and closed unwritten leaves nothing).
    fn record(&mut self, change: impl FnOnce(&mut Journal), io: &mut impl Io<S>) {
        change(&mut self.journal);
        if self.storage {
            self.schedule_write(io);
        }
    }

    fn schedule_write(&mut self, io: &mut impl Io<S>) {
        let pending = self.journal.len() + self.audit.len();
        if pending >= MAX_PENDING_WRITES {
            self.flush(io);
        } else if pending > 0 && !self.flush_scheduled {
            self.flush_scheduled = true;
            io.schedule_flush(WRITE_BEHIND_MS);
        }
    }
}

/// Whether a typing event is news: another state than the last one fanned out, or
/// the same `true` after `TYPING_REPEAT_MS` (so a typing indicator stays lit).
fn typing_news(last: Option<(bool, u64)>, is_typing: bool, now: u64) -> bool {
    match last {
        None => true,
        Some((was, at)) => {
            was != is_typing || (is_typing && now.saturating_sub(at) > TYPING_REPEAT_MS)
        }
    }
}

fn send_error<S>(io: &mut impl Io<S>, socket: &S, e: &ClientError) {
    io.send(socket, &ServerFrame::Error(e).encode());
}

#[cfg(test)]
mod tests;
