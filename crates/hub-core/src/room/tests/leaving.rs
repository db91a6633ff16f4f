//! Disconnects by the backend and closes by the client.

use super::support::*;

#[test]
fn disconnect_closes_every_tab_of_a_user_and_listed_connections() {
    let mut w = World::roomy();
    w.member(1, T0);
    w.member(2, T0);
    // A second tab of u1, and a socket still waiting.
    w.member_as(3, "u1", T0);
    w.connect(4, T0);
    w.io.take();
    let d = disconnect(&["u1"], &[cid(4)], Reason::Removed);
    assert_eq!(w.room.on_disconnect(&d, T0 + 1, &mut w.io), 3);
    let mut closes = w.io.closes();
    closes.sort();
    assert_eq!(
        closes,
        [
            (1, 4403, "removed".into()),
            (3, 4403, "removed".into()),
            (4, 4403, "removed".into())
        ]
    );
    assert_eq!((w.room.authenticated(), w.room.connections()), (1, 1));
    w.io.take();
    let d = disconnect(&[], &[cid(2)], Reason::Reauth);
    assert_eq!(w.room.on_disconnect(&d, T0 + 2, &mut w.io), 1);
    assert_eq!(w.io.closes(), [(2, 4401, "reauth_required".into())]);
    assert!(is_error(&w.io.sent_to(2)[0], "reauth_required"));
    let nobody = disconnect(&["zed"], &["nope".into()], Reason::Removed);
    assert_eq!(w.room.on_disconnect(&nobody, T0 + 3, &mut w.io), 0);
}

#[test]
fn a_check_in_flight_when_its_user_is_removed_does_not_admit_it() {
    let mut w = World::new();
    w.connect(1, T0);
    w.frame(1, AUTH, T0);
    w.io.take();
    let d = disconnect(&["u1"], &[], Reason::Removed);
    assert_eq!(w.room.on_disconnect(&d, T0 + 10, &mut w.io), 0);
    w.check_done(1, World::verified("u1"), T0 + 20);
    assert_eq!(w.io.closes(), [(1, 4403, "removed".into())]);
    assert!(!w.io.sent_to(1).iter().any(|f| f.contains("auth:ok")));
    assert_eq!(w.room.authenticated(), 0);
    // A check that starts after the removal (the backend re-added the user) admits.
    w.connect(2, T0 + 30);
    w.frame(2, AUTH, T0 + 30);
    w.check_done(2, World::verified("u1"), T0 + 40);
    assert!(w.io.sent_to(2).iter().any(|f| f.contains("auth:ok")));
}

#[test]
fn a_close_the_client_started_is_answered_with_its_code() {
    let mut w = World::new();
    w.member(1, T0);
    w.connect(2, T0);
    w.io.take();
    w.room
        .on_close(&1, Some(&cid(1)), Some(4000), T0, &mut w.io);
    w.room
        .on_close(&2, Some(&cid(2)), Some(1005), T0, &mut w.io);
    // Unreadable attachment: still answered. A failed socket (no code): nothing to answer.
    w.room.on_close(&7, None, Some(3001), T0, &mut w.io);
    w.room.on_close(&8, None, None, T0, &mut w.io);
    assert_eq!(
        w.io.closes(),
        [
            (1, 4000, "".into()),
            (2, 1000, "".into()),
            (7, 3001, "".into())
        ]
    );
    assert_eq!(w.room.connections(), 0);
}

#[test]
fn a_socket_the_room_closed_is_not_closed_again_when_the_client_answers() {
    let mut w = World::new();
    w.member(1, T0);
    w.flood(1);
    w.io.take();
    w.room
        .on_close(&1, Some(&cid(1)), Some(4429), T0, &mut w.io);
    assert_eq!(w.io.closes(), []);
}
