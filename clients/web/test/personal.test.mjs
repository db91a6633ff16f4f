// A personal channel (`user` instead of `roomId`): its auth names the user, `online` follows
// auth:ok and user:status (null while disconnected), typing is not sent, 4409 stops for good,
// and reconnects resume with the hub's ticket as in a room.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CloseCode, NativorChatClient, decideReconnect, isValidUserId, userUrl } from "../nativor-chat.js";
import { FakeClock, fakeWebSocketClass, flush, recordEvents } from "../support/fakes.mjs";

function setup() {
  const clock = new FakeClock();
  const { FakeWebSocket, sockets } = fakeWebSocketClass();
  const client = new NativorChatClient({
    url: userUrl("https://hub.test", "ann"),
    user: "ann",
    getToken: async () => "dev:ann",
    WebSocket: FakeWebSocket,
    timers: clock.timers,
    now: clock.now,
    random: () => 0.5,
  });
  const rec = recordEvents(client, ["online", "user:status", "state", "close"]);
  return { clock, client, sockets, ...rec };
}

async function signIn(s, fields = {}) {
  s.client.connect();
  await flush();
  const ws = s.sockets.at(-1);
  ws.serverOpen();
  ws.serverSend({ type: "auth:ok", connectionId: "c1", userId: "ann", expiresAt: null, online: [], ...fields });
  return ws;
}

const sorted = (set) => (set === null ? null : [...set].sort());

test("the URL and the auth name the user, never a room", async () => {
  assert.equal(userUrl("http://h:1", "a/b c"), "ws://h:1/users/a%2Fb%20c");
  assert.equal(isValidUserId("사용자"), true);
  assert.equal(isValidUserId(""), false);
  assert.equal(isValidUserId("a\nb"), false);
  assert.equal(isValidUserId("x".repeat(129)), false);
  assert.throws(() => userUrl("http://h", ""), TypeError);
  assert.throws(
    () => new NativorChatClient({ url: "ws://h/users/a", user: "a", roomId: "r", getToken: () => "t", WebSocket: class {} }),
    TypeError,
  );
  const s = setup();
  const ws = await signIn(s);
  assert.deepEqual(ws.sent[0], { type: "auth", token: "dev:ann", userId: "ann", batch: true });
  assert.equal(s.client.roomId, null);
  assert.equal(s.client.user, "ann");
  assert.equal(s.client.typing(), false, "no typing on a personal channel");
  assert.equal(ws.sentOfType("typing").length, 0);
});

test("online comes from auth:ok, follows user:status, and is null while disconnected", async () => {
  const s = setup();
  const ws = await signIn(s, { online: ["bob"] });
  assert.deepEqual(sorted(s.client.online), ["bob"]);
  assert.deepEqual(s.of("online").map((e) => e.cause), ["auth:ok"]);
  ws.serverSend({ type: "user:status", userId: "cy", online: true });
  ws.serverSend({ type: "user:status", userId: "bob", online: false });
  assert.deepEqual(sorted(s.client.online), ["cy"]);
  // A repeat changes nothing and says nothing; the frame itself still reaches the app.
  ws.serverSend({ type: "user:status", userId: "cy", online: true });
  const changes = s.of("online").filter((e) => e.cause === "user:status");
  assert.deepEqual(changes.map((e) => [e.userId, sorted(e.online)]), [["cy", ["bob", "cy"]], ["bob", ["cy"]]]);
  assert.equal(s.of("user:status").length, 3);
  // A batch may carry one too.
  ws.serverSend({ type: "batch", events: [{ type: "user:status", userId: "dee", online: true }] });
  assert.deepEqual(sorted(s.client.online), ["cy", "dee"]);
  ws.serverClose(1006, "", false);
  assert.equal(s.client.online, null);
  assert.equal(s.of("online").at(-1).cause, "disconnected");
  // The reconnect's auth:ok brings the whole list again.
  await s.clock.advance(60_000);
  const again = s.sockets.at(-1);
  again.serverOpen();
  again.serverSend({ type: "auth:ok", connectionId: "c2", userId: "ann", expiresAt: null, online: ["eve"] });
  assert.deepEqual(sorted(s.client.online), ["eve"]);
});

test("4409 too_many_connections stops for good and says why; 4503 still retries", async () => {
  assert.equal(CloseCode.TOO_MANY_CONNECTIONS, 4409);
  const s = setup();
  const ws = await signIn(s);
  ws.hubRefuses("too_many_connections", 4409);
  assert.equal(s.client.state, "stopped");
  const [closed] = s.of("close");
  assert.match(closed.why ?? JSON.stringify(closed), /too_many_connections/);
  const before = s.sockets.length;
  await s.clock.advance(600_000);
  assert.equal(s.sockets.length, before, "no reconnect");
  const full = decideReconnect({ code: 4503, reason: "room_full", attempt: 0, random: () => 0.5 });
  assert.equal(full.action, "retry");
  const mismatch = decideReconnect({ code: 4403, reason: "user_mismatch", attempt: 0 });
  assert.equal(mismatch.action, "stop");
});

test("a reconnect sends the hub's personal ticket back", async () => {
  const s = setup();
  const ws = await signIn(s, { resume: "ticket-1" });
  ws.serverClose(1012, "", false);
  await s.clock.advance(60_000);
  const again = s.sockets.at(-1);
  again.serverOpen();
  assert.deepEqual(again.sent[0], { type: "auth", token: "dev:ann", userId: "ann", resume: "ticket-1", batch: true });
});

test("4409 and 4403 user_mismatch stop with the reason in the state event, and online goes null", async () => {
  for (const [code, reason] of [[4409, "too_many_connections"], [4403, "user_mismatch"]]) {
    const s = setup();
    const ws = await signIn(s, { online: ["bob"] });
    ws.hubRefuses(reason, code);
    const stopped = s.of("state").at(-1);
    assert.equal(stopped.state, "stopped", reason);
    assert.equal(stopped.reason, reason);
    assert.equal(stopped.code, code);
    assert.match(stopped.why, new RegExp(reason));
    assert.equal(s.client.lastClose.decision.action, "stop");
    assert.equal(s.client.online, null);
    assert.equal(s.client.resumeTicket, null, "a stop drops the ticket");
    const before = s.sockets.length;
    await s.clock.advance(3_600_000);
    assert.equal(s.sockets.length, before, `${reason}: no reconnect`);
    // Only the app starts again, from a real check.
    s.client.connect();
    await flush();
    assert.equal(s.sockets.length, before + 1);
  }
});

test("the in-band refresh runs on a personal channel, and its ticket is the one a reconnect sends", async () => {
  let n = 0;
  const clock = new FakeClock(1_700_000_000_000);
  const { FakeWebSocket, sockets } = fakeWebSocketClass();
  const client = new NativorChatClient({
    url: userUrl("https://hub.test", "ann"),
    user: "ann",
    getToken: async () => `dev:ann:${n++}`,
    WebSocket: FakeWebSocket,
    timers: clock.timers,
    now: clock.now,
    random: () => 0.5,
    options: { pingIntervalMs: 10 ** 12 },
  });
  const { of } = recordEvents(client, ["refresh", "online"]);
  client.connect();
  await flush();
  const ws = sockets[0];
  ws.serverOpen();
  ws.serverSend({
    type: "auth:ok", connectionId: "c1", userId: "ann", expiresAt: clock.now() + 60_000, online: ["bob"], resume: "t-1",
  });
  assert.deepEqual(of("refresh")[0], { phase: "scheduled", delayMs: 48_000, attempt: 0, expiresAt: clock.now() + 60_000 });
  await clock.advance(48_000);
  assert.deepEqual(ws.sentOfType("auth:refresh"), [{ type: "auth:refresh", token: "dev:ann:1" }]);
  ws.serverSend({ type: "auth:refreshed", expiresAt: clock.now() + 60_000, resume: "t-2" });
  assert.equal(client.resumeTicket, "t-2");
  assert.equal(sockets.length, 1, "same socket");
  assert.deepEqual(sorted(client.online), ["bob"], "a refresh leaves online as it was");
  ws.serverClose(1001, "", false);
  await clock.advance(1_000); // a prompt retry: within the first jitter window
  assert.equal(sockets.length, 2);
  const again = sockets.at(-1);
  again.serverOpen();
  assert.deepEqual(again.sent[0], { type: "auth", token: "dev:ann:2", userId: "ann", resume: "t-2", batch: true });
});

test("unauthorized drops the personal ticket and fetches a fresh token once", async () => {
  const tokens = [];
  const clock = new FakeClock();
  const { FakeWebSocket, sockets } = fakeWebSocketClass();
  const client = new NativorChatClient({
    url: userUrl("https://hub.test", "ann"),
    user: "ann",
    getToken: async ({ forceRefresh }) => {
      tokens.push(forceRefresh);
      return forceRefresh ? "fresh" : "stale";
    },
    WebSocket: FakeWebSocket,
    timers: clock.timers,
    now: clock.now,
    random: () => 0.5,
  });
  client.connect();
  await flush();
  sockets[0].serverOpen();
  sockets[0].serverSend({ type: "auth:ok", connectionId: "c1", userId: "ann", expiresAt: null, online: [], resume: "t-1" });
  sockets[0].hubRefuses("unauthorized", 4401);
  assert.equal(client.resumeTicket, null);
  await clock.advance(0);
  sockets.at(-1).serverOpen();
  assert.deepEqual(sockets.at(-1).sent[0], { type: "auth", token: "fresh", userId: "ann", batch: true });
  assert.deepEqual(tokens, [false, true]);
});

test("backend messages arrive by their type, batched or not; hub frames stay the hub's", async () => {
  const s = setup();
  const got = [];
  s.client.on("conversation:updated", (f) => got.push(f));
  const ws = await signIn(s);
  const update = { type: "conversation:updated", roomId: "r1", message: { id: "m1", userId: "bob", text: "hi" }, at: 5 };
  ws.serverSend(update);
  ws.serverSend({ type: "batch", events: [{ ...update, roomId: "r2" }, { type: "auth:ok", connectionId: "x" }] });
  assert.deepEqual(got.map((f) => f.roomId), ["r1", "r2"]);
  assert.deepEqual(got[0], update);
  // A user:status that is not one (no boolean `online`) is refused, and changes nothing.
  ws.serverSend({ type: "user:status", userId: "bob", online: "yes" });
  assert.deepEqual(sorted(s.client.online), []);
  assert.equal(s.of("user:status").length, 0);
});

test("online is null before auth:ok and always on a room's client; an auth:ok without online is an empty set", async () => {
  const s = setup();
  assert.equal(s.client.online, null);
  s.client.connect();
  await flush();
  const ws = s.sockets.at(-1);
  ws.serverOpen();
  // Before auth:ok nothing is known: a status then is not applied.
  ws.serverSend({ type: "user:status", userId: "bob", online: true });
  assert.equal(s.client.online, null);
  ws.serverSend({ type: "auth:ok", connectionId: "c1", userId: "ann", expiresAt: null });
  assert.deepEqual(sorted(s.client.online), []);
  s.client.close();
  assert.equal(s.client.online, null);
  assert.equal(s.of("online").at(-1).cause, "disconnected");

  const room = new NativorChatClient({
    url: "ws://hub.test/rooms/r", roomId: "r", getToken: () => "t", WebSocket: fakeWebSocketClass().FakeWebSocket,
  });
  assert.equal(room.user, null);
  assert.equal(room.online, null);
});
