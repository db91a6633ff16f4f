//! The room's SQLite storage: the migrations runner and its tables, each bounded: the
//! connections (one row per live connection), the connection audit (by count and age),
//! the broadcasts' idempotency keys (by count and the window), the disconnect records
//! behind resume tickets (until they run out), and a first object's further objects and
//! their users. A personal channel's own tables are read and written in
//! `personal_store`. Connection metadata only; no token or message content is ever
//! written.

use hub_core::audit::{self, Entry, Prune};
use hub_core::journal::{Row, Write};
use hub_core::session::AuthState;
use serde::Deserialize;
use std::collections::HashSet;
use worker::{Result, SqlStorage, SqlStorageValue};

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// The migrations not yet recorded as applied, in order.
pub fn pending<'a>(
    all: &'a [(&'a str, &'a str)],
    applied: &HashSet<String>,
) -> Vec<(&'a str, &'a str)> {
    all.iter()
        .filter(|(name, _)| !applied.contains(*name))
        .copied()
        .collect()
}

/// Durable Object SQLite accepts at most 100 bound parameters per statement.
const MAX_PARAMS: usize = 100;
const ROW_COLUMNS: usize = 5;

fn upsert_sql(rows: usize) -> String {
    let row = "(?, ?, ?, ?, ?)";
    format!(
        "INSERT OR REPLACE INTO connections (connection_id, user_id, state, connected_at, authenticated_at) VALUES {}",
        vec![row; rows].join(", ")
    )
}

fn delete_sql(ids: usize) -> String {
    format!(
        "DELETE FROM connections WHERE connection_id IN ({})",
        vec!["?"; ids].join(", ")
    )
}

const AUDIT_COLUMNS: usize = 5;

fn audit_sql(rows: usize) -> String {
    format!(
        "INSERT INTO audit (at, event, connection_id, user_id, detail) VALUES {}",
        vec!["(?, ?, ?, ?, ?)"; rows].join(", ")
    )
}

fn audit_values(e: &Entry) -> [SqlStorageValue; AUDIT_COLUMNS] {
    [
        int(e.at),
        text(e.event),
        text(&e.connection_id),
        e.user_id.as_deref().map_or(SqlStorageValue::Null, text),
        e.detail.as_deref().map_or(SqlStorageValue::Null, text),
    ]
}

fn row_values(r: &Row) -> [SqlStorageValue; ROW_COLUMNS] {
    [
        text(&r.connection_id),
        r.user_id.as_deref().map_or(SqlStorageValue::Null, text),
        text(r.state.as_str()),
        int(r.connected_at),
        r.authenticated_at.map_or(SqlStorageValue::Null, int),
    ]
}

/// The room's tables are created on the first write, not when the object starts:
/// a room nobody ever joined leaves no storage behind.
pub struct Store {
    pub(crate) sql: SqlStorage,
    /// Set once the tables are known to exist and be migrated.
    ready: std::cell::Cell<bool>,
}

#[derive(Deserialize)]
struct NameRow {
    name: String,
}

#[derive(Deserialize)]
struct IdRow {
    connection_id: String,
}

pub(crate) fn int(v: u64) -> SqlStorageValue {
    // Unix milliseconds fit comfortably in JavaScript's safe integer range.
    SqlStorageValue::Integer(v as i64)
}

pub(crate) fn text(v: &str) -> SqlStorageValue {
    SqlStorageValue::String(v.to_owned())
}

impl Store {
    pub fn new(sql: SqlStorage) -> Self {
        Store {
            sql,
            ready: std::cell::Cell::new(false),
        }
    }

    /// Whether this room has tables of ours (a read: it creates nothing). When it
    /// does, migrations not yet applied are applied now.
    pub fn exists(&self) -> Result<bool> {
        #[derive(Deserialize)]
        struct N {
            n: u64,
        }
        let rows = self
            .sql
            .exec(
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '_migrations'",
                None,
            )?
            .to_array::<N>()?;
        let exists = rows.first().is_some_and(|r| r.n > 0);
        if exists {
            self.ensure()?;
        }
        Ok(exists)
    }

    /// Whether the room has its tables, migrated (a read: it creates nothing). Every
    /// read of a table that may not exist yet starts here.
    pub(crate) fn has_tables(&self) -> Result<bool> {
        Ok(self.ready.get() || self.exists()?)
    }

    /// Creates and migrates the tables once per instance.
    pub(crate) fn ensure(&self) -> Result<()> {
        if !self.ready.get() {
            self.migrate()?;
            self.ready.set(true);
        }
        Ok(())
    }

    /// Applies every migration not yet recorded, each with its record, in one
    /// synchronous batch (no await between them, so they commit together).
    fn migrate(&self) -> Result<usize> {
        self.sql.exec(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)",
            None,
        )?;
        let applied: HashSet<String> = self
            .sql
            .exec("SELECT name FROM _migrations", None)?
            .to_array::<NameRow>()?
            .into_iter()
            .map(|r| r.name)
            .collect();
        let todo = pending(MIGRATIONS, &applied);
        for (name, body) in &todo {
            self.sql.exec(body, None)?;
            self.sql.exec(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                vec![text(name), int(worker::Date::now().as_millis())],
            )?;
        }
        Ok(todo.len())
    }

    /// Writes a batch of row changes with as few statements as the runtime's limit
    /// on bound parameters allows. The caller runs no await in between, so the whole
    /// batch commits once.
    pub fn apply(&self, writes: &[Write]) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        self.ensure()?;
        self.apply_rows(writes)
    }

    /// Row changes and audit events in one batch (no await in between: one commit),
    /// then the audit pruned by age and count.
    pub fn apply_batch(&self, writes: &[Write], events: &[Entry], prune: Prune) -> Result<()> {
        if writes.is_empty() && events.is_empty() {
            return Ok(());
        }
        self.ensure()?;
        self.apply_rows(writes)?;
        for chunk in events.chunks(MAX_PARAMS / AUDIT_COLUMNS) {
            let values: Vec<_> = chunk.iter().flat_map(audit_values).collect();
            self.sql.exec(&audit_sql(chunk.len()), values)?;
        }
        if !events.is_empty() {
            self.sql.exec(
                "DELETE FROM revocations WHERE until <= ?",
                vec![int(prune.now)],
            )?;
            self.sql
                .exec("DELETE FROM audit WHERE at < ?", vec![int(prune.before)])?;
            self.sql.exec(
                "DELETE FROM audit WHERE id <= (SELECT id FROM audit ORDER BY id DESC LIMIT 1 OFFSET ?)",
                vec![int(prune.keep as u64)],
            )?;
        }
        Ok(())
    }

    /// The newest audit events, at most `limit`, newest first.
    pub fn audit(&self, limit: usize) -> Result<Vec<Entry>> {
        #[derive(Deserialize)]
        struct Stored {
            at: u64,
            event: String,
            connection_id: String,
            user_id: Option<String>,
            detail: Option<String>,
        }
        self.ensure()?;
        let rows = self
            .sql
            .exec(
                "SELECT at, event, connection_id, user_id, detail FROM audit ORDER BY id DESC LIMIT ?",
                vec![int(limit as u64)],
            )?
            .to_array::<Stored>()?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(Entry {
                    at: r.at,
                    event: audit::known_name(&r.event)?,
                    connection_id: r.connection_id,
                    user_id: r.user_id,
                    detail: r.detail,
                })
            })
            .collect())
    }

    fn apply_rows(&self, writes: &[Write]) -> Result<()> {
        let upserts: Vec<&Row> = writes
            .iter()
            .filter_map(|w| match w {
                Write::Upsert(row) => Some(row),
                Write::Delete(_) => None,
            })
            .collect();
        let deletes: Vec<&str> = writes
            .iter()
            .filter_map(|w| match w {
                Write::Delete(id) => Some(id.as_str()),
                Write::Upsert(_) => None,
            })
            .collect();
        for chunk in upserts.chunks(MAX_PARAMS / ROW_COLUMNS) {
            let values: Vec<_> = chunk.iter().flat_map(|r| row_values(r)).collect();
            self.sql.exec(&upsert_sql(chunk.len()), values)?;
        }
        for chunk in deletes.chunks(MAX_PARAMS) {
            let ids: Vec<_> = chunk.iter().map(|id| text(id)).collect();
            self.sql.exec(&delete_sql(chunk.len()), ids)?;
        }
        Ok(())
    }

    /// Deletes rows whose socket no longer exists (after a restart). Returns how many.
    pub fn remove_ghosts(&self, live: &HashSet<String>) -> Result<usize> {
        let rows = self
            .sql
            .exec("SELECT connection_id FROM connections", None)?
            .to_array::<IdRow>()?;
        let ghosts: Vec<Write> = rows
            .into_iter()
            .filter(|r| !live.contains(&r.connection_id))
            .map(|r| Write::Delete(r.connection_id))
            .collect();
        self.apply(&ghosts)?;
        Ok(ghosts.len())
    }

    /// The count stored with an idempotency key at or after `since`.
    pub fn find_key(&self, key: &str, since: u64) -> Result<Option<u64>> {
        #[derive(Deserialize)]
        struct D {
            delivered: u64,
        }
        self.ensure()?;
        let rows = self
            .sql
            .exec(
                "SELECT delivered FROM broadcast_keys WHERE key = ? AND at >= ?",
                vec![text(key), int(since)],
            )?
            .to_array::<D>()?;
        Ok(rows.first().map(|r| r.delivered))
    }

    /// How many idempotency keys are stored (read once per instance).
    pub fn key_count(&self) -> Result<usize> {
        #[derive(Deserialize)]
        struct N {
            n: u64,
        }
        self.ensure()?;
        let rows = self
            .sql
            .exec("SELECT COUNT(*) AS n FROM broadcast_keys", None)?
            .to_array::<N>()?;
        Ok(rows.first().map_or(0, |r| r.n as usize))
    }

    /// Deletes the keys stored before `before` (an indexed range delete); how many.
    pub fn prune_keys(&self, before: u64) -> Result<usize> {
        #[derive(Deserialize)]
        struct K {
            #[allow(dead_code)]
            key: String,
        }
        self.ensure()?;
        let gone = self
            .sql
            .exec(
                "DELETE FROM broadcast_keys WHERE at < ? RETURNING key",
                vec![int(before)],
            )?
            .to_array::<K>()?;
        Ok(gone.len())
    }

    /// Stores a key and, with `keep`, deletes all but the newest `keep` (a scan: only
    /// when the count is over the cap). Called with no await after the delivery and
    /// the age prune: one commit, before the broadcast is answered.
    pub fn store_key(
        &self,
        key: &str,
        delivered: usize,
        at: u64,
        keep: Option<usize>,
    ) -> Result<()> {
        self.ensure()?;
        self.sql.exec(
            "INSERT OR REPLACE INTO broadcast_keys (key, delivered, at) VALUES (?, ?, ?)",
            vec![text(key), int(delivered as u64), int(at)],
        )?;
        if let Some(keep) = keep {
            self.sql.exec(
                "DELETE FROM broadcast_keys WHERE key IN (SELECT key FROM broadcast_keys ORDER BY at DESC LIMIT -1 OFFSET ?)",
                vec![int(keep as u64)],
            )?;
        }
        Ok(())
    }

    /// Records that `users` were disconnected at `at`, remembered until `until`, and
    /// prunes the records that have run out (no await in between: one commit, before
    /// the disconnect is answered).
    pub fn revoke(&self, users: &[String], at: u64, until: u64) -> Result<()> {
        self.ensure()?;
        self.sql
            .exec("DELETE FROM revocations WHERE until <= ?", vec![int(at)])?;
        for user in users {
            self.sql.exec(
                "INSERT OR REPLACE INTO revocations (user_id, revoked_at, until) VALUES (?, ?, ?)",
                vec![text(user), int(at), int(until)],
            )?;
        }
        Ok(())
    }

    /// The further objects this first object opened, with the sockets each last
    /// reported; none (and no tables created) in a room without tables.
    pub fn shards(&self) -> Result<Vec<(u16, usize)>> {
        #[derive(Deserialize)]
        struct Shard {
            shard: u16,
            sockets: u64,
        }
        if !self.has_tables()? {
            return Ok(Vec::new());
        }
        let rows = self
            .sql
            .exec("SELECT shard, sockets FROM shards", None)?
            .to_array::<Shard>()?;
        Ok(rows
            .into_iter()
            .map(|r| (r.shard, r.sockets as usize))
            .collect())
    }

    /// The users each further object held, as last reported: (shard, user).
    pub fn shard_users(&self) -> Result<Vec<(u16, String)>> {
        #[derive(Deserialize)]
        struct Held {
            shard: u16,
            user_id: String,
        }
        if !self.has_tables()? {
            return Ok(Vec::new());
        }
        let rows = self
            .sql
            .exec("SELECT shard, user_id FROM shard_users", None)?
            .to_array::<Held>()?;
        Ok(rows.into_iter().map(|r| (r.shard, r.user_id)).collect())
    }

    /// Records whether shard `shard` holds sockets of `user`.
    pub fn save_shard_user(&self, shard: u16, user: &str, present: bool) -> Result<()> {
        self.ensure()?;
        let sql = if present {
            "INSERT OR REPLACE INTO shard_users (shard, user_id) VALUES (?, ?)"
        } else {
            "DELETE FROM shard_users WHERE shard = ? AND user_id = ?"
        };
        self.sql
            .exec(sql, vec![int(u64::from(shard)), text(user)])?;
        Ok(())
    }

    /// Records that shard `shard` holds `sockets`.
    pub fn save_shard(&self, shard: u16, sockets: usize) -> Result<()> {
        self.ensure()?;
        self.sql.exec(
            "INSERT OR REPLACE INTO shards (shard, sockets) VALUES (?, ?)",
            vec![int(u64::from(shard)), int(sockets as u64)],
        )?;
        Ok(())
    }

    /// Every disconnect record still remembered at `now`: (user, at, until); none in a
    /// room without tables.
    pub fn revocations(&self, now: u64) -> Result<Vec<(String, u64, u64)>> {
        #[derive(Deserialize)]
        struct Record {
            user_id: String,
            revoked_at: u64,
            until: u64,
        }
        // Reading creates no tables: a room without them has no records.
        if !self.has_tables()? {
            return Ok(Vec::new());
        }
        let rows = self
            .sql
            .exec(
                "SELECT user_id, revoked_at, until FROM revocations WHERE until > ?",
                vec![int(now)],
            )?
            .to_array::<Record>()?;
        Ok(rows
            .into_iter()
            .map(|r| (r.user_id, r.revoked_at, r.until))
            .collect())
    }

    /// Every row of the connections table (the room has tables).
    pub fn rows(&self) -> Result<Vec<Row>> {
        #[derive(Deserialize)]
        struct Stored {
            connection_id: String,
            user_id: Option<String>,
            state: String,
            connected_at: u64,
            authenticated_at: Option<u64>,
        }
        self.ensure()?;
        let rows = self
            .sql
            .exec(
                "SELECT connection_id, user_id, state, connected_at, authenticated_at FROM connections",
                None,
            )?
            .to_array::<Stored>()?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(Row {
                    state: AuthState::parse(&r.state)?,
                    connection_id: r.connection_id,
                    user_id: r.user_id,
                    connected_at: r.connected_at,
                    authenticated_at: r.authenticated_at,
                })
            })
            .collect())
    }

    /// Rows in the connections table; 0 when the room has no tables.
    pub fn count(&self) -> Result<u64> {
        if !self.has_tables()? {
            return Ok(0);
        }
        #[derive(Deserialize)]
        struct N {
            n: u64,
        }
        let rows = self
            .sql
            .exec("SELECT COUNT(*) AS n FROM connections", None)?
            .to_array::<N>()?;
        Ok(rows.first().map_or(0, |r| r.n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_embedded_in_order() {
        assert!(!MIGRATIONS.is_empty());
        assert_eq!(MIGRATIONS[0].0, "0001_connections.sql");
        let names: Vec<&str> = MIGRATIONS.iter().map(|m| m.0).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert!(MIGRATIONS[0]
            .1
            .contains("CREATE TABLE IF NOT EXISTS connections"));
    }

    #[test]
    fn batch_statements_bind_exactly_their_placeholders() {
        assert!(upsert_sql(1).ends_with("VALUES (?, ?, ?, ?, ?)"));
        assert_eq!(upsert_sql(20).matches('?').count(), MAX_PARAMS);
        assert_eq!(delete_sql(MAX_PARAMS).matches('?').count(), MAX_PARAMS);
        assert!(delete_sql(1).ends_with("IN (?)"));
        assert_eq!(
            audit_sql(MAX_PARAMS / AUDIT_COLUMNS).matches('?').count(),
            MAX_PARAMS
        );
    }

    #[test]
    fn only_unapplied_migrations_are_pending() {
        let all = [
            ("0001_a.sql", "A"),
            ("0002_b.sql", "B"),
            ("0003_c.sql", "C"),
        ];
        let applied: HashSet<String> = ["0001_a.sql".to_string()].into();
        assert_eq!(
            pending(&all, &applied),
            vec![("0002_b.sql", "B"), ("0003_c.sql", "C")]
        );
        let none: HashSet<String> = all.iter().map(|a| a.0.to_string()).collect();
        assert!(pending(&all, &none).is_empty());
    }
}
