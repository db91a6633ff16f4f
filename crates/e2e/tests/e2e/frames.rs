//! Authenticated events (typing, ping) and the error for every kind of bad frame.

use crate::support::{joined, room};
use e2e::runner::{Hubs, Test};
use e2e::tests;
use e2e::Client;
use serde_json::json;
use std::time::Duration;

pub fn tests() -> Vec<Test> {
    tests![
        typing_reaches_every_other_authenticated_socket_only,
        ping_echoes_t_to_the_sender_only,
        bad_frames_get_precise_errors_and_the_socket_stays_open,
    ]
}

async fn typing_reaches_every_other_authenticated_socket_only(h: Hubs) {
    let r = room("typing");
    let mut a = joined(&h.main, &r, "alice").await;
    let mut b = joined(&h.main, &r, "bob").await;
    let mut c = joined(&h.main, &r, "carol").await;
    let mut pending = Client::connect(&h.main.room_url(&r)).await;
    let elsewhere_room = room("typing-other");
    let mut elsewhere = joined(&h.main, &elsewhere_room, "dave").await;

    a.send_json(&json!({"type":"typing","isTyping":true})).await;
    let expected = json!({"type":"typing","userId":"alice","isTyping":true});
    assert_eq!(b.recv().await, expected);
    assert_eq!(c.recv().await, expected);
    b.send_json(&json!({"type":"typing","isTyping":false}))
        .await;
    assert_eq!(
        a.recv().await,
        json!({"type":"typing","userId":"bob","isTyping":false})
    );
    assert_eq!(
        c.recv().await,
        json!({"type":"typing","userId":"bob","isTyping":false})
    );

    // Not echoed to the sender; never to unauthenticated sockets or other rooms.
    a.expect_silence(Duration::from_millis(500)).await;
    b.expect_silence(Duration::from_millis(100)).await;
    pending.expect_silence(Duration::from_millis(100)).await;
    elsewhere.expect_silence(Duration::from_millis(100)).await;
}

async fn ping_echoes_t_to_the_sender_only(h: Hubs) {
    let r = room("ping");
    let mut a = joined(&h.main, &r, "alice").await;
    let mut b = joined(&h.main, &r, "bob").await;
    for t in [
        r#"1710000000"#,
        r#""abc""#,
        r#"{"n":[1,2.5,null,true]}"#,
        r#"null"#,
        r#"12345678901234567890"#,
    ] {
        a.send_text(format!(r#"{{"type":"ping","t":{t}}}"#)).await;
        let pong = a
            .next_text_within(Duration::from_secs(10))
            .await
            .expect("pong");
        assert_eq!(pong, format!(r#"{{"type":"pong","t":{t}}}"#));
    }
    b.expect_silence(Duration::from_millis(500)).await;
}

async fn bad_frames_get_precise_errors_and_the_socket_stays_open(h: Hubs) {
    let r = room("bad");
    let mut a = joined(&h.main, &r, "alice").await;
    let mut b = joined(&h.main, &r, "bob").await;
    let cases: Vec<(String, &str)> = vec![
        ("not json".into(), "invalid_json"),
        ("{\"type\":".into(), "invalid_json"),
        ("[1,2,3]".into(), "invalid_event"),
        ("\"typing\"".into(), "invalid_event"),
        ("{}".into(), "invalid_event"),
        (r#"{"type":7}"#.into(), "invalid_event"),
        (
            r#"{"type":"typing","isTyping":"yes"}"#.into(),
            "invalid_event",
        ),
        (r#"{"type":"typing"}"#.into(), "invalid_event"),
        (
            r#"{"type":"message.created","id":"m1"}"#.into(),
            "unknown_type",
        ),
        (
            format!(r#"{{"type":"ping","t":"{}"}}"#, "x".repeat(16 * 1024)),
            "frame_too_large",
        ),
    ];
    for (frame, code) in cases {
        a.send_text(frame).await;
        a.expect_error(code).await;
    }
    a.send_binary(vec![0xff, 0xfe, 0x00]).await;
    a.expect_error("unsupported_frame").await;
    // A frame exactly at the limit is fine.
    let at_limit = format!(r#"{{"type":"ping","t":"{}"}}"#, "x".repeat(16 * 1024 - 22));
    assert_eq!(at_limit.len(), 16 * 1024);
    a.send_text(at_limit).await;
    assert_eq!(a.recv().await["type"], "pong");
    // Still open and working, and nothing leaked to the other socket.
    b.expect_silence(Duration::from_millis(300)).await;
    a.send_text(r#"{"type":"typing","isTyping":true}"#).await;
    assert_eq!(b.recv().await["userId"], "alice");
}
