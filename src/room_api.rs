//! The room's answers to the Worker's internal requests (`hub_core::internal`): one
//! arm per registered endpoint, each one core call plus the storage read its answer
//! needs, answered as the endpoint's typed answer.

use crate::chat_room::Shell;
use crate::effects::now_ms;
use crate::respond::json_response;
use crate::shards::Role;
use hub_core::internal::personal::{Heard, UserState, Watched};
use hub_core::internal::shards::{MemberList, RelayDone, Relayed, Reported};
use hub_core::internal::{
    answer_json, audit::Events, broadcast::Sent, connections::Listed, disconnect::Disconnected,
    stats::Counts, Delivery, Internal, Kind,
};
use hub_core::shard::merge;
use std::rc::Rc;
use wasm_bindgen_futures::JsFuture;
use worker::console_error;
use worker::{web_sys, Result};

impl Shell {
    /// Answers one internal request of `kind`.
    pub async fn answer(
        self: Rc<Self>,
        kind: Kind,
        req: web_sys::Request,
    ) -> Result<web_sys::Response> {
        let body = JsFuture::from(req.text()?)
            .await?
            .as_string()
            .unwrap_or_default();
        let Ok(request) = Internal::decode(kind, &body) else {
            return Err(format!("the Worker sent a {} the room cannot decode", kind.name()).into());
        };
        let now = now_ms();
        let answer = match request {
            Internal::Broadcast(delivery) => {
                // A room spread over several objects relays the broadcast first, then
                // fans out here: its further objects start at once. Both before any
                // await, so each link carries the room's order.
                let relayed = self.spans_objects()
                    && !self.with_core(|core, io| core.is_repeat(&delivery, now, io));
                let calls = if relayed {
                    self.relay(&[Relayed::Broadcast {
                        message: delivery.message.to_owned(),
                        exclude: delivery.exclude.clone(),
                        user_ids: delivery.user_ids.clone(),
                    }])
                } else {
                    Vec::new()
                };
                let published = self.with_core(|core, io| core.on_broadcast(&delivery, now, io));
                let mut delivered = published.delivered;
                if !calls.is_empty() {
                    delivered += self.delivered_by(calls).await;
                    if let Some(key) = &delivery.idempotency_key {
                        self.with_core(|core, io| core.on_broadcast_total(key, delivered, now, io));
                    }
                }
                answer_json(&Sent {
                    success: true,
                    delivered,
                    duplicate: published.duplicate,
                })
            }
            Internal::Disconnect(d) => {
                let mut closed = self.with_core(|core, io| core.on_disconnect(&d, now, io));
                for answer in self.ask_further(kind, &body).await {
                    closed +=
                        serde_json::from_str::<Disconnected>(&answer).map_or(0, |d| d.disconnected);
                }
                answer_json(&Disconnected {
                    success: true,
                    disconnected: closed,
                })
            }
            Internal::Audit(audit) => {
                let limit = audit.limit;
                let events = match self.with_core(|core, io| core.audit_events(limit, now, io)) {
                    Some(in_memory) => in_memory,
                    None => self.store.audit(limit)?,
                };
                let own = answer_json(&Events {
                    success: true,
                    events,
                });
                self.merged(kind, &body, own, |all| merge::audit(all, limit))
                    .await
            }
            Internal::Connections(_) => {
                let rows = match self.with_core(|core, io| core.connection_rows(now, io)) {
                    Some(in_memory) => in_memory,
                    None => self.store.rows()?,
                };
                let own = answer_json(&Listed::of(rows));
                self.merged(kind, &body, own, merge::connections).await
            }
            Internal::Stats(_) => {
                let own = self.counts(now);
                let further: Vec<Counts> = self
                    .ask_further(kind, &body)
                    .await
                    .iter()
                    .filter_map(|a| serde_json::from_str(a).ok())
                    .collect();
                answer_json(&merge::stats(own, &further))
            }
            Internal::Relay(relay) => {
                self.become_further(relay.shard);
                let due = match &mut *self.role.borrow_mut() {
                    Role::Further(further) => further.relay(relay),
                    Role::First(_) => Vec::new(),
                };
                let delivered = self.deliver_relayed(due, now);
                answer_json(&RelayDone { delivered })
            }
            Internal::Report(report) => {
                let from = report.shard;
                let sockets = report.sockets;
                let news = match &mut *self.role.borrow_mut() {
                    Role::First(first) => first.report(report),
                    Role::Further(_) => Default::default(),
                };
                if let Err(e) = self.store.save_shard(from, sockets) {
                    console_error!("recording a shard's sockets failed: {e}");
                }
                for (user, present, _) in &news.users {
                    if let Err(e) = self.store.save_shard_user(from, user, *present) {
                        console_error!("recording a shard's user failed: {e}");
                    }
                }
                for (user, present, via) in news.users {
                    self.with_core(|core, io| {
                        core.on_remote_user(&user, present, via.as_deref(), now, io)
                    });
                }
                for (frame, except) in news.frames {
                    self.with_core(|core, io| {
                        core.on_relayed_frame(&frame, except.as_deref(), now, io)
                    });
                    let event = Relayed::Frame { frame, except };
                    self.relay_frame(event, Some(from));
                }
                answer_json(&Reported {
                    epoch: self.epoch(),
                })
            }
            Internal::Members(_) => {
                let members = self.with_core(|core, io| core.member_list(now, io));
                answer_json(&MemberList { members })
            }
            Internal::Watch(watch) => {
                let r = self.with_core(|core, io| core.on_watch(&watch.watcher, now, io));
                answer_json(&Watched {
                    online: r.online,
                    at: r.at,
                    live: r.live,
                })
            }
            Internal::Status(status) => {
                let watching = self.with_core(|core, io| {
                    core.on_user_status(&status.user, status.online, status.at, now, io)
                });
                answer_json(&Heard { watching })
            }
            Internal::State(_) => {
                let (online, connections) = self.with_core(|core, io| core.user_status(now, io));
                answer_json(&UserState {
                    online,
                    connections,
                })
            }
        };
        json_response(200, &answer)
    }

    /// A further object delivers what the first relayed, in order; returns the
    /// sockets its broadcasts reached.
    fn deliver_relayed(self: &Rc<Self>, due: Vec<Relayed>, now: u64) -> usize {
        let mut delivered = 0;
        for event in due {
            match event {
                Relayed::Broadcast {
                    message,
                    exclude,
                    user_ids,
                } => {
                    let delivery = Delivery {
                        message: &message,
                        exclude,
                        user_ids,
                        idempotency_key: None,
                    };
                    let published =
                        self.with_core(|core, io| core.on_broadcast(&delivery, now, io));
                    delivered += published.delivered;
                }
                Relayed::Frame { frame, except } => {
                    self.with_core(|core, io| {
                        core.on_relayed_frame(&frame, except.as_deref(), now, io)
                    });
                }
                Relayed::Revoked { records } => {
                    self.with_core(|core, io| core.adopt_revocations(&records, io));
                }
            }
        }
        delivered
    }

    /// This object's answer (`own`, JSON) merged with every further object's.
    async fn merged(
        self: &Rc<Self>,
        kind: Kind,
        body: &str,
        own: String,
        merge: impl FnOnce(&[&str]) -> String,
    ) -> String {
        let further = self.ask_further(kind, body).await;
        if further.is_empty() {
            return own;
        }
        let all: Vec<&str> = std::iter::once(own.as_str())
            .chain(further.iter().map(String::as_str))
            .collect();
        merge(&all)
    }

    fn counts(self: &Rc<Self>, now: u64) -> Counts {
        // Counted after expired members left and pending rows were written: exact.
        let (connections, authenticated, (checks_in_flight, checks_queued), send_cost_ns) = self
            .with_core(|core, io| {
                core.settle(now, io);
                let (n, a) = (core.connections(), core.authenticated());
                (n, a, core.checks(), core.send_cost_ns())
            });
        Counts {
            connections,
            // Every socket the runtime still holds, half-closed ones included: above
            // `connections` only while closes are waiting for the client's answer.
            runtime_sockets: self.state.get_websockets().len(),
            authenticated,
            checks_in_flight,
            checks_queued,
            send_cost_ns,
            stored_connections: self.store.count().unwrap_or(0),
            instance_started_at: self.started_at,
            wasm_memory_bytes: wasm_memory_bytes(),
            shards: 1,
        }
    }
}

/// The isolate's wasm linear memory (it only ever grows), for the stats endpoint.
fn wasm_memory_bytes() -> usize {
    #[cfg(target_arch = "wasm32")]
    {
        core::arch::wasm32::memory_size(0) * 65_536
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}
