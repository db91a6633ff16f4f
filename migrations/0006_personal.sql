-- A personal channel's object (one user's, named `@<userId>`); a room's object leaves
-- these empty. What watchers were last told and when, and when an offline change is
-- due: at most one row, and none once the user is offline with nothing waiting.
CREATE TABLE IF NOT EXISTS personal_online (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  told_online INTEGER NOT NULL,
  offline_at INTEGER,
  told_at INTEGER NOT NULL
);
-- Who watches this user: at most MAX_WATCHERS_PER_USER rows.
CREATE TABLE IF NOT EXISTS personal_watchers (
  watcher TEXT PRIMARY KEY
);
-- Whom this user watches (the latest check's `watch`, at most 1,024 rows) and what was
-- last heard of each; kept only while the user is online or within the offline delay.
CREATE TABLE IF NOT EXISTS personal_watching (
  user_id TEXT PRIMARY KEY,
  online INTEGER NOT NULL,
  at INTEGER NOT NULL
);
