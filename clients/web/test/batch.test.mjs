// Adaptive batching: the client asks for `batch` frames in its `auth` (option `batch`, on by
// default) and unpacks them, so that the app sees exactly the events it would have seen had
// each arrived as its own frame. Parsing (`parseServerFrame`, `unpackBatch`) is tested at the end.
import { test } from "node:test";
import assert from "node:assert/strict";
import { NativorChatClient, parseServerFrame, unpackBatch } from "../nativor-chat.js";
import { fakeWebSocketClass, flush, makeClient } from "../support/fakes.mjs";

const EVENTS = [
  "auth:ok", "auth:refreshed", "presence", "members", "typing", "pong", "error", "frame", "batch",
  "message.created", "message.deleted", "resync", "close",
];

function setup({ batch } = {}) {
  return makeClient({ batch, record: EVENTS });
}

/** Connects and authenticates; returns the socket. */
async function connected(s, fields = {}) {
  s.client.connect();
  await flush();
  const ws = s.sockets.at(-1);
  ws.serverOpen();
  ws.serverSend({ type: "auth:ok", connectionId: "c1", userId: "alice", members: ["alice"], ...fields });
  return ws;
}

/** The recorded events after the handshake's, as [name, payload] pairs. */
const after = (s, count) => s.events.slice(count);

const burst = [
  { type: "message.created", id: "m1", userId: "bob", preview: "one" },
  { type: "typing", userId: "bob", isTyping: false },
  { type: "message.created", id: "m2", userId: "carol", preview: "two" },
  { type: "typing", userId: "carol", isTyping: true },
  { type: "message.deleted", id: "m1" },
  { type: "message.created", id: "m3", userId: "bob", preview: "three" },
];

test("auth asks for batches by default; batch: false does not; the option must be a boolean", async () => {
  const s = setup();
  await connected(s);
  assert.equal(s.sockets[0].sent[0].batch, true);
  assert.deepEqual(s.sockets[0].sent[0], { type: "auth", token: "dev:alice", roomId: "room-1", batch: true });
  // A reconnect asks again.
  s.sockets[0].serverClose(1006, "", false);
  await s.clock.advance(1_000);
  s.sockets[1].serverOpen();
  assert.equal(s.sockets[1].sent[0].batch, true);

  const t = setup({ batch: false });
  await connected(t);
  assert.equal("batch" in t.sockets[0].sent[0], false, "no field at all, not batch: false");
  const u = setup({ batch: true });
  await connected(u);
  assert.equal(u.sockets[0].sent[0].batch, true);

  const WebSocket = fakeWebSocketClass().FakeWebSocket;
  const base = { url: "ws://h/rooms/r", roomId: "r", getToken: () => "t", WebSocket };
  for (const bad of ["true", 1, 0, null, {}]) {
    assert.throws(() => new NativorChatClient({ ...base, batch: bad }), TypeError, String(bad));
  }
});

test("a batch's events are emitted in order, each as its own event, exactly as if sent one by one", async () => {
  const s = setup();
  const ws = await connected(s);
  const start = s.events.length;
  ws.serverSend({ type: "batch", events: burst });
  const batched = after(s, start);

  assert.deepEqual(s.of("message.created").map((m) => m.id), ["m1", "m2", "m3"]);
  assert.deepEqual(s.of("typing"), [
    { type: "typing", userId: "bob", isTyping: false },
    { type: "typing", userId: "carol", isTyping: true },
  ]);
  assert.deepEqual(s.of("message.deleted"), [{ type: "message.deleted", id: "m1" }]);
  // `frame` gets each event, never the container; nothing is emitted as `batch`.
  assert.deepEqual(s.of("frame").slice(-burst.length), burst);
  assert.equal(s.of("frame").length, 1 + burst.length, "auth:ok and the six events");
  assert.equal(s.of("batch").length, 0);
  assert.equal(s.of("error").length, 0);

  // The same events as separate frames: the very same sequence of events.
  const t = setup();
  const tws = await connected(t);
  const tStart = t.events.length;
  for (const event of burst) tws.serverSend(event);
  assert.deepEqual(batched, after(t, tStart));
  assert.deepEqual(batched.map(([name]) => name), [
    "frame", "message.created", "frame", "typing", "frame", "message.created",
    "frame", "typing", "frame", "message.deleted", "frame", "message.created",
  ]);
});

test("a batch of one, and single events as plain frames in between: all delivered in order", async () => {
  const s = setup();
  const ws = await connected(s);
  ws.serverSend({ type: "message.created", id: "m1" });
  ws.serverSend({ type: "batch", events: [{ type: "message.created", id: "m2" }] });
  ws.serverSend({ type: "batch", events: [{ type: "message.created", id: "m3" }, { type: "message.created", id: "m4" }] });
  ws.serverSend({ type: "message.created", id: "m5" });
  assert.deepEqual(s.of("message.created").map((m) => m.id), ["m1", "m2", "m3", "m4", "m5"]);
});

test("lastFrameAt: a batch counts as a received frame (even an empty one), and resync's since follows it", async () => {
  const s = setup();
  const ws = await connected(s);
  const authAt = s.clock.now();
  assert.equal(s.client.lastFrameAt, authAt);
  await s.clock.advance(5_000);
  ws.serverSend({ type: "batch", events: burst });
  assert.equal(s.client.lastFrameAt, authAt + 5_000);
  await s.clock.advance(2_000);
  ws.serverSend({ type: "batch", events: [] });
  assert.equal(s.client.lastFrameAt, authAt + 7_000);
  assert.equal(s.of("frame").length, 1 + burst.length, "an empty batch emits nothing");
  ws.serverClose(1006, "", false);
  await s.clock.advance(1_000);
  s.sockets[1].serverOpen();
  s.sockets[1].serverSend({ type: "auth:ok", connectionId: "c2", userId: "alice" });
  assert.deepEqual(s.of("resync"), [{ since: authAt + 7_000 }]);
});

test("presence in a batch updates members as it would on its own", async () => {
  const s = setup();
  const ws = await connected(s);
  ws.serverSend({
    type: "batch",
    events: [
      { type: "presence", event: "join", userId: "bob" },
      { type: "message.created", id: "m1", userId: "bob" },
      { type: "presence", event: "leave", userId: "alice-2" },
    ],
  });
  assert.deepEqual([...s.client.members].sort(), ["alice", "bob"]);
  assert.deepEqual(s.of("members").map((m) => m.cause), ["auth:ok", "join"]);
  assert.deepEqual(s.of("presence").map((p) => p.event), ["join", "leave"]);
  // The members event follows its presence event, before the next event of the batch.
  const names = s.events.map(([n]) => n).filter((n) => n !== "frame");
  assert.deepEqual(names.slice(-4), ["presence", "members", "message.created", "presence"]);
});

test("a batch whose events is not an array: one local invalid_frame, nothing delivered", async () => {
  const s = setup();
  const ws = await connected(s);
  const start = s.events.length;
  for (const events of [undefined, null, {}, "[]", 3, { 0: { type: "message.created" } }]) {
    ws.serverSend(events === undefined ? { type: "batch" } : { type: "batch", events });
  }
  const got = after(s, start);
  assert.equal(got.length, 6);
  for (const [name, e] of got) {
    assert.equal(name, "error");
    assert.deepEqual([e.code, e.local], ["invalid_frame", true]);
  }
  assert.equal(s.client.state, "open");
});

test("malformed elements: invalid_frame each, in place; the good ones are still delivered in order", async () => {
  const s = setup();
  const ws = await connected(s);
  const start = s.events.length;
  ws.serverSend({
    type: "batch",
    events: [
      { type: "message.created", id: "m1" },
      "{\"type\":\"message.created\",\"id\":\"as-text\"}", // a string, not an object
      null,
      7,
      [{ type: "message.created", id: "in-array" }],
      {},
      { type: "" },
      { type: 5 },
      { type: "typing", userId: "bob", isTyping: "yes" }, // fails typing's own check
      { type: "presence", event: "join" },
      { type: "typing", userId: "bob", isTyping: true },
      { type: "message.created", id: "m2" },
    ],
  });
  const got = after(s, start).filter(([n]) => n !== "frame");
  assert.deepEqual(got.map(([n, e]) => (n === "error" ? e.code : n)), [
    "message.created",
    ...Array(9).fill("invalid_frame"),
    "typing",
    "message.created",
  ]);
  assert.ok(got.filter(([n]) => n === "error").every(([, e]) => e.local === true));
  assert.deepEqual(s.of("message.created").map((m) => m.id), ["m1", "m2"]);
  assert.equal(s.of("presence").length, 0);
  assert.deepEqual([...s.client.members], ["alice"]);
});

test("a nested batch or a reply frame inside a batch is invalid and changes nothing", async () => {
  const s = setup();
  const ws = await connected(s, { expiresAt: null });
  const start = s.events.length;
  ws.serverSend({
    type: "batch",
    events: [
      { type: "batch", events: [{ type: "message.created", id: "nested" }] },
      { type: "auth:ok", connectionId: "forged", userId: "mallory", members: ["mallory"] },
      { type: "auth:refreshed", expiresAt: 1 },
      { type: "pong", t: 1 },
      { type: "error", code: "removed", message: "no" },
      { type: "message.created", id: "m1" },
    ],
  });
  const got = after(s, start).filter(([n]) => n !== "frame");
  assert.deepEqual(got.map(([n, e]) => (n === "error" ? e.code : n)), [
    ...Array(5).fill("invalid_frame"),
    "message.created",
  ]);
  assert.deepEqual(s.of("message.created").map((m) => m.id), ["m1"], "nothing of the nested batch");
  for (const name of ["auth:ok", "auth:refreshed", "pong"]) {
    assert.equal(s.of(name).length, name === "auth:ok" ? 1 : 0, name);
  }
  assert.deepEqual([s.client.connectionId, s.client.userId, s.client.expiresAt], ["c1", "alice", null]);
  assert.deepEqual([...s.client.members], ["alice"]);
  // The batched `error` did not become the reason of the next close.
  ws.serverClose(1006, "");
  assert.equal(s.of("close")[0].reason, "");
});

test("a listener that closes the client mid-batch: the rest of the batch is not delivered", async () => {
  const s = setup();
  const ws = await connected(s);
  s.client.on("message.created", (m) => {
    if (m.id === "m2") s.client.close();
  });
  ws.serverSend({
    type: "batch",
    events: [
      { type: "message.created", id: "m1" },
      { type: "message.created", id: "m2" },
      { type: "message.created", id: "m3" },
      { type: "typing", userId: "bob", isTyping: true },
    ],
  });
  assert.equal(s.client.state, "closed");
  assert.deepEqual(s.of("message.created").map((m) => m.id), ["m1", "m2"]);
  assert.equal(s.of("typing").length, 0);
});

test("parseServerFrame: batch needs an events array, returned verbatim (elements unchecked)", () => {
  const text = '{"type":"batch","events":[{"type":"message.created","id":"m1"},7]}';
  assert.deepEqual(parseServerFrame(text), JSON.parse(text));
  assert.deepEqual(parseServerFrame('{"type":"batch","events":[]}'), { type: "batch", events: [] });
  for (const bad of [
    '{"type":"batch"}',
    '{"type":"batch","events":null}',
    '{"type":"batch","events":{}}',
    '{"type":"batch","events":"[]"}',
    '{"type":"batch","events":1}',
  ]) {
    assert.equal(parseServerFrame(bad), null, bad);
  }
});

test("unpackBatch: each element checked as a frame of its own; null in place of a bad one", () => {
  const frame = parseServerFrame(JSON.stringify({
    type: "batch",
    events: [
      { type: "message.created", id: "m1" },
      { type: "typing", isTyping: true },
      { type: "presence", event: "off" },
      { type: "typing", userId: "bob", isTyping: 1 },
      { type: "batch", events: [] },
      { type: "auth:ok", connectionId: "c" },
      { type: "auth:refreshed" },
      { type: "pong" },
      { type: "error", code: "x" },
      "text",
      null,
      {},
    ],
  }));
  assert.deepEqual(unpackBatch(frame), [
    { type: "message.created", id: "m1" },
    // Normalised exactly as parseServerFrame does on its own: userId null, members null.
    { type: "typing", isTyping: true, userId: null },
    { type: "presence", event: "off", members: null },
    ...Array(9).fill(null),
  ]);
  // A hole (no JSON makes one) is a bad element too, not a skipped one.
  // eslint-disable-next-line no-sparse-arrays
  assert.deepEqual(unpackBatch({ type: "batch", events: [, { type: "x" }] }), [null, { type: "x" }]);
  // Anything but a well-formed batch: nothing to unpack. Never throws.
  for (const notBatch of [null, undefined, "batch", { type: "batch" }, { type: "batch", events: {} },
    { type: "message.created", events: [{ type: "x" }] }, [{ type: "x" }]]) {
    assert.deepEqual(unpackBatch(notBatch), [], JSON.stringify(notBatch));
  }
});
