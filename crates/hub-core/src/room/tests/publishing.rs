//! Broadcasts, idempotency keys, and the burst queue.

use super::support::*;

#[test]
fn broadcasts_reach_members_not_excluded() {
    let mut w = World::new();
    for s in 1..=3 {
        w.member(s, T0);
    }
    w.io.take();
    assert_eq!(w.broadcast(&[]), 3);
    assert_eq!(w.broadcast(&[cid(2), "nobody".into()]), 2);
    assert_eq!(
        w.io.take()[1],
        Ev::FanOut(r#"{"type":"x"}"#.into(), vec![1, 3])
    );
}

#[test]
fn user_targets_combine_with_exclusions_and_count_what_was_sent() {
    let mut w = World::roomy();
    w.member(1, T0);
    w.member(2, T0);
    w.member(3, T0);
    // A second tab of user u1.
    w.member_as(4, "u1", T0);
    w.io.take();
    let d = delivery(&[&cid(4)], Some(&["u1", "u3", "nobody"]), None);
    let p = w.room.on_broadcast(&d, T0, &mut w.io);
    assert_eq!(
        p,
        Published {
            delivered: 2,
            duplicate: false
        }
    );
    assert_eq!(fanned_to(&w.io.take()), [1, 3]);
    // A waiting socket is never a target, whatever it claimed.
    w.connect(5, T0);
    w.io.take();
    let d = delivery(&[], Some(&["u5"]), None);
    assert_eq!(w.room.on_broadcast(&d, T0, &mut w.io).delivered, 0);
}

#[test]
fn a_key_seen_within_the_window_delivers_nothing_and_repeats_the_count() {
    let mut w = World::new();
    w.member(1, T0);
    w.member(2, T0);
    w.io.take();
    let d = delivery(&[], None, Some("k1"));
    let first = w.room.on_broadcast(&d, T0 + 1, &mut w.io);
    assert_eq!(
        first,
        Published {
            delivered: 2,
            duplicate: false
        }
    );
    let window = config().idempotency_window_ms;
    assert!(w
        .io
        .take()
        .contains(&Ev::StoreKey("k1".into(), 2, T0 + 1, (T0 + 1) - window)));
    w.member(3, T0 + 2);
    w.io.take();
    let again = w.room.on_broadcast(&d, T0 + 2, &mut w.io);
    assert_eq!(
        again,
        Published {
            delivered: 2,
            duplicate: true
        }
    );
    assert!(fanned_to(&w.io.take()).is_empty());
    // Past the window, the key is new again.
    let later = w.room.on_broadcast(&d, T0 + 1 + window + 1, &mut w.io);
    assert_eq!(
        later,
        Published {
            delivered: 3,
            duplicate: false
        }
    );
}

#[test]
fn keys_survive_a_new_instance_through_storage() {
    let mut w = World::new();
    w.member(1, T0);
    let d = delivery(&[], None, Some("k1"));
    w.room.on_broadcast(&d, T0, &mut w.io);
    let mut woken = World::new();
    woken.io.stored_keys = w.io.stored_keys.clone();
    let sockets = vec![(1, w.io.session(1))];
    woken
        .room
        .on_wake(sockets, true, T0 + 20_000, &mut woken.io);
    woken.io.take();
    let p = woken.room.on_broadcast(&d, T0 + 20_000, &mut woken.io);
    assert_eq!(
        p,
        Published {
            delivered: 1,
            duplicate: true
        }
    );
    assert!(fanned_to(&woken.io.take()).is_empty());
}

#[test]
fn a_room_without_storage_keeps_keys_in_memory_only() {
    let mut w = World::new();
    let d = delivery(&[], None, Some("k1"));
    assert_eq!(w.room.on_broadcast(&d, T0, &mut w.io).delivered, 0);
    assert!(!w.io.take().iter().any(|e| matches!(e, Ev::StoreKey(..))));
    assert!(w.room.on_broadcast(&d, T0, &mut w.io).duplicate);
}

#[test]
fn remembered_keys_are_bounded() {
    let mut w = World::new();
    for i in 0..(MAX_IDEMPOTENCY_KEYS + 5) {
        let key = format!("k{i}");
        let d = delivery(&[], None, Some(&key));
        w.room.on_broadcast(&d, T0 + i as u64, &mut w.io);
    }
    // The oldest key is forgotten; the newest are still known.
    let again = |w: &mut World, key: &str| {
        let d = delivery(&[], None, Some(key));
        w.room.on_broadcast(&d, T0 + 20_000, &mut w.io).duplicate
    };
    assert!(again(&mut w, &format!("k{}", MAX_IDEMPOTENCY_KEYS + 4)));
    assert!(again(&mut w, "k5"));
    assert!(!again(&mut w, "k0"));
}

#[test]
fn an_idle_room_sends_at_once_and_a_busy_one_batches_for_those_who_ask() {
    let mut w = batching_room();
    w.batching_member(1, T0);
    w.member(2, T0);
    w.io.take();
    // Idle: at once, a plain frame to everyone, no timer.
    assert_eq!(w.publish(1, &[], None, T0 + 100), 2);
    assert_eq!(w.io.take(), [Ev::FanOut(m(1), vec![1, 2])]);
    // Within the window of that fan-out: queued, one timer for the window.
    assert_eq!(w.publish(2, &[], None, T0 + 102), 2, "counted when queued");
    assert_eq!(w.publish(3, &[], None, T0 + 103), 2);
    assert_eq!(w.io.take(), [Ev::ScheduleBurst(5)]);
    w.room.on_burst_timer(T0 + 107, &mut w.io);
    let log = w.io.take();
    // The per-frame socket gets each event as its own frame, in order; the batching
    // socket one batch frame with both.
    assert_eq!(
        log,
        [
            Ev::FanOut(m(2), vec![2]),
            Ev::FanOut(m(3), vec![2]),
            Ev::FanOut(
                format!(r#"{{"type":"batch","events":[{},{}]}}"#, m(2), m(3)),
                vec![1]
            ),
        ]
    );
    // Quiet again past the window: at once.
    w.publish(4, &[], None, T0 + 200);
    assert_eq!(w.io.take(), [Ev::FanOut(m(4), vec![1, 2])]);
}

/// The room learns what a send costs from when events start, under a clock that
/// stands still within an event (as deployed): a runtime at 27 µs per send here.
#[test]
fn the_busy_estimate_follows_the_runtime_it_runs_on() {
    let mut w = World::with(Config {
        max_connections: 1_000,
        max_pending: 1_000,
        batch_window_ms: 5,
        ..config()
    });
    for s in 0..1_000 {
        w.batching_member(s, T0);
    }
    w.io.take();
    assert_eq!(
        w.room.send_cost_ns(),
        40_000,
        "the reference figure, until measured"
    );
    // A fan-out of 1,000 frames; a ping that waited behind it starts 27 ms later.
    assert_eq!(w.publish(1, &[], None, T0 + 1_000), 1_000);
    w.frame(7, r#"{"type":"ping"}"#, T0 + 1_027);
    assert_eq!(w.room.send_cost_ns(), 27_000);
    w.io.take();
    // An event 8 ms after that fan-out's end (past the 5 ms window) finds the room
    // idle: sent at once. With the reference figure the room would still have counted
    // itself busy until T0 + 1_045.
    w.publish(2, &[], None, T0 + 1_035);
    let log = w.io.take();
    assert_eq!(log.len(), 1, "at once: {log:?}");
    assert!(matches!(log[0], Ev::FanOut(..)));
    // The next one 3 ms after that fan-out's end (27 ms of sends; the estimate now
    // spans both fan-outs, 65 ms for 2,000 frames): busy, queued for the window.
    w.publish(3, &[], None, T0 + 1_065);
    assert_eq!(w.room.send_cost_ns(), 32_500);
    assert_eq!(w.io.take(), [Ev::ScheduleBurst(5)]);
}

#[test]
fn nothing_waits_in_a_room_where_nobody_asks_for_batches() {
    let mut w = batching_room();
    w.member(1, T0);
    w.member(2, T0);
    w.io.take();
    for n in 0..5 {
        w.publish(n, &[], None, T0 + 100);
    }
    let log = w.io.take();
    assert_eq!(log.len(), 5);
    assert!(log.iter().all(|e| matches!(e, Ev::FanOut(..))), "{log:?}");
    // Batching off by configuration: the same.
    let mut off = World::with(Config {
        batch_window_ms: 0,
        ..config()
    });
    off.batching_member(1, T0);
    off.io.take();
    off.publish(1, &[], None, T0 + 100);
    off.publish(2, &[], None, T0 + 100);
    assert_eq!(off.io.take().len(), 2);
}

#[test]
fn exclusions_targets_and_typing_inside_one_burst_reach_exactly_their_sockets() {
    let mut w = batching_room();
    w.batching_member(1, T0);
    w.batching_member(2, T0);
    w.member(3, T0);
    w.publish(0, &[], None, T0 + 100);
    w.io.take();
    let (c1, c3) = (cid(1), cid(3));
    assert_eq!(w.publish(1, &[c1.as_str()], None, T0 + 101), 2);
    assert_eq!(w.publish(2, &[], Some(&["u1", "u3"]), T0 + 101), 2);
    w.frame(2, r#"{"type":"typing","isTyping":true}"#, T0 + 102);
    assert_eq!(w.publish(3, &[c3.as_str()], Some(&["u3"]), T0 + 102), 0);
    w.room.on_burst_timer(T0 + 106, &mut w.io);
    let got = w.received();
    let typing = r#"{"isTyping":true,"type":"typing","userId":"u2"}"#;
    let norm = |v: &[String]| -> Vec<String> {
        v.iter()
            .map(|e| {
                serde_json::from_str::<serde_json::Value>(e)
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let ev = |n: u32| {
        serde_json::from_str::<serde_json::Value>(&m(n))
            .unwrap()
            .to_string()
    };
    assert_eq!(norm(&got[&1]), [ev(2), typing.to_owned()]);
    assert_eq!(norm(&got[&2]), [ev(1)]);
    assert_eq!(norm(&got[&3]), [ev(1), ev(2), typing.to_owned()]);
    // Each batching socket got one frame: its own selection.
    assert_eq!((w.batch_frames_to(1), w.batch_frames_to(2)), (1, 0));
}

#[test]
fn a_socket_that_joins_during_a_burst_gets_only_what_came_after() {
    let mut w = batching_room();
    w.batching_member(1, T0);
    w.publish(0, &[], None, T0 + 100);
    w.io.take();
    w.publish(1, &[], None, T0 + 101);
    // A socket without a user id joins (no presence frame, so no early flush).
    w.connect(2, T0 + 102);
    w.frame(2, BATCH_AUTH, T0 + 102);
    let anonymous = AuthOutcome::Verified {
        watch: Vec::new(),
        user_id: None,
        expires_at: None,
    };
    w.check_done(2, anonymous, T0 + 102);
    w.publish(2, &[], None, T0 + 102);
    w.room.on_burst_timer(T0 + 106, &mut w.io);
    let got: HashMap<Sock, Vec<String>> = w
        .received()
        .into_iter()
        .map(|(s, events)| {
            (
                s,
                events
                    .into_iter()
                    .filter(|e| e.contains(r#""m""#))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(got[&1].len(), 2);
    assert_eq!(got[&2].len(), 1, "{:?}", got[&2]);
}

#[test]
fn presence_goes_after_the_queued_events_and_a_full_queue_goes_at_once() {
    let mut w = batching_room();
    w.batching_member(1, T0);
    w.publish(0, &[], None, T0 + 100);
    w.publish(1, &[], None, T0 + 101);
    w.io.take();
    // A join: the queue is flushed first, then the presence frame.
    w.member(2, T0 + 102);
    let got = w.received();
    let kinds: Vec<String> = got[&1]
        .iter()
        .map(|e| serde_json::from_str::<serde_json::Value>(e).unwrap()["type"].to_string())
        .collect();
    assert_eq!(kinds, [r#""m""#, r#""presence""#]);
    // The cap: the 100th queued event flushes the queue without waiting.
    w.publish(2, &[], None, T0 + 200);
    w.io.take();
    for n in 0..burst::MAX_QUEUED_EVENTS as u32 {
        w.publish(n, &[], None, T0 + 201);
    }
    assert!(w.batch_frames_to(1) >= 1, "flushed at the cap");
    let got = w.received();
    assert_eq!(got[&1].len(), burst::MAX_QUEUED_EVENTS);
}

#[test]
fn stored_keys_are_counted_once_and_pruned_by_count_only_over_the_cap() {
    let mut w = World::new();
    w.member(1, T0);
    for i in 0..50 {
        let key = format!("k{i}");
        w.room
            .on_broadcast(&delivery(&[], None, Some(&key)), T0 + i, &mut w.io);
    }
    assert_eq!((w.io.key_counts, w.io.count_prunes), (1, 0));
    // A new instance reads the count once; past the cap, one prune per new key.
    let mut woken = World::new();
    let many = (0..MAX_IDEMPOTENCY_KEYS).map(|i| (format!("s{i}"), (1, T0)));
    woken.io.stored_keys = many.collect();
    woken.room.on_wake(Vec::new(), true, T0, &mut woken.io);
    for i in 0..3 {
        let key = format!("n{i}");
        let d = delivery(&[], None, Some(&key));
        woken.room.on_broadcast(&d, T0 + 1 + i, &mut woken.io);
    }
    assert_eq!((woken.io.key_counts, woken.io.count_prunes), (1, 3));
    assert_eq!(woken.io.stored_keys.len(), MAX_IDEMPOTENCY_KEYS);
    // Keys aged out of the window make room again: no count-prune then.
    let later = T0 + 400_000;
    let d = delivery(&[], None, Some("late"));
    woken.room.on_broadcast(&d, later, &mut woken.io);
    assert_eq!(woken.io.count_prunes, 3);
}
