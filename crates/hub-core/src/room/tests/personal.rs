//! A personal channel: one user's sockets, capped; online and offline told to
//! watchers once each, after the delay; the watchlist read at auth and kept fresh.

use super::support::*;
use crate::channel::Channel;
use crate::personal::user_channel::UserChannel;

const ANN: &str = r#"{"type":"auth","token":"t","userId":"ann"}"#;
const DELAY: u64 = 3_000;

fn ann() -> World {
    let mut w = World::with(Config {
        max_connections: 10,
        max_pending: 5,
        max_connections_per_user: 2,
        offline_delay_ms: DELAY,
        ..config()
    });
    let user = UserChannel::parse("ann").unwrap();
    w.room
        .set_personal(user, Restored::default(), T0, &mut w.io);
    w.io.take();
    w
}

fn watching(ids: &[&str]) -> AuthOutcome {
    AuthOutcome::Verified {
        user_id: Some("ann".into()),
        expires_at: None,
        watch: ids.iter().map(|s| s.to_string()).collect(),
    }
}

impl World {
    fn connect_ann(&mut self, s: Sock, now: u64) {
        let channel = Channel::from_key("@ann").unwrap();
        let admitted = self.room.on_connect(s, cid(s), channel, now, &mut self.io);
        assert_eq!(admitted, Admission::Admitted);
        self.frame(s, ANN, now);
    }

    fn sign_in(&mut self, s: Sock, watch: &[&str], now: u64) {
        self.connect_ann(s, now);
        self.check_done(s, watching(watch), now);
    }

    fn auth_ok(&self, s: Sock) -> serde_json::Value {
        let sent = self.io.sent_to(s);
        let ok = sent
            .iter()
            .find(|f| f.contains("auth:ok"))
            .expect("auth:ok");
        serde_json::from_str(ok).unwrap()
    }

    fn told(&mut self) -> Vec<(Vec<String>, bool, u64)> {
        self.io
            .take()
            .into_iter()
            .filter_map(|e| match e {
                Ev::TellWatchers(w, online, at) => Some((w, online, at)),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn auth_ok_names_the_user_and_who_is_online_and_no_presence() {
    let mut w = ann();
    w.connect_ann(1, T0);
    // What the registrations read while the check ran.
    assert!(w.room.on_user_status("bob", true, 5, T0, &mut w.io));
    w.room.on_user_status("cy", false, 6, T0, &mut w.io);
    w.check_done(1, watching(&["bob", "cy", "dan"]), T0);
    let ok = w.auth_ok(1);
    assert_eq!(ok["userId"], "ann");
    assert_eq!(ok["online"], serde_json::json!(["bob"]));
    assert!(ok.get("members").is_none(), "{ok}");
    assert!(w.presence().is_empty(), "presence is a room's");
    // Typing is refused; ping still answers.
    w.frame(1, r#"{"type":"typing","isTyping":true}"#, T0);
    assert!(is_error(&w.io.sent_to(1)[0], "unknown_type"));
}

#[test]
fn online_is_told_once_and_offline_only_after_the_delay() {
    let mut w = ann();
    w.room.on_watch("bob", T0, &mut w.io);
    w.io.take();
    w.sign_in(1, &[], T0);
    assert_eq!(w.told(), [(vec!["bob".to_string()], true, T0)]);
    w.sign_in(2, &[], T0 + 1);
    assert!(w.told().is_empty(), "a second tab says nothing");
    w.room
        .on_close(&1, Some("c1"), Some(1000), T0 + 2, &mut w.io);
    w.room
        .on_close(&2, Some("c2"), Some(1000), T0 + 3, &mut w.io);
    let log = w.io.take();
    assert!(log.contains(&Ev::ArmTimer(T0 + 3 + DELAY)), "{log:?}");
    // A reload within the delay: nothing told, the timer goes.
    w.sign_in(3, &[], T0 + 1_000);
    let log = w.io.take();
    assert!(log.contains(&Ev::CancelTimer), "{log:?}");
    assert!(!log.iter().any(|e| matches!(e, Ev::TellWatchers(..))));
    w.room
        .on_close(&3, Some("c3"), Some(1000), T0 + 2_000, &mut w.io);
    w.io.take();
    w.room.on_timer(T0 + 2_000 + DELAY, &mut w.io);
    assert_eq!(
        w.told(),
        [(vec!["bob".to_string()], false, T0 + 2_000 + DELAY)]
    );
    w.room.on_timer(T0 + 9_000, &mut w.io);
    assert!(w.told().is_empty(), "offline is told once");
    assert_eq!(w.room.user_status(T0 + 9_000, &mut w.io), (false, 0));
}

#[test]
fn the_sockets_past_the_cap_are_refused_with_4409() {
    let mut w = ann();
    w.sign_in(1, &[], T0);
    w.sign_in(2, &[], T0);
    w.connect_ann(3, T0);
    w.check_done(3, watching(&[]), T0);
    assert_eq!(w.io.closes(), [(3, 4409, "too_many_connections".into())]);
    assert_eq!(w.room.user_status(T0, &mut w.io), (true, 2));
    // A ticket does not get around it either, and a free place takes one again.
    w.room.on_close(&1, Some("c1"), Some(1000), T0, &mut w.io);
    w.sign_in(4, &[], T0);
    assert_eq!(w.room.user_status(T0, &mut w.io), (true, 2));
}

#[test]
fn the_backend_naming_someone_else_closes_the_channel() {
    let mut w = ann();
    w.connect_ann(1, T0);
    w.check_done(1, World::verified("bob"), T0);
    assert_eq!(w.io.closes(), [(1, 4401, "identity_changed".into())]);
    w.connect_ann_raw(2, r#"{"type":"auth","token":"t","userId":"bob"}"#, T0);
    let closes = w.io.closes();
    assert_eq!(closes.last(), Some(&(2, 4403, "user_mismatch".into())));
}

#[test]
fn changes_of_watched_users_reach_every_socket_newest_first() {
    let mut w = ann();
    w.sign_in(1, &["bob"], T0);
    w.sign_in(2, &["bob"], T0);
    w.io.take();
    assert!(w.room.on_user_status("bob", true, 10, T0, &mut w.io));
    let frames: Vec<_> =
        w.io.take()
            .into_iter()
            .filter_map(|e| match e {
                Ev::FanOut(f, to) => Some((f, to)),
                _ => None,
            })
            .collect();
    assert_eq!(
        frames,
        [(
            r#"{"type":"user:status","userId":"bob","online":true}"#.to_string(),
            vec![1, 2]
        )]
    );
    // An older change arriving late is dropped; a repeat tells nobody.
    assert!(w.room.on_user_status("bob", false, 9, T0, &mut w.io));
    assert!(w.room.on_user_status("bob", true, 11, T0, &mut w.io));
    assert!(!w.io.take().iter().any(|e| matches!(e, Ev::FanOut(..))));
    // Someone the sockets do not watch: this object says so, and is forgotten.
    assert!(!w.room.on_user_status("eve", true, 12, T0, &mut w.io));
}

#[test]
fn watchers_past_the_bound_read_the_state_but_are_not_kept() {
    let mut w = World::with(Config {
        max_watchers_per_user: 1,
        ..config()
    });
    let user = UserChannel::parse("ann").unwrap();
    w.room
        .set_personal(user, Restored::default(), T0, &mut w.io);
    let first = w.room.on_watch("bob", T0, &mut w.io);
    let second = w.room.on_watch("cy", T0, &mut w.io);
    assert!(first.live && !second.live);
    let log = w.io.take();
    assert!(log.contains(&Ev::StoreWatcher("bob".into(), true)));
    assert!(!log.contains(&Ev::StoreWatcher("cy".into(), true)));
    w.room.on_unwatched("bob", &mut w.io);
    assert!(w.io.take().contains(&Ev::StoreWatcher("bob".into(), false)));
}

#[test]
fn a_wake_rebuilds_the_offline_change_and_the_watchlist() {
    let mut w = ann();
    let stored = Stored {
        told_online: true,
        offline_at: Some(T0 + 500),
        told_at: 7,
    };
    let restored = Restored {
        online: stored,
        watchers: vec!["bob".into()],
        watching: vec![(
            "cy".into(),
            Known {
                online: true,
                at: 3,
            },
        )],
    };
    let user = UserChannel::parse("ann").unwrap();
    w.room.set_personal(user, restored, T0, &mut w.io);
    assert!(w.io.take().contains(&Ev::ArmTimer(T0 + 500)));
    // Still watching cy until offline is told.
    assert!(w.room.on_user_status("cy", false, 4, T0, &mut w.io));
    w.room.on_timer(T0 + 500, &mut w.io);
    let log = w.io.take();
    assert!(log.contains(&Ev::TellWatchers(vec!["bob".into()], false, T0 + 500)));
    assert!(log.contains(&Ev::StoreWatching(vec![])), "{log:?}");
    assert!(!w.room.on_user_status("cy", true, 5, T0, &mut w.io));
}

#[test]
fn a_ticket_admits_only_while_the_watchlist_is_known() {
    let secret = crate::resume::Secret::new("k").unwrap();
    let mut w = World::with(Config {
        resume_secret: Some(secret.clone()),
        offline_delay_ms: DELAY,
        ..config()
    });
    let user = UserChannel::parse("ann").unwrap();
    w.room
        .set_personal(user, Restored::default(), T0, &mut w.io);
    let ticket = crate::resume::issue(
        &secret,
        crate::resume::Domain::Personal,
        "@ann",
        "ann",
        T0,
        T0 + 60_000,
    );
    let with_ticket =
        format!(r#"{{"type":"auth","token":"t","userId":"ann","resume":"{ticket}"}}"#);
    // Nothing known yet: the check runs.
    w.connect_ann_raw(1, &with_ticket, T0);
    assert_eq!(w.io.session(1).unwrap().state, AuthState::Authenticating);
    w.check_done(1, watching(&["bob"]), T0);
    // Now known: a second tab resumes without a check and shares the list.
    w.connect_ann_raw(2, &with_ticket, T0);
    assert_eq!(w.io.session(2).unwrap().state, AuthState::Authenticated);
    // A room's ticket never opens a personal channel.
    let room_ticket = crate::resume::issue(
        &secret,
        crate::resume::Domain::Room,
        "@ann",
        "ann",
        T0,
        T0 + 60_000,
    );
    let with_room_ticket =
        format!(r#"{{"type":"auth","token":"t","userId":"ann","resume":"{room_ticket}"}}"#);
    w.connect_ann_raw(3, &with_room_ticket, T0);
    assert_eq!(w.io.session(3).unwrap().state, AuthState::Authenticating);
}

impl World {
    fn connect_ann_raw(&mut self, s: Sock, auth: &str, now: u64) {
        let channel = Channel::from_key("@ann").unwrap();
        self.room.on_connect(s, cid(s), channel, now, &mut self.io);
        self.frame(s, auth, now);
    }
}
