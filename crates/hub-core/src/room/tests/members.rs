//! Presence and token expiry.

use super::support::*;

#[test]
fn presence_is_per_user_not_per_tab() {
    let mut w = World::roomy();
    w.member_as(1, "ann", T0);
    assert_eq!(last_auth_ok(&w, 1)["members"], serde_json::json!(["ann"]));
    w.presence();
    w.member_as(2, "bob", T0);
    assert_eq!(
        last_auth_ok(&w, 2)["members"],
        serde_json::json!(["ann", "bob"])
    );
    assert_eq!(w.presence(), [(join("bob"), vec![1])], "not to bob himself");
    // Bob's second tab: no event, and the list is still per user.
    w.member_as(3, "bob", T0);
    assert_eq!(
        last_auth_ok(&w, 3)["members"],
        serde_json::json!(["ann", "bob"])
    );
    assert_eq!(w.presence(), []);
    // A socket with a null user id is never announced nor listed.
    w.connect(4, T0);
    w.frame(4, AUTH, T0);
    let anonymous = AuthOutcome::Verified {
        watch: Vec::new(),
        user_id: None,
        expires_at: None,
    };
    w.check_done(4, anonymous, T0);
    assert_eq!(
        last_auth_ok(&w, 4)["members"],
        serde_json::json!(["ann", "bob"])
    );
    assert_eq!(w.presence(), []);
    // Bob leaves only when his last tab does, whatever closes it.
    w.room
        .on_close(&2, Some(&cid(2)), Some(1000), T0, &mut w.io);
    assert_eq!(w.presence(), []);
    w.frame(3, r#"{"type":"auth","token":"t","roomId":"room-2"}"#, T0);
    w.frame(3, r#"{"type":"typing","isTyping":true}"#, T0);
    assert_eq!(w.presence(), []);
    let d = Disconnect {
        user_ids: vec!["bob".into()],
        connection_ids: vec![],
        reason: Reason::Removed,
    };
    w.room.on_disconnect(&d, T0, &mut w.io);
    assert_eq!(w.presence(), [(leave("bob"), vec![1, 4])]);
    w.room.on_close(&4, Some(&cid(4)), None, T0, &mut w.io);
    assert_eq!(w.presence(), [], "the anonymous socket leaves unannounced");
}

#[test]
fn presence_turns_off_above_the_limit_and_back_on_with_the_whole_list() {
    let mut w = World::with(Config {
        max_connections: 10,
        presence_max_members: 2,
        ..config()
    });
    w.member(1, T0);
    w.member(2, T0);
    w.presence();
    // A third user crosses the limit: the others are told once, the newcomer's
    // auth:ok says so, and nobody is told who joined.
    w.member(3, T0);
    assert_eq!(last_auth_ok(&w, 3)["members"], serde_json::Value::Null);
    assert_eq!(
        w.presence(),
        [(
            r#"{"type":"presence","event":"off","members":null}"#.to_owned(),
            vec![1, 2]
        )]
    );
    // While off: no joins or leaves.
    w.member(4, T0);
    assert_eq!(last_auth_ok(&w, 4)["members"], serde_json::Value::Null);
    w.room
        .on_close(&4, Some(&cid(4)), Some(1000), T0, &mut w.io);
    assert_eq!(w.presence(), []);
    // Back within the limit: everyone gets the whole list, once.
    w.room
        .on_close(&1, Some(&cid(1)), Some(1000), T0, &mut w.io);
    assert_eq!(
        w.presence(),
        [(
            r#"{"type":"presence","event":"on","members":["u2","u3"]}"#.to_owned(),
            vec![2, 3]
        )]
    );
    w.room
        .on_close(&2, Some(&cid(2)), Some(1000), T0, &mut w.io);
    assert_eq!(w.presence(), [(leave("u2"), vec![3])]);
}

#[test]
fn presence_off_by_configuration_sends_nothing() {
    let mut w = World::with(Config {
        presence_max_members: 0,
        ..config()
    });
    w.member(1, T0);
    w.member(2, T0);
    assert_eq!(last_auth_ok(&w, 2)["members"], serde_json::Value::Null);
    w.room
        .on_close(&1, Some(&cid(1)), Some(1000), T0, &mut w.io);
    assert_eq!(w.presence(), []);
}

#[test]
fn presence_and_expiry_survive_a_wake() {
    let mut w = World::roomy();
    w.member_until(1, "ann", T0 + 60_000, T0);
    w.member_as(2, "bob", T0);
    w.member_as(3, "bob", T0);
    let sockets: Vec<(Sock, Option<Session>)> = (1..=3).map(|s| (s, w.io.session(s))).collect();
    let mut woken = World::with(Config {
        max_connections: 10,
        max_pending: 5,
        ..config()
    });
    woken.io.attachments = w.io.attachments.clone();
    woken.room.on_wake(sockets, true, T0 + 1_000, &mut woken.io);
    woken.io.take();
    // Bob's tabs are still one user: the first closing is not a leave.
    woken
        .room
        .on_close(&2, Some(&cid(2)), Some(1000), T0 + 1_000, &mut woken.io);
    assert_eq!(woken.presence(), []);
    // Ann's expiry came back with her attachment.
    assert_eq!(woken.broadcast_at(T0 + 60_000), 1, "only bob's tab");
    assert_eq!(woken.io.closes(), [(1, 4401, "token_expired".into())]);
    assert!(woken
        .io
        .sent_to(1)
        .iter()
        .any(|f| is_error(f, "token_expired")));
    assert_eq!(woken.presence(), [(leave("ann"), vec![3])]);
}

#[test]
fn an_expired_member_gets_no_delivery_and_is_closed() {
    let mut w = World::roomy();
    w.member_until(1, "ann", T0 + 5_000, T0);
    w.member_until(2, "bob", T0 + 9_000, T0);
    w.member(3, T0);
    w.io.take();
    // Nothing happens at expiry itself: no timer.
    assert!(!w.io.log.iter().any(|e| matches!(e, Ev::ArmTimer(_))));
    assert_eq!(w.broadcast_at(T0 + 4_999), 3);
    w.io.take();
    assert_eq!(w.broadcast_at(T0 + 5_000), 2);
    assert_eq!(w.io.closes(), [(1, 4401, "token_expired".into())]);
    let log = w.io.take();
    // Ann is told why and leaves; the broadcast never reaches her; bob is still in.
    assert!(log.contains(&Ev::FanOut(leave("ann"), vec![2, 3])));
    assert!(log.contains(&Ev::FanOut(r#"{"type":"x"}"#.into(), vec![2, 3])));
    // Typing finds bob expired the same way.
    w.frame(3, r#"{"type":"typing","isTyping":true}"#, T0 + 9_000);
    assert_eq!(w.io.closes(), [(2, 4401, "token_expired".into())]);
    assert_eq!(w.room.authenticated(), 1);
}

#[test]
fn an_expired_member_is_closed_by_its_own_frame_and_an_expired_token_admits_nobody() {
    let mut w = World::roomy();
    w.member_until(1, "ann", T0 + 5_000, T0);
    w.member(2, T0);
    w.io.take();
    w.frame(1, r#"{"type":"ping"}"#, T0 + 5_000);
    assert_eq!(w.io.closes(), [(1, 4401, "token_expired".into())]);
    assert_eq!(w.presence(), [(leave("ann"), vec![2])]);
    // The backend says the token has already expired.
    w.connect(3, T0);
    w.frame(3, AUTH, T0);
    let expired = AuthOutcome::Verified {
        watch: Vec::new(),
        user_id: Some("cat".into()),
        expires_at: Some(T0),
    };
    w.check_done(3, expired, T0);
    assert_eq!(w.io.closes(), [(3, 4401, "token_expired".into())]);
    assert_eq!(w.room.authenticated(), 1);
}

/// An expired member that never sends is closed by whatever the room does next that
/// changes who is in it, and is not counted in the meantime.
#[test]
fn an_expired_member_is_closed_before_any_room_event_and_before_it_is_counted() {
    let mut w = World::roomy();
    w.member_until(1, "ann", T0 + 10, T0);
    w.member_as(2, "bob", T0);
    w.member_as(3, "cid", T0);
    w.io.take();
    // Bob's close is a leave: ann is closed before it goes out, and gets nothing.
    w.room
        .on_close(&2, Some(&cid(2)), Some(1000), T0 + 20, &mut w.io);
    assert!(w.io.closes().contains(&(1, 4401, "token_expired".into())));
    let presence = w.presence();
    assert_eq!(
        presence,
        [(leave("ann"), vec![2, 3]), (leave("bob"), vec![3])]
    );
    // Counted only once gone: the counts come after the expiry step.
    let mut w = World::roomy();
    w.member_until(1, "ann", T0 + 10, T0);
    w.member_as(2, "bob", T0);
    w.room.settle(T0 + 20, &mut w.io);
    assert_eq!((w.room.authenticated(), w.room.connections()), (1, 1));
    assert!(w.io.closes().contains(&(1, 4401, "token_expired".into())));
}

#[test]
fn two_members_expiring_during_a_burst_are_closed_once_each() {
    let mut w = batching_room();
    w.batching_member(1, T0);
    w.member_until(7, "gus", T0 + 10, T0);
    w.member_until(8, "hal", T0 + 10, T0);
    w.io.take();
    // A burst is queued; then both tokens expire at once.
    w.broadcast_at(T0 + 1);
    w.broadcast_at(T0 + 2);
    assert!(
        w.io.take().contains(&Ev::ScheduleBurst(5)),
        "a burst is queued"
    );
    w.room.on_burst_timer(T0 + 50, &mut w.io);
    let closes = w.io.closes();
    for s in [7, 8] {
        let n = closes.iter().filter(|(to, ..)| *to == s).count();
        assert_eq!(n, 1, "{closes:?}");
    }
    let refused = w.room.audit_events(100, T0 + 60, &mut w.io);
    let written = w.io.audit_written.iter().chain(refused.iter().flatten());
    let expired = written.filter(|e| e.detail.as_deref() == Some("token_expired"));
    assert_eq!(expired.count(), 2);
}

/// Every entry point advances the room's clock: an expiry found by a broadcast is
/// recorded at the broadcast's time, not at the last frame's.
#[test]
fn what_a_broadcast_finds_is_recorded_at_its_time() {
    let mut w = World::roomy();
    w.member_until(1, "ann", T0 + 10, T0);
    w.member_as(2, "bob", T0);
    w.broadcast_at(T0 + 5_000);
    w.room.flush(T0 + 5_000, &mut w.io);
    let expired =
        w.io.audit_written
            .iter()
            .find(|e| e.detail.as_deref() == Some("token_expired"))
            .expect("an expiry in the audit");
    assert_eq!(expired.at, T0 + 5_000);
}
