// The driver's race table (tests/driver-rows.mjs) inside a real workerd isolate: the servers'
// build (its glue, wasm and js/shell.js), driven in its workerd mode on a fake runtime of its
// own, since workerd has no mock timers: a clock (Date.now, performance.now) that moves only
// when a row says so, and a setTimeout that records each timer and fires it when the clock
// passes it. Each request runs one row, `GET /?row=<index>`, and answers "ok" or what failed.
// Run by tests/node/35-driver.test.mjs, which copies this beside the build (./build/).
import assert from "node:assert/strict";
import { initSync, Core } from "./build/tokenkit.js";
import * as shell from "./build/shell.js";
import wasm from "./build/tokenkit_bg.wasm";
import { fakeClient, rows } from "./driver-rows.js";

initSync({ module: wasm });
const TokenClient = shell.clientClass(Core, () => {}, "");
shell.setRuntime("workerd");

const realSetTimeout = globalThis.setTimeout;
let now = 1_700_000_000_000;
let timers = [];
let delays = [];
Date.now = () => now;
performance.now = () => now - 1_699_999_000_000;
globalThis.setTimeout = (f, ms) => {
  delays.push(ms);
  const t = { at: now + Math.max(0, ms), f };
  timers.push(t);
  return t;
};
globalThis.clearTimeout = (t) => (timers = timers.filter((x) => x !== t));

/** Lets every promise the driver waits on run: real turns of the isolate's event loop. */
async function settle() {
  for (let i = 0; i < 20; i++) await new Promise((r) => realSetTimeout(r, 0));
}

/** The clock moved on by `ms`: each timer that came due fires, in order, with the clock at its time. */
async function tick(ms) {
  const end = now + ms;
  for (;;) {
    const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
    if (due === undefined) break;
    timers = timers.filter((t) => t !== due);
    now = Math.max(now, due.at);
    due.f();
    await settle();
  }
  now = end;
  await settle();
}

function harness(options = {}) {
  now = 1_700_000_000_000;
  timers = [];
  delays = [];
  const { client, calls, api } = fakeClient(TokenClient, options);
  return { client, calls, api, delays, tick, settle, assert };
}

export default {
  async fetch(request) {
    const row = rows[Number(new URL(request.url).searchParams.get("row"))];
    if (row === undefined) return new Response(String(rows.length));
    const h = harness(row.options);
    try {
      await row.run(h, "workerd");
      return new Response("ok");
    } catch (e) {
      return new Response(`${e?.stack ?? e}`, { status: 500 });
    } finally {
      h.client.free();
    }
  },
};
