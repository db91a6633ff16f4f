//! The room's part in a room spread over several objects (see `crate::shard`), wired:
//! this object's place ([`Objects`]: its number, the sockets elsewhere, the member
//! list the first object gave), presence reported up or counted room-wide, frames
//! relayed from another object, the idempotency total, and the disconnect records a
//! new object adopts. A room of one object is object 0 with nothing elsewhere, and
//! none of this changes what it does.

use super::{Io, Room};
use crate::burst::Audience;
use crate::internal::Delivery as Broadcast;
use crate::protocol::Presence;

/// This object's place in its room.
#[derive(Debug, Default)]
pub struct Objects {
    /// Its number (0: the room's first object), kept in each socket's session.
    pub shard: u16,
    /// The first object: sockets its other objects hold (or are about to), counted
    /// against `MAX_CONNECTIONS_PER_ROOM`.
    pub elsewhere: usize,
    /// A further object: the room's members as the first object listed them for the
    /// next `auth:ok` (`None`: presence is off room-wide, or no list was asked for).
    pub view: Option<Vec<String>>,
}

impl Objects {
    /// A further object: presence is decided by the room's first object, so a user's
    /// first and last socket here are reported rather than announced.
    pub fn further(&self) -> bool {
        self.shard > 0
    }
}

impl<S: Clone> Room<S> {
    /// Makes this further object `shard` (≥ 1) of its room (see `shard`); for good:
    /// an object's place in its room never changes.
    pub fn set_further(&mut self, shard: u16) {
        self.objects.shard = shard;
    }
    /// A further object: the room-wide member list for the next `auth:ok`, as the
    /// first object gave it (`None`: presence is off room-wide).
    pub fn set_view(&mut self, members: Option<Vec<String>>) {
        self.objects.view = members;
    }
    /// The distinct users with sockets in this object, sorted: what a further object
    /// reports to the first after a wake.
    pub fn users(&self) -> Vec<String> {
        self.members.list().into_iter().map(str::to_owned).collect()
    }
    /// The first object of a room spread over several: its other objects hold
    /// `sockets` (as reported, with placements in flight), which the next admission
    /// counts against the room-wide cap.
    pub fn set_elsewhere(&mut self, sockets: usize) {
        self.objects.elsewhere = sockets;
    }
    /// The disconnect records of the room's first object (user, at, until), adopted
    /// by a further object it opens after them: a resume ticket issued before a
    /// disconnect is refused on every object of the room.
    pub fn adopt_revocations(&mut self, records: &[(String, u64, u64)], io: &mut impl Io<S>) {
        for (user, at, until) in records {
            self.revocation
                .record(std::slice::from_ref(user), *at, *until, io);
        }
        if !records.is_empty() {
            self.rows.set_storage(true);
        }
    }
    /// Whether a broadcast repeats an idempotency key seen within the window (it then
    /// delivers nothing): the first object of a room spread over several asks before it
    /// relays the broadcast, so that its further objects start their fan-out first.
    pub fn is_repeat(&mut self, b: &Broadcast<'_>, now: u64, io: &mut impl Io<S>) -> bool {
        self.tick(now);
        let Some(key) = &b.idempotency_key else {
            return false;
        };
        let since = now.saturating_sub(self.config.idempotency_window_ms);
        let stored = self.rows.has_storage();
        self.order.recall(key, since, stored, io).is_some()
    }
    /// A user's first or last socket in the room, wherever it is: `announce` it,
    /// unless this is a further object, which reports it to the first instead.
    pub(super) fn user_changed(
        &mut self,
        was_on: bool,
        change: Presence<'_>,
        except: Option<&str>,
        now: u64,
        io: &mut impl Io<S>,
    ) {
        if !self.objects.further() {
            return self.announce(was_on, change, except, now, io);
        }
        match change {
            Presence::Join(user) => io.report_user(user, true, except),
            Presence::Leave(user) => io.report_user(user, false, None),
            Presence::On(_) | Presence::Off => {}
        }
    }
    /// The first object of a room spread over several: a further object reports that
    /// `user` now has sockets there (`present`; `via` the socket that joined) or has
    /// none left. Each object holding a user counts as one of their sockets, so a
    /// user's first socket anywhere in the room is announced as a join, and their
    /// last as a leave, to every object. The shell passes on a report only when it
    /// changes what that object holds (see `shard::users`).
    pub fn on_remote_user(
        &mut self,
        user: &str,
        present: bool,
        via: Option<&str>,
        now: u64,
        io: &mut impl Io<S>,
    ) {
        self.tick(now);
        self.expire(now, io);
        let was_on = self.members.presence_on();
        if present && self.members.joined(user) {
            self.announce(was_on, Presence::Join(user), via, now, io);
        } else if !present && self.members.left(user) {
            self.announce(was_on, Presence::Leave(user), None, now, io);
        }
    }
    /// A new instance of the first object counts the users its further objects held
    /// (one per object holding them), silently: they were announced when they joined.
    pub fn restore_remote_users(&mut self, users: &[String]) {
        for user in users {
            self.members.joined(user);
        }
    }
    /// A frame another object of the room sent on (typing, presence): for this
    /// object's members but `except`, in the room's order. Not spread again.
    pub fn on_relayed_frame(
        &mut self,
        frame: &str,
        except: Option<&str>,
        now: u64,
        io: &mut impl Io<S>,
    ) -> usize {
        self.tick(now);
        self.expire(now, io);
        let to = match except {
            Some(id) => Audience::AllBut(id.to_owned()),
            None => Audience::Everyone,
        };
        self.emit(frame, to, now, io)
    }
    /// The first object of a room spread over several: the broadcast with `key`,
    /// accepted at `at`, reached `total` sockets across the room's objects. A repeat of
    /// the key answers that total.
    pub fn on_broadcast_total(&mut self, key: &str, total: usize, at: u64, io: &mut impl Io<S>) {
        let stored = self.rows.has_storage();
        self.order.settle(key, total, at, stored, io);
    }
    /// The room-wide member list a further object puts in `auth:ok` (`None`: presence
    /// is off).
    pub fn member_list(&mut self, now: u64, io: &mut impl Io<S>) -> Option<Vec<String>> {
        self.tick(now);
        self.expire(now, io);
        self.members.presence_on().then(|| self.users())
    }
}
