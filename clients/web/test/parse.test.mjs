// Parsing hub frames (auth:ok, auth:refreshed, presence, typing, pong, error, batch), room ids and room URLs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { HUB_FRAME_TYPES, isValidRoomId, parseServerFrame, roomUrl } from "../nativor-chat.js";

test("auth:ok", () => {
  // An older hub sends neither expiresAt nor members (nor resume): all normalise to null.
  assert.deepEqual(parseServerFrame('{"type":"auth:ok","connectionId":"Zk3abc","userId":"u1"}'), {
    type: "auth:ok",
    connectionId: "Zk3abc",
    userId: "u1",
    expiresAt: null,
    members: null,
    resume: null,
  });
  // userId may be null or absent (the backend named nobody and there was no claim).
  assert.equal(parseServerFrame('{"type":"auth:ok","connectionId":"c","userId":null}').userId, null);
  assert.equal(parseServerFrame('{"type":"auth:ok","connectionId":"c"}').userId, null);
  assert.equal(parseServerFrame('{"type":"auth:ok"}'), null);
  assert.equal(parseServerFrame('{"type":"auth:ok","connectionId":""}'), null);
  assert.equal(parseServerFrame('{"type":"auth:ok","connectionId":7}'), null);
  assert.equal(parseServerFrame('{"type":"auth:ok","connectionId":"c","userId":5}'), null);
});

test("auth:ok with expiresAt and members", () => {
  const f = parseServerFrame(
    '{"type":"auth:ok","connectionId":"c1","userId":"alice","expiresAt":1767225600000,"members":["alice","bob"]}',
  );
  assert.deepEqual(f, {
    type: "auth:ok",
    connectionId: "c1",
    userId: "alice",
    expiresAt: 1767225600000,
    members: ["alice", "bob"],
    resume: null,
  });
  // null: no expiry / presence off in this room.
  const off = parseServerFrame('{"type":"auth:ok","connectionId":"c","userId":"a","expiresAt":null,"members":null}');
  assert.deepEqual([off.expiresAt, off.members], [null, null]);
  assert.deepEqual(parseServerFrame('{"type":"auth:ok","connectionId":"c","members":[]}').members, []);
  for (const bad of [
    '{"type":"auth:ok","connectionId":"c","expiresAt":"1767225600000"}',
    '{"type":"auth:ok","connectionId":"c","expiresAt":{}}',
    '{"type":"auth:ok","connectionId":"c","expiresAt":true}',
    '{"type":"auth:ok","connectionId":"c","members":"alice"}',
    '{"type":"auth:ok","connectionId":"c","members":["alice",null]}',
    '{"type":"auth:ok","connectionId":"c","members":[1]}',
    '{"type":"auth:ok","connectionId":"c","members":{"alice":true}}',
  ]) {
    assert.equal(parseServerFrame(bad), null, bad);
  }
});

test("auth:refreshed", () => {
  assert.deepEqual(parseServerFrame('{"type":"auth:refreshed","expiresAt":1767225600000}'), {
    type: "auth:refreshed",
    expiresAt: 1767225600000,
    resume: null,
  });
  assert.deepEqual(parseServerFrame('{"type":"auth:refreshed","expiresAt":null}'), {
    type: "auth:refreshed",
    expiresAt: null,
    resume: null,
  });
  assert.deepEqual(parseServerFrame('{"type":"auth:refreshed"}'), { type: "auth:refreshed", expiresAt: null, resume: null });
  assert.equal(parseServerFrame('{"type":"auth:refreshed","expiresAt":"soon"}'), null);
  assert.equal(parseServerFrame('{"type":"auth:refreshed","expiresAt":[1]}'), null);
});

test("resume tickets in auth:ok and auth:refreshed: a string, or null when absent; anything else is malformed", () => {
  const ticket = "WyJyb29tLTEiLCJhbGljZSIsMSwyXQ.c2lnbmF0dXJl";
  assert.deepEqual(
    parseServerFrame(
      `{"type":"auth:ok","connectionId":"c1","userId":"alice","expiresAt":5,"members":null,"resume":"${ticket}"}`,
    ),
    { type: "auth:ok", connectionId: "c1", userId: "alice", expiresAt: 5, members: null, resume: ticket },
  );
  assert.deepEqual(parseServerFrame(`{"type":"auth:refreshed","expiresAt":7,"resume":"${ticket}"}`), {
    type: "auth:refreshed",
    expiresAt: 7,
    resume: ticket,
  });
  // Opaque: the parser does not look inside (the hub alone can check a ticket).
  assert.equal(parseServerFrame('{"type":"auth:ok","connectionId":"c","resume":"x"}').resume, "x");
  // A hub without RESUME_SECRET leaves the field out; null reads the same.
  for (const type of ['"auth:ok","connectionId":"c"', '"auth:refreshed"']) {
    assert.equal(parseServerFrame(`{"type":${type}}`).resume, null, type);
    assert.equal(parseServerFrame(`{"type":${type},"resume":null}`).resume, null, type);
    for (const bad of ["7", "true", "{}", '["a.b"]']) {
      assert.equal(parseServerFrame(`{"type":${type},"resume":${bad}}`), null, `${type} resume ${bad}`);
    }
  }
});

test("presence: join, leave, off, on", () => {
  assert.deepEqual(parseServerFrame('{"type":"presence","event":"join","userId":"bob"}'), {
    type: "presence",
    event: "join",
    userId: "bob",
  });
  assert.deepEqual(parseServerFrame('{"type":"presence","event":"leave","userId":"bob"}'), {
    type: "presence",
    event: "leave",
    userId: "bob",
  });
  assert.deepEqual(parseServerFrame('{"type":"presence","event":"off","members":null}'), {
    type: "presence",
    event: "off",
    members: null,
  });
  assert.deepEqual(parseServerFrame('{"type":"presence","event":"off"}'), { type: "presence", event: "off", members: null });
  assert.deepEqual(parseServerFrame('{"type":"presence","event":"on","members":["a","b"]}'), {
    type: "presence",
    event: "on",
    members: ["a", "b"],
  });
  assert.deepEqual(parseServerFrame('{"type":"presence","event":"on","members":[]}').members, []);
  for (const bad of [
    '{"type":"presence"}',
    '{"type":"presence","event":"join"}',
    '{"type":"presence","event":"join","userId":null}',
    '{"type":"presence","event":"join","userId":""}',
    '{"type":"presence","event":"leave","userId":7}',
    '{"type":"presence","event":"on"}',
    '{"type":"presence","event":"on","members":null}',
    '{"type":"presence","event":"on","members":["a",2]}',
    '{"type":"presence","event":"off","members":["a"]}',
    '{"type":"presence","event":"away","userId":"bob"}',
    '{"type":"presence","event":7}',
  ]) {
    assert.equal(parseServerFrame(bad), null, bad);
  }
});

test("HUB_FRAME_TYPES: exactly the hub's list, in the hub's order", () => {
  assert.deepEqual(HUB_FRAME_TYPES, [
    "auth:ok", "user:status", "auth:refreshed", "presence", "typing", "pong", "error", "batch",
  ]);
  assert.ok(Object.isFrozen(HUB_FRAME_TYPES));
  // A backend broadcast can never be mistaken for them: the hub refuses these types.
  assert.deepEqual(parseServerFrame('{"type":"members","x":1}'), { type: "members", x: 1 });
});

test("typing", () => {
  assert.deepEqual(parseServerFrame('{"type":"typing","userId":"bob","isTyping":true}'), {
    type: "typing",
    userId: "bob",
    isTyping: true,
  });
  assert.equal(parseServerFrame('{"type":"typing","userId":"bob","isTyping":"yes"}'), null);
  assert.equal(parseServerFrame('{"type":"typing","userId":"bob"}'), null);
  assert.equal(parseServerFrame('{"type":"typing","userId":{},"isTyping":false}'), null);
});

test("pong echoes t verbatim", () => {
  assert.deepEqual(parseServerFrame('{"type":"pong","t":{"a":[1,2]}}'), { type: "pong", t: { a: [1, 2] } });
  assert.deepEqual(parseServerFrame('{"type":"pong"}'), { type: "pong" });
});

test("error", () => {
  assert.deepEqual(parseServerFrame('{"type":"error","code":"room_full","message":"the room is full"}'), {
    type: "error",
    code: "room_full",
    message: "the room is full",
  });
  assert.equal(parseServerFrame('{"type":"error"}'), null);
  assert.equal(parseServerFrame('{"type":"error","code":1}'), null);
});

test("broadcast events arrive verbatim", () => {
  const text = '{"type":"message.created","id":"m1","preview":"hi <b>","nested":{"x":[1,null]}}';
  assert.deepEqual(parseServerFrame(text), JSON.parse(text));
});

test("garbage is refused, never thrown", () => {
  for (const bad of ["", "nope", "{", "null", "[]", "42", '"s"', "{}", '{"type":""}', '{"type":3}',
    '{"type":null}', '[{"type":"x"}]']) {
    assert.equal(parseServerFrame(bad), null, bad);
  }
  for (const notText of [undefined, null, 3, {}, new ArrayBuffer(2)]) {
    assert.equal(parseServerFrame(notText), null);
  }
});

test("room ids follow the hub's rule", () => {
  for (const ok of ["room-1", "team:42", "a.b_c-D", "x".repeat(128), "..."]) {
    assert.ok(isValidRoomId(ok), ok);
  }
  for (const bad of ["", ".", "..", "a/b", "a b", "a?b", "x".repeat(129), "é", null, 5]) {
    assert.ok(!isValidRoomId(bad), String(bad));
  }
});

test("room URLs: http→ws, https→wss, one encoded path segment", () => {
  assert.equal(roomUrl("http://127.0.0.1:8787", "room-1"), "ws://127.0.0.1:8787/rooms/room-1");
  assert.equal(roomUrl("https://chat.example/ignored/path?q=1", "team:1"), "wss://chat.example/rooms/team%3A1");
  assert.equal(roomUrl("wss://chat.example", "r"), "wss://chat.example/rooms/r");
  assert.throws(() => roomUrl("http://h", "../x"), TypeError);
  assert.throws(() => roomUrl("ftp://h", "r"), TypeError);
});
