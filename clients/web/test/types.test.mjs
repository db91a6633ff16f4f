// The hand-written declarations (nativor-chat.d.ts) against the module: every runtime export is
// declared and nothing else is, and the declared constants match the runtime ones. (Whether the
// types themselves hold up is `tsc -p clients/web/test/types`, in scripts/test.sh.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as client from "../nativor-chat.js";

const dts = readFileSync(new URL("../nativor-chat.d.ts", import.meta.url), "utf8");

/** The body of `interface name { … }` or of `const name: Readonly<{ … }>` in the declarations. */
function block(startsWith) {
  const start = dts.indexOf(startsWith);
  assert.ok(start >= 0, `${startsWith} in nativor-chat.d.ts`);
  const open = dts.indexOf("{", start);
  let depth = 0;
  for (let i = open; i < dts.length; i += 1) {
    if (dts[i] === "{") depth += 1;
    if (dts[i] === "}" && --depth === 0) return dts.slice(open + 1, i);
  }
  throw new Error(`unbalanced ${startsWith}`);
}

/** `name: value;` members at the top level of a block, comments removed. */
function members(body) {
  const plain = body.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  return [...plain.matchAll(/^\s*([A-Za-z_$][\w$]*)\??:\s*([^;]+);/gm)].map(([, name, value]) => [name, value.trim()]);
}

test("every runtime export is declared, and every declared value exists", () => {
  const declared = new Set([...dts.matchAll(/^export declare (?:const|function|class) ([A-Za-z_$][\w$]*)/gm)].map((m) => m[1]));
  assert.deepEqual([...declared].sort(), Object.keys(client).sort());
});

test("HUB_FRAME_TYPES: the declared tuple is the runtime list, in order", () => {
  const m = /export declare const HUB_FRAME_TYPES: readonly \[([^\]]*)\];/.exec(dts);
  assert.ok(m, "HUB_FRAME_TYPES tuple");
  assert.deepEqual(JSON.parse(`[${m[1]}]`), [...client.HUB_FRAME_TYPES]);
});

test("Tunables lists exactly the keys of DEFAULTS, all numbers", () => {
  const declared = members(block("export interface Tunables"));
  assert.deepEqual(declared.map(([k]) => k).sort(), Object.keys(client.DEFAULTS).sort());
  for (const [k, type] of declared) {
    assert.equal(type, "number", k);
    assert.equal(typeof client.DEFAULTS[k], "number", k);
  }
});

test("CloseCode: the declared literal values are the runtime ones", () => {
  const declared = Object.fromEntries(members(block("export declare const CloseCode")).map(([k, v]) => [k, Number(v)]));
  assert.deepEqual(declared, { ...client.CloseCode });
});

test("the event map names the client's local events and the hub's frame types", () => {
  const events = members(block("export interface NativorChatEventMap")).map(([k]) => k);
  const quoted = [...block("export interface NativorChatEventMap").matchAll(/^\s*"([^"]+)":/gm)].map((m) => m[1]);
  const names = new Set([...events, ...quoted]);
  for (const name of ["state", "open", "close", "reconnecting", "frame", "members", "refresh", "resync"]) {
    assert.ok(names.has(name), name);
  }
  for (const type of client.HUB_FRAME_TYPES) assert.ok(names.has(type), type);
});
