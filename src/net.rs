//! Small async helpers the runtime does not provide: racing a future against a
//! timer or a cancellation, reading a body with an upper bound, and a cheaper way
//! to schedule futures.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::{Poll, Waker};
use std::time::Duration;
use worker::js_sys::{self, Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{ReadableStream, ReadableStreamDefaultReader};
use worker::Delay;

/// Makes the Rust futures executor schedule its polls with a resolved promise's `then`
/// instead of `queueMicrotask`. Both run the same microtask, but workerd wraps every
/// `queueMicrotask` callback in a new function to carry its async context, and a perf
/// profile of handshakes showed that wrapper as a sizeable share of each handshake's CPU
/// (the figure: docs/benchmarks.md, "Design decisions and the measurements behind
/// them"). The executor picks its scheduler once, when first used, so `queueMicrotask`
/// is hidden from the global scope for exactly that moment (module start), then
/// restored.
pub fn schedule_futures_with_promises() {
    let global = js_sys::global();
    let key = JsValue::from_str("queueMicrotask");
    let Ok(original) = Reflect::get(&global, &key) else {
        return;
    };
    if Reflect::set(&global, &key, &JsValue::UNDEFINED) != Ok(true) {
        return;
    }
    worker::wasm_bindgen_futures::spawn_local(async {});
    let _ = Reflect::set(&global, &key, &original);
}

/// Runs `fut` until it completes or `stop` does; `None` when `stop` won. The loser
/// is dropped: a dropped `Delay` clears its JS timeout, so nothing keeps the Durable
/// Object awake afterwards.
async fn unless<F: Future>(fut: F, stop: impl Future) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut stop = pin!(stop);
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if stop.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Ends a [`sleep`] early. Firing it wakes the sleeper, whose `Delay` is then dropped
/// and its JS timeout cleared, so a cancelled timer costs nothing afterwards.
#[derive(Default)]
pub struct Cancel {
    fired: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Cancel {
    pub fn fire(&self) {
        self.fired.set(true);
        let waker = self.waker.borrow_mut().take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Completes when `cancel` fires.
async fn fired(cancel: &Cancel) {
    poll_fn(|cx| {
        if cancel.fired.get() {
            return Poll::Ready(());
        }
        *cancel.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    })
    .await
}

/// Runs `fut` until it completes or `cancel` fires; `None` when cancelled.
pub async fn unless_cancelled<F: Future>(cancel: &Cancel, fut: F) -> Option<F::Output> {
    unless(fut, fired(cancel)).await
}

/// Sleeps for `limit` unless `cancel` fires first; true when the full time passed.
pub async fn sleep(limit: Duration, cancel: &Cancel) -> bool {
    unless(fired(cancel), Delay::from(limit)).await.is_none()
}

/// Why a bounded read stopped.
#[derive(Debug)]
pub enum ReadError {
    TooLarge,
    Failed,
}

/// Reads a whole body, refusing (and cancelling the stream) once it exceeds `limit`
/// bytes, so an oversized body is never buffered in full.
pub async fn read_bounded(
    stream: Option<ReadableStream>,
    limit: usize,
) -> Result<Vec<u8>, ReadError> {
    let Some(stream) = stream else {
        return Ok(Vec::new());
    };
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut out = Vec::new();
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|_| ReadError::Failed)?;
        let done = Reflect::get(&chunk, &JsValue::from_str("done"))
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            return Ok(out);
        }
        let value: Uint8Array = Reflect::get(&chunk, &JsValue::from_str("value"))
            .map_err(|_| ReadError::Failed)?
            .dyn_into()
            .map_err(|_| ReadError::Failed)?;
        let len = value.length() as usize;
        if out.len() + len > limit {
            let _ = reader.cancel();
            return Err(ReadError::TooLarge);
        }
        let start = out.len();
        out.resize(start + len, 0);
        value.copy_to(&mut out[start..]);
    }
}
