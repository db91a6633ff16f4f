// The reconnect policy (`decideReconnect`), the jitter (`fullJitter`) and the timing of the
// in-band token refresh (`refreshDelay`, `refreshRetryDelay`), without a socket.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CloseCode, DEFAULTS, decideReconnect, fullJitter, refreshDelay, refreshRetryDelay } from "../nativor-chat.js";

const ALMOST_ONE = 1 - Number.EPSILON;
const decide = (p) => decideReconnect({ random: () => 0.5, ...p });

test("full jitter: uniform in [0, min(cap, base * 2^attempt))", () => {
  assert.equal(fullJitter(0, 1000, 30_000, () => 0), 0);
  assert.equal(fullJitter(0, 1000, 30_000, () => 0.5), 500);
  assert.equal(fullJitter(0, 1000, 30_000, () => ALMOST_ONE), 999);
  assert.equal(fullJitter(3, 1000, 30_000, () => 0.5), 4000);
  assert.equal(fullJitter(3, 1000, 30_000, () => ALMOST_ONE), 7999);
  // The cap bounds the window, however many attempts.
  assert.equal(fullJitter(5, 1000, 30_000, () => 0.5), 15_000);
  assert.equal(fullJitter(50, 1000, 30_000, () => ALMOST_ONE), 29_999);
  assert.equal(fullJitter(10_000, 1000, 30_000, () => 0.25), 7500);
});

test("full jitter: bad inputs stay inside the window", () => {
  assert.equal(fullJitter(-3, 1000, 30_000, () => 0.5), 500);
  assert.equal(fullJitter(NaN, 1000, 30_000, () => 0.5), 500);
  assert.equal(fullJitter(0, 1000, 30_000, () => 7), 999);
  assert.equal(fullJitter(0, 1000, 30_000, () => -1), 0);
  assert.equal(fullJitter(0, 1000, 30_000, () => NaN), 0);
  assert.equal(fullJitter(0, 0, 30_000, () => 0.5), 0);
});

test("full jitter spreads a crowd over the whole window (a deploy disconnects everyone)", () => {
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const delays = Array.from({ length: 10_000 }, () => fullJitter(2, 1000, 30_000, random));
  assert.ok(delays.every((d) => d >= 0 && d < 4000));
  const buckets = [0, 0, 0, 0];
  for (const d of delays) buckets[Math.floor(d / 1000)] += 1;
  for (const b of buckets) assert.ok(b > 2000 && b < 3000, `uneven: ${buckets}`);
});

test("4401 unauthorized: refresh the token once, then stop", () => {
  const first = decide({ code: 4401, reason: "unauthorized", attempt: 0, tokenRefreshed: false });
  assert.deepEqual([first.action, first.delayMs], ["refresh-token", 0]);
  const again = decide({ code: 4401, reason: "unauthorized", attempt: 0, tokenRefreshed: true });
  assert.equal(again.action, "stop");
});

test("4401 auth_unavailable, auth_timeout or no reason: back off with full jitter", () => {
  for (const reason of ["auth_unavailable", "auth_timeout", ""]) {
    for (const attempt of [0, 1, 4, 20]) {
      const d = decide({ code: 4401, reason, attempt });
      const window = Math.min(DEFAULTS.maxDelayMs, DEFAULTS.backoffBaseMs * 2 ** attempt);
      assert.deepEqual([d.action, d.delayMs], ["retry", Math.floor(window / 2)], `${reason} ${attempt}`);
    }
    // Even a refreshed token does not stop a client the backend merely failed to check.
    assert.equal(decide({ code: 4401, reason, tokenRefreshed: true }).action, "retry");
  }
});

test("4403 room_mismatch: stop", () => {
  assert.equal(decide({ code: 4403, reason: "room_mismatch" }).action, "stop");
  assert.equal(decide({ code: 4403 }).action, "stop");
});

test("4401 reauth_required: always a fresh token, after a jittered wait that grows", () => {
  for (const tokenRefreshed of [false, true]) {
    for (const attempt of [0, 1, 3, 12]) {
      const d = decide({ code: 4401, reason: "reauth_required", attempt, tokenRefreshed });
      const window = Math.min(DEFAULTS.maxDelayMs, DEFAULTS.soonBaseMs * 2 ** attempt);
      assert.deepEqual([d.action, d.delayMs], ["refresh-token", Math.floor(window / 2)], `${attempt}`);
      assert.match(d.why, /^reauth_required/);
    }
  }
  // Never stops, however unlucky the draw; not the same as `auth_unavailable`'s same-token retry.
  assert.equal(decide({ code: 4401, reason: "reauth_required", random: () => 0 }).delayMs, 0);
  assert.equal(decide({ code: 4401, reason: "auth_unavailable" }).action, "retry");
});

test("4401 token_expired: like reauth_required, a fresh token then a jittered reconnect, never a stop", () => {
  for (const tokenRefreshed of [false, true]) {
    for (const attempt of [0, 2, 12]) {
      const d = decide({ code: 4401, reason: "token_expired", attempt, tokenRefreshed });
      const window = Math.min(DEFAULTS.maxDelayMs, DEFAULTS.soonBaseMs * 2 ** attempt);
      assert.deepEqual([d.action, d.delayMs], ["refresh-token", Math.floor(window / 2)], `${attempt}`);
      assert.match(d.why, /^token_expired: /);
    }
  }
  assert.equal(decide({ code: 4401, reason: "token_expired", random: () => 0 }).delayMs, 0);
});

test("4401 identity_changed: stop, saying identity_changed (even before any refresh)", () => {
  for (const tokenRefreshed of [false, true]) {
    const d = decide({ code: 4401, reason: "identity_changed", attempt: 3, tokenRefreshed });
    assert.deepEqual([d.action, d.delayMs], ["stop", 0]);
    assert.match(d.why, /^identity_changed: /);
  }
});

test("4403 removed: stop, saying why", () => {
  const d = decide({ code: 4403, reason: "removed", attempt: 0 });
  assert.deepEqual([d.action, d.delayMs], ["stop", 0]);
  assert.match(d.why, /^removed: /);
  assert.equal(decide({ code: 4403, reason: "removed", tokenRefreshed: true }).action, "stop");
  assert.match(decide({ code: 4403, reason: "room_mismatch" }).why, /^room_mismatch: /);
});

test("4429 rate_limited: a long backoff, never shorter than the floor", () => {
  const floor = DEFAULTS.rateLimitedFloorMs;
  assert.deepEqual(
    [decide({ code: 4429, reason: "rate_limited", random: () => 0 }).action,
     decide({ code: 4429, reason: "rate_limited", random: () => 0 }).delayMs],
    ["retry", floor],
  );
  const high = decide({ code: 4429, reason: "rate_limited", attempt: 30, random: () => ALMOST_ONE });
  assert.equal(high.delayMs, floor + DEFAULTS.rateLimitedMaxMs - 1);
  assert.ok(decide({ code: 4429, attempt: 1 }).delayMs === floor + floor);
});

test("4503 room_full: back off", () => {
  const d = decide({ code: 4503, reason: "room_full", attempt: 2 });
  assert.deepEqual([d.action, d.delayMs], ["retry", DEFAULTS.backoffBaseMs * 2]);
});

test("1001/1006/1011/1012 (restart, deploy, network): reconnect soon, jittered", () => {
  for (const code of [1001, 1005, 1006, 1011, 1012, 1013, CloseCode.CLIENT_TIMEOUT]) {
    const d0 = decide({ code, attempt: 0, random: () => ALMOST_ONE });
    assert.deepEqual([d0.action, d0.delayMs], ["retry", DEFAULTS.soonBaseMs - 1], `code ${code}`);
    assert.equal(decide({ code, attempt: 0, random: () => 0 }).delayMs, 0);
    // Repeated failures (the hub is still down) widen the window up to the cap.
    assert.equal(decide({ code, attempt: 3 }).delayMs, 4000);
    assert.equal(decide({ code, attempt: 12 }).delayMs, DEFAULTS.maxDelayMs / 2);
  }
});

test("unknown codes and 1000 still retry; options override the defaults", () => {
  assert.equal(decide({ code: 1000 }).action, "retry");
  assert.equal(decide({ code: 1000 }).delayMs, DEFAULTS.soonBaseMs / 2);
  assert.equal(decide({ code: 4999 }).delayMs, DEFAULTS.backoffBaseMs / 2);
  assert.equal(decide({ code: 1008 }).action, "retry");
  const d = decide({ code: 1006, attempt: 6, options: { soonBaseMs: 100, maxDelayMs: 1000 } });
  assert.equal(d.delayMs, 500);
});

test("CloseCode names the hub's codes as Rust does; the old names are aliases of the same values", () => {
  // crates/hub-core CloseCode: Unauthorized 4401, Forbidden 4403, RateLimited 4429, RoomFull 4503
  // (tests/docs.rs checks these names against the Rust enum).
  assert.equal(CloseCode.UNAUTHORIZED, 4401);
  assert.equal(CloseCode.FORBIDDEN, 4403);
  assert.equal(CloseCode.RATE_LIMITED, 4429);
  assert.equal(CloseCode.ROOM_FULL, 4503);
  // Deprecated aliases, kept for apps written against the old names.
  assert.equal(CloseCode.UNAUTHENTICATED, CloseCode.UNAUTHORIZED);
  assert.equal(CloseCode.ROOM_MISMATCH, CloseCode.FORBIDDEN);
  // An alias decides exactly as its new name.
  for (const [alias, name, reason] of [
    ["UNAUTHENTICATED", "UNAUTHORIZED", "unauthorized"],
    ["UNAUTHENTICATED", "UNAUTHORIZED", "auth_timeout"],
    ["ROOM_MISMATCH", "FORBIDDEN", "removed"],
  ]) {
    assert.deepEqual(decide({ code: CloseCode[alias], reason }), decide({ code: CloseCode[name], reason }));
  }
  assert.ok(Object.isFrozen(CloseCode));
});

test("every decision carries a human-readable why", () => {
  for (const code of [1001, 1006, 4401, 4403, 4429, 4503]) {
    assert.equal(typeof decide({ code, reason: "unauthorized" }).why, "string");
  }
});

test("refreshDelay: 80 % of the remaining lifetime, measured from the announcement", () => {
  const now = 1_700_000_000_000;
  assert.equal(refreshDelay({ expiresAt: now + 3_600_000, now }), 2_880_000);
  assert.equal(refreshDelay({ expiresAt: now + 10_000, now }), 8_000);
  assert.equal(refreshDelay({ expiresAt: now + 5_000, now }), 4_000);
  // Announced late (a refresh that arrived at t+30 min of a 1 h token): 80 % of what is left.
  assert.equal(refreshDelay({ expiresAt: now + 3_600_000, now: now + 1_800_000 }), 1_440_000);
  assert.equal(refreshDelay({ expiresAt: now + 10_000, now, options: { refreshFraction: 0.5 } }), 5_000);
  // Whole milliseconds.
  assert.equal(refreshDelay({ expiresAt: now + 1_999, now }), 1_599);
});

test("refreshDelay: never sooner than refreshMinDelayMs; null without expiry or time", () => {
  const now = 5_000_000;
  // 80 % of 1.1 s would be 880 ms: clamped to the 1 s minimum (still before expiry).
  assert.equal(refreshDelay({ expiresAt: now + 1_100, now }), DEFAULTS.refreshMinDelayMs);
  assert.equal(refreshDelay({ expiresAt: now + DEFAULTS.refreshMinDelayMs, now }), DEFAULTS.refreshMinDelayMs);
  // Less than the minimum left (or expired by this clock): no in-band refresh, the hub's
  // token_expired close and the reconnect policy take over.
  assert.equal(refreshDelay({ expiresAt: now + 999, now }), null);
  assert.equal(refreshDelay({ expiresAt: now, now }), null);
  assert.equal(refreshDelay({ expiresAt: now - 60_000, now }), null);
  assert.equal(refreshDelay({ expiresAt: null, now }), null);
  assert.equal(refreshDelay({ expiresAt: undefined, now }), null);
  assert.equal(refreshDelay({ expiresAt: NaN, now }), null);
  assert.equal(refreshDelay({ expiresAt: now + 10_000, now, options: { refreshMinDelayMs: 9_000 } }), 9_000);
});

test("refreshRetryDelay: jittered backoff, at least the minimum, at most half the time left", () => {
  const now = 9_000_000;
  const hour = 3_600_000;
  // First retry: full jitter in [0, 2 s), floored at 1 s.
  assert.equal(refreshRetryDelay({ attempt: 0, expiresAt: now + hour, now, random: () => 0.75 }), 1_500);
  assert.equal(refreshRetryDelay({ attempt: 0, expiresAt: now + hour, now, random: () => 0 }), DEFAULTS.refreshMinDelayMs);
  // The window grows with the attempts, up to maxDelayMs.
  assert.equal(refreshRetryDelay({ attempt: 3, expiresAt: now + hour, now, random: () => 0.5 }), 8_000);
  assert.equal(refreshRetryDelay({ attempt: 20, expiresAt: now + hour, now, random: () => ALMOST_ONE }), DEFAULTS.maxDelayMs - 1);
  // Near expiry: half of what is left, so another try still fits.
  assert.equal(refreshRetryDelay({ attempt: 20, expiresAt: now + 10_000, now, random: () => ALMOST_ONE }), 5_000);
  assert.equal(refreshRetryDelay({ attempt: 0, expiresAt: now + 2_000, now, random: () => ALMOST_ONE }), 1_000);
  // Less than twice the minimum left: give up (null).
  assert.equal(refreshRetryDelay({ attempt: 0, expiresAt: now + 1_999, now, random: () => 0.5 }), null);
  assert.equal(refreshRetryDelay({ attempt: 0, expiresAt: now - 1, now }), null);
  assert.equal(refreshRetryDelay({ attempt: 0, expiresAt: null, now }), null);
});

test("refreshRetryDelay: a sequence of failures ends before expiry, never faster than 1/s", () => {
  // The backend stays unavailable from the 80 % mark of a 60 s token: every retry is spaced by
  // at least 1 s, each one fits before expiry, and the client gives up in time.
  for (const r of [0, 0.5, ALMOST_ONE]) {
    const expiresAt = 60_000;
    let now = 48_000;
    let tries = 0;
    for (let attempt = 0; ; attempt += 1) {
      const d = refreshRetryDelay({ attempt, expiresAt, now, random: () => r });
      if (d === null) break;
      assert.ok(d >= DEFAULTS.refreshMinDelayMs, `${d}`);
      now += d;
      assert.ok(now < expiresAt);
      tries += 1;
    }
    assert.ok(tries >= 3 && tries <= 12, `r=${r}: ${tries} tries`);
    assert.ok(expiresAt - now < 2 * DEFAULTS.refreshMinDelayMs);
  }
});
