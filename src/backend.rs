//! The one call the hub makes to the Nativor backend: the participants check.
//! Builds the request from `auth`, bounds it in time and size, and returns the
//! outcome. Logs summarise failures and never include the token.

use crate::auth::{self, AuthOutcome};
use crate::config::Config;
use crate::net::{read_bounded, response_stream, timeout};
use crate::room_id::RoomId;
use std::time::Duration;
use worker::wasm_bindgen::JsValue;
use worker::{
    console_error, AbortController, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
};

pub struct CheckInput<'a> {
    pub room: &'a RoomId,
    pub token: &'a str,
    pub claimed_user_id: Option<&'a str>,
    pub connection_id: &'a str,
}

fn build_request(origin: &str, input: &CheckInput<'_>) -> worker::Result<Request> {
    let headers = Headers::new();
    headers.set("Authorization", &format!("Bearer {}", input.token))?;
    headers.set("Content-Type", "application/json")?;
    let body = auth::check_body(input.room, input.claimed_user_id, input.connection_id);
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(&body)))
        // A redirect is an answer, not an instruction: never follow it with the token.
        .with_redirect(RequestRedirect::Manual);
    Request::new_with_init(&auth::check_url(origin, input.room), &init)
}

pub async fn participants_check(config: &Config, input: CheckInput<'_>) -> AuthOutcome {
    let Some(origin) = config.backend_origin.as_deref() else {
        console_error!("participants check: BACKEND_ORIGIN is not configured");
        return AuthOutcome::Unavailable;
    };
    let request = match build_request(origin, &input) {
        Ok(r) => r,
        Err(_) => {
            console_error!("participants check: could not build the request");
            return AuthOutcome::Unavailable;
        }
    };
    let controller = AbortController::default();
    let signal = controller.signal();
    let call = async {
        let response = Fetch::Request(request).send_with_signal(&signal).await?;
        let status = response.status_code();
        let body = read_bounded(response_stream(response.body()), auth::MAX_RESPONSE_BYTES)
            .await
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        Ok::<_, worker::Error>((status, body))
    };
    let limit = Duration::from_millis(config.auth_check_timeout_ms);
    match timeout(limit, call).await {
        None => {
            controller.abort();
            console_error!(
                "participants check: timed out after {} ms (room {})",
                config.auth_check_timeout_ms,
                input.room
            );
            AuthOutcome::Unavailable
        }
        Some(Err(_)) => {
            console_error!("participants check: network error (room {})", input.room);
            AuthOutcome::Unavailable
        }
        Some(Ok((status, body))) => {
            let outcome = auth::judge(status, body.as_deref(), input.claimed_user_id);
            if outcome == AuthOutcome::Unavailable {
                console_error!(
                    "participants check: backend answered {status} (room {})",
                    input.room
                );
            }
            outcome
        }
    }
}
