// How an app uses the client, type-checked against ../../nativor-chat.d.ts
// (`tsc -p clients/web/test/types`, part of scripts/test.sh). Never run: it only has to compile.
// The `@ts-expect-error` lines prove the declarations are not `any`: if a type degraded, the
// expected error would vanish and tsc would fail on the unused directive.
import {
  CloseCode,
  DEFAULTS,
  HUB_FRAME_TYPES,
  NativorChatClient,
  TypingThrottle,
  decideReconnect,
  fullJitter,
  isValidRoomId,
  isValidUserId,
  parseServerFrame,
  refreshDelay,
  refreshRetryDelay,
  roomUrl,
  unpackBatch,
  userUrl,
  type BatchedEvent,
  type BatchFrame,
  type BroadcastFrame,
  type EventPayload,
  type HubFrameType,
  type MembersEvent,
  type OnlineEvent,
  type PresenceFrame,
  type ReconnectDecision,
  type RefreshEvent,
  type ResyncEvent,
} from "../../nativor-chat.js";

declare function render(names: string[] | null): void;
declare function fetchMessagesSince(since: number): Promise<void>;
declare const session: { token: string; refresh(): Promise<string | null> };

/** The app's own broadcasts, typed by their `type`. */
interface MessageCreated {
  type: "message.created";
  id: string;
  userId: string | null;
  preview: string;
}

const room = "room-1";
if (!isValidRoomId(room)) throw new Error("bad room");

const chat = new NativorChatClient<{ "message.created": MessageCreated }>({
  url: roomUrl("https://ws.nativor.com", room),
  roomId: room,
  getToken: async ({ forceRefresh }) => (forceRefresh ? await session.refresh() : session.token),
  options: { pingIntervalMs: 20_000, refreshFraction: 0.75 },
});

// Resume tickets: in memory, sent on reconnects; handed to a new client of the same room.
const ticket: string | null = chat.resumeTicket;
chat.on("auth:ok", (f) => {
  const resumed: boolean = f.resume !== null && f.resume === ticket;
  console.log(resumed);
});
chat.on("auth:refreshed", (f) => console.log(f.resume?.length ?? 0));
const successor = new NativorChatClient({
  url: roomUrl("https://ws.nativor.com", room),
  roomId: room,
  getToken: () => session.token,
  resumeTicket: chat.resumeTicket,
});
const noTickets = new NativorChatClient({ url: "ws://h/rooms/r", roomId: "r", getToken: () => "t", resume: false });
console.log(successor.resumeTicket, noTickets.resumeTicket);

// Batching: asked for by default and unpacked by the client; `batch: false` does not ask.
const unbatched = new NativorChatClient({ url: "ws://h/rooms/r", roomId: "r", getToken: () => "t", batch: false });
console.log(unbatched.state);

// Presence: a Set (read-only) or null when unknown.
chat.on("members", (e: MembersEvent) => {
  render(e.members === null ? null : [...e.members].sort());
  if (e.cause === "join" || e.cause === "leave") console.log(e.cause, e.userId);
});
chat.on("presence", (f) => {
  // Narrowing by `event` gives each shape its own fields.
  if (f.event === "join" || f.event === "leave") console.log(f.userId.toUpperCase());
  else if (f.event === "on") console.log(f.members.length);
  else {
    const none: null = f.members;
    console.log(none);
  }
});
const online: boolean = chat.members?.has("bob") ?? false;
console.log(online);

// Expiry and refresh.
chat.on("auth:ok", (f) => {
  const expires: number | null = f.expiresAt;
  const members: string[] | null = f.members;
  console.log(f.connectionId, expires, members);
});
chat.on("auth:refreshed", (f) => console.log("now expires at", f.expiresAt === null ? "never" : new Date(f.expiresAt)));
chat.on("refresh", (r: RefreshEvent) => {
  if (r.phase === "scheduled") console.log(`refresh in ${r.delayMs} ms (attempt ${r.attempt})`);
  else if (r.phase === "gave-up") console.log(r.why);
});
const expiresAt: number | null = chat.expiresAt;
console.log(expiresAt);

// Resync after every reconnect.
chat.on("resync", ({ since }: ResyncEvent) => void fetchMessagesSince(since));

// Stops, with the reason.
chat.on("state", (e) => {
  if (e.state === "stopped" && e.reason === "identity_changed") console.log(e.why);
});
chat.on("close", (c) => {
  const d: ReconnectDecision = c.decision;
  if (c.code === CloseCode.UNAUTHORIZED && d.action === "stop") console.log(d.why);
});
// The deprecated aliases keep their literal types (the same codes as the new names).
const legacyCodes: [typeof CloseCode.UNAUTHORIZED, typeof CloseCode.FORBIDDEN] = [
  CloseCode.UNAUTHENTICATED,
  CloseCode.ROOM_MISMATCH,
];
console.log(legacyCodes);
// @ts-expect-error CloseCode is read-only
CloseCode.FORBIDDEN = 4403;
chat.on("error", (e) => console.log(e.local ? `local ${e.code}` : e.code, e.message));

// Broadcasts: typed by the type parameter, or a plain BroadcastFrame.
chat.on("message.created", (m) => console.log(m.id, m.preview.trim()));
chat.on("room.renamed", (f: BroadcastFrame) => console.log(f.type, f["name"]));
const p: EventPayload<"presence"> = { type: "presence", event: "off", members: null };
console.log(p);

chat.connect();
chat.typing();
chat.stopTyping();
chat.ping();
chat.send({ type: "typing", isTyping: false });
chat.reconnectNow();
chat.close();

// Pure exports.
const types: readonly HubFrameType[] = HUB_FRAME_TYPES;
const first: "auth:ok" = HUB_FRAME_TYPES[0];
console.log(types, first, DEFAULTS.refreshMinDelayMs, fullJitter(2, 1_000, 30_000));
const decision = decideReconnect({ code: 4401, reason: "token_expired", attempt: 1 });
const action: "retry" | "refresh-token" | "stop" = decision.action;
console.log(action);
const inMs: number | null = refreshDelay({ expiresAt: Date.now() + 60_000, now: Date.now() });
const retryMs: number | null = refreshRetryDelay({ attempt: 0, expiresAt: null, now: Date.now() });
console.log(inMs, retryMs);
const frame = parseServerFrame('{"type":"presence","event":"join","userId":"bob"}');
if (frame !== null && frame.type === "presence") console.log((frame as PresenceFrame).event);
// Own socket handling: a batch's events, each as if it had come alone (null: a malformed one).
const batchText = '{"type":"batch","events":[{"type":"typing","userId":"bob","isTyping":true}]}';
const maybeBatch = parseServerFrame(batchText);
if (maybeBatch !== null && maybeBatch.type === "batch") {
  const unpacked: Array<BatchedEvent | null> = unpackBatch(maybeBatch);
  for (const event of unpacked) console.log(event === null ? "invalid_frame" : event.type);
  const raw: unknown[] = (maybeBatch as BatchFrame).events;
  console.log(raw.length);
}
const throttle = new TypingThrottle((isTyping) => chat.send({ type: "typing", isTyping }), { throttleMs: 3_000 });
throttle.input();

// A test-style construction: injected socket, timers and clock.
declare const FakeSocket: new (url: string) => {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((e: unknown) => void) | null;
  onmessage: ((e: { data: string }) => void) | null;
  onclose: ((e: { code: number; reason: string; wasClean: boolean }) => void) | null;
  onerror: ((e: unknown) => void) | null;
};
const fake = new NativorChatClient({
  url: "ws://localhost/rooms/r",
  roomId: "r",
  getToken: () => "dev:alice",
  WebSocket: FakeSocket,
  timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h) },
  now: () => 0,
  random: () => 0.5,
});
// The browser's own WebSocket fits too.
const browser = new NativorChatClient({ url: "ws://h/rooms/r", roomId: "r", getToken: () => null, WebSocket });
console.log(fake.state, browser.lastFrameAt);

// ---- What must NOT compile -------------------------------------------------------------------

// @ts-expect-error members is a ReadonlySet: the app cannot change the client's list
chat.members?.add("mallory");

// @ts-expect-error expiresAt is a number (Unix ms) or null, not a string
const expiresText: string = chat.expiresAt;

// @ts-expect-error a presence frame has no isTyping
chat.on("presence", (f) => console.log(f.isTyping));

// @ts-expect-error a join/leave needs narrowing before members is there
chat.on("presence", (f) => console.log(f.members.length));

// @ts-expect-error resync's since is a number
chat.on("resync", (e) => e.since.toUpperCase());

// @ts-expect-error the typed broadcast has no `text` field
chat.on("message.created", (m) => console.log(m.text.length));

// @ts-expect-error getToken is required
new NativorChatClient({ url: "ws://h/rooms/r", roomId: "r" });

// @ts-expect-error an unknown tunable
new NativorChatClient({ url: "ws://h/rooms/r", roomId: "r", getToken: () => "t", options: { refreshAtMs: 5 } });

// @ts-expect-error decideReconnect needs a close code
decideReconnect({ reason: "token_expired" });

// @ts-expect-error state is read-only
chat.state = "open";

// @ts-expect-error HUB_FRAME_TYPES is a read-only tuple
HUB_FRAME_TYPES.push("members");

// @ts-expect-error resumeTicket is read-only: only the hub's frames set it
chat.resumeTicket = "forged";

// @ts-expect-error resume is a boolean switch, not the ticket
new NativorChatClient({ url: "ws://h/rooms/r", roomId: "r", getToken: () => "t", resume: "ticket" });

// @ts-expect-error batch is a boolean switch, not a window or a count
new NativorChatClient({ url: "ws://h/rooms/r", roomId: "r", getToken: () => "t", batch: 10 });

// @ts-expect-error no batch event ever comes (the client unpacks batches): its payload is never
chat.on("batch", (b) => console.log(b.events));

// @ts-expect-error a batch's raw elements are unchecked: unpackBatch gives the checked events
const firstRaw: BatchedEvent = ({ type: "batch", events: [] } as BatchFrame).events[0];

// @ts-expect-error auth:ok's resume may be null: narrow before use
chat.on("auth:ok", (f) => console.log(f.resume.length));

// A personal channel: the conversation list, devices, who is online.
const me = new NativorChatClient({ url: userUrl("https://chat.example", "ann"), user: "ann", getToken: () => "t" });
me.on("online", (e) => {
  const known: ReadonlySet<string> | null = e.online;
  console.log(e.cause, e.userId, known?.size);
});
me.on("user:status", (f) => {
  const online: boolean = f.online;
  console.log(f.userId, online);
});
const onlineNow: ReadonlySet<string> | null = me.online;

// @ts-expect-error a client is for a room or a user, never both
new NativorChatClient({ url: "ws://h/users/a", user: "a", roomId: "r", getToken: () => "t" });

// @ts-expect-error online is a ReadonlySet: the app cannot change the client's list
me.online?.add("mallory");

// @ts-expect-error a user:status frame's online is a boolean
me.on("user:status", (f) => console.log(f.online.length));

// The backend's messages on a personal channel, typed like a room's broadcasts.
interface ConversationUpdated {
  type: "conversation:updated";
  roomId: string;
  message: { id: string; userId: string | null; text: string };
  at: number;
}
const inbox = new NativorChatClient<{ "conversation:updated": ConversationUpdated }>({
  url: userUrl("https://chat.example", "ann"),
  user: "ann",
  getToken: async ({ forceRefresh }) => (forceRefresh ? await session.refresh() : session.token),
  resumeTicket: me.resumeTicket,
});
const unread = new Map<string, number>();
inbox.on("conversation:updated", (u) => unread.set(u.roomId, (unread.get(u.roomId) ?? 0) + 1));
inbox.on("online", (e: OnlineEvent) => {
  if (e.cause === "user:status") console.log(e.userId, e.online?.has(e.userId ?? "") ?? false);
});
inbox.on("state", (e) => {
  if (e.state === "stopped" && e.code === CloseCode.TOO_MANY_CONNECTIONS) console.log(e.reason, e.why);
});
const cap: 4409 = CloseCode.TOO_MANY_CONNECTIONS;
const owner: string | null = inbox.user;
if (isValidUserId(owner)) console.log(userUrl("https://chat.example", owner));

// @ts-expect-error the typed message has no `preview` field
inbox.on("conversation:updated", (u) => console.log(u.message.preview));

// @ts-expect-error user is a user id (a string)
new NativorChatClient({ url: "ws://h/users/1", user: 1, getToken: () => "t" });

// @ts-expect-error an online event's cause is one of three
inbox.on("online", (e) => e.cause === "presence");

// @ts-expect-error online is a set of ids, not a count
const howMany: number = inbox.online;

// @ts-expect-error the client's user is read-only
inbox.user = "mallory";

console.log(expiresText, firstRaw, onlineNow, cap, howMany);
