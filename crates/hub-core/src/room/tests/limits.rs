//! Rate limits and typing.

use super::support::*;

#[test]
fn a_burst_passes_then_drops_with_one_notice_then_a_flood_closes() {
    let mut w = World::new();
    w.member(1, T0);
    w.io.take();
    // The auth frame was the first of the burst of 20.
    for _ in 0..19 {
        w.frame(1, r#"{"type":"ping"}"#, T0);
    }
    let sent = w.io.sent_to(1);
    assert_eq!(sent.len(), 19, "the burst is answered");
    assert!(sent.iter().all(|f| f == r#"{"type":"pong"}"#));
    w.io.take();
    for _ in 0..80 {
        w.frame(1, r#"{"type":"ping"}"#, T0);
    }
    let sent = w.io.sent_to(1);
    assert_eq!(sent.len(), 1, "one notice per window: {sent:?}");
    assert!(is_error(&sent[0], "rate_limited"));
    assert!(w.io.closes().is_empty());
    w.io.take();
    w.frame(1, r#"{"type":"ping"}"#, T0);
    assert_eq!(w.io.closes(), [(1, 4429, "rate_limited".into())]);
    assert_eq!(w.room.authenticated(), 0);
}

#[test]
fn frames_from_a_socket_the_room_closed_do_nothing() {
    let mut w = World::new();
    w.member(1, T0);
    w.member(2, T0);
    w.flood(1);
    w.io.take();
    // Still in flight when the room closed it: not parsed, not answered, not counted.
    assert!(!w.frame_is_parsed(1, T0));
    assert!(w.io.take().is_empty());
    assert_eq!(w.room.connections(), 1);
}

#[test]
fn a_dropped_frame_is_never_parsed() {
    let mut w = World::new();
    w.member(1, T0);
    for _ in 0..18 {
        w.frame(1, r#"{"type":"ping"}"#, T0);
    }
    assert!(
        w.frame_is_parsed(1, T0),
        "the burst's last frame is handled"
    );
    w.io.take();
    assert!(!w.frame_is_parsed(1, T0));
    let sent = w.io.sent_to(1);
    assert_eq!(sent.len(), 1);
    assert!(is_error(&sent[0], "rate_limited"));
}

#[test]
fn typing_reaches_every_other_member_but_not_its_sender_or_waiting_sockets() {
    let mut w = World::new();
    w.member(1, T0);
    w.member(2, T0);
    assert_eq!(w.connect(3, T0), Admission::Admitted);
    w.io.take();
    w.frame(1, r#"{"type":"typing","isTyping":true}"#, T0);
    let typing = r#"{"type":"typing","userId":"u1","isTyping":true}"#;
    // The room's other objects, if any, get it too, for all but its sender.
    assert_eq!(
        w.io.take(),
        [
            Ev::FanOut(typing.into(), vec![2]),
            Ev::Spread(typing.into(), Some(cid(1)))
        ]
    );
    w.frame(3, r#"{"type":"typing","isTyping":true}"#, T0);
    let sent = w.io.sent_to(3);
    assert!(is_error(&sent[0], "unauthenticated"), "{sent:?}");
}

#[test]
fn typing_is_fanned_out_when_it_changes_or_is_renewed() {
    let mut w = World::new();
    w.member(1, T0);
    w.member(2, T0);
    let fanouts = |w: &mut World, json: &str, now: u64| {
        w.io.take();
        w.frame(1, json, now);
        w.io.take()
            .iter()
            .filter(|e| matches!(e, Ev::FanOut(..)))
            .count()
    };
    let yes = r#"{"type":"typing","isTyping":true}"#;
    let no = r#"{"type":"typing","isTyping":false}"#;
    assert_eq!(fanouts(&mut w, yes, T0), 1);
    assert_eq!(fanouts(&mut w, yes, T0 + 1_000), 0);
    assert_eq!(fanouts(&mut w, yes, T0 + 3_000), 0);
    assert_eq!(fanouts(&mut w, yes, T0 + 3_001), 1, "renewed after 3 s");
    assert_eq!(fanouts(&mut w, no, T0 + 3_002), 1);
    assert_eq!(
        fanouts(&mut w, no, T0 + 9_000),
        0,
        "false is never repeated"
    );
    assert_eq!(fanouts(&mut w, yes, T0 + 9_001), 1);
}
