-- One row per live connection of this room. Connection metadata only:
-- never tokens, never message content.
CREATE TABLE IF NOT EXISTS connections (
  connection_id    TEXT PRIMARY KEY,
  user_id          TEXT,
  state            TEXT NOT NULL,
  connected_at     INTEGER NOT NULL,
  authenticated_at INTEGER
);
