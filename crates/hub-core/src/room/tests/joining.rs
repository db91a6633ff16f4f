//! Auth, the participants check, refresh, and resume tickets.

use super::support::*;

#[test]
fn a_socket_gone_during_its_check_is_not_admitted_and_its_check_is_aborted() {
    let mut w = World::new();
    w.connect(1, T0);
    w.frame(1, AUTH, T0);
    w.io.take();
    w.room
        .on_close(&1, Some(&cid(1)), Some(1000), T0, &mut w.io);
    assert!(w.io.take().contains(&Ev::CancelCheck(cid(1))));
    w.check_done(1, World::verified("u1"), T0 + 10);
    assert!(w.io.take().is_empty());
    assert_eq!(w.room.authenticated(), 0);
    assert_eq!(w.broadcast(&[]), 0);
}

#[test]
fn check_outcomes() {
    let mut w = World::new();
    w.connect(1, T0);
    w.frame(1, AUTH, T0);
    w.check_done(1, World::verified("server-u"), T0);
    let sent = w.io.sent_to(1);
    assert_eq!(
        sent.last().unwrap(),
        r#"{"type":"auth:ok","connectionId":"c1","userId":"server-u","expiresAt":null,"members":["server-u"]}"#
    );
    assert_eq!(w.io.session(1).unwrap().state, AuthState::Authenticated);
    w.connect(2, T0);
    w.frame(2, AUTH, T0);
    w.check_done(2, AuthOutcome::Denied, T0);
    assert_eq!(w.io.closes(), [(2, 4401, "unauthorized".into())]);
    // An attachment the runtime will not store: forgotten, never half-admitted.
    w.connect(3, T0);
    w.frame(3, AUTH, T0);
    w.io.fail_saves = true;
    let session = w.io.session(3).unwrap();
    w.room
        .on_check_done(&3, &session, World::verified("u3"), T0, &mut w.io);
    assert_eq!(w.room.authenticated(), 1);
    assert_eq!(w.room.connections(), 1);
}

#[test]
fn a_refresh_renews_the_expiry_in_place() {
    let mut w = World::roomy();
    w.member_until(1, "ann", T0 + 5_000, T0);
    w.member(2, T0);
    w.io.take();
    w.frame(1, REFRESH, T0 + 4_000);
    let log = w.io.take();
    assert!(log.contains(&Ev::StartCheck(1)), "{log:?}");
    assert!(
        log.contains(&Ev::ArmTimer(T0 + 4_000 + 5_000)),
        "bounded in time"
    );
    // One at a time.
    w.frame(1, REFRESH, T0 + 4_100);
    assert!(is_error(&w.io.sent_to(1)[0], "auth_in_progress"));
    assert!(!w.io.take().contains(&Ev::StartCheck(1)));
    let renewed = AuthOutcome::Verified {
        watch: Vec::new(),
        user_id: Some("ann".into()),
        expires_at: Some(T0 + 60_000),
    };
    w.refresh_done(1, renewed, T0 + 4_200);
    assert_eq!(
        w.io.sent_to(1),
        [r#"{"type":"auth:refreshed","expiresAt":1060000}"#]
    );
    let log = w.io.take();
    assert!(
        log.contains(&Ev::CancelTimer),
        "nothing left to wait for: {log:?}"
    );
    assert!(
        !log.iter().any(|e| matches!(e, Ev::FanOut(..))),
        "no presence"
    );
    let session = w.io.session(1).unwrap();
    assert_eq!(
        (session.expires_at, session.connection_id.as_str()),
        (Some(T0 + 60_000), "c1")
    );
    // Past the old expiry, ann still gets deliveries.
    assert_eq!(w.broadcast_at(T0 + 30_000), 2);
    assert!(w.io.closes().is_empty());
}

#[test]
fn refresh_outcomes() {
    let mut w = World::roomy();
    for s in 1..=4 {
        w.member_until(s, &format!("u{s}"), T0 + 5_000, T0);
    }
    for s in 1..=4 {
        w.frame(s, REFRESH, T0 + 1_000);
    }
    w.io.take();
    let as_user = |u: &str| AuthOutcome::Verified {
        watch: Vec::new(),
        user_id: Some(u.into()),
        expires_at: Some(T0 + 60_000),
    };
    w.refresh_done(1, as_user("mallory"), T0 + 1_100);
    w.refresh_done(2, AuthOutcome::Denied, T0 + 1_100);
    w.refresh_done(3, AuthOutcome::Unavailable, T0 + 1_100);
    assert_eq!(
        w.io.closes(),
        [
            (1, 4401, "identity_changed".into()),
            (2, 4401, "unauthorized".into())
        ]
    );
    // A backend hiccup keeps the socket until its current expiry.
    assert!(is_error(&w.io.sent_to(3)[0], "auth_unavailable"));
    assert_eq!(w.room.authenticated(), 2);
    w.io.take();
    // A refresh that never answers is aborted at its deadline, then ends as unavailable.
    w.room.on_timer(T0 + 6_000, &mut w.io);
    assert!(w.io.take().contains(&Ev::CancelCheck(cid(4))));
    // Refreshes are frames: they count against the rate limit.
    let mut w = World::roomy();
    w.member(1, T0);
    for _ in 0..40 {
        w.frame(1, REFRESH, T0);
    }
    assert!(w.io.sent_to(1).iter().any(|f| is_error(f, "rate_limited")));
    // Before auth, a refresh is refused like any other event.
    w.connect(2, T0);
    w.io.take();
    w.frame(2, REFRESH, T0);
    assert!(is_error(&w.io.sent_to(2)[0], "unauthenticated"));
}

#[test]
fn a_real_check_issues_a_ticket_that_readmits_without_one() {
    let mut w = World::with(resuming("k"));
    w.member_until(1, "ann", T0 + 60_000, T0);
    let ok = last_auth_ok(&w, 1);
    let ticket = ok["resume"].as_str().expect("a ticket").to_owned();
    let secret = crate::resume::Secret::new("k").unwrap();
    let claims = crate::resume::verify(
        &[&secret],
        crate::resume::Domain::Room,
        &ticket,
        "room-1",
        T0,
    )
    .unwrap();
    // The token's expiry, being sooner than now + RESUME_TTL_MS.
    assert_eq!(
        (claims.user_id.as_str(), claims.expires_at),
        ("ann", T0 + 60_000)
    );
    // A new socket with the ticket: in at once, as ann, with the ticket's expiry and
    // the same ticket, under a new connection id.
    assert!(resumes(&mut w, 2, &ticket, T0 + 1_000));
    let ok = last_auth_ok(&w, 2);
    assert_eq!(ok["userId"], "ann");
    assert_eq!(ok["connectionId"], "c2");
    assert_eq!(ok["expiresAt"], T0 + 60_000);
    assert_eq!(ok["resume"], ticket.as_str());
    assert_eq!(w.room.authenticated(), 2);
    // The audit tells a resume from a check.
    w.room.flush(T0 + 100, &mut w.io);
    let events: Vec<&str> = w.io.audit_written.iter().map(|e| e.event).collect();
    assert!(events.contains(&"resumed"), "{events:?}");
}

#[test]
fn tickets_last_at_most_the_ttl_and_only_for_verified_users() {
    let mut w = World::with(resuming("k"));
    w.member(1, T0);
    let ticket = last_auth_ok(&w, 1)["resume"].as_str().unwrap().to_owned();
    let secret = crate::resume::Secret::new("k").unwrap();
    let claims = crate::resume::verify(
        &[&secret],
        crate::resume::Domain::Room,
        &ticket,
        "room-1",
        T0,
    )
    .unwrap();
    assert_eq!(claims.expires_at, T0 + 600_000);
    // A null user id gets none.
    w.connect(2, T0);
    w.frame(2, AUTH, T0);
    let anonymous = AuthOutcome::Verified {
        watch: Vec::new(),
        user_id: None,
        expires_at: None,
    };
    w.check_done(2, anonymous, T0);
    assert!(last_auth_ok(&w, 2).get("resume").is_none());
    // Without a secret, none at all, and a ticket is never read.
    let mut off = World::roomy();
    off.member(1, T0);
    assert!(last_auth_ok(&off, 1).get("resume").is_none());
    assert!(!resumes(&mut off, 2, &ticket, T0));
}

#[test]
fn any_other_ticket_falls_back_to_the_check() {
    let mut w = World::with(resuming("k"));
    w.member_until(1, "ann", T0 + 60_000, T0);
    let ticket = last_auth_ok(&w, 1)["resume"].as_str().unwrap().to_owned();
    let other_room = crate::resume::issue(
        &crate::resume::Secret::new("k").unwrap(),
        crate::resume::Domain::Room,
        "room-2",
        "ann",
        T0,
        T0 + 60_000,
    );
    let other_key = crate::resume::issue(
        &crate::resume::Secret::new("not-k").unwrap(),
        crate::resume::Domain::Room,
        "room-1",
        "ann",
        T0,
        T0 + 60_000,
    );
    let tampered = format!("{}x", ticket);
    for (s, bad) in [
        (2, other_room),
        (3, other_key),
        (4, tampered),
        (5, "junk".into()),
    ] {
        assert!(!resumes(&mut w, s, &bad, T0 + 1_000), "{bad}");
    }
    // Expired.
    assert!(!resumes(&mut w, 6, &ticket, T0 + 60_000));
}

#[test]
fn a_disconnect_revokes_the_tickets_issued_before_it() {
    let mut w = World::with(resuming("k"));
    w.member(1, T0);
    let before = last_auth_ok(&w, 1)["resume"].as_str().unwrap().to_owned();
    let d = Disconnect {
        user_ids: vec!["u1".into()],
        connection_ids: vec![],
        reason: Reason::Reauth,
    };
    w.room.on_disconnect(&d, T0 + 10, &mut w.io);
    // Remembered as long as any ticket can live, whatever today's TTL.
    assert_eq!(w.io.revocations["u1"], (T0 + 10, T0 + 10 + 86_400_000));
    assert!(!resumes(&mut w, 2, &before, T0 + 20));
    // A new instance reads the records once, then keeps them in step.
    let mut woken = World::with(resuming("k"));
    woken.io.revocations = w.io.revocations.clone();
    woken.room.on_wake(Vec::new(), true, T0 + 20, &mut woken.io);
    assert!(!resumes(&mut woken, 7, &before, T0 + 21));
    assert!(!resumes(&mut woken, 8, &before, T0 + 22));
    assert_eq!(woken.io.revocation_reads, 1);
    // A real check after the disconnect issues a ticket that works again.
    w.check_done(2, World::verified("u1"), T0 + 30);
    let after = last_auth_ok(&w, 2)["resume"].as_str().unwrap().to_owned();
    assert!(resumes(&mut w, 3, &after, T0 + 40));
}

/// The scenarios of a removal that must hold whatever the room's storage state and
/// configuration are when the disconnect comes.
#[test]
fn a_disconnect_is_recorded_whatever_the_room_state_or_secrets() {
    let d = disconnect(&["u1"], &[], Reason::Removed);
    // A: the instance that issued the ticket died before its first write; the new one
    // has no tables. The disconnect records the user anyway, and the ticket fails.
    let mut w = World::with(resuming("k"));
    w.member(1, T0);
    let ticket = last_auth_ok(&w, 1)["resume"].as_str().unwrap().to_owned();
    let mut fresh = World::with(resuming("k"));
    fresh.room.on_wake(Vec::new(), false, T0 + 5, &mut fresh.io);
    assert!(!fresh.room.has_storage());
    fresh.room.on_disconnect(&d, T0 + 10, &mut fresh.io);
    assert!(fresh.io.revocations.contains_key("u1"));
    assert!(!resumes(&mut fresh, 2, &ticket, T0 + 20));
    // B: the secret is unset during the disconnect; restored later, the old ticket
    // is still refused.
    let mut unset = World::roomy();
    unset.room.on_disconnect(&d, T0 + 10, &mut unset.io);
    let mut restored = World::with(resuming("k"));
    restored.io.revocations = unset.io.revocations.clone();
    assert!(!resumes(&mut restored, 2, &ticket, T0 + 20));
    // Without records (and without tables) a ticket stands: nothing was revoked.
    let mut clean = World::with(resuming("k"));
    assert!(resumes(&mut clean, 2, &ticket, T0 + 20));
}

#[test]
fn a_ticket_longer_than_todays_ttl_is_ignored() {
    // C: tickets issued under a TTL of a day; the TTL is lowered to 1 s.
    let day = Config {
        resume_ttl_ms: 86_400_000,
        ..resuming("k")
    };
    let mut w = World::with(day.clone());
    w.member(1, T0);
    let ticket = last_auth_ok(&w, 1)["resume"].as_str().unwrap().to_owned();
    assert!(resumes(&mut World::with(day), 2, &ticket, T0 + 1_500));
    let second = Config {
        resume_ttl_ms: 1_000,
        ..resuming("k")
    };
    let mut lowered = World::with(second);
    assert!(!resumes(&mut lowered, 2, &ticket, T0 + 1_500));
    // The check decides instead.
    assert!(lowered.io.take().contains(&Ev::StartCheck(2)));
}

#[test]
fn unreadable_disconnect_records_leave_the_check_to_decide() {
    let mut w = World::with(resuming("k"));
    w.member(1, T0);
    let ticket = last_auth_ok(&w, 1)["resume"].as_str().unwrap().to_owned();
    let mut broken = World::with(resuming("k"));
    broken.io.unreadable_revocations = true;
    assert!(!resumes(&mut broken, 2, &ticket, T0 + 20));
}

#[test]
fn rotation_keeps_the_previous_secret_for_verification_only() {
    let old = crate::resume::Secret::new("old").unwrap();
    let mut w = World::with(Config {
        resume_secret_previous: Some(old.clone()),
        ..resuming("new")
    });
    w.member(1, T0);
    let fresh = last_auth_ok(&w, 1)["resume"].as_str().unwrap().to_owned();
    let new = crate::resume::Secret::new("new").unwrap();
    assert!(
        crate::resume::verify(&[&new], crate::resume::Domain::Room, &fresh, "room-1", T0).is_ok(),
        "signed with the new one"
    );
    let issued_before = crate::resume::issue(
        &old,
        crate::resume::Domain::Room,
        "room-1",
        "u9",
        T0,
        T0 + 60_000,
    );
    assert!(resumes(&mut w, 2, &issued_before, T0 + 1));
    assert_eq!(last_auth_ok(&w, 2)["userId"], "u9");
}

#[test]
fn a_refresh_issues_a_fresh_ticket() {
    let mut w = World::with(resuming("k"));
    w.member_until(1, "ann", T0 + 5_000, T0);
    let first = last_auth_ok(&w, 1)["resume"].as_str().unwrap().to_owned();
    w.frame(1, REFRESH, T0 + 1_000);
    w.io.take();
    let renewed = AuthOutcome::Verified {
        watch: Vec::new(),
        user_id: Some("ann".into()),
        expires_at: Some(T0 + 90_000),
    };
    w.refresh_done(1, renewed, T0 + 1_000);
    let frame: serde_json::Value = serde_json::from_str(&w.io.sent_to(1)[0]).unwrap();
    let ticket = frame["resume"].as_str().expect("a new ticket");
    assert_ne!(ticket, first);
    let secret = crate::resume::Secret::new("k").unwrap();
    let claims = crate::resume::verify(
        &[&secret],
        crate::resume::Domain::Room,
        ticket,
        "room-1",
        T0,
    )
    .unwrap();
    assert_eq!(
        (claims.issued_at, claims.expires_at),
        (T0 + 1_000, T0 + 90_000)
    );
}
