// Token expiry: `expiresAt` from `auth:ok`/`auth:refreshed`, the in-band refresh at ~80 % of
// the remaining lifetime (one timer, only while connected), its retry when the backend is
// unavailable, and the 4401 `token_expired` / `identity_changed` closes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULTS } from "../nativor-chat.js";
import { FakeClock, deferred, flush, makeClient } from "../support/fakes.mjs";

/** Pings far away, so that days can pass in one step of the manual clock. */
const PING_MS = 10 ** 12;

/**
 * A client whose token provider answers call i with `answers[i]` (the last one repeats): a
 * string or null (returned), `"hang"` (settled by hand through `calls[i]`), or `"throw"`.
 * Pings are off by default (`pingIntervalMs` far away) so that hours can pass in one step.
 */
function setup({ answers = ["t0", "t1", "t2", "t3", "t4", "t5"], random, options = {} } = {}) {
  const calls = [];
  const s = makeClient({
    clock: new FakeClock(1_700_000_000_000),
    getToken: ({ forceRefresh }) => {
      const answer = answers[Math.min(calls.length, answers.length - 1)];
      const call = { forceRefresh, ...deferred() };
      calls.push(call);
      if (answer === "hang") return call.promise;
      if (answer === "throw") throw new Error("provider offline");
      return Promise.resolve(answer);
    },
    random,
    options: { pingIntervalMs: PING_MS, ...options },
    record: ["state", "auth:ok", "auth:refreshed", "refresh", "error", "close", "reconnecting", "members", "resync"],
  });
  return { ...s, calls };
}

/** Connects, and answers the auth with an `auth:ok` whose token expires in `ttlMs`. */
async function connected(s, ttlMs, extra = {}) {
  s.client.connect();
  await flush();
  const ws = s.sockets.at(-1);
  ws.serverOpen();
  ws.serverSend({
    type: "auth:ok",
    connectionId: "c1",
    userId: "alice",
    expiresAt: s.clock.now() + ttlMs,
    members: ["alice", "bob"],
    ...extra,
  });
  return ws;
}

/**
 * Pending timers other than the stable-connection timer (armed at every auth:ok, 10 s) and the
 * far-away ping timer: the refresh timer, if any, and the provider's time bound while it runs.
 */
function refreshTimers(s) {
  return s.clock.delays().filter((d) => d !== DEFAULTS.stableAfterMs && d < PING_MS / 2);
}

test("expiresAt from auth:ok; the refresh is scheduled at 80 % of the remaining lifetime", async () => {
  const s = setup();
  const ws = await connected(s, 60_000);
  assert.equal(s.client.expiresAt, s.clock.now() + 60_000);
  assert.deepEqual(s.of("refresh"), [{ phase: "scheduled", delayMs: 48_000, attempt: 0, expiresAt: s.client.expiresAt }]);
  assert.deepEqual(refreshTimers(s), [48_000], "one refresh timer");
  await s.clock.advance(47_999);
  assert.equal(s.calls.length, 1, "not yet");
  assert.equal(ws.sentOfType("auth:refresh").length, 0);
  await s.clock.advance(1);
  assert.deepEqual(s.calls.map((c) => c.forceRefresh), [false, true], "a fresh token from the provider");
  assert.deepEqual(ws.sentOfType("auth:refresh"), [{ type: "auth:refresh", token: "t1" }]);
  assert.deepEqual(s.of("refresh").at(-1), { phase: "sent", attempt: 0, expiresAt: s.client.expiresAt });
  assert.deepEqual(refreshTimers(s), [], "no refresh timer while the answer is awaited");
});

test("auth:refreshed: expiresAt moves, the timer is re-armed; same connection, id and members", async () => {
  const s = setup();
  const ws = await connected(s, 60_000);
  await s.clock.advance(48_000);
  const newExpiry = s.clock.now() + 100_000;
  ws.serverSend({ type: "auth:refreshed", expiresAt: newExpiry });
  assert.equal(s.client.expiresAt, newExpiry);
  assert.deepEqual(s.of("auth:refreshed"), [{ type: "auth:refreshed", expiresAt: newExpiry, resume: null }]);
  assert.deepEqual(s.of("refresh").at(-1), { phase: "scheduled", delayMs: 80_000, attempt: 0, expiresAt: newExpiry });
  assert.deepEqual(refreshTimers(s), [80_000], "still exactly one refresh timer");
  assert.equal(s.client.state, "open");
  assert.equal(s.client.connectionId, "c1");
  assert.deepEqual([...s.client.members].sort(), ["alice", "bob"]);
  assert.equal(s.sockets.length, 1);
  assert.equal(s.of("resync").length, 0, "a refresh is no reconnect");
  assert.equal(s.of("members").length, 1, "presence untouched");
  // And again at 80 % of the new lifetime, with the next fresh token.
  await s.clock.advance(80_000);
  assert.deepEqual(ws.sentOfType("auth:refresh").map((f) => f.token), ["t1", "t2"]);
  // A refreshed token without expiry: no timer any more.
  ws.serverSend({ type: "auth:refreshed", expiresAt: null });
  assert.equal(s.client.expiresAt, null);
  assert.deepEqual(refreshTimers(s), []);
  await s.clock.advance(10 * 86_400_000);
  assert.equal(ws.sentOfType("auth:refresh").length, 2);
});

test("no expiry (expiresAt null or absent): no refresh timer, no refresh", async () => {
  const s = setup();
  const ws = await connected(s, 0, { expiresAt: null });
  assert.equal(s.client.expiresAt, null);
  assert.deepEqual(refreshTimers(s), []);
  assert.equal(s.of("refresh").length, 0);
  await s.clock.advance(30 * 86_400_000);
  assert.equal(ws.sentOfType("auth:refresh").length, 0);
  assert.equal(s.calls.length, 1);
});

test("a token that already expired by this clock is not refreshed in-band (gave-up, no timer)", async () => {
  const s = setup();
  const ws = await connected(s, 500);
  assert.deepEqual(refreshTimers(s), []);
  const [r] = s.of("refresh");
  assert.equal(r.phase, "gave-up");
  assert.match(r.why, /too soon/);
  await s.clock.advance(60_000);
  assert.equal(ws.sentOfType("auth:refresh").length, 0);
});

test("a lifetime longer than a timer can wait: split timers, refreshed on time", async () => {
  const s = setup();
  const day = 86_400_000;
  const ws = await connected(s, 60 * day);
  assert.equal(s.of("refresh")[0].delayMs, 48 * day);
  assert.deepEqual(refreshTimers(s), [2 ** 31 - 1], "clamped to what setTimeout honours");
  await s.clock.advance(48 * day - 1);
  assert.equal(ws.sentOfType("auth:refresh").length, 0);
  assert.equal(refreshTimers(s).length, 1);
  await s.clock.advance(1);
  assert.equal(ws.sentOfType("auth:refresh").length, 1);
});

test("auth_unavailable answer: the socket stays open, the refresh is retried later, before expiry", async () => {
  const s = setup({ random: () => 0.5 });
  const ws = await connected(s, 600_000);
  await s.clock.advance(480_000);
  assert.equal(ws.sentOfType("auth:refresh").length, 1);
  ws.serverSend({ type: "error", code: "auth_unavailable", message: "backend unavailable" });
  assert.equal(s.client.state, "open");
  assert.equal(s.of("error").at(-1).code, "auth_unavailable");
  // The first retry: full jitter in [0, 2 s) at 0.5 → 1 s.
  assert.deepEqual(s.of("refresh").at(-1), { phase: "scheduled", delayMs: 1_000, attempt: 1, expiresAt: s.client.expiresAt });
  assert.deepEqual(refreshTimers(s), [1_000]);
  await s.clock.advance(999);
  assert.equal(ws.sentOfType("auth:refresh").length, 1);
  await s.clock.advance(1);
  assert.deepEqual(s.calls.map((c) => c.forceRefresh), [false, true, true]);
  assert.deepEqual(ws.sentOfType("auth:refresh").map((f) => f.token), ["t1", "t2"]);
  // Unavailable again: the window doubles.
  ws.serverSend({ type: "error", code: "auth_unavailable", message: "still" });
  assert.equal(s.of("refresh").at(-1).delayMs, 2_000);
  assert.equal(s.of("refresh").at(-1).attempt, 2);
  await s.clock.advance(2_000);
  // This time it works: the attempts start over.
  ws.serverSend({ type: "auth:refreshed", expiresAt: s.clock.now() + 600_000 });
  assert.deepEqual(s.of("refresh").at(-1), { phase: "scheduled", delayMs: 480_000, attempt: 0, expiresAt: s.client.expiresAt });
  // The non-fatal error does not pose as the reason of a later close.
  ws.serverClose(1006, "", false);
  assert.equal(s.of("close")[0].reason, "");
});

test("auth_unavailable until the end: retries spaced ≥ 1 s, all before expiry, then gives up; token_expired reconnects with a fresh token", async () => {
  const s = setup({ random: () => 0.999, answers: ["t0", "fresh"] });
  const ttl = 60_000;
  const ws = await connected(s, ttl);
  const expiresAt = s.client.expiresAt;
  const sentAt = [];
  ws.send = ((send) => (text) => {
    if (JSON.parse(text).type === "auth:refresh") sentAt.push(s.clock.now());
    send.call(ws, text);
  })(ws.send);
  for (let i = 0; i < 40 && s.of("refresh").at(-1).phase !== "gave-up"; i += 1) {
    await s.clock.advance(Math.max(1, refreshTimers(s)[0] ?? 1));
    if (s.of("refresh").at(-1).phase === "sent") {
      ws.serverSend({ type: "error", code: "auth_unavailable", message: "backend unavailable" });
    }
  }
  assert.equal(s.of("refresh").at(-1).phase, "gave-up");
  assert.match(s.of("refresh").at(-1).why, /^auth_unavailable: .*no time left/);
  assert.ok(sentAt.length >= 3, `${sentAt.length} tries`);
  assert.equal(sentAt[0], expiresAt - ttl + 48_000);
  for (let i = 1; i < sentAt.length; i += 1) assert.ok(sentAt[i] - sentAt[i - 1] >= 1_000, String(sentAt));
  assert.ok(sentAt.at(-1) < expiresAt);
  assert.deepEqual(refreshTimers(s), [], "no refresh timer after giving up");
  assert.equal(s.client.state, "open");
  // At expiry the hub closes with token_expired: a fresh token, then a reconnect.
  await s.clock.advance(expiresAt - s.clock.now());
  const calls = s.calls.length;
  ws.hubRefuses("token_expired", 4401);
  const close = s.of("close").at(-1);
  assert.deepEqual([close.code, close.reason, close.decision.action], [4401, "token_expired", "refresh-token"]);
  assert.equal(s.client.expiresAt, null);
  assert.equal(s.client.members, null);
  await s.clock.advance(close.decision.delayMs);
  assert.equal(s.calls.length, calls + 1);
  assert.equal(s.calls.at(-1).forceRefresh, true);
  s.sockets[1].serverOpen();
  assert.equal(s.sockets[1].sent[0].type, "auth");
  assert.equal(s.sockets[1].sent[0].token, "fresh");
});

test("auth_in_progress answer: retried later like auth_unavailable", async () => {
  const s = setup();
  const ws = await connected(s, 600_000);
  await s.clock.advance(480_000);
  ws.serverSend({ type: "error", code: "auth_in_progress", message: "a refresh is running" });
  assert.equal(s.of("refresh").at(-1).phase, "scheduled");
  assert.equal(s.of("refresh").at(-1).attempt, 1);
  await s.clock.advance(s.of("refresh").at(-1).delayMs);
  assert.equal(ws.sentOfType("auth:refresh").length, 2);
  // An auth_unavailable that answers no refresh of ours (none in flight) schedules nothing.
  ws.serverSend({ type: "auth:refreshed", expiresAt: s.clock.now() + 600_000 });
  const n = s.of("refresh").length;
  ws.serverSend({ type: "error", code: "auth_unavailable", message: "?" });
  assert.equal(s.of("refresh").length, n);
  assert.deepEqual(refreshTimers(s), [480_000]);
});

test("the provider during a refresh: a throw or a timeout is retried; no token gives up (no frame sent)", async () => {
  const thrower = setup({ answers: ["t0", "throw", "t2"] });
  let ws = await connected(thrower, 600_000);
  await thrower.clock.advance(480_000);
  assert.deepEqual([thrower.of("error").at(-1).code, thrower.of("error").at(-1).local], ["token_unavailable", true]);
  assert.equal(thrower.of("refresh").at(-1).phase, "scheduled");
  assert.equal(ws.sentOfType("auth:refresh").length, 0);
  await thrower.clock.advance(thrower.of("refresh").at(-1).delayMs);
  assert.deepEqual(ws.sentOfType("auth:refresh"), [{ type: "auth:refresh", token: "t2" }]);

  const hanging = setup({ answers: ["t0", "hang", "t2"] });
  ws = await connected(hanging, 600_000);
  await hanging.clock.advance(480_000);
  await hanging.clock.advance(DEFAULTS.tokenTimeoutMs - 1);
  assert.equal(hanging.of("error").length, 0);
  await hanging.clock.advance(1);
  assert.equal(hanging.of("error").at(-1).code, "token_timeout");
  assert.equal(hanging.client.state, "open", "the connection is not dropped");
  // A late answer of the abandoned call is ignored.
  hanging.calls[1].resolve("late");
  await flush();
  assert.equal(ws.sentOfType("auth:refresh").length, 0);
  await hanging.clock.advance(hanging.of("refresh").at(-1).delayMs);
  assert.deepEqual(ws.sentOfType("auth:refresh").map((f) => f.token), ["t2"]);

  const none = setup({ answers: ["t0", null] });
  ws = await connected(none, 600_000);
  await none.clock.advance(480_000);
  assert.equal(none.of("error").at(-1).code, "token_unavailable");
  assert.equal(none.of("refresh").at(-1).phase, "gave-up");
  assert.deepEqual(refreshTimers(none), []);
  await none.clock.advance(100_000);
  assert.equal(ws.sentOfType("auth:refresh").length, 0);
  assert.equal(none.calls.length, 2);
});

test("the one refresh timer is cleared on a disconnect and on close(); a refresh in flight is dropped", async () => {
  const s = setup({ answers: ["t0", "hang", "t2"] });
  const ws = await connected(s, 60_000);
  assert.deepEqual(refreshTimers(s), [48_000]);
  ws.serverClose(1006, "", false);
  assert.equal(s.client.expiresAt, null);
  assert.deepEqual(s.clock.delays(), [DEFAULTS.soonBaseMs / 2], "only the reconnect timer");
  await s.clock.advance(DEFAULTS.soonBaseMs / 2);
  // The reconnect's provider call hangs until answered; then the new connection re-arms.
  assert.equal(s.calls.length, 2);
  s.calls[1].resolve("t1");
  await flush();
  const ws2 = s.sockets[1];
  ws2.serverOpen();
  ws2.serverSend({ type: "auth:ok", connectionId: "c2", userId: "alice", expiresAt: s.clock.now() + 10_000, members: null });
  assert.deepEqual(refreshTimers(s), [8_000]);
  s.client.close();
  assert.equal(s.clock.pending.size, 0, "no timer left behind");
  await s.clock.advance(60_000);
  assert.equal(ws2.sentOfType("auth:refresh").length, 0);

  // The provider still answering when the connection drops: nothing is sent anywhere.
  const t = setup({ answers: ["t0", "hang", "t2"] });
  const first = await connected(t, 60_000);
  await t.clock.advance(48_000);
  assert.equal(t.calls.length, 2);
  first.serverClose(1012);
  await t.clock.advance(DEFAULTS.soonBaseMs);
  const second = t.sockets[1];
  second.serverOpen();
  second.serverSend({ type: "auth:ok", connectionId: "c2", userId: "alice", expiresAt: t.clock.now() + 60_000, members: null });
  // The old connection's provider call answers only now, with the new connection open.
  t.calls[1].resolve("late-fresh");
  await flush();
  assert.deepEqual(first.sentOfType("auth:refresh"), []);
  assert.deepEqual(second.sent.map((f) => f.type), ["auth"]);
  assert.equal(second.sent[0].token, "t2");
});

test("a refreshed token refused (unauthorized, 4401): stops, no new token is asked for", async () => {
  const s = setup();
  const ws = await connected(s, 60_000);
  await s.clock.advance(48_000);
  ws.hubRefuses("unauthorized", 4401);
  assert.equal(s.client.state, "stopped");
  assert.equal(s.of("close")[0].decision.action, "stop");
  assert.equal(s.of("state").at(-1).reason, "unauthorized");
  await s.clock.advance(600_000);
  assert.equal(s.sockets.length, 1);
  assert.equal(s.calls.length, 2);
});

test("identity_changed (4401): stops and says why; no reconnect", async () => {
  const s = setup();
  const ws = await connected(s, 60_000);
  await s.clock.advance(48_000);
  ws.hubRefuses("identity_changed", 4401);
  assert.equal(s.client.state, "stopped");
  const stopped = s.of("state").at(-1);
  assert.deepEqual([stopped.code, stopped.reason], [4401, "identity_changed"]);
  assert.match(stopped.why, /^identity_changed: /);
  assert.equal(s.of("error").at(-1).code, "identity_changed");
  assert.equal(s.of("reconnecting").length, 0);
  assert.equal(s.clock.pending.size, 0, "no timer left behind");
  await s.clock.advance(600_000);
  assert.equal(s.sockets.length, 1);
  assert.equal(s.calls.length, 2);
});

test("token_expired (4401) on a connection that never refreshed: fresh token, jittered reconnect, counts as an attempt", async () => {
  const s = setup({ random: () => 0.5 });
  const ws = await connected(s, 0, { expiresAt: null });
  ws.hubRefuses("token_expired", 4401);
  const [r] = s.of("reconnecting");
  assert.deepEqual([r.attempt, r.delayMs, r.reason], [1, DEFAULTS.soonBaseMs / 2, "token_expired"]);
  await s.clock.advance(DEFAULTS.soonBaseMs / 2);
  assert.deepEqual(s.calls.map((c) => c.forceRefresh), [false, true]);
  s.sockets[1].serverOpen();
  assert.equal(s.sockets[1].sent[0].token, "t1");
  s.sockets[1].serverSend({ type: "auth:ok", connectionId: "c2", userId: "alice", expiresAt: s.clock.now() + 5_000, members: null });
  assert.equal(s.client.expiresAt, s.clock.now() + 5_000);
  assert.deepEqual(s.of("resync").length, 1);
  assert.equal(s.of("refresh").at(-1).delayMs, 4_000);
});

test("an auth:refreshed while the provider runs (someone else's refresh) wins: the late token is not sent", async () => {
  const s = setup({ answers: ["t0", "hang", "t2"] });
  const ws = await connected(s, 60_000);
  await s.clock.advance(48_000);
  assert.equal(s.calls.length, 2);
  ws.serverSend({ type: "auth:refreshed", expiresAt: s.clock.now() + 60_000 });
  s.calls[1].resolve("t1");
  await flush();
  assert.equal(ws.sentOfType("auth:refresh").length, 0);
  assert.deepEqual(refreshTimers(s), [48_000]);
  await s.clock.advance(48_000);
  assert.deepEqual(ws.sentOfType("auth:refresh").map((f) => f.token), ["t2"]);
});
