//! Capacity, waiting sockets and who makes room, deadlines, and the wake.

use super::support::*;

#[test]
fn capacity_counts_every_open_socket_and_frees_on_close() {
    let mut w = World::new();
    w.member(1, T0);
    assert_eq!(w.connect(2, T0), Admission::Admitted);
    assert_eq!(w.connect(3, T0), Admission::Admitted);
    w.io.take();
    assert_eq!(w.connect(4, T0), Admission::Refused);
    assert_eq!(w.io.take(), [Ev::Refuse(4, "room_full", 4503)]);
    assert_eq!(w.room.connections(), 3);
    w.room
        .on_close(&2, Some(&cid(2)), Some(1000), T0, &mut w.io);
    assert_eq!(w.connect(5, T0), Admission::Admitted);
    assert_eq!(w.room.connections(), 3);
}

#[test]
fn a_socket_the_runtime_refuses_is_not_counted() {
    let mut w = World::new();
    w.io.fail_accepts = true;
    assert_eq!(w.connect(1, T0), Admission::Failed);
    assert_eq!(w.room.connections(), 0);
    assert!(w.io.log.is_empty(), "{:?}", w.io.log);
}

#[test]
fn the_timer_is_armed_for_the_earliest_deadline_and_cancelled_when_nothing_waits() {
    let mut w = World::new();
    w.connect(1, T0);
    assert!(w.io.take().contains(&Ev::ArmTimer(T0 + 10_000)));
    // A later deadline keeps the earlier timer.
    w.connect(2, T0 + 500);
    assert!(!w.io.take().iter().any(|e| matches!(e, Ev::ArmTimer(_))));
    // An auth moves socket 1 to its check's deadline, earlier than socket 2's.
    w.frame(1, AUTH, T0 + 1_000);
    let evs = w.io.take();
    assert!(evs.contains(&Ev::StartCheck(1)));
    assert!(evs.contains(&Ev::ArmTimer(T0 + 6_000)), "{evs:?}");
    w.check_done(1, World::verified("u1"), T0 + 1_200);
    let evs = w.io.take();
    assert!(!evs.contains(&Ev::CancelTimer), "socket 2 still waits");
    w.frame(2, AUTH, T0 + 1_300);
    w.check_done(2, World::verified("u2"), T0 + 1_400);
    assert!(w.io.take().contains(&Ev::CancelTimer), "nobody waits");
}

#[test]
fn due_deadlines_close_waiting_sockets_abort_checks_and_rearm() {
    let mut w = World::new();
    w.connect(1, T0);
    w.connect(2, T0 + 7_000);
    w.connect(3, T0);
    w.frame(3, AUTH, T0 + 2_000);
    w.io.take();
    // The timer may fire early: nobody is closed before their deadline.
    w.room.on_timer(T0 + 5_000, &mut w.io);
    assert_eq!(w.io.take(), [Ev::ArmTimer(T0 + 7_000)]);
    w.room.on_timer(T0 + 10_000, &mut w.io);
    let evs = w.io.take();
    assert!(evs.contains(&Ev::CancelCheck(cid(3))), "{evs:?}");
    assert!(
        evs.contains(&Ev::Close(1, 4401, "auth_timeout".into())),
        "{evs:?}"
    );
    assert!(evs.contains(&Ev::ArmTimer(T0 + 17_000)), "{evs:?}");
    // The aborted check then ends as unavailable.
    w.check_done(3, AuthOutcome::Unavailable, T0 + 10_001);
    assert_eq!(w.io.closes(), [(3, 4401, "auth_unavailable".into())]);
    assert_eq!(w.room.connections(), 1);
}

#[test]
fn wake_reconciles_members_checks_waiting_overdue_and_unreadable_sockets() {
    let mut w = World::new();
    let session = |s: Sock, state: AuthState, connected_at: u64| Session {
        state,
        user_id: (state == AuthState::Authenticated).then(|| format!("u{s}")),
        ..Session::new(cid(s), room_id(), connected_at, 10_000)
    };
    let sockets = vec![
        (1, Some(session(1, AuthState::Authenticated, T0))),
        (2, Some(session(2, AuthState::Authenticating, T0))),
        (3, Some(session(3, AuthState::Pending, T0 + 5_000))),
        (4, Some(session(4, AuthState::Pending, T0))),
        (5, None),
    ];
    w.room.on_wake(sockets, true, T0 + 10_000, &mut w.io);
    let closes = w.io.closes();
    assert!(
        closes.contains(&(2, 4401, "auth_unavailable".into())),
        "{closes:?}"
    );
    assert!(
        closes.contains(&(4, 4401, "auth_timeout".into())),
        "{closes:?}"
    );
    assert!(
        closes.contains(&(5, LOST_STATE, "lost state".into())),
        "{closes:?}"
    );
    assert_eq!(closes.len(), 3);
    let evs = w.io.take();
    assert!(evs.contains(&Ev::ArmTimer(T0 + 15_000)), "{evs:?}");
    // Rows of every connection the room still counts are kept.
    assert!(
        evs.contains(&Ev::RemoveGhosts(vec![cid(1), cid(3)])),
        "{evs:?}"
    );
    assert_eq!(w.room.authenticated(), 1);
    assert_eq!(w.broadcast(&[]), 1);
    w.room.on_timer(T0 + 15_000, &mut w.io);
    assert_eq!(w.io.closes(), [(3, 4401, "auth_timeout".into())]);
}

#[test]
fn the_oldest_waiting_socket_makes_room_and_members_are_never_displaced() {
    let mut w = World::with(Config {
        max_connections: 4,
        max_pending: 2,
        pending_grace_ms: 0,
        ..config()
    });
    w.member(1, T0);
    w.connect(2, T0 + 1);
    w.connect(3, T0 + 2);
    w.io.take();
    assert_eq!(w.connect(4, T0 + 3), Admission::Admitted);
    assert_eq!(w.io.closes(), [(2, 4401, "auth_timeout".into())]);
    assert_eq!((w.room.waiting(), w.room.connections()), (2, 3));
    // A socket waiting for its check is not silent: the oldest silent one makes room.
    w.frame(3, AUTH, T0 + 4);
    w.io.take();
    assert_eq!(w.connect(5, T0 + 5), Admission::Admitted);
    let evs = w.io.take();
    assert!(
        evs.contains(&Ev::Close(4, 4401, "auth_timeout".into())),
        "{evs:?}"
    );
    let touched_3 = |e: &Ev| matches!(e, Ev::Close(3, ..) | Ev::CancelCheck(_));
    assert!(!evs.iter().any(touched_3), "{evs:?}");
    // With every waiting socket mid-check, a newcomer waits like any other.
    w.frame(5, AUTH, T0 + 6);
    w.io.take();
    assert_eq!(w.connect(6, T0 + 7), Admission::Admitted);
    assert_eq!(w.io.closes(), []);
    assert_eq!((w.room.waiting(), w.room.connections()), (3, 4));
    // Members fill the room: then it is full, whoever knocks.
    w.check_done(3, World::verified("u3"), T0 + 7);
    w.check_done(5, World::verified("u5"), T0 + 7);
    w.frame(6, AUTH, T0 + 7);
    w.check_done(6, World::verified("u6"), T0 + 7);
    assert_eq!((w.room.authenticated(), w.room.waiting()), (4, 0));
    w.io.take();
    assert_eq!(w.connect(7, T0 + 8), Admission::Refused);
    assert_eq!(w.io.take(), [Ev::Refuse(7, "room_full", 4503)]);
}

#[test]
fn a_socket_the_room_closed_stays_out_after_a_wake() {
    let mut w = World::new();
    w.member(1, T0);
    w.member(2, T0);
    w.flood(1);
    let marked = w.io.session(1).unwrap();
    assert!(marked.closed);
    // The client never answered the close; the room hibernates and wakes.
    let mut woken = World::new();
    woken.io.attachments = w.io.attachments.clone();
    let sockets = vec![(1, Some(marked)), (2, w.io.session(2))];
    woken
        .room
        .on_wake(sockets, true, T0 + 60_000, &mut woken.io);
    assert!(woken.io.closes().is_empty());
    woken.io.take();
    assert_eq!(woken.broadcast(&[]), 1);
    assert_eq!(
        woken.io.take(),
        [Ev::FanOut(r#"{"type":"x"}"#.into(), vec![2])]
    );
    // Its frames are ignored; its eventual close event changes nothing.
    woken.frame(1, r#"{"type":"ping"}"#, T0 + 60_001);
    woken
        .room
        .on_close(&1, Some(&cid(1)), Some(1000), T0, &mut woken.io);
    assert!(woken.io.take().is_empty());
    assert_eq!(woken.room.connections(), 1);
}

#[test]
fn sockets_the_runtime_still_holds_count_toward_its_limit() {
    let mut w = World::with(Config {
        max_connections: 10,
        max_pending: 9,
        ..config()
    });
    let closed = (0..RUNTIME_SOCKET_LIMIT as Sock - 1).map(|s| {
        let session = Session {
            closed: true,
            ..Session::new(cid(s + 100), room_id(), T0, 10_000)
        };
        (s + 100, Some(session))
    });
    w.room.on_wake(closed, true, T0, &mut w.io);
    assert_eq!(w.connect(1, T0), Admission::Admitted);
    assert_eq!(w.connect(2, T0), Admission::Refused);
    // One of them is finally let go by the runtime: room again.
    w.room
        .on_close(&100, Some(&cid(100)), Some(1000), T0, &mut w.io);
    assert_eq!(w.connect(3, T0), Admission::Admitted);
}

#[test]
fn a_waiting_socket_gets_a_grace_period_before_it_makes_room() {
    let mut w = World::with(Config {
        max_connections: 6,
        max_pending: 2,
        pending_grace_ms: 1_000,
        ..config()
    });
    w.connect(1, T0);
    w.connect(2, T0 + 10);
    w.io.take();
    // A reconnect storm: the waiting sockets are younger than the grace period, so
    // the newcomer gets in over the limit and nobody is closed.
    assert_eq!(w.connect(3, T0 + 500), Admission::Admitted);
    assert!(w.io.closes().is_empty());
    assert_eq!(w.room.waiting(), 3);
    // Once the oldest has waited that long, it makes room as before.
    assert_eq!(w.connect(4, T0 + 1_000), Admission::Admitted);
    assert_eq!(w.io.closes(), [(1, 4401, "auth_timeout".into())]);
    assert_eq!(w.room.waiting(), 3);
    // The capacity still bounds the room.
    w.connect(5, T0 + 1_001);
    w.connect(6, T0 + 1_002);
    w.io.take();
    assert_eq!(w.room.connections(), 5);
    assert_eq!(w.connect(7, T0 + 1_010), Admission::Admitted);
    assert_eq!(w.io.closes(), [(2, 4401, "auth_timeout".into())]);
    w.io.take();
    assert_eq!(w.connect(8, T0 + 1_011), Admission::Admitted);
    assert_eq!(w.room.connections(), 6);
    // Full, and the oldest waiting socket is still in its grace period: refused.
    assert_eq!(w.connect(9, T0 + 1_012), Admission::Refused);
    assert!(w.io.closes().is_empty());
}
