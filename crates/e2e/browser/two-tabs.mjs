// The browser end-to-end test's driver (run by crates/e2e/tests/e2e/browser.rs).
//
//   node crates/e2e/browser/two-tabs.mjs --hub http://127.0.0.1:PORT \
//        --backend http://127.0.0.1:PORT --room ROOM --out target/e2e-artifacts
//
// Debian's Chromium (/usr/bin/chromium), headless, driven by playwright-core: two tabs of the
// demo page as alice and bob in one room. Typing on one shows on the other; a message sent by
// one appears exactly once on each; after the runtime restarts, both reconnect on their own.
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

async function openTab(context, opts, user, pageErrors) {
  const page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(`${user}: ${e.message}`));
  page.on("console", (m) => {
    // Refused connections while the hub restarts are expected; anything else is worth seeing.
    if (m.type() === "error" && !m.text().includes("WebSocket connection to")) {
      step(`${user} console error: ${m.text()}`);
    }
  });
  const url = `${opts.hub}/?backend=${encodeURIComponent(opts.backend)}`;
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
    window.chat.on("state", (e) => window.__states.push(e.state));
    window.chat.on("close", (c) => window.__closes.push({ code: c.code, action: c.decision.action }));
  });
  return page;
}

const connectionId = (page) => page.evaluate(() => window.chat.connectionId);

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
    const alice = await openTab(context, opts, "alice", pageErrors);
    const bob = await openTab(context, opts, "bob", pageErrors);
    pages = [["alice", alice], ["bob", bob]];
    const before = { alice: await connectionId(alice), bob: await connectionId(bob) };
    if (!before.alice || !before.bob || before.alice === before.bob) {
      throw new Error(`bad connection ids ${JSON.stringify(before)}`);
    }
    step(`both tabs connected (${JSON.stringify(before)})`);

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

    const reply = "Hi alice! bob here.";
    await bob.locator("#text").pressSequentially("Hi alice!", { delay: 20 });
    await alice.waitForFunction(() => document.querySelector("#typing").textContent === "bob is typing…", null, {
      timeout: 10_000,
    });
    await bob.fill("#text", reply);
    await bob.click("#send");
    await expectOnceOnEach(pages, reply);
    step("bob's reply shows exactly once on each tab");

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
    // Typing works after the restart too (and shows in alice's screenshot).
    await bob.locator("#text").pressSequentially("Yes, for a second", { delay: 25 });
    await alice.waitForFunction(() => document.querySelector("#typing").textContent === "bob is typing…", null, {
      timeout: 10_000,
    });
    step("alice sees “bob is typing…” after the restart");
    if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join("; ")}`);

    const screenshots = [];
    for (const [name, page] of pages) {
      const file = join(opts.out, `browser-two-tabs-${name}.png`);
      await page.screenshot({ path: file });
      screenshots.push(file);
    }
    say(`DONE ${JSON.stringify({ ms: elapsed(), reconnectMs, closes: { alice: history.alice.closes, bob: history.bob.closes }, screenshots })}`);
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
