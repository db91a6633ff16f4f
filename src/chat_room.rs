//! `ChatRoom`, the Durable Object of one room (or of one object of a room spread over
//! several, or of one user's personal channel, `@<userId>`): a dispatcher. Each runtime
//! event becomes one call into the room core (`hub_core::room::Room`), whose effects
//! `effects::Effects` carries out. No rule lives here.
//!
//! Path of a client frame: `webSocketMessage` → `Room::on_frame` →
//! `session::decide` → effects (`fanout`, `attachment`, close, a participants check).

use crate::attachment;
use crate::backend::{self, CheckInput};
use crate::conn_id;
use crate::effects::{now_ms, Effects};
use crate::net::Cancel;
use crate::respond::{error, respond, respond_later, websocket_response};
use crate::shards::Role;
use crate::store::Store;
use crate::vars::config_from_env;
use hub_core::auth::AuthOutcome;
use hub_core::channel::Channel;
use hub_core::config::Config;
use hub_core::internal::{channel_of_query, Kind};
use hub_core::protocol::{self, Incoming};
use hub_core::room::{Admission, Check, Room};
use hub_core::routes::{route_of, split_url, Route};
use hub_core::shard::further::Further;
use hub_core::shard::naming::parse_join_path;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use worker::js_sys::JsString;
use worker::wasm_bindgen::JsCast;
use worker::worker_sys::DurableObject;
use worker::worker_sys::DurableObjectState;
use worker::{console_error, web_sys, Env, Result, State, WebSocket, WebSocketPair};

/// The Durable Object class the runtime instantiates, one per room object and per user.
///
/// Exported with `wasm_bindgen` directly rather than through `#[durable_object]`: the
/// macro runs every event as a future and converts requests and responses to
/// workers-rs types. Here an event that needs no `await` (an upgrade, typing, ping,
/// a close) runs and answers synchronously; only a broadcast (reading its body) and
/// an auth or refresh (the participants check) return a promise. See `lib.rs` for the figure.
#[wasm_bindgen]
pub struct ChatRoom {
    shell: Rc<Shell>,
}

/// The runtime handles the core's effects need. Shared with timers and checks
/// through `Rc`; no `RefCell` borrow is ever held across an `.await`.
pub struct Shell {
    pub state: State,
    pub store: Store,
    pub config: Config,
    pub(crate) core: RefCell<Room<WebSocket>>,
    /// The deadline timer's cancel, while one is armed.
    pub timer: RefCell<Option<Rc<Cancel>>>,
    /// Participants checks in flight, by connection id.
    pub checks: RefCell<HashMap<String, Rc<Cancel>>>,
    /// Set once this instance has handed the surviving sockets to the core.
    awake: Cell<bool>,
    /// When this in-memory instance was created (Unix ms): a new value after
    /// hibernation or a restart.
    pub(crate) started_at: u64,
    pub env: Env,
    /// The room (or user) this object belongs to, once an event has named it.
    pub channel: RefCell<Option<Channel>>,
    /// Its place in the room (see `shards`).
    pub role: RefCell<Role>,
    /// One long-lived stub per object of the room this object calls.
    pub stubs: RefCell<HashMap<u16, DurableObject>>,
}

#[wasm_bindgen]
impl ChatRoom {
    #[wasm_bindgen(constructor)]
    pub fn new(state: DurableObjectState, env: Env) -> ChatRoom {
        let (config, invalid) = config_from_env(&env);
        if !invalid.is_empty() {
            console_error!("ignoring invalid configuration: {}", invalid.join(", "));
        }
        let state = State::from(state);
        let store = Store::new(state.storage().sql());
        let started_at = now_ms();
        let shell = Shell {
            state,
            store,
            core: RefCell::new(Room::new(config.clone())),
            role: RefCell::new(Role::first(&config, started_at)),
            config,
            timer: RefCell::new(None),
            checks: RefCell::new(HashMap::new()),
            awake: Cell::new(false),
            started_at,
            env,
            channel: RefCell::new(None),
            stubs: RefCell::new(HashMap::new()),
        };
        ChatRoom {
            shell: Rc::new(shell),
        }
    }

    /// A room upgrade (forwarded by the Worker exactly as the client sent it), or an
    /// internal request from the Worker (`hub_core::internal`).
    pub fn fetch(&self, req: web_sys::Request) -> JsValue {
        let shell = Rc::clone(&self.shell);
        let url = req.url();
        let (path, query) = split_url(&url);
        if let Some(kind) = Kind::of_path(path) {
            shell.learn(channel_of_query(query));
            shell.wake();
            return respond_later(shell.answer(kind, req));
        }
        // An upgrade the room's first object placed here (only the Worker can send it).
        if let Some((room, shard, placement)) = parse_join_path(path) {
            shell.learn(Some(Channel::Room(room.clone())));
            shell.wake();
            shell.become_further(shard);
            if let Role::Further(further) = &mut *shell.role.borrow_mut() {
                further.placed(placement);
            }
            return respond(shell.accept(Channel::Room(room)));
        }
        match route_of(&url) {
            Route::Room(Ok(id)) => {
                shell.learn(Some(Channel::Room(id.clone())));
                shell.wake();
                shell.connect(id)
            }
            // A personal channel is one object: never spread over several.
            Route::User(Ok(user)) => {
                let channel = Channel::User(user);
                shell.learn(Some(channel.clone()));
                shell.wake();
                respond(shell.accept(channel))
            }
            _ => respond(error(404, "not_found", "no such room endpoint").map(Into::into)),
        }
    }

    #[wasm_bindgen(js_name = webSocketMessage)]
    pub fn web_socket_message(&self, ws: web_sys::WebSocket, message: JsValue) -> JsValue {
        self.shell.wake();
        let ws = WebSocket::from(ws);
        let session = attachment::read(&ws);
        // Neither a binary frame nor an oversized text frame is copied into wasm:
        // wasm memory never shrinks, and a copy reserves up to 3 bytes per UTF-16
        // unit. A text frame's UTF-8 length is at least its UTF-16 length, so a
        // frame longer than the limit in UTF-16 units is too large in bytes too.
        let parse = |max_bytes| {
            let Some(js) = message.dyn_ref::<JsString>() else {
                return protocol::parse_incoming(Incoming::Binary, max_bytes);
            };
            if js.length() as usize > max_bytes {
                return protocol::parse_incoming(Incoming::TooLarge, max_bytes);
            }
            let text = String::from(js);
            protocol::parse_incoming(Incoming::Text(&text), max_bytes)
        };
        let check = self.shell.with_core(|core, io| {
            let check = core.on_frame(&ws, session, parse, now_ms(), io)?;
            Some((io.register_check(&check), check))
        });
        match check {
            // Only an auth or a refresh awaits; its promise keeps the event open
            // until the check has answered.
            Some((cancel, check)) => {
                future_to_promise(Rc::clone(&self.shell).run_check(check, cancel)).into()
            }
            None => JsValue::UNDEFINED,
        }
    }

    /// The client's close code goes to the connection audit, and is echoed back: with the
    /// Hibernation API the runtime never answers a client's close frame itself (its
    /// `web_socket_auto_reply_to_close` flag covers `accept()` only).
    #[wasm_bindgen(js_name = webSocketClose)]
    pub fn web_socket_close(&self, ws: web_sys::WebSocket, code: JsValue) {
        let code = code.as_f64().filter(|c| (0.0..=65535.0).contains(c));
        self.shell
            .socket_gone(&WebSocket::from(ws), code.map(|c| c as u16));
    }

    #[wasm_bindgen(js_name = webSocketError)]
    pub fn web_socket_error(&self, ws: web_sys::WebSocket) {
        self.shell.socket_gone(&WebSocket::from(ws), None);
    }
}

impl Shell {
    /// Runs `f` on the core with this call's effects.
    pub fn with_core<R>(
        self: &Rc<Self>,
        f: impl FnOnce(&mut Room<WebSocket>, &mut Effects) -> R,
    ) -> R {
        let mut io = Effects::new(self);
        let r = f(&mut self.core.borrow_mut(), &mut io);
        // A further object tells the first what changed (one report in flight).
        self.pump();
        r
    }

    fn learn(&self, channel: Option<Channel>) {
        let mut known = self.channel.borrow_mut();
        if known.is_none() {
            *known = channel;
        }
    }

    /// This object is further object `shard` of its room, for good.
    pub fn become_further(&self, shard: u16) {
        if shard == 0 || matches!(&*self.role.borrow(), Role::Further(_)) {
            return;
        }
        // Its first report lists every user it holds (none for a new object): the
        // first object may not have heard of them from this instance.
        *self.role.borrow_mut() = Role::Further(Further::new(shard, true));
        self.core.borrow_mut().set_further(shard);
    }

    /// Once per in-memory instance, at its first event: the core takes over the
    /// sockets the runtime kept through hibernation or a restart.
    fn wake(self: &Rc<Self>) {
        if self.awake.replace(true) {
            return;
        }
        let has_storage = self.store.exists().unwrap_or_else(|e| {
            console_error!("reading the room's tables failed: {e}");
            false
        });
        let sockets: Vec<_> = self
            .state
            .get_websockets()
            .into_iter()
            .map(|ws| {
                let session = attachment::read(&ws);
                (ws, session)
            })
            .collect();
        // Sockets a further object holds say so: it learns its place back from them.
        let place = sockets
            .iter()
            .find_map(|(_, s)| s.as_ref().map(|s| (s.shard, s.channel.clone())));
        if let Some((shard, channel)) = place {
            self.learn(Some(channel));
            self.become_further(shard);
        }
        self.with_core(|core, io| core.on_wake(sockets, has_storage, now_ms(), io));
        let user = self
            .channel
            .borrow()
            .as_ref()
            .and_then(|c| c.user().cloned());
        if let Some(user) = user {
            return self.restore_personal(user);
        }
        if has_storage && matches!(&*self.role.borrow(), Role::First(_)) {
            self.restore_shards();
        }
    }

    /// Takes a new socket into this object.
    pub(crate) fn accept(self: &Rc<Self>, channel: Channel) -> Result<web_sys::Response> {
        let Some(connection_id) = conn_id::generate() else {
            console_error!("no randomness available for a connection id");
            return error(500, "internal", "could not create a connection id").map(Into::into);
        };
        let pair = WebSocketPair::new()?;
        let server = pair.server;
        match self
            .with_core(|core, io| core.on_connect(server, connection_id, channel, now_ms(), io))
        {
            Admission::Admitted | Admission::Refused => websocket_response(pair.client),
            Admission::Failed => Err("the runtime refused the socket's attachment".into()),
        }
    }

    fn socket_gone(self: &Rc<Self>, ws: &WebSocket, code: Option<u16>) {
        self.wake();
        let session = attachment::read(ws);
        let id = session.as_ref().map(|s| s.connection_id.as_str());
        self.with_core(|core, io| core.on_close(ws, id, code, now_ms(), io));
    }

    /// Runs a participants check and hands its outcome to the core; then, while the
    /// core has queued checks for the slot this one freed, runs those in turn (one
    /// task per slot, so at most `AUTH_CHECK_CONCURRENCY` are in flight).
    async fn run_check(
        self: Rc<Self>,
        mut check: Check<WebSocket>,
        mut cancel: Rc<Cancel>,
    ) -> std::result::Result<JsValue, JsValue> {
        loop {
            let Check {
                socket,
                session,
                request,
            } = check;
            let input = CheckInput {
                channel: &session.channel,
                token: &request.token,
                claimed_user_id: request.user_id.as_deref(),
                connection_id: &session.connection_id,
            };
            let further = matches!(&*self.role.borrow(), Role::Further(_));
            let outcome = if further {
                // The room-wide member list for its `auth:ok`, asked for meanwhile.
                let check = backend::participants_check(&self.config, input, &cancel);
                let (outcome, members) =
                    futures_util::future::join(check, self.room_members()).await;
                self.core.borrow_mut().set_view(members);
                outcome
            } else {
                backend::participants_check(&self.config, input, &cancel).await
            };
            // A personal channel registers with whom it watches before its `auth:ok`.
            if let AuthOutcome::Verified { watch, .. } = &outcome {
                if session.channel.is_personal() && !watch.is_empty() {
                    self.watch_all(watch).await;
                }
            }
            self.checks.borrow_mut().remove(&session.connection_id);
            let next = self.with_core(|core, io| {
                let next = core.on_check_done(&socket, &session, outcome, now_ms(), io)?;
                Some((io.register_check(&next), next))
            });
            let Some((next_cancel, next)) = next else {
                return Ok(JsValue::UNDEFINED);
            };
            (check, cancel) = (next, next_cancel);
        }
    }
}
