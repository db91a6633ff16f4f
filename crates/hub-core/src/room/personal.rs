//! The room core's part on a personal channel (`/users/:userId`, see `personal`):
//! one user's sockets, capped at `MAX_CONNECTIONS_PER_USER`; whether the user's
//! watchers are told they are online (with the offline delay behind the room's one
//! timer); who watches this user (bounded); and whom this user watches, with what this
//! object last heard of each, so every `auth:ok` lists who is online now.
//!
//! A user object keeps only that, and nothing once it has no socket and no watcher.
//! Each user's changes are stamped (`at`, see `online`), so a watcher keeps the
//! newest whatever order two objects' calls arrive in.

use super::{Io, Room, Watch};
use crate::burst::Audience;
use crate::personal::online::{Online, Stored, Tell, Then};
use crate::personal::user_channel::UserChannel;
use crate::personal::watchers::Watchers;
use crate::protocol::ServerFrame;
use std::collections::HashMap;

/// The offline change's key among the timer's watches (no connection id is empty).
const OFFLINE: &str = "";

/// One watched user as this object last heard of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    pub online: bool,
    /// The change's stamp; 0 when nothing was heard yet.
    pub at: u64,
}

/// What a watcher is told when it registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    pub online: bool,
    pub at: u64,
    /// False past `MAX_WATCHERS_PER_USER`: the state now, but no changes.
    pub live: bool,
}

/// What an earlier instance stored for a user object.
#[derive(Debug, Default)]
pub struct Restored {
    pub online: Stored,
    pub watchers: Vec<String>,
    pub watching: Vec<(String, Known)>,
}

pub(super) struct Personal {
    user: UserChannel,
    online: Online,
    watchers: Watchers,
    /// Whom this user's sockets watch (the latest check's `watch`), while the user
    /// is online or within the offline delay; `None`: not known here, so a resume
    /// ticket is not enough to list who is online (the check runs).
    watching: Option<HashMap<String, Known>>,
    /// What was heard of users outside the watchlist while a check ran: the answers
    /// to its registrations, for its `auth:ok` (bounded by the check's `watch`).
    heard: HashMap<String, Known>,
}

impl<S: Clone> Room<S> {
    /// This object is `user`'s personal channel: called once per instance, after
    /// [`Room::on_wake`], with what the earlier instance stored. A change that was
    /// waiting (offline) waits again, or is told now if it is due. Presence is a
    /// room's: it is off here.
    pub fn set_personal(
        &mut self,
        user: UserChannel,
        restored: Restored,
        now: u64,
        io: &mut impl Io<S>,
    ) {
        self.tick(now);
        self.members = super::members::Members::new(0);
        let watching = restored
            .online
            .told_online
            .then(|| restored.watching.into_iter().collect());
        let (online, then) = Online::wake(self.roster.len(), restored.online, now);
        let max = self.config.max_watchers_per_user;
        self.personal = Some(Personal {
            user,
            online,
            watchers: Watchers::restore(max, restored.watchers),
            watching,
            heard: HashMap::new(),
        });
        self.online_then(then, io);
    }

    /// The user this personal object holds.
    pub fn personal_user(&self) -> Option<&UserChannel> {
        self.personal.as_ref().map(|p| &p.user)
    }

    /// `/api/users/status`: whether watchers were last told this user is online, and
    /// the authenticated personal sockets.
    pub fn user_status(&mut self, now: u64, io: &mut impl Io<S>) -> (bool, usize) {
        self.tick(now);
        self.expire(now, io);
        let online = self
            .personal
            .as_ref()
            .is_some_and(|p| p.online.told_online());
        (online, self.roster.len())
    }

    /// `watcher` registers with this user's object and reads its state in the same
    /// step, so no change falls between the two.
    pub fn on_watch(&mut self, watcher: &str, now: u64, io: &mut impl Io<S>) -> Registered {
        self.tick(now);
        let Some(p) = &mut self.personal else {
            return Registered {
                online: false,
                at: 0,
                live: false,
            };
        };
        let r = p.watchers.register(watcher, p.online.told_online());
        if r.live {
            io.store_watcher(watcher, true);
        }
        Registered {
            online: r.online,
            at: p.online.told_at(),
            live: r.live,
        }
    }

    /// A watcher said it no longer watches this user.
    pub fn on_unwatched(&mut self, watcher: &str, io: &mut impl Io<S>) {
        if let Some(p) = &mut self.personal {
            if p.watchers.unregister(watcher) {
                io.store_watcher(watcher, false);
            }
        }
    }

    /// `user`'s object says they are `online` as of `at`: a change it tells its
    /// watchers, or (`registered`) the answer to this object's own registration,
    /// read while a socket's check runs. Newer news is kept, and a change to a user
    /// the sockets watch is told to each of them. Returns whether this object still
    /// watches `user`; when not, the watched object forgets it.
    pub fn on_user_status(
        &mut self,
        user: &str,
        online: bool,
        at: u64,
        now: u64,
        io: &mut impl Io<S>,
    ) -> bool {
        self.tick(now);
        // A check in flight may be about to watch `user`: its news is kept for it.
        let checking = self.checks.in_flight() + self.checks.queued() > 0;
        let Some(p) = &mut self.personal else {
            return false;
        };
        let k = Known { online, at };
        let known = p.watching.as_ref().and_then(|w| w.get(user)).copied();
        let Some(before) = known else {
            if !checking {
                return false;
            }
            let heard = p.heard.entry(user.to_owned()).or_insert(k);
            if at > heard.at {
                *heard = k;
            }
            return true;
        };
        if at <= before.at {
            return true;
        }
        if let Some(w) = &mut p.watching {
            w.insert(user.to_owned(), k);
        }
        io.store_known(user, k);
        if before.online != online && self.roster.len() > 0 {
            let frame = ServerFrame::UserStatus {
                user_id: user,
                online,
            }
            .encode();
            self.emit(&frame, Audience::Everyone, now, io);
        }
        true
    }

    /// The room's part when a personal socket is admitted: `Err` when the user
    /// already holds `MAX_CONNECTIONS_PER_USER` sockets (it is refused), else the
    /// watched users online now, for its `auth:ok`. `watch`: the check's list; a
    /// resumed socket brings none and shares the one its object holds.
    pub(super) fn personal_admit(
        &mut self,
        watch: Option<Vec<String>>,
        io: &mut impl Io<S>,
    ) -> Result<Vec<String>, ()> {
        let full = self.roster.len() >= self.config.max_connections_per_user;
        let Some(p) = &mut self.personal else {
            return Ok(Vec::new());
        };
        if full {
            return Err(());
        }
        if let Some(watch) = watch {
            let heard = std::mem::take(&mut p.heard);
            let before = p.watching.take().unwrap_or_default();
            let unknown = Known {
                online: false,
                at: 0,
            };
            let next: HashMap<String, Known> = watch
                .into_iter()
                .map(|id| {
                    let old = before.get(&id).copied().unwrap_or(unknown);
                    let new = heard.get(&id).copied().filter(|h| h.at > old.at);
                    (id, new.unwrap_or(old))
                })
                .collect();
            let rows: Vec<(String, Known)> = next.iter().map(|(u, k)| (u.clone(), *k)).collect();
            io.store_watching(&rows);
            p.watching = Some(next);
        }
        let mut online: Vec<String> = p
            .watching
            .iter()
            .flatten()
            .filter(|(_, k)| k.online)
            .map(|(u, _)| u.clone())
            .collect();
        online.sort_unstable();
        Ok(online)
    }

    /// Whether a resume ticket can admit a socket here without its check: on a
    /// personal channel only while the object holds its user's watchlist.
    pub(super) fn ticket_suffices(&self) -> bool {
        self.personal.as_ref().is_none_or(|p| p.watching.is_some())
    }

    /// A personal socket joined the roster.
    pub(super) fn personal_joined(&mut self, now: u64, io: &mut impl Io<S>) {
        if let Some(p) = &mut self.personal {
            let then = p.online.joined(now);
            self.online_then(then, io);
        }
    }

    /// A personal socket left the roster.
    pub(super) fn personal_left(&mut self, now: u64, io: &mut impl Io<S>) {
        if let Some(p) = &mut self.personal {
            let then = p.online.left(now, self.config.offline_delay_ms);
            self.online_then(then, io);
        }
    }

    /// The offline delay ran out.
    pub(super) fn offline_due(&mut self, now: u64, io: &mut impl Io<S>) {
        if let Some(p) = &mut self.personal {
            let then = p.online.fire(now);
            self.online_then(then, io);
        }
    }

    fn online_then(&mut self, then: Then, io: &mut impl Io<S>) {
        let Some(p) = &mut self.personal else {
            return;
        };
        match then {
            Then::Nothing => return,
            Then::ArmTimer(at) => self.timer.watch(OFFLINE.into(), at, Watch::Offline, io),
            Then::CancelTimer => self.timer.unwatch(OFFLINE, io),
            Then::Tell(tell) => {
                let watchers: Vec<String> = p.watchers.all().map(str::to_owned).collect();
                if !watchers.is_empty() {
                    io.tell_watchers(watchers, tell == Tell::Online, p.online.told_at());
                }
                if tell == Tell::Offline && p.watching.take().is_some() {
                    // Offline with no socket: whom this user watched goes too.
                    io.store_watching(&[]);
                }
            }
        }
        io.store_online(p.online.stored());
    }
}
