// Floor for the benchmark: the runtime's own cost of fan-out. The room only loops
// ws.send(prebuiltString) over its sockets; auth is answered at once, without a backend.
// Nothing can fan out faster than this on the same runtime.
import { DurableObject } from "cloudflare:workers";

const AUTH_OK = '{"type":"auth:ok","connectionId":"floor-connection-id-000","userId":null}';
const TYPING = '{"type":"typing","userId":null,"isTyping":true}';

// The load generator's check of the runtime's per-socket switch, on the upgrade answer
// the Worker itself returns (the baseline sets it in the room's answer instead):
// `?compression=off` answers with an empty Sec-WebSocket-Extensions (documented to turn
// permessage-deflate off for the socket), `?compression=none` with the value "none"
// (no extension the runtime can agree to).
const EXTENSIONS_ANSWER = { off: "", none: "none" };
async function answerExtensions(room, request, value) {
  const answer = await room.fetch(new Request("https://room/connect", request));
  if (!answer.webSocket) return answer;
  return new Response(null, { status: 101, webSocket: answer.webSocket, headers: { "Sec-WebSocket-Extensions": value } });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/healthz") return new Response('{"ok":true}');
    const roomId = url.pathname.startsWith("/rooms/") ? url.pathname.slice(7) : url.searchParams.get("room");
    if (url.pathname.startsWith("/rooms")) {
      const room = env.Chat.get(env.Chat.idFromName(roomId));
      const value = EXTENSIONS_ANSWER[url.searchParams.get("compression")];
      if (value !== undefined) return answerExtensions(room, request, value);
      return room.fetch(new Request("https://room/connect", request));
    }
    if (url.pathname === "/api/broadcast") {
      const body = await request.json();
      return env.Chat.get(env.Chat.idFromName(body.roomId)).fetch("https://room/broadcast", {
        method: "POST",
        body: JSON.stringify(body.message),
      });
    }
    return new Response("not found", { status: 404 });
  },
};

export class ChatRoom extends DurableObject {
  async fetch(request) {
    if (new URL(request.url).pathname === "/connect") {
      const pair = new WebSocketPair();
      this.ctx.acceptWebSocket(pair[1]);
      return new Response(null, { status: 101, webSocket: pair[0] });
    }
    const data = await request.text();
    const sockets = this.ctx.getWebSockets();
    for (const ws of sockets) ws.send(data);
    return new Response(`{"success":true,"delivered":${sockets.length}}`);
  }

  async webSocketMessage(ws, raw) {
    if (raw.includes('"auth"')) return ws.send(AUTH_OK);
    if (raw.includes('"typing"')) {
      for (const other of this.ctx.getWebSockets()) if (other !== ws) other.send(TYPING);
    }
  }

  async webSocketClose() {}
}
