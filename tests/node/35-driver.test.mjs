// The one JavaScript driver (js/shell.js) on a fake runtime: a fake clock (node:test's mock
// timers for setTimeout and Date, performance.now following Date), a fake fetch whose
// answers the test gives, and every timer the driver arms recorded. Each row runs in both of
// the driver's modes: "node" (one timer per client, armed for the core's deadline) and
// "workerd" (no timer outlives a request: each waiter sleeps, in its own request, to the
// core's deadline). The counterpart of tests/machine.rs, which races the core itself; the
// broker's clients are this driver in its workerd mode (js/broker.js), so what the old Rust
// driver did differently (a 100 ms poll in Workers) is a row here. The rows are one table
// (tests/driver-rows.mjs), run here and, in workerd mode, inside a real workerd isolate on a
// fake runtime of its own (tests/workerd/driver.js, the last test below).
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fakeClient, rows } from "../driver-rows.mjs";

// The servers' build, unbundled: its glue, its wasm, and the shell module the glue imports
// (whose setRuntime switches the driver's mode).
const base = new URL("../../pkg/server/", import.meta.url);
const [snippet] = readdirSync(new URL("snippets/", base));
const shell = await import(new URL(`snippets/${snippet}/js/shell.js`, base).href);
const glue = await import(new URL("tokenkit.js", base).href);
glue.initSync({ module: readFileSync(new URL("tokenkit_bg.wasm", base)) });
const TokenClient = shell.clientClass(glue.Core, () => {}, "");

/** Lets every promise the driver is waiting on run (setImmediate is not mocked). */
async function settle() {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

/**
 * A fake runtime in `mode` and a client on it: `calls` are the token requests sent (each
 * answered by the row: `ok(body)`, `fail(error)`), `api` the API's, `delays` every timer armed.
 */
function harness(t, mode, options = {}) {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_700_000_000_000 });
  mock.method(performance, "now", () => Date.now() - 1_699_999_000_000);
  const mocked = globalThis.setTimeout;
  const delays = [];
  globalThis.setTimeout = (f, ms, ...a) => (delays.push(ms), mocked(f, ms, ...a));
  shell.setRuntime(mode);
  const { client, calls, api } = fakeClient(TokenClient, options);
  t.after(() => {
    client.free();
    globalThis.setTimeout = mocked;
    mock.timers.reset();
    mock.restoreAll();
    shell.setRuntime("node");
  });
  const tick = async (ms) => {
    mock.timers.tick(ms);
    await settle();
  };
  return { client, calls, api, delays, tick, settle, assert };
}

for (const mode of ["node", "workerd"]) {
  for (const row of rows) {
    test(`driver, ${mode}: ${row.name}`, async (t) => {
      await row.run(harness(t, mode, row.options), mode);
    });
  }
}

// The same rows in a real workerd isolate (tests/workerd/driver.js): the servers' build beside
// it, one request per row.
test("driver, workerd isolate: every row on a fake runtime inside workerd", async (t) => {
  const { Miniflare } = await import("miniflare");
  const { workerdOptions } = await import("../../worker/local.mjs");
  const dir = mkdtempSync(join(tmpdir(), "tokenkit-driver-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const build = join(dir, "build");
  cpSync(new URL("../../pkg/server/", import.meta.url).pathname, build, { recursive: true });
  // The glue imports its shell from snippets/<hash>/; the worker, as ./build/shell.js: the
  // same module instance (the one whose TokenError the core's errors are).
  writeFileSync(join(build, "shell.js"), `export * from "./snippets/${snippet}/js/shell.js";\n`);
  cpSync(new URL("../workerd/driver.js", import.meta.url).pathname, join(dir, "driver.js"));
  cpSync(new URL("../driver-rows.mjs", import.meta.url).pathname, join(dir, "driver-rows.js"));
  const mf = new Miniflare({ ...workerdOptions(join(dir, "driver.js"), dir, {}), compatibilityFlags: ["nodejs_compat"] });
  t.after(() => mf.dispose());
  const url = String(await mf.ready);
  const n = Number(await (await fetch(`${url}?row=-1`)).text());
  assert.equal(n, rows.length);
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${url}?row=${i}`);
    assert.equal(await res.text(), "ok", `row ${i}: ${rows[i].name}`);
  }
});
