//! A development stand-in for the Nativor backend, used by `npm run dev` and by the
//! end-to-end tests. It implements the two contracts the hub relies on:
//!
//! * `POST /api/v1/message-rooms/:roomId/participants/check` — the hub's auth call.
//!   Development tokens (sent as `Authorization: Bearer <token>`):
//!
//!   | token                  | answer                                               |
//!   |------------------------|------------------------------------------------------|
//!   | `dev:<userId>`         | 200 `{"userId":"<userId>"}`                          |
//!   | `dev:<userId>:ttl=<s>` | 200 `{"userId":"<userId>","expiresAt":<now + s>}` (ms) |
//!   | `anon`                 | 200 `{}` (the hub falls back to the claimed userId)  |
//!   | `deny:<anything>`      | 403                                                  |
//!   | `status:<code>`        | that status (`status:302` adds a `Location`)         |
//!   | `slow:<ms>:<userId>`   | waits `<ms>`, then 200 `{"userId":"<userId>"}`       |
//!   | `text:<userId>`        | 200 with a body that is not JSON                     |
//!   | `huge:<userId>`        | 200 with a 1 MiB JSON body                           |
//!   | `bench:<userId>`       | 200 `{"userId":…}` after the bench mode's cost, at most its concurrency at once (at once without it) |
//!   | anything else          | 401                                                  |
//!
//! * `POST /api/v1/message-rooms/:roomId/messages` with `Authorization: Bearer dev:<userId>`
//!   and `{"text":"…","connectionId":"…"?}` — keeps the message in memory and publishes
//!   it through the hub's `POST /api/broadcast` with an `idempotencyKey`, excluding the sender's connection, then
//!   `conversation:updated` to the room's participants' personal channels
//!   (`POST /api/users/broadcast`): the whole backend integration loop, as a reference
//!   for the backend team.
//!
//! * `POST /api/v1/users/:userId/sessions/check` — a personal channel's check: the same
//!   tokens, with an optional last part `:watch=<id>,<id>,…` for its watchlist (see
//!   `personal`); without it, everyone who shares a room with the user.
//!
//! * `DELETE /api/v1/message-rooms/:roomId/participants/:userId` — removes a participant:
//!   its checks for that room answer 403 from then on, and its live sockets are taken away
//!   through the hub's `POST /api/rooms/:roomId/disconnect`.
//!
//! Every request is recorded (path, headers of interest, body) so tests can assert
//! exactly what the hub sent.
//!
//! CORS is permissive (any origin; preflights are answered and not recorded) so the demo page
//! served by the hub (`public/index.html`, another origin) can call the messages endpoint
//! from a browser. This is the development backend only: the hub's own `/api/*` sends no
//! CORS headers.

mod checks;
mod messages;
mod personal;

pub use checks::{answer_for_token, dev_user};
use checks::{dev_stats, participants_check};
use messages::{create_message, list_messages, remove_participant};
use personal::sessions_check;
pub use personal::split_watch;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Where the hub is and how to authenticate to its broadcast API.
#[derive(Clone, Debug)]
pub struct Options {
    /// e.g. `http://127.0.0.1:8787`
    pub hub_origin: String,
    pub webhook_token: String,
    /// The benchmark's saturating backend: what `bench:<userId>` checks cost.
    pub bench: BenchMode,
}

/// A backend under a storm saturates: each `bench:` check takes `cost_ms`, and at most
/// `concurrency` run at once (the others queue). 0 concurrency: no cost, no cap.
#[derive(Clone, Copy, Debug, Default)]
pub struct BenchMode {
    pub cost_ms: u64,
    pub concurrency: usize,
}

/// One request the backend received, as the tests see it.
#[derive(Clone, Debug, Serialize)]
pub struct Recorded {
    pub method: String,
    /// The raw request path, still percent-encoded, as the hub sent it.
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Value,
}

#[derive(Clone, Debug, Serialize)]
pub struct StoredMessage {
    pub id: String,
    #[serde(rename = "roomId")]
    pub room_id: String,
    #[serde(rename = "userId")]
    pub user_id: String,
    pub text: String,
}

pub struct AppState {
    options: Options,
    http: reqwest::Client,
    requests: Mutex<Vec<Recorded>>,
    messages: Mutex<Vec<StoredMessage>>,
    /// (room, user) pairs removed through the remove-participant endpoint.
    removed: Mutex<std::collections::HashSet<(String, String)>>,
    /// Participants checks received, all rooms (`GET /api/dev/stats`).
    checks: std::sync::atomic::AtomicU64,
    /// Admits `bench:` checks `BenchMode::concurrency` at a time.
    bench_gate: tokio::sync::Semaphore,
    /// Who takes part in each room, as far as this backend saw (`personal`).
    rooms: Mutex<std::collections::HashMap<String, std::collections::BTreeSet<String>>>,
}

impl AppState {
    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn messages(&self) -> Vec<StoredMessage> {
        self.messages.lock().map(|m| m.clone()).unwrap_or_default()
    }

    fn record(&self, method: &Method, uri: &OriginalUri, headers: &HeaderMap, body: &[u8]) {
        let text = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let entry = Recorded {
            method: method.to_string(),
            path: uri.0.path().to_owned(),
            authorization: text(header::AUTHORIZATION),
            content_type: text(header::CONTENT_TYPE),
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
        };
        if let Ok(mut r) = self.requests.lock() {
            r.push(entry);
        }
    }
}

/// A running development backend.
pub struct DevBackend {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    task: JoinHandle<()>,
}

impl DevBackend {
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for DevBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/api/v1/message-rooms/{room}/participants/check",
            post(participants_check),
        )
        .route(
            "/api/v1/message-rooms/{room}/messages",
            post(create_message).get(list_messages),
        )
        .route(
            "/api/v1/message-rooms/{room}/participants/{user}",
            axum::routing::delete(remove_participant),
        )
        .route("/api/v1/users/{user}/sessions/check", post(sessions_check))
        .route("/api/dev/stats", axum::routing::get(dev_stats))
        .fallback(unknown)
        .with_state(state)
        .layer(middleware::from_fn(cors))
}

/// Permissive CORS for the browser demo: answers preflights (`OPTIONS` with
/// `Access-Control-Request-Method`) itself and lets any origin read every response.
/// No credentials are involved: the demo sends its token in `Authorization`.
async fn cors(request: Request, next: Next) -> Response {
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
        );
        // `*` does not cover `Authorization`, so name the headers.
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        next.run(request).await
    };
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// Starts the backend on `addr` (port 0 picks a free port).
pub async fn start(addr: SocketAddr, options: Options) -> std::io::Result<DevBackend> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(AppState {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(std::io::Error::other)?,
        requests: Mutex::new(Vec::new()),
        messages: Mutex::new(Vec::new()),
        removed: Mutex::new(std::collections::HashSet::new()),
        checks: std::sync::atomic::AtomicU64::new(0),
        bench_gate: tokio::sync::Semaphore::new(options.bench.concurrency),
        rooms: Mutex::new(std::collections::HashMap::new()),
        options,
    });
    let app = router(state.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(DevBackend { addr, state, task })
}

async fn unknown(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.record(&method, &uri, &headers, &body);
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "no such endpoint" })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn backend() -> DevBackend {
        start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Options {
                // Nothing listens here: the broadcast fails, the message is still stored.
                hub_origin: "http://127.0.0.1:9".to_owned(),
                webhook_token: "t".to_owned(),
                bench: BenchMode {
                    cost_ms: 20,
                    concurrency: 2,
                },
            },
        )
        .await
        .expect("start the dev backend")
    }

    #[tokio::test]
    async fn cors_preflight_is_answered_and_not_recorded() {
        let b = backend().await;
        let resp = reqwest::Client::new()
            .request(
                Method::OPTIONS,
                format!("{}/api/v1/message-rooms/room-1/messages", b.origin()),
            )
            .header("Origin", "http://127.0.0.1:8787")
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization,content-type",
            )
            .send()
            .await
            .expect("preflight");
        assert_eq!(resp.status().as_u16(), 204);
        let h = resp.headers();
        assert_eq!(h["access-control-allow-origin"], "*");
        assert!(h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST"));
        let allowed = h["access-control-allow-headers"].to_str().unwrap();
        assert!(allowed.contains("authorization") && allowed.contains("content-type"));
        assert!(b.state.requests().is_empty());
    }

    #[tokio::test]
    async fn every_response_may_be_read_by_any_origin() {
        let b = backend().await;
        let http = reqwest::Client::new();
        let url = format!("{}/api/v1/message-rooms/room-1/messages", b.origin());
        let created = http
            .post(&url)
            .bearer_auth("dev:alice")
            .json(&json!({"text": "hi", "connectionId": "c1"}))
            .send()
            .await
            .expect("post");
        assert_eq!(created.status().as_u16(), 201);
        assert_eq!(created.headers()["access-control-allow-origin"], "*");
        let refused = http.post(&url).json(&json!({"text": "x"})).send().await;
        let refused = refused.expect("post without a token");
        assert_eq!(refused.status().as_u16(), 401);
        assert_eq!(refused.headers()["access-control-allow-origin"], "*");
        let list = http.get(&url).send().await.expect("list");
        assert_eq!(list.headers()["access-control-allow-origin"], "*");
        let body: Value = list.json().await.expect("JSON");
        assert_eq!(body["messages"][0]["text"], "hi");
    }

    #[tokio::test]
    async fn bench_checks_queue_behind_the_concurrency_and_are_counted() {
        let b = backend().await;
        let http = reqwest::Client::new();
        let url = format!("{}/api/v1/message-rooms/r/participants/check", b.origin());
        let started = std::time::Instant::now();
        let calls: Vec<_> = (0..6)
            .map(|i| {
                let request = http
                    .post(&url)
                    .bearer_auth(format!("bench:u{i}"))
                    .body("{}");
                tokio::spawn(async move { request.send().await })
            })
            .collect();
        for call in calls {
            let resp = call.await.expect("task").expect("check");
            assert_eq!(resp.status().as_u16(), 200);
        }
        // Six checks of 20 ms, two at a time: at least three rounds.
        assert!(started.elapsed() >= Duration::from_millis(60));
        let stats: Value = http
            .get(format!("{}/api/dev/stats", b.origin()))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("JSON");
        assert_eq!(stats["checks"], 6);
    }
}
