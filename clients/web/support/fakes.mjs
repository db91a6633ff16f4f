// Test doubles for the client tests (clients/web/test): a manual clock with timers, a
// scriptable WebSocket, and a client wired to both. Kept outside test/ so
// `node --test clients/web/test/` does not run it.
import { NativorChatClient } from "../nativor-chat.js";

export class FakeClock {
  constructor(start = 1_000_000) {
    this.t = start;
    this.nextId = 1;
    this.pending = new Map();
    this.now = () => this.t;
    this.timers = {
      setTimeout: (fn, ms) => {
        const id = this.nextId++;
        this.pending.set(id, { at: this.t + Math.max(0, ms), fn, id });
        return id;
      },
      clearTimeout: (id) => {
        this.pending.delete(id);
      },
    };
  }

  /** Advances time by `ms`, running due timers in order (and the promises they start). */
  async advance(ms) {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.pending.values()]
        .filter((p) => p.at <= end)
        .sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.pending.delete(due.id);
      this.t = Math.max(this.t, due.at);
      due.fn();
      await flush();
    }
    this.t = end;
    await flush();
  }

  /** Delays of the timers now pending, relative to now. */
  delays() {
    return [...this.pending.values()].map((p) => p.at - this.t);
  }
}

/** Records every event of `names` the client emits: `events` in order, `of(name)` by name. */
export function recordEvents(client, names) {
  const events = [];
  for (const name of names) {
    client.on(name, (e) => events.push([name, e]));
  }
  const of = (name) => events.filter(([n]) => n === name).map(([, e]) => e);
  return { events, of };
}

/** Lets pending promise callbacks (the async token provider) run. */
/** A promise the test settles by hand. */
export function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export async function flush() {
  for (let i = 0; i < 5; i += 1) await new Promise((r) => setImmediate(r));
}

/** A WebSocket stand-in: records every instance; tests drive open/message/close by hand. */
export function fakeWebSocketClass() {
  const sockets = [];
  class FakeWebSocket {
    constructor(url) {
      this.url = url;
      this.sent = [];
      this.closedWith = null;
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      sockets.push(this);
    }
    send(text) {
      if (this.closedWith) throw new Error("closed");
      this.sent.push(JSON.parse(text));
    }
    close(code, reason) {
      this.closedWith = { code, reason };
    }
    // Test side:
    serverOpen() {
      this.onopen?.({});
    }
    serverSend(obj) {
      this.onmessage?.({ data: typeof obj === "string" ? obj : JSON.stringify(obj) });
    }
    serverClose(code, reason = "", wasClean = true) {
      this.onclose?.({ code, reason, wasClean });
    }
    /** The hub's error frame, then its close (the reason is the error code). */
    hubRefuses(code, closeCode) {
      this.serverSend({ type: "error", code, message: code });
      this.serverClose(closeCode, code);
    }
    sentOfType(type) {
      return this.sent.filter((f) => f.type === type);
    }
  }
  return { FakeWebSocket, sockets };
}

/**
 * A client of room-1 on a fresh fake WebSocket class and `clock` (a new FakeClock unless given),
 * recording the events named in `record`. Any other field (`options`, `userId`, `batch`,
 * `resume`…) goes to the constructor; those left undefined are not passed, so that the
 * client's own defaults are what a test sees unless it asks otherwise.
 */
export function makeClient({
  getToken = async () => "dev:alice",
  random = () => 0.5,
  clock = new FakeClock(),
  record = [],
  ...fields
} = {}) {
  const { FakeWebSocket, sockets } = fakeWebSocketClass();
  const given = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
  const client = new NativorChatClient({
    url: "ws://hub.test/rooms/room-1",
    roomId: "room-1",
    getToken,
    ...given,
    WebSocket: FakeWebSocket,
    timers: clock.timers,
    now: clock.now,
    random,
  });
  const { events, of } = recordEvents(client, record);
  return { clock, client, sockets, events, of };
}
