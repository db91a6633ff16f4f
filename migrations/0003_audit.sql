-- The connection audit: what happened to which connection, when. Connection ids,
-- verified user ids, error and close codes only: never tokens, message content or
-- addresses. Pruned by age and count in the same batch as each write.
CREATE TABLE IF NOT EXISTS audit (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  at            INTEGER NOT NULL,
  event         TEXT NOT NULL,
  connection_id TEXT NOT NULL,
  user_id       TEXT,
  detail        TEXT
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
