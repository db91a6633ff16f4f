//! The way into the room, wired: an `auth` (a resume ticket, or a participants check),
//! the check's answer, admission with presence, and a member's `auth:refresh`.

use super::{row_of, send_error, tickets, Check, Io, Room, Watch};
use crate::audit::{self, Event};
use crate::auth::AuthOutcome;
use crate::protocol::{AuthRequest, ErrorCode, Presence, ServerFrame};
use crate::session::{self, AuthState, Refreshed, Session};

impl<S: Clone> Room<S> {
    /// `auth`: a valid resume ticket admits at once; otherwise the participants check
    /// runs, under its own deadline (the socket's auth deadline no longer applies).
    pub(super) fn start_auth(
        &mut self,
        socket: &S,
        session: Session,
        request: AuthRequest,
        now: u64,
        io: &mut impl Io<S>,
    ) -> Option<Check<S>> {
        let session = Session {
            batch: request.batch,
            ..session
        };
        let ticket = request.resume.as_deref().filter(|_| self.ticket_suffices());
        if let Some(claims) = self.resume_claims(&session, ticket, now, io) {
            let resumed = Session {
                state: AuthState::Authenticated,
                user_id: Some(claims.user_id),
                expires_at: Some(claims.expires_at),
                ..session
            };
            // The same ticket: only a real check issues a new one.
            self.admit(
                socket,
                resumed,
                request.resume,
                None,
                Event::Resumed,
                now,
                io,
            );
            return None;
        }
        let checking = session::begin_auth(session);
        // Saved before the check, so a second auth meanwhile gets `auth_in_progress`.
        if !io.save(socket, &checking) {
            return None;
        }
        self.gate.checking(&checking.connection_id);
        self.ask_check(socket, checking, request, now, io)
    }

    /// A participants check for `session`: sent now when one of the object's
    /// `AUTH_CHECK_CONCURRENCY` slots is free, under its own deadline
    /// (`auth_check_timeout_ms`); otherwise queued in arrival order for at most
    /// `auth_timeout_ms` (see `checks`). Either way the socket's auth deadline, if it
    /// had one, no longer applies, and the socket counts as mid-check.
    fn ask_check(
        &mut self,
        socket: &S,
        session: Session,
        request: AuthRequest,
        now: u64,
        io: &mut impl Io<S>,
    ) -> Option<Check<S>> {
        let check = Check {
            socket: socket.clone(),
            session,
            request,
        };
        let id = check.session.connection_id.clone();
        if self.checks.try_start(&id) {
            return Some(self.send_check(check, now, now, io));
        }
        let at = now.saturating_add(self.config.auth_timeout_ms);
        self.timer.watch(id, at, Watch::Queued(now), io);
        self.checks.enqueue(check, now);
        None
    }

    /// A check that holds a slot goes out at `now`; `asked_at`: when its frame arrived
    /// (a disconnect after that still refuses it).
    fn send_check(
        &mut self,
        check: Check<S>,
        asked_at: u64,
        now: u64,
        io: &mut impl Io<S>,
    ) -> Check<S> {
        let at = now.saturating_add(self.config.auth_check_timeout_ms);
        let id = check.session.connection_id.clone();
        self.timer.watch(id, at, Watch::Check(asked_at), io);
        check
    }

    /// The oldest queued check, sent now if a slot is free.
    pub(super) fn next_check(&mut self, now: u64, io: &mut impl Io<S>) -> Option<Check<S>> {
        let (check, asked_at) = self.checks.next()?;
        Some(self.send_check(check, asked_at, now, io))
    }

    /// A queued check waited `auth_timeout_ms` without a slot: it fails as a check
    /// the backend did not answer would (`auth_unavailable`).
    pub(super) fn queue_timed_out(&mut self, connection_id: &str, now: u64, io: &mut impl Io<S>) {
        if let Some(check) = self.checks.dequeue(connection_id) {
            let outcome = AuthOutcome::Unavailable;
            self.check_answered(&check.socket, &check.session, outcome, now, io);
        }
    }

    /// `auth:refresh`: the participants check again, for the same room, connection
    /// and user, under the same deadline as an auth's. One at a time per socket.
    pub(super) fn start_refresh(
        &mut self,
        socket: &S,
        session: Session,
        token: String,
        now: u64,
        io: &mut impl Io<S>,
    ) -> Option<Check<S>> {
        if self.timer.check_started(&session.connection_id).is_some() {
            send_error(io, socket, &ErrorCode::AuthInProgress.into());
            return None;
        }
        let request = AuthRequest {
            token,
            room_id: session.channel.room().map(|r| r.as_str().to_owned()),
            user_id: session.user_id.clone(),
            resume: None,
            batch: false,
        };
        self.ask_check(socket, session, request, now, io)
    }

    /// The participants check of `checking` answered (or was aborted): its slot is
    /// free, and the next queued check, if any, is returned for the shell to send.
    pub fn on_check_done(
        &mut self,
        socket: &S,
        checking: &Session,
        outcome: AuthOutcome,
        now: u64,
        io: &mut impl Io<S>,
    ) -> Option<Check<S>> {
        self.tick(now);
        self.checks.finished(&checking.connection_id);
        self.check_answered(socket, checking, outcome, now, io);
        self.next_check(now, io)
    }

    /// What a check's outcome means for its socket: admitted, refused, or (a refresh)
    /// renewed or kept. Whether it held a slot is the caller's business.
    fn check_answered(
        &mut self,
        socket: &S,
        checking: &Session,
        outcome: AuthOutcome,
        now: u64,
        io: &mut impl Io<S>,
    ) {
        if checking.state == AuthState::Authenticated {
            return self.on_refresh_done(socket, checking, outcome, now, io);
        }
        let id = &checking.connection_id;
        // The socket may have closed, or been closed by the room, while the check ran.
        if !self.gate.is_live(id) {
            return;
        }
        // A personal channel's watchlist, from its check.
        let watch = match &outcome {
            AuthOutcome::Verified { watch, .. } if self.personal_user().is_some() => {
                Some(watch.clone())
            }
            _ => None,
        };
        let done = match session::finish_auth(checking, outcome, now) {
            Ok(done) => done,
            Err((e, code)) => return self.close_with(socket, id, &e, code, io),
        };
        // The backend disconnected this user while its check was in flight.
        let started = self.timer.check_started(id);
        if let Some(reason) = self
            .revocation
            .during_check(done.user_id.as_deref(), started)
        {
            let (e, code) = reason.error_code().closing();
            return self.close_with(socket, id, &e, code, io);
        }
        let ticket = tickets::issue(&self.config, &done, now);
        self.admit(socket, done, ticket, watch, Event::Authenticated, now, io);
    }

    /// The claims of a resume ticket that lets this socket in without a check: valid
    /// (see `tickets`) and issued after the last time the backend disconnected its
    /// user, checked every time (see `revocation`). Anything else is `None`, and the
    /// check runs as if there were no ticket.
    fn resume_claims(
        &mut self,
        session: &Session,
        ticket: Option<&str>,
        now: u64,
        io: &mut impl Io<S>,
    ) -> Option<crate::resume::Claims> {
        let claims = tickets::verify(&self.config, session, ticket, now)?;
        self.revocation
            .ticket_stands(&claims, now, io)
            .then_some(claims)
    }

    /// Lets an authenticated socket into the room: its attachment, row and audit
    /// event, the roster and presence, and its `auth:ok` (with `ticket`, if any). On a
    /// personal channel, `watch` is the check's watchlist, and the user's cap holds.
    #[allow(clippy::too_many_arguments)]
    fn admit(
        &mut self,
        socket: &S,
        done: Session,
        ticket: Option<String>,
        watch: Option<Vec<String>>,
        event: Event,
        now: u64,
        io: &mut impl Io<S>,
    ) {
        let id = &done.connection_id.clone();
        // Expired members leave before they are counted, and before the member list
        // is read.
        self.expire(now, io);
        let Ok(online) = self.personal_admit(watch, io) else {
            let (e, code) = ErrorCode::TooManyConnections.closing();
            return self.close_with(socket, id, &e, code, io);
        };
        if !io.save(socket, &done) {
            return self.forget(id, io);
        }
        self.timer.unwatch(id, io);
        self.gate.admitted(id);
        // The first member: from now on the room keeps rows.
        self.rows.set_storage(true);
        self.rows
            .record(|j| j.authenticated(row_of(&done, Some(now))), now, io);
        let user = done.user_id.clone();
        self.log(audit::Entry::new(now, event, id, user.as_deref()), io);
        let was_on = self.members.presence_on();
        let expires_at = done.expires_at;
        let first = self.join(done, socket.clone());
        if let Some(user) = self.personal_user() {
            let online: Vec<&str> = online.iter().map(String::as_str).collect();
            let ok = ServerFrame::PersonalOk {
                connection_id: id,
                user_id: user.as_str(),
                expires_at,
                online: &online,
                resume: ticket.as_deref(),
            };
            io.send(socket, &ok.encode());
            return self.personal_joined(now, io);
        }
        // A further object lists the room-wide members the first object gave, with
        // this user in it.
        let further = self.objects.further();
        let mut view = self.objects.view.take().filter(|_| further);
        if further && view.is_none() && event == Event::Resumed {
            io.list_members_to(id);
        }
        if let (Some(view), Some(u)) = (&mut view, user.as_deref()) {
            if let Err(at) = view.binary_search_by(|v| v.as_str().cmp(u)) {
                view.insert(at, u.to_owned());
            }
        }
        let members: Option<Vec<&str>> = match &view {
            Some(view) => Some(view.iter().map(String::as_str).collect()),
            None if further => None,
            None => self.members.presence_on().then(|| self.members.list()),
        };
        let ok = ServerFrame::AuthOk {
            connection_id: id,
            user_id: user.as_deref(),
            expires_at,
            members: members.as_deref(),
            resume: ticket.as_deref(),
        };
        io.send(socket, &ok.encode());
        if let (true, Some(user)) = (first, user.as_deref()) {
            self.user_changed(was_on, Presence::Join(user), Some(id), now, io);
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
        self.timer.unwatch(id, io);
        // The attachment as it stands now, not as it stood when the check started.
        let current = io.load(socket).unwrap_or_else(|| checking.clone());
        match session::finish_refresh(&current, outcome, now) {
            Refreshed::Renewed(renewed) => {
                if !io.save(socket, &renewed) {
                    return self.forget(id, io);
                }
                self.roster.set_expiry(id, renewed.expires_at);
                self.expiry.note(renewed.expires_at);
                let ticket = tickets::issue(&self.config, &renewed, now);
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
}
