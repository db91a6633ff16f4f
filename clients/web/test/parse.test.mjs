// Parsing hub frames, room ids and room URLs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { isValidRoomId, parseServerFrame, roomUrl } from "../nativor-chat.js";

test("auth:ok", () => {
  assert.deepEqual(parseServerFrame('{"type":"auth:ok","connectionId":"Zk3abc","userId":"u1"}'), {
    type: "auth:ok",
    connectionId: "Zk3abc",
    userId: "u1",
  });
  // userId may be null or absent (the backend named nobody and there was no claim).
  assert.equal(parseServerFrame('{"type":"auth:ok","connectionId":"c","userId":null}').userId, null);
  assert.equal(parseServerFrame('{"type":"auth:ok","connectionId":"c"}').userId, null);
  assert.equal(parseServerFrame('{"type":"auth:ok"}'), null);
  assert.equal(parseServerFrame('{"type":"auth:ok","connectionId":""}'), null);
  assert.equal(parseServerFrame('{"type":"auth:ok","connectionId":7}'), null);
  assert.equal(parseServerFrame('{"type":"auth:ok","connectionId":"c","userId":5}'), null);
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
