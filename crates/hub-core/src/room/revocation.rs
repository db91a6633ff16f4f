//! Who the backend took away, and until when. Room-wide: a disconnect holds for every
//! socket of the room, and against every resume ticket issued before it.
//! - In memory, for as long as a check can be queued and in flight: a participants
//!   check asked for before its user was disconnected does not admit them afterwards.
//! - In storage, until every ticket they could hold has expired: a ticket issued
//!   before the disconnect never readmits them.

use super::io::Storage;
use crate::control::Reason;
use crate::resume::Claims;
use std::collections::HashMap;

#[derive(Default)]
pub struct Revocation {
    /// User -> (when, why), kept while a check asked for before it may still answer.
    recent: HashMap<String, (u64, Reason)>,
    /// The stored records (user -> (at, until)), read once per instance on the first
    /// resume ticket and kept in step with each disconnect, so a storm of resumes
    /// after a deploy costs one read, not one per socket.
    records: Option<HashMap<String, (u64, u64)>>,
}

impl Revocation {
    /// The backend disconnected `users` at `now`; `horizon`: older disconnects can no
    /// longer concern a check in flight.
    pub fn disconnected(&mut self, users: &[String], reason: Reason, now: u64, horizon: u64) {
        self.recent.retain(|_, (at, _)| *at >= horizon);
        for user in users {
            self.recent.insert(user.clone(), (now, reason));
        }
    }

    /// Stores the disconnect of `users` until `until`, and keeps the records read
    /// from storage in step.
    pub fn record(&mut self, users: &[String], now: u64, until: u64, io: &mut impl Storage) {
        io.revoke(users, now, until);
        if let Some(records) = &mut self.records {
            records.retain(|_, (_, u)| *u > now);
            for user in users {
                records.insert(user.clone(), (now, until));
            }
        }
    }

    /// Why `user` was disconnected after its check started at `started` (`None`: no
    /// check in flight, so any recent disconnect counts).
    pub fn during_check(&self, user: Option<&str>, started: Option<u64>) -> Option<Reason> {
        let (at, reason) = self.recent.get(user?)?;
        match started {
            Some(started) if started > *at => None,
            _ => Some(*reason),
        }
    }

    /// Whether a ticket with these claims still stands: issued after the user's last
    /// disconnect. Unreadable records stand for nothing (fail closed: the check
    /// decides).
    pub fn ticket_stands(&mut self, claims: &Claims, now: u64, io: &mut impl Storage) -> bool {
        if self.records.is_none() {
            let Some(records) = io.revocations(now) else {
                return false;
            };
            let map = records.into_iter().map(|(u, at, until)| (u, (at, until)));
            self.records = Some(map.collect());
        }
        let revoked = self.records.as_ref().and_then(|r| r.get(&claims.user_id));
        !matches!(revoked, Some(&(at, until)) if until > now && at >= claims.issued_at)
    }
}
