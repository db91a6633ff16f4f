//! The check queue: at most `AUTH_CHECK_CONCURRENCY` participants checks in flight,
//! the rest in arrival order, each bounded in the queue by `AUTH_TIMEOUT_MS` and in
//! flight by `AUTH_CHECK_TIMEOUT_MS` from the moment it is sent.

use super::support::*;

/// Room for ten sockets; two checks at a time.
fn two_at_a_time() -> World {
    World::with(Config {
        max_connections: 10,
        max_pending: 10,
        auth_check_concurrency: 2,
        ..config()
    })
}

fn started(evs: &[Ev]) -> Vec<Sock> {
    evs.iter()
        .filter_map(|e| match e {
            Ev::StartCheck(s) => Some(*s),
            _ => None,
        })
        .collect()
}

/// Connects `socks` and has each send its auth at `now`; the checks sent at once.
fn storm(w: &mut World, socks: &[Sock], now: u64) -> Vec<Sock> {
    for &s in socks {
        assert_eq!(w.connect(s, now), Admission::Admitted);
        w.frame(s, AUTH, now);
    }
    started(&w.io.take())
}

#[test]
fn checks_past_the_concurrency_queue_and_go_out_in_arrival_order() {
    let mut w = two_at_a_time();
    assert_eq!(storm(&mut w, &[1, 2, 3, 4, 5], T0), [1, 2]);
    assert_eq!(w.room.checks(), (2, 3));
    assert_eq!(w.room.waiting(), 5, "queued sockets wait like checked ones");
    // Each answer frees a slot for the oldest queued check.
    w.check_done(2, World::verified("u2"), T0 + 50);
    assert_eq!(started(&w.io.take()), [3]);
    w.check_done(1, AuthOutcome::Denied, T0 + 60);
    assert_eq!(started(&w.io.take()), [4]);
    w.check_done(3, World::verified("u3"), T0 + 70);
    assert_eq!(started(&w.io.take()), [5]);
    w.check_done(4, World::verified("u4"), T0 + 80);
    w.check_done(5, World::verified("u5"), T0 + 90);
    assert!(started(&w.io.take()).is_empty());
    assert_eq!(w.room.checks(), (0, 0));
    assert_eq!(w.room.authenticated(), 4);
    // With slots free again, a check goes out at once.
    assert_eq!(storm(&mut w, &[6], T0 + 100), [6]);
}

#[test]
fn the_queue_does_not_count_against_the_check_timeout() {
    let mut w = two_at_a_time();
    assert_eq!(storm(&mut w, &[1, 2, 3], T0), [1, 2]);
    // Socket 3 waits 8 s for a slot: its check then has its full 5 s.
    w.check_done(1, World::verified("u1"), T0 + 8_000);
    assert_eq!(started(&w.io.take()), [3]);
    w.room.on_timer(T0 + 10_000, &mut w.io);
    let evs = w.io.take();
    assert!(
        evs.contains(&Ev::CancelCheck(cid(2))),
        "2 ran 10 s: {evs:?}"
    );
    assert!(!evs.contains(&Ev::CancelCheck(cid(3))), "{evs:?}");
    assert!(evs.contains(&Ev::ArmTimer(T0 + 13_000)), "{evs:?}");
    w.check_done(3, World::verified("u3"), T0 + 12_000);
    assert_eq!(w.room.authenticated(), 2);
    assert!(w.io.closes().is_empty());
}

#[test]
fn a_check_queued_past_the_auth_timeout_fails_as_unavailable() {
    let mut w = two_at_a_time();
    assert_eq!(storm(&mut w, &[1, 2], T0), [1, 2]);
    assert_eq!(storm(&mut w, &[3], T0 + 1_000), Vec::<Sock>::new());
    // 1 and 2 are aborted at their check deadline; 3 is still queued at T0 + 5 s
    // only because the aborted checks have not answered yet.
    w.room.on_timer(T0 + 5_000, &mut w.io);
    let evs = w.io.take();
    assert!(evs.contains(&Ev::ArmTimer(T0 + 11_000)), "{evs:?}");
    w.room.on_timer(T0 + 11_000, &mut w.io);
    assert_eq!(w.io.closes(), [(3, 4401, "auth_unavailable".into())]);
    assert_eq!(w.room.checks(), (2, 0));
    // The aborted checks answer late: their slots free, and nobody is queued.
    w.check_done(1, AuthOutcome::Unavailable, T0 + 11_001);
    w.check_done(2, AuthOutcome::Unavailable, T0 + 11_001);
    assert!(started(&w.io.take()).is_empty());
    assert_eq!(w.room.checks(), (0, 0));
}

#[test]
fn a_queued_socket_is_never_displaced_and_leaves_the_queue_when_it_closes() {
    let mut w = World::with(Config {
        max_connections: 10,
        max_pending: 3,
        auth_check_concurrency: 1,
        ..config()
    });
    assert_eq!(storm(&mut w, &[1, 2, 3], T0), [1]);
    // Three waiting sockets, none silent: the newcomer is let in over the limit.
    assert_eq!(w.connect(4, T0 + 5_000), Admission::Admitted);
    assert!(w.io.closes().is_empty(), "{:?}", w.io.closes());
    // A queued socket that goes is no longer checked.
    w.room
        .on_close(&2, Some(&cid(2)), Some(1000), T0 + 5_100, &mut w.io);
    w.io.take();
    w.check_done(1, World::verified("u1"), T0 + 5_200);
    assert_eq!(started(&w.io.take()), [3]);
    assert_eq!(w.room.checks(), (1, 0));
}

#[test]
fn a_disconnect_while_queued_refuses_the_check_that_follows() {
    let mut w = two_at_a_time();
    assert_eq!(storm(&mut w, &[1, 2, 3], T0), [1, 2]);
    let d = Disconnect {
        user_ids: vec!["u3".into()],
        connection_ids: vec![],
        reason: Reason::Removed,
    };
    assert_eq!(w.room.on_disconnect(&d, T0 + 100, &mut w.io), 0);
    // Its check goes out well after the disconnect, and the backend still admits.
    w.check_done(1, World::verified("u1"), T0 + 9_000);
    assert_eq!(started(&w.io.take()), [3]);
    w.check_done(3, World::verified("u3"), T0 + 9_100);
    let closes = w.io.closes();
    assert_eq!(closes.len(), 1, "{closes:?}");
    assert_eq!(closes[0], (3, 4403, "removed".into()));
    assert_eq!(w.room.authenticated(), 1);
}

#[test]
fn a_queued_socket_after_a_wake_is_closed_like_one_mid_check() {
    let mut w = two_at_a_time();
    assert_eq!(storm(&mut w, &[1, 2, 3], T0), [1, 2]);
    let queued = w.io.session(3).expect("an attachment");
    assert_eq!(queued.state, AuthState::Authenticating);
    let mut woken = two_at_a_time();
    woken
        .room
        .on_wake([(3, Some(queued))], true, T0 + 100, &mut woken.io);
    assert_eq!(woken.io.closes(), [(3, 4401, "auth_unavailable".into())]);
    assert_eq!(woken.room.checks(), (0, 0));
}

#[test]
fn a_refresh_queues_like_an_auth_and_fails_softly_when_it_waits_too_long() {
    let mut w = World::with(Config {
        max_connections: 10,
        max_pending: 10,
        auth_check_concurrency: 1,
        ..config()
    });
    w.member(1, T0);
    w.io.take();
    assert_eq!(storm(&mut w, &[2], T0 + 100), [2]);
    let refresh = r#"{"type":"auth:refresh","token":"t2"}"#;
    w.frame(1, refresh, T0 + 200);
    assert!(started(&w.io.take()).is_empty(), "the only slot is taken");
    assert_eq!(w.room.checks(), (1, 1));
    w.frame(1, refresh, T0 + 300);
    assert!(is_error(&w.io.sent_to(1)[0], "auth_in_progress"));
    w.io.take();
    // Check 2 is aborted at its deadline but never answers; the refresh times out in
    // the queue and the member stays, told why.
    w.room.on_timer(T0 + 10_200, &mut w.io);
    assert!(is_error(&w.io.sent_to(1)[0], "auth_unavailable"));
    assert!(!w.io.closes().iter().any(|c| c.0 == 1));
    assert_eq!(w.room.authenticated(), 1);
    assert_eq!(w.room.checks(), (1, 0));
}
