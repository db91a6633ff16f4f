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
