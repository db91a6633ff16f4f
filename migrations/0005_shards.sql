-- The further objects of a room spread over several (kept by its first object): the
-- shards it opened and the sockets each last reported, so a new instance of the first
-- object still relays to them and counts them against the room's cap. At most
-- ROOM_MAX_SHARDS - 1 rows.
CREATE TABLE IF NOT EXISTS shards (
  shard INTEGER PRIMARY KEY,
  sockets INTEGER NOT NULL
);
-- The users each further object holds (for room-wide presence): a new instance of the
-- first object announces only what changed since, never the users it merely forgot.
CREATE TABLE IF NOT EXISTS shard_users (
  shard INTEGER NOT NULL,
  user_id TEXT NOT NULL,
  PRIMARY KEY (shard, user_id)
);
