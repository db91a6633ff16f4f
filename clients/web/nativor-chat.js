// Nativor chat web client: a dependency-free ES module for the Nativor Chat Worker hub.
//
//   import { NativorChatClient, roomUrl } from "/nativor-chat.js";
//   const chat = new NativorChatClient({
//     url: roomUrl(location.origin, "room-1"),
//     roomId: "room-1",
//     getToken: async ({ forceRefresh }) => (forceRefresh ? refreshMyToken() : myToken()),
//   });
//   chat.on("auth:ok", (f) => console.log("connected as", f.userId, f.connectionId));
//   chat.on("message.created", (m) => render(m));
//   chat.on("typing", (t) => showTyping(t.userId, t.isTyping));
//   chat.on("members", ({ members }) => showOnline(members)); // a Set, or null: unknown
//   chat.on("resync", ({ since }) => fetchMessagesSince(since)); // after every reconnect
//   chat.connect();
//
// Reconnects carry the hub's resume ticket (in memory only) when it issued one: see
// `resumeTicket` on the client.
//
// Protocol reference: README.md ("Protocol reference"); this module: docs/web-and-flutter.md.
// TypeScript declarations: nativor-chat.d.ts, next to this file.
// The pure parts (`parseServerFrame`, `unpackBatch`, `decideReconnect`, `fullJitter`,
// `refreshDelay`, `refreshRetryDelay`, `TypingThrottle`) are exported for tests and for clients
// that bring their own socket handling.

/** Close codes the hub uses, plus the one this client uses for connections it gives up on. */
export const CloseCode = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  NO_STATUS: 1005,
  ABNORMAL: 1006,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  BAD_GATEWAY: 1014,
  /**
   * Reasons: `unauthorized`, `auth_unavailable`, `auth_timeout`, `reauth_required`,
   * `token_expired` (the token's `expiresAt` passed), `identity_changed` (a refresh's token
   * named another user). The hub's `CloseCode::Unauthorized`.
   */
  UNAUTHORIZED: 4401,
  /**
   * Reasons: `room_mismatch`, `user_mismatch` (a personal channel's auth named another user),
   * `removed` (the backend removed this participant). The hub's `CloseCode::Forbidden`.
   */
  FORBIDDEN: 4403,
  /**
   * Reason: `too_many_connections` (the user already holds `MAX_CONNECTIONS_PER_USER`
   * personal sockets). Never retried. The hub's `CloseCode::TooManyConnections`.
   */
  TOO_MANY_CONNECTIONS: 4409,
  /** Reason: `rate_limited`. The hub's `CloseCode::RateLimited`. */
  RATE_LIMITED: 4429,
  /** Reason: `room_full`. The hub's `CloseCode::RoomFull`. */
  ROOM_FULL: 4503,
  /** Client-side: no pong in time, or no `auth:ok` in time (reason says which). */
  CLIENT_TIMEOUT: 4000,
  /** @deprecated The old name of `UNAUTHORIZED` (4401); use `UNAUTHORIZED`. */
  UNAUTHENTICATED: 4401,
  /** @deprecated The old name of `FORBIDDEN` (4403, also `removed`); use `FORBIDDEN`. */
  ROOM_MISMATCH: 4403,
});

/** Tunables; every one can be overridden through the client's `options`. */
export const DEFAULTS = Object.freeze({
  /** A `ping` every this often while authenticated. */
  pingIntervalMs: 25_000,
  /** No `pong` within this → the connection is dead: drop it and reconnect. */
  pongTimeoutMs: 10_000,
  /** From `new WebSocket` to `auth:ok` (the hub itself answers within ~10 s). */
  handshakeTimeoutMs: 15_000,
  /**
   * `getToken` must answer within this; otherwise the call is abandoned (a late answer is
   * ignored) and the attempt counts as `auth_unavailable`: back off and retry.
   */
  tokenTimeoutMs: 10_000,
  /** At most one `isTyping:true` per this period while the user keeps typing. */
  typingThrottleMs: 3_000,
  /** `isTyping:false` is sent automatically after this long without a keystroke. */
  typingIdleMs: 3_000,
  /**
   * Transient closes (1001/1006/1011/1012, dead connection) and 4401 `reauth_required`:
   * first window of the jitter.
   */
  soonBaseMs: 1_000,
  /** Back-off closes (auth_unavailable, auth_timeout, 4503, unknown codes): first window. */
  backoffBaseMs: 2_000,
  /** Upper bound of every jitter window (except 4429's). */
  maxDelayMs: 30_000,
  /** 4429: wait at least this long, plus a full-jitter window starting at the same size. */
  rateLimitedFloorMs: 10_000,
  rateLimitedMaxMs: 120_000,
  /** The retry counter resets once an authenticated connection has lived this long. */
  stableAfterMs: 10_000,
  /**
   * An expiring token is refreshed in-band (`auth:refresh`) once this fraction of its remaining
   * lifetime (measured from the `auth:ok`/`auth:refreshed` that announced `expiresAt`) has
   * passed: 0.8 leaves a fifth of the lifetime for retries when the backend is unavailable.
   */
  refreshFraction: 0.8,
  /**
   * No refresh (or refresh retry) is scheduled sooner than this, which keeps a client whose
   * clock is off, or whose tokens live very briefly, from spending the hub's 10 events/s on
   * refreshes. A token with less than this left is not refreshed in-band: the hub closes with
   * `token_expired` and the reconnect policy fetches a fresh token.
   */
  refreshMinDelayMs: 1_000,
});

/**
 * The `type` of every frame the hub itself sends; any other type is a backend broadcast.
 * Mirrors `SERVER_FRAME_TYPES` in crates/hub-core/src/protocol.rs (tests/frame_types.rs
 * checks they match).
 */
export const HUB_FRAME_TYPES = Object.freeze([
  "auth:ok", "user:status", "auth:refreshed", "presence", "typing", "pong", "error", "batch",
]);

/**
 * What the hub never puts in a `batch`: its replies to this one socket (they answer something
 * this socket did, and arrive on their own) and `batch` itself (batches do not nest). Such an
 * element is malformed: handling it anyway could, say, take a connection for authenticated.
 */
const NEVER_BATCHED = new Set(["auth:ok", "auth:refreshed", "pong", "error", "batch"]);

const ROOM_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Whether the hub accepts `roomId` (1–128 of `A-Z a-z 0-9 _ - . :`, not `.` or `..`). */
export function isValidRoomId(roomId) {
  return typeof roomId === "string" && ROOM_ID.test(roomId) && roomId !== "." && roomId !== "..";
}

/**
 * Whether the hub accepts `userId` as a personal channel's user id (1–128 characters, no
 * control characters).
 */
export function isValidUserId(userId) {
  if (typeof userId !== "string" || userId === "") return false;
  const chars = [...userId];
  // eslint-disable-next-line no-control-regex
  return chars.length <= 128 && !/[\u0000-\u001f\u007f-\u009f]/.test(userId);
}

/**
 * The WebSocket URL of a user's personal channel: `userUrl("https://chat.example", "ann")`
 * → `wss://chat.example/users/ann` (the id percent-encoded as one path segment).
 */
export function userUrl(origin, userId) {
  if (!isValidUserId(userId)) throw new TypeError(`invalid user id: ${JSON.stringify(userId)}`);
  return `${wsOrigin(origin)}/users/${encodeURIComponent(userId)}`;
}

/** `ws(s)://host` of an http(s) or ws(s) origin. */
function wsOrigin(origin) {
  const u = new URL(origin);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  else if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    throw new TypeError(`unsupported origin: ${origin}`);
  }
  return `${u.protocol}//${u.host}`;
}

/**
 * The WebSocket URL of a room: `roomUrl("https://chat.example", "team:1")` →
 * `wss://chat.example/rooms/team%3A1`. `origin` may be http(s) or ws(s).
 */
export function roomUrl(origin, roomId) {
  if (!isValidRoomId(roomId)) throw new TypeError(`invalid room id: ${JSON.stringify(roomId)}`);
  return `${wsOrigin(origin)}/rooms/${encodeURIComponent(roomId)}`;
}

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
const isOptString = (v) => v === undefined || v === null || typeof v === "string";
const isOptNumber = (v) => v === undefined || v === null || (typeof v === "number" && Number.isFinite(v));
const isStringArray = (v) => Array.isArray(v) && v.every((x) => typeof x === "string");
const isOptStringArray = (v) => v === undefined || v === null || isStringArray(v);

/**
 * Parses one text frame from the hub. Returns the frame object, or `null` when it is not
 * JSON, not an object, has no non-empty string `type`, or a known type has fields of the
 * wrong type. Known types (`HUB_FRAME_TYPES`):
 * - `auth:ok`: `connectionId` string; `userId` string|null; `expiresAt` (Unix ms) number|null;
 *   `members` string array|null; `resume` (an opaque resume ticket) string|null. Missing
 *   `userId`/`expiresAt`/`members`/`resume` (older hubs, a hub without `RESUME_SECRET`) become
 *   null.
 *   On a personal channel it carries `online` (a string array) instead of `members`.
 * - `user:status` (personal channel): `userId` non-empty string, `online` boolean.
 * - `auth:refreshed`: `expiresAt` number|null; `resume` string|null (missing → null).
 * - `presence`: `event` `join`/`leave` with a string `userId`, `on` with a string array
 *   `members`, or `off` (`members` becomes null). Another `event` is refused: the client
 *   cannot keep its member list right with an event it does not understand.
 * - `typing`: `userId` string|null, `isTyping` boolean; `pong`: `t` any; `error`: `code` string.
 * - `batch`: `events` an array, returned verbatim; its elements are checked one by one by
 *   `unpackBatch`, so that one bad element costs only itself.
 * Anything else (what the backend broadcasts) is returned verbatim.
 */
export function parseServerFrame(data) {
  if (typeof data !== "string") return null;
  let frame;
  try {
    frame = JSON.parse(data);
  } catch {
    return null;
  }
  return checkFrame(frame);
}

/**
 * `parseServerFrame` on a value already decoded from JSON: a whole text frame, or one element
 * of a `batch` (which must pass exactly the checks it would have passed on its own).
 */
function checkFrame(frame) {
  if (!isObject(frame) || typeof frame.type !== "string" || frame.type === "") return null;
  if (!HUB_FRAME_TYPES.includes(frame.type)) return frame;
  switch (frame.type) {
    case "auth:ok":
      if (typeof frame.connectionId !== "string" || frame.connectionId === "") return null;
      if (!isOptString(frame.userId) || !isOptNumber(frame.expiresAt)) return null;
      if (!isOptStringArray(frame.members) || !isOptString(frame.resume)) return null;
      if (frame.online !== undefined && !isStringArray(frame.online)) return null;
      return {
        ...frame,
        userId: frame.userId ?? null,
        expiresAt: frame.expiresAt ?? null,
        members: frame.members ?? null,
        resume: frame.resume ?? null,
      };
    case "user:status":
      if (typeof frame.userId !== "string" || frame.userId === "") return null;
      return typeof frame.online === "boolean" ? frame : null;
    case "auth:refreshed":
      if (!isOptNumber(frame.expiresAt) || !isOptString(frame.resume)) return null;
      return { ...frame, expiresAt: frame.expiresAt ?? null, resume: frame.resume ?? null };
    case "presence":
      return parsePresence(frame);
    case "typing":
      if (!isOptString(frame.userId) || typeof frame.isTyping !== "boolean") return null;
      return { ...frame, userId: frame.userId ?? null };
    case "error":
      if (typeof frame.code !== "string" || !isOptString(frame.message)) return null;
      return frame;
    case "batch":
      return Array.isArray(frame.events) ? frame : null;
    default:
      return frame;
  }
}

/**
 * The events of a `batch` frame (as `parseServerFrame` returned it), in the room's order, each
 * checked as if it had arrived as its own text frame: the parsed event, or `null` in its place
 * when it is malformed or is a frame the hub never batches (a reply to one socket: `auth:ok`,
 * `auth:refreshed`, `pong`, `error`; or a nested `batch`). Anything but a well-formed `batch`
 * frame gives `[]`. Never throws.
 */
export function unpackBatch(frame) {
  if (!isObject(frame) || frame.type !== "batch" || !Array.isArray(frame.events)) return [];
  // Array.from, not map: a hole (impossible from JSON, possible from a caller) becomes null too.
  return Array.from(frame.events, (event) => {
    const parsed = checkFrame(event);
    return parsed === null || NEVER_BATCHED.has(parsed.type) ? null : parsed;
  });
}

/** The four shapes of a `presence` frame (see `parseServerFrame`), or null. */
function parsePresence(frame) {
  const { event } = frame;
  if (event === "join" || event === "leave") {
    return typeof frame.userId === "string" && frame.userId !== "" ? frame : null;
  }
  if (event === "on") return isStringArray(frame.members) ? frame : null;
  // `off` carries `members: null`; tolerate its absence, but not a list (that would be `on`).
  if (event === "off") return frame.members == null ? { ...frame, members: null } : null;
  return null;
}

/**
 * Exponential backoff with full jitter: a uniformly random delay in
 * `[0, min(capMs, baseMs * 2^attempt))`. `random` returns a number in [0, 1).
 */
export function fullJitter(attempt, baseMs, capMs, random = Math.random) {
  const n = Math.max(0, Math.min(Number.isFinite(attempt) ? Math.floor(attempt) : 0, 30));
  const window = Math.min(capMs, baseMs * 2 ** n);
  const r = Math.min(Math.max(Number(random()) || 0, 0), 1);
  return Math.min(Math.floor(r * window), Math.max(window - 1, 0));
}

/**
 * 4401 reasons after which a fresh token is fetched every time (`refresh-token`, jittered) and
 * the reconnect counts as a failed attempt, so a backend that keeps asking gets a growing window.
 */
const FRESH_TOKEN_REASONS = new Set(["reauth_required", "token_expired"]);

/** Close codes after which the hub (or the path to it) went away and a prompt retry is right. */
const TRANSIENT = new Set([1001, 1005, 1006, 1011, 1012, 1013, 1014, CloseCode.CLIENT_TIMEOUT]);

/**
 * The reconnect policy: what to do after a connection closed.
 *
 * @param {object} p
 * @param {number} p.code           the close code (`CloseEvent.code`)
 * @param {string} [p.reason]       the close reason; the hub sends the error code here
 * @param {number} [p.attempt]      consecutive failed connections so far (0 after a stable one)
 * @param {boolean} [p.tokenRefreshed] a fresh token was already fetched since the last `auth:ok`
 *                                  (or sent in an in-band refresh the hub has not confirmed)
 * @param {() => number} [p.random] uniform in [0, 1), injectable for tests
 * @param {object} [p.options]      overrides of `DEFAULTS`
 * @returns {{action: "retry"|"refresh-token"|"stop", delayMs: number, why: string}}
 */
export function decideReconnect({
  code,
  reason = "",
  attempt = 0,
  tokenRefreshed = false,
  random = Math.random,
  options = {},
}) {
  const o = { ...DEFAULTS, ...options };
  const retry = (why, baseMs, capMs = o.maxDelayMs, floorMs = 0) => ({
    action: "retry",
    delayMs: floorMs + fullJitter(attempt, baseMs, capMs, random),
    why,
  });
  const stop = (why) => ({ action: "stop", delayMs: 0, why });
  switch (code) {
    case CloseCode.UNAUTHORIZED:
      if (reason === "unauthorized") {
        return tokenRefreshed
          ? stop("unauthorized: the refreshed token was refused too")
          : { action: "refresh-token", delayMs: 0, why: "unauthorized: fetching a fresh token once" };
      }
      if (reason === "identity_changed") {
        // A refresh's token named another user (someone else signed in on this device): this
        // connection's identity cannot change, and reconnecting as the new user is the app's
        // decision (it has to reset what it shows), never a silent one.
        return stop("identity_changed: the refreshed token belongs to another user");
      }
      if (FRESH_TOKEN_REASONS.has(reason)) {
        // reauth_required: the backend asked this connection to authenticate again (its access
        // changed). token_expired: the token's expiresAt passed (an in-band refresh did not
        // happen in time, e.g. the backend was unavailable). Either way: always fetch a fresh
        // token, even right after a refresh, and reconnect after a jittered wait so that a
        // backend re-authenticating many sockets gets no spike.
        const why = reason === "token_expired"
          ? "token_expired: the token expired, fetching a fresh one"
          : "reauth_required: the backend asked for a fresh token";
        return {
          action: "refresh-token",
          delayMs: fullJitter(attempt, o.soonBaseMs, o.maxDelayMs, random),
          why,
        };
      }
      // auth_unavailable (the backend failed), auth_timeout, or no reason at all.
      return retry(`${reason || "unauthenticated"}: backing off`, o.backoffBaseMs);
    case CloseCode.FORBIDDEN:
      if (reason === "removed") {
        return stop("removed: the backend removed this participant from the room");
      }
      if (reason === "room_mismatch" || reason === "user_mismatch") {
        return stop(`${reason}: a client bug, not reconnecting unchanged`);
      }
      // A reason this client does not know: reconnecting unchanged cannot help either.
      return stop(`${reason || "forbidden"}: not reconnecting unchanged`);
    case CloseCode.RATE_LIMITED:
      return retry(
        "rate_limited: long backoff",
        o.rateLimitedFloorMs,
        o.rateLimitedMaxMs,
        o.rateLimitedFloorMs,
      );
    case CloseCode.ROOM_FULL:
      return retry("room_full: backing off", o.backoffBaseMs);
    case CloseCode.TOO_MANY_CONNECTIONS:
      // Another socket would only push out nothing: the user must close one elsewhere.
      return stop("too_many_connections: this user has as many personal connections as allowed");
    case CloseCode.NORMAL:
      // The hub sends 1000 only to answer a close this client started, and close() detaches
      // first, so it never gets here; a proxy or the runtime may close with 1000. Retry soon.
      return retry("closed by the server: reconnecting soon", o.soonBaseMs);
    default:
      if (TRANSIENT.has(code)) {
        return retry(`${code}${reason ? ` ${reason}` : ""}: reconnecting soon`, o.soonBaseMs);
      }
      return retry(`${code}${reason ? ` ${reason}` : ""}: backing off`, o.backoffBaseMs);
  }
}

/**
 * When to refresh, in-band, a token that expires at `expiresAt` (Unix ms), given the clock
 * reading `now` at the moment the hub announced it (`auth:ok` or `auth:refreshed`): after
 * `refreshFraction` (0.8) of the remaining lifetime, and never sooner than `refreshMinDelayMs`.
 * Measuring from the announcement, not from the token's issue time (unknown here), keeps the
 * 20 % margin whatever the hub's and this device's clocks disagree on, as long as the token
 * still has time left by this clock.
 *
 * Returns the delay in ms, or `null` when there is nothing to refresh (`expiresAt` is null) or
 * no time to do it (less than `refreshMinDelayMs` left by this clock): then the hub closes
 * with `token_expired` at expiry and the reconnect policy fetches a fresh token.
 */
export function refreshDelay({ expiresAt, now, options = {} }) {
  const o = { ...DEFAULTS, ...options };
  if (typeof expiresAt !== "number" || !Number.isFinite(expiresAt)) return null;
  const remaining = expiresAt - now;
  if (!(remaining >= o.refreshMinDelayMs)) return null;
  return Math.max(o.refreshMinDelayMs, Math.floor(remaining * o.refreshFraction));
}

/**
 * When to try an in-band refresh again after it failed (the hub answered `auth_unavailable` or
 * `auth_in_progress`, or the token provider threw or did not answer in time). Full jitter from
 * `backoffBaseMs`, growing with `attempt` (0 for the first retry), like a reconnect after
 * `auth_unavailable`; but never sooner than `refreshMinDelayMs` (refreshes count against the
 * rate limit) and never later than half of the time left, so that another try still fits
 * before expiry. Returns `null` when less than twice `refreshMinDelayMs` is left: the client
 * stops trying, and the hub's `token_expired` close hands over to the reconnect policy.
 */
export function refreshRetryDelay({ attempt = 0, expiresAt, now, random = Math.random, options = {} }) {
  const o = { ...DEFAULTS, ...options };
  if (typeof expiresAt !== "number" || !Number.isFinite(expiresAt)) return null;
  const remaining = expiresAt - now;
  if (!(remaining >= 2 * o.refreshMinDelayMs)) return null;
  const jittered = fullJitter(attempt, o.backoffBaseMs, o.maxDelayMs, random);
  return Math.min(Math.max(jittered, o.refreshMinDelayMs), Math.floor(remaining / 2));
}

/**
 * A resume ticket worth sending, or null. The ticket is opaque to the client (the hub alone
 * can check it); an empty string names nothing.
 */
function usableTicket(ticket) {
  return typeof ticket === "string" && ticket !== "" ? ticket : null;
}

/** The longest delay `setTimeout` honours (2^31 − 1 ms, ~24.8 days); longer ones fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const defaultTimers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle),
};

/**
 * The typing throttle: call `input()` on every keystroke and `stop()` when the message is
 * sent or the field is left. Sends `true` at most once per `throttleMs` while typing, and
 * `false` after `idleMs` without a keystroke (or on `stop()`): at most ~2 events per
 * `throttleMs`, far inside the hub's 10 events/s.
 */
export class TypingThrottle {
  constructor(send, {
    throttleMs = DEFAULTS.typingThrottleMs,
    idleMs = DEFAULTS.typingIdleMs,
    timers = defaultTimers,
    now = Date.now,
  } = {}) {
    this._send = send;
    this._throttleMs = throttleMs;
    this._idleMs = idleMs;
    this._timers = timers;
    this._now = now;
    this._typing = false;
    this._lastTrueAt = -Infinity;
    this._idle = null;
  }

  /** Whether the last event sent was `isTyping:true`. */
  get typing() {
    return this._typing;
  }

  /** A keystroke. Returns true when it sent `isTyping:true`. */
  input() {
    const now = this._now();
    let sent = false;
    if (!this._typing || now - this._lastTrueAt >= this._throttleMs) {
      if (this._send(true) !== false) {
        this._typing = true;
        this._lastTrueAt = now;
        sent = true;
      }
    }
    if (this._idle !== null) this._timers.clearTimeout(this._idle);
    this._idle = this._timers.setTimeout(() => {
      this._idle = null;
      this.stop();
    }, this._idleMs);
    return sent;
  }

  /** Typing ended: sends `isTyping:false` if `true` was the last thing sent. */
  stop() {
    if (this._idle !== null) {
      this._timers.clearTimeout(this._idle);
      this._idle = null;
    }
    if (this._typing) {
      this._typing = false;
      this._lastTrueAt = -Infinity;
      this._send(false);
    }
  }

  /** Forgets the state without sending (the connection is gone). */
  reset() {
    if (this._idle !== null) this._timers.clearTimeout(this._idle);
    this._idle = null;
    this._typing = false;
    this._lastTrueAt = -Infinity;
  }
}

/**
 * Event names the client itself emits; server frames with these types are only emitted as
 * `frame` (a backend broadcast must not impersonate the client's own events).
 */
const LOCAL_EVENTS = new Set([
  "open", "close", "state", "reconnecting", "frame", "members", "online", "refresh", "resync", "*",
]);

/**
 * One room connection: handshake, keepalive, typing throttle, presence, in-band token refresh
 * and the reconnect policy.
 *
 * States: `idle` → `connecting` (token + socket) → `authenticating` (auth sent) → `open`
 * (`auth:ok`) → `reconnecting` (waiting out a backoff) → `connecting` …; `stopped` (the
 * policy gave up: see the `state` event's `why`) and `closed` (`close()` was called).
 *
 * Events (`on(name, fn)` returns an unsubscribe function):
 * - `state` `{state, previous, why?, code?, reason?, attempt?, delayMs?}`
 * - `open` `{url}`: the socket opened (auth is being sent)
 * - `auth:ok` `{type, connectionId, userId, expiresAt, members, resume}`
 * - `auth:refreshed` `{type, expiresAt, resume}`: an in-band refresh succeeded
 * - `presence` `{type, event, userId?, members?}`: the hub's frame, after `members` is updated
 * - `members` `{members, cause, userId?}`: `members` changed (`cause`: `auth:ok`, `join`,
 *   `leave`, `on`, `off`, `disconnected`); `members` is a Set, or null when unknown
 * - `refresh` `{phase: "scheduled", delayMs, attempt, expiresAt}` | `{phase: "sent", attempt,
 *   expiresAt}` | `{phase: "gave-up", why, expiresAt}`: the in-band token refresh
 * - `resync` `{since}`: re-authenticated after a disconnect; fetch what was missed since `since`
 * - `typing` `{type, userId, isTyping}`; `pong` `{type, t, rttMs}`
 * - `error` `{type:"error", code, message}` from the hub, or `{…, local:true}` from here
 * - `close` `{code, reason, wasClean, decision}` after every connection
 * - `reconnecting` `{attempt, delayMs, code, reason, why}`
 * - every other server frame by its `type` (`message.created`, …), and all frames as `frame`
 *
 * A `batch` frame (sent to this client only because its `auth` asks for them: option `batch`)
 * is unpacked: each of its events is handled, and emitted, exactly as if it had arrived as its
 * own frame, `frame` included. The container itself is never emitted, not even as `frame`, so
 * that the app sees the same events whether the hub batched them or not.
 */
export class NativorChatClient {
  /**
   * @param {object} o
   * @param {string} o.url            `ws(s)://host/rooms/<roomId>` (see `roomUrl`), or for a
   *                                  personal channel `ws(s)://host/users/<userId>` (`userUrl`)
   * @param {string} [o.roomId]       the room (a room's client)
   * @param {string} [o.user]         instead of `roomId`: this user's personal channel (the
   *                                  conversation list, devices, who is online; no typing)
   * @param {(p: {forceRefresh: boolean}) => string|null|Promise<string|null>} o.getToken
   * @param {string} [o.userId]       optional claim sent with auth (the backend's answer wins)
   * @param {boolean} [o.resume]      false: never send resume tickets, nor keep any (default true)
   * @param {string|null} [o.resumeTicket] a ticket for the first `connect()` (e.g. the
   *                                  `resumeTicket` of an earlier client of the same room)
   * @param {boolean} [o.batch]       false: do not ask the hub for `batch` frames (default true)
   * @param {Function} [o.WebSocket]  WebSocket constructor (default: the global one)
   * @param {{setTimeout: Function, clearTimeout: Function}} [o.timers]
   * @param {() => number} [o.random] uniform in [0, 1), for the jitter
   * @param {() => number} [o.now]    Unix milliseconds clock (like `Date.now`), for ping
   *                                  timestamps, the token's `expiresAt` and `resync`'s `since`
   * @param {object} [o.options]      overrides of `DEFAULTS`
   */
  constructor({
    url, roomId, user = null, getToken, userId = null, resume = true, resumeTicket = null, batch = true,
    WebSocket: WS, timers, random, now, options,
  } = {}) {
    if (typeof url !== "string" || url === "") throw new TypeError("url is required");
    if (user !== null) {
      if (!isValidUserId(user)) throw new TypeError("user is invalid");
      if (roomId !== undefined) throw new TypeError("give roomId or user, not both");
    } else if (!isValidRoomId(roomId)) {
      throw new TypeError("roomId is invalid");
    }
    if (typeof getToken !== "function") throw new TypeError("getToken must be a function");
    if (typeof resume !== "boolean") throw new TypeError("resume must be a boolean");
    if (!isOptString(resumeTicket)) throw new TypeError("resumeTicket must be a string or null");
    if (typeof batch !== "boolean") throw new TypeError("batch must be a boolean");
    this.url = url;
    this.roomId = user === null ? roomId : null;
    /** The personal channel's user, or null for a room's client. */
    this.user = user;
    this._getToken = getToken;
    this._claim = userId;
    this._WS = WS ?? globalThis.WebSocket;
    if (typeof this._WS !== "function") throw new TypeError("no WebSocket constructor");
    this._timers = timers ?? defaultTimers;
    this._random = random ?? Math.random;
    this._now = now ?? Date.now;
    this.options = { ...DEFAULTS, ...options };
    this._listeners = new Map();
    this._state = "idle";
    this._ws = null;
    this._generation = 0;
    this._attempt = 0;
    this._tokenRefreshed = false;
    this._forceRefresh = false;
    this._lastError = null;
    // `refresh` is the one timer of the in-band token refresh (the refresh, or its retry).
    this._timer = {
      token: null, handshake: null, ping: null, pong: null, retry: null, stable: null, refresh: null,
    };
    this.connectionId = null;
    this.userId = null;
    /** When this connection's token expires (Unix ms, from the hub), or null. */
    this.expiresAt = null;
    this.lastClose = null;
    this._members = null;
    this._online = null;
    // The resume ticket the next `auth` sends (see `resumeTicket`), or null. Memory only: a
    // ticket lets its holder into the room without the backend's check until it expires, so it
    // must not outlive this page in storage any other script of the origin can read.
    this._resumeEnabled = resume;
    this._resume = resume ? usableTicket(resumeTicket) : null;
    // Whether `auth` asks for `batch` frames. On by default: unpacking costs the app nothing
    // (it sees the same events), and a busy room then costs the hub one send per burst instead
    // of one per event. An older hub ignores the field.
    this._batch = batch;
    // The in-band refresh: `idle`, `scheduled` (timer armed), `fetching` (the provider runs),
    // `sent` (`auth:refresh` awaits its answer). `attempt` counts failed tries since the last
    // success (it drives the retry backoff).
    this._refresh = { phase: "idle", attempt: 0 };
    // For `resync`: whether this session (since `connect()`) has been authenticated before,
    // and when the last frame arrived on an authenticated connection.
    this._authenticatedBefore = false;
    this._lastFrameAt = null;
    this._typing = new TypingThrottle((isTyping) => this.send({ type: "typing", isTyping }), {
      throttleMs: this.options.typingThrottleMs,
      idleMs: this.options.typingIdleMs,
      timers: this._timers,
      now: this._now,
    });
  }

  /** `idle`, `connecting`, `authenticating`, `open`, `reconnecting`, `stopped` or `closed`. */
  get state() {
    return this._state;
  }

  /** Consecutive failed connections (drives the backoff). */
  get attempt() {
    return this._attempt;
  }

  /**
   * The verified user ids in the room, this socket's own included (a `ReadonlySet`; each
   * change makes a new Set, so a kept reference does not change under the app), or `null`
   * when unknown: not connected, or presence is off in this room (too many members). Never a
   * stale list: it becomes null (with a `members` event) the moment the connection ends.
   */
  get members() {
    return this._members;
  }

  /**
   * On a personal channel: the watched user ids online now (a `ReadonlySet`, a new Set at each
   * change), from `auth:ok`'s `online` and each `user:status`; `null` when not connected, and
   * always on a room's client. It becomes null (with an `online` event) when the connection ends:
   * the next `auth:ok` brings the whole list again.
   */
  get online() {
    return this._online;
  }

  /**
   * `now()` of the last frame received on an authenticated connection (kept across
   * disconnects and `close()`), or null: what `resync`'s `since` is made of.
   */
  get lastFrameAt() {
    return this._lastFrameAt;
  }

  /**
   * The hub's resume ticket that the next `auth` will send, or null. Kept from the last
   * `auth:ok` (an `auth:ok` without one clears it) and replaced by each `auth:refreshed` that
   * carries one. Dropped when the reconnect policy decides `refresh-token` (the backend must
   * decide again) or `stop`, and on `close()`. Always null with the option `resume: false`.
   * Do not store it: it is a credential for this room until it expires.
   */
  get resumeTicket() {
    return this._resume;
  }

  on(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(fn);
    return () => this.off(type, fn);
  }

  off(type, fn) {
    this._listeners.get(type)?.delete(fn);
  }

  _emit(type, payload) {
    for (const fn of [...(this._listeners.get(type) ?? [])]) {
      try {
        fn(payload);
      } catch (e) {
        // A listener's bug must not break the connection.
        globalThis.queueMicrotask?.(() => {
          throw e;
        });
      }
    }
  }

  _setState(state, detail = {}) {
    const previous = this._state;
    this._state = state;
    this._emit("state", { ...detail, state, previous });
  }

  /** Starts connecting (no-op while already connected or connecting). */
  connect() {
    if (["connecting", "authenticating", "open", "reconnecting"].includes(this._state)) return;
    this._attempt = 0;
    this._tokenRefreshed = false;
    this._forceRefresh = false;
    // A new session: its first `auth:ok` is the app's initial load, not a `resync`.
    this._authenticatedBefore = false;
    this._open();
  }

  /**
   * Closes for good (code 1000) and cancels any pending reconnect. The state is `closed` at
   * once; the socket's handlers are detached first, so no `close` event follows. The hub answers
   * the close frame with the client's own code (1000), promptly, so the browser's socket ends
   * cleanly with 1000 instead of waiting out its closing-handshake timeout and reporting 1006
   * (as it did before the hub answered). Nothing here waits for that answer.
   */
  close() {
    this._generation += 1;
    this._clearTimers(true);
    this._typing.reset();
    const ws = this._ws;
    this._ws = null;
    this._forgetConnection();
    if (ws) {
      this._detach(ws);
      try {
        ws.close(1000, "client closed");
      } catch {
        // already closing
      }
    }
    // A new session after close() starts from a real check.
    this._resume = null;
    if (this._state !== "closed") this._setState("closed", { why: "closed by the client" });
  }

  /** Skips a pending backoff (e.g. on the browser's `online` event). */
  reconnectNow() {
    if (this._state !== "reconnecting") return;
    this._clear("retry");
    this._open();
  }

  /** Sends a frame if authenticated. Returns whether it was sent. */
  send(frame) {
    if (this._state !== "open" || !this._ws) return false;
    try {
      this._ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** A keystroke in the composer (throttled `typing` events). */
  typing() {
    // Typing belongs to a conversation: a personal channel has none.
    if (this._state !== "open" || this.user !== null) return false;
    return this._typing.input();
  }

  /** Typing ended (message sent, field left). */
  stopTyping() {
    this._typing.stop();
  }

  /** Sends a `ping` now and arms the dead-connection timeout. */
  ping() {
    if (this._state !== "open") return false;
    if (!this.send({ type: "ping", t: this._now() })) return false;
    if (this._timer.pong === null) {
      this._timer.pong = this._timers.setTimeout(() => {
        this._timer.pong = null;
        this._abandon("ping_timeout");
      }, this.options.pongTimeoutMs);
    }
    return true;
  }

  async _open() {
    const generation = ++this._generation;
    this._setState("connecting", { attempt: this._attempt });
    const forceRefresh = this._forceRefresh;
    const answer = await this._fetchToken(forceRefresh);
    if (generation !== this._generation) return;
    if (answer.timedOut) {
      // The provider hangs: give up on this call (its late answer is ignored) and treat the
      // attempt as "auth unavailable". `_forceRefresh` stays as it was, so the retry asks the
      // same question again (a fresh token, if a fresh one was needed).
      const ms = this.options.tokenTimeoutMs;
      const message = `the token provider did not answer within ${ms} ms`;
      this._emit("error", { type: "error", code: "token_timeout", message, local: true });
      this._end(CloseCode.UNAUTHORIZED, "auth_unavailable", false);
      return;
    }
    let token = answer.token;
    if ("error" in answer) {
      token = undefined;
      const e = answer.error;
      const message = String(e?.message ?? e);
      this._emit("error", { type: "error", code: "token_unavailable", message, local: true });
      if (generation !== this._generation) return;
    }
    this._forceRefresh = false;
    if (typeof token !== "string" || token === "") {
      if (forceRefresh) {
        // (No resume ticket is left to drop: only a `refresh-token` decision forces a refresh.)
        this._setState("stopped", {
          why: "unauthorized: no fresh token",
          code: CloseCode.UNAUTHORIZED,
          reason: "unauthorized",
        });
        return;
      }
      // The provider could not give a token now: treat it as "auth unavailable".
      this._end(CloseCode.UNAUTHORIZED, "auth_unavailable", false);
      return;
    }
    let ws;
    try {
      ws = new this._WS(this.url);
    } catch (e) {
      const message = String(e?.message ?? e);
      this._emit("error", { type: "error", code: "connect_failed", message, local: true });
      this._end(CloseCode.ABNORMAL, "", false);
      return;
    }
    this._ws = ws;
    this._lastError = null;
    this._timer.handshake = this._timers.setTimeout(() => {
      this._timer.handshake = null;
      this._abandon("handshake_timeout");
    }, this.options.handshakeTimeoutMs);
    ws.onopen = () => {
      if (this._ws !== ws) return;
      this._setState("authenticating");
      this._emit("open", { url: this.url });
      const auth = this.user === null
        ? { type: "auth", token, roomId: this.roomId }
        : { type: "auth", token, userId: this.user };
      if (this._claim && this.user === null) auth.userId = this._claim;
      // The token goes along all the same: the hub silently ignores a ticket it does not accept
      // (expired, revoked, signed with a retired secret) and checks the token instead.
      if (this._resume !== null) auth.resume = this._resume;
      if (this._batch) auth.batch = true;
      try {
        ws.send(JSON.stringify(auth));
      } catch {
        // the close event follows
      }
    };
    ws.onmessage = (e) => {
      if (this._ws === ws) this._onFrame(e.data);
    };
    ws.onerror = () => {};
    ws.onclose = (e) => {
      if (this._ws !== ws) return;
      this._end(e.code, e.reason || this._lastError || "", e.wasClean);
    };
  }

  /**
   * Calls the token provider, bounded by `tokenTimeoutMs`. Resolves (never rejects) with
   * `{token}`, `{error}` or `{timedOut: true}`, whichever comes first; later outcomes of the
   * same call are ignored.
   */
  _fetchToken(forceRefresh) {
    return new Promise((resolve) => {
      let settled = false;
      let handle = null;
      const settle = (outcome) => {
        if (settled) return;
        settled = true;
        if (handle !== null) {
          this._timers.clearTimeout(handle);
          if (this._timer.token === handle) this._timer.token = null;
        }
        resolve(outcome);
      };
      let pending;
      try {
        pending = Promise.resolve(this._getToken({ forceRefresh }));
      } catch (error) {
        settle({ error });
        return;
      }
      handle = this._timers.setTimeout(() => {
        if (this._timer.token === handle) this._timer.token = null;
        settle({ timedOut: true });
      }, this.options.tokenTimeoutMs);
      this._timer.token = handle;
      pending.then((token) => settle({ token }), (error) => settle({ error }));
    });
  }

  /** One text frame from the hub: a single event, or a `batch` of them. */
  _onFrame(data) {
    const ws = this._ws;
    const at = this._now();
    const frame = parseServerFrame(data);
    if (frame === null) {
      this._invalidFrame("unparseable frame from the hub", at);
      return;
    }
    if (frame.type !== "batch") {
      this._onEvent(frame, ws, at);
      return;
    }
    // Received now, even if empty or all malformed: it counts for `resync`'s `since` like any
    // frame (a batch never holds `auth:ok`, the one handler that reads the previous value).
    if (this._state === "open") this._lastFrameAt = at;
    const events = unpackBatch(frame);
    for (let i = 0; i < events.length; i += 1) {
      // A listener ended or replaced the connection: as with separate frames, whose handler the
      // close detached, nothing more of this socket is delivered.
      if (this._ws !== ws) return;
      const event = events[i];
      if (event === null) this._invalidFrame(`malformed event #${i} in a batch from the hub`, at);
      else this._onEvent(event, ws, at);
    }
  }

  /** The local `invalid_frame` error; the frame still counts as received (see `lastFrameAt`). */
  _invalidFrame(message, at) {
    if (this._state === "open") this._lastFrameAt = at;
    this._emit("error", { type: "error", code: "invalid_frame", message, local: true });
  }

  /**
   * One parsed event from connection `ws`, received at `at`: a frame on its own, or one
   * element of a `batch` (handled and emitted identically, so batching is invisible).
   */
  _onEvent(frame, ws, at) {
    // Events that follow the frame's own (`members`, `refresh`, `resync`), so that a listener
    // of the frame sees the client already updated and the consequences come after it.
    const after = [];
    switch (frame.type) {
      case "auth:ok": {
        this._clear("handshake");
        this.connectionId = frame.connectionId;
        this.userId = frame.userId;
        this.expiresAt = frame.expiresAt;
        this._tokenRefreshed = false;
        // The hub's ticket for this connection (a resumed one echoes the ticket it was let in
        // with); none means the hub has none for it (no secret, no user id): a kept ticket would
        // be stale, so it goes.
        this._resume = this._resumeEnabled ? usableTicket(frame.resume) : null;
        this._members = frame.members === null ? null : new Set(frame.members);
        // Re-authenticated after a disconnect (not the first `auth:ok` since `connect()`):
        // whatever was delivered after the last frame we got may be lost, so the app resyncs.
        const since = this._authenticatedBefore ? this._lastFrameAt : null;
        this._authenticatedBefore = true;
        this._timer.stable = this._timers.setTimeout(() => {
          this._timer.stable = null;
          this._attempt = 0;
        }, this.options.stableAfterMs);
        this._schedulePing();
        if (this.user === null) after.push(["members", { members: this._members, cause: "auth:ok" }]);
        else {
          this._online = new Set(frame.online ?? []);
          after.push(["online", { online: this._online, cause: "auth:ok" }]);
        }
        after.push(...this._scheduleRefresh());
        if (since !== null) after.push(["resync", { since }]);
        this._setState("open", { connectionId: frame.connectionId, userId: frame.userId });
        break;
      }
      case "auth:refreshed":
        // Same connection, same id, same presence: only the expiry moved.
        if (this._state !== "open") break;
        this.expiresAt = frame.expiresAt;
        this._tokenRefreshed = false;
        // A refresh is a real check, so the hub issues a new ticket. A refresh without one (a hub
        // that sends none here) takes nothing away: the kept ticket stays good until its expiry.
        if (this._resumeEnabled && usableTicket(frame.resume) !== null) this._resume = frame.resume;
        after.push(...this._scheduleRefresh());
        break;
      case "presence": {
        if (this._state !== "open") break;
        const change = this._applyPresence(frame);
        if (change !== null) after.push(["members", change]);
        break;
      }
      case "user:status": {
        if (this._state !== "open" || this._online === null) break;
        if (this._online.has(frame.userId) === frame.online) break;
        const online = new Set(this._online);
        if (frame.online) online.add(frame.userId);
        else online.delete(frame.userId);
        this._online = online;
        after.push(["online", { online, cause: "user:status", userId: frame.userId }]);
        break;
      }
      case "pong":
        this._clear("pong");
        frame.rttMs = typeof frame.t === "number" ? Math.max(0, this._now() - frame.t) : null;
        break;
      case "error":
        this._lastError = frame.code;
        if (
          this._state === "open" &&
          this._refresh.phase === "sent" &&
          (frame.code === "auth_unavailable" || frame.code === "auth_in_progress")
        ) {
          // The hub could not check the fresh token (or is checking another one): not fatal,
          // the socket stays open until `expiresAt`. Try again later, and do not let this code
          // pose as the reason of an unrelated close later on.
          this._lastError = null;
          after.push(...this._refreshFailed(`${frame.code}: the hub could not check the fresh token`));
        }
        break;
      default:
        break;
    }
    if (this._state === "open") this._lastFrameAt = at;
    this._emit("frame", frame);
    if (!LOCAL_EVENTS.has(frame.type)) this._emit(frame.type, frame);
    this._emitWhileConnected(ws, after);
  }

  /** Emits `events` (`[name, payload]` pairs) until a listener ends or replaces connection `ws`. */
  _emitWhileConnected(ws, events) {
    for (const [name, payload] of events) {
      if (this._ws !== ws) return;
      this._emit(name, payload);
    }
  }

  /**
   * Applies a `presence` frame to `members`. Returns the `members` event, or null when nothing
   * changed (a join or leave while the list is unknown, a join of a member already listed).
   */
  _applyPresence(frame) {
    const { event, userId } = frame;
    if (event === "off") {
      // The hub stopped tracking (the room is too big): an old list would be stale at once.
      this._members = null;
      return { members: null, cause: "off" };
    }
    if (event === "on") {
      this._members = new Set(frame.members);
      return { members: this._members, cause: "on" };
    }
    const current = this._members;
    if (current === null) return null;
    if (event === "join" ? current.has(userId) : !current.has(userId)) return null;
    // A new Set per change: a list the app kept (e.g. to diff against) stays as it was.
    const next = new Set(current);
    if (event === "join") next.add(userId);
    else next.delete(userId);
    this._members = next;
    return { members: next, cause: event, userId };
  }

  /**
   * (Re)arms the refresh timer for `expiresAt` as just announced (`auth:ok`,
   * `auth:refreshed`), or leaves it unarmed when there is nothing to refresh in time. Returns
   * the `refresh` event(s) to emit.
   */
  _scheduleRefresh() {
    this._clear("refresh");
    this._refresh = { phase: "idle", attempt: 0 };
    if (this.expiresAt === null) return [];
    const delayMs = refreshDelay({ expiresAt: this.expiresAt, now: this._now(), options: this.options });
    if (delayMs === null) {
      return [this._gaveUp("the token expires too soon to refresh it in-band")];
    }
    return [this._armRefresh(delayMs)];
  }

  /** An in-band refresh failed: arm a retry while there is time. Returns the `refresh` event. */
  _refreshFailed(why) {
    const delayMs = refreshRetryDelay({
      attempt: this._refresh.attempt,
      expiresAt: this.expiresAt,
      now: this._now(),
      random: this._random,
      options: this.options,
    });
    this._refresh.attempt += 1;
    if (delayMs === null) return [this._gaveUp(`${why}; no time left to try again before expiry`)];
    return [this._armRefresh(delayMs)];
  }

  _gaveUp(why) {
    this._clear("refresh");
    this._refresh.phase = "idle";
    // Nothing is lost: at expiry the hub closes with `token_expired`, and the reconnect policy
    // fetches a fresh token (or stops if the provider has none).
    return ["refresh", { phase: "gave-up", why, expiresAt: this.expiresAt }];
  }

  _armRefresh(delayMs) {
    this._clear("refresh");
    this._refresh.phase = "scheduled";
    this._setRefreshTimer(delayMs);
    const { attempt } = this._refresh;
    return ["refresh", { phase: "scheduled", delayMs, attempt, expiresAt: this.expiresAt }];
  }

  _setRefreshTimer(delayMs) {
    const armed = Math.min(delayMs, MAX_TIMER_MS);
    this._timer.refresh = this._timers.setTimeout(() => {
      this._timer.refresh = null;
      if (this._state !== "open" || this._refresh.phase !== "scheduled") return;
      // Only a delay longer than one timer can wait is split; otherwise the timer is trusted
      // over the wall clock, which may jump.
      if (armed < delayMs) {
        this._setRefreshTimer(delayMs - armed);
        return;
      }
      this._refreshNow();
    }, armed);
  }

  /**
   * The refresh timer fired: ask the provider for a fresh token (bounded by `tokenTimeoutMs`,
   * as before a connection) and send it as `auth:refresh` on this socket.
   */
  async _refreshNow() {
    const ws = this._ws;
    this._refresh.phase = "fetching";
    const answer = await this._fetchToken(true);
    // The connection ended, or an `auth:refreshed` (someone else's refresh) re-armed the timer.
    if (this._ws !== ws || this._state !== "open" || this._refresh.phase !== "fetching") return;
    const fail = (code, message) => {
      this._emit("error", { type: "error", code, message, local: true });
      if (this._ws === ws) this._emitWhileConnected(ws, this._refreshFailed(`${code}: ${message}`));
    };
    if (answer.timedOut) {
      fail("token_timeout", `the token provider did not answer within ${this.options.tokenTimeoutMs} ms`);
      return;
    }
    if ("error" in answer) {
      fail("token_unavailable", String(answer.error?.message ?? answer.error));
      return;
    }
    const { token } = answer;
    if (typeof token !== "string" || token === "") {
      // The provider says there is no fresh token (signed out): retrying cannot help. The hub
      // closes at expiry, and the reconnect policy's forced refresh then stops the client.
      const message = "the token provider gave no fresh token";
      this._emit("error", { type: "error", code: "token_unavailable", message, local: true });
      this._emitWhileConnected(ws, [this._gaveUp(`token_unavailable: ${message}`)]);
      return;
    }
    if (!this.send({ type: "auth:refresh", token })) return; // the close event follows
    this._refresh.phase = "sent";
    const { attempt } = this._refresh;
    this._emit("refresh", { phase: "sent", attempt, expiresAt: this.expiresAt });
  }

  _schedulePing() {
    this._clear("ping");
    this._timer.ping = this._timers.setTimeout(() => {
      this._timer.ping = null;
      if (this._state !== "open") return;
      this.ping();
      this._schedulePing();
    }, this.options.pingIntervalMs);
  }

  /** The connection is considered dead: drop it without waiting for the closing handshake. */
  _abandon(reason) {
    const ws = this._ws;
    if (!ws) return;
    this._detach(ws);
    try {
      ws.close(CloseCode.CLIENT_TIMEOUT, reason);
    } catch {
      // ignore
    }
    this._end(CloseCode.CLIENT_TIMEOUT, reason, false);
  }

  _detach(ws) {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
  }

  _clear(name) {
    if (this._timer[name] !== null) {
      this._timers.clearTimeout(this._timer[name]);
      this._timer[name] = null;
    }
  }

  _clearTimers(includingRetry) {
    for (const name of Object.keys(this._timer)) {
      if (name !== "retry" || includingRetry) this._clear(name);
    }
  }

  /**
   * Forgets what only holds while connected: the connection id, the token's expiry, the
   * in-band refresh, and the member list (with a `members` event, so no stale list stays on
   * screen without the app being told).
   */
  _forgetConnection() {
    this.connectionId = null;
    this.expiresAt = null;
    this._refresh = { phase: "idle", attempt: 0 };
    if (this._members !== null) {
      this._members = null;
      this._emit("members", { members: null, cause: "disconnected" });
    }
    if (this._online !== null) {
      this._online = null;
      this._emit("online", { online: null, cause: "disconnected" });
    }
  }

  /** A connection ended (closed, failed, abandoned): apply the reconnect policy. */
  _end(code, reason, wasClean) {
    const generation = this._generation;
    if (this._ws) this._detach(this._ws);
    this._ws = null;
    this._clearTimers(true);
    this._typing.reset();
    // An `auth:refresh` the hub has not confirmed carried a fresh token: if the hub refused it
    // (`unauthorized`), asking the provider for yet another one cannot help.
    const tokenRefreshed = this._tokenRefreshed || this._refresh.phase === "sent";
    this._forgetConnection();
    // A listener may have called close() (or connect() after it): that wins over this policy.
    if (generation !== this._generation) return;
    const decision = decideReconnect({
      code,
      reason,
      attempt: this._attempt,
      tokenRefreshed,
      random: this._random,
      options: this.options,
    });
    // A ticket stands in for the backend's check only while the backend has said nothing new: a
    // `retry` (deploy, network, backend down) keeps it, which spares the backend a storm of
    // checks after a deploy. After `refresh-token` (unauthorized, reauth_required,
    // token_expired) the backend must decide again; after `stop` nothing reconnects by itself,
    // and a later `connect()` starts from a real check. (The hub refuses tickets of users the
    // backend disconnected; this client does not even try.) Dropped before the `close` event,
    // so its listeners see `resumeTicket` as the next attempt will use it.
    if (decision.action !== "retry") this._resume = null;
    this.lastClose = { code, reason, wasClean, decision };
    this._emit("close", { code, reason, wasClean, decision });
    if (generation !== this._generation) return;
    if (decision.action === "stop") {
      this._setState("stopped", { why: decision.why, code, reason });
      return;
    }
    if (decision.action === "refresh-token") {
      this._tokenRefreshed = true;
      this._forceRefresh = true;
    }
    // Only the one-time refresh after `unauthorized` is free; a backend that keeps asking for
    // `reauth_required` (or tokens that keep expiring) gets a growing window like any other failure.
    if (decision.action === "retry" || FRESH_TOKEN_REASONS.has(reason)) this._attempt += 1;
    const { delayMs, why } = decision;
    const detail = { attempt: this._attempt, delayMs, code, reason, why };
    this._setState("reconnecting", detail);
    if (generation !== this._generation) return;
    this._emit("reconnecting", detail);
    if (generation !== this._generation) return;
    this._timer.retry = this._timers.setTimeout(() => {
      this._timer.retry = null;
      if (generation === this._generation && this._state === "reconnecting") this._open();
    }, decision.delayMs);
  }
}
