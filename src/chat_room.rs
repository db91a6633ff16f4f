//! `ChatRoom`, the Durable Object of one room: turns runtime events into
//! `session` decisions and carries out their effects (`fanout`, `store`, close).
//!
//! Path of a client frame: `websocket_message` → `protocol::parse_incoming` →
//! `session::decide` → an effect below.

use crate::backend::{self, CheckInput};
use crate::broadcast;
use crate::config::Config;
use crate::conn_id;
use crate::deadlines::Deadlines;
use crate::fanout::{self, deliver};
use crate::http::{
    config_from_env, error, json_response, respond, respond_later, route_of, websocket_response,
};
use crate::journal::{Journal, Row};
use crate::net::{self, Cancel};
use crate::protocol::{
    self, AuthRequest, ClientError, CloseCode, ErrorCode, Incoming, ServerFrame,
};
use crate::rate_limit::{Bucket, Verdict};
use crate::room_id::RoomId;
use crate::roster::{Member, Roster};
use crate::routes::{split_url, Route};
use crate::session::{self, Action, AuthState, Session};
use crate::store::Store;
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use worker::worker_sys::ext::WebSocketExt;
use worker::worker_sys::DurableObjectState;
use worker::{console_error, web_sys, Date, Env, Result, State, WebSocket, WebSocketPair};

/// Close code for a socket whose state cannot be read (should never happen).
const INTERNAL_ERROR: u16 = 1011;

/// How long row changes wait to be written together (see `journal`): long enough for
/// a connection's accept and auth to land in the same batch (one row write instead of
/// two) and for a burst of joins to share one commit, short enough that the table
/// stays current. `/stats` writes pending changes before it reads.
const WRITE_BEHIND: Duration = Duration::from_millis(250);
/// Pending row changes that trigger a write at once, bounding the batch's memory.
const MAX_PENDING_WRITES: usize = 400;

/// The Durable Object class the runtime instantiates, one per room.
///
/// Exported with `wasm_bindgen` directly rather than through `#[durable_object]`: the
/// macro runs every event as a future (a promise, a task, a microtask) and converts
/// requests and responses to workers-rs types (headers copied, `request.cf` read).
/// Here an event that needs no `await` (an upgrade, typing, ping, a close) runs and
/// answers synchronously; only a broadcast (reading its body) and an auth (the
/// participants check) return a promise.
#[wasm_bindgen]
pub struct ChatRoom {
    room: Rc<Room>,
}

#[wasm_bindgen]
impl ChatRoom {
    #[wasm_bindgen(constructor)]
    pub fn new(state: DurableObjectState, env: Env) -> ChatRoom {
        ChatRoom {
            room: Rc::new(Room::new(State::from(state), &env)),
        }
    }

    /// A room upgrade (forwarded by the Worker exactly as the client sent it), or an
    /// internal `/broadcast` or `/stats` request from the Worker.
    pub fn fetch(&self, req: web_sys::Request) -> JsValue {
        let room = Rc::clone(&self.room);
        room.wake();
        let url = req.url();
        let answer = match split_url(&url).0 {
            "/broadcast" => return respond_later(async move { room.broadcast(req).await }),
            "/stats" => room.stats(),
            _ => match route_of(&url) {
                Route::Room(Ok(id)) => room.connect(id),
                _ => error(404, "not_found", "no such room endpoint").map(Into::into),
            },
        };
        respond(answer)
    }

    #[wasm_bindgen(js_name = webSocketMessage)]
    pub fn web_socket_message(&self, ws: web_sys::WebSocket, message: JsValue) -> JsValue {
        self.room.wake();
        let ws = WebSocket::from(ws);
        let Some((session, request)) = self.room.on_message(&ws, &message) else {
            return JsValue::UNDEFINED;
        };
        // Only an auth awaits (the participants check); its promise keeps the event
        // open until the check has answered.
        let room = Rc::clone(&self.room);
        future_to_promise(async move {
            room.authenticate(&ws, session, request).await;
            Ok(JsValue::UNDEFINED)
        })
        .into()
    }

    #[wasm_bindgen(js_name = webSocketClose)]
    pub fn web_socket_close(&self, ws: web_sys::WebSocket) {
        self.room.wake();
        self.room.forget_socket(&WebSocket::from(ws));
    }

    #[wasm_bindgen(js_name = webSocketError)]
    pub fn web_socket_error(&self, ws: web_sys::WebSocket) {
        self.room.wake();
        self.room.forget_socket(&WebSocket::from(ws));
    }
}

/// Everything the room holds in memory. Shared with one-shot timers through `Rc`.
/// No `RefCell` borrow is ever held across an `.await`.
struct Room {
    state: State,
    config: Config,
    store: Store,
    /// Authenticated sockets, for fan-out; rebuilt from attachments on wake.
    roster: RefCell<Roster<WebSocket>>,
    /// Connection ids of every open socket (authenticated or not), for the room's capacity.
    live: RefCell<HashSet<String>>,
    /// Per-connection rate counters (in memory only: they may reset on hibernation).
    rates: RefCell<HashMap<String, Bucket>>,
    /// Sockets still waiting to authenticate and participants checks in flight, by
    /// deadline, and the room's one timer for both (for the earliest deadline;
    /// cancelled when nothing is left, so an authenticated room has no timer and can
    /// hibernate).
    deadlines: RefCell<Deadlines<Watch>>,
    deadline_timer: RefCell<Option<(u64, Rc<Cancel>)>>,
    /// Row changes not yet written, and whether a write is already scheduled.
    journal: RefCell<Journal>,
    write_scheduled: Cell<bool>,
    /// Set once this instance has reconciled sockets, timers and SQLite.
    awake: Cell<bool>,
    /// When this in-memory instance was created (Unix ms): a new value after
    /// hibernation or a restart.
    started_at: u64,
}

/// What a deadline guards: a socket that must authenticate in time, or a
/// participants check that must answer in time (aborted through its `Cancel`).
enum Watch {
    Auth(WebSocket),
    Check(Rc<Cancel>),
}

fn now_ms() -> u64 {
    Date::now().as_millis()
}

// Attachments are one JSON string, read and written through the runtime's own calls
// (no serde_wasm_bindgen round trip).
fn read_session(ws: &WebSocket) -> Option<Session> {
    let raw: &web_sys::WebSocket = ws.as_ref();
    let text = raw.deserialize_attachment().ok()?.as_string()?;
    Session::from_attachment(&text)
}

fn write_session(ws: &WebSocket, session: &Session) -> Result<()> {
    let raw: &web_sys::WebSocket = ws.as_ref();
    raw.serialize_attachment(JsValue::from_str(&session.to_attachment()))?;
    Ok(())
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

impl Room {
    fn new(state: State, env: &Env) -> Room {
        let (config, invalid) = config_from_env(env);
        if !invalid.is_empty() {
            console_error!("ignoring invalid configuration: {}", invalid.join(", "));
        }
        let store = Store::new(state.storage().sql());
        if let Err(e) = store.migrate() {
            console_error!("migrations failed: {e}");
        }
        Room {
            state,
            config,
            store,
            roster: RefCell::new(Roster::default()),
            live: RefCell::new(HashSet::new()),
            rates: RefCell::new(HashMap::new()),
            deadlines: RefCell::new(Deadlines::default()),
            deadline_timer: RefCell::new(None),
            journal: RefCell::new(Journal::default()),
            write_scheduled: Cell::new(false),
            awake: Cell::new(false),
            started_at: now_ms(),
        }
    }

    /// Runs once per in-memory instance, at its first event: rebuilds the roster from
    /// the attachments, closes sockets whose auth deadline passed (or whose check died
    /// with the previous instance), re-arms pending timers, and deletes ghost rows.
    fn wake(self: &Rc<Self>) {
        if self.awake.replace(true) {
            return;
        }
        let now = now_ms();
        let mut members = Vec::new();
        for ws in self.state.get_websockets() {
            let Some(session) = read_session(&ws) else {
                let _ = ws.close(Some(INTERNAL_ERROR), Some("lost state"));
                continue;
            };
            self.live.borrow_mut().insert(session.connection_id.clone());
            match session.state {
                AuthState::Authenticated => members.push(Member {
                    connection_id: session.connection_id,
                    user_id: session.user_id,
                    socket: ws,
                }),
                AuthState::Authenticating => self.close_with(
                    &ws,
                    &session.connection_id,
                    &ErrorCode::AuthUnavailable.into(),
                    CloseCode::Unauthorized,
                ),
                AuthState::Pending if session.is_overdue(now) => self.close_with(
                    &ws,
                    &session.connection_id,
                    &ErrorCode::AuthTimeout.into(),
                    CloseCode::Unauthorized,
                ),
                AuthState::Pending => {
                    self.watch_auth_deadline(ws, session.connection_id, session.auth_deadline)
                }
            }
        }
        {
            let mut roster = self.roster.borrow_mut();
            for m in members {
                roster.insert(m);
            }
        }
        let live = self.live.borrow().clone();
        if let Err(e) = self.store.remove_ghosts(&live) {
            console_error!("removing stale connection rows failed: {e}");
        }
    }

    fn connect(self: &Rc<Self>, room: RoomId) -> Result<web_sys::Response> {
        let Some(connection_id) = conn_id::generate() else {
            console_error!("no randomness available for a connection id");
            return error(500, "internal", "could not create a connection id").map(Into::into);
        };
        let pair = WebSocketPair::new()?;
        if self.live.borrow().len() >= self.config.max_connections {
            // Accepted only to say why, so clients see `room_full` and 4503 rather than
            // a bare handshake failure; never tagged, stored or counted.
            pair.server.accept()?;
            let e = ClientError::new(ErrorCode::RoomFull);
            fanout::send_error(&pair.server, &e);
            let _ = pair
                .server
                .close(Some(CloseCode::RoomFull.code()), Some(e.code.as_str()));
            return websocket_response(pair.client);
        }
        let now = now_ms();
        let session = Session::new(
            connection_id,
            room.to_string(),
            now,
            self.config.auth_timeout_ms,
        );
        // A 22-character base64url tag is always a valid tag (at most 256 chars).
        self.state
            .accept_websocket_with_tags(&pair.server, &[session.connection_id.as_str()]);
        write_session(&pair.server, &session)?;
        self.live.borrow_mut().insert(session.connection_id.clone());
        self.record(|j| j.accepted(row_of(&session, None)));
        self.watch_auth_deadline(pair.server, session.connection_id, session.auth_deadline);
        websocket_response(pair.client)
    }

    fn watch_auth_deadline(self: &Rc<Self>, ws: WebSocket, connection_id: String, at: u64) {
        self.watch(connection_id, at, Watch::Auth(ws));
    }

    /// Replaces the socket's auth deadline (which no longer applies while its check
    /// runs) with the check's own; the returned `Cancel` fires when the check is due.
    fn watch_check(self: &Rc<Self>, connection_id: &str) -> Rc<Cancel> {
        let cancel = Rc::new(Cancel::default());
        let at = now_ms().saturating_add(self.config.auth_check_timeout_ms);
        self.watch(
            connection_id.to_owned(),
            at,
            Watch::Check(Rc::clone(&cancel)),
        );
        cancel
    }

    fn watch(self: &Rc<Self>, connection_id: String, at: u64, watch: Watch) {
        self.deadlines.borrow_mut().insert(connection_id, at, watch);
        self.arm_deadline_timer();
    }

    /// Stops watching the connection. A check still in flight is aborted: its socket
    /// is authenticated or gone.
    fn unwatch(&self, connection_id: &str) {
        let (removed, nobody_waits) = {
            let mut deadlines = self.deadlines.borrow_mut();
            let removed = deadlines.remove(connection_id);
            (removed, deadlines.is_empty())
        };
        if let Some(Watch::Check(cancel)) = removed {
            cancel.fire();
        }
        if nobody_waits {
            let timer = self.deadline_timer.borrow_mut().take();
            if let Some((_, cancel)) = timer {
                cancel.fire();
            }
        }
    }

    /// Makes sure a one-shot timer (no alarm, no interval) fires at or before the
    /// earliest deadline. A timer for an earlier deadline is kept: when it fires it
    /// finds nobody due and re-arms for the next one.
    fn arm_deadline_timer(self: &Rc<Self>) {
        let Some(earliest) = self.deadlines.borrow().earliest() else {
            return;
        };
        let previous = {
            let mut timer = self.deadline_timer.borrow_mut();
            if timer.as_ref().is_some_and(|(at, _)| *at <= earliest) {
                return;
            }
            let cancel = Rc::new(Cancel::default());
            let previous = timer.replace((earliest, Rc::clone(&cancel)));
            let room = Rc::clone(self);
            let after = Duration::from_millis(earliest.saturating_sub(now_ms()).max(1));
            self.state.wait_until(async move {
                if net::sleep(after, &cancel).await {
                    room.deadline_timer.borrow_mut().take();
                    room.expire_overdue();
                }
            });
            previous
        };
        if let Some((_, cancel)) = previous {
            cancel.fire();
        }
    }

    /// Closes every socket whose deadline passed without auth, aborts every check
    /// that ran out of time (its auth then fails as `auth_unavailable`), then re-arms
    /// for the next deadline.
    fn expire_overdue(self: &Rc<Self>) {
        let now = now_ms();
        let due = self.deadlines.borrow_mut().take_due(now);
        for (connection_id, watch) in due {
            match watch {
                Watch::Auth(ws) if read_session(&ws).is_some_and(|s| s.is_overdue(now)) => self
                    .close_with(
                        &ws,
                        &connection_id,
                        &ErrorCode::AuthTimeout.into(),
                        CloseCode::Unauthorized,
                    ),
                Watch::Auth(_) => {}
                Watch::Check(cancel) => cancel.fire(),
            }
        }
        self.arm_deadline_timer();
    }

    /// Handles one client frame; returns the auth to run when the frame starts one
    /// (the only case that awaits).
    fn on_message(
        self: &Rc<Self>,
        ws: &WebSocket,
        message: &JsValue,
    ) -> Option<(Session, AuthRequest)> {
        let Some(session) = read_session(ws) else {
            let _ = ws.close(Some(INTERNAL_ERROR), Some("lost state"));
            return None;
        };
        // Frames already in flight when the room closed this socket (a flood, a room
        // mismatch, a timeout) still arrive: they must not count as a new connection.
        if !self.live.borrow().contains(&session.connection_id) {
            return None;
        }
        match self.rate_check(&session.connection_id) {
            Verdict::Allow => {}
            Verdict::Drop { notify } => {
                if notify {
                    fanout::send_error(ws, &ErrorCode::RateLimited.into());
                }
                return None;
            }
            Verdict::Close => {
                let e = ErrorCode::RateLimited.into();
                self.close_with(ws, &session.connection_id, &e, CloseCode::RateLimited);
                return None;
            }
        }
        // A binary frame is refused without copying it out of the runtime.
        let text = message.as_string();
        let incoming = match &text {
            Some(text) => Incoming::Text(text),
            None => Incoming::Binary,
        };
        let frame = protocol::parse_incoming(incoming, self.config.max_frame_bytes);
        match session::decide(&session, frame, now_ms()) {
            Action::Reply(e) => fanout::send_error(ws, &e),
            Action::Close(e, code) => self.close_with(ws, &session.connection_id, &e, code),
            Action::Pong(t) => fanout::send(ws, &ServerFrame::Pong { t: t.as_deref() }.encode()),
            Action::Typing(is_typing) => {
                let frame = ServerFrame::Typing {
                    user_id: session.user_id.as_deref(),
                    is_typing,
                };
                let roster = self.roster.borrow();
                deliver(roster.iter(), &frame.encode(), |c| {
                    c == session.connection_id
                });
            }
            Action::StartAuth(request) => return Some((session, request)),
        }
        None
    }

    /// Counts one frame against the connection's rate limit. Dropped frames are never
    /// parsed, answered (beyond one notice per second) or fanned out.
    fn rate_check(&self, connection_id: &str) -> Verdict {
        let now = now_ms();
        let limit = &self.config.rate_limit;
        let mut rates = self.rates.borrow_mut();
        match rates.get_mut(connection_id) {
            Some(bucket) => bucket.check(limit, now),
            None => {
                let mut bucket = Bucket::new(limit, now);
                let verdict = bucket.check(limit, now);
                rates.insert(connection_id.to_owned(), bucket);
                verdict
            }
        }
    }

    async fn authenticate(self: &Rc<Self>, ws: &WebSocket, session: Session, request: AuthRequest) {
        let connection_id = session.connection_id.clone();
        let checking = Session {
            state: AuthState::Authenticating,
            ..session
        };
        // Persisted before the await, so a second auth meanwhile gets `auth_in_progress`.
        if write_session(ws, &checking).is_err() {
            return;
        }
        let Ok(room) = RoomId::parse(&checking.room_id) else {
            // Unreachable: the room id was validated when the socket was accepted.
            return self.close_with(
                ws,
                &connection_id,
                &ErrorCode::RoomMismatch.into(),
                CloseCode::Forbidden,
            );
        };
        let cancel = self.watch_check(&connection_id);
        let outcome = backend::participants_check(
            &self.config,
            CheckInput {
                room: &room,
                token: &request.token,
                claimed_user_id: request.user_id.as_deref(),
                connection_id: &connection_id,
            },
            &cancel,
        )
        .await;
        let done = match session::finish_auth(&checking, outcome) {
            Ok(done) => done,
            Err((e, code)) => return self.close_with(ws, &connection_id, &e, code),
        };
        // The socket may have closed while the check was in flight.
        if !self.live.borrow().contains(&connection_id) {
            return;
        }
        if write_session(ws, &done).is_err() {
            return self.forget(&connection_id);
        }
        fanout::send(
            ws,
            &ServerFrame::AuthOk {
                connection_id: &connection_id,
                user_id: done.user_id.as_deref(),
            }
            .encode(),
        );
        self.unwatch(&connection_id);
        self.record(|j| j.authenticated(row_of(&done, Some(now_ms()))));
        self.roster.borrow_mut().insert(Member {
            connection_id,
            user_id: done.user_id,
            socket: ws.clone(),
        });
    }

    /// Sends the error, closes with `code`, and forgets the connection at once.
    fn close_with(
        self: &Rc<Self>,
        ws: &WebSocket,
        connection_id: &str,
        e: &ClientError,
        code: CloseCode,
    ) {
        fanout::send_error(ws, e);
        // The close reason is the stable error code (always far below 123 bytes).
        let _ = ws.close(Some(code.code()), Some(e.code.as_str()));
        self.forget(connection_id);
    }

    fn forget_socket(self: &Rc<Self>, ws: &WebSocket) {
        if let Some(session) = read_session(ws) {
            self.forget(&session.connection_id);
        }
    }

    fn forget(self: &Rc<Self>, connection_id: &str) {
        self.unwatch(connection_id);
        self.roster.borrow_mut().remove(connection_id);
        self.live.borrow_mut().remove(connection_id);
        self.rates.borrow_mut().remove(connection_id);
        self.record(|j| j.closed(connection_id));
    }

    /// Records a row change and makes sure a write follows: at once when the batch is
    /// full, otherwise after `WRITE_BEHIND` (one one-shot timer per batch).
    fn record(self: &Rc<Self>, change: impl FnOnce(&mut Journal)) {
        let pending = {
            let mut journal = self.journal.borrow_mut();
            change(&mut journal);
            journal.len()
        };
        if pending >= MAX_PENDING_WRITES {
            self.write_rows();
        } else if pending > 0 && !self.write_scheduled.replace(true) {
            let room = Rc::clone(self);
            self.state.wait_until(async move {
                worker::Delay::from(WRITE_BEHIND).await;
                room.write_rows();
            });
        }
    }

    /// Writes every pending row change in one synchronous batch (one commit).
    fn write_rows(&self) {
        self.write_scheduled.set(false);
        let writes = self.journal.borrow_mut().take();
        if writes.is_empty() {
            return;
        }
        if let Err(e) = self.store.apply(&writes) {
            console_error!("writing connection rows failed: {e}");
        }
    }

    async fn broadcast(&self, req: web_sys::Request) -> Result<web_sys::Response> {
        let text = JsFuture::from(req.text()?)
            .await?
            .as_string()
            .unwrap_or_default();
        let parsed = match broadcast::parse(&text) {
            Ok(b) => b,
            Err(e) => return error(400, e.code(), &e.message()).map(Into::into),
        };
        let exclude: HashSet<&str> = parsed.exclude.iter().map(String::as_str).collect();
        let roster = self.roster.borrow();
        let delivered = deliver(roster.iter(), parsed.message.get(), |c| exclude.contains(c));
        json_response(
            200,
            &format!(r#"{{"success":true,"delivered":{delivered}}}"#),
        )
    }

    fn stats(&self) -> Result<web_sys::Response> {
        self.write_rows();
        let body = json!({
            "connections": self.state.get_websockets().len(),
            "authenticated": self.roster.borrow().len(),
            "storedConnections": self.store.count().unwrap_or(0),
            "instanceStartedAt": self.started_at,
        });
        json_response(200, &body.to_string())
    }
}
