//! A WebSocket client for tests: JSON in and out, every wait bounded.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for a frame it expects, unless it says otherwise.
pub const WAIT: Duration = Duration::from_secs(10);

type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Every frame from the hub is JSON matching the published schemas. (Frames nested
/// deeper than serde_json's limit are checked for JSON syntax only.)
fn check_frame(text: &str) {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => crate::spec::check_server_frame(&v),
        Err(_) => assert!(
            serde_json::from_str::<&serde_json::value::RawValue>(text).is_ok(),
            "the hub sent a frame that is not JSON: {}",
            &text[..text.len().min(200)]
        ),
    }
}

pub struct Client {
    ws: Stream,
    /// Set by `auth_ok`.
    pub connection_id: Option<String>,
    /// Whether `presence` frames are handed out like any other. Off by default, so a
    /// test about something else is not disturbed by who else joined its room; the
    /// frames are then kept in `presence` instead.
    pub see_presence: bool,
    /// The `presence` frames set aside while `see_presence` is off, oldest first.
    pub presence: Vec<Value>,
}

/// Whether a frame's text is a `presence` frame.
fn is_presence(text: &str) -> bool {
    text.starts_with(r#"{"type":"presence""#)
}

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Closed {
    /// A close frame with this code and reason.
    Code(u16, String),
    /// The stream ended without a close frame.
    Dropped,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        match Client::try_connect(url).await {
            Ok(c) => c,
            Err(e) => panic!("connect {url}: {e}"),
        }
    }

    pub async fn try_connect(url: &str) -> Result<Client, String> {
        let mut config = WebSocketConfig::default();
        // Large enough for the hub's own limits to be what is tested.
        config.max_message_size = Some(64 << 20);
        config.max_frame_size = Some(64 << 20);
        let fut = tokio_tungstenite::connect_async_with_config(url, Some(config), false);
        match tokio::time::timeout(WAIT, fut).await {
            Ok(Ok((ws, _))) => Ok(Client {
                ws,
                connection_id: None,
                see_presence: false,
                presence: Vec::new(),
            }),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        let text: String = text.into();
        self.ws.send(Message::text(text)).await.expect("send text");
    }

    /// Sends without failing the test if the hub has already closed the connection.
    pub async fn try_send_text(&mut self, text: impl Into<String>) -> bool {
        let text: String = text.into();
        self.ws.send(Message::text(text)).await.is_ok()
    }

    pub async fn send_json(&mut self, value: &Value) {
        self.send_text(value.to_string()).await;
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws
            .send(Message::binary(bytes))
            .await
            .expect("send binary");
    }

    /// The next text frame's raw text, or `None` if none arrives within `wait`
    /// (or the connection closes).
    pub async fn next_text_within(&mut self, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    check_frame(&t);
                    if self.set_aside(&t) {
                        continue;
                    }
                    return Some(t.to_string());
                }
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)))) => continue,
                Ok(Some(Ok(Message::Binary(_)))) => panic!("the hub never sends binary frames"),
                _ => return None,
            }
        }
    }

    /// Keeps a presence frame aside (true) unless the test watches presence.
    fn set_aside(&mut self, text: &str) -> bool {
        if self.see_presence || !is_presence(text) {
            return false;
        }
        if let Ok(v) = serde_json::from_str(text) {
            self.presence.push(v);
        }
        true
    }

    /// The next text frame as JSON; panics (failing the test) if none arrives in time.
    pub async fn recv(&mut self) -> Value {
        self.recv_within(WAIT).await
    }

    pub async fn recv_within(&mut self, wait: Duration) -> Value {
        let text = self
            .next_text_within(wait)
            .await
            .unwrap_or_else(|| panic!("no frame within {wait:?}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("frame is not JSON ({e}): {text}"))
    }

    /// The next frame must be an error with this code.
    pub async fn expect_error(&mut self, code: &str) -> Value {
        let v = self.recv().await;
        assert_eq!(v["type"], "error", "expected error {code}, got {v}");
        assert_eq!(v["code"], code, "expected error {code}, got {v}");
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error without message: {v}"
        );
        v
    }

    /// Asserts that no text frame arrives for `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(t) = self.next_text_within(wait).await {
            panic!("expected no frame, got {t}");
        }
    }

    /// Reads until the connection ends (bounded); text frames before the close are returned.
    pub async fn closed_within(&mut self, wait: Duration) -> (Closed, Vec<String>) {
        let deadline = Instant::now() + wait;
        let mut frames = Vec::new();
        loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                panic!("connection still open after {wait:?}; frames: {frames:?}");
            };
            match tokio::time::timeout(left, self.ws.next()).await {
                Ok(Some(Ok(Message::Close(Some(f))))) => {
                    return (Closed::Code(f.code.into(), f.reason.to_string()), frames)
                }
                Ok(Some(Ok(Message::Close(None)))) | Ok(None) | Ok(Some(Err(_))) => {
                    return (Closed::Dropped, frames)
                }
                Ok(Some(Ok(Message::Text(t)))) => {
                    check_frame(&t);
                    if !self.set_aside(&t) {
                        frames.push(t.to_string());
                    }
                }
                Ok(Some(Ok(_))) => continue,
                Err(_) => panic!("connection still open after {wait:?}; frames: {frames:?}"),
            }
        }
    }

    /// Expects an error frame with `code`, then a close with `close_code`.
    pub async fn expect_closed_with(&mut self, code: &str, close_code: u16) {
        self.expect_error(code).await;
        let (closed, frames) = self.closed_within(WAIT).await;
        assert!(frames.is_empty(), "frames after the error: {frames:?}");
        assert_eq!(closed, Closed::Code(close_code, code.to_owned()));
    }

    /// Sends auth and expects `auth:ok`; returns it.
    pub async fn auth(&mut self, room: &str, token: &str, claimed: Option<&str>) -> Value {
        self.send_json(
            &json!({ "type": "auth", "token": token, "roomId": room, "userId": claimed }),
        )
        .await;
        let v = self.recv().await;
        assert_eq!(v["type"], "auth:ok", "expected auth:ok, got {v}");
        let cid = v["connectionId"].as_str().expect("connectionId").to_owned();
        self.connection_id = Some(cid);
        v
    }

    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }

    /// Starts the closing handshake as a client does: a close frame with `code` (an
    /// empty one if `None`), then reads (bounded by `wait`) until the hub's close frame.
    /// Returns how the connection ended (`None`: still open after `wait`) and the time
    /// from our close frame to its end.
    pub async fn close_with(
        &mut self,
        code: Option<u16>,
        wait: Duration,
    ) -> (Option<Closed>, Duration) {
        let sent = self.send_close(code).await;
        self.await_close(sent, wait).await
    }

    /// The first half of [`Client::close_with`]: sends the close frame; returns when.
    pub async fn send_close(&mut self, code: Option<u16>) -> Instant {
        let frame = code.map(|code| CloseFrame {
            code: code.into(),
            reason: "".into(),
        });
        let sent = Instant::now();
        if let Err(e) = self.ws.close(frame).await {
            panic!("sending the close frame: {e}");
        }
        sent
    }

    /// The second half: reads until the connection ends, at most until `sent + wait`.
    /// Text frames still in flight are checked against the schemas and dropped.
    pub async fn await_close(
        &mut self,
        sent: Instant,
        wait: Duration,
    ) -> (Option<Closed>, Duration) {
        let deadline = sent + wait;
        loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return (None, sent.elapsed());
            };
            let closed = match tokio::time::timeout(left, self.ws.next()).await {
                Ok(Some(Ok(Message::Close(Some(f))))) => {
                    Closed::Code(f.code.into(), f.reason.to_string())
                }
                Ok(Some(Ok(Message::Close(None)))) | Ok(None) | Ok(Some(Err(_))) => Closed::Dropped,
                Ok(Some(Ok(Message::Text(t)))) => {
                    check_frame(&t);
                    continue;
                }
                Ok(Some(Ok(_))) => continue,
                Err(_) => return (None, sent.elapsed()),
            };
            return (Some(closed), sent.elapsed());
        }
    }
}
