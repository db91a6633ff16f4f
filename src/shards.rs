//! The links between the objects of a room spread over several (`hub_core::shard`):
//! the first object relays events to each further object through one long-lived
//! stub per shard, and a further object reports up to the first. The decisions are
//! `hub_core::shard::{first, further}`; this module sends what they decide.
//!
//! Nothing here logs a room id or an object name (both can hold user ids).

use crate::chat_room::Shell;
use crate::net::{self, Cancel};
use hub_core::channel::Channel;
use hub_core::internal::shards::{MemberList, RelayDone, Relayed, Reported};
use hub_core::internal::{Internal, Kind};
use hub_core::protocol::{Presence, ServerFrame};
use hub_core::room_id::RoomId;
use hub_core::shard::first::First;
use hub_core::shard::further::Further;
use hub_core::shard::naming::object_name;
use hub_core::shard::placement::Limits;
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use worker::js_sys::{Promise, Reflect};
use worker::wasm_bindgen::JsCast;
use worker::worker_sys::{DurableObject, DurableObjectNamespace};
use worker::{console_error, web_sys};

/// The Durable Object namespace binding.
pub const DO_BINDING: &str = "Chat";

/// How long a further object waits before reporting again after a report failed.
const REPORT_RETRY: Duration = Duration::from_secs(1);

/// This object's place in its room.
pub enum Role {
    /// The room's first object (named by the room id): every room has one, and a room
    /// below `ROOM_SHARD_SIZE` is only that.
    First(First),
    /// A further object, holding sockets the first object placed here.
    Further(Further),
}

impl Role {
    pub fn first(config: &hub_core::config::Config, epoch: u64) -> Role {
        Role::First(First::new(
            Limits {
                shard_size: config.room_shard_size,
                max_shards: config.room_max_shards,
                max_connections: config.max_connections,
            },
            epoch,
        ))
    }
}

/// The stub of object `name` in the namespace `env` binds.
pub fn stub(env: &worker::Env, name: &str) -> worker::Result<DurableObject> {
    let namespace = Reflect::get(env, &JsValue::from_str(DO_BINDING))?;
    if namespace.is_undefined() {
        return Err(format!("the {DO_BINDING} Durable Object binding is missing").into());
    }
    let namespace: DurableObjectNamespace = namespace.unchecked_into();
    Ok(namespace.get_by_name(name)?)
}

/// The POST of one internal request (`hub_core::internal`) to `url`, with `body`.
pub fn internal_request(url: &str, body: &str) -> worker::Result<web_sys::Request> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(body));
    Ok(web_sys::Request::new_with_str_and_init(url, &init)?)
}

/// Why a call between the room's objects got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// The runtime said the object is overloaded: never retried (a retry adds load).
    Overloaded,
    /// Any other failure.
    Other,
}

/// The response's text, if it is a 200.
pub(crate) async fn ok_text(promise: Promise) -> Result<String, Failed> {
    let response = match JsFuture::from(promise).await {
        Ok(response) => response.unchecked_into::<web_sys::Response>(),
        Err(e) => {
            let overloaded = Reflect::get(&e, &JsValue::from_str("overloaded"))
                .ok()
                .and_then(|o| o.as_bool())
                .unwrap_or(false);
            return Err(if overloaded {
                Failed::Overloaded
            } else {
                Failed::Other
            });
        }
    };
    if response.status() != 200 {
        return Err(Failed::Other);
    }
    let text = response.text().map_err(|_| Failed::Other)?;
    JsFuture::from(text)
        .await
        .ok()
        .and_then(|t| t.as_string())
        .ok_or(Failed::Other)
}

impl Shell {
    /// The room this object belongs to, once known (none on a personal channel).
    pub fn room(&self) -> Option<RoomId> {
        self.channel.borrow().as_ref()?.room().cloned()
    }

    /// Sends `request` to shard `shard` of the room through that shard's one stub,
    /// now (the call is issued before this returns, so calls on one link leave in the
    /// order they were made). `None` when it could not be sent.
    pub fn call(&self, shard: u16, request: &Internal<'_>) -> Option<Promise> {
        let room = self.room()?;
        let stub = {
            let mut stubs = self.stubs.borrow_mut();
            match stubs.get(&shard) {
                Some(stub) => stub.clone(),
                None => {
                    let stub = stub(&self.env, &object_name(&room, shard)).ok()?;
                    stubs.insert(shard, stub.clone());
                    stub
                }
            }
        };
        let url = request.url_for(&Channel::Room(room));
        let req = internal_request(&url, &request.body()).ok()?;
        match stub.fetch_with_request(&req) {
            Ok(promise) => Some(promise),
            Err(_) => {
                self.stubs.borrow_mut().remove(&shard);
                None
            }
        }
    }

    /// Awaits a call; a failed one drops the shard's stub (after an exception, the
    /// runtime fails every later call on it), so the next call makes a new one.
    pub async fn answer_of(&self, shard: u16, promise: Option<Promise>) -> Option<String> {
        self.outcome_of(shard, promise).await.ok()
    }

    /// The same, saying why a call failed.
    async fn outcome_of(&self, shard: u16, promise: Option<Promise>) -> Result<String, Failed> {
        let text = match promise {
            Some(promise) => ok_text(promise).await,
            None => Err(Failed::Other),
        };
        if text.is_err() {
            self.stubs.borrow_mut().remove(&shard);
        }
        text
    }

    /// Whether this is the first object of a room with further objects in use.
    pub fn spans_objects(&self) -> bool {
        matches!(&*self.role.borrow(), Role::First(first) if first.has_further())
    }

    /// The first object sends `events` (a broadcast) to every further object in use,
    /// after the frames queued for them, numbered on each link; returns the calls, by
    /// shard.
    pub fn relay(&self, events: &[Relayed]) -> Vec<(u16, Option<Promise>)> {
        let relays = match &mut *self.role.borrow_mut() {
            Role::First(first) => first.flush(events),
            Role::Further(_) => Vec::new(),
        };
        relays
            .into_iter()
            .map(|r| (r.shard, self.call(r.shard, &Internal::Relay(r))))
            .collect()
    }

    /// The first object queues a frame (typing, presence) for the further objects in
    /// use but `from`: the frames of one batch window go in one call per object, or
    /// sooner with the next broadcast. A one-shot timer, only while frames wait.
    pub fn relay_frame(self: &Rc<Self>, frame: Relayed, from: Option<u16>) {
        let first = match &mut *self.role.borrow_mut() {
            Role::First(first) if first.has_further() => first.queue(frame, from),
            _ => return,
        };
        if !first {
            return;
        }
        let window = self.config.batch_window_ms;
        if window == 0 {
            return self.forget(self.relay(&[]));
        }
        let shell = Rc::clone(self);
        self.state.wait_until(async move {
            worker::Delay::from(Duration::from_millis(window)).await;
            shell.forget(shell.relay(&[]));
        });
    }

    /// Lets calls finish without waiting for them.
    fn forget(self: &Rc<Self>, calls: Vec<(u16, Option<Promise>)>) {
        for (shard, promise) in calls {
            let shell = Rc::clone(self);
            self.state.wait_until(async move {
                shell.answer_of(shard, promise).await;
            });
        }
    }

    /// The sockets the relays' broadcasts reached.
    pub async fn delivered_by(&self, calls: Vec<(u16, Option<Promise>)>) -> usize {
        let mut total = 0;
        for (shard, promise) in calls {
            let answer = self.answer_of(shard, promise).await;
            let done = answer.and_then(|t| serde_json::from_str::<RelayDone>(&t).ok());
            total += done.map_or(0, |d| d.delivered);
        }
        total
    }

    /// A further object sends its report when one is due and none is in flight; when
    /// it is answered, the next one (what happened meanwhile) goes.
    pub fn pump(self: &Rc<Self>) {
        let report = {
            let mut role = self.role.borrow_mut();
            let Role::Further(further) = &mut *role else {
                return;
            };
            let Ok(core) = self.core.try_borrow() else {
                return;
            };
            further.take_report(core.connections(), || core.users())
        };
        let Some(report) = report else {
            return;
        };
        let promise = self.call(0, &Internal::Report(report));
        let shell = Rc::clone(self);
        self.state.wait_until(async move {
            let answer = shell.outcome_of(0, promise).await;
            let epoch = answer
                .as_ref()
                .ok()
                .and_then(|t| serde_json::from_str::<Reported>(t).ok())
                .map(|r| r.epoch);
            if let Role::Further(further) = &mut *shell.role.borrow_mut() {
                further.report_done(epoch);
            }
            match answer {
                Ok(_) => {}
                // Not retried: the next event here sends the whole state again.
                Err(Failed::Overloaded) => {
                    console_error!("a shard's report found its room's first object overloaded");
                    return;
                }
                Err(Failed::Other) => {
                    console_error!("a shard's report to its room's first object failed");
                    net::sleep(REPORT_RETRY, &Cancel::default()).await;
                }
            }
            shell.pump();
        });
    }

    /// A further object asks the first for the room's members (for an `auth:ok`);
    /// `None` when presence is off, or the first object did not answer.
    pub async fn room_members(&self) -> Option<Vec<String>> {
        let promise = self.call(0, &Internal::Members(hub_core::internal::shards::Members));
        let answer = self.answer_of(0, promise).await?;
        serde_json::from_str::<MemberList>(&answer).ok()?.members
    }

    /// Sends connection `id` the room's member list as presence `on` (after an
    /// `auth:ok` that could not list them), if presence is on room-wide.
    pub async fn send_members(&self, id: &str) {
        let Some(members) = self.room_members().await else {
            return;
        };
        let list: Vec<&str> = members.iter().map(String::as_str).collect();
        let frame = ServerFrame::Presence(Presence::On(&list)).encode();
        for ws in self.state.get_websockets_with_tag(id) {
            crate::fanout::send(&ws, &frame);
        }
    }

    /// The first object sends a control-plane request (`kind`'s body `body`) to every
    /// further object it opened; their answers, in shard order.
    pub async fn ask_further(&self, kind: Kind, body: &str) -> Vec<String> {
        let opened = match &*self.role.borrow() {
            Role::First(first) => first.opened(),
            Role::Further(_) => 0,
        };
        let Ok(request) = Internal::decode(kind, body) else {
            return Vec::new();
        };
        let calls: Vec<_> = (1..=opened).map(|k| (k, self.call(k, &request))).collect();
        let mut answers = Vec::new();
        for (shard, promise) in calls {
            if let Some(text) = self.answer_of(shard, promise).await {
                answers.push(text);
            }
        }
        answers
    }

    /// A new instance of the first object takes back the shards the previous one
    /// opened, and greets each: a further object that sees a new instance lists its
    /// users again, for room-wide presence.
    pub fn restore_shards(self: &Rc<Self>) {
        let shards = match self.store.shards() {
            Ok(shards) => shards,
            Err(e) => {
                console_error!("reading the room's shards failed: {e}");
                return;
            }
        };
        if shards.is_empty() {
            return;
        }
        let held = self.store.shard_users().unwrap_or_else(|e| {
            console_error!("reading the room's shard users failed: {e}");
            Vec::new()
        });
        let (greetings, users) = {
            let mut role = self.role.borrow_mut();
            let Role::First(first) = &mut *role else {
                return;
            };
            let users = first.restore(&shards, &held);
            let greetings: Vec<_> = (1..=first.opened())
                .map(|k| first.relay(k, Vec::new()))
                .collect();
            (greetings, users)
        };
        self.core.borrow_mut().restore_remote_users(&users);
        let calls = greetings
            .into_iter()
            .map(|hello| (hello.shard, self.call(hello.shard, &Internal::Relay(hello))))
            .collect();
        self.forget(calls);
    }

    /// When this instance started (Unix ms).
    pub fn epoch(&self) -> u64 {
        self.started_at
    }
}
