// The token provider is bounded by `tokenTimeoutMs`: a provider that never answers must not
// leave the client in `connecting`. A timeout counts as `auth_unavailable` (back off, retry),
// and a late answer of the abandoned call is ignored.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULTS, decideReconnect } from "../nativor-chat.js";
import { FakeClock, deferred, flush, makeClient } from "../support/fakes.mjs";

/**
 * A client whose token provider answers each call with the next entry of `answers`: a string
 * (returned at once), `"hang"` (a promise the test can settle later through `calls[i]`), or a
 * function `(clock) => promise`.
 */
function setup({ answers, options = {}, random }) {
  const clock = new FakeClock();
  const calls = [];
  const s = makeClient({
    clock,
    getToken: ({ forceRefresh }) => {
      const answer = answers[Math.min(calls.length, answers.length - 1)];
      const call = { forceRefresh, ...deferred() };
      calls.push(call);
      if (answer === "hang") return call.promise;
      if (typeof answer === "function") return answer(clock);
      return Promise.resolve(answer);
    },
    random,
    options,
    record: ["state", "error", "close", "reconnecting", "open", "auth:ok"],
  });
  return { ...s, calls };
}

test("DEFAULTS: the token provider is bounded by 10 s", () => {
  assert.equal(DEFAULTS.tokenTimeoutMs, 10_000);
});

test("a hanging provider: after tokenTimeoutMs the attempt counts as auth_unavailable and is retried", async () => {
  const s = setup({ answers: ["hang", "hang", "dev:alice"] });
  s.client.connect();
  await flush();
  await s.clock.advance(DEFAULTS.tokenTimeoutMs - 1);
  assert.equal(s.client.state, "connecting");
  assert.equal(s.of("error").length, 0);
  assert.equal(s.of("close").length, 0);

  await s.clock.advance(1);
  const [error] = s.of("error");
  assert.deepEqual([error.code, error.local], ["token_timeout", true]);
  assert.match(error.message, /10000 ms/);
  // Exactly what a hub's 4401 auth_unavailable does: close, back off, reconnecting.
  const [close] = s.of("close");
  assert.deepEqual([close.code, close.reason, close.wasClean], [4401, "auth_unavailable", false]);
  const expected = decideReconnect({ code: 4401, reason: "auth_unavailable", attempt: 0, random: () => 0.5 });
  assert.deepEqual(close.decision, expected);
  assert.equal(close.decision.action, "retry");
  assert.equal(close.decision.delayMs, DEFAULTS.backoffBaseMs / 2);
  assert.equal(s.client.state, "reconnecting");
  const [r1] = s.of("reconnecting");
  assert.deepEqual([r1.attempt, r1.delayMs, r1.code, r1.reason], [1, DEFAULTS.backoffBaseMs / 2, 4401, "auth_unavailable"]);
  assert.equal(s.sockets.length, 0);
  assert.deepEqual(s.clock.delays(), [DEFAULTS.backoffBaseMs / 2], "only the retry timer is pending");

  // The retry calls the provider again; it hangs again, and the window grows.
  await s.clock.advance(DEFAULTS.backoffBaseMs / 2);
  assert.equal(s.calls.length, 2);
  assert.equal(s.calls[1].forceRefresh, false);
  assert.equal(s.client.state, "connecting");
  await s.clock.advance(DEFAULTS.tokenTimeoutMs);
  const r2 = s.of("reconnecting")[1];
  assert.deepEqual([r2.attempt, r2.delayMs, r2.reason], [2, DEFAULTS.backoffBaseMs, "auth_unavailable"]);

  // The third call answers: connected as usual.
  await s.clock.advance(DEFAULTS.backoffBaseMs);
  assert.equal(s.calls.length, 3);
  assert.equal(s.sockets.length, 1);
  s.sockets[0].serverOpen();
  assert.equal(s.sockets[0].sent[0].token, "dev:alice");
  s.sockets[0].serverSend({ type: "auth:ok", connectionId: "c1", userId: "alice" });
  assert.equal(s.client.state, "open");
  assert.equal(s.of("error").length, 2);
});

test("tokenTimeoutMs is configurable through options", async () => {
  const s = setup({ answers: ["hang"], options: { tokenTimeoutMs: 500 } });
  s.client.connect();
  await flush();
  await s.clock.advance(499);
  assert.equal(s.client.state, "connecting");
  await s.clock.advance(1);
  assert.equal(s.client.state, "reconnecting");
  assert.equal(s.of("error")[0].code, "token_timeout");
  assert.match(s.of("error")[0].message, /500 ms/);
});

test("a provider that answers within the bound works as before, and no timeout fires later", async () => {
  const slow = (ms) => (clock) => new Promise((resolve) => clock.timers.setTimeout(() => resolve("dev:alice"), ms));
  const s = setup({ answers: [slow(DEFAULTS.tokenTimeoutMs - 1)] });
  s.client.connect();
  await flush();
  await s.clock.advance(DEFAULTS.tokenTimeoutMs - 1);
  assert.equal(s.sockets.length, 1);
  // The token timer is gone: only the handshake timer is pending.
  assert.deepEqual(s.clock.delays(), [DEFAULTS.handshakeTimeoutMs]);
  await s.clock.advance(1_000);
  assert.equal(s.of("error").length, 0);
  assert.equal(s.of("close").length, 0);
  s.sockets[0].serverOpen();
  assert.deepEqual(s.sockets[0].sent, [{ type: "auth", token: "dev:alice", roomId: "room-1", batch: true }]);
  s.sockets[0].serverSend({ type: "auth:ok", connectionId: "c1", userId: "alice" });
  assert.equal(s.client.state, "open");
  assert.deepEqual(s.of("state").map((e) => e.state), ["connecting", "authenticating", "open"]);
  assert.equal(s.calls.length, 1);
});

test("a late answer of a timed-out call is ignored: no second socket", async () => {
  const s = setup({ answers: ["hang", "hang"] });
  s.client.connect();
  await flush();
  await s.clock.advance(DEFAULTS.tokenTimeoutMs);
  assert.equal(s.client.state, "reconnecting");

  // Late during the backoff: nothing happens, the retry stays scheduled as it was.
  s.calls[0].resolve("late-1");
  await flush();
  assert.equal(s.sockets.length, 0);
  assert.equal(s.client.state, "reconnecting");
  assert.deepEqual(s.clock.delays(), [DEFAULTS.backoffBaseMs / 2]);

  // The retry's call is pending; a late answer of the first call must not be taken for it.
  await s.clock.advance(DEFAULTS.backoffBaseMs / 2);
  assert.equal(s.calls.length, 2);
  s.calls[0].resolve("late-again");
  await flush();
  assert.equal(s.sockets.length, 0);
  assert.equal(s.client.state, "connecting");
  s.calls[1].resolve("dev:alice");
  await flush();
  assert.equal(s.sockets.length, 1);
  s.sockets[0].serverOpen();
  assert.equal(s.sockets[0].sent[0].token, "dev:alice");

  // A timed-out call that rejects late is ignored as well (no token_unavailable error).
  const t = setup({ answers: ["hang", "dev:bob"] });
  t.client.connect();
  await flush();
  await t.clock.advance(DEFAULTS.tokenTimeoutMs);
  t.calls[0].reject(new Error("too late"));
  await flush();
  assert.deepEqual(t.of("error").map((e) => e.code), ["token_timeout"]);
  await t.clock.advance(DEFAULTS.backoffBaseMs / 2);
  assert.equal(t.sockets.length, 1);
  t.calls[0].resolve("ignored");
  await flush();
  assert.equal(t.sockets.length, 1);
  assert.equal(t.of("close").length, 1);
});

test("a forced refresh that hangs: backs off and asks for a fresh token again (does not stop)", async () => {
  const s = setup({ answers: ["old", "hang", "fresh"] });
  s.client.connect();
  await flush();
  s.sockets[0].serverOpen();
  s.sockets[0].hubRefuses("unauthorized", 4401);
  await s.clock.advance(0);
  assert.equal(s.calls[1].forceRefresh, true);
  await s.clock.advance(DEFAULTS.tokenTimeoutMs);
  assert.equal(s.client.state, "reconnecting");
  assert.equal(s.of("close").at(-1).reason, "auth_unavailable");
  await s.clock.advance(DEFAULTS.backoffBaseMs / 2);
  assert.deepEqual(s.calls.map((c) => c.forceRefresh), [false, true, true]);
  assert.equal(s.sockets.length, 2);
  s.sockets[1].serverOpen();
  assert.equal(s.sockets[1].sent[0].token, "fresh");
  // The fresh token refused again still stops, as before.
  s.sockets[1].hubRefuses("unauthorized", 4401);
  assert.equal(s.client.state, "stopped");
});

test("close() while the provider hangs: no timer left behind, a late answer opens nothing", async () => {
  const s = setup({ answers: ["hang"] });
  s.client.connect();
  await flush();
  s.client.close();
  assert.equal(s.client.state, "closed");
  assert.equal(s.clock.pending.size, 0, "no timer left behind");
  await s.clock.advance(DEFAULTS.tokenTimeoutMs * 2);
  s.calls[0].resolve("late");
  await flush();
  assert.equal(s.sockets.length, 0);
  assert.equal(s.of("error").length, 0);
  assert.equal(s.of("close").length, 0);
  assert.equal(s.client.state, "closed");
});
