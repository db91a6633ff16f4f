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
//   chat.connect();
//
// Protocol reference: README.md ("Protocol reference"); this module: docs/web-and-flutter.md.
// The pure parts (`parseServerFrame`, `decideReconnect`, `fullJitter`, `TypingThrottle`)
// are exported for tests and for clients that bring their own socket handling.

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
  /** Reasons: `unauthorized`, `auth_unavailable`, `auth_timeout`, `reauth_required`. */
  UNAUTHENTICATED: 4401,
  /** Reasons: `room_mismatch`, `removed` (the backend removed this participant). */
  ROOM_MISMATCH: 4403,
  RATE_LIMITED: 4429,
  ROOM_FULL: 4503,
  /** Client-side: no pong in time, or no `auth:ok` in time (reason says which). */
  CLIENT_TIMEOUT: 4000,
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
});

/**
 * The `type` of every frame the hub itself sends; any other type is a backend broadcast.
 * Mirrors `SERVER_FRAME_TYPES` in crates/hub-core/src/protocol.rs (tests/frame_types.rs
 * checks they match).
 */
export const HUB_FRAME_TYPES = Object.freeze(["auth:ok", "typing", "pong", "error"]);

const ROOM_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Whether the hub accepts `roomId` (1–128 of `A-Z a-z 0-9 _ - . :`, not `.` or `..`). */
export function isValidRoomId(roomId) {
  return typeof roomId === "string" && ROOM_ID.test(roomId) && roomId !== "." && roomId !== "..";
}

/**
 * The WebSocket URL of a room: `roomUrl("https://chat.example", "team:1")` →
 * `wss://chat.example/rooms/team%3A1`. `origin` may be http(s) or ws(s).
 */
export function roomUrl(origin, roomId) {
  if (!isValidRoomId(roomId)) throw new TypeError(`invalid room id: ${JSON.stringify(roomId)}`);
  const u = new URL(origin);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  else if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    throw new TypeError(`unsupported origin: ${origin}`);
  }
  return `${u.protocol}//${u.host}/rooms/${encodeURIComponent(roomId)}`;
}

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
const isOptString = (v) => v === undefined || v === null || typeof v === "string";

/**
 * Parses one text frame from the hub. Returns the frame object, or `null` when it is not
 * JSON, not an object, has no non-empty string `type`, or a known type has fields of the
 * wrong type. Known types (`HUB_FRAME_TYPES`): `auth:ok` (`connectionId` string, `userId`
 * string|null), `typing` (`userId` string|null, `isTyping` boolean), `pong` (`t` any),
 * `error` (`code` string). Anything else (what the backend broadcasts) is returned verbatim.
 */
export function parseServerFrame(data) {
  if (typeof data !== "string") return null;
  let frame;
  try {
    frame = JSON.parse(data);
  } catch {
    return null;
  }
  if (!isObject(frame) || typeof frame.type !== "string" || frame.type === "") return null;
  if (!HUB_FRAME_TYPES.includes(frame.type)) return frame;
  switch (frame.type) {
    case "auth:ok":
      if (typeof frame.connectionId !== "string" || frame.connectionId === "") return null;
      if (!isOptString(frame.userId)) return null;
      return { ...frame, userId: frame.userId ?? null };
    case "typing":
      if (!isOptString(frame.userId) || typeof frame.isTyping !== "boolean") return null;
      return { ...frame, userId: frame.userId ?? null };
    case "error":
      if (typeof frame.code !== "string" || !isOptString(frame.message)) return null;
      return frame;
    default:
      return frame;
  }
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
    case CloseCode.UNAUTHENTICATED:
      if (reason === "unauthorized") {
        return tokenRefreshed
          ? stop("unauthorized: the refreshed token was refused too")
          : { action: "refresh-token", delayMs: 0, why: "unauthorized: fetching a fresh token once" };
      }
      if (reason === "reauth_required") {
        // The backend asked this connection to authenticate again (its access changed):
        // always fetch a fresh token, even right after a refresh, and reconnect after a
        // jittered wait so that a backend re-authenticating many sockets gets no spike.
        return {
          action: "refresh-token",
          delayMs: fullJitter(attempt, o.soonBaseMs, o.maxDelayMs, random),
          why: "reauth_required: the backend asked for a fresh token",
        };
      }
      // auth_unavailable (the backend failed), auth_timeout, or no reason at all.
      return retry(`${reason || "unauthenticated"}: backing off`, o.backoffBaseMs);
    case CloseCode.ROOM_MISMATCH:
      if (reason === "removed") {
        return stop("removed: the backend removed this participant from the room");
      }
      if (reason === "room_mismatch") {
        return stop("room_mismatch: a client bug, not reconnecting unchanged");
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
    case CloseCode.NORMAL:
      // The hub never closes with 1000 itself; a proxy or the runtime may. Retry soon.
      return retry("closed by the server: reconnecting soon", o.soonBaseMs);
    default:
      if (TRANSIENT.has(code)) {
        return retry(`${code}${reason ? ` ${reason}` : ""}: reconnecting soon`, o.soonBaseMs);
      }
      return retry(`${code}${reason ? ` ${reason}` : ""}: backing off`, o.backoffBaseMs);
  }
}

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

/** Event names the client itself emits; server frames with these types are only emitted as `frame`. */
const LOCAL_EVENTS = new Set(["open", "close", "state", "reconnecting", "frame", "*"]);

/**
 * One room connection: handshake, keepalive, typing throttle and the reconnect policy.
 *
 * States: `idle` → `connecting` (token + socket) → `authenticating` (auth sent) → `open`
 * (`auth:ok`) → `reconnecting` (waiting out a backoff) → `connecting` …; `stopped` (the
 * policy gave up: see the `state` event's `why`) and `closed` (`close()` was called).
 *
 * Events (`on(name, fn)` returns an unsubscribe function):
 * - `state` `{state, previous, why?, code?, reason?, attempt?, delayMs?}`
 * - `open` `{url}`: the socket opened (auth is being sent)
 * - `auth:ok` `{type, connectionId, userId}`
 * - `typing` `{type, userId, isTyping}`; `pong` `{type, t, rttMs}`
 * - `error` `{type:"error", code, message}` from the hub, or `{…, local:true}` from here
 * - `close` `{code, reason, wasClean, decision}` after every connection
 * - `reconnecting` `{attempt, delayMs, code, reason, why}`
 * - every other server frame by its `type` (`message.created`, …), and all frames as `frame`
 */
export class NativorChatClient {
  /**
   * @param {object} o
   * @param {string} o.url            `ws(s)://host/rooms/<roomId>` (see `roomUrl`)
   * @param {string} o.roomId
   * @param {(p: {forceRefresh: boolean}) => string|null|Promise<string|null>} o.getToken
   * @param {string} [o.userId]       optional claim sent with auth (the backend's answer wins)
   * @param {Function} [o.WebSocket]  WebSocket constructor (default: the global one)
   * @param {{setTimeout: Function, clearTimeout: Function}} [o.timers]
   * @param {() => number} [o.random] uniform in [0, 1), for the jitter
   * @param {() => number} [o.now]    milliseconds clock, for ping timestamps
   * @param {object} [o.options]      overrides of `DEFAULTS`
   */
  constructor({ url, roomId, getToken, userId = null, WebSocket: WS, timers, random, now, options } = {}) {
    if (typeof url !== "string" || url === "") throw new TypeError("url is required");
    if (!isValidRoomId(roomId)) throw new TypeError("roomId is invalid");
    if (typeof getToken !== "function") throw new TypeError("getToken must be a function");
    this.url = url;
    this.roomId = roomId;
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
    this._timer = { token: null, handshake: null, ping: null, pong: null, retry: null, stable: null };
    this.connectionId = null;
    this.userId = null;
    this.lastClose = null;
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
    this._open();
  }

  /** Closes for good (code 1000) and cancels any pending reconnect. */
  close() {
    this._generation += 1;
    this._clearTimers(true);
    this._typing.reset();
    const ws = this._ws;
    this._ws = null;
    this.connectionId = null;
    if (ws) {
      this._detach(ws);
      try {
        ws.close(1000, "client closed");
      } catch {
        // already closing
      }
    }
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
    if (this._state !== "open") return false;
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
      this._end(CloseCode.UNAUTHENTICATED, "auth_unavailable", false);
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
        this._setState("stopped", {
          why: "unauthorized: no fresh token",
          code: CloseCode.UNAUTHENTICATED,
          reason: "unauthorized",
        });
        return;
      }
      // The provider could not give a token now: treat it as "auth unavailable".
      this._end(CloseCode.UNAUTHENTICATED, "auth_unavailable", false);
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
      const auth = { type: "auth", token, roomId: this.roomId };
      if (this._claim) auth.userId = this._claim;
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

  _onFrame(data) {
    const frame = parseServerFrame(data);
    if (frame === null) {
      const message = "unparseable frame from the hub";
      this._emit("error", { type: "error", code: "invalid_frame", message, local: true });
      return;
    }
    switch (frame.type) {
      case "auth:ok":
        this._clear("handshake");
        this.connectionId = frame.connectionId;
        this.userId = frame.userId;
        this._tokenRefreshed = false;
        this._setState("open", { connectionId: frame.connectionId, userId: frame.userId });
        this._timer.stable = this._timers.setTimeout(() => {
          this._timer.stable = null;
          this._attempt = 0;
        }, this.options.stableAfterMs);
        this._schedulePing();
        break;
      case "pong":
        this._clear("pong");
        frame.rttMs = typeof frame.t === "number" ? Math.max(0, this._now() - frame.t) : null;
        break;
      case "error":
        this._lastError = frame.code;
        break;
      default:
        break;
    }
    this._emit("frame", frame);
    if (!LOCAL_EVENTS.has(frame.type)) this._emit(frame.type, frame);
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

  /** A connection ended (closed, failed, abandoned): apply the reconnect policy. */
  _end(code, reason, wasClean) {
    if (this._ws) this._detach(this._ws);
    this._ws = null;
    this._clearTimers(true);
    this._typing.reset();
    this.connectionId = null;
    const decision = decideReconnect({
      code,
      reason,
      attempt: this._attempt,
      tokenRefreshed: this._tokenRefreshed,
      random: this._random,
      options: this.options,
    });
    this.lastClose = { code, reason, wasClean, decision };
    this._emit("close", { code, reason, wasClean, decision });
    if (decision.action === "stop") {
      this._setState("stopped", { why: decision.why, code, reason });
      return;
    }
    if (decision.action === "refresh-token") {
      this._tokenRefreshed = true;
      this._forceRefresh = true;
    }
    // Only the one-time refresh after `unauthorized` is free; a backend that keeps asking for
    // `reauth_required` gets a growing window like any other failure.
    if (decision.action === "retry" || reason === "reauth_required") this._attempt += 1;
    const { delayMs, why } = decision;
    const detail = { attempt: this._attempt, delayMs, code, reason, why };
    this._setState("reconnecting", detail);
    this._emit("reconnecting", detail);
    const generation = this._generation;
    this._timer.retry = this._timers.setTimeout(() => {
      this._timer.retry = null;
      if (generation === this._generation && this._state === "reconnecting") this._open();
    }, decision.delayMs);
  }
}
