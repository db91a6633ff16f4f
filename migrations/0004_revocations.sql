-- Users the backend disconnected from this room, and until when that is remembered:
-- resume tickets issued before `revoked_at` are refused until `until`, when the last
-- of them has expired anyway. User ids and times only. Pruned with each new record and
-- with the ordinary batched writes.
CREATE TABLE IF NOT EXISTS revocations (
  user_id    TEXT PRIMARY KEY,
  revoked_at INTEGER NOT NULL,
  until      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS revocations_until ON revocations (until);
