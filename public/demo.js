// The live demo (public/index.html): one room connection through the client module, messages
// posted through the development backend exactly as the real backend will publish them.
// "Remove" asks the development backend to remove a participant from the room
// (DELETE …/participants/:userId); the backend disconnects that user's tabs through the hub, and
// a removed tab says why and does not reconnect.
// "Online" lists the room's members live (`#members`, one `li[data-user]` per user; "presence
// off" when the hub does not track a room that big). A token lifetime (`#ttl`, or `?ttl=<s>`)
// uses the development token `dev:<user>:ttl=<s>`: the client refreshes it in-band at ~80 % of
// its lifetime, and the event log shows the expiry, each refresh and each resync.
// "Conversations" and "People" come from a second connection, the user's personal channel
// (`/users/<user>`): the backend publishes `conversation:updated` there for every message of every
// room the user is in, so a room that is not open gets an unread badge (`#conversations
// li[data-room] .unread[data-count]`), and each person's dot follows `user:status`
// (`#people li[data-user][data-online]`).
// Query parameters: ?backend=<origin> (default http://127.0.0.1:8788), ?user=, ?room=, ?ttl=<s>,
// ?autoconnect=1.
import { NativorChatClient, isValidRoomId, roomUrl, userUrl } from "./nativor-chat.js";

const params = new URLSearchParams(location.search);
const BACKEND = backendOrigin(params.get("backend"));
/** A typing indicator disappears when not refreshed for this long (the sender refreshes every 3 s). */
const TYPING_EXPIRES_MS = 6_000;
/** `?ttl=` / the lifetime select: whole seconds, 1 s to a day ("" = a token that never expires). */
const MAX_TTL_S = 86_400;

const $ = (id) => document.getElementById(id);
const ui = {
  form: $("connect-form"), user: $("user"), room: $("room"), connect: $("connect"),
  status: $("status"), statusText: $("status-text"), who: $("who"), connectionId: $("connection-id"),
  lastClose: $("last-close"), rtt: $("rtt"), roomTitle: $("room-title"), count: $("count"),
  messages: $("messages"), empty: $("empty"), typing: $("typing"), composer: $("composer"),
  text: $("text"), send: $("send"), log: $("log"), backend: $("backend-origin"),
  notice: $("notice"), removeForm: $("remove-form"), removeUser: $("remove-user"),
  remove: $("remove"), removeResult: $("remove-result"), ttl: $("ttl"), expires: $("expires"),
  refreshes: $("refreshes"), members: $("members"), membersCount: $("members-count"),
  conversations: $("conversations"), people: $("people"), personalState: $("personal-state"),
};

let client = null;
let session = null; // { user, token, room, loaded }
/** The personal channel: one per signed-in user, kept while they switch rooms. */
let personal = null;
/** roomId → { last: string|null, unread: number }, in the order first seen. */
const conversations = new Map();
/** Whose conversations those are. */
let conversationsOf = null;
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

/** A Unix ms time as the log and the page show it: local time with seconds. */
function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** Seconds of `?ttl=` (or of the select), or null for "never expires" and anything invalid. */
function ttlSeconds(value) {
  const n = /^\d{1,6}$/.test(value ?? "") ? Number(value) : NaN;
  return n >= 1 && n <= MAX_TTL_S ? n : null;
}

/** `?ttl=<s>` selects that lifetime, adding it to the select when it is not one of the presets. */
function selectTtl(value) {
  const s = ttlSeconds(value);
  if (s === null) return;
  if (![...ui.ttl.options].some((o) => o.value === String(s))) {
    const option = document.createElement("option");
    option.value = String(s);
    option.textContent = `${s} s (from ?ttl=)`;
    ui.ttl.append(option);
  }
  ui.ttl.value = String(s);
}

/** The expiry of this connection's token: `#expires` (text, and `data-expires-at` in Unix ms). */
function showExpiry(expiresAt, connected = true) {
  ui.expires.dataset.expiresAt = expiresAt === null ? "" : String(expiresAt);
  ui.expires.textContent = !connected ? "—" : expiresAt === null ? "never" : clock(expiresAt);
}

/**
 * The online list: one `li[data-user]` per member (sorted, own user marked `.me`), and
 * `#members[data-presence]`: `on` (the list is live), `off` (the hub does not track presence in
 * a room this big: no list rather than a stale one) or `unknown` (not connected).
 */
function renderMembers(members, presence) {
  ui.members.dataset.presence = presence;
  if (members === null) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = presence === "off" ? "Presence off: too many members in this room to list them" : "Not connected";
    ui.members.replaceChildren(li);
    ui.membersCount.textContent = presence === "off" ? "presence off" : "";
    return;
  }
  const names = [...members].sort();
  ui.members.replaceChildren(...names.map((userId) => {
    const li = document.createElement("li");
    li.dataset.user = userId;
    li.textContent = userId;
    if (userId === session?.user) li.className = "me";
    return li;
  }));
  ui.membersCount.textContent = `${names.length} online`;
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
  if (e.state === "stopped" && e.reason === "identity_changed") {
    showNotice(
      `The refreshed token belongs to another user than ${session?.user ?? "this one"}: ` +
      "this tab stopped rather than switch identities silently. Connect again to continue as the new user.",
    );
  }
  const live = e.state === "open";
  if (!live) {
    // Who is online and when the token expires are only known while connected.
    renderMembers(null, "unknown");
    showExpiry(null, false);
  }
  ui.text.disabled = !live;
  ui.send.disabled = !live;
  ui.connectionId.textContent = e.connectionId ?? client?.connectionId ?? "—";
  const active = !["idle", "stopped", "closed"].includes(e.state);
  ui.connect.textContent = active ? "Disconnect" : "Connect";
  ui.connect.classList.toggle("secondary", active);
  ui.user.disabled = active;
  ui.room.disabled = active;
  ui.ttl.disabled = active;
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

/**
 * Loads the room's messages from the backend: all of them after the first `auth:ok`, and on
 * `resync` (every reconnect) those since the last frame before the disconnect, which fills the
 * gap of messages sent meanwhile. The development backend ignores `since` and answers the whole
 * list; `addMessage` drops what is already shown (by id), as an app should anyway.
 */
async function loadHistory(since = null) {
  const { room, token } = session;
  const url = since === null ? messagesUrl(room) : `${messagesUrl(room)}?since=${encodeURIComponent(since)}`;
  try {
    const r = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const body = await r.json();
    if (session?.room !== room) return;
    for (const m of body.messages ?? []) addMessage({ id: m.id, userId: m.userId, text: m.text });
  } catch (e) {
    log("history", `could not load: ${e.message}`);
  }
}

/** The conversation list: one `li[data-room]` per room, the open one `.current`. */
function renderConversations() {
  if (conversations.size === 0) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = personal ? "No conversations yet" : "Not connected";
    ui.conversations.replaceChildren(li);
    return;
  }
  ui.conversations.replaceChildren(...[...conversations].map(([room, c]) => {
    const li = document.createElement("li");
    li.dataset.room = room;
    if (room === session?.room) li.className = "current";
    const name = document.createElement("span");
    name.textContent = room;
    const badge = document.createElement("span");
    badge.className = "unread";
    badge.dataset.count = String(c.unread);
    badge.textContent = String(c.unread);
    const last = document.createElement("span");
    last.className = "last";
    last.textContent = c.last ?? "—";
    li.append(name, badge, last);
    li.addEventListener("click", () => openRoom(room));
    return li;
  }));
}

/** Everyone the page knows of (the demo's users), with a dot: online or not. */
function renderPeople() {
  const known = [...ui.user.options].filter((o) => !o.dataset.token).map((o) => o.value);
  const online = personal?.online ?? null;
  ui.people.replaceChildren(...known.filter((u) => u !== session?.user).map((userId) => {
    const li = document.createElement("li");
    li.dataset.user = userId;
    li.dataset.online = String(online?.has(userId) ?? false);
    li.textContent = userId;
    return li;
  }));
}

function conversation(room) {
  if (!conversations.has(room)) conversations.set(room, { last: null, unread: 0 });
  return conversations.get(room);
}

/** Switches the open room (the personal channel stays). */
function openRoom(room) {
  if (room === session?.room && client?.state === "open") return;
  ui.room.value = room;
  disconnect();
  connect();
}

/** The user's personal channel, opened once per signed-in user. */
function connectPersonal(user, token) {
  // A stopped channel (4409 too_many_connections, removed…) stays stopped until the user
  // connects again by hand: the room's own reconnects do not retry it.
  if (personal?.user === user && personal.state !== "closed") return;
  personal?.close();
  // The list is this user's: kept across their reconnects, emptied for another user.
  if (conversationsOf !== user) conversations.clear();
  conversationsOf = user;
  const p = new NativorChatClient({ url: userUrl(location.origin, user), user, getToken: () => token });
  p.on("state", (e) => {
    ui.personalState.dataset.state = e.state;
    ui.personalState.textContent =
      e.state === "open" ? "live" : e.state === "stopped" ? `stopped: ${e.reason || e.why}` : e.state;
    log("personal", e.state + (e.why ? ` (${e.why})` : ""));
  });
  p.on("online", (e) => {
    renderPeople();
    if (e.cause === "user:status") log("people", `${e.userId} is ${e.online?.has(e.userId) ? "online" : "offline"}`);
    else if (e.cause === "auth:ok") log("people", `online now: ${[...e.online].sort().join(", ") || "nobody"}`);
  });
  p.on("conversation:updated", (u) => {
    log("conversation:updated", { roomId: u.roomId, from: u.message?.userId });
    const c = conversation(u.roomId);
    c.last = `${u.message?.userId ?? "?"}: ${u.message?.preview ?? ""}`;
    // Unread: a message in a room that is not open here, and not this user's own.
    if (u.roomId !== session?.room && u.message?.userId !== session?.user) c.unread += 1;
    renderConversations();
  });
  p.on("error", (e) => log("personal error", e));
  personal = p;
  p.connect();
  window.personal = p;
}

function connect() {
  const user = ui.user.value;
  const room = ui.room.value.trim();
  if (!isValidRoomId(room)) {
    ui.statusText.textContent = "Room ids are 1–128 of A-Z a-z 0-9 _ - . :";
    ui.status.dataset.state = "stopped";
    return;
  }
  const ttl = ttlSeconds(ui.ttl.value);
  const token = ui.user.selectedOptions[0]?.dataset.token ?? (ttl === null ? `dev:${user}` : `dev:${user}:ttl=${ttl}`);
  session = { user, token, room, loaded: false };
  messages.clear();
  renderMessages();
  renderMembers(null, "unknown");
  showExpiry(null, false);
  ui.refreshes.dataset.count = "0";
  ui.refreshes.textContent = "0";
  ui.roomTitle.textContent = room;
  ui.who.textContent = user;
  ui.lastClose.textContent = "—";
  ui.rtt.textContent = "—";
  showNotice("");
  const c = new NativorChatClient({
    url: roomUrl(location.origin, room),
    roomId: room,
    // A real app returns a newly issued token when forceRefresh is true (before expiry, and
    // after 4401 unauthorized/reauth_required/token_expired). The development backend gives a
    // `dev:<user>:ttl=<s>` token a new expiry at every check, so the same string is "fresh".
    getToken: () => token,
  });
  c.on("state", (e) => {
    showState(e);
    log("state", e.state + (e.why ? ` (${e.why})` : ""));
  });
  c.on("auth:ok", (f) => {
    ui.who.textContent = f.userId ?? user;
    session.user = f.userId ?? user;
    // Opened once the room knows this user, so the backend counts them in the room.
    connectPersonal(session.user, token);
    const open = conversation(room);
    open.unread = 0;
    renderConversations();
    renderPeople();
    ui.connectionId.textContent = f.connectionId;
    log("auth:ok", f);
    showExpiry(f.expiresAt);
    log("token", f.expiresAt === null ? "never expires" : `expires at ${clock(f.expiresAt)}`);
    c.ping(); // a first round trip now; the client keeps pinging every 25 s
    // The first authentication loads the room; every later one is followed by `resync`.
    if (!session.loaded) {
      session.loaded = true;
      loadHistory();
    }
  });
  c.on("members", (e) => {
    renderMembers(e.members, e.members !== null ? "on" : e.cause === "disconnected" ? "unknown" : "off");
    if (e.cause === "join") log("presence", `${e.userId} is online`);
    else if (e.cause === "leave") log("presence", `${e.userId} went offline`);
    else if (e.cause === "off") log("presence", "off: too many members in this room, the list is unknown");
    else if (e.cause === "on") log("presence", `on again: ${[...e.members].sort().join(", ")}`);
    else if (e.cause === "auth:ok") {
      log("presence", e.members === null ? "off in this room" : `online: ${[...e.members].sort().join(", ")}`);
    }
  });
  c.on("refresh", (r) => {
    if (r.phase === "scheduled") {
      const retry = r.attempt > 0 ? ` (retry ${r.attempt}: the backend could not check the last one)` : "";
      log("token", `refresh in ${(r.delayMs / 1000).toFixed(1)} s${retry}`);
    } else if (r.phase === "sent") {
      log("token", "refreshing: auth:refresh sent with a fresh token");
    } else {
      log("token", `no in-band refresh: ${r.why}; the hub will close with token_expired and the client reconnects`);
    }
  });
  c.on("auth:refreshed", (f) => {
    showExpiry(f.expiresAt);
    const n = Number(ui.refreshes.dataset.count || 0) + 1;
    ui.refreshes.dataset.count = String(n);
    ui.refreshes.textContent = String(n);
    log("token", `refreshed, now expires ${f.expiresAt === null ? "never" : `at ${clock(f.expiresAt)}`}`);
  });
  c.on("resync", ({ since }) => {
    log("resync", `since ${clock(since)} (${since}): reloading the messages sent meanwhile`);
    loadHistory(since);
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
    if (!["message.created", "pong", "error", "auth:ok", "auth:refreshed", "presence"].includes(f.type)) log("frame", f);
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
  if (client && !["stopped", "closed"].includes(client.state)) {
    disconnect();
    personal?.close();
    personal = null;
    renderConversations();
    renderPeople();
  } else {
    // Connecting by hand retries a personal channel that stopped.
    if (personal?.state === "stopped") personal.close();
    connect();
  }
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
if (params.get("ttl")) selectTtl(params.get("ttl"));
ui.roomTitle.textContent = ui.room.value;
if (params.get("autoconnect") === "1") connect();
