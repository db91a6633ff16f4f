//! Joining rooms and reading frames cheaply: no JSON parsing on the hot path, only
//! a scan for the one number a scenario needs.

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub type Ws = WebSocketStream<crate::deflate::Stream>;
pub type Reader = SplitStream<Ws>;
pub type Writer = SplitSink<Ws, Message>;

/// An authenticated socket and how long connect + auth took.
pub struct Joined {
    pub ws: Ws,
    pub handshake: Duration,
    /// The `auth:ok` frame's text.
    pub auth_ok: String,
    /// The upgrade response's `Sec-WebSocket-Extensions` (None: no such header).
    pub extensions: Option<String>,
}

fn config() -> WebSocketConfig {
    // tungstenite zero-fills its read buffer on every read; 128 KiB of it per message
    // made the load generator the bottleneck in a probe. 4 KiB fits every frame here.
    WebSocketConfig::default().read_buffer_size(4096)
}

/// How long ending one socket may take.
const CLOSE_WITHIN: Duration = Duration::from_secs(2);

/// Ends sockets as a client (a browser) does, with a close frame each, concurrently and
/// bounded in time (not waiting for the answer), outside any measured window: every
/// server sees the same closes. How soon a server lets go of its descriptors depends
/// mostly on the server: this hub answers every close (and closes a socket whose client
/// left without one), and workerd 2026-11-17 then frees most of them within a second
/// (two if the client sent no close frame), all within ~6 s; a server that never answers
/// (the floor; the baseline for a close without a code, which it cannot echo) keeps each
/// socket in CLOSE-WAIT until its object goes idle, ~10 s, close frame or not.
/// `probe::settle` waits for that between scenarios.
pub async fn close_all(writers: Vec<Writer>) {
    futures_util::future::join_all(writers.into_iter().map(|mut w| async move {
        let _ = tokio::time::timeout(CLOSE_WITHIN, w.send(Message::Close(None))).await;
    }))
    .await;
}

/// The same for sockets that were never split.
pub async fn close_joined(joined: Vec<Joined>) {
    futures_util::future::join_all(joined.into_iter().map(|mut j| async move {
        let _ = tokio::time::timeout(CLOSE_WITHIN, j.ws.close(None)).await;
    }))
    .await;
}

/// Connects to `room` and authenticates with `token` (asking for `batch` frames when
/// `batch` is set); fails unless `auth:ok` arrives.
/// With `deflate`, the upgrade offers permessage-deflate as a browser does (see
/// `crate::deflate`).
pub async fn join_with(
    origin: &str,
    room: &str,
    token: &str,
    batch: bool,
    deflate: bool,
) -> Result<Joined, String> {
    connect(origin, room, token, None, batch, deflate)
        .await
        .map_err(|e| match e {
            Refused::Connect(e) => format!("connect to {room}: {e}"),
            Refused::Auth(answer) => format!("auth in {room}: {answer}"),
        })
}

/// How an attempt to get back into a room failed.
#[derive(Debug)]
pub enum Refused {
    /// No connection (the server is down or not listening yet).
    Connect(String),
    /// Connected, but the hub answered this error code (or nothing usable).
    Auth(String),
}

/// Connects and authenticates as a reconnecting client does: with its resume ticket,
/// when it has one.
pub async fn rejoin(
    origin: &str,
    room: &str,
    token: &str,
    resume: Option<&str>,
    batch: bool,
) -> Result<Joined, Refused> {
    connect(origin, room, token, resume, batch, false).await
}

/// `rejoin`, offering permessage-deflate when `deflate` is set.
pub async fn connect(
    origin: &str,
    room: &str,
    token: &str,
    resume: Option<&str>,
    batch: bool,
    deflate: bool,
) -> Result<Joined, Refused> {
    let started = Instant::now();
    let (mut ws, extensions) = tokio::time::timeout(
        Duration::from_secs(30),
        upgrade(&format!("{origin}/rooms/{room}"), deflate),
    )
    .await
    .map_err(|_| Refused::Connect("timed out".into()))?
    .map_err(Refused::Connect)?;
    let resume = resume
        .map(|ticket| format!(r#","resume":"{ticket}""#))
        .unwrap_or_default();
    let batch = if batch { r#","batch":true"# } else { "" };
    let auth = format!(r#"{{"type":"auth","token":"{token}","roomId":"{room}"{resume}{batch}}}"#);
    ws.send(Message::text(auth))
        .await
        .map_err(|e| Refused::Connect(e.to_string()))?;
    match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) if t.contains("\"auth:ok\"") => Ok(Joined {
            ws,
            handshake: started.elapsed(),
            auth_ok: t.to_string(),
            extensions,
        }),
        Ok(Some(Ok(Message::Text(t)))) => Err(Refused::Auth(t.to_string())),
        other => Err(Refused::Auth(format!("{other:?}"))),
    }
}

/// The WebSocket upgrade of `url` (http://host:port/path), with the browser's
/// permessage-deflate offer when `deflate` is set; the socket and the response's
/// `Sec-WebSocket-Extensions`. Plain sockets go through the same layer, which then
/// only forwards bytes (as tokio-tungstenite's own `connect_async` would, Nagle on).
pub async fn upgrade(url: &str, deflate: bool) -> Result<(Ws, Option<String>), String> {
    let ws_url = url.replacen("http", "ws", 1);
    let mut request = ws_url
        .as_str()
        .into_client_request()
        .map_err(|e| e.to_string())?;
    if deflate {
        request.headers_mut().insert(
            "Sec-WebSocket-Extensions",
            HeaderValue::from_static(crate::deflate::OFFER),
        );
    }
    let host = request.uri().host().unwrap_or("127.0.0.1").to_owned();
    let port = request.uri().port_u16().unwrap_or(80);
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| e.to_string())?;
    let stream = crate::deflate::Stream::new(tcp, deflate);
    let (ws, response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config()))
            .await
            .map_err(|e| e.to_string())?;
    let extensions = response
        .headers()
        .get("Sec-WebSocket-Extensions")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    Ok((ws, extensions))
}

/// The unsigned number after `key` (e.g. `"seq":`) in `text`.
pub fn number_after(text: &str, key: &str) -> Option<u64> {
    let start = text.find(key)? + key.len();
    let digits: &str = &text[start..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// Every unsigned number after an occurrence of `key` in `text`, in order: one per
/// event, whether the frame carries one event or a `batch` of them.
pub fn numbers_after<'a>(text: &'a str, key: &'a str) -> impl Iterator<Item = u64> + 'a {
    text.match_indices(key)
        .filter_map(move |(at, _)| number_after(&text[at..], key))
}

/// Reads frames until `count` events matched `key`, or `deadline`; returns the number
/// found in each matching event with its frame's arrival time, and how many frames
/// carried them.
pub async fn collect(
    mut reader: Reader,
    key: &'static str,
    count: usize,
    deadline: Instant,
) -> (Vec<(u64, Instant)>, usize) {
    let mut got = Vec::with_capacity(count);
    let mut frames = 0;
    while got.len() < count {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        match tokio::time::timeout(left, reader.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let at = Instant::now();
                let before = got.len();
                got.extend(numbers_after(&t, key).map(|n| (n, at)));
                frames += usize::from(got.len() > before);
            }
            Ok(Some(Ok(_))) => continue,
            _ => break,
        }
    }
    (got, frames)
}

#[cfg(test)]
mod tests {
    use super::{number_after, numbers_after};

    #[test]
    fn finds_numbers() {
        assert_eq!(
            number_after(r#"{"type":"bench","seq":17,"x":1}"#, "\"seq\":"),
            Some(17)
        );
        assert_eq!(
            number_after(r#"{"userId":"u42"}"#, "\"userId\":\"u"),
            Some(42)
        );
        assert_eq!(number_after("{}", "\"seq\":"), None);
        let batch = r#"{"type":"batch","events":[{"seq":3},{"seq":4}]}"#;
        assert_eq!(numbers_after(batch, "\"seq\":").collect::<Vec<_>>(), [3, 4]);
    }
}
