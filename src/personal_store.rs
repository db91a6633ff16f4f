//! A personal channel's tables (`migrations/0006_personal.sql`): what watchers were
//! last told, who watches this user, and whom this user watches. Each bounded, and
//! emptied once the user is offline with nothing waiting and no watcher left.

use crate::store::{int, text, Store};
use hub_core::personal::online::Stored;
use hub_core::room::{Known, Restored};
use serde::Deserialize;
use worker::Result;

impl Store {
    /// What an earlier instance of this user's object kept; nothing (and no tables
    /// created) for an object without tables.
    pub fn personal(&self) -> Result<Restored> {
        #[derive(Deserialize)]
        struct OnlineRow {
            told_online: u64,
            offline_at: Option<u64>,
            told_at: u64,
        }
        #[derive(Deserialize)]
        struct WatcherRow {
            watcher: String,
        }
        #[derive(Deserialize)]
        struct WatchingRow {
            user_id: String,
            online: u64,
            at: u64,
        }
        if !self.has_tables()? {
            return Ok(Restored::default());
        }
        let online = self
            .sql
            .exec(
                "SELECT told_online, offline_at, told_at FROM personal_online WHERE id = 1",
                None,
            )?
            .to_array::<OnlineRow>()?
            .into_iter()
            .next()
            .map(|r| Stored {
                told_online: r.told_online != 0,
                offline_at: r.offline_at,
                told_at: r.told_at,
            })
            .unwrap_or_default();
        let watchers = self
            .sql
            .exec("SELECT watcher FROM personal_watchers", None)?
            .to_array::<WatcherRow>()?
            .into_iter()
            .map(|r| r.watcher)
            .collect();
        let watching = self
            .sql
            .exec("SELECT user_id, online, at FROM personal_watching", None)?
            .to_array::<WatchingRow>()?
            .into_iter()
            .map(|r| {
                let known = Known {
                    online: r.online != 0,
                    at: r.at,
                };
                (r.user_id, known)
            })
            .collect();
        Ok(Restored {
            online,
            watchers,
            watching,
        })
    }

    /// Keeps the online state; an idle one (offline, nothing waiting) is no row.
    pub fn save_online(&self, stored: Stored) -> Result<()> {
        self.ensure()?;
        if stored.is_idle() {
            self.sql.exec("DELETE FROM personal_online", None)?;
            return Ok(());
        }
        let offline_at = match stored.offline_at {
            Some(at) => int(at),
            None => worker::SqlStorageValue::Null,
        };
        self.sql.exec(
            "INSERT OR REPLACE INTO personal_online (id, told_online, offline_at, told_at) VALUES (1, ?, ?, ?)",
            vec![int(u64::from(stored.told_online)), offline_at, int(stored.told_at)],
        )?;
        Ok(())
    }

    pub fn save_watcher(&self, watcher: &str, present: bool) -> Result<()> {
        self.ensure()?;
        let sql = if present {
            "INSERT OR IGNORE INTO personal_watchers (watcher) VALUES (?)"
        } else {
            "DELETE FROM personal_watchers WHERE watcher = ?"
        };
        self.sql.exec(sql, vec![text(watcher)])?;
        Ok(())
    }

    /// Replaces whom this user watches (at most 1,024 rows, one statement each, in
    /// one synchronous batch).
    pub fn save_watching(&self, watching: &[(String, Known)]) -> Result<()> {
        self.ensure()?;
        self.sql.exec("DELETE FROM personal_watching", None)?;
        for (user, known) in watching {
            self.save_known(user, *known)?;
        }
        Ok(())
    }

    pub fn save_known(&self, user: &str, known: Known) -> Result<()> {
        self.ensure()?;
        self.sql.exec(
            "INSERT OR REPLACE INTO personal_watching (user_id, online, at) VALUES (?, ?, ?)",
            vec![text(user), int(u64::from(known.online)), int(known.at)],
        )?;
        Ok(())
    }
}
