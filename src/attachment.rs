//! A socket's [`Session`] as its hibernation attachment: one JSON string, read and
//! written through the runtime's own calls (no serde_wasm_bindgen round trip).

use hub_core::session::Session;
use worker::wasm_bindgen::JsValue;
use worker::worker_sys::ext::WebSocketExt;
use worker::{web_sys, WebSocket};

/// The socket's session; `None` when the attachment is missing or unreadable.
pub fn read(ws: &WebSocket) -> Option<Session> {
    let raw: &web_sys::WebSocket = ws.as_ref();
    let text = raw.deserialize_attachment().ok()?.as_string()?;
    Session::from_attachment(&text)
}

/// Stores the session on the socket; false when the runtime refused.
pub fn write(ws: &WebSocket, session: &Session) -> bool {
    let raw: &web_sys::WebSocket = ws.as_ref();
    raw.serialize_attachment(JsValue::from_str(&session.to_attachment()))
        .is_ok()
}
