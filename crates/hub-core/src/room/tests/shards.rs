//! A room spread over several objects: what a further object reports and lists, what
//! the first object announces and spreads, relayed frames, the room-wide total of a
//! broadcast, adopted disconnect records, and a refusal for a full room.

use super::support::*;
use serde_json::json;

/// A further object `k` of the room, with room for ten sockets.
fn further(k: u16) -> World {
    let mut w = World::roomy();
    w.room.set_further(k);
    w
}

/// A room with room for ten sockets that tells who is in it up to `max` users.
fn presence_up_to(max: usize) -> World {
    World::with(Config {
        max_connections: 10,
        max_pending: 5,
        presence_max_members: max,
        ..config()
    })
}

/// What concerns the rest of the room since the log was last taken: fan-outs, and
/// what goes to (or is reported to) the room's other objects.
fn crowd(w: &mut World) -> Vec<Ev> {
    w.io.take()
        .into_iter()
        .filter(|e| matches!(e, Ev::FanOut(..) | Ev::Spread(..) | Ev::ReportUser(..)))
        .collect()
}

fn users(list: &[&str]) -> Option<Vec<String>> {
    Some(list.iter().map(|u| u.to_string()).collect())
}

fn close(w: &mut World, s: Sock) {
    w.room
        .on_close(&s, Some(&cid(s)), Some(1000), T0, &mut w.io);
}

const OFF: &str = r#"{"type":"presence","event":"off","members":null}"#;

#[test]
fn a_further_object_reports_a_users_first_and_last_socket_and_announces_nothing() {
    let mut w = further(3);
    // A waiting socket's attachment already says which object holds it.
    assert_eq!(w.connect(9, T0), Admission::Admitted);
    assert_eq!(w.io.session(9).unwrap().shard, 3);
    let stored = serde_json::to_value(w.io.session(9).unwrap()).unwrap();
    assert_eq!(stored["k"], 3);
    w.io.take();
    w.member_as(1, "ann", T0);
    assert_eq!(w.io.session(1).unwrap().shard, 3);
    assert_eq!(
        crowd(&mut w),
        [Ev::ReportUser("ann".into(), true, Some(cid(1)))]
    );
    // Bob is reported, and nobody here is told: the first object decides presence.
    w.member_as(2, "bob", T0);
    assert_eq!(
        crowd(&mut w),
        [Ev::ReportUser("bob".into(), true, Some(cid(2)))]
    );
    // Ann's second tab, and her first tab leaving: not news.
    w.member_as(3, "ann", T0);
    assert_eq!(crowd(&mut w), []);
    close(&mut w, 1);
    assert_eq!(crowd(&mut w), []);
    // Her last tab here leaving is, whoever closes it.
    close(&mut w, 3);
    assert_eq!(crowd(&mut w), [Ev::ReportUser("ann".into(), false, None)]);
    let d = disconnect(&["bob"], &[], Reason::Removed);
    w.room.on_disconnect(&d, T0, &mut w.io);
    assert_eq!(crowd(&mut w), [Ev::ReportUser("bob".into(), false, None)]);
    // The first object's sockets carry no shard number.
    let mut first = World::roomy();
    first.member_as(1, "ann", T0);
    assert_eq!(first.io.session(1).unwrap().shard, 0);
    let stored = serde_json::to_value(first.io.session(1).unwrap()).unwrap();
    assert!(stored.get("k").is_none(), "{stored}");
}

#[test]
fn auth_ok_on_a_further_object_lists_the_view_with_the_joiner_sorted_or_null() {
    let mut w = further(1);
    w.room.set_view(users(&["bob", "dan"]));
    w.member_as(1, "cat", T0);
    assert_eq!(last_auth_ok(&w, 1)["members"], json!(["bob", "cat", "dan"]));
    // A user already listed is not listed twice.
    w.room.set_view(users(&["bob", "dan"]));
    w.member_as(2, "bob", T0);
    assert_eq!(last_auth_ok(&w, 2)["members"], json!(["bob", "dan"]));
    // An empty room-wide list: only the joiner.
    w.room.set_view(users(&[]));
    w.member_as(3, "eve", T0);
    assert_eq!(last_auth_ok(&w, 3)["members"], json!(["eve"]));
    // Presence off room-wide: null, whatever this object holds.
    w.room.set_view(None);
    w.member_as(4, "fay", T0);
    assert_eq!(last_auth_ok(&w, 4)["members"], serde_json::Value::Null);
    // A view serves the next auth:ok only.
    w.room.set_view(users(&["bob"]));
    w.member_as(5, "gus", T0);
    w.member_as(6, "hal", T0);
    assert_eq!(last_auth_ok(&w, 5)["members"], json!(["bob", "gus"]));
    assert_eq!(last_auth_ok(&w, 6)["members"], serde_json::Value::Null);
    // The first object lists its own members and ignores a view.
    let mut first = World::roomy();
    first.room.set_view(users(&["zed"]));
    first.member_as(1, "ann", T0);
    assert_eq!(last_auth_ok(&first, 1)["members"], json!(["ann"]));
}

#[test]
fn the_first_object_counts_each_object_holding_a_user_as_one_socket() {
    let mut w = World::roomy();
    w.member_as(1, "ann", T0);
    w.io.take();
    // A local join is announced here and spread to the other objects, but the joiner.
    w.member_as(2, "cat", T0);
    assert_eq!(
        crowd(&mut w),
        [
            Ev::FanOut(join("cat"), vec![1]),
            Ev::Spread(join("cat"), Some(cid(2)))
        ]
    );
    // A new user on a further object: every local member is told, and the other
    // objects but the joining socket's.
    w.room
        .on_remote_user("bob", true, Some("c-far"), T0, &mut w.io);
    assert_eq!(
        crowd(&mut w),
        [
            Ev::FanOut(join("bob"), vec![1, 2]),
            Ev::Spread(join("bob"), Some("c-far".into()))
        ]
    );
    assert_eq!(
        w.room.member_list(T0, &mut w.io),
        users(&["ann", "bob", "cat"])
    );
    // Bob's tab here, and ann's tabs elsewhere: not news.
    w.member_as(3, "bob", T0);
    assert_eq!(last_auth_ok(&w, 3)["members"], json!(["ann", "bob", "cat"]));
    w.room
        .on_remote_user("ann", true, Some("c-far-2"), T0, &mut w.io);
    assert_eq!(crowd(&mut w), []);
    // Bob's tab here leaves, but a further object still holds him.
    close(&mut w, 3);
    assert_eq!(crowd(&mut w), []);
    // The last object holding him lets go: the leave goes everywhere.
    w.room.on_remote_user("bob", false, None, T0, &mut w.io);
    assert_eq!(
        crowd(&mut w),
        [
            Ev::FanOut(leave("bob"), vec![1, 2]),
            Ev::Spread(leave("bob"), None)
        ]
    );
    // Ann's local socket goes first: still held elsewhere; then her remote one.
    close(&mut w, 1);
    assert_eq!(crowd(&mut w), []);
    w.room.on_remote_user("ann", false, None, T0, &mut w.io);
    assert_eq!(
        crowd(&mut w),
        [
            Ev::FanOut(leave("ann"), vec![2]),
            Ev::Spread(leave("ann"), None)
        ]
    );
    // A user nobody holds leaving is nothing.
    w.room.on_remote_user("zed", false, None, T0, &mut w.io);
    assert_eq!(crowd(&mut w), []);
    assert_eq!(w.room.member_list(T0, &mut w.io), users(&["cat"]));
}

#[test]
fn presence_turns_off_room_wide_when_local_and_remote_users_pass_the_limit() {
    let mut w = presence_up_to(2);
    w.member_as(1, "ann", T0);
    w.io.take();
    w.room
        .on_remote_user("bob", true, Some("cb"), T0, &mut w.io);
    assert_eq!(crowd(&mut w)[0], Ev::FanOut(join("bob"), vec![1]));
    assert_eq!(w.room.member_list(T0, &mut w.io), users(&["ann", "bob"]));
    // A third distinct user, on a further object: off, here and everywhere, the
    // joiner included (its auth:ok listed the members as they were).
    w.room
        .on_remote_user("cat", true, Some("cc"), T0, &mut w.io);
    assert_eq!(
        crowd(&mut w),
        [
            Ev::FanOut(OFF.into(), vec![1]),
            Ev::Spread(OFF.into(), None)
        ]
    );
    assert_eq!(w.room.member_list(T0, &mut w.io), None);
    // While off, a local newcomer gets null and nobody is told anything.
    w.member_as(2, "dan", T0);
    assert_eq!(last_auth_ok(&w, 2)["members"], serde_json::Value::Null);
    assert_eq!(crowd(&mut w), []);
    w.room.on_remote_user("cat", false, None, T0, &mut w.io);
    assert_eq!(crowd(&mut w), [], "still three users");
    // Back within the limit: the whole list, here and everywhere, once.
    close(&mut w, 2);
    let on = r#"{"type":"presence","event":"on","members":["ann","bob"]}"#;
    assert_eq!(
        crowd(&mut w),
        [Ev::FanOut(on.into(), vec![1]), Ev::Spread(on.into(), None)]
    );
    assert_eq!(w.room.member_list(T0, &mut w.io), users(&["ann", "bob"]));
    // Presence off by configuration: remote users change nothing.
    let mut off = presence_up_to(0);
    off.member_as(1, "ann", T0);
    off.io.take();
    off.room
        .on_remote_user("bob", true, Some("cb"), T0, &mut off.io);
    assert_eq!(crowd(&mut off), []);
    assert_eq!(off.room.member_list(T0, &mut off.io), None);
}

/// The joiner on a further object whose join takes the room past
/// `PRESENCE_MAX_MEMBERS` must end up knowing presence is off, as a local joiner
/// does (its auth:ok says null). Today its auth:ok lists the view the first object
/// gave (presence still on then) plus itself, so the `off` its report causes is
/// spread to it too.
#[test]
fn a_further_joiner_that_turns_presence_off_learns_it_is_off() {
    let mut first = presence_up_to(2);
    first.member_as(1, "ann", T0);
    first
        .room
        .on_remote_user("bob", true, Some("cb"), T0, &mut first.io);
    let view = first.room.member_list(T0, &mut first.io);
    assert_eq!(view, users(&["ann", "bob"]));
    first.io.take();
    // Cat joins on a further object with that view, which reports her.
    let mut far = World::with(Config {
        max_connections: 10,
        max_pending: 5,
        presence_max_members: 2,
        ..config()
    });
    far.room.set_further(1);
    far.room.set_view(view);
    far.member_as(7, "cat", T0);
    let listed = last_auth_ok(&far, 7)["members"].clone();
    first
        .room
        .on_remote_user("cat", true, Some(&cid(7)), T0, &mut first.io);
    let spread_off = crowd(&mut first)
        .into_iter()
        .any(|e| matches!(&e, Ev::Spread(f, None) if f == OFF));
    // Either her auth:ok says null, or the `off` reaches her too.
    assert!(
        listed.is_null() || spread_off,
        "auth:ok listed {listed}, and the off frame excepted her"
    );
}

/// Members 1, 2 and 3 on object `k` of their room.
fn three_members_on(k: u16) -> World {
    let mut w = World::roomy();
    w.room.set_further(k);
    w.member(1, T0);
    w.member(2, T0);
    w.member(3, T0);
    w
}

#[test]
fn typing_is_spread_with_the_senders_connection_id() {
    let typing = r#"{"type":"typing","userId":"u2","isTyping":true}"#;
    for k in [0, 2] {
        let mut w = three_members_on(k);
        w.io.take();
        w.frame(2, r#"{"type":"typing","isTyping":true}"#, T0);
        assert_eq!(
            crowd(&mut w),
            [
                Ev::FanOut(typing.into(), vec![1, 3]),
                Ev::Spread(typing.into(), Some(cid(2)))
            ],
            "shard {k}"
        );
    }
}

#[test]
fn a_relayed_frame_reaches_local_members_but_the_excepted_one_and_is_not_spread() {
    let typing = r#"{"type":"typing","userId":"far","isTyping":true}"#;
    for k in [0, 2] {
        let mut w = three_members_on(k);
        assert_eq!(w.connect(4, T0), Admission::Admitted, "a waiting socket");
        w.io.take();
        let n = w
            .room
            .on_relayed_frame(typing, Some(&cid(2)), T0, &mut w.io);
        assert_eq!(n, 2, "shard {k}");
        assert_eq!(crowd(&mut w), [Ev::FanOut(typing.into(), vec![1, 3])]);
        // Excepting a socket of another object, or none: every member here.
        let n = w
            .room
            .on_relayed_frame(&join("far"), Some("c-far"), T0, &mut w.io);
        assert_eq!(n, 3);
        assert_eq!(crowd(&mut w), [Ev::FanOut(join("far"), vec![1, 2, 3])]);
        let n = w.room.on_relayed_frame(&leave("far"), None, T0, &mut w.io);
        assert_eq!(n, 3);
        assert_eq!(crowd(&mut w), [Ev::FanOut(leave("far"), vec![1, 2, 3])]);
    }
}

#[test]
fn a_duplicate_broadcast_answers_the_room_wide_total() {
    let mut w = World::new();
    w.member(1, T0);
    w.member(2, T0);
    w.io.take();
    let d = delivery(&[], None, Some("k1"));
    let at = T0 + 1;
    // Asked before the relay: a key not seen yet, or no key, is no repeat.
    assert!(!w.room.is_repeat(&d, at, &mut w.io));
    assert!(!w.room.is_repeat(&delivery(&[], None, None), at, &mut w.io));
    let first = w.room.on_broadcast(&d, at, &mut w.io);
    assert!(w.room.is_repeat(&d, at, &mut w.io), "seen now");
    assert!(!w
        .room
        .is_repeat(&delivery(&[], None, Some("k2")), at, &mut w.io));
    assert_eq!(
        first,
        Published {
            delivered: 2,
            duplicate: false
        }
    );
    w.io.take();
    // The other objects reached five more: the room-wide total is stored.
    w.room.on_broadcast_total("k1", 7, at, &mut w.io);
    let since = at - config().idempotency_window_ms;
    assert_eq!(w.io.take(), [Ev::StoreKey("k1".into(), 7, at, since)]);
    assert_eq!(w.io.stored_keys["k1"], (7, at));
    // A total for another acceptance of the key changes nothing.
    w.room.on_broadcast_total("k1", 99, at - 1, &mut w.io);
    assert_eq!(w.io.take(), []);
    let again = w.room.on_broadcast(&d, T0 + 2, &mut w.io);
    assert_eq!(
        again,
        Published {
            delivered: 7,
            duplicate: true
        }
    );
    assert!(fanned_to(&w.io.take()).is_empty());
    // A new instance answers the total from storage.
    let mut woken = World::new();
    woken.io.stored_keys = w.io.stored_keys.clone();
    let sockets = vec![(1, w.io.session(1)), (2, w.io.session(2))];
    woken.room.on_wake(sockets, true, T0 + 3, &mut woken.io);
    woken.io.take();
    let p = woken.room.on_broadcast(&d, T0 + 3, &mut woken.io);
    assert_eq!(
        p,
        Published {
            delivered: 7,
            duplicate: true
        }
    );
}

#[test]
fn adopted_disconnect_records_refuse_tickets_issued_before_them() {
    let day = 86_400_000;
    // The tickets come from the room's first object.
    let mut first = World::with(resuming("k"));
    first.member(1, T0);
    let before = last_auth_ok(&first, 1)["resume"]
        .as_str()
        .unwrap()
        .to_owned();
    first.member(2, T0 + 30);
    let after = last_auth_ok(&first, 2)["resume"]
        .as_str()
        .unwrap()
        .to_owned();
    let records = [
        ("u1".to_owned(), T0 + 10, T0 + 10 + day),
        ("u2".to_owned(), T0 + 10, T0 + 10 + day),
    ];
    // A further object opened after the disconnects adopts them before any resume.
    let mut w = World::with(resuming("k"));
    w.room.set_further(1);
    assert!(!w.room.has_storage());
    w.room.adopt_revocations(&records, &mut w.io);
    assert!(w.room.has_storage());
    assert_eq!(w.io.revocations["u1"], (T0 + 10, T0 + 10 + day));
    assert!(!resumes(&mut w, 1, &before, T0 + 40), "issued before");
    assert!(resumes(&mut w, 2, &after, T0 + 40), "issued after");
    assert_eq!(w.io.session(2).unwrap().shard, 1);
    // No check ran, so no member list was asked for: its auth:ok says null, and the
    // shell is asked to send the room-wide list after it.
    assert_eq!(last_auth_ok(&w, 2)["members"], serde_json::Value::Null);
    assert!(w.io.log.contains(&Ev::ListMembersTo(cid(2))));
    // The first object lists its members itself.
    assert!(resumes(&mut first, 3, &after, T0 + 40));
    assert!(!first
        .io
        .log
        .iter()
        .any(|e| matches!(e, Ev::ListMembersTo(_))));
    assert_eq!(
        crowd(&mut w),
        [Ev::ReportUser("u2".into(), true, Some(cid(2)))]
    );
    // An object that has already read its (empty) records takes them in step.
    let mut read = World::with(resuming("k"));
    read.room.set_further(2);
    assert!(resumes(&mut read, 1, &before, T0 + 5));
    read.room.adopt_revocations(&records[..1], &mut read.io);
    assert!(!resumes(&mut read, 3, &before, T0 + 40));
    assert_eq!(read.io.revocation_reads, 1);
}

#[test]
fn a_room_full_refusal_is_4503_and_takes_nothing_in() {
    for k in [0, 1] {
        let mut w = World::roomy();
        w.room.set_further(k);
        w.member(1, T0);
        w.io.take();
        let refused = w.room.on_room_full(9, "c9", T0 + 5, &mut w.io);
        assert_eq!(refused, Admission::Refused);
        assert_eq!(w.io.take(), [Ev::Refuse(9, "room_full", 4503)]);
        assert!(w.io.session(9).is_none(), "no attachment");
        assert_eq!(w.room.connections(), 1);
        w.room.flush(T0 + 5, &mut w.io);
        let trail = audit_trail(&w);
        assert_eq!(
            trail.last(),
            Some(&("refused", "c9".to_owned(), Some("room_full".to_owned())))
        );
    }
}
