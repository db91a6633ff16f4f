//! The harness the room's tests share: a recording `Io` (`Fake`) that keeps
//! attachments as the runtime would, and a `World` that drives a room through it.

pub use super::super::*;
pub use crate::audit;
pub use crate::auth::AuthOutcome;
pub use crate::burst;
pub use crate::config::Config;
pub use crate::control::{Disconnect, Reason};
pub use crate::internal::Delivery;
pub use crate::journal::Write;
pub use crate::personal::online::Stored;
pub use crate::protocol::{parse_incoming, Incoming};
pub use crate::protocol::{ClientError, ClientFrame, CloseCode};
pub use crate::rate_limit::RateLimit;
pub use crate::room_id::RoomId;
pub use crate::session::AuthState;
pub use crate::session::Session;
pub use std::collections::{HashMap, HashSet};

pub type Sock = u32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
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
    Spread(String, Option<String>),
    ReportUser(String, bool, Option<String>),
    ListMembersTo(String),
    TellWatchers(Vec<String>, bool, u64),
    StoreOnline(Stored),
    StoreWatcher(String, bool),
    StoreWatching(Vec<(String, Known)>),
    StoreKnown(String, Known),
}

/// Records every effect; keeps attachments as the runtime would.
#[derive(Default)]
pub struct Fake {
    pub log: Vec<Ev>,
    pub attachments: HashMap<Sock, Session>,
    pub fail_saves: bool,
    pub fail_accepts: bool,
    /// Sockets closed so far.
    pub closed: HashSet<Sock>,
    /// Audit events written, and the last pruning asked for.
    pub audit_written: Vec<audit::Entry>,
    pub prune: Option<audit::Prune>,
    /// The stored idempotency keys: key -> (delivered, at).
    pub stored_keys: HashMap<String, (usize, u64)>,
    /// How often the stored keys were counted, and pruned by count.
    pub key_counts: usize,
    pub count_prunes: usize,
    /// The last age prune asked for.
    pub pruned_before: Option<u64>,
    /// Stored disconnect records: user -> (at, until), and how often they were read.
    pub revocations: HashMap<String, (u64, u64)>,
    pub revocation_reads: usize,
    /// The disconnect records cannot be read.
    pub unreadable_revocations: bool,
}

impl Fake {
    pub fn take(&mut self) -> Vec<Ev> {
        std::mem::take(&mut self.log)
    }

    pub fn session(&self, s: Sock) -> Option<Session> {
        self.attachments.get(&s).cloned()
    }

    pub fn sent_to(&self, s: Sock) -> Vec<String> {
        self.log
            .iter()
            .filter_map(|e| match e {
                Ev::Send(to, f) if *to == s => Some(f.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn closes(&self) -> Vec<(Sock, u16, String)> {
        self.log
            .iter()
            .filter_map(|e| match e {
                Ev::Close(s, c, r) => Some((*s, *c, r.clone())),
                _ => None,
            })
            .collect()
    }
}

impl Sockets<Sock> for Fake {
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
}

impl Timers for Fake {
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
}

impl Spread for Fake {
    fn spread(&mut self, frame: &str, except: Option<&str>) {
        self.log
            .push(Ev::Spread(frame.to_owned(), except.map(str::to_owned)));
    }
    fn report_user(&mut self, user: &str, present: bool, via: Option<&str>) {
        let via = via.map(str::to_owned);
        self.log.push(Ev::ReportUser(user.to_owned(), present, via));
    }
    fn list_members_to(&mut self, connection_id: &str) {
        self.log.push(Ev::ListMembersTo(connection_id.to_owned()));
    }
}

impl Contacts for Fake {
    fn tell_watchers(&mut self, mut watchers: Vec<String>, online: bool, at: u64) {
        watchers.sort();
        self.log.push(Ev::TellWatchers(watchers, online, at));
    }
    fn store_online(&mut self, stored: Stored) {
        self.log.push(Ev::StoreOnline(stored));
    }
    fn store_watcher(&mut self, watcher: &str, present: bool) {
        self.log.push(Ev::StoreWatcher(watcher.to_owned(), present));
    }
    fn store_watching(&mut self, watching: &[(String, Known)]) {
        let mut rows = watching.to_vec();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        self.log.push(Ev::StoreWatching(rows));
    }
    fn store_known(&mut self, user: &str, known: Known) {
        self.log.push(Ev::StoreKnown(user.to_owned(), known));
    }
}

impl Storage for Fake {
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
    fn key_count(&mut self) -> Option<usize> {
        self.key_counts += 1;
        Some(self.stored_keys.len())
    }
    fn prune_keys(&mut self, before: u64) -> Option<usize> {
        let n = self.stored_keys.len();
        self.stored_keys.retain(|_, (_, at)| *at >= before);
        self.pruned_before = Some(before);
        Some(n - self.stored_keys.len())
    }
    fn store_key(&mut self, key: &str, delivered: usize, at: u64, keep: Option<usize>) {
        self.stored_keys.insert(key.to_owned(), (delivered, at));
        if let Some(keep) = keep {
            self.count_prunes += 1;
            let mut by_age: Vec<(u64, String)> = self
                .stored_keys
                .iter()
                .map(|(k, (_, at))| (*at, k.clone()))
                .collect();
            by_age.sort_unstable_by(|a, b| b.cmp(a));
            for (_, k) in by_age.into_iter().skip(keep) {
                self.stored_keys.remove(&k);
            }
        }
        let before = self.pruned_before.unwrap_or(0);
        self.log
            .push(Ev::StoreKey(key.to_owned(), delivered, at, before));
    }
    fn revoke(&mut self, users: &[String], at: u64, until: u64) {
        self.revocations.retain(|_, (_, u)| *u > at);
        for user in users {
            self.revocations.insert(user.clone(), (at, until));
        }
    }
    fn revocations(&mut self, now: u64) -> Option<Vec<(String, u64, u64)>> {
        self.revocation_reads += 1;
        if self.unreadable_revocations {
            return None;
        }
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

pub const T0: u64 = 1_000_000;

pub fn config() -> Config {
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

pub fn room_id() -> RoomId {
    RoomId::parse("room-1").unwrap()
}

pub fn cid(s: Sock) -> String {
    format!("c{s}")
}

pub fn text(json: &str) -> impl FnOnce(usize) -> Result<ClientFrame, ClientError> + '_ {
    move |max| parse_incoming(Incoming::Text(json), max)
}

pub const AUTH: &str = r#"{"type":"auth","token":"t","roomId":"room-1"}"#;

pub struct World {
    pub room: Room<Sock>,
    pub io: Fake,
}

impl World {
    pub fn new() -> Self {
        World::with(config())
    }

    /// Room for ten sockets, five of them waiting.
    pub fn roomy() -> Self {
        World::with(Config {
            max_connections: 10,
            max_pending: 5,
            ..config()
        })
    }

    pub fn with(config: Config) -> Self {
        World {
            room: Room::new(config),
            io: Fake::default(),
        }
    }

    pub fn connect(&mut self, s: Sock, now: u64) -> Admission {
        self.room
            .on_connect(s, cid(s), room_id().into(), now, &mut self.io)
    }

    pub fn frame(&mut self, s: Sock, json: &str, now: u64) {
        let session = self.io.session(s);
        let check = self
            .room
            .on_frame(&s, session, text(json), now, &mut self.io);
        self.started(check);
    }

    /// Broadcasts `{"type":"x"}` excluding `exclude`; how many sockets it reached.
    pub fn broadcast(&mut self, exclude: &[String]) -> usize {
        let d = Delivery {
            message: r#"{"type":"x"}"#,
            exclude: exclude.to_vec(),
            user_ids: None,
            idempotency_key: None,
        };
        self.room.on_broadcast(&d, T0, &mut self.io).delivered
    }

    /// Broadcasts `{"type":"x"}` to everyone at `now`; how many sockets it reached.
    pub fn broadcast_at(&mut self, now: u64) -> usize {
        let d = Delivery {
            message: r#"{"type":"x"}"#,
            exclude: vec![],
            user_ids: None,
            idempotency_key: None,
        };
        self.room.on_broadcast(&d, now, &mut self.io).delivered
    }

    /// Floods from `s` until the room closes it for flooding (4429).
    pub fn flood(&mut self, s: Sock) {
        for _ in 0..101 {
            self.frame(s, r#"{"type":"ping"}"#, T0);
        }
        assert_eq!(self.io.closes(), [(s, 4429, "rate_limited".into())]);
    }

    /// Sends a frame from `s`; whether the room asked to parse it.
    pub fn frame_is_parsed(&mut self, s: Sock, now: u64) -> bool {
        let mut parsed = false;
        let session = self.io.session(s);
        let parse = |_| {
            parsed = true;
            Ok(ClientFrame::Ping { t: None })
        };
        self.room.on_frame(&s, session, parse, now, &mut self.io);
        parsed
    }

    pub fn check_done(&mut self, s: Sock, outcome: AuthOutcome, now: u64) {
        let session = self.io.session(s).expect("a session");
        assert_eq!(session.state, AuthState::Authenticating);
        let next = self
            .room
            .on_check_done(&s, &session, outcome, now, &mut self.io);
        self.started(next);
    }

    /// Records the queued check the room sent next, if any.
    fn started(&mut self, next: Option<Check<Sock>>) {
        if let Some(check) = next {
            self.io.log.push(Ev::StartCheck(check.socket));
        }
    }

    pub fn verified(user: &str) -> AuthOutcome {
        AuthOutcome::Verified {
            watch: Vec::new(),
            user_id: Some(user.to_owned()),
            expires_at: None,
        }
    }

    /// Connects and authenticates `s` as `user` with a token that expires at `at`.
    pub fn member_until(&mut self, s: Sock, user: &str, at: u64, now: u64) {
        assert_eq!(self.connect(s, now), Admission::Admitted);
        self.frame(s, AUTH, now);
        let outcome = AuthOutcome::Verified {
            watch: Vec::new(),
            user_id: Some(user.to_owned()),
            expires_at: Some(at),
        };
        self.check_done(s, outcome, now);
    }

    /// The `auth:refresh` check of `s` answers with `outcome`.
    pub fn refresh_done(&mut self, s: Sock, outcome: AuthOutcome, now: u64) {
        let session = self.io.session(s).expect("a session");
        assert_eq!(session.state, AuthState::Authenticated);
        let next = self
            .room
            .on_check_done(&s, &session, outcome, now, &mut self.io);
        self.started(next);
    }

    /// Presence frames fanned out since the log was last taken, with their targets.
    pub fn presence(&mut self) -> Vec<(String, Vec<Sock>)> {
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
    pub fn member(&mut self, s: Sock, now: u64) {
        self.member_as(s, &format!("u{s}"), now);
    }

    /// Connects and authenticates `s` as `user` (another tab of a user, say).
    pub fn member_as(&mut self, s: Sock, user: &str, now: u64) {
        assert_eq!(self.connect(s, now), Admission::Admitted);
        self.frame(s, AUTH, now);
        self.check_done(s, Self::verified(user), now);
    }
}

pub fn is_error(frame: &str, code: &str) -> bool {
    frame.starts_with(r#"{"type":"error""#) && frame.contains(&format!(r#""code":"{code}""#))
}

pub fn writes(evs: &[Ev]) -> Vec<&Vec<Write>> {
    evs.iter()
        .filter_map(|e| match e {
            Ev::WriteRows(w) => Some(w),
            _ => None,
        })
        .collect()
}

pub fn delivery<'a>(exclude: &[&str], users: Option<&[&str]>, key: Option<&str>) -> Delivery<'a> {
    Delivery {
        message: r#"{"type":"m"}"#,
        exclude: exclude.iter().map(|s| s.to_string()).collect(),
        user_ids: users.map(|u| u.iter().map(|s| s.to_string()).collect()),
        idempotency_key: key.map(str::to_owned),
    }
}

pub fn fanned_to(evs: &[Ev]) -> Vec<Sock> {
    evs.iter()
        .find_map(|e| match e {
            Ev::FanOut(_, to) => Some(to.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

pub fn disconnect(users: &[&str], conns: &[String], reason: Reason) -> Disconnect {
    Disconnect {
        user_ids: users.iter().map(|u| u.to_string()).collect(),
        connection_ids: conns.to_vec(),
        reason,
    }
}

pub fn audit_trail(w: &World) -> Vec<(&'static str, String, Option<String>)> {
    w.io.audit_written
        .iter()
        .map(|e| (e.event, e.connection_id.clone(), e.detail.clone()))
        .collect()
}

pub fn join(user: &str) -> String {
    format!(r#"{{"type":"presence","event":"join","userId":"{user}"}}"#)
}

pub fn leave(user: &str) -> String {
    format!(r#"{{"type":"presence","event":"leave","userId":"{user}"}}"#)
}

pub fn last_auth_ok(w: &World, s: Sock) -> serde_json::Value {
    let sent = w.io.sent_to(s);
    let frame = sent
        .iter()
        .rev()
        .find(|f| f.starts_with(r#"{"type":"auth:ok""#))
        .expect("an auth:ok");
    serde_json::from_str(frame).unwrap()
}

pub const REFRESH: &str = r#"{"type":"auth:refresh","token":"t2"}"#;

pub fn resuming(secret: &str) -> Config {
    Config {
        max_connections: 10,
        max_pending: 5,
        resume_secret: crate::resume::Secret::new(secret),
        resume_ttl_ms: 600_000,
        ..config()
    }
}

pub fn auth_with(ticket: &str) -> String {
    format!(r#"{{"type":"auth","token":"t","roomId":"room-1","resume":"{ticket}"}}"#)
}

/// Connects `s` and sends auth with `ticket`: whether the room admitted it at once
/// (true) or started a participants check (false).
pub fn resumes(w: &mut World, s: Sock, ticket: &str, now: u64) -> bool {
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

pub const BATCH_AUTH: &str = r#"{"type":"auth","token":"t","roomId":"room-1","batch":true}"#;

pub fn batching_room() -> World {
    World::with(Config {
        max_connections: 10,
        max_pending: 5,
        batch_window_ms: 5,
        ..config()
    })
}

impl World {
    /// Connects and authenticates `s` as `u{s}`, asking for batch frames.
    pub fn batching_member(&mut self, s: Sock, now: u64) {
        assert_eq!(self.connect(s, now), Admission::Admitted);
        self.frame(s, BATCH_AUTH, now);
        self.check_done(s, Self::verified(&format!("u{s}")), now);
    }

    /// Broadcasts `{"type":"m","n":n}` at `now` with these exclusions and targets.
    pub fn publish(&mut self, n: u32, exclude: &[&str], users: Option<&[&str]>, now: u64) -> usize {
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
    pub fn received(&self) -> HashMap<Sock, Vec<String>> {
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

    pub fn batch_frames_to(&self, s: Sock) -> usize {
        self.io
            .log
            .iter()
            .filter(|e| matches!(e, Ev::FanOut(f, to) if f.starts_with(r#"{"type":"batch""#) && to.contains(&s)))
            .count()
    }
}

pub fn m(n: u32) -> String {
    format!(r#"{{"type":"m","n":{n}}}"#)
}
