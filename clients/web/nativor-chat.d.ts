// TypeScript declarations of nativor-chat.js, the dependency-free web client of the Nativor Chat
// Worker hub. Hand-written next to the module (which has no build step); kept honest by
// clients/web/test/types.test.mjs (every runtime export is declared, and nothing else) and by
// `tsc --noEmit -p clients/web/test/types` (a usage example, with `@ts-expect-error` lines that
// fail the check if these types ever degrade to `any`).
//
//   import { NativorChatClient, roomUrl } from "./nativor-chat.js";
//   const chat = new NativorChatClient({ url: roomUrl(origin, "room-1"), roomId: "room-1", getToken });
//   chat.on("presence", (f) => (f.event === "join" ? greet(f.userId) : undefined));
//   chat.on("members", ({ members }) => render(members)); // ReadonlySet<string> | null
//
// Guide: docs/web-and-flutter.md.

// ---------------------------------------------------------------------------------------------
// Constants

/** Close codes the hub uses, plus the one this client uses for connections it gives up on. */
export declare const CloseCode: Readonly<{
  NORMAL: 1000;
  GOING_AWAY: 1001;
  NO_STATUS: 1005;
  ABNORMAL: 1006;
  INTERNAL_ERROR: 1011;
  SERVICE_RESTART: 1012;
  TRY_AGAIN_LATER: 1013;
  BAD_GATEWAY: 1014;
  /**
   * Reasons: `unauthorized`, `auth_unavailable`, `auth_timeout`, `reauth_required`,
   * `token_expired`, `identity_changed`. The hub's `CloseCode::Unauthorized`.
   */
  UNAUTHORIZED: 4401;
  /** Reasons: `room_mismatch`, `removed`. The hub's `CloseCode::Forbidden`. */
  FORBIDDEN: 4403;
  /** Reason: `rate_limited`. The hub's `CloseCode::RateLimited`. */
  RATE_LIMITED: 4429;
  /** Reason: `room_full`. The hub's `CloseCode::RoomFull`. */
  ROOM_FULL: 4503;
  /** Reason `too_many_connections`: the user holds `MAX_CONNECTIONS_PER_USER` personal sockets. Never retried. */
  TOO_MANY_CONNECTIONS: 4409;
  /** Client-side: no pong in time (`ping_timeout`), or no `auth:ok` in time (`handshake_timeout`). */
  CLIENT_TIMEOUT: 4000;
  /** @deprecated The old name of `UNAUTHORIZED` (4401); use `UNAUTHORIZED`. */
  UNAUTHENTICATED: 4401;
  /** @deprecated The old name of `FORBIDDEN` (4403, also `removed`); use `FORBIDDEN`. */
  ROOM_MISMATCH: 4403;
}>;

/** Tunables of the client; every one can be overridden through the constructor's `options`. */
export interface Tunables {
  /** A `ping` every this often while authenticated (25 000). */
  pingIntervalMs: number;
  /** No `pong` within this → the connection is dead (10 000). */
  pongTimeoutMs: number;
  /** From `new WebSocket` to `auth:ok` (15 000). */
  handshakeTimeoutMs: number;
  /** `getToken` must answer within this (10 000). */
  tokenTimeoutMs: number;
  /** At most one `isTyping:true` per this period (3 000). */
  typingThrottleMs: number;
  /** `isTyping:false` after this long without a keystroke (3 000). */
  typingIdleMs: number;
  /** First jitter window after a transient close, `reauth_required` or `token_expired` (1 000). */
  soonBaseMs: number;
  /** First jitter window after a back-off close, and of in-band refresh retries (2 000). */
  backoffBaseMs: number;
  /** Cap of every jitter window except 4429's (30 000). */
  maxDelayMs: number;
  /** 4429: minimum wait, and the first window on top of it (10 000). */
  rateLimitedFloorMs: number;
  /** 4429: cap of the window (120 000). */
  rateLimitedMaxMs: number;
  /** The retry counter resets once an authenticated connection lived this long (10 000). */
  stableAfterMs: number;
  /** The in-band refresh happens after this fraction of the token's remaining lifetime (0.8). */
  refreshFraction: number;
  /** No refresh or refresh retry sooner than this; less left than this: no in-band refresh (1 000). */
  refreshMinDelayMs: number;
}

export declare const DEFAULTS: Readonly<Tunables>;

/** The `type` of every frame the hub itself sends, in the hub's order (`SERVER_FRAME_TYPES`). */
export declare const HUB_FRAME_TYPES: readonly ["auth:ok", "user:status", "auth:refreshed", "presence", "typing", "pong", "error", "batch"];

export type HubFrameType = (typeof HUB_FRAME_TYPES)[number];

// ---------------------------------------------------------------------------------------------
// Frames from the hub (as returned by `parseServerFrame`)

/**
 * Authenticated. Missing `userId`/`expiresAt`/`members`/`resume` (older hubs, a hub without
 * `RESUME_SECRET`) are normalised to null.
 */
export interface AuthOkFrame {
  type: "auth:ok";
  /** Send it to the backend with every message you post (`excludeConnectionIds`). */
  connectionId: string;
  /** The verified user id, or null when the backend named nobody (and there was no claim). */
  userId: string | null;
  /** When the token expires, Unix ms; null: it does not (or the backend did not say). */
  expiresAt: number | null;
  /** Distinct verified user ids in the room, this socket's own included; null: presence off (and on a personal channel). */
  members: string[] | null;
  /** On a personal channel: the watched users online now. */
  online?: string[];
  /**
   * The hub's resume ticket (opaque): sent back in the `auth` of a reconnect, it lets this user
   * back into this room without a backend check until it expires. A resumed `auth:ok` echoes the
   * ticket it was let in with. Null: the hub has none for this connection (the client then
   * forgets the one it kept).
   */
  resume: string | null;
}

/** The answer to a successful in-band refresh: same connection, id and presence. */
export interface AuthRefreshedFrame {
  type: "auth:refreshed";
  expiresAt: number | null;
  /** A new resume ticket (the refresh was a real check); null: none, the kept one stays. */
  resume: string | null;
}

/** A user's first socket joined (another tab of a user already there sends nothing). */
export interface PresenceJoinFrame {
  type: "presence";
  event: "join";
  userId: string;
}

/** A user's last socket left. */
export interface PresenceLeaveFrame {
  type: "presence";
  event: "leave";
  userId: string;
}

/** Presence is back on (the room is small enough again): the full list, which replaces the old one. */
export interface PresenceOnFrame {
  type: "presence";
  event: "on";
  members: string[];
}

/** Presence is off (the room has too many members): the member list is no longer known. */
export interface PresenceOffFrame {
  type: "presence";
  event: "off";
  members: null;
}

export type PresenceFrame = PresenceJoinFrame | PresenceLeaveFrame | PresenceOnFrame | PresenceOffFrame;

export interface TypingFrame {
  type: "typing";
  userId: string | null;
  isTyping: boolean;
}

export interface PongFrame {
  type: "pong";
  /** The `t` of the ping, verbatim. */
  t?: unknown;
}

/** The error codes the hub sends (also the close reasons). Other strings may appear. */
export type HubErrorCode =
  | "invalid_json"
  | "invalid_event"
  | "unknown_type"
  | "unsupported_frame"
  | "frame_too_large"
  | "unauthenticated"
  | "unauthorized"
  | "auth_unavailable"
  | "auth_timeout"
  | "auth_in_progress"
  | "already_authenticated"
  | "room_mismatch"
  | "rate_limited"
  | "room_full"
  | "removed"
  | "reauth_required"
  | "token_expired"
  | "identity_changed";

export interface HubErrorFrame {
  type: "error";
  code: HubErrorCode | (string & {});
  message?: string | null;
}

/**
 * Several events of a busy room in one frame, in the room's order; sent only to a socket whose
 * `auth` asked for it (`"batch": true`, the client's option `batch`). Each element is exactly the
 * frame the socket would otherwise have received on its own (a backend broadcast, `typing`).
 * `parseServerFrame` only checks that `events` is an array; `unpackBatch` checks each element.
 * The client unpacks it: the app never sees this frame.
 */
export interface BatchFrame {
  type: "batch";
  events: unknown[];
}

/**
 * On a personal channel: a watched user came online (their first personal socket) or went
 * offline (no personal socket for the hub's `OFFLINE_DELAY_MS`).
 */
export interface UserStatusFrame {
  type: "user:status";
  userId: string;
  online: boolean;
}

export type HubFrame =
  | AuthOkFrame
  | UserStatusFrame
  | AuthRefreshedFrame
  | PresenceFrame
  | TypingFrame
  | PongFrame
  | HubErrorFrame
  | BatchFrame;

/** What a `batch` may hold, each as checked by `unpackBatch` (never a reply to one socket, nor a batch). */
export type BatchedEvent = PresenceFrame | TypingFrame | UserStatusFrame | BroadcastFrame;

/** Any other frame: what the backend broadcasts through the hub (`message.created`, …). */
export interface BroadcastFrame {
  type: string;
  [field: string]: unknown;
}

/** A frame this client sends (`send(frame)`); the hub knows `typing`, `ping`, `auth`, `auth:refresh`. */
export interface ClientFrame {
  type: string;
  [field: string]: unknown;
}

// ---------------------------------------------------------------------------------------------
// Pure functions

/** Whether the hub accepts `roomId` (1–128 of `A-Z a-z 0-9 _ - . :`, not `.` or `..`). */
export declare function isValidRoomId(roomId: unknown): roomId is string;

/** `roomUrl("https://chat.example", "team:1")` → `wss://chat.example/rooms/team%3A1`. Throws `TypeError`. */
export declare function roomUrl(origin: string, roomId: string): string;

/** Whether the hub accepts `userId` for a personal channel (1–128 characters, no control characters). */
export declare function isValidUserId(userId: unknown): userId is string;

/** `userUrl("https://chat.example", "ann")` → `wss://chat.example/users/ann`: a personal channel. Throws `TypeError`. */
export declare function userUrl(origin: string, userId: string): string;

/** One text frame from the hub, or null when it is malformed. Never throws. */
export declare function parseServerFrame(data: unknown): HubFrame | BroadcastFrame | null;

/**
 * The events of a `batch` frame (as `parseServerFrame` returned it), in order, each checked as if
 * it had arrived on its own: the event, or null in its place when it is malformed, a nested
 * `batch` or one of the hub's replies (`auth:ok`, `auth:refreshed`, `pong`, `error`). Any other
 * frame gives `[]`. Never throws.
 */
export declare function unpackBatch(frame: HubFrame | BroadcastFrame): Array<BatchedEvent | null>;

/** Uniformly random in `[0, min(capMs, baseMs * 2^attempt))`. */
export declare function fullJitter(attempt: number, baseMs: number, capMs: number, random?: () => number): number;

export type ReconnectAction = "retry" | "refresh-token" | "stop";

export interface ReconnectDecision {
  action: ReconnectAction;
  delayMs: number;
  /** Human-readable, starting with the reason: `"identity_changed: …"`, `"removed: …"`. */
  why: string;
}

export interface ReconnectInput {
  /** The close code (`CloseEvent.code`). */
  code: number;
  /** The close reason: the hub's error code. */
  reason?: string;
  /** Consecutive failed connections so far. */
  attempt?: number;
  /** A fresh token was already fetched (or sent in-band) since the last `auth:ok`. */
  tokenRefreshed?: boolean;
  random?: () => number;
  options?: Partial<Tunables>;
}

/** The reconnect policy: what to do after a connection closed. */
export declare function decideReconnect(input: ReconnectInput): ReconnectDecision;

/**
 * When to refresh a token expiring at `expiresAt` (Unix ms), announced at `now`: after 80 % of
 * the remaining lifetime, at least `refreshMinDelayMs`; null when there is nothing or no time.
 */
export declare function refreshDelay(input: {
  expiresAt: number | null | undefined;
  now: number;
  options?: Partial<Tunables>;
}): number | null;

/** When to retry a failed in-band refresh (jittered backoff, before expiry), or null: give up. */
export declare function refreshRetryDelay(input: {
  attempt?: number;
  expiresAt: number | null | undefined;
  now: number;
  random?: () => number;
  options?: Partial<Tunables>;
}): number | null;

/** `setTimeout`/`clearTimeout`, injectable (tests use a manual clock). */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  // The handle is whatever `setTimeout` returned (a number in browsers, an object in Node).
  clearTimeout(handle: any): void;
}

/** The typing throttle the client uses; usable alone with any `send`. */
export declare class TypingThrottle {
  constructor(
    send: (isTyping: boolean) => boolean | void,
    options?: { throttleMs?: number; idleMs?: number; timers?: Timers; now?: () => number },
  );
  /** Whether the last event sent was `isTyping:true`. */
  readonly typing: boolean;
  /** A keystroke. Returns true when it sent `isTyping:true`. */
  input(): boolean;
  /** Typing ended: sends `isTyping:false` if `true` was the last thing sent. */
  stop(): void;
  /** Forgets the state without sending. */
  reset(): void;
}

// ---------------------------------------------------------------------------------------------
// The client

export type ConnectionState = "idle" | "connecting" | "authenticating" | "open" | "reconnecting" | "stopped" | "closed";

/**
 * Returns the token (or a promise of it). `forceRefresh` is true after 4401 `unauthorized`
 * (once), `reauth_required` and `token_expired`, and for every in-band refresh before expiry.
 */
export type TokenProvider = (request: { forceRefresh: boolean }) =>
  | string
  | null
  | undefined
  | PromiseLike<string | null | undefined>;

/** What the client needs of a WebSocket (the browser's `WebSocket` fits). */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => unknown) | null;
  onmessage: ((event: any) => unknown) | null;
  onclose: ((event: any) => unknown) | null;
  onerror: ((event: any) => unknown) | null;
}

interface CommonOptions {
  getToken: TokenProvider;
  /** Optional claim sent with `auth`; the backend's answer wins. */
  userId?: string | null;
  /** false: never keep or send resume tickets (default true). */
  resume?: boolean;
  /**
   * A resume ticket for the first `connect()`, e.g. the `resumeTicket` of an earlier client of
   * the same room (read before its `close()`, which drops it). Ignored with `resume: false`.
   */
  resumeTicket?: string | null;
  /**
   * Ask the hub for `batch` frames while the room is busy (default true). The client unpacks
   * them: the app gets the same events either way. false: the `auth` frame does not ask.
   */
  batch?: boolean;
  /** Default: the global `WebSocket`. */
  WebSocket?: new (url: string) => WebSocketLike;
  timers?: Timers;
  /** Uniform in [0, 1), for the jitter. */
  random?: () => number;
  /** Unix ms clock (default `Date.now`): ping timestamps, `expiresAt`, `resync`'s `since`. */
  now?: () => number;
  options?: Partial<Tunables>;
}

/** A room's client: `roomId`, and `url` from `roomUrl`. */
export interface RoomOptions extends CommonOptions {
  url: string;
  roomId: string;
  user?: undefined;
}

/**
 * A personal channel's client: `user`, and `url` from `userUrl`. The same reconnect, refresh
 * and resume policy; `online` and `user:status` instead of presence; no typing.
 */
export interface PersonalOptions extends CommonOptions {
  url: string;
  user: string;
  roomId?: undefined;
}

export type NativorChatOptions = RoomOptions | PersonalOptions;

export interface StateEvent {
  state: ConnectionState;
  previous: ConnectionState;
  /** For `reconnecting` and `stopped` (e.g. `"identity_changed: …"`), and `closed`. */
  why?: string;
  /** For `stopped`: the close code and reason (the hub's error code). */
  code?: number;
  reason?: string;
  attempt?: number;
  delayMs?: number;
  /** For `open`. */
  connectionId?: string;
  userId?: string | null;
}

export interface OpenEvent {
  url: string;
}

export interface PongEvent extends PongFrame {
  /** Round trip in ms, when `t` was this client's timestamp. */
  rttMs: number | null;
}

/** An error frame from the hub, or a local one (`local: true`). */
export type ErrorEvent =
  | (HubErrorFrame & { local?: undefined })
  | {
      type: "error";
      code: "invalid_frame" | "token_unavailable" | "token_timeout" | "connect_failed";
      message: string;
      local: true;
    };

export interface ChatCloseEvent {
  code: number;
  reason: string;
  wasClean: boolean;
  decision: ReconnectDecision;
}

export interface ReconnectingEvent {
  attempt: number;
  delayMs: number;
  code: number;
  reason: string;
  why: string;
}

export type MembersCause = "auth:ok" | "join" | "leave" | "on" | "off" | "disconnected";

/** Why `online` changed: a new connection's list, one watched user's change, or the connection ended. */
export interface OnlineEvent {
  online: ReadonlySet<string> | null;
  cause: "auth:ok" | "user:status" | "disconnected";
  /** For `user:status`: whose state changed. */
  userId?: string;
}

/** `members` changed; null means unknown (presence off, or not connected). */
export interface MembersEvent {
  members: ReadonlySet<string> | null;
  cause: MembersCause;
  /** For `join` and `leave`. */
  userId?: string;
}

/** The in-band token refresh (the success itself is the `auth:refreshed` event). */
export type RefreshEvent =
  | { phase: "scheduled"; delayMs: number; attempt: number; expiresAt: number | null }
  | { phase: "sent"; attempt: number; expiresAt: number | null }
  | { phase: "gave-up"; why: string; expiresAt: number | null };

/** Re-authenticated after a disconnect: fetch what was missed since `since` (this client's clock). */
export interface ResyncEvent {
  since: number;
}

/** The client's events by name. Any other name is a backend broadcast type. */
export interface NativorChatEventMap {
  state: StateEvent;
  open: OpenEvent;
  "auth:ok": AuthOkFrame;
  "user:status": UserStatusFrame;
  "auth:refreshed": AuthRefreshedFrame;
  presence: PresenceFrame;
  members: MembersEvent;
  online: OnlineEvent;
  refresh: RefreshEvent;
  resync: ResyncEvent;
  typing: TypingFrame;
  pong: PongEvent;
  error: ErrorEvent;
  close: ChatCloseEvent;
  reconnecting: ReconnectingEvent;
  /** Every frame, and every event of a `batch` on its own; never the `batch` itself. */
  frame: Exclude<HubFrame, BatchFrame> | BroadcastFrame;
  /** Never emitted: the client unpacks batches into their events. */
  batch: never;
}

/**
 * The payload of event `K`: the client's own events by `NativorChatEventMap`, the app's own
 * broadcast types by `Broadcasts` (the client's type parameter), any other as `BroadcastFrame`.
 */
export type EventPayload<K extends string, Broadcasts extends object = Record<never, never>> =
  K extends keyof NativorChatEventMap
    ? NativorChatEventMap[K]
    : K extends keyof Broadcasts
      ? Broadcasts[K]
      : BroadcastFrame;

/**
 * One room connection, or one user's personal channel (option `user` instead of `roomId`).
 * `Broadcasts` optionally types the backend's broadcasts by their `type`:
 * `new NativorChatClient<{ "message.created": MessageCreated }>(…)`.
 */
export declare class NativorChatClient<Broadcasts extends object = Record<never, never>> {
  constructor(options: NativorChatOptions);
  readonly url: string;
  /** The room; null on a personal channel. */
  readonly roomId: string | null;
  /** The personal channel's user; null on a room's client. */
  readonly user: string | null;
  readonly options: Readonly<Tunables>;
  readonly state: ConnectionState;
  /** Consecutive failed connections (drives the backoff). */
  readonly attempt: number;
  /** From the last `auth:ok`; null while not connected. */
  readonly connectionId: string | null;
  readonly userId: string | null;
  /** When this connection's token expires (Unix ms); null: no expiry, or not connected. */
  readonly expiresAt: number | null;
  /** Verified user ids in the room (own included); null: unknown (presence off, or not connected). */
  readonly members: ReadonlySet<string> | null;
  /** Personal channel: the watched users online now; null when not connected, and on a room's client. */
  readonly online: ReadonlySet<string> | null;
  /** `now()` of the last frame received on an authenticated connection, or null. */
  readonly lastFrameAt: number | null;
  /**
   * The resume ticket the next `auth` sends, or null (memory only; do not store it). Kept from
   * `auth:ok` (one without a ticket clears it) and `auth:refreshed`; dropped by a `refresh-token`
   * or `stop` decision and by `close()`.
   */
  readonly resumeTicket: string | null;
  readonly lastClose: ChatCloseEvent | null;
  /** Subscribes; returns the unsubscribe function. */
  on<K extends string>(type: K, fn: (payload: EventPayload<K, Broadcasts>) => void): () => void;
  off<K extends string>(type: K, fn: (payload: EventPayload<K, Broadcasts>) => void): void;
  /** Starts connecting (no-op while connected or connecting); resets the retry counter. */
  connect(): void;
  /**
   * Closes for good (1000) and cancels any pending reconnect; the state is `closed` at once and
   * no `close` event follows. The hub answers the close frame with the client's own code, so
   * the socket ends with 1000, promptly (not with 1006 after the browser's closing-handshake
   * timeout, as before the hub answered).
   */
  close(): void;
  /** Skips a pending backoff. */
  reconnectNow(): void;
  /** Sends a frame if authenticated; returns whether it was sent. */
  send(frame: ClientFrame): boolean;
  /**
   * A keystroke (throttled `typing` events); returns whether `isTyping:true` was sent. Always
   * false on a personal channel (typing belongs to a room).
   */
  typing(): boolean;
  stopTyping(): void;
  /** Sends a `ping` now; returns whether it was sent. */
  ping(): boolean;
}
