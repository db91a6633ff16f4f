//! The room's rules, driven through a recording `Io`. Sockets are numbers.

use super::*;
use crate::audit;
use crate::control::{Disconnect, Reason};
use crate::internal::Delivery;
use crate::journal::Write;
use crate::protocol::{parse_incoming, Incoming};
use crate::rate_limit::RateLimit;
use crate::session::AuthState;

type Sock = u32;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Refuse(Sock, &'static str, u16),
    Send(Sock, String),
    FanOut(String, Vec<Sock>),
    Close(Sock, u16, String),
    StartCheck(Sock),
    CancelCheck(String),
    ArmTimer(u64),
    CancelTimer,
    ScheduleFlush(u64),
    ScheduleBurst(u64),
    WriteRows(Vec<Write>),
    RemoveGhosts(Vec<String>),
    StoreKey(String, usize, u64, u64),
}

/// Records every effect; keeps attachments as the runtime would.
#[derive(Default)]
struct Fake {
    log: Vec<Ev>,
    attachments: HashMap<Sock, Session>,
    fail_saves: bool,
    fail_accepts: bool,
    /// Sockets closed so far.
    closed: HashSet<Sock>,
    /// Audit events written, and the last pruning asked for.
    audit_written: Vec<audit::Entry>,
    prune: Option<audit::Prune>,
    /// The stored idempotency keys: key -> (delivered, at).
    stored_keys: HashMap<String, (usize, u64)>,
    /// Stored disconnect records: user -> (at, until), and how often they were read.
    revocations: HashMap<String, (u64, u64)>,
    revocation_reads: usize,
}

impl Fake {
    fn take(&mut self) -> Vec<Ev> {
        std::mem::take(&mut self.log)
    }

    fn session(&self, s: Sock) -> Option<Session> {
        self.attachments.get(&s).cloned()
    }

    fn sent_to(&self, s: Sock) -> Vec<String> {
        self.log
            .iter()
            .filter_map(|e| match e {
                Ev::Send(to, f) if *to == s => Some(f.clone()),
                _ => None,
            })
            .collect()
    }

    fn closes(&self) -> Vec<(Sock, u16, String)> {
        self.log
            .iter()
            .filter_map(|e| match e {
                Ev::Close(s, c, r) => Some((*s, *c, r.clone())),
                _ => None,
            })
            .collect()
    }
}

impl Io<Sock> for Fake {
    fn accept(&mut self, socket: &Sock, session: &Session) -> bool {
        if self.fail_accepts {
            return false;
        }
        self.attachments.insert(*socket, session.clone());
        true
    }
    fn refuse(&mut self, socket: &Sock, error: &ClientError, code: CloseCode) {
        self.log
            .push(Ev::Refuse(*socket, error.code.as_str(), code.code()));
    }
    fn save(&mut self, socket: &Sock, session: &Session) -> bool {
        // As the runtime: a closing socket's attachment is no longer stored.
        if self.fail_saves || self.closed.contains(socket) {
            return false;
        }
        self.attachments.insert(*socket, session.clone());
        true
    }
    fn load(&mut self, socket: &Sock) -> Option<Session> {
        self.attachments.get(socket).cloned()
    }
    fn send(&mut self, socket: &Sock, frame: &str) {
        self.log.push(Ev::Send(*socket, frame.to_owned()));
    }
    fn fan_out<'a>(&mut self, frame: &str, to: impl Iterator<Item = &'a Sock>) -> usize {
        let mut to: Vec<Sock> = to.copied().collect();
        to.sort();
        let n = to.len();
        self.log.push(Ev::FanOut(frame.to_owned(), to));
        n
    }
    fn close(&mut self, socket: &Sock, code: u16, reason: &str) {
        self.closed.insert(*socket);
        self.log.push(Ev::Close(*socket, code, reason.to_owned()));
    }
    fn start_check(&mut self, socket: &Sock, _session: Session, _request: AuthRequest) {
        self.log.push(Ev::StartCheck(*socket));
    }
    fn cancel_check(&mut self, connection_id: &str) {
        self.log.push(Ev::CancelCheck(connection_id.to_owned()));
    }
    fn arm_timer(&mut self, at: u64) {
        self.log.push(Ev::ArmTimer(at));
    }
    fn cancel_timer(&mut self) {
        self.log.push(Ev::CancelTimer);
    }
    fn schedule_flush(&mut self, after_ms: u64) {
        self.log.push(Ev::ScheduleFlush(after_ms));
    }
    fn schedule_burst(&mut self, after_ms: u64) {
        self.log.push(Ev::ScheduleBurst(after_ms));
    }
    fn write_rows(&mut self, writes: Vec<Write>, audit: Vec<audit::Entry>, prune: audit::Prune) {
        self.audit_written.extend(audit);
        self.prune = Some(prune);
        if !writes.is_empty() {
            self.log.push(Ev::WriteRows(writes));
        }
    }
    fn find_key(&mut self, key: &str, since: u64) -> Option<usize> {
        self.stored_keys
            .get(key)
            .filter(|(_, at)| *at >= since)
            .map(|(d, _)| *d)
    }
    fn store_key(&mut self, key: &str, delivered: usize, at: u64, prune_before: u64) {
        self.stored_keys.retain(|_, (_, at)| *at >= prune_before);
        self.stored_keys.insert(key.to_owned(), (delivered, at));
        self.log
            .push(Ev::StoreKey(key.to_owned(), delivered, at, prune_before));
    }
    fn revoke(&mut self, users: &[String], at: u64, until: u64) {
        self.revocations.retain(|_, (_, u)| *u > at);
        for user in users {
            self.revocations.insert(user.clone(), (at, until));
        }
    }
    fn revocations(&mut self, now: u64) -> Option<Vec<(String, u64, u64)>> {
        self.revocation_reads += 1;
        let live = self
            .revocations
            .iter()
            .filter(|(_, (_, until))| *until > now);
        Some(
            live.map(|(u, (at, until))| (u.clone(), *at, *until))
                .collect(),
        )
    }
    fn remove_ghost_rows(&mut self, live: &HashSet<String>) {
        let mut live: Vec<String> = live.iter().cloned().collect();
        live.sort();
        self.log.push(Ev::RemoveGhosts(live));
    }
}

const T0: u64 = 1_000_000;

fn config() -> Config {
    Config {
        max_connections: 3,
        auth_timeout_ms: 10_000,
        auth_check_timeout_ms: 5_000,
        rate_limit: RateLimit {
            per_sec: 10,
            burst: 20,
            flood_per_sec: 100,
        },
        ..Config::default()
    }
}

fn room_id() -> RoomId {
    RoomId::parse("room-1").unwrap()
}

fn cid(s: Sock) -> String {
    format!("c{s}")
}

fn text(json: &str) -> impl FnOnce(usize) -> Result<ClientFrame, ClientError> + '_ {
    move |max| parse_incoming(Incoming::Text(json), max)
}

const AUTH: &str = r#"{"type":"auth","token":"t","roomId":"room-1"}"#;

struct World {
    room: Room<Sock>,
    io: Fake,
}

impl World {
    fn new() -> Self {
        World::with(config())
    }

    /// Room for ten sockets, five of them waiting.
    fn roomy() -> Self {
        World::with(Config {
            max_connections: 10,
            max_pending: 5,
            ..config()
        })
    }

    fn with(config: Config) -> Self {
        World {
            room: Room::new(config),
            io: Fake::default(),
        }
    }

    fn connect(&mut self, s: Sock, now: u64) -> Admission {
        self.room
            .on_connect(s, cid(s), room_id(), now, &mut self.io)
    }

    fn frame(&mut self, s: Sock, json: &str, now: u64) {
        let session = self.io.session(s);
        self.room
            .on_frame(&s, session, text(json), now, &mut self.io);
    }

    /// Broadcasts `{"type":"x"}` excluding `exclude`; how many sockets it reached.
    fn broadcast(&mut self, exclude: &[String]) -> usize {
        let d = Delivery {
            message: r#"{"type":"x"}"#,
            exclude: exclude.to_vec(),
            user_ids: None,
            idempotency_key: None,
        };
        self.room.on_broadcast(&d, T0, &mut self.io).delivered
    }

    /// Broadcasts `{"type":"x"}` to everyone at `now`; how many sockets it reached.
    fn broadcast_at(&mut self, now: u64) -> usize {
        let d = Delivery {
            message: r#"{"type":"x"}"#,
            exclude: vec![],
            user_ids: None,
            idempotency_key: None,
        };
        self.room.on_broadcast(&d, now, &mut self.io).delivered
    }

    /// Floods from `s` until the room closes it for flooding (4429).
    fn flood(&mut self, s: Sock) {
        for _ in 0..101 {
            self.frame(s, r#"{"type":"ping"}"#, T0);
        }
        assert_eq!(self.io.closes(), [(s, 4429, "rate_limited".into())]);
    }

    /// Sends a frame from `s`; whether the room asked to parse it.
    fn frame_is_parsed(&mut self, s: Sock, now: u64) -> bool {
        let mut parsed = false;
        let session = self.io.session(s);
        let parse = |_| {
            parsed = true;
            Ok(ClientFrame::Ping { t: None })
        };
        self.room.on_frame(&s, session, parse, now, &mut self.io);
        parsed
    }

    fn check_done(&mut self, s: Sock, outcome: AuthOutcome, now: u64) {
        let session = self.io.session(s).expect("a session");
        assert_eq!(session.state, AuthState::Authenticating);
        self.room
            .on_check_done(&s, &session, outcome, now, &mut self.io);
    }

    fn verified(user: &str) -> AuthOutcome {
        AuthOutcome::Verified {
            user_id: Some(user.to_owned()),
            expires_at: None,
        }
    }

    /// Connects and authenticates `s` as `user` with a token that expires at `at`.
    fn member_until(&mut self, s: Sock, user: &str, at: u64, now: u64) {
        assert_eq!(self.connect(s, now), Admission::Admitted);
        self.frame(s, AUTH, now);
        let outcome = AuthOutcome::Verified {
            user_id: Some(user.to_owned()),
            expires_at: Some(at),
        };
        self.check_done(s, outcome, now);
    }

    /// The `auth:refresh` check of `s` answers with `outcome`.
    fn refresh_done(&mut self, s: Sock, outcome: AuthOutcome, now: u64) {
        let session = self.io.session(s).expect("a session");
        assert_eq!(session.state, AuthState::Authenticated);
        self.room
            .on_check_done(&s, &session, outcome, now, &mut self.io);
    }

    /// Presence frames fanned out since the log was last taken, with their targets.
    fn presence(&mut self) -> Vec<(String, Vec<Sock>)> {
        self.io
            .take()
            .into_iter()
            .filter_map(|e| match e {
                Ev::FanOut(f, to) if f.starts_with(r#"{"type":"presence""#) => Some((f, to)),
                _ => None,
            })
            .collect()
    }

    /// Connects and authenticates `s` as user `u{s}`.
    fn member(&mut self, s: Sock, now: u64) {
        self.member_as(s, &format!("u{s}"), now);
    }

    /// Connects and authenticates `s` as `user` (another tab of a user, say).
    fn member_as(&mut self, s: Sock, user: &str, now: u64) {
        assert_eq!(self.connect(s, now), Admission::Admitted);
        self.frame(s, AUTH, now);
        self.check_done(s, Self::verified(user), now);
    }
}

fn is_error(frame: &str, code: &str) -> bool {
    frame.starts_with(r#"{"type":"error""#) && frame.contains(&format!(r#""code":"{code}""#))
}

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
    assert_eq!(
        w.io.take(),
        [Ev::FanOut(
            r#"{"type":"typing","userId":"u1","isTyping":true}"#.into(),
            vec![2]
        )]
    );
    w.frame(3, r#"{"type":"typing","isTyping":true}"#, T0);
    let sent = w.io.sent_to(3);
    assert!(is_error(&sent[0], "unauthenticated"), "{sent:?}");
}

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
    w.room.flush(&mut w.io);
    // Socket 1's accept and auth are one upsert; socket 2 came and went unwritten.
    let Some(Ev::WriteRows(writes)) = w.io.take().pop() else {
        panic!("no write");
    };
    assert_eq!(writes.len(), 1);
    assert!(matches!(&writes[0], Write::Upsert(r) if r.state == AuthState::Authenticated));
    // Nothing pending: nothing written, and the next change schedules again.
    w.room.flush(&mut w.io);
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
    w.room.flush(&mut w.io);
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
    w.room.flush(&mut w.io);
    assert!(w.io.take().is_empty());
}

fn writes(evs: &[Ev]) -> Vec<&Vec<Write>> {
    evs.iter()
        .filter_map(|e| match e {
            Ev::WriteRows(w) => Some(w),
            _ => None,
        })
        .collect()
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
    w.room.flush(&mut w.io);
    let evs = w.io.take();
    assert!(
        !evs.iter()
            .any(|e| matches!(e, Ev::WriteRows(_) | Ev::ScheduleFlush(_))),
        "{evs:?}"
    );
    // Sockets that came and went leave nothing behind, not even in memory.
    assert_eq!(w.room.journal.len(), 1);
    assert!(!w.room.has_storage());
    // The first member turns storage on; the waiting socket's row goes with it.
    w.member(5, T0 + 1);
    assert!(w.io.take().contains(&Ev::ScheduleFlush(WRITE_BEHIND_MS)));
    w.room.flush(&mut w.io);
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
    // A socket mid-check has not authenticated either: it is the oldest now.
    w.frame(3, AUTH, T0 + 4);
    w.io.take();
    assert_eq!(w.connect(5, T0 + 5), Admission::Admitted);
    let evs = w.io.take();
    assert!(
        evs.contains(&Ev::Close(3, 4401, "auth_timeout".into())),
        "{evs:?}"
    );
    assert!(evs.contains(&Ev::CancelCheck(cid(3))), "{evs:?}");
    // Members fill the room: then it is full, whoever knocks.
    w.frame(4, AUTH, T0 + 6);
    w.check_done(4, World::verified("u4"), T0 + 6);
    w.frame(5, AUTH, T0 + 6);
    w.check_done(5, World::verified("u5"), T0 + 6);
    w.member(6, T0 + 7);
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

fn delivery<'a>(exclude: &[&str], users: Option<&[&str]>, key: Option<&str>) -> Delivery<'a> {
    Delivery {
        message: r#"{"type":"m"}"#,
        exclude: exclude.iter().map(|s| s.to_string()).collect(),
        user_ids: users.map(|u| u.iter().map(|s| s.to_string()).collect()),
        idempotency_key: key.map(str::to_owned),
    }
}

fn fanned_to(evs: &[Ev]) -> Vec<Sock> {
    evs.iter()
        .find_map(|e| match e {
            Ev::FanOut(_, to) => Some(to.clone()),
            _ => None,
        })
        .unwrap_or_default()
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
    assert_eq!(w.room.keys.len(), MAX_IDEMPOTENCY_KEYS);
    assert!(!w.room.keys.contains_key("k0"));
}

#[test]
fn connection_rows_come_from_memory_until_the_room_has_storage() {
    let mut w = World::new();
    w.connect(1, T0);
    let rows = w.room.connection_rows(&mut w.io).expect("no storage yet");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, AuthState::Pending);
    assert!(writes(&w.io.take()).is_empty());
    w.frame(1, AUTH, T0);
    w.check_done(1, World::verified("u1"), T0);
    w.connect(2, T0);
    w.io.take();
    // With storage, pending changes are written first and the table is the answer.
    assert!(w.room.connection_rows(&mut w.io).is_none());
    let evs = w.io.take();
    assert_eq!(writes(&evs).len(), 1);
    assert_eq!(writes(&evs)[0].len(), 2);
}

fn disconnect(users: &[&str], conns: &[String], reason: Reason) -> Disconnect {
    Disconnect {
        user_ids: users.iter().map(|u| u.to_string()).collect(),
        connection_ids: conns.to_vec(),
        reason,
    }
}

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

fn audit_trail(w: &World) -> Vec<(&'static str, String, Option<String>)> {
    w.io.audit_written
        .iter()
        .map(|e| (e.event, e.connection_id.clone(), e.detail.clone()))
        .collect()
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
    w.room.flush(&mut w.io);
    let trail = audit_trail(&w);
    let c = |s: Sock| cid(s);
    assert_eq!(
        trail[..9],
        [
            ("connected", c(1), None),
            ("authenticated", c(1), None),
            ("connected", c(2), None),
            ("refused", c(2), Some("unauthorized".to_string())),
            ("connected", c(3), None),
            ("authenticated", c(3), None),
            ("disconnected", c(3), Some("reauth".to_string())),
            ("closed", c(1), Some("1001".to_string())),
            ("connected", c(9), None),
        ]
    );
    // Identities come from the backend's answer.
    assert_eq!(w.io.audit_written[1].user_id.as_deref(), Some("u1"));
    assert_eq!(w.io.audit_written[6].user_id.as_deref(), Some("u3"));
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
    w.room.flush(&mut w.io);
    assert!(w.io.audit_written.is_empty());
    let newest = w.room.audit_events(10, &mut w.io).expect("no storage yet");
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
    assert!(w.room.audit_events(10, &mut w.io).is_none());
    // The three kept in memory (the oldest went when c4 connected), then c4's auth.
    assert_eq!(w.io.audit_written.len(), 4);
    assert_eq!(w.io.audit_written[3].event, "authenticated");
}

fn join(user: &str) -> String {
    format!(r#"{{"type":"presence","event":"join","userId":"{user}"}}"#)
}

fn leave(user: &str) -> String {
    format!(r#"{{"type":"presence","event":"leave","userId":"{user}"}}"#)
}

fn last_auth_ok(w: &World, s: Sock) -> serde_json::Value {
    let sent = w.io.sent_to(s);
    let frame = sent
        .iter()
        .rev()
        .find(|f| f.starts_with(r#"{"type":"auth:ok""#))
        .expect("an auth:ok");
    serde_json::from_str(frame).unwrap()
}

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
        user_id: Some("cat".into()),
        expires_at: Some(T0),
    };
    w.check_done(3, expired, T0);
    assert_eq!(w.io.closes(), [(3, 4401, "token_expired".into())]);
    assert_eq!(w.room.authenticated(), 1);
}

const REFRESH: &str = r#"{"type":"auth:refresh","token":"t2"}"#;

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

fn resuming(secret: &str) -> Config {
    Config {
        max_connections: 10,
        max_pending: 5,
        resume_secret: crate::resume::Secret::new(secret),
        resume_ttl_ms: 600_000,
        ..config()
    }
}

fn auth_with(ticket: &str) -> String {
    format!(r#"{{"type":"auth","token":"t","roomId":"room-1","resume":"{ticket}"}}"#)
}

/// Connects `s` and sends auth with `ticket`: whether the room admitted it at once
/// (true) or started a participants check (false).
fn resumes(w: &mut World, s: Sock, ticket: &str, now: u64) -> bool {
    w.io.take();
    assert_eq!(w.connect(s, now), Admission::Admitted);
    w.frame(s, &auth_with(ticket), now);
    let log = w.io.log.clone();
    let started = log.contains(&Ev::StartCheck(s));
    let admitted = log
        .iter()
        .any(|e| matches!(e, Ev::Send(to, f) if *to == s && f.starts_with(r#"{"type":"auth:ok""#)));
    assert!(started != admitted, "{log:?}");
    admitted
}

#[test]
fn a_real_check_issues_a_ticket_that_readmits_without_one() {
    let mut w = World::with(resuming("k"));
    w.member_until(1, "ann", T0 + 60_000, T0);
    let ok = last_auth_ok(&w, 1);
    let ticket = ok["resume"].as_str().expect("a ticket").to_owned();
    let secret = crate::resume::Secret::new("k").unwrap();
    let claims = crate::resume::verify(&[&secret], &ticket, "room-1", T0).unwrap();
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
    w.room.flush(&mut w.io);
    let events: Vec<&str> = w.io.audit_written.iter().map(|e| e.event).collect();
    assert!(events.contains(&"resumed"), "{events:?}");
}

#[test]
fn tickets_last_at_most_the_ttl_and_only_for_verified_users() {
    let mut w = World::with(resuming("k"));
    w.member(1, T0);
    let ticket = last_auth_ok(&w, 1)["resume"].as_str().unwrap().to_owned();
    let secret = crate::resume::Secret::new("k").unwrap();
    let claims = crate::resume::verify(&[&secret], &ticket, "room-1", T0).unwrap();
    assert_eq!(claims.expires_at, T0 + 600_000);
    // A null user id gets none.
    w.connect(2, T0);
    w.frame(2, AUTH, T0);
    let anonymous = AuthOutcome::Verified {
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
        "room-2",
        "ann",
        T0,
        T0 + 60_000,
    );
    let other_key = crate::resume::issue(
        &crate::resume::Secret::new("not-k").unwrap(),
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
    assert_eq!(w.io.revocations["u1"], (T0 + 10, T0 + 10 + 600_000));
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
    // Without a secret, disconnects record nothing.
    let mut off = World::roomy();
    off.member(1, T0);
    off.room.on_disconnect(&d, T0, &mut off.io);
    assert!(off.io.revocations.is_empty());
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
        crate::resume::verify(&[&new], &fresh, "room-1", T0).is_ok(),
        "signed with the new one"
    );
    let issued_before = crate::resume::issue(&old, "room-1", "u9", T0, T0 + 60_000);
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
        user_id: Some("ann".into()),
        expires_at: Some(T0 + 90_000),
    };
    w.refresh_done(1, renewed, T0 + 1_000);
    let frame: serde_json::Value = serde_json::from_str(&w.io.sent_to(1)[0]).unwrap();
    let ticket = frame["resume"].as_str().expect("a new ticket");
    assert_ne!(ticket, first);
    let secret = crate::resume::Secret::new("k").unwrap();
    let claims = crate::resume::verify(&[&secret], ticket, "room-1", T0).unwrap();
    assert_eq!(
        (claims.issued_at, claims.expires_at),
        (T0 + 1_000, T0 + 90_000)
    );
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

const BATCH_AUTH: &str = r#"{"type":"auth","token":"t","roomId":"room-1","batch":true}"#;

fn batching_room() -> World {
    World::with(Config {
        max_connections: 10,
        max_pending: 5,
        batch_window_ms: 5,
        ..config()
    })
}

impl World {
    /// Connects and authenticates `s` as `u{s}`, asking for batch frames.
    fn batching_member(&mut self, s: Sock, now: u64) {
        assert_eq!(self.connect(s, now), Admission::Admitted);
        self.frame(s, BATCH_AUTH, now);
        self.check_done(s, Self::verified(&format!("u{s}")), now);
    }

    /// Broadcasts `{"type":"m","n":n}` at `now` with these exclusions and targets.
    fn publish(&mut self, n: u32, exclude: &[&str], users: Option<&[&str]>, now: u64) -> usize {
        let message = format!(r#"{{"type":"m","n":{n}}}"#);
        let d = Delivery {
            message: &message,
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            user_ids: users.map(|u| u.iter().map(|s| s.to_string()).collect()),
            idempotency_key: None,
        };
        self.room.on_broadcast(&d, now, &mut self.io).delivered
    }

    /// The frames each socket got, in order, with batches unpacked: socket -> events.
    fn received(&self) -> HashMap<Sock, Vec<String>> {
        let mut got: HashMap<Sock, Vec<String>> = HashMap::new();
        for e in &self.io.log {
            let (frame, to) = match e {
                Ev::FanOut(f, to) => (f, to.clone()),
                Ev::Send(s, f) => (f, vec![*s]),
                _ => continue,
            };
            let v: serde_json::Value = serde_json::from_str(frame).unwrap();
            let events = match v["type"].as_str() {
                Some("batch") => v["events"].as_array().unwrap().clone(),
                _ => vec![v],
            };
            for s in to {
                got.entry(s)
                    .or_default()
                    .extend(events.iter().map(|e| e.to_string()));
            }
        }
        got
    }

    fn batch_frames_to(&self, s: Sock) -> usize {
        self.io
            .log
            .iter()
            .filter(|e| matches!(e, Ev::FanOut(f, to) if f.starts_with(r#"{"type":"batch""#) && to.contains(&s)))
            .count()
    }
}

fn m(n: u32) -> String {
    format!(r#"{{"type":"m","n":{n}}}"#)
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
