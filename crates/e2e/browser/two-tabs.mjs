// The browser end-to-end test's driver (run by crates/e2e/tests/e2e/browser.rs).
//
//   node crates/e2e/browser/two-tabs.mjs --hub http://127.0.0.1:PORT \
//        --backend http://127.0.0.1:PORT --room ROOM --out target/e2e-artifacts
//
// Debian's Chromium (/usr/bin/chromium), headless, driven by playwright-core: two tabs of the
// demo page as alice and bob in one room. Each sees the other join the online list; alice's
// token lives 3 s and is refreshed in band, without a reconnect. Typing on one shows on the
// other; a message sent by one (Korean included) appears exactly once on each; after the
// runtime restarts, both reconnect on their own. bob's tab closes and alice sees him leave;
// it comes back. Then alice removes bob through the demo's "Remove" action (the development
// backend's DELETE …/participants/bob, which disconnects bob through the hub): bob's tab says
// it was removed and stays stopped, alice sees him leave, and her tab keeps working.
//
// Talks to the Rust side by lines: stdout `STEP …` (progress), `RESTART` (restart the hub
// now), then `DONE {json}` or `FAIL …`; stdin `RESTARTED` (the hub is back) or `ABORT`.
// Every wait is bounded; the whole run too (WATCHDOG_MS).
import { chromium } from "playwright-core";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createInterface } from "node:readline";
import { tmpdir } from "node:os";
import { join } from "node:path";

const WATCHDOG_MS = 110_000;
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const started = Date.now();
const elapsed = () => Date.now() - started;

function args() {
  const out = {};
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i += 2) out[a[i].replace(/^--/, "")] = a[i + 1];
  for (const k of ["hub", "backend", "room", "out"]) {
    if (!out[k]) throw new Error(`missing --${k}`);
  }
  return out;
}

const say = (line) => process.stdout.write(`${line}\n`);
const step = (text) => say(`STEP ${(elapsed() / 1000).toFixed(1)}s ${text}`);

// stdin lines, awaited one at a time with a bound.
const lines = [];
let waiter = null;
createInterface({ input: process.stdin }).on("line", (l) => {
  lines.push(l.trim());
  waiter?.();
});
async function nextLine(timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (lines.length === 0) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no line on stdin within ${timeoutMs} ms`);
    await new Promise((resolve) => {
      const t = setTimeout(resolve, left);
      waiter = () => {
        clearTimeout(t);
        resolve();
      };
    });
    waiter = null;
  }
  return lines.shift();
}

async function openTab(context, opts, user, pageErrors, query = "") {
  const page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(`${user}: ${e.message}`));
  page.on("console", (m) => {
    // Refused connections while the hub restarts are expected; anything else is worth seeing.
    if (m.type() === "error" && !m.text().includes("WebSocket connection to")) {
      step(`${user} console error: ${m.text()}`);
    }
  });
  const url = `${opts.hub}/?backend=${encodeURIComponent(opts.backend)}${query}`;
  const resp = await page.goto(url, { timeout: 20_000 });
  if (!resp?.ok()) throw new Error(`${user}: GET ${url} → ${resp?.status()}`);
  // Pick the user and the room in the UI, as a person would.
  await page.selectOption("#user", user);
  await page.fill("#room", opts.room);
  await page.click("#connect");
  await page.waitForSelector('#status[data-state="open"]', { timeout: 20_000 });
  // Record the client's state changes and closes from now on.
  await page.evaluate(() => {
    window.__states = [];
    window.__closes = [];
    window.__errors = [];
    window.__resyncs = [];
    window.chat.on("resync", (e) => window.__resyncs.push(e.since));
    window.chat.on("state", (e) => window.__states.push(e.state));
    window.chat.on("close", (c) =>
      window.__closes.push({ code: c.code, reason: c.reason, action: c.decision.action, at: Date.now() }),
    );
    window.chat.on("error", (e) => window.__errors.push(e.code));
  });
  return page;
}

const connectionId = (page) => page.evaluate(() => window.chat.connectionId);

/** Waits until the page's online list has `user` (or, with `present` false, has not). */
async function expectMember(name, page, user, present = true) {
  await page
    .waitForFunction(
      ([u, want]) => Boolean(document.querySelector(`#members li[data-user="${u}"]`)) === want,
      [user, present],
      { timeout: 10_000 },
    )
    .catch(async () => {
      const list = await page.$eval("#members", (el) => el.textContent);
      throw new Error(`${name}'s online list ${present ? "lacks" : "still shows"} ${user}: ${JSON.stringify(list)}`);
    });
}

/** How many messages with exactly this text the page shows. */
const countText = (page, text) =>
  page.evaluate(
    (t) => [...document.querySelectorAll("#messages .message .bubble")].filter((b) => b.textContent === t).length,
    text,
  );

/** Waits until the message shows on both pages, lets duplicates arrive, then expects one each. */
async function expectOnceOnEach(pages, text) {
  for (const [name, page] of pages) {
    await page.waitForFunction(
      (t) => [...document.querySelectorAll("#messages .message .bubble")].some((b) => b.textContent === t),
      text,
      { timeout: 15_000 },
    ).catch(() => {
      throw new Error(`${name} never showed ${JSON.stringify(text)}`);
    });
  }
  await new Promise((r) => setTimeout(r, 1_500));
  for (const [name, page] of pages) {
    const n = await countText(page, text);
    if (n !== 1) throw new Error(`${name} shows ${JSON.stringify(text)} ${n} times, expected exactly once`);
  }
}

async function typingText(page) {
  return page.$eval("#typing", (el) => el.textContent);
}

async function main() {
  const opts = args();
  mkdirSync(opts.out, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), "nativor-chromium-"));
  let browser = null;
  let pages = [];
  const watchdog = setTimeout(async () => {
    say(`FAIL watchdog: the run took over ${WATCHDOG_MS} ms`);
    await browser?.close().catch(() => {});
    process.exit(1);
  }, WATCHDOG_MS);
  try {
    step(`launching ${CHROMIUM}`);
    // launchPersistentContext: a fresh --user-data-dir of our own for every run.
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1100, height: 720 },
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      timeout: 30_000,
    });
    browser = context;
    context.setDefaultTimeout(15_000);
    for (const p of context.pages()) await p.close();
    const pageErrors = [];
    // alice's token expires after 3 s: the client refreshes it in band at ~80 %.
    const alice = await openTab(context, opts, "alice", pageErrors, "&ttl=3");
    let bob = await openTab(context, opts, "bob", pageErrors);
    pages = [["alice", alice], ["bob", bob]];
    const before = { alice: await connectionId(alice), bob: await connectionId(bob) };
    if (!before.alice || !before.bob || before.alice === before.bob) {
      throw new Error(`bad connection ids ${JSON.stringify(before)}`);
    }
    step(`both tabs connected (${JSON.stringify(before)})`);
    await expectMember("alice", alice, "bob");
    await expectMember("bob", bob, "alice");
    step("each tab shows the other online");

    // Two in-band refreshes of alice's 3 s token: same connection, no reconnect.
    await alice.waitForFunction(() => Number(document.querySelector("#refreshes").dataset.count) >= 2, null, {
      timeout: 15_000,
    }).catch(async () => {
      const st = await alice.evaluate(() => ({ states: window.__states, closes: window.__closes, errors: window.__errors }));
      throw new Error(`alice's token was not refreshed twice in band: ${JSON.stringify(st)}`);
    });
    const refreshed = await alice.evaluate(() => ({
      connectionId: window.chat.connectionId,
      states: window.__states,
      expiresAt: Number(document.querySelector("#expires").dataset.expiresAt),
    }));
    if (refreshed.connectionId !== before.alice || refreshed.states.length !== 0 || !(refreshed.expiresAt > Date.now())) {
      throw new Error(`alice's refreshes were not in band: ${JSON.stringify(refreshed)}`);
    }
    step(`alice's 3 s token was refreshed twice on the same connection (expires ${refreshed.expiresAt})`);

    // Typing on alice's tab shows on bob's.
    await alice.locator("#text").pressSequentially("Hello bob, this is al", { delay: 25 });
    await bob.waitForFunction(() => document.querySelector("#typing").textContent === "alice is typing…", null, {
      timeout: 10_000,
    });
    if ((await typingText(alice)) !== "") throw new Error("alice sees herself typing");
    step("bob sees “alice is typing…”");

    // A message alice sends appears exactly once on each tab, and her typing indicator goes.
    const first = "Hello bob, c’est alice: ça va?";
    await alice.fill("#text", first);
    await alice.press("#text", "Enter");
    await expectOnceOnEach(pages, first);
    await bob.waitForFunction(() => document.querySelector("#typing").textContent === "", null, { timeout: 10_000 });
    step("alice's message shows exactly once on each tab; the typing indicator cleared");

    const reply = "안녕하세요 alice! bob 입니다.";
    await bob.locator("#text").pressSequentially("Hi alice!", { delay: 20 });
    await alice.waitForFunction(() => document.querySelector("#typing").textContent === "bob is typing…", null, {
      timeout: 10_000,
    });
    await bob.fill("#text", reply);
    await bob.click("#send");
    await expectOnceOnEach(pages, reply);
    step("bob's reply shows exactly once on each tab");

    // bob's resume ticket (the e2e hub has RESUME_SECRET): kept in memory by the client.
    const bobTicket = await bob.evaluate(() => window.chat.resumeTicket);
    if (typeof bobTicket !== "string" || bobTicket === "") throw new Error("bob's tab holds no resume ticket");
    // The runtime restarts: both tabs must notice and reconnect on their own.
    say("RESTART");
    const answer = await nextLine(90_000);
    if (answer !== "RESTARTED") throw new Error(`expected RESTARTED, got ${JSON.stringify(answer)}`);
    const restartedAt = Date.now();
    step("hub restarted; waiting for both tabs to reconnect");
    const reconnectMs = {};
    await Promise.all(
      pages.map(async ([name, page]) => {
        await page.waitForFunction(
          (old) => window.chat.state === "open" && window.chat.connectionId && window.chat.connectionId !== old,
          before[name],
          { timeout: 60_000, polling: 100 },
        ).catch(async () => {
          const st = await page.evaluate(() => ({ state: window.chat.state, closes: window.__closes }));
          throw new Error(`${name} did not reconnect within 60 s of the restart: ${JSON.stringify(st)}`);
        });
        reconnectMs[name] = Date.now() - restartedAt;
      }),
    );
    const history = {};
    for (const [name, page] of pages) {
      history[name] = await page.evaluate(() => ({ states: window.__states, closes: window.__closes }));
      if (!history[name].states.includes("reconnecting")) {
        throw new Error(`${name} never went through "reconnecting": ${JSON.stringify(history[name])}`);
      }
    }
    step(`both tabs reconnected on their own (${JSON.stringify(reconnectMs)} ms after the hub was back)`);
    // Each tab was told to fetch what it missed, since its last frame before the restart.
    for (const [name, page] of pages) {
      const resyncs = await page.evaluate(() => window.__resyncs);
      if (resyncs.length !== 1 || !(resyncs[0] > started && resyncs[0] <= restartedAt)) {
        throw new Error(`${name}'s resync events after the restart: ${JSON.stringify(resyncs)}`);
      }
    }
    step("each tab got one resync event, since its last frame before the restart");
    // bob came back on his ticket: the hub echoes a ticket only when it admitted the socket
    // by it (a participants check would have issued a new one).
    const bobAfter = await bob.evaluate(() => window.chat.resumeTicket);
    if (bobAfter !== bobTicket) throw new Error("bob's tab was not resumed by its ticket after the restart");
    step("bob's tab came back on its resume ticket, without a participants check");

    // The room works again, through the backend and the hub.
    const after = "Back after the restart: did you notice?";
    await alice.fill("#text", after);
    await alice.press("#text", "Enter");
    await expectOnceOnEach(pages, after);
    for (const [name, page] of pages) {
      for (const text of [first, reply]) {
        const n = await countText(page, text);
        if (n !== 1) throw new Error(`${name} shows ${JSON.stringify(text)} ${n} times after reconnecting`);
      }
    }
    step("a message after the restart shows exactly once on each tab");
    // Typing works after the restart too (and shows in alice's screenshot). Typing is not
    // kept for a socket that is reconnecting (alice's 3 s token may expire right after the
    // restart, and her tab then reconnects): bob keeps typing, as a person does, and his
    // client repeats `isTyping: true` every 3 s, until alice sees it.
    const typedAt = Date.now();
    const sawTyping = () =>
      alice.waitForFunction(() => document.querySelector("#typing").textContent === "bob is typing…", null, {
        timeout: 4_000,
      }).then(() => true, () => false);
    let seen = false;
    for (const words of ["Yes, for a second", " — and still typing", " — still here"]) {
      await bob.locator("#text").pressSequentially(words, { delay: 25 });
      if ((seen = await sawTyping())) break;
    }
    if (!seen) {
      const st = await alice.evaluate(() => ({ now: Date.now(), closes: window.__closes, states: window.__states, log: [...document.querySelectorAll("#log li")].slice(0, 40).map((li) => li.textContent) }));
      throw new Error(`alice never saw bob typing after the restart (typed from ${typedAt}): ${JSON.stringify(st)}`);
    }
    step("alice sees “bob is typing…” after the restart");
    if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join("; ")}`);

    // bob's tab closes: alice sees him leave. He opens it again: alice sees him join.
    await bob.close();
    await expectMember("alice", alice, "bob", false);
    step("bob's tab closed; alice's online list dropped him");
    bob = await openTab(context, opts, "bob", pageErrors);
    pages = [["alice", alice], ["bob", bob]];
    await expectMember("alice", alice, "bob");
    await expectMember("bob", bob, "alice");
    step("bob's tab is back; each tab shows the other online again");

    const screenshots = [];
    for (const [name, page] of pages) {
      const file = join(opts.out, `browser-two-tabs-${name}.png`);
      await page.screenshot({ path: file });
      screenshots.push(file);
    }

    // alice removes bob through the demo's "Remove" action (the development backend's
    // DELETE …/participants/bob, which asks the hub to disconnect bob with reason `removed`).
    const aliceConnection = await connectionId(alice);
    const bobClosesBefore = await bob.evaluate(() => window.__closes.length);
    await alice.fill("#remove-user", "bob");
    const removeButton = await alice.$eval("#remove", (b) => ({ text: b.textContent, disabled: b.disabled }));
    if (removeButton.text !== "Remove bob" || removeButton.disabled) {
      throw new Error(`the remove button is ${JSON.stringify(removeButton)}, expected an enabled "Remove bob"`);
    }
    const [removeResponse] = await Promise.all([
      alice.waitForResponse(
        (r) => r.request().method() === "DELETE" && r.url().endsWith(`/participants/bob`),
        { timeout: 15_000 },
      ),
      alice.click("#remove"),
    ]);
    const removed = { status: removeResponse.status(), body: await removeResponse.json().catch(() => null) };
    if (removed.status !== 200 || removed.body?.removed !== "bob" || removed.body?.hub?.disconnected !== 1) {
      throw new Error(`the backend's remove answered ${JSON.stringify(removed)}, expected bob removed, 1 disconnected`);
    }
    await alice.waitForFunction(() => document.querySelector("#remove-result").dataset.outcome === "ok", null, {
      timeout: 10_000,
    });
    const removeResult = await alice.$eval("#remove-result", (el) => el.textContent);
    if (!removeResult.includes("Removed bob")) throw new Error(`alice's tab says ${JSON.stringify(removeResult)}`);
    step(`alice removed bob through the demo (${JSON.stringify(removed.body)})`);

    // bob's tab stops and says why.
    await bob.waitForFunction(() => window.chat.state === "stopped", null, { timeout: 10_000 }).catch(async () => {
      const st = await bob.evaluate(() => ({ state: window.chat.state, closes: window.__closes }));
      throw new Error(`bob's tab did not stop after the removal: ${JSON.stringify(st)}`);
    });
    const bobView = () =>
      bob.evaluate(() => ({
        state: window.chat.state,
        status: document.querySelector("#status-text").textContent,
        reason: document.querySelector("#status").dataset.reason,
        notice: document.querySelector("#notice").hidden ? "" : document.querySelector("#notice").textContent,
        lastClose: document.querySelector("#last-close").textContent,
        closes: window.__closes,
        states: window.__states,
        errors: window.__errors,
        sendDisabled: document.querySelector("#send").disabled,
      }));
    const removedView = await bobView();
    const bobCloses = removedView.closes.slice(bobClosesBefore);
    if (
      removedView.status !== "Removed from this room by the backend" ||
      removedView.reason !== "removed" ||
      !removedView.notice.includes("removed from") ||
      !removedView.errors.includes("removed") ||
      !removedView.sendDisabled ||
      bobCloses.length !== 1 ||
      bobCloses[0].code !== 4403 ||
      bobCloses[0].reason !== "removed" ||
      bobCloses[0].action !== "stop"
    ) {
      throw new Error(`bob's tab after the removal: ${JSON.stringify(removedView)}`);
    }
    step(`bob's tab says “${removedView.status}” (close ${removedView.lastClose})`);
    await expectMember("alice", alice, "bob", false);
    step("alice's online list dropped bob");

    // bob stays stopped (no reconnect); alice stays connected on the same connection.
    await new Promise((r) => setTimeout(r, 2_500));
    const later = await bobView();
    if (
      later.state !== "stopped" ||
      later.closes.length !== removedView.closes.length ||
      later.states.length !== removedView.states.length ||
      later.status !== removedView.status
    ) {
      throw new Error(`bob's tab did not stay stopped: ${JSON.stringify(later)}`);
    }
    const aliceState = await alice.evaluate(() => ({ state: window.chat.state, connectionId: window.chat.connectionId }));
    if (aliceState.state !== "open" || aliceState.connectionId !== aliceConnection) {
      throw new Error(`alice's tab lost its connection when bob was removed: ${JSON.stringify(aliceState)}`);
    }
    step("bob's tab stays stopped 2.5 s later; alice's tab is still connected");

    // alice's tab keeps working: her message goes through the backend and the hub.
    const afterRemove = "bob was removed; still here.";
    await alice.fill("#text", afterRemove);
    await alice.press("#text", "Enter");
    await expectOnceOnEach([["alice", alice]], afterRemove);
    if ((await countText(bob, afterRemove)) !== 0) throw new Error("bob's tab got a message after its removal");
    const alicePong = await alice.evaluate(
      () =>
        new Promise((resolve) => {
          const t = setTimeout(() => resolve(null), 5_000);
          window.chat.on("pong", (p) => {
            clearTimeout(t);
            resolve(p);
          });
          window.chat.ping();
        }),
    );
    if (!alicePong) throw new Error("alice's tab got no pong after bob's removal");
    step("alice's tab still sends messages and gets pongs after bob's removal");
    if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join("; ")}`);
    for (const [name, page] of pages) {
      const file = join(opts.out, `browser-two-tabs-${name}-after-remove.png`);
      await page.screenshot({ path: file });
      screenshots.push(file);
    }
    say(`DONE ${JSON.stringify({ ms: elapsed(), reconnectMs, closes: { alice: history.alice.closes, bob: history.bob.closes }, removed: { hub: removed.body.hub, bob: removedView.status }, screenshots })}`);
    await context.close();
    browser = null;
  } catch (e) {
    for (const [name, page] of pages) {
      await page.screenshot({ path: join(opts.out, `browser-two-tabs-${name}-failed.png`) }).catch(() => {});
    }
    say(`FAIL ${String(e?.message ?? e).replace(/\s+/g, " ")}`);
    process.exitCode = 1;
  } finally {
    clearTimeout(watchdog);
    await browser?.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
  process.exit(process.exitCode ?? 0);
}

main().catch((e) => {
  say(`FAIL ${String(e?.message ?? e).replace(/\s+/g, " ")}`);
  process.exit(1);
});
