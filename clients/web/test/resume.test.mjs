// Resume tickets: kept in memory from `auth:ok`/`auth:refreshed`, sent with the token in the
// `auth` of every reconnect, and dropped whenever the backend must decide again (`refresh-token`),
// the client stops, or the app calls `close()`. The option `resume: false` turns them off.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULTS, NativorChatClient } from "../nativor-chat.js";
import { FakeClock, fakeWebSocketClass, flush, makeClient } from "../support/fakes.mjs";

const T1 = "WyJyb29tLTEiLCJhbGljZSIsMSwyXQ.bWFjLTE";
const T2 = "WyJyb29tLTEiLCJhbGljZSIsMywuXQ.bWFjLTI";

/** Pings far away (unless a test asks for them), so that a refresh at 48 s meets no ping timeout. */
const PING_MS = 10 ** 12;

/**
 * A client whose provider answers with its cached token, `tokens[0]`, and moves on to the next
 * one (the last one repeats) for each `forceRefresh`, like an app's session would. `calls`
 * records whether each call asked for a fresh token. `resume`/`resumeTicket` are passed only
 * when given, so that the defaults are what most tests see.
 */
function setup({ tokens = ["t0", "t1", "t2", "t3"], resume, resumeTicket, options = {} } = {}) {
  const calls = [];
  const provider = { throwNext: false };
  let current = 0;
  const s = makeClient({
    clock: new FakeClock(1_700_000_000_000),
    getToken: async ({ forceRefresh }) => {
      calls.push(forceRefresh);
      if (provider.throwNext) {
        provider.throwNext = false;
        throw new Error("provider offline");
      }
      if (forceRefresh) current = Math.min(current + 1, tokens.length - 1);
      return tokens[current];
    },
    resume,
    resumeTicket,
    options: { pingIntervalMs: PING_MS, ...options },
    record: ["state", "auth:ok", "close", "reconnecting", "resync", "refresh"],
  });
  return { ...s, calls, provider };
}

/** Opens the newest socket and returns the `auth` frame the client sent on it. */
function openAndAuth(s) {
  const ws = s.sockets.at(-1);
  ws.serverOpen();
  const [auth] = ws.sent;
  assert.equal(auth?.type, "auth");
  return auth;
}

/** The hub's `auth:ok` on the newest socket (`resume` left out unless given). */
function authOk(s, fields = {}) {
  const ws = s.sockets.at(-1);
  ws.serverSend({
    type: "auth:ok",
    connectionId: `c${s.sockets.length}`,
    userId: "alice",
    expiresAt: null,
    members: null,
    ...fields,
  });
  return ws;
}

/** `connect()`, then the handshake answered with `fields` on the first socket. */
async function connected(s, fields = {}) {
  s.client.connect();
  await flush();
  const auth = openAndAuth(s);
  const ws = authOk(s, fields);
  return { ws, auth };
}

/** Waits out the scheduled reconnect and opens the new socket; returns its `auth` frame. */
async function reconnected(s) {
  assert.equal(s.client.state, "reconnecting");
  const before = s.sockets.length;
  await s.clock.advance(s.of("reconnecting").at(-1).delayMs);
  assert.equal(s.sockets.length, before + 1, "a new socket");
  return openAndAuth(s);
}

test("auth:ok's ticket is kept and sent, with the token, in the auth of every reconnect", async () => {
  const s = setup();
  assert.equal(s.client.resumeTicket, null, "none before the first auth:ok");
  let seenByListener;
  s.client.on("auth:ok", () => {
    seenByListener = s.client.resumeTicket;
  });
  const { ws, auth } = await connected(s, { resume: T1 });
  assert.deepEqual(auth, { type: "auth", token: "t0", roomId: "room-1", batch: true }, "no ticket known yet: no resume field");
  assert.equal(s.client.resumeTicket, T1);
  assert.equal(seenByListener, T1, "already kept when the auth:ok listeners run");

  ws.serverClose(1006, "", false);
  assert.equal(s.client.resumeTicket, T1, "kept across a transient close");
  assert.deepEqual(await reconnected(s), { type: "auth", token: "t0", roomId: "room-1", resume: T1, batch: true });
  // A resumed auth:ok: new connection id, the ticket's expiry, the same ticket echoed back.
  const ticketExpiry = s.clock.now() + 300_000;
  authOk(s, { expiresAt: ticketExpiry, resume: T1 });
  assert.equal(s.client.state, "open");
  assert.equal(s.client.connectionId, "c2");
  assert.equal(s.client.expiresAt, ticketExpiry);
  assert.equal(s.client.resumeTicket, T1);

  // And the same ticket again on the next reconnect (the hub never extends it; only a real
  // check issues another one).
  s.sockets.at(-1).serverClose(1012);
  assert.equal((await reconnected(s)).resume, T1);
  assert.deepEqual(s.calls, [false, false, false], "a retry asks for no fresh token");
});

test("resync after every re-authentication that follows a disconnect, resumed or not", async () => {
  const s = setup();
  const { ws } = await connected(s, { resume: T1 });
  assert.equal(s.of("resync").length, 0, "the first auth:ok is the initial load");
  await s.clock.advance(5_000);
  ws.serverSend({ type: "message.created", id: "m1" });
  const lastFrame = s.clock.now();
  ws.serverClose(1006, "", false);
  assert.equal((await reconnected(s)).resume, T1);
  authOk(s, { resume: T1 }); // resumed: the hub stored nothing meanwhile either way
  assert.deepEqual(s.of("resync"), [{ since: lastFrame }]);
  // A checked re-authentication (the hub did not take the ticket) resyncs the same way.
  s.sockets.at(-1).serverClose(1006, "", false);
  await reconnected(s);
  authOk(s, { resume: T2 });
  assert.equal(s.of("resync").length, 2);
});

test("auth:refreshed with a ticket replaces the kept one; an auth:refreshed without one keeps it", async () => {
  const s = setup({ tokens: ["t0", "fresh1", "fresh2"] });
  const { ws } = await connected(s, { expiresAt: 1_700_000_000_000 + 60_000, resume: T1 });
  await s.clock.advance(48_000);
  assert.deepEqual(ws.sentOfType("auth:refresh"), [{ type: "auth:refresh", token: "fresh1" }]);
  // The hub's answer to an in-band refresh is a real check: a new ticket.
  let seenByListener;
  s.client.on("auth:refreshed", () => {
    seenByListener = s.client.resumeTicket;
  });
  ws.serverSend({ type: "auth:refreshed", expiresAt: s.clock.now() + 60_000, resume: T2 });
  assert.equal(s.client.resumeTicket, T2);
  assert.equal(seenByListener, T2);
  // An auth:refreshed without one (a hub that sends none here) leaves T2 as it is.
  await s.clock.advance(48_000);
  assert.equal(ws.sentOfType("auth:refresh").length, 2);
  ws.serverSend({ type: "auth:refreshed", expiresAt: s.clock.now() + 60_000 });
  assert.equal(s.client.resumeTicket, T2);
  ws.serverSend({ type: "auth:refreshed", expiresAt: s.clock.now() + 60_000, resume: null });
  assert.equal(s.client.resumeTicket, T2);
  ws.serverClose(1006, "", false);
  assert.equal((await reconnected(s)).resume, T2);
});

test("an auth:ok without a ticket clears the kept one; a ticket the hub did not take is replaced", async () => {
  const s = setup();
  const { ws } = await connected(s, { resume: T1 });
  ws.serverClose(1012);
  assert.equal((await reconnected(s)).resume, T1);
  // The hub ignored T1 (say it expired) and checked the token: the check issued T2.
  authOk(s, { resume: T2 });
  assert.equal(s.client.resumeTicket, T2);
  s.sockets.at(-1).serverClose(1012);
  assert.equal((await reconnected(s)).resume, T2);
  // After a deploy without RESUME_SECRET the hub has no ticket for this connection.
  authOk(s);
  assert.equal(s.client.resumeTicket, null);
  s.sockets.at(-1).serverClose(1012);
  assert.equal("resume" in (await reconnected(s)), false, "nothing stale is sent");
  // An empty ticket names nothing: treated as none.
  authOk(s, { resume: "" });
  assert.equal(s.client.resumeTicket, null);
});

test("retry decisions keep the ticket: transient closes, timeouts, auth_unavailable, 4429, 4503, a failing provider", async () => {
  const cases = {
    "1001 going away": (s, ws) => ws.serverClose(1001),
    "4000 ping timeout": (s) => s.clock.advance(DEFAULTS.pingIntervalMs + DEFAULTS.pongTimeoutMs),
    "4401 auth_unavailable": (s, ws) => ws.hubRefuses("auth_unavailable", 4401),
    "4401 auth_timeout": (s, ws) => ws.hubRefuses("auth_timeout", 4401),
    "4429 rate_limited": (s, ws) => ws.hubRefuses("rate_limited", 4429),
    "4503 room_full": (s, ws) => ws.hubRefuses("room_full", 4503),
  };
  for (const [name, trigger] of Object.entries(cases)) {
    const s = setup({ options: { pingIntervalMs: DEFAULTS.pingIntervalMs } });
    const { ws } = await connected(s, { resume: T1 });
    await trigger(s, ws);
    assert.equal(s.of("close").at(-1).decision.action, "retry", name);
    assert.equal(s.client.resumeTicket, T1, name);
    assert.equal((await reconnected(s)).resume, T1, name);
  }

  // The ticket was not taken and the backend is down (auth_unavailable before any auth:ok),
  // then the provider throws: still a retry, still the same ticket (the backend never said no).
  const s = setup({ tokens: ["t0"] });
  const { ws } = await connected(s, { resume: T1 });
  ws.serverClose(1006, "", false);
  await reconnected(s);
  s.sockets.at(-1).hubRefuses("auth_unavailable", 4401);
  assert.equal((await reconnected(s)).resume, T1);
  s.sockets.at(-1).serverClose(1006, "", false);
  s.provider.throwNext = true;
  await s.clock.advance(s.of("reconnecting").at(-1).delayMs);
  assert.equal(s.of("close").at(-1).reason, "auth_unavailable");
  assert.equal((await reconnected(s)).resume, T1);
});

test("refresh-token decisions drop the ticket (unauthorized, reauth_required, token_expired): the backend decides again", async () => {
  for (const reason of ["unauthorized", "reauth_required", "token_expired"]) {
    const s = setup({ tokens: ["t0", "fresh"] });
    const { ws } = await connected(s, { resume: T1 });
    let seenAtClose;
    s.client.on("close", () => {
      seenAtClose = s.client.resumeTicket;
    });
    ws.hubRefuses(reason, 4401);
    assert.equal(s.of("close").at(-1).decision.action, "refresh-token", reason);
    assert.equal(seenAtClose, null, `${reason}: already dropped when the close listeners run`);
    assert.equal(s.client.resumeTicket, null, reason);
    const auth = await reconnected(s);
    assert.deepEqual(auth, { type: "auth", token: "fresh", roomId: "room-1", batch: true }, `${reason}: a fresh token, no ticket`);
    assert.deepEqual(s.calls, [false, true], reason);
    // The backend's check of the fresh token issues a new ticket, which works as before.
    authOk(s, { resume: T2 });
    assert.equal(s.client.resumeTicket, T2, reason);
    s.sockets.at(-1).serverClose(1006, "", false);
    assert.equal((await reconnected(s)).resume, T2, reason);
  }
});

test("stop decisions drop the ticket (removed, identity_changed, room_mismatch, a refused refresh); connect() sends none", async () => {
  const cases = {
    "4403 removed": async (s, ws) => ws.hubRefuses("removed", 4403),
    "4403 room_mismatch": async (s, ws) => ws.hubRefuses("room_mismatch", 4403),
    "4401 identity_changed": async (s, ws) => {
      await s.clock.advance(48_000);
      ws.hubRefuses("identity_changed", 4401);
    },
    "4401 unauthorized after an in-band refresh": async (s, ws) => {
      await s.clock.advance(48_000);
      assert.equal(ws.sentOfType("auth:refresh").length, 1);
      ws.hubRefuses("unauthorized", 4401);
    },
  };
  for (const [name, trigger] of Object.entries(cases)) {
    const s = setup();
    const { ws } = await connected(s, { expiresAt: 1_700_000_000_000 + 60_000, resume: T1 });
    let seenAtClose;
    s.client.on("close", () => {
      seenAtClose = s.client.resumeTicket;
    });
    await trigger(s, ws);
    assert.equal(s.client.state, "stopped", name);
    assert.equal(seenAtClose, null, `${name}: already dropped when the close listeners run`);
    assert.equal(s.client.resumeTicket, null, name);
    // Only the app starts again, and that new session starts from a real check.
    s.client.connect();
    await flush();
    assert.equal("resume" in openAndAuth(s), false, name);
  }

  // Stopped because the provider has no fresh token after `unauthorized`.
  const s = setup({ tokens: ["t0", null] });
  const { ws } = await connected(s, { resume: T1 });
  ws.hubRefuses("unauthorized", 4401);
  await s.clock.advance(0);
  assert.equal(s.client.state, "stopped");
  assert.equal(s.client.resumeTicket, null);
});

test("close() drops the ticket, also while a reconnect is pending; connect() afterwards sends none", async () => {
  const s = setup();
  await connected(s, { resume: T1 });
  s.client.close();
  assert.equal(s.client.resumeTicket, null);
  s.client.connect();
  await flush();
  assert.equal("resume" in openAndAuth(s), false);

  const t = setup();
  const first = await connected(t, { resume: T1 });
  first.ws.serverClose(1006, "", false);
  assert.equal(t.client.resumeTicket, T1);
  t.client.close();
  assert.equal(t.client.resumeTicket, null);
  t.client.connect();
  await flush();
  assert.equal("resume" in openAndAuth(t), false);
});

test("option resumeTicket: sent with the first connect (a resumed first auth:ok is no resync); validated", async () => {
  const s = setup({ resumeTicket: T1 });
  assert.equal(s.client.resumeTicket, T1);
  const { auth } = await connected(s, { resume: T1 });
  assert.deepEqual(auth, { type: "auth", token: "t0", roomId: "room-1", resume: T1, batch: true });
  assert.equal(s.of("resync").length, 0, "the session's first auth:ok is the initial load");

  // Empty or null: none.
  for (const resumeTicket of ["", null]) {
    const e = setup({ resumeTicket });
    assert.equal(e.client.resumeTicket, null);
    e.client.connect();
    await flush();
    assert.equal("resume" in openAndAuth(e), false);
  }
  const WebSocket = fakeWebSocketClass().FakeWebSocket;
  const base = { url: "ws://h/rooms/r", roomId: "r", getToken: () => "t", WebSocket };
  assert.throws(() => new NativorChatClient({ ...base, resumeTicket: 5 }), TypeError);
  assert.throws(() => new NativorChatClient({ ...base, resume: "no" }), TypeError);
  assert.throws(() => new NativorChatClient({ ...base, resume: 0 }), TypeError);
});

test("option resume: false: no ticket is kept or sent, whatever the hub or the options hand over", async () => {
  const s = setup({ resume: false, resumeTicket: T1, tokens: ["t0", "fresh"] });
  assert.equal(s.client.resumeTicket, null);
  const { ws, auth } = await connected(s, { expiresAt: 1_700_000_000_000 + 60_000, resume: T1 });
  assert.equal("resume" in auth, false);
  assert.equal(s.client.resumeTicket, null);
  await s.clock.advance(48_000);
  ws.serverSend({ type: "auth:refreshed", expiresAt: s.clock.now() + 60_000, resume: T2 });
  assert.equal(s.client.resumeTicket, null);
  ws.serverClose(1006, "", false);
  assert.equal("resume" in (await reconnected(s)), false);
});

test("memory only: the ticket never touches Web Storage or cookies", async () => {
  const touched = [];
  const names = ["localStorage", "sessionStorage", "document", "indexedDB"];
  const saved = names.map((name) => [name, Object.getOwnPropertyDescriptor(globalThis, name)]);
  for (const name of names) {
    Object.defineProperty(globalThis, name, {
      configurable: true,
      get() {
        touched.push(name);
        return undefined;
      },
    });
  }
  try {
    const s = setup({ tokens: ["t0", "fresh1", "fresh2"] });
    const { ws } = await connected(s, { expiresAt: 1_700_000_000_000 + 60_000, resume: T1 });
    await s.clock.advance(48_000);
    ws.serverSend({ type: "auth:refreshed", expiresAt: s.clock.now() + 60_000, resume: T2 });
    ws.serverClose(1006, "", false);
    assert.equal((await reconnected(s)).resume, T2);
    authOk(s, { resume: T2 });
    s.client.close();
  } finally {
    for (const [name, descriptor] of saved) {
      if (descriptor) Object.defineProperty(globalThis, name, descriptor);
      else delete globalThis[name];
    }
  }
  assert.deepEqual(touched, []);
});
