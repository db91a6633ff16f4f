// The live demo (public/index.html): one room connection through the client module, messages
// posted through the development backend exactly as the real backend will publish them.
// "Remove" asks the development backend to remove a participant from the room
// (DELETE …/participants/:userId); the backend disconnects that user's tabs through the hub, and
// a removed tab says why and does not reconnect.
// Query parameters: ?backend=<origin> (default http://127.0.0.1:8788), ?user=, ?room=,
// ?autoconnect=1.
import { NativorChatClient, isValidRoomId, roomUrl } from "./nativor-chat.js";

const params = new URLSearchParams(location.search);
const BACKEND = backendOrigin(params.get("backend"));
/** A typing indicator disappears when not refreshed for this long (the sender refreshes every 3 s). */
const TYPING_EXPIRES_MS = 6_000;

const $ = (id) => document.getElementById(id);
const ui = {
  form: $("connect-form"), user: $("user"), room: $("room"), connect: $("connect"),
  status: $("status"), statusText: $("status-text"), who: $("who"), connectionId: $("connection-id"),
  lastClose: $("last-close"), rtt: $("rtt"), roomTitle: $("room-title"), count: $("count"),
  messages: $("messages"), empty: $("empty"), typing: $("typing"), composer: $("composer"),
  text: $("text"), send: $("send"), log: $("log"), backend: $("backend-origin"),
  notice: $("notice"), removeForm: $("remove-form"), removeUser: $("remove-user"),
  remove: $("remove"), removeResult: $("remove-result"),
};

let client = null;
let session = null; // { user, token, room }
const messages = new Map(); // id → {id, userId, text, at, order}
const typing = new Map(); // userId → timeout handle
let arrival = 0;

function backendOrigin(value) {
  try {
    const u = new URL(value || "http://127.0.0.1:8788");
    if (u.protocol === "http:" || u.protocol === "https:") return u.origin;
  } catch {
    // fall through
  }
  return "http://127.0.0.1:8788";
}

function log(kind, detail) {
  const li = document.createElement("li");
  const t = document.createElement("span");
  t.className = "t";
  t.textContent = `${new Date().toLocaleTimeString()} `;
  li.append(t, `${kind} ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  ui.log.prepend(li);
  while (ui.log.childElementCount > 200) ui.log.lastElementChild.remove();
}

const STATE_TEXT = {
  idle: "Not connected",
  connecting: "Connecting…",
  authenticating: "Authenticating…",
  open: "Connected",
  reconnecting: "Reconnecting…",
  stopped: "Stopped",
  closed: "Disconnected",
};

function showState(e) {
  ui.status.dataset.state = e.state;
  let text = STATE_TEXT[e.state] ?? e.state;
  if (e.state === "reconnecting") text = `Reconnecting in ${(e.delayMs / 1000).toFixed(1)} s (attempt ${e.attempt})`;
  if (e.state === "stopped") {
    text = e.reason === "removed" ? "Removed from this room by the backend" : `Stopped: ${e.reason || e.why}`;
  }
  ui.statusText.textContent = text;
  ui.status.dataset.reason = e.state === "stopped" ? (e.reason ?? "") : "";
  if (e.state === "stopped" && e.reason === "removed") {
    showNotice(
      `You (${session?.user ?? "this user"}) were removed from ${session?.room ?? "this room"} by the backend. ` +
      "This tab does not reconnect, and the backend refuses this user in this room from now on.",
    );
  }
  const live = e.state === "open";
  ui.text.disabled = !live;
  ui.send.disabled = !live;
  ui.connectionId.textContent = e.connectionId ?? client?.connectionId ?? "—";
  const active = !["idle", "stopped", "closed"].includes(e.state);
  ui.connect.textContent = active ? "Disconnect" : "Connect";
  ui.connect.classList.toggle("secondary", active);
  ui.user.disabled = active;
  ui.room.disabled = active;
  updateRemoveButton();
  if (!live) clearTyping();
}

function showNotice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = !text;
}

/** "Remove <user>" works once connected: it uses this tab's room and development token. */
function updateRemoveButton() {
  const who = ui.removeUser.value.trim();
  ui.remove.textContent = who ? `Remove ${who}` : "Remove";
  ui.remove.disabled = !who || client?.state !== "open";
}

function renderMessages() {
  const list = [...messages.values()].sort((a, b) => a.order - b.order);
  ui.messages.replaceChildren(...(list.length ? [] : [ui.empty]));
  for (const m of list) {
    const li = document.createElement("li");
    li.className = `message${m.userId === session?.user ? " mine" : ""}`;
    li.dataset.id = m.id;
    li.dataset.user = m.userId ?? "";
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = `${m.userId ?? "someone"} · ${m.at}`;
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.textContent = m.text;
    li.append(meta, bubble);
    ui.messages.append(li);
  }
  ui.count.textContent = `${list.length} message${list.length === 1 ? "" : "s"}`;
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

/** Adds a message once, whatever the path it came by (own POST, broadcast, history). */
function addMessage({ id, userId, text }) {
  if (typeof id !== "string" || messages.has(id)) return;
  const n = /^m(\d+)$/.exec(id);
  messages.set(id, {
    id,
    userId,
    text: String(text ?? ""),
    at: new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
    order: n ? Number(n[1]) : 1e12 + arrival,
  });
  arrival += 1;
  renderMessages();
}

function renderTyping() {
  const names = [...typing.keys()];
  ui.typing.textContent =
    names.length === 0 ? "" :
    names.length === 1 ? `${names[0]} is typing…` :
    names.length === 2 ? `${names[0]} and ${names[1]} are typing…` :
    `${names.length} people are typing…`;
}

function setTyping(userId, isTyping) {
  if (!userId || userId === session?.user) return;
  clearTimeout(typing.get(userId));
  typing.delete(userId);
  if (isTyping) typing.set(userId, setTimeout(() => setTyping(userId, false), TYPING_EXPIRES_MS));
  renderTyping();
}

function clearTyping() {
  for (const handle of typing.values()) clearTimeout(handle);
  typing.clear();
  renderTyping();
}

function messagesUrl(room) {
  return `${BACKEND}/api/v1/message-rooms/${encodeURIComponent(room)}/messages`;
}

function participantUrl(room, userId) {
  return `${BACKEND}/api/v1/message-rooms/${encodeURIComponent(room)}/participants/${encodeURIComponent(userId)}`;
}

/**
 * Removes a participant from this tab's room through the development backend, with this tab's
 * token. The backend refuses that user's participants checks from now on and asks the hub to
 * disconnect its sockets (`removed`, close 4403): their tabs stop and say why.
 */
async function removeParticipant(userId) {
  if (!session) return;
  const { room, token } = session;
  ui.removeResult.textContent = `Removing ${userId}…`;
  ui.removeResult.dataset.outcome = "pending";
  try {
    const r = await fetch(participantUrl(room, userId), {
      method: "DELETE",
      headers: { Authorization: `Bearer ${token}` },
    });
    const reply = await r.json().catch(() => ({}));
    log("remove", { userId, status: r.status, reply });
    if (!r.ok) throw new Error(`HTTP ${r.status} ${JSON.stringify(reply)}`);
    const n = reply.hub?.disconnected;
    ui.removeResult.textContent =
      typeof n === "number"
        ? `Removed ${userId} from ${room}: the hub closed ${n} connection${n === 1 ? "" : "s"}.`
        : `Removed ${userId} from ${room}; the hub answered ${JSON.stringify(reply.hub)}.`;
    ui.removeResult.dataset.outcome = "ok";
  } catch (e) {
    log("remove failed", e.message);
    ui.removeResult.textContent = `Could not remove ${userId}: ${e.message}`;
    ui.removeResult.dataset.outcome = "failed";
  }
}

/** Fills gaps (e.g. messages sent while reconnecting) from the backend's list. */
async function loadHistory() {
  const { room, token } = session;
  try {
    const r = await fetch(messagesUrl(room), { headers: { Authorization: `Bearer ${token}` } });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const body = await r.json();
    if (session?.room !== room) return;
    for (const m of body.messages ?? []) addMessage({ id: m.id, userId: m.userId, text: m.text });
  } catch (e) {
    log("history", `could not load: ${e.message}`);
  }
}

function connect() {
  const user = ui.user.value;
  const room = ui.room.value.trim();
  if (!isValidRoomId(room)) {
    ui.statusText.textContent = "Room ids are 1–128 of A-Z a-z 0-9 _ - . :";
    ui.status.dataset.state = "stopped";
    return;
  }
  const token = ui.user.selectedOptions[0]?.dataset.token ?? `dev:${user}`;
  session = { user, token, room };
  messages.clear();
  renderMessages();
  ui.roomTitle.textContent = room;
  ui.who.textContent = user;
  ui.lastClose.textContent = "—";
  ui.rtt.textContent = "—";
  showNotice("");
  const c = new NativorChatClient({
    url: roomUrl(location.origin, room),
    roomId: room,
    // Development tokens never expire; a real app would fetch a fresh one on forceRefresh.
    getToken: () => token,
  });
  c.on("state", (e) => {
    showState(e);
    log("state", e.state + (e.why ? ` (${e.why})` : ""));
  });
  c.on("auth:ok", (f) => {
    ui.who.textContent = f.userId ?? user;
    session.user = f.userId ?? user;
    ui.connectionId.textContent = f.connectionId;
    log("auth:ok", f);
    c.ping(); // a first round trip now; the client keeps pinging every 25 s
    loadHistory();
  });
  c.on("message.created", (m) => {
    log("message.created", m);
    setTyping(m.userId, false);
    addMessage({ id: m.id, userId: m.userId, text: m.preview ?? m.text });
  });
  c.on("typing", (t) => setTyping(t.userId, t.isTyping));
  c.on("pong", (p) => {
    ui.rtt.textContent = p.rttMs === null ? "pong" : `${p.rttMs} ms`;
  });
  c.on("error", (e) => log("error", e));
  c.on("close", (x) => {
    ui.lastClose.textContent = `${x.code}${x.reason ? ` ${x.reason}` : ""} → ${x.decision.action}`;
    ui.lastClose.dataset.code = String(x.code);
    log("close", { code: x.code, reason: x.reason, action: x.decision.action, delayMs: x.decision.delayMs });
  });
  c.on("frame", (f) => {
    // Everything not logged by its own handler above.
    if (!["message.created", "pong", "error", "auth:ok"].includes(f.type)) log("frame", f);
  });
  client = c;
  c.connect();
  // Exposed for debugging in the console (and for the browser test).
  window.chat = c;
}

function disconnect() {
  client?.close();
  client = null;
}

async function send(text) {
  if (!client || !session) return;
  client.stopTyping();
  const body = { text, connectionId: client.connectionId };
  try {
    const r = await fetch(messagesUrl(session.room), {
      method: "POST",
      headers: { Authorization: `Bearer ${session.token}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const reply = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(`HTTP ${r.status} ${JSON.stringify(reply)}`);
    // The hub excluded this connection from the broadcast: show our own message from the reply.
    const m = reply.message;
    addMessage({ id: m.id, userId: m.userId, text: m.text });
    log("sent", { id: m.id, delivered: reply.broadcast?.delivered });
  } catch (e) {
    log("send failed", e.message);
    ui.statusText.textContent = `Could not send: ${e.message}`;
  }
}

ui.backend.textContent = BACKEND;
ui.form.addEventListener("submit", (e) => {
  e.preventDefault();
  if (client && !["stopped", "closed"].includes(client.state)) disconnect();
  else connect();
});
ui.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  const text = ui.text.value.trim();
  if (!text) return;
  ui.text.value = "";
  send(text);
});
ui.text.addEventListener("input", () => {
  if (ui.text.value === "") client?.stopTyping();
  else client?.typing();
});
ui.text.addEventListener("blur", () => client?.stopTyping());
ui.removeUser.addEventListener("input", updateRemoveButton);
ui.removeForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const who = ui.removeUser.value.trim();
  if (who && client?.state === "open") removeParticipant(who);
});
// Back online: do not wait out the rest of a backoff.
window.addEventListener("online", () => client?.reconnectNow());

if (params.get("user")) ui.user.value = params.get("user");
if (params.get("room")) ui.room.value = params.get("room");
ui.roomTitle.textContent = ui.room.value;
if (params.get("autoconnect") === "1") connect();
