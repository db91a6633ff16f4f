-- Idempotency keys of recent broadcasts: the key and the count its first call
-- delivered, never the message. Pruned by age and count in the same batch as each new key.
CREATE TABLE IF NOT EXISTS broadcast_keys (
  key       TEXT PRIMARY KEY,
  delivered INTEGER NOT NULL,
  at        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS broadcast_keys_at ON broadcast_keys (at);
