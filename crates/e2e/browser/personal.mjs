// The browser test of personal channels (run by crates/e2e/tests/e2e/browser.rs).
//
//   node crates/e2e/browser/personal.mjs --hub http://127.0.0.1:PORT \
//        --backend http://127.0.0.1:PORT --room ROOM --other ROOM --out target/e2e-artifacts
//
// Two demo tabs, carol and dave, each with the personal channel open (the demo opens it after
// the room's auth:ok). Both join room A; dave then opens room B (his personal channel closes and
// opens again within the offline delay: carol hears nothing). A message carol sends in room A
// raises the unread badge of room A in dave's conversation list, not in hers. Then dave closes
// everything: carol sees him go offline after the delay (not before), and only once.
//
// Output lines: `STEP …`, then `DONE {json}` or `FAIL …`. Every wait is bounded.
import { chromium } from "playwright-core";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const WATCHDOG_MS = 100_000;
/** The main hub's OFFLINE_DELAY_MS (the default). */
const OFFLINE_DELAY_MS = 3_000;
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const started = Date.now();
const elapsed = () => Date.now() - started;
const say = (line) => process.stdout.write(`${line}\n`);
const step = (text) => say(`STEP ${(elapsed() / 1000).toFixed(1)}s ${text}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function args() {
  const out = {};
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i += 2) out[a[i].replace(/^--/, "")] = a[i + 1];
  for (const k of ["hub", "backend", "room", "other", "out"]) {
    if (!out[k]) throw new Error(`missing --${k}`);
  }
  return out;
}

/** Connects the page's form as it stands and waits for both connections. */
async function connectBoth(page, room) {
  await page.fill("#room", room);
  await page.click("#connect");
  await page.waitForSelector('#status[data-state="open"]', { timeout: 20_000 });
  await page.waitForSelector('#personal-state[data-state="open"]', { timeout: 20_000 });
}

async function openTab(context, opts, user, pageErrors) {
  const page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(`${user}: ${e.message}`));
  const url = `${opts.hub}/?backend=${encodeURIComponent(opts.backend)}`;
  const resp = await page.goto(url, { timeout: 20_000 });
  if (!resp?.ok()) throw new Error(`${user}: GET ${url} → ${resp?.status()}`);
  await page.selectOption("#user", user);
  await connectBoth(page, opts.room);
  return page;
}

/** Records every `user:status` the page's personal channel gets from now on (across reconnects). */
async function recordStatuses(page) {
  await page.evaluate(() => {
    window.__statuses = [];
    const watch = (p) => p.on("user:status", (f) => window.__statuses.push({ ...f, at: Date.now() }));
    watch(window.personal);
    window.__watched = window.personal;
  });
}

const statusesOf = (page, user) =>
  page.evaluate((u) => window.__statuses.filter((s) => s.userId === u), user);

async function waitFor(page, name, what, fn, arg, timeout = 10_000) {
  await page.waitForFunction(fn, arg, { timeout }).catch(async () => {
    const people = await page.$eval("#people", (el) => el.outerHTML).catch(() => "?");
    const list = await page.$eval("#conversations", (el) => el.outerHTML).catch(() => "?");
    throw new Error(`${name}: ${what} (people ${people}; conversations ${list})`);
  });
}

const isOnline = ([u, want]) =>
  document.querySelector(`#people li[data-user="${u}"]`)?.dataset.online === String(want);

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
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1100, height: 760 },
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
      timeout: 30_000,
    });
    browser = context;
    context.setDefaultTimeout(15_000);
    for (const p of context.pages()) await p.close();
    const pageErrors = [];
    const carol = await openTab(context, opts, "carol", pageErrors);
    const dave = await openTab(context, opts, "dave", pageErrors);
    pages = [["carol", carol], ["dave", dave]];
    step("carol and dave are in room A, each with the personal channel open");
    await waitFor(carol, "carol", "never saw dave online", isOnline, ["dave", true]);
    await waitFor(dave, "dave", "never saw carol online", isOnline, ["carol", true]);
    step("each one's People list shows the other online");
    await recordStatuses(carol);

    // dave opens room B: his tab reconnects both channels, within the offline delay.
    await dave.click("#connect");
    await connectBoth(dave, opts.other);
    await waitFor(dave, "dave", "room A is not in his list", (r) => Boolean(document.querySelector(`#conversations li[data-room="${r}"]`)), opts.room);
    step("dave switched to room B");

    const text = `hello from room A ${Date.now()}`;
    await carol.fill("#text", text);
    await carol.press("#text", "Enter");
    await waitFor(
      dave,
      "dave",
      "room A's badge did not show 1 unread",
      (r) => document.querySelector(`#conversations li[data-room="${r}"] .unread`)?.dataset.count === "1",
      opts.room,
    );
    const lastOnDave = await dave.$eval(`#conversations li[data-room="${opts.room}"] .last`, (el) => el.textContent);
    if (!lastOnDave.includes(text)) throw new Error(`dave's list shows ${JSON.stringify(lastOnDave)}`);
    const carolBadge = await carol.$eval(`#conversations li[data-room="${opts.room}"] .unread`, (el) => el.dataset.count);
    if (carolBadge !== "0") throw new Error(`carol has room A open, but its badge says ${carolBadge}`);
    step("carol's message in room A raised its badge in dave's list (room B open), not in hers");
    for (const [name, page] of pages) await page.screenshot({ path: join(opts.out, `browser-personal-${name}.png`) });

    // dave's room switch was a reload of his personal channel: carol heard nothing of it.
    const duringSwitch = await statusesOf(carol, "dave");
    if (duringSwitch.length !== 0) throw new Error(`carol heard dave's reload: ${JSON.stringify(duringSwitch)}`);

    // dave closes everything.
    const closedAt = Date.now();
    await dave.close();
    pages = [["carol", carol]];
    await waitFor(carol, "carol", "never saw dave go offline", isOnline, ["dave", false], OFFLINE_DELAY_MS + 10_000);
    const tookMs = Date.now() - closedAt;
    if (tookMs < OFFLINE_DELAY_MS - 500) throw new Error(`dave went offline after ${tookMs} ms, before the delay`);
    await sleep(2_000);
    const told = await statusesOf(carol, "dave");
    if (told.length !== 1 || told[0].online !== false) {
      throw new Error(`carol was told of dave ${JSON.stringify(told)}, expected one offline`);
    }
    step(`carol saw dave go offline once, ${tookMs} ms after he closed everything`);
    if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join("; ")}`);
    const shot = join(opts.out, "browser-personal-carol-after.png");
    await carol.screenshot({ path: shot });
    say(`DONE ${JSON.stringify({ ms: elapsed(), offlineAfterMs: tookMs })}`);
    await context.close();
    browser = null;
  } catch (e) {
    for (const [name, page] of pages) {
      await page.screenshot({ path: join(opts.out, `browser-personal-${name}-failed.png`) }).catch(() => {});
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
