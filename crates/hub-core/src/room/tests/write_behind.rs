//! Rows and the audit, written behind.

use super::support::*;

#[test]
fn rows_are_written_behind_in_one_batch() {
    let mut w = World::new();
    w.connect(1, T0);
    w.connect(2, T0);
    w.frame(1, AUTH, T0);
    w.check_done(1, World::verified("u1"), T0 + 5);
    w.room
        .on_close(&2, Some(&cid(2)), Some(1000), T0, &mut w.io);
    let evs = w.io.take();
    let flushes: Vec<&Ev> = evs
        .iter()
        .filter(|e| matches!(e, Ev::ScheduleFlush(_) | Ev::WriteRows(_)))
        .collect();
    assert_eq!(flushes, [&Ev::ScheduleFlush(WRITE_BEHIND_MS)]);
    w.room.flush(T0 + 100, &mut w.io);
    // Socket 1's accept and auth are one upsert; socket 2 came and went unwritten.
    let Some(Ev::WriteRows(writes)) = w.io.take().pop() else {
        panic!("no write");
    };
    assert_eq!(writes.len(), 1);
    assert!(matches!(&writes[0], Write::Upsert(r) if r.state == AuthState::Authenticated));
    // Nothing pending: nothing written, and the next change schedules again.
    w.room.flush(T0 + 100, &mut w.io);
    assert!(w.io.take().is_empty());
    w.room
        .on_close(&1, Some(&cid(1)), Some(1000), T0, &mut w.io);
    assert!(w.io.take().contains(&Ev::ScheduleFlush(WRITE_BEHIND_MS)));
}

#[test]
fn a_full_batch_is_written_at_once() {
    let mut w = World::with(Config {
        max_connections: 1_000,
        max_pending: 999,
        ..config()
    });
    w.member(0, T0);
    w.room.flush(T0 + 100, &mut w.io);
    w.io.take();
    w.io.audit_written.clear();
    // Each connection adds one row and one audit event to the batch.
    let per_connect = 2;
    let last = (MAX_PENDING_WRITES / per_connect) as Sock;
    for s in 1..last {
        w.connect(s, T0);
    }
    assert!(!w.io.log.iter().any(|e| matches!(e, Ev::WriteRows(_))));
    w.connect(last, T0);
    let rows = w.io.log.iter().find_map(|e| match e {
        Ev::WriteRows(writes) => Some(writes.len()),
        _ => None,
    });
    assert_eq!(rows, Some(MAX_PENDING_WRITES / per_connect));
    assert_eq!(w.io.audit_written.len(), MAX_PENDING_WRITES / per_connect);
    w.io.take();
    // The scheduled flush that follows finds nothing left to write.
    w.room.flush(T0 + 100, &mut w.io);
    assert!(w.io.take().is_empty());
}

#[test]
fn nothing_is_stored_until_a_socket_authenticates() {
    let mut w = World::new();
    for s in 1..=3 {
        w.connect(s, T0);
        w.room
            .on_close(&s, Some(&cid(s)), Some(1000), T0, &mut w.io);
    }
    w.connect(4, T0);
    w.room.flush(T0 + 100, &mut w.io);
    let evs = w.io.take();
    assert!(
        !evs.iter()
            .any(|e| matches!(e, Ev::WriteRows(_) | Ev::ScheduleFlush(_))),
        "{evs:?}"
    );
    // Sockets that came and went leave nothing behind, not even in memory.
    let pending = w
        .room
        .connection_rows(T0, &mut w.io)
        .expect("no storage yet");
    assert_eq!(pending.len(), 1);
    assert!(!w.room.has_storage());
    // The first member turns storage on; the waiting socket's row goes with it.
    w.member(5, T0 + 1);
    assert!(w.io.take().contains(&Ev::ScheduleFlush(WRITE_BEHIND_MS)));
    w.room.flush(T0 + 100, &mut w.io);
    let evs = w.io.take();
    let written = writes(&evs);
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].len(), 2, "{written:?}");
}

#[test]
fn a_wake_without_tables_touches_no_storage() {
    let mut w = World::new();
    let waiting = Session::new(cid(1), room_id(), T0, 10_000);
    w.room
        .on_wake(vec![(1, Some(waiting))], false, T0, &mut w.io);
    assert!(!w
        .io
        .take()
        .iter()
        .any(|e| matches!(e, Ev::RemoveGhosts(_) | Ev::WriteRows(_))));
    let mut w = World::new();
    w.room
        .on_wake(Vec::<(Sock, Option<Session>)>::new(), true, T0, &mut w.io);
    assert_eq!(w.io.take(), [Ev::RemoveGhosts(vec![])]);
    assert!(w.room.has_storage());
}

#[test]
fn connection_rows_come_from_memory_until_the_room_has_storage() {
    let mut w = World::new();
    w.connect(1, T0);
    let rows = w
        .room
        .connection_rows(T0, &mut w.io)
        .expect("no storage yet");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, AuthState::Pending);
    assert!(writes(&w.io.take()).is_empty());
    w.frame(1, AUTH, T0);
    w.check_done(1, World::verified("u1"), T0);
    w.connect(2, T0);
    w.io.take();
    // With storage, pending changes are written first and the table is the answer.
    assert!(w.room.connection_rows(T0, &mut w.io).is_none());
    let evs = w.io.take();
    assert_eq!(writes(&evs).len(), 1);
    assert_eq!(writes(&evs)[0].len(), 2);
}

#[test]
fn the_audit_records_each_connection_event_with_the_rows() {
    let mut w = World::roomy();
    w.member(1, T0);
    w.connect(2, T0 + 1);
    w.frame(2, AUTH, T0 + 1);
    w.check_done(2, AuthOutcome::Denied, T0 + 2);
    w.member(3, T0 + 3);
    let d = disconnect(&["u3"], &[], Reason::Reauth);
    w.room.on_disconnect(&d, T0 + 4, &mut w.io);
    w.room
        .on_close(&1, Some(&cid(1)), Some(1001), T0 + 5, &mut w.io);
    for _ in 0..5 {
        w.connect(9, T0 + 6);
    }
    w.room.flush(T0 + 6, &mut w.io);
    // Each connection's story, in order, by connection.
    let story = |s: Sock| -> Vec<(&'static str, Option<String>)> {
        let trail = audit_trail(&w);
        let id = cid(s);
        trail
            .into_iter()
            .filter(|(_, c, _)| *c == id)
            .map(|(e, _, d)| (e, d))
            .collect()
    };
    let detail = |d: &str| Some(d.to_string());
    assert_eq!(
        story(1),
        [
            ("connected", None),
            ("authenticated", None),
            ("closed", detail("1001"))
        ]
    );
    assert_eq!(
        story(2),
        [("connected", None), ("refused", detail("unauthorized"))]
    );
    assert_eq!(
        story(3),
        [
            ("connected", None),
            ("authenticated", None),
            ("disconnected", detail("reauth"))
        ]
    );
    assert_eq!(story(9), vec![("connected", None); 5]);
    // Identities come from the backend's answer.
    let user_of = |event: &str, s: Sock| {
        let id = cid(s);
        let e = w.io.audit_written.iter();
        e.clone()
            .find(|e| e.event == event && e.connection_id == id)
            .and_then(|e| e.user_id.clone())
    };
    assert_eq!(user_of("authenticated", 1).as_deref(), Some("u1"));
    assert_eq!(user_of("disconnected", 3).as_deref(), Some("u3"));
    let week = 7 * 24 * 3_600_000;
    assert_eq!(
        w.io.prune,
        Some(audit::Prune {
            before: (T0 + 6).saturating_sub(week),
            keep: 1_000,
            now: T0 + 6,
        })
    );
}

#[test]
fn a_room_nobody_joined_keeps_a_bounded_audit_in_memory_only() {
    let mut w = World::with(Config {
        audit_max_events: 3,
        ..config()
    });
    for s in 1..=3 {
        w.connect(s, T0 + s as u64);
        w.room.on_close(&s, Some(&cid(s)), None, T0 + 10, &mut w.io);
    }
    w.room.flush(T0 + 100, &mut w.io);
    assert!(w.io.audit_written.is_empty());
    let newest = w
        .room
        .audit_events(10, T0 + 20, &mut w.io)
        .expect("no storage yet");
    let names: Vec<(&str, &str)> = newest
        .iter()
        .map(|e| (e.event, e.connection_id.as_str()))
        .collect();
    assert_eq!(
        names,
        [("closed", "c3"), ("connected", "c3"), ("closed", "c2")]
    );
    // The first member: the buffered events go out with the rows.
    w.member(4, T0 + 20);
    assert!(w.room.audit_events(10, T0 + 20, &mut w.io).is_none());
    // The three kept in memory (the oldest went when c4 connected), then c4's auth.
    assert_eq!(w.io.audit_written.len(), 4);
    assert_eq!(w.io.audit_written[3].event, "authenticated");
}
