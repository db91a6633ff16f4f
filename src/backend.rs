//! The one call the hub makes to the Nativor backend: the participants check.
//! Builds the request from `auth`, bounds it in time and size, and returns the
//! outcome. Logs summarise failures and never include the token.

use crate::net::{read_bounded, unless_cancelled, Cancel};
use hub_core::auth::{self, AuthOutcome, Body};
use hub_core::channel::Channel;
use hub_core::config::Config;
use worker::console_error;
use worker::js_sys;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{self, AbortController, AbortSignal, WorkerGlobalScope};

pub struct CheckInput<'a> {
    pub channel: &'a Channel,
    pub token: &'a str,
    pub claimed_user_id: Option<&'a str>,
    pub connection_id: &'a str,
}

/// The call itself, straight on the runtime's `fetch` and `Response`, with the body
/// read in one call when its declared length fits: in a perf profile of handshakes,
/// the general-purpose wrappers (request and response conversions, a chunked read)
/// cost more than the call itself (docs/benchmarks.md, "Design decisions and the
/// measurements behind them"). `Err` is a network error.
async fn call(
    url: &str,
    input: &CheckInput<'_>,
    signal: &AbortSignal,
) -> Result<(u16, Option<String>), JsValue> {
    let body = auth::check_body(input.channel, input.claimed_user_id, input.connection_id);
    let init: web_sys::RequestInit =
        js_sys::JSON::parse(&auth::check_init(input.token, &body))?.unchecked_into();
    init.set_signal(Some(signal));
    let global: WorkerGlobalScope = js_sys::global().unchecked_into();
    let response: web_sys::Response = JsFuture::from(global.fetch_with_str_and_init(url, &init))
        .await?
        .unchecked_into();
    let headers = response.headers();
    let header = |name| headers.get(name).ok().flatten();
    // A compressed body is decoded as it is read: its declared length says nothing
    // about its decoded size, so it is read with the bound.
    let compressed =
        header("Content-Encoding").is_some_and(|e| !e.eq_ignore_ascii_case("identity"));
    let declared = header("Content-Length")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|_| !compressed);
    // `None`: unreadable (see `auth::judge`).
    let text = match declared {
        Some(len) if len <= auth::MAX_RESPONSE_BYTES => match response.text() {
            Ok(p) => JsFuture::from(p).await.ok().and_then(|t| t.as_string()),
            Err(_) => None,
        },
        // No usable declared length, or too long: read at most the limit, then give up.
        _ => read_bounded(response.body(), auth::MAX_RESPONSE_BYTES)
            .await
            .ok()
            .and_then(|b| String::from_utf8(b).ok()),
    };
    Ok((response.status(), text))
}

/// Runs the check until it answers or `cancel` fires (the room fires it when the
/// check's time, `AUTH_CHECK_TIMEOUT_MS`, is up, or when its socket is gone).
pub async fn participants_check(
    config: &Config,
    input: CheckInput<'_>,
    cancel: &Cancel,
) -> AuthOutcome {
    let Some(origin) = config.backend_origin.as_deref() else {
        console_error!("participants check: BACKEND_ORIGIN is not configured");
        return AuthOutcome::Unavailable;
    };
    let url = auth::check_url(origin, input.channel);
    // No timer of its own: the room's one deadline timer fires `cancel`. A timer per
    // check was a measurable cost of every handshake in a perf profile (the figure:
    // docs/benchmarks.md, "Design decisions and the measurements behind them");
    // `AbortSignal.timeout` would be cheaper but its timer outlives the call and keeps
    // the room from hibernating.
    let Ok(controller) = AbortController::new() else {
        return AuthOutcome::Unavailable;
    };
    match unless_cancelled(cancel, call(&url, &input, &controller.signal())).await {
        None => {
            controller.abort();
            // Never the room id: room ids can hold user ids.
            console_error!(
                "participants check: no answer within {} ms",
                config.auth_check_timeout_ms
            );
            AuthOutcome::Unavailable
        }
        Some(Err(_)) => {
            console_error!("participants check: network error");
            AuthOutcome::Unavailable
        }
        Some(Ok((status, body))) => {
            let body = body.as_deref().map_or(Body::Unreadable, Body::Text);
            let outcome = auth::judge(
                status,
                body,
                input.claimed_user_id,
                input.channel.is_personal(),
            );
            if outcome == AuthOutcome::Unavailable {
                console_error!("participants check: backend answered {status}, unusable");
            }
            outcome
        }
    }
}
