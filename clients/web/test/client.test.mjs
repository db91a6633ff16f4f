// The client against a scripted WebSocket and a manual clock: handshake, events, keepalive,
// reconnect by close code, token refresh, typing throttle.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULTS, NativorChatClient, TypingThrottle } from "../nativor-chat.js";
import { FakeClock, fakeWebSocketClass, flush, makeClient } from "../support/fakes.mjs";

function setup({ tokens = ["dev:alice"], random, options = {}, userId } = {}) {
  const tokenCalls = [];
  const queue = [...tokens];
  const s = makeClient({
    userId,
    getToken: async ({ forceRefresh }) => {
      tokenCalls.push(forceRefresh);
      return queue.length > 1 ? queue.shift() : queue[0];
    },
    random,
    options,
    record: ["state", "open", "auth:ok", "typing", "pong", "error", "close", "reconnecting", "message.created", "frame"],
  });
  const states = () => s.of("state").map((e) => e.state);
  return { ...s, tokenCalls, states };
}

/** Connects and completes the handshake on the newest socket. */
async function handshake(s, connectionId = "conn-1", userId = "alice") {
  const ws = s.sockets.at(-1);
  ws.serverOpen();
  ws.serverSend({ type: "auth:ok", connectionId, userId });
  return ws;
}

test("handshake: token, auth frame, auth:ok, connectionId", async () => {
  const s = setup({ userId: "alice-claim" });
  s.client.connect();
  assert.equal(s.client.state, "connecting");
  await flush();
  assert.equal(s.sockets.length, 1);
  assert.equal(s.sockets[0].url, "ws://hub.test/rooms/room-1");
  s.sockets[0].serverOpen();
  assert.equal(s.client.state, "authenticating");
  assert.deepEqual(s.sockets[0].sent, [{ type: "auth", token: "dev:alice", roomId: "room-1", userId: "alice-claim", batch: true }]);
  assert.equal(s.of("open").length, 1);
  s.sockets[0].serverSend({ type: "auth:ok", connectionId: "Zk3", userId: "alice" });
  assert.equal(s.client.state, "open");
  assert.equal(s.client.connectionId, "Zk3");
  assert.equal(s.client.userId, "alice");
  // An older hub's auth:ok without expiresAt/members/resume: all read as null (no expiry,
  // unknown, no ticket).
  assert.deepEqual(s.of("auth:ok"), [
    { type: "auth:ok", connectionId: "Zk3", userId: "alice", expiresAt: null, members: null, resume: null },
  ]);
  assert.deepEqual(s.states(), ["connecting", "authenticating", "open"]);
  assert.deepEqual(s.tokenCalls, [false]);
  // Without a claim the auth frame carries none.
  const t = setup();
  t.client.connect();
  await flush();
  t.sockets[0].serverOpen();
  assert.equal("userId" in t.sockets[0].sent[0], false);
});

test("typed events: broadcasts by their type, typing, errors, garbage", async () => {
  const s = setup();
  s.client.connect();
  await flush();
  const ws = await handshake(s);
  ws.serverSend({ type: "message.created", id: "m1", userId: "bob", preview: "hi" });
  ws.serverSend({ type: "typing", userId: "bob", isTyping: true });
  ws.serverSend({ type: "error", code: "rate_limited", message: "slow down" });
  ws.serverSend("not json");
  // A broadcast may not impersonate the client's own events.
  ws.serverSend({ type: "close", code: 1 });
  assert.deepEqual(s.of("message.created"), [{ type: "message.created", id: "m1", userId: "bob", preview: "hi" }]);
  assert.deepEqual(s.of("typing"), [{ type: "typing", userId: "bob", isTyping: true }]);
  const errors = s.of("error");
  assert.equal(errors[0].code, "rate_limited");
  assert.deepEqual([errors[1].code, errors[1].local], ["invalid_frame", true]);
  assert.equal(s.of("close").length, 0);
  assert.ok(s.of("frame").some((f) => f.type === "close"));
  assert.equal(s.client.state, "open");
});

test("keepalive: a ping every interval; a pong clears the timeout and reports the RTT", async () => {
  const s = setup();
  s.client.connect();
  await flush();
  const ws = await handshake(s);
  await s.clock.advance(DEFAULTS.pingIntervalMs - 1);
  assert.equal(ws.sentOfType("ping").length, 0);
  await s.clock.advance(1);
  const [ping] = ws.sentOfType("ping");
  assert.equal(ping.t, s.clock.now());
  await s.clock.advance(40);
  ws.serverSend({ type: "pong", t: ping.t });
  assert.equal(s.of("pong")[0].rttMs, 40);
  // Keeps pinging while pongs keep arriving (each 40 ms after its ping).
  for (let i = 2; i <= 4; i += 1) {
    await s.clock.advance(DEFAULTS.pingIntervalMs - 40);
    assert.equal(ws.sentOfType("ping").length, i);
    await s.clock.advance(40);
    ws.serverSend({ type: "pong", t: ws.sentOfType("ping").at(-1).t });
  }
  assert.equal(s.client.state, "open");
  assert.equal(s.of("pong").length, 4);
  assert.equal(s.of("close").length, 0);
});

test("keepalive: no pong in time → the connection is dropped and reconnected", async () => {
  const s = setup({ random: () => 0.5 });
  s.client.connect();
  await flush();
  const ws = await handshake(s);
  await s.clock.advance(DEFAULTS.pingIntervalMs + DEFAULTS.pongTimeoutMs - 1);
  assert.equal(s.client.state, "open");
  await s.clock.advance(1);
  assert.deepEqual(ws.closedWith, { code: 4000, reason: "ping_timeout" });
  assert.equal(s.client.state, "reconnecting");
  assert.equal(s.client.connectionId, null);
  const [close] = s.of("close");
  assert.deepEqual([close.code, close.reason, close.decision.action], [4000, "ping_timeout", "retry"]);
  assert.equal(close.decision.delayMs, DEFAULTS.soonBaseMs / 2);
  // A late close event of the abandoned socket changes nothing.
  ws.serverClose(1006);
  assert.equal(s.of("close").length, 1);
  await s.clock.advance(DEFAULTS.soonBaseMs / 2);
  assert.equal(s.sockets.length, 2);
});

test("1006 (restart): reconnects after a jittered delay, re-authenticates, backoff grows then resets", async () => {
  const draws = [0.5, 0.25, 0.9];
  const s = setup({ random: () => draws.shift() ?? 0.5 });
  s.client.connect();
  await flush();
  await handshake(s, "c1");
  s.sockets[0].serverClose(1006, "", false);
  const [r1] = s.of("reconnecting");
  assert.deepEqual([r1.attempt, r1.delayMs, r1.code], [1, 500, 1006]);
  assert.equal(s.client.state, "reconnecting");
  await s.clock.advance(499);
  assert.equal(s.sockets.length, 1);
  await s.clock.advance(1);
  assert.equal(s.sockets.length, 2);
  // The hub is still down: the next window doubles.
  s.sockets[1].serverClose(1006, "", false);
  assert.equal(s.of("reconnecting")[1].delayMs, Math.floor(0.25 * 2000));
  await s.clock.advance(500);
  s.sockets[2].serverClose(1006, "", false);
  assert.equal(s.of("reconnecting")[2].delayMs, Math.floor(0.9 * 4000));
  await s.clock.advance(3600);
  const ws = await handshake(s, "c2");
  assert.deepEqual(ws.sent[0], { type: "auth", token: "dev:alice", roomId: "room-1", batch: true });
  assert.equal(s.client.connectionId, "c2");
  assert.equal(s.client.attempt, 3);
  // Once the connection has been stable, the next failure starts from a small window again.
  await s.clock.advance(DEFAULTS.stableAfterMs);
  assert.equal(s.client.attempt, 0);
  ws.serverClose(1012, "", true);
  assert.equal(s.of("reconnecting").at(-1).attempt, 1);
  assert.ok(s.of("reconnecting").at(-1).delayMs < DEFAULTS.soonBaseMs);
});

test("4401 unauthorized: asks for a fresh token once, then stops", async () => {
  const s = setup({ tokens: ["old", "fresh"] });
  s.client.connect();
  await flush();
  s.sockets[0].serverOpen();
  s.sockets[0].hubRefuses("unauthorized", 4401);
  assert.equal(s.of("close")[0].decision.action, "refresh-token");
  await s.clock.advance(0);
  assert.deepEqual(s.tokenCalls, [false, true]);
  s.sockets[1].serverOpen();
  assert.equal(s.sockets[1].sent[0].token, "fresh");
  s.sockets[1].hubRefuses("unauthorized", 4401);
  assert.equal(s.client.state, "stopped");
  await s.clock.advance(600_000);
  assert.equal(s.sockets.length, 2);
  assert.deepEqual(s.tokenCalls, [false, true]);
});

test("4401 unauthorized: the refreshed token works, and a later expiry may refresh again", async () => {
  const s = setup({ tokens: ["old", "fresh", "fresher"] });
  s.client.connect();
  await flush();
  s.sockets[0].serverOpen();
  s.sockets[0].hubRefuses("unauthorized", 4401);
  await s.clock.advance(0);
  await handshake(s, "c2");
  assert.equal(s.client.state, "open");
  s.sockets[1].hubRefuses("unauthorized", 4401);
  await s.clock.advance(0);
  assert.deepEqual(s.tokenCalls, [false, true, true]);
  s.sockets[2].serverOpen();
  assert.equal(s.sockets[2].sent[0].token, "fresher");
});

test("4401 unauthorized: a provider with no fresh token stops the client", async () => {
  const clock = new FakeClock();
  const { FakeWebSocket, sockets } = fakeWebSocketClass();
  const client = new NativorChatClient({
    url: "ws://h/rooms/r",
    roomId: "r",
    getToken: ({ forceRefresh }) => (forceRefresh ? null : "dev:x"),
    WebSocket: FakeWebSocket,
    timers: clock.timers,
  });
  const states = [];
  client.on("state", (e) => states.push(e));
  client.connect();
  await flush();
  sockets[0].serverOpen();
  sockets[0].hubRefuses("unauthorized", 4401);
  await clock.advance(0);
  assert.equal(client.state, "stopped");
  assert.match(states.at(-1).why, /no fresh token/);
  assert.equal(sockets.length, 1);
});

test("the close reason falls back to the preceding error frame", async () => {
  const s = setup();
  s.client.connect();
  await flush();
  s.sockets[0].serverOpen();
  s.sockets[0].serverSend({ type: "error", code: "unauthorized", message: "no" });
  s.sockets[0].serverClose(4401, "");
  assert.equal(s.of("close")[0].reason, "unauthorized");
  assert.equal(s.of("close")[0].decision.action, "refresh-token");
});

test("4401 auth_unavailable and 4503: back off and retry with the same token", async () => {
  const s = setup({ random: () => 0.5 });
  s.client.connect();
  await flush();
  s.sockets[0].serverOpen();
  s.sockets[0].hubRefuses("auth_unavailable", 4401);
  assert.equal(s.of("reconnecting")[0].delayMs, DEFAULTS.backoffBaseMs / 2);
  await s.clock.advance(DEFAULTS.backoffBaseMs / 2);
  s.sockets[1].serverOpen();
  s.sockets[1].hubRefuses("room_full", 4503);
  assert.equal(s.of("reconnecting")[1].delayMs, DEFAULTS.backoffBaseMs);
  assert.deepEqual(s.tokenCalls, [false, false]);
});

test("4403 stops; 4429 waits at least the floor", async () => {
  const s = setup();
  s.client.connect();
  await flush();
  s.sockets[0].serverOpen();
  s.sockets[0].hubRefuses("room_mismatch", 4403);
  assert.equal(s.client.state, "stopped");
  await s.clock.advance(600_000);
  assert.equal(s.sockets.length, 1);

  const t = setup({ random: () => 0 });
  t.client.connect();
  await flush();
  await handshake(t);
  t.sockets[0].hubRefuses("rate_limited", 4429);
  assert.equal(t.of("reconnecting")[0].delayMs, DEFAULTS.rateLimitedFloorMs);
  await t.clock.advance(DEFAULTS.rateLimitedFloorMs - 1);
  assert.equal(t.sockets.length, 1);
  await t.clock.advance(1);
  assert.equal(t.sockets.length, 2);
});

test("4401 reauth_required: forced token refresh, then a jittered reconnect", async () => {
  const s = setup({ tokens: ["old", "fresh", "fresher"], random: () => 0.5 });
  s.client.connect();
  await flush();
  await handshake(s, "c1");
  s.sockets[0].hubRefuses("reauth_required", 4401);
  const [close] = s.of("close");
  assert.deepEqual([close.code, close.reason, close.decision.action], [4401, "reauth_required", "refresh-token"]);
  assert.equal(s.client.state, "reconnecting");
  const [r] = s.of("reconnecting");
  assert.deepEqual([r.attempt, r.delayMs, r.reason], [1, DEFAULTS.soonBaseMs / 2, "reauth_required"]);
  await s.clock.advance(DEFAULTS.soonBaseMs / 2 - 1);
  assert.deepEqual([s.sockets.length, s.tokenCalls], [1, [false]]);
  await s.clock.advance(1);
  assert.deepEqual(s.tokenCalls, [false, true]);
  assert.equal(s.sockets.length, 2);
  const ws = await handshake(s, "c2");
  assert.equal(ws.sent[0].token, "fresh");
  assert.equal(s.client.state, "open");
  assert.equal(s.client.connectionId, "c2");
  // The backend asks again right away: a fresh token again, with a wider window.
  ws.hubRefuses("reauth_required", 4401);
  assert.deepEqual([s.of("reconnecting")[1].attempt, s.of("reconnecting")[1].delayMs], [2, DEFAULTS.soonBaseMs]);
  await s.clock.advance(DEFAULTS.soonBaseMs);
  assert.deepEqual(s.tokenCalls, [false, true, true]);
  s.sockets[2].serverOpen();
  assert.equal(s.sockets[2].sent[0].token, "fresher");
});

test("4401 reauth_required, then the fresh token is refused: stops", async () => {
  const s = setup({ tokens: ["old", "fresh"] });
  s.client.connect();
  await flush();
  await handshake(s);
  s.sockets[0].hubRefuses("reauth_required", 4401);
  await s.clock.advance(DEFAULTS.soonBaseMs);
  assert.deepEqual(s.tokenCalls, [false, true]);
  s.sockets[1].serverOpen();
  s.sockets[1].hubRefuses("unauthorized", 4401);
  assert.equal(s.client.state, "stopped");
  assert.deepEqual([s.of("state").at(-1).code, s.of("state").at(-1).reason], [4401, "unauthorized"]);
  await s.clock.advance(600_000);
  assert.equal(s.sockets.length, 2);
  assert.deepEqual(s.tokenCalls, [false, true]);
});

test("4403 removed: stops for good, no reconnect, and says why", async () => {
  const s = setup();
  s.client.connect();
  await flush();
  const ws = await handshake(s);
  ws.hubRefuses("removed", 4403);
  assert.equal(s.client.state, "stopped");
  const stopped = s.of("state").at(-1);
  assert.deepEqual([stopped.state, stopped.code, stopped.reason], ["stopped", 4403, "removed"]);
  assert.match(stopped.why, /^removed: /);
  assert.equal(s.of("error").at(-1).code, "removed");
  assert.deepEqual([s.of("close")[0].decision.action, s.client.lastClose.reason], ["stop", "removed"]);
  assert.equal(s.of("reconnecting").length, 0);
  assert.equal(s.client.connectionId, null);
  assert.equal(s.clock.pending.size, 0, "no timer left behind");
  await s.clock.advance(600_000);
  assert.equal(s.sockets.length, 1);
  assert.deepEqual(s.tokenCalls, [false]);
  // Only the app may start again (e.g. after the user is re-added).
  s.client.connect();
  await flush();
  assert.equal(s.sockets.length, 2);
});

test("handshake timeout: a socket that never authenticates is dropped", async () => {
  const s = setup();
  s.client.connect();
  await flush();
  s.sockets[0].serverOpen();
  await s.clock.advance(DEFAULTS.handshakeTimeoutMs);
  assert.deepEqual(s.sockets[0].closedWith, { code: 4000, reason: "handshake_timeout" });
  assert.equal(s.client.state, "reconnecting");
});

test("a token provider that throws: backoff, with a local error", async () => {
  const clock = new FakeClock();
  const { FakeWebSocket, sockets } = fakeWebSocketClass();
  let calls = 0;
  const client = new NativorChatClient({
    url: "ws://h/rooms/r",
    roomId: "r",
    getToken: async () => {
      calls += 1;
      if (calls === 1) throw new Error("offline");
      return "dev:x";
    },
    WebSocket: FakeWebSocket,
    timers: clock.timers,
    random: () => 0.5,
  });
  const errors = [];
  client.on("error", (e) => errors.push(e));
  client.connect();
  await flush();
  assert.deepEqual([errors[0].code, errors[0].local], ["token_unavailable", true]);
  assert.equal(client.state, "reconnecting");
  assert.equal(sockets.length, 0);
  await clock.advance(DEFAULTS.backoffBaseMs / 2);
  assert.equal(sockets.length, 1);
});

test("close() stops for good and cancels a pending reconnect; connect() starts again", async () => {
  const s = setup();
  s.client.connect();
  await flush();
  const ws = await handshake(s);
  s.client.close();
  assert.deepEqual(ws.closedWith, { code: 1000, reason: "client closed" });
  assert.equal(s.client.state, "closed");
  assert.equal(s.of("close").length, 0);
  await s.clock.advance(600_000);
  assert.equal(s.sockets.length, 1);
  assert.equal(s.clock.pending.size, 0, "no timer left behind");

  s.client.connect();
  await flush();
  s.sockets[1].serverClose(1006);
  assert.equal(s.client.state, "reconnecting");
  s.client.close();
  await s.clock.advance(600_000);
  assert.equal(s.sockets.length, 2);
  // close() while the token is being fetched: no socket is opened afterwards.
  s.client.connect();
  s.client.close();
  await flush();
  assert.equal(s.sockets.length, 2);
});

test("reconnectNow() skips the backoff", async () => {
  const s = setup({ random: () => 0.99 });
  s.client.connect();
  await flush();
  await handshake(s);
  s.sockets[0].serverClose(1006);
  s.client.reconnectNow();
  await flush();
  assert.equal(s.sockets.length, 2);
  assert.equal(s.client.state, "connecting");
});

test("typing through the client: throttled true, automatic false, nothing while not open", async () => {
  const s = setup();
  assert.equal(s.client.typing(), false);
  s.client.connect();
  await flush();
  const ws = await handshake(s);
  for (let i = 0; i < 50; i += 1) {
    s.client.typing();
    await s.clock.advance(100);
  }
  // 5 s of keystrokes every 100 ms: `true` at 0 and 3 s only.
  assert.deepEqual(ws.sentOfType("typing").map((f) => f.isTyping), [true, true]);
  await s.clock.advance(DEFAULTS.typingIdleMs);
  assert.deepEqual(ws.sentOfType("typing").map((f) => f.isTyping), [true, true, false]);
  s.client.typing();
  s.client.stopTyping();
  s.client.stopTyping();
  assert.deepEqual(ws.sentOfType("typing").map((f) => f.isTyping), [true, true, false, true, false]);
});

test("TypingThrottle alone: trues are spaced, true/false alternate, ends with false", async () => {
  const clock = new FakeClock();
  const sent = [];
  const t = new TypingThrottle((v) => sent.push([clock.now(), v]), {
    throttleMs: 3000,
    idleMs: 2000,
    timers: clock.timers,
    now: clock.now,
  });
  // Bursty typing with pauses just under and over the idle time.
  const pattern = [50, 50, 1900, 50, 2100, 10, 10, 10, 5000, 30];
  for (const gap of pattern) {
    t.input();
    await clock.advance(gap);
  }
  await clock.advance(10_000);
  // A second `true` needs either the throttle period or an idle pause (which sent `false`).
  const trues = sent.filter(([, v]) => v).map(([at]) => at);
  for (let i = 1; i < trues.length; i += 1) {
    assert.ok(trues[i] - trues[i - 1] >= 2000, JSON.stringify(sent));
  }
  assert.ok(sent.length <= 2 * trues.length);
  assert.equal(sent.at(-1)[1], false, "ends with false");
  assert.ok(!t.typing);
  // true and false alternate: never two falses in a row.
  for (let i = 1; i < sent.length; i += 1) {
    assert.ok(sent[i][1] || sent[i - 1][1], JSON.stringify(sent));
  }
});

test("constructor validates its arguments", () => {
  const WS = fakeWebSocketClass().FakeWebSocket;
  assert.throws(() => new NativorChatClient({ roomId: "r", getToken: () => "t", WebSocket: WS }), TypeError);
  assert.throws(() => new NativorChatClient({ url: "ws://h/rooms/..", roomId: "..", getToken: () => "t", WebSocket: WS }), TypeError);
  assert.throws(() => new NativorChatClient({ url: "ws://h/rooms/r", roomId: "r", WebSocket: WS }), TypeError);
});

test("close() from a listener of the ending connection wins over the reconnect policy: no reconnect, no timer", async () => {
  for (const event of ["close", "members", "state", "reconnecting"]) {
    const s = setup();
    s.client.connect();
    await flush();
    const ws = s.sockets[0];
    ws.serverOpen();
    ws.serverSend({ type: "auth:ok", connectionId: "c1", userId: "alice", members: ["alice"] });
    s.client.on(event, (e) => {
      if (event === "members" && e.cause !== "disconnected") return;
      if (event === "state" && e.state !== "reconnecting") return;
      s.client.close();
      assert.equal(s.client.state, "closed");
    });
    ws.serverClose(1006, "", false);
    assert.equal(s.client.state, "closed", event);
    assert.equal(s.clock.pending.size, 0, `${event}: no timer left behind`);
    if (event !== "reconnecting") assert.equal(s.of("reconnecting").length, 0, event);
    // Closed before the policy ran: like any close(), no close event for it.
    if (event === "members") assert.equal(s.of("close").length, 0);
    await s.clock.advance(600_000);
    assert.equal(s.sockets.length, 1, event);
  }
});
