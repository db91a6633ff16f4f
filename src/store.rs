//! The room's SQLite storage: the migrations runner and the connections table.
//! Connection metadata only; no token or message content is ever written.

use crate::session::AuthState;
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

pub struct Store {
    sql: SqlStorage,
}

#[derive(Deserialize)]
struct NameRow {
    name: String,
}

#[derive(Deserialize)]
struct IdRow {
    connection_id: String,
}

fn int(v: u64) -> SqlStorageValue {
    // Unix milliseconds fit comfortably in JavaScript's safe integer range.
    SqlStorageValue::Integer(v as i64)
}

fn text(v: &str) -> SqlStorageValue {
    SqlStorageValue::String(v.to_owned())
}

impl Store {
    pub fn new(sql: SqlStorage) -> Self {
        Store { sql }
    }

    /// Applies every migration not yet recorded, each with its record, in one
    /// synchronous batch (no await between them, so they commit together).
    pub fn migrate(&self) -> Result<usize> {
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

    pub fn insert(&self, connection_id: &str, state: AuthState, connected_at: u64) -> Result<()> {
        self.sql.exec(
            "INSERT OR REPLACE INTO connections (connection_id, user_id, state, connected_at, authenticated_at) VALUES (?, NULL, ?, ?, NULL)",
            vec![text(connection_id), text(state.as_str()), int(connected_at)],
        )?;
        Ok(())
    }

    /// Records a successful auth (a no-op if the socket closed meanwhile: its row is gone).
    pub fn authenticated(&self, connection_id: &str, user_id: Option<&str>, at: u64) -> Result<()> {
        let user = user_id.map(text).unwrap_or(SqlStorageValue::Null);
        self.sql.exec(
            "UPDATE connections SET state = ?, user_id = ?, authenticated_at = ? WHERE connection_id = ?",
            vec![text(AuthState::Authenticated.as_str()), user, int(at), text(connection_id)],
        )?;
        Ok(())
    }

    pub fn delete(&self, connection_id: &str) -> Result<()> {
        self.sql.exec(
            "DELETE FROM connections WHERE connection_id = ?",
            vec![text(connection_id)],
        )?;
        Ok(())
    }

    /// Deletes rows whose socket no longer exists (after a restart). Returns how many.
    pub fn remove_ghosts(&self, live: &HashSet<String>) -> Result<usize> {
        let rows = self
            .sql
            .exec("SELECT connection_id FROM connections", None)?
            .to_array::<IdRow>()?;
        let mut removed = 0;
        for row in rows.iter().filter(|r| !live.contains(&r.connection_id)) {
            self.delete(&row.connection_id)?;
            removed += 1;
        }
        Ok(removed)
    }

    pub fn count(&self) -> Result<u64> {
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
