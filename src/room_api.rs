//! The room's answers to the Worker's internal requests (`hub_core::internal`): one
//! arm per registered endpoint, each one core call plus the storage read its answer
//! needs, answered as the endpoint's typed answer.

use crate::chat_room::Shell;
use crate::effects::now_ms;
use crate::respond::json_response;
use hub_core::internal::{
    answer_json, audit::Events, broadcast::Sent, connections::Listed, disconnect::Disconnected,
    stats::Counts, Internal, Kind,
};
use std::rc::Rc;
use wasm_bindgen_futures::JsFuture;
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
                let published = self.with_core(|core, io| core.on_broadcast(&delivery, now, io));
                answer_json(&Sent {
                    success: true,
                    delivered: published.delivered,
                    duplicate: published.duplicate,
                })
            }
            Internal::Disconnect(d) => {
                let closed = self.with_core(|core, io| core.on_disconnect(&d, now, io));
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
                answer_json(&Events {
                    success: true,
                    events,
                })
            }
            Internal::Connections(_) => {
                let rows = match self.with_core(|core, io| core.connection_rows(now, io)) {
                    Some(in_memory) => in_memory,
                    None => self.store.rows()?,
                };
                answer_json(&Listed::of(rows))
            }
            Internal::Stats(_) => answer_json(&self.counts(now)),
        };
        json_response(200, &answer)
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
