// Baseline for the benchmark: the hub's protocol written the way a team following
// Cloudflare's chat demo would write it in JavaScript (hibernation API, attachments,
// per-socket deserializeAttachment in fan-out loops, JSON.stringify once per event).
// Measured side by side with the Rust hub; never deployed. Presence as the hub does it
// (per user, on while a room has at most 200 users), written the same plain way.
import { DurableObject } from "cloudflare:workers";

const ROOM_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const json = (status, body) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const fail = (status, code, message) => json(status, { success: false, error: { code, message } });
const error = (code, message) => JSON.stringify({ type: "error", code, message });
const PRESENCE_MAX_MEMBERS = 200;

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/healthz") return json(200, { ok: true, service: "baseline" });
    let roomId = null;
    if (url.pathname.startsWith("/rooms/")) roomId = decodeURIComponent(url.pathname.slice(7));
    else if (url.pathname === "/rooms") roomId = url.searchParams.get("room") ?? "";
    if (roomId !== null) {
      if (!ROOM_ID.test(roomId) || roomId === "." || roomId === "..") return fail(400, "invalid_room_id", "bad room");
      if (request.headers.get("Upgrade") !== "websocket") return fail(426, "upgrade_required", "websocket only");
      const stub = env.Chat.get(env.Chat.idFromName(roomId));
      // `?compression=off|none`: the load generator's check of the per-socket switch (see the room).
      const mode = url.searchParams.get("compression");
      const extra = mode ? `&compression=${encodeURIComponent(mode)}` : "";
      return stub.fetch(new Request(`https://room/connect?room=${encodeURIComponent(roomId)}${extra}`, request));
    }
    if (url.pathname === "/api/broadcast") {
      if (request.method !== "POST") return fail(405, "method_not_allowed", "POST");
      if (request.headers.get("Authorization") !== `Bearer ${env.WEBHOOK_TOKEN}`) return fail(401, "unauthorized", "token");
      let body;
      try {
        body = await request.json();
      } catch {
        return fail(400, "invalid_json", "body");
      }
      if (typeof body?.roomId !== "string" || typeof body?.message?.type !== "string") return fail(400, "invalid_body", "shape");
      const stub = env.Chat.get(env.Chat.idFromName(body.roomId));
      return stub.fetch("https://room/broadcast", { method: "POST", body: JSON.stringify(body) });
    }
    return fail(404, "not_found", "no such endpoint");
  },
};

export class ChatRoom extends DurableObject {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/connect") {
      const pair = new WebSocketPair();
      const connectionId = crypto.randomUUID();
      this.ctx.acceptWebSocket(pair[1], [connectionId]);
      pair[1].serializeAttachment({ connectionId, room: url.searchParams.get("room"), userId: null, authed: false });
      // The runtime's per-socket switch, set in the room's answer (the floor sets it in
      // the Worker's): `off` answers an empty Sec-WebSocket-Extensions (documented to
      // turn permessage-deflate off for the socket), `none` the value "none".
      const value = { off: "", none: "none" }[url.searchParams.get("compression")];
      const headers = value === undefined ? {} : { "Sec-WebSocket-Extensions": value };
      return new Response(null, { status: 101, webSocket: pair[0], headers });
    }
    if (url.pathname === "/broadcast") {
      const { message, excludeConnectionIds = [] } = await request.json();
      const data = JSON.stringify(message);
      let delivered = 0;
      for (const ws of this.ctx.getWebSockets()) {
        const att = ws.deserializeAttachment();
        if (!att?.authed || excludeConnectionIds.includes(att.connectionId)) continue;
        try {
          ws.send(data);
          delivered++;
        } catch {}
      }
      return json(200, { success: true, delivered });
    }
    return fail(404, "not_found", "no such room endpoint");
  }

  async webSocketMessage(ws, raw) {
    if (typeof raw !== "string") return ws.send(error("unsupported_frame", "text only"));
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      return ws.send(error("invalid_json", "not JSON"));
    }
    const att = ws.deserializeAttachment();
    if (msg?.type === "auth") {
      if (att.authed) return ws.send(error("already_authenticated", "already"));
      if (msg.roomId !== att.room) {
        ws.send(error("room_mismatch", "wrong room"));
        return ws.close(4403, "room_mismatch");
      }
      const res = await fetch(
        `${this.env.BACKEND_ORIGIN}/api/v1/message-rooms/${encodeURIComponent(att.room)}/participants/check`,
        {
          method: "POST",
          headers: { Authorization: `Bearer ${msg.token}`, "Content-Type": "application/json" },
          body: JSON.stringify({ roomId: att.room, userId: msg.userId ?? null, connectionId: att.connectionId }),
        },
      ).catch(() => null);
      if (!res || res.status !== 200) {
        const code = res && [401, 403, 404].includes(res.status) ? "unauthorized" : "auth_unavailable";
        ws.send(error(code, "auth failed"));
        return ws.close(4401, code);
      }
      const data = await res.json().catch(() => ({}));
      const userId = typeof data.userId === "string" ? data.userId : (msg.userId ?? null);
      const expiresAt = typeof data.expiresAt === "number" ? data.expiresAt : null;
      ws.serializeAttachment({ ...att, authed: true, userId, expiresAt });
      const others = this.members(ws);
      const first = userId !== null && !others.has(userId);
      const users = new Set(others.keys());
      if (userId !== null) users.add(userId);
      const on = users.size <= PRESENCE_MAX_MEMBERS;
      const members = on ? [...users].sort() : null;
      ws.send(JSON.stringify({ type: "auth:ok", connectionId: att.connectionId, userId, expiresAt, members }));
      if (first && on) this.tell(ws, JSON.stringify({ type: "presence", event: "join", userId }));
      return;
    }
    if (!att.authed) return ws.send(error("unauthenticated", "auth first"));
    if (msg.type === "typing") {
      const out = JSON.stringify({ type: "typing", userId: att.userId, isTyping: msg.isTyping === true });
      for (const other of this.ctx.getWebSockets()) {
        if (other === ws || !other.deserializeAttachment()?.authed) continue;
        try {
          other.send(out);
        } catch {}
      }
      return;
    }
    if (msg.type === "ping") return ws.send(JSON.stringify({ type: "pong", t: msg.t }));
    ws.send(error("unknown_type", "unknown"));
  }

  async webSocketClose(ws, code) {
    const att = ws.deserializeAttachment();
    if (att?.authed && att.userId !== null) {
      const others = this.members(ws);
      if (!others.has(att.userId) && others.size < PRESENCE_MAX_MEMBERS) {
        this.tell(ws, JSON.stringify({ type: "presence", event: "leave", userId: att.userId }));
      }
    }
    try {
      ws.close(code, "bye");
    } catch {}
  }

  /** Authenticated sockets other than `except`, by user id. */
  members(except) {
    const users = new Map();
    for (const other of this.ctx.getWebSockets()) {
      if (other === except) continue;
      const a = other.deserializeAttachment();
      if (a?.authed && a.userId !== null) users.set(a.userId, (users.get(a.userId) ?? 0) + 1);
    }
    return users;
  }

  tell(except, data) {
    for (const other of this.ctx.getWebSockets()) {
      if (other === except || !other.deserializeAttachment()?.authed) continue;
      try {
        other.send(data);
      } catch {}
    }
  }
}
