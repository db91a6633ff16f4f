//! Delivery of one payload to many sockets: encoded once, converted to a JS string
//! once, then handed to each socket's `send`. The per-socket cost is the runtime's
//! own `send`, nothing else (no attachment reads, no re-serialization, no copies).

use hub_core::protocol::{ClientError, ServerFrame};
use wasm_bindgen::prelude::*;
use worker::js_sys::JsString;
use worker::wasm_bindgen::JsCast;
use worker::{web_sys, WebSocket};

#[wasm_bindgen]
extern "C" {
    /// The runtime's WebSocket, seen only through the `send` we need.
    type RawSocket;

    /// `WebSocket.send` taking an existing JS string, so the payload is not copied
    /// out of wasm memory again for every socket.
    #[wasm_bindgen(method, catch, js_name = send)]
    fn send_js_string(this: &RawSocket, data: &JsString) -> Result<(), JsValue>;
}

/// Sends `payload` to every socket of `to`; returns how many sends succeeded.
/// A failed send means the socket is closing: its close event will clean it up.
pub fn deliver<'a>(payload: &str, to: impl Iterator<Item = &'a WebSocket>) -> usize {
    let data = JsString::from(payload);
    let mut delivered = 0;
    for ws in to {
        let socket: &web_sys::WebSocket = ws.as_ref();
        if socket
            .unchecked_ref::<RawSocket>()
            .send_js_string(&data)
            .is_ok()
        {
            delivered += 1;
        }
    }
    delivered
}

/// Sends one frame to one socket, ignoring a socket that is already closing.
pub fn send(ws: &WebSocket, payload: &str) {
    let _ = ws.send_with_str(payload);
}

/// Sends `{"type":"error",…}` to one socket.
pub fn send_error(ws: &WebSocket, e: &ClientError) {
    send(ws, &ServerFrame::Error(e).encode());
}
