//! Building the runtime's responses, shared by the Worker entry and the Durable
//! Object: the one JSON error shape, JSON and WebSocket answers, and turning a
//! handler's result (or its future) into what the runtime expects.

use wasm_bindgen_futures::future_to_promise;
use worker::wasm_bindgen::JsValue;
use worker::worker_sys::ext::ResponseInitExt;
use worker::{console_error, web_sys, Response, Result, WebSocket};

/// A JSON error in the one shape every endpoint uses:
/// `{"success":false,"error":{"code":…,"message":…}}`.
pub fn error(status: u16, code: &str, message: &str) -> Result<Response> {
    Ok(Response::from_json(&serde_json::json!({
        "success": false,
        "error": { "code": code, "message": message },
    }))?
    .with_status(status))
}

/// A JSON response on the runtime's own `Response` (no workers-rs conversion).
pub fn json_response(status: u16, body: &str) -> Result<web_sys::Response> {
    let headers = web_sys::Headers::new()?;
    headers.set("Content-Type", "application/json")?;
    let init = web_sys::ResponseInit::new();
    init.set_status(status);
    init.set_headers(&headers);
    Ok(web_sys::Response::new_with_opt_str_and_init(
        Some(body),
        &init,
    )?)
}

/// The `101 Switching Protocols` answer handing `client` to the runtime.
pub fn websocket_response(client: WebSocket) -> Result<web_sys::Response> {
    let mut init = web_sys::ResponseInit::new();
    init.set_status(101);
    init.websocket(client.as_ref())?;
    Ok(web_sys::Response::new_with_opt_str_and_init(None, &init)?)
}

/// The value a handler hands back to the runtime: the response, or a JSON 500 (and
/// a log line) when building it failed.
pub fn respond(answer: Result<web_sys::Response>) -> JsValue {
    match answer {
        Ok(response) => response.into(),
        Err(e) => {
            console_error!("internal error: {e}");
            match error(500, "internal", "internal error") {
                Ok(response) => web_sys::Response::from(response).into(),
                Err(_) => JsValue::UNDEFINED,
            }
        }
    }
}

/// The same for an answer that must await: a promise of the response. Only paths
/// that read a body or call out pay for a future (a task and a microtask per poll).
pub fn respond_later(
    answer: impl std::future::Future<Output = Result<web_sys::Response>> + 'static,
) -> JsValue {
    future_to_promise(async move { Ok(respond(answer.await)) }).into()
}
