// Presence (`members` from `auth:ok` and `presence` frames, null when unknown) and `resync`
// (after every re-authentication that follows a disconnect, with the time of the last frame).
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULTS } from "../nativor-chat.js";
import { flush, makeClient } from "../support/fakes.mjs";

const EVENTS = ["state", "auth:ok", "presence", "members", "resync", "close", "error", "frame", "message.created"];

function setup({ random } = {}) {
  const s = makeClient({ random, record: EVENTS });
  const names = () => s.events.map(([n]) => n);
  return { ...s, names };
}

/** Completes the handshake on the newest socket with the given auth:ok fields. */
function authOk(s, fields = {}) {
  const ws = s.sockets.at(-1);
  ws.serverOpen();
  ws.serverSend({ type: "auth:ok", connectionId: "c1", userId: "alice", expiresAt: null, members: null, ...fields });
  return ws;
}

const sorted = (set) => (set === null ? null : [...set].sort());

test("auth:ok sets members (a Set, own user included) and tells the app", async () => {
  const s = setup();
  assert.equal(s.client.members, null, "unknown before connecting");
  s.client.connect();
  await flush();
  authOk(s, { members: ["bob", "alice"] });
  assert.ok(s.client.members instanceof Set);
  assert.deepEqual(sorted(s.client.members), ["alice", "bob"]);
  const [m] = s.of("members");
  assert.equal(m.cause, "auth:ok");
  assert.equal(m.members, s.client.members);
  // The members event follows the auth:ok event.
  assert.ok(s.names().indexOf("members") > s.names().indexOf("auth:ok"));
});

test("auth:ok with members null (presence off in this room, or an older hub): null, and the app is told", async () => {
  const s = setup();
  s.client.connect();
  await flush();
  authOk(s, { members: null });
  assert.equal(s.client.members, null);
  assert.deepEqual(s.of("members"), [{ members: null, cause: "auth:ok" }]);
  // A join while the list is unknown cannot make a list: still null, no members event.
  s.sockets[0].serverSend({ type: "presence", event: "join", userId: "bob" });
  assert.equal(s.client.members, null);
  assert.equal(s.of("members").length, 1);
  assert.equal(s.of("presence").length, 1, "the frame itself is still emitted");
});

test("presence join/leave update the set; each change is a new Set; the frame event sees it updated", async () => {
  const s = setup();
  s.client.connect();
  await flush();
  const ws = authOk(s, { members: ["alice"] });
  const seenInListener = [];
  s.client.on("presence", () => seenInListener.push(sorted(s.client.members)));
  const before = s.client.members;

  ws.serverSend({ type: "presence", event: "join", userId: "bob" });
  assert.deepEqual(sorted(s.client.members), ["alice", "bob"]);
  assert.deepEqual(sorted(before), ["alice"], "a kept snapshot does not change");
  assert.deepEqual(s.of("members").at(-1), { members: s.client.members, cause: "join", userId: "bob" });

  ws.serverSend({ type: "presence", event: "join", userId: "carol" });
  ws.serverSend({ type: "presence", event: "leave", userId: "bob" });
  assert.deepEqual(sorted(s.client.members), ["alice", "carol"]);
  assert.deepEqual(s.of("members").at(-1), { members: s.client.members, cause: "leave", userId: "bob" });
  assert.deepEqual(seenInListener, [["alice", "bob"], ["alice", "bob", "carol"], ["alice", "carol"]]);
  assert.deepEqual(
    s.of("presence").map((f) => [f.event, f.userId]),
    [["join", "bob"], ["join", "carol"], ["leave", "bob"]],
  );

  // No change, no members event: a join of a listed user, a leave of an unlisted one.
  const count = s.of("members").length;
  ws.serverSend({ type: "presence", event: "join", userId: "carol" });
  ws.serverSend({ type: "presence", event: "leave", userId: "zed" });
  assert.equal(s.of("members").length, count);
  assert.deepEqual(sorted(s.client.members), ["alice", "carol"]);
});

test("presence off drops the list (null); on replaces it", async () => {
  const s = setup();
  s.client.connect();
  await flush();
  const ws = authOk(s, { members: ["alice", "bob"] });
  ws.serverSend({ type: "presence", event: "off", members: null });
  assert.equal(s.client.members, null, "never a stale list");
  assert.deepEqual(s.of("members").at(-1), { members: null, cause: "off" });
  // While off, joins and leaves (should the hub send any) change nothing.
  ws.serverSend({ type: "presence", event: "leave", userId: "bob" });
  ws.serverSend({ type: "presence", event: "join", userId: "carol" });
  assert.equal(s.client.members, null);
  ws.serverSend({ type: "presence", event: "on", members: ["alice", "dave"] });
  assert.deepEqual(sorted(s.client.members), ["alice", "dave"], "replaced, not merged (no bob)");
  assert.deepEqual(s.of("members").at(-1), { members: s.client.members, cause: "on" });
  assert.deepEqual(s.of("members").map((m) => m.cause), ["auth:ok", "off", "on"]);
  // A malformed presence frame is refused and changes nothing.
  ws.serverSend({ type: "presence", event: "on", members: "everyone" });
  assert.equal(s.of("error").at(-1).code, "invalid_frame");
  assert.deepEqual(sorted(s.client.members), ["alice", "dave"]);
});

test("a disconnect makes members null at once (before the close event); the next auth:ok brings the new list", async () => {
  const s = setup();
  s.client.connect();
  await flush();
  const ws = authOk(s, { members: ["alice", "bob"] });
  let membersDuringClose;
  s.client.on("close", () => {
    membersDuringClose = s.client.members;
  });
  ws.serverClose(1006, "", false);
  assert.equal(s.client.state, "reconnecting");
  assert.equal(s.client.members, null);
  assert.equal(membersDuringClose, null);
  assert.deepEqual(s.of("members").at(-1), { members: null, cause: "disconnected" });
  assert.ok(s.names().lastIndexOf("members") < s.names().lastIndexOf("close"));
  await s.clock.advance(DEFAULTS.soonBaseMs);
  authOk(s, { connectionId: "c2", members: ["alice", "carol"] });
  assert.deepEqual(sorted(s.client.members), ["alice", "carol"]);
  // close(): null again, and the app is told.
  s.client.close();
  assert.equal(s.client.members, null);
  assert.deepEqual(s.of("members").map((m) => m.cause), ["auth:ok", "disconnected", "auth:ok", "disconnected"]);
  // No second "disconnected" when the list was already unknown.
  s.client.connect();
  await flush();
  s.sockets.at(-1).serverClose(1006);
  assert.equal(s.of("members").length, 4);
});

test("close() from an auth:ok listener: no stale members (or resync) after the disconnected one", async () => {
  const s = setup();
  s.client.connect();
  await flush();
  authOk(s, { members: ["alice"] });
  s.sockets[0].serverClose(1006);
  await s.clock.advance(DEFAULTS.soonBaseMs);
  s.client.on("auth:ok", () => s.client.close());
  authOk(s, { connectionId: "c2", members: ["alice", "bob"] });
  assert.equal(s.client.state, "closed");
  assert.equal(s.client.members, null);
  assert.deepEqual(s.of("members").map((m) => m.cause), ["auth:ok", "disconnected", "disconnected"]);
  assert.equal(s.of("resync").length, 0);
});

test("a broadcast named like a local event (members, resync, refresh) is only a frame", async () => {
  const s = setup();
  s.client.connect();
  await flush();
  const ws = authOk(s, { members: ["alice"] });
  ws.serverSend({ type: "members", members: null });
  ws.serverSend({ type: "resync", since: 0 });
  assert.equal(s.of("members").length, 1);
  assert.equal(s.of("resync").length, 0);
  assert.deepEqual(sorted(s.client.members), ["alice"]);
  assert.ok(s.of("frame").some((f) => f.type === "resync"));
});

test("resync: not after the first auth:ok; after a reconnect, since = the last frame before the disconnect", async () => {
  const s = setup();
  s.client.connect();
  await flush();
  const start = s.clock.now();
  const ws = authOk(s);
  assert.equal(s.of("resync").length, 0, "the first auth:ok after connect() is the initial load");
  assert.equal(s.client.lastFrameAt, start);
  await s.clock.advance(5_000);
  ws.serverSend({ type: "message.created", id: "m1" });
  const lastFrame = s.clock.now();
  await s.clock.advance(7_000);
  ws.serverClose(1006, "", false);
  await s.clock.advance(DEFAULTS.soonBaseMs);
  // A failed attempt in between: its error frame (before auth) does not count.
  s.sockets[1].serverOpen();
  s.sockets[1].hubRefuses("auth_unavailable", 4401);
  await s.clock.advance(DEFAULTS.backoffBaseMs);
  authOk(s, { connectionId: "c3" });
  assert.deepEqual(s.of("resync"), [{ since: lastFrame }]);
  // After the auth:ok event and the members event.
  const n = s.names();
  assert.ok(n.lastIndexOf("resync") > n.lastIndexOf("auth:ok"));
  assert.ok(n.lastIndexOf("resync") > n.lastIndexOf("members"));
  assert.equal(s.client.lastFrameAt, s.clock.now());
});

test("resync after every reconnect; with no frame but auth:ok, since is that auth:ok's time", async () => {
  const s = setup();
  s.client.connect();
  await flush();
  authOk(s);
  s.sockets[0].serverClose(1012);
  await s.clock.advance(DEFAULTS.soonBaseMs);
  const secondAuth = s.clock.now();
  authOk(s, { connectionId: "c2" });
  assert.equal(s.of("resync").length, 1);
  // The second connection gets nothing but its auth:ok (gone before the first ping).
  await s.clock.advance(DEFAULTS.pingIntervalMs - 1);
  s.sockets[1].serverClose(1001);
  await s.clock.advance(DEFAULTS.maxDelayMs);
  authOk(s, { connectionId: "c3" });
  assert.equal(s.of("resync").length, 2);
  assert.deepEqual(s.of("resync")[1], { since: secondAuth });
});

test("resync after a dead connection: since is the last pong, not the moment the client gave up", async () => {
  const s = setup();
  s.client.connect();
  await flush();
  const ws = authOk(s);
  await s.clock.advance(DEFAULTS.pingIntervalMs);
  ws.serverSend({ type: "pong", t: ws.sentOfType("ping")[0].t });
  const lastPong = s.clock.now();
  // The next ping gets no answer: dropped after pongTimeoutMs.
  await s.clock.advance(DEFAULTS.pingIntervalMs + DEFAULTS.pongTimeoutMs);
  assert.equal(s.of("close")[0].reason, "ping_timeout");
  await s.clock.advance(DEFAULTS.soonBaseMs);
  authOk(s, { connectionId: "c2" });
  assert.deepEqual(s.of("resync"), [{ since: lastPong }]);
});

test("close() then connect(): a new session, no resync; lastFrameAt is kept for the app", async () => {
  const s = setup();
  s.client.connect();
  await flush();
  const ws = authOk(s);
  ws.serverSend({ type: "message.created", id: "m1" });
  const last = s.clock.now();
  await s.clock.advance(1_000);
  s.client.close();
  assert.equal(s.client.lastFrameAt, last);
  s.client.connect();
  await flush();
  authOk(s, { connectionId: "c2" });
  assert.equal(s.of("resync").length, 0);
});
