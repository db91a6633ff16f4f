//! Runtime configuration: environment variables turned into typed limits once,
//! with defaults. Pure: it reads through a lookup function, not `worker::Env`.

use crate::rate_limit::RateLimit;

/// The upper bound of `RESUME_TTL_MS`: no resume ticket lives longer, whatever the
/// configuration was when it was issued, so a disconnect remembered this long outlives
/// every ticket of its user.
pub const MAX_RESUME_TTL_MS: u64 = 86_400_000;
use crate::resume::Secret;

/// Every tunable, its variable name, and its default. The README's configuration
/// table lists the same names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `BACKEND_ORIGIN`: scheme://host[:port] of the Nativor backend, without a trailing slash.
    pub backend_origin: Option<String>,
    /// `AUTH_TIMEOUT_MS`: how long a new socket may wait before sending auth.
    pub auth_timeout_ms: u64,
    /// `AUTH_CHECK_TIMEOUT_MS`: how long the participants check may take.
    pub auth_check_timeout_ms: u64,
    /// `AUTH_CHECK_CONCURRENCY`: participants checks one object has in flight toward
    /// the backend at once; the rest queue in arrival order (see `room::checks`).
    pub auth_check_concurrency: usize,
    /// `MAX_FRAME_BYTES`: largest client text frame.
    pub max_frame_bytes: usize,
    /// `MAX_BROADCAST_BYTES`: largest `/api/broadcast` body.
    pub max_broadcast_bytes: usize,
    /// `MAX_CONNECTIONS_PER_ROOM`: sockets one room accepts, across all its objects
    /// (the runtime allows 32,768 per object).
    pub max_connections: usize,
    /// `ROOM_SHARD_SIZE`: sockets one object of a room holds; past it, new sockets go
    /// to further objects of the same room (see `shard`).
    pub room_shard_size: usize,
    /// `ROOM_MAX_SHARDS`: objects one room may span, its first included.
    pub room_max_shards: u16,
    /// `MAX_PENDING_PER_ROOM`: sockets one room holds that have not authenticated yet;
    /// always below `max_connections`, so silent sockets cannot fill a room.
    pub max_pending: usize,
    /// `PENDING_GRACE_MS`: how long a waiting socket is safe from making room for a
    /// newcomer (its auth frame may still be queued during a reconnect storm).
    pub pending_grace_ms: u64,
    /// `BATCH_WINDOW_MS`: events arriving within this of the previous fan-out are
    /// queued and flushed together (`batch` frames for the sockets that ask); 0 sends
    /// every event at once.
    pub batch_window_ms: u64,
    /// `RATE_LIMIT_PER_SEC`, `RATE_LIMIT_BURST`, `RATE_LIMIT_FLOOD_PER_SEC`: client events.
    pub rate_limit: RateLimit,
    /// `IDEMPOTENCY_WINDOW_MS`: how long a broadcast's `idempotencyKey` is remembered.
    pub idempotency_window_ms: u64,
    /// `AUDIT_MAX_EVENTS`: connection-audit events one room keeps at most.
    pub audit_max_events: usize,
    /// `AUDIT_RETENTION_MS`: how long a connection-audit event is kept.
    pub audit_retention_ms: u64,
    /// `PRESENCE_MAX_MEMBERS`: presence (join and leave events, the member list) is on
    /// while a room has at most this many distinct users; 0 turns it off.
    pub presence_max_members: usize,
    /// `MAX_CONNECTIONS_PER_USER`: authenticated personal sockets one user may hold
    /// (tabs, phones); the next gets `too_many_connections`, 4409.
    pub max_connections_per_user: usize,
    /// `OFFLINE_DELAY_MS`: how long a user has had no personal socket before watchers
    /// are told they are offline (a page reload says nothing).
    pub offline_delay_ms: u64,
    /// `MAX_WATCHERS_PER_USER`: watchers one user's object keeps; past it, a watcher
    /// reads the state when it registers but is told no changes.
    pub max_watchers_per_user: usize,
    /// `RESUME_SECRET` (a secret): signs resume tickets; unset, there are none.
    pub resume_secret: Option<Secret>,
    /// `RESUME_SECRET_PREVIOUS` (a secret): still verifies tickets after a rotation.
    pub resume_secret_previous: Option<Secret>,
    /// `RESUME_TTL_MS`: the longest a resume ticket lives (its token's expiry may end it
    /// sooner).
    pub resume_ttl_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            backend_origin: None,
            auth_timeout_ms: 10_000,
            auth_check_timeout_ms: 5_000,
            auth_check_concurrency: 32,
            max_frame_bytes: 16 * 1024,
            max_broadcast_bytes: 64 * 1024,
            max_connections: 10_000,
            room_shard_size: 5_000,
            room_max_shards: 32,
            max_pending: 1_000,
            pending_grace_ms: 1_000,
            batch_window_ms: 5,
            idempotency_window_ms: 300_000,
            audit_max_events: 1_000,
            audit_retention_ms: 7 * 24 * 3_600_000,
            presence_max_members: 200,
            max_connections_per_user: 20,
            offline_delay_ms: 3_000,
            max_watchers_per_user: crate::personal::watchers::MAX_WATCHERS,
            resume_secret: None,
            resume_secret_previous: None,
            resume_ttl_ms: 600_000,
            rate_limit: RateLimit {
                per_sec: 10,
                burst: 20,
                flood_per_sec: 100,
            },
        }
    }
}

impl Config {
    /// The secrets that verify a resume ticket: the current one, then the previous.
    /// Empty when resume tickets are off.
    pub fn resume_secrets(&self) -> Vec<&Secret> {
        self.resume_secret
            .iter()
            .chain(self.resume_secret_previous.iter())
            .collect()
    }

    /// Reads the configuration. Invalid values keep their default and are reported in
    /// the returned list (by variable name only: values may be secret).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> (Config, Vec<&'static str>) {
        let mut c = Config::default();
        let mut r = Reader {
            get: &get,
            invalid: Vec::new(),
        };
        r.u64("AUTH_TIMEOUT_MS", &mut c.auth_timeout_ms, 100, 600_000);
        r.u64(
            "AUTH_CHECK_TIMEOUT_MS",
            &mut c.auth_check_timeout_ms,
            100,
            60_000,
        );
        r.usize(
            "AUTH_CHECK_CONCURRENCY",
            &mut c.auth_check_concurrency,
            1,
            1_000,
        );
        r.usize("MAX_FRAME_BYTES", &mut c.max_frame_bytes, 256, 1024 * 1024);
        r.usize(
            "MAX_BROADCAST_BYTES",
            &mut c.max_broadcast_bytes,
            1024,
            1024 * 1024,
        );
        r.usize("ROOM_SHARD_SIZE", &mut c.room_shard_size, 1, 32_000);
        let mut shards = u64::from(c.room_max_shards);
        r.u64("ROOM_MAX_SHARDS", &mut shards, 1, 64);
        c.room_max_shards = shards as u16;
        r.usize(
            "MAX_CONNECTIONS_PER_ROOM",
            &mut c.max_connections,
            1,
            shards * 32_000,
        );
        r.u64(
            "IDEMPOTENCY_WINDOW_MS",
            &mut c.idempotency_window_ms,
            1_000,
            86_400_000,
        );
        let year = 366 * 24 * 3_600_000;
        r.u64(
            "AUDIT_RETENTION_MS",
            &mut c.audit_retention_ms,
            60_000,
            year,
        );
        r.usize("AUDIT_MAX_EVENTS", &mut c.audit_max_events, 1, 100_000);
        r.usize(
            "PRESENCE_MAX_MEMBERS",
            &mut c.presence_max_members,
            0,
            32_000,
        );
        r.u64(
            "RESUME_TTL_MS",
            &mut c.resume_ttl_ms,
            1_000,
            MAX_RESUME_TTL_MS,
        );
        r.u64("PENDING_GRACE_MS", &mut c.pending_grace_ms, 0, 60_000);
        r.usize(
            "MAX_CONNECTIONS_PER_USER",
            &mut c.max_connections_per_user,
            1,
            1_000,
        );
        r.u64("OFFLINE_DELAY_MS", &mut c.offline_delay_ms, 0, 600_000);
        r.usize(
            "MAX_WATCHERS_PER_USER",
            &mut c.max_watchers_per_user,
            1,
            crate::personal::watchers::MAX_WATCHERS as u64,
        );
        r.u64("BATCH_WINDOW_MS", &mut c.batch_window_ms, 0, 1_000);
        c.resume_secret = get("RESUME_SECRET").and_then(|s| Secret::new(&s));
        c.resume_secret_previous = get("RESUME_SECRET_PREVIOUS").and_then(|s| Secret::new(&s));
        let rl = &mut c.rate_limit;
        r.u32("RATE_LIMIT_PER_SEC", &mut rl.per_sec, 1, 10_000);
        r.u32("RATE_LIMIT_BURST", &mut rl.burst, 1, 10_000);
        r.u32(
            "RATE_LIMIT_FLOOD_PER_SEC",
            &mut rl.flood_per_sec,
            1,
            100_000,
        );
        let mut pending = c.max_pending;
        r.usize("MAX_PENDING_PER_ROOM", &mut pending, 1, 32_000);
        // Below the capacity: a value at or above it is refused, and the default
        // shrinks under a small capacity (with a capacity of 1, the one socket).
        let below_capacity = c.max_connections.saturating_sub(1).max(1);
        if pending > below_capacity {
            if get("MAX_PENDING_PER_ROOM").is_some() {
                r.refuse("MAX_PENDING_PER_ROOM");
            }
            pending = c.max_pending.min(below_capacity);
        }
        c.max_pending = pending;
        if let Some(origin) = get("BACKEND_ORIGIN") {
            match normalize_origin(&origin) {
                Some(o) => c.backend_origin = Some(o),
                None => r.refuse("BACKEND_ORIGIN"),
            }
        }
        (c, r.invalid)
    }
}

/// Reads bounded numbers, noting every variable whose value is refused.
struct Reader<'a, G: Fn(&str) -> Option<String>> {
    get: &'a G,
    invalid: Vec<&'static str>,
}

impl<G: Fn(&str) -> Option<String>> Reader<'_, G> {
    /// Sets `slot` from `name` when it is set to a whole number in `min..=max`.
    fn u64(&mut self, name: &'static str, slot: &mut u64, min: u64, max: u64) {
        if let Some(raw) = (self.get)(name) {
            match raw.trim().parse::<u64>() {
                Ok(v) if (min..=max).contains(&v) => *slot = v,
                _ => self.refuse(name),
            }
        }
    }

    fn usize(&mut self, name: &'static str, slot: &mut usize, min: u64, max: u64) {
        let mut v = *slot as u64;
        self.u64(name, &mut v, min, max);
        // Bounded above by `max`, so it fits.
        *slot = v as usize;
    }

    fn u32(&mut self, name: &'static str, slot: &mut u32, min: u64, max: u64) {
        let mut v = u64::from(*slot);
        self.u64(name, &mut v, min, max);
        *slot = u32::try_from(v).unwrap_or(*slot);
    }

    fn refuse(&mut self, name: &'static str) {
        if !self.invalid.contains(&name) {
            self.invalid.push(name);
        }
    }
}

/// `http(s)://host...` without query, fragment, whitespace or trailing slash.
fn normalize_origin(raw: &str) -> Option<String> {
    let o = raw.trim().trim_end_matches('/');
    let rest = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"))?;
    let ok = !rest.is_empty()
        && !rest.starts_with('/')
        && rest
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#');
    ok.then(|| o.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> (Config, Vec<&'static str>) {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn the_room_wide_cap_grows_with_the_shards() {
        let (c, bad) = read(&[
            ("ROOM_SHARD_SIZE", "2"),
            ("ROOM_MAX_SHARDS", "3"),
            ("MAX_CONNECTIONS_PER_ROOM", "96000"),
        ]);
        assert!(bad.is_empty());
        assert_eq!(
            (c.room_shard_size, c.room_max_shards, c.max_connections),
            (2, 3, 96_000)
        );
        let (c, bad) = read(&[
            ("ROOM_MAX_SHARDS", "2"),
            ("MAX_CONNECTIONS_PER_ROOM", "64001"),
        ]);
        assert_eq!(
            (bad, c.max_connections),
            (vec!["MAX_CONNECTIONS_PER_ROOM"], 10_000)
        );
        let (_, bad) = read(&[("ROOM_MAX_SHARDS", "65"), ("ROOM_SHARD_SIZE", "0")]);
        assert_eq!(bad, vec!["ROOM_SHARD_SIZE", "ROOM_MAX_SHARDS"]);
    }

    #[test]
    fn personal_channels_are_bounded() {
        let d = Config::default();
        assert_eq!(
            (
                d.max_connections_per_user,
                d.offline_delay_ms,
                d.max_watchers_per_user
            ),
            (20, 3_000, 4_096)
        );
        let (c, bad) = read(&[
            ("MAX_CONNECTIONS_PER_USER", "2"),
            ("OFFLINE_DELAY_MS", "0"),
            ("MAX_WATCHERS_PER_USER", "1"),
        ]);
        assert!(bad.is_empty());
        assert_eq!(
            (
                c.max_connections_per_user,
                c.offline_delay_ms,
                c.max_watchers_per_user
            ),
            (2, 0, 1)
        );
        let (_, bad) = read(&[
            ("MAX_CONNECTIONS_PER_USER", "0"),
            ("MAX_WATCHERS_PER_USER", "4097"),
        ]);
        assert_eq!(
            bad,
            vec!["MAX_CONNECTIONS_PER_USER", "MAX_WATCHERS_PER_USER"]
        );
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        assert_eq!(read(&[]), (Config::default(), vec![]));
        let d = Config::default();
        assert_eq!(
            (d.auth_timeout_ms, d.auth_check_timeout_ms),
            (10_000, 5_000)
        );
        assert_eq!(d.auth_check_concurrency, 32);
        assert_eq!((d.max_frame_bytes, d.max_broadcast_bytes), (16_384, 65_536));
        assert_eq!((d.max_connections, d.max_pending), (10_000, 1_000));
        assert_eq!((d.room_shard_size, d.room_max_shards), (5_000, 32));
        assert_eq!(d.idempotency_window_ms, 300_000);
        assert_eq!(d.presence_max_members, 200);
        assert_eq!((d.pending_grace_ms, d.batch_window_ms), (1_000, 5));
        assert_eq!(
            (d.resume_secret.is_none(), d.resume_ttl_ms),
            (true, 600_000)
        );
        assert!(d.resume_secrets().is_empty());
        assert_eq!(
            (d.audit_max_events, d.audit_retention_ms),
            (1_000, 604_800_000)
        );
        assert_eq!(
            (
                d.rate_limit.per_sec,
                d.rate_limit.burst,
                d.rate_limit.flood_per_sec
            ),
            (10, 20, 100)
        );
    }

    #[test]
    fn reads_valid_values() {
        let (c, bad) = read(&[
            ("AUTH_TIMEOUT_MS", "1500"),
            ("AUTH_CHECK_TIMEOUT_MS", " 800 "),
            ("AUTH_CHECK_CONCURRENCY", "4"),
            ("MAX_FRAME_BYTES", "4096"),
            ("MAX_BROADCAST_BYTES", "2048"),
            ("BACKEND_ORIGIN", "https://api.nativor.com/"),
            ("MAX_CONNECTIONS_PER_ROOM", "5"),
            ("MAX_PENDING_PER_ROOM", "2"),
            ("IDEMPOTENCY_WINDOW_MS", "60000"),
            ("AUDIT_MAX_EVENTS", "50"),
            ("AUDIT_RETENTION_MS", "3600000"),
            ("RATE_LIMIT_PER_SEC", "3"),
            ("RATE_LIMIT_BURST", "4"),
            ("RATE_LIMIT_FLOOD_PER_SEC", "30"),
            ("PRESENCE_MAX_MEMBERS", "0"),
            ("RESUME_SECRET", "new"),
            ("RESUME_SECRET_PREVIOUS", "old"),
            ("RESUME_TTL_MS", "60000"),
            ("PENDING_GRACE_MS", "0"),
            ("BATCH_WINDOW_MS", "50"),
        ]);
        assert_eq!(c.batch_window_ms, 50);
        assert_eq!(c.pending_grace_ms, 0);
        assert_eq!(
            c.resume_secrets(),
            [&Secret::new("new").unwrap(), &Secret::new("old").unwrap()]
        );
        assert_eq!(c.resume_ttl_ms, 60_000);
        assert_eq!((c.max_connections, c.max_pending), (5, 2));
        assert_eq!(c.presence_max_members, 0);
        assert_eq!(c.idempotency_window_ms, 60_000);
        assert_eq!((c.audit_max_events, c.audit_retention_ms), (50, 3_600_000));
        assert_eq!(
            c.rate_limit,
            RateLimit {
                per_sec: 3,
                burst: 4,
                flood_per_sec: 30
            }
        );
        assert!(bad.is_empty());
        assert_eq!(c.auth_timeout_ms, 1500);
        assert_eq!(c.auth_check_timeout_ms, 800);
        assert_eq!(c.auth_check_concurrency, 4);
        assert_eq!(c.max_frame_bytes, 4096);
        assert_eq!(c.max_broadcast_bytes, 2048);
        assert_eq!(c.backend_origin.as_deref(), Some("https://api.nativor.com"));
    }

    #[test]
    fn pending_sockets_stay_below_the_capacity() {
        let (c, bad) = read(&[("MAX_CONNECTIONS_PER_ROOM", "500")]);
        assert_eq!((c.max_pending, bad.len()), (499, 0));
        let (c, bad) = read(&[
            ("MAX_CONNECTIONS_PER_ROOM", "50"),
            ("MAX_PENDING_PER_ROOM", "50"),
        ]);
        assert_eq!((c.max_pending, bad), (49, vec!["MAX_PENDING_PER_ROOM"]));
        let (c, bad) = read(&[("MAX_CONNECTIONS_PER_ROOM", "1")]);
        assert_eq!((c.max_pending, bad.len()), (1, 0));
    }

    #[test]
    fn invalid_values_keep_defaults_and_are_named() {
        let (c, bad) = read(&[
            ("AUTH_TIMEOUT_MS", "soon"),
            ("MAX_FRAME_BYTES", "1"),
            ("BACKEND_ORIGIN", "ftp://x"),
        ]);
        assert_eq!(c.auth_timeout_ms, 10_000);
        assert_eq!(c.max_frame_bytes, 16_384);
        assert_eq!(c.backend_origin, None);
        assert_eq!(
            bad,
            vec!["AUTH_TIMEOUT_MS", "MAX_FRAME_BYTES", "BACKEND_ORIGIN"]
        );
        for bad_origin in [
            "http://",
            "https://a?b",
            "http://a#x",
            "http://a b",
            "http:///x",
        ] {
            assert_eq!(normalize_origin(bad_origin), None, "{bad_origin}");
        }
    }
}
