//! Connection-row changes not yet written, coalesced per connection. Pure.
//!
//! Every SQLite commit of a Durable Object costs CPU and a disk flush, and holds the
//! room's outgoing messages until it is durable (the output gate). Written one by one,
//! the three row changes of each connection (accept, auth, close) cost three commits,
//! a large share of a handshake's CPU (the figure is in docs/benchmarks.md). The room
//! records changes here and writes all of them in one batch shortly afterwards: a
//! burst of joins costs one commit, and a connection that comes and goes within one
//! batch costs none.

use crate::session::AuthState;
use std::collections::BTreeMap;

/// One row of the connections table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub connection_id: String,
    pub user_id: Option<String>,
    pub state: AuthState,
    pub connected_at: u64,
    pub authenticated_at: Option<u64>,
}

/// What a batch does to one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Insert or replace the whole row.
    Upsert(Row),
    Delete(String),
}

#[derive(Debug)]
enum Entry {
    /// `stored` is false while the row has never been written (accepted in this batch).
    Upsert {
        row: Row,
        stored: bool,
    },
    Delete,
}

#[derive(Debug, Default)]
pub struct Journal {
    entries: BTreeMap<String, Entry>,
}

impl Journal {
    /// A socket was accepted: its row does not exist yet.
    pub fn accepted(&mut self, row: Row) {
        self.entries.insert(
            row.connection_id.clone(),
            Entry::Upsert { row, stored: false },
        );
    }

    /// A socket authenticated: `row` is its whole row as it now stands.
    pub fn authenticated(&mut self, row: Row) {
        let id = row.connection_id.clone();
        let stored = match self.entries.get(&id) {
            // Closed already: the auth must not bring the row back.
            Some(Entry::Delete) => return,
            Some(Entry::Upsert { stored, .. }) => *stored,
            None => true,
        };
        self.entries.insert(id, Entry::Upsert { row, stored });
    }

    /// A socket closed or failed.
    pub fn closed(&mut self, connection_id: &str) {
        match self.entries.remove(connection_id) {
            // Never written: there is nothing to delete.
            Some(Entry::Upsert { stored: false, .. }) => {}
            _ => {
                self.entries.insert(connection_id.to_owned(), Entry::Delete);
            }
        }
    }

    /// The rows this journal would write, for a room that has not written any yet.
    pub fn pending_rows(&self) -> Vec<Row> {
        self.entries
            .values()
            .filter_map(|e| match e {
                Entry::Upsert { row, .. } => Some(row.clone()),
                Entry::Delete => None,
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every pending change, leaving the journal empty. Rows of different connections
    /// are independent, so the order between them does not matter.
    pub fn take(&mut self) -> Vec<Write> {
        std::mem::take(&mut self.entries)
            .into_iter()
            .map(|(id, entry)| match entry {
                Entry::Upsert { row, .. } => Write::Upsert(row),
                Entry::Delete => Write::Delete(id),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(id: &str) -> Row {
        Row {
            connection_id: id.into(),
            user_id: None,
            state: AuthState::Pending,
            connected_at: 1,
            authenticated_at: None,
        }
    }

    fn authed(id: &str) -> Row {
        Row {
            user_id: Some("u".into()),
            state: AuthState::Authenticated,
            authenticated_at: Some(2),
            ..pending(id)
        }
    }

    #[test]
    fn accept_then_auth_is_one_upsert_of_the_final_row() {
        let mut j = Journal::default();
        j.accepted(pending("a"));
        j.authenticated(authed("a"));
        assert_eq!(j.take(), vec![Write::Upsert(authed("a"))]);
        assert!(j.is_empty());
    }

    #[test]
    fn a_connection_that_never_reached_storage_leaves_nothing() {
        let mut j = Journal::default();
        j.accepted(pending("a"));
        j.authenticated(authed("a"));
        j.closed("a");
        assert!(j.take().is_empty());
    }

    #[test]
    fn a_stored_row_is_deleted_and_not_revived() {
        let mut j = Journal::default();
        j.accepted(pending("a"));
        assert_eq!(j.take().len(), 1);
        j.authenticated(authed("a"));
        j.closed("a");
        j.authenticated(authed("a"));
        assert_eq!(j.take(), vec![Write::Delete("a".into())]);
        j.closed("b");
        assert_eq!(j.take(), vec![Write::Delete("b".into())]);
    }

    #[test]
    fn auth_of_a_stored_row_replaces_it_and_later_close_deletes_it() {
        let mut j = Journal::default();
        j.authenticated(authed("a"));
        assert_eq!(j.len(), 1);
        j.closed("a");
        assert_eq!(j.take(), vec![Write::Delete("a".into())]);
    }

    #[test]
    fn pending_rows_and_their_listing() {
        let mut j = Journal::default();
        j.accepted(pending("b"));
        j.accepted(authed("a"));
        j.closed("gone");
        let rows = j.pending_rows();
        assert_eq!(rows.len(), 2);
        let listed = crate::internal::connections::Listed::of(rows);
        let v = serde_json::to_value(listed).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"success": true, "connections": [
                {"connectionId": "a", "userId": "u", "state": "authenticated", "connectedAt": 1, "authenticatedAt": 2},
                {"connectionId": "b", "userId": null, "state": "pending", "connectedAt": 1, "authenticatedAt": null},
            ]})
        );
        assert_eq!(
            AuthState::parse("authenticating"),
            Some(AuthState::Authenticating)
        );
        assert_eq!(AuthState::parse("x"), None);
    }

    #[test]
    fn changes_of_many_connections_are_kept_apart() {
        let mut j = Journal::default();
        for i in 0..100 {
            j.accepted(pending(&format!("c{i:03}")));
        }
        for i in (0..100).step_by(2) {
            j.closed(&format!("c{i:03}"));
        }
        let writes = j.take();
        assert_eq!(writes.len(), 50);
        assert!(writes
            .iter()
            .all(|w| matches!(w, Write::Upsert(r) if r.state == AuthState::Pending)));
    }
}
