//! The room's answers to the Worker's internal requests (`hub_core::internal`):
//! broadcast, disconnect, the connections list and the stats. Each is one core call
//! plus the storage read its answer needs.

use crate::chat_room::Shell;
use crate::effects::now_ms;
use crate::respond::json_response;
use hub_core::audit;
use hub_core::internal::{Internal, Kind};
use hub_core::journal;
use std::rc::Rc;
use wasm_bindgen_futures::JsFuture;
use worker::{web_sys, Result};

impl Shell {
    pub async fn broadcast(self: Rc<Self>, req: web_sys::Request) -> Result<web_sys::Response> {
        let body = JsFuture::from(req.text()?)
            .await?
            .as_string()
            .unwrap_or_default();
        let Ok(Internal::Broadcast(delivery)) = Internal::decode(Kind::Broadcast, &body) else {
            return Err("the Worker sent a broadcast the room cannot decode".into());
        };
        let published = self.with_core(|core, io| core.on_broadcast(&delivery, now_ms(), io));
        let delivered = published.delivered;
        let body = if published.duplicate {
            format!(r#"{{"success":true,"delivered":{delivered},"duplicate":true}}"#)
        } else {
            format!(r#"{{"success":true,"delivered":{delivered}}}"#)
        };
        json_response(200, &body)
    }

    pub async fn disconnect(self: Rc<Self>, req: web_sys::Request) -> Result<web_sys::Response> {
        let body = JsFuture::from(req.text()?)
            .await?
            .as_string()
            .unwrap_or_default();
        let Ok(Internal::Disconnect(d)) = Internal::decode(Kind::Disconnect, &body) else {
            return Err("the Worker sent a disconnect the room cannot decode".into());
        };
        let closed = self.with_core(|core, io| core.on_disconnect(&d, now_ms(), io));
        json_response(
            200,
            &format!(r#"{{"success":true,"disconnected":{closed}}}"#),
        )
    }

    pub async fn audit(self: Rc<Self>, req: web_sys::Request) -> Result<web_sys::Response> {
        let body = JsFuture::from(req.text()?)
            .await?
            .as_string()
            .unwrap_or_default();
        let Ok(Internal::Audit { limit }) = Internal::decode(Kind::Audit, &body) else {
            return Err("the Worker sent an audit request the room cannot decode".into());
        };
        let events = match self.with_core(|core, io| core.audit_events(limit, now_ms(), io)) {
            Some(in_memory) => in_memory,
            None => self.store.audit(limit)?,
        };
        json_response(200, &audit::events_json(&events))
    }

    pub fn connections(self: &Rc<Self>) -> Result<web_sys::Response> {
        let rows = match self.with_core(|core, io| core.connection_rows(now_ms(), io)) {
            Some(in_memory) => in_memory,
            None => self.store.rows()?,
        };
        json_response(200, &journal::connections_json(rows))
    }

    pub fn stats(self: &Rc<Self>) -> Result<web_sys::Response> {
        // The table is read after pending row changes are written, so it is exact.
        let (connections, authenticated) = self.with_core(|core, io| {
            core.settle(now_ms(), io);
            (core.connections(), core.authenticated())
        });
        let body = serde_json::json!({
            "connections": connections,
            // Every socket the runtime still holds, half-closed ones included: above
            // `connections` only while closes are waiting for the client's answer.
            "runtimeSockets": self.state.get_websockets().len(),
            "authenticated": authenticated,
            "storedConnections": self.store.count().unwrap_or(0),
            "instanceStartedAt": self.started_at,
            "wasmMemoryBytes": wasm_memory_bytes(),
        });
        json_response(200, &body.to_string())
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
