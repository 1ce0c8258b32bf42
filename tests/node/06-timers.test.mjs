// Behaviour 8: proactive refresh, "expired", clamping, dispose, and Node exiting on its own.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { TokenClient, startFixture, key, sleep, next, until } from "./helpers.mjs";

let fx;
before(async () => (fx = await startFixture()));
after(() => fx.close());

const client = (k, query, extra = {}) => new TokenClient({ tokenUrl: fx.url(k, query), clientId: "id", clientSecret: "sec", ...extra });

test("the timer refreshes at expiresAt - skew with no call, and emits token", async () => {
  const k = key();
  const c = client(k, "ttl=10", { refreshSkewSeconds: 4 });
  const seen = [];
  c.on("token", (i) => seen.push(i));
  const t0 = Date.now();
  await c.getToken();
  const [first] = seen;
  assert.equal(first.refreshAt, first.expiresAt - 4000, "the refresh point the client computed");
  await next(c, "token");
  assert.ok(Date.now() - t0 >= 6000 - 50, "not before the refresh point");
  assert.equal(fx.count(k), 2, "proactive refresh happened");
  assert.equal(seen.length, 2);
  c.dispose();
});

test("expired is emitted when a token lapses without a replacement", async () => {
  const k = key();
  const c = client(k, "ttl=10&seq=ok,500", { maxRetries: 0 });
  let expired = 0;
  c.on("expired", () => expired++);
  const lapsed = next(c, "expired");
  await c.getToken();
  await lapsed;
  assert.equal(expired, 1);
  c.dispose();
});

/** Counts the timers the client arms while `body` runs (the test's own sleeps excluded). */
async function countTimers(body) {
  const real = { set: globalThis.setTimeout, clear: globalThis.clearTimeout };
  const armed = [];
  const cleared = new Set();
  globalThis.setTimeout = (fn, ms, ...a) => {
    const t = real.set(fn, ms, ...a);
    armed.push({ t, ms });
    return t;
  };
  globalThis.clearTimeout = (t) => {
    cleared.add(t);
    real.clear(t);
  };
  try {
    await body(real.set);
  } finally {
    globalThis.setTimeout = real.set;
    globalThis.clearTimeout = real.clear;
  }
  return { armed, cleared };
}

test("a year-long token arms one clamped timer: no early wake-ups, no busy loop", async () => {
  // 2^31-1 ms is the platform's limit: a larger delay wraps and fires at once, and a client
  // that re-arms on every wake-up would then spin.
  const k = key();
  const c = client(k, `ttl=${365 * 86400}`);
  await c.getToken();
  const { armed } = await countTimers((realSet) => new Promise((r) => realSet(r, 200)));
  assert.ok(armed.length <= 1, `timers armed in 200 ms: ${armed.length}`);
  assert.equal(fx.count(k), 1, "the clamped delay did not fire a refresh");
  c.invalidate();
  const { armed: after } = await countTimers(async () => {
    await c.getToken();
  });
  assert.ok(after.every(({ ms }) => ms <= 2 ** 31 - 1), JSON.stringify(after.map((a) => a.ms)));
  assert.ok(after.length <= 3, `${after.length} timers for one token request`);
  c.dispose();
});

test("dispose() cancels the timer and aborts the request in flight; later calls reject DISPOSED", async () => {
  const k = key();
  const c = client(k, "ttl=60");
  let refreshTimer;
  await countTimers(async () => {
    await c.getToken();
  }).then(({ armed }) => (refreshTimer = armed.at(-1)?.t));
  assert.ok(refreshTimer, "a refresh timer is armed");
  const { cleared } = await countTimers(async () => c.dispose());
  assert.ok(cleared.has(refreshTimer), "dispose() cleared the refresh timer");
  await assert.rejects(c.getToken(), { code: "DISPOSED" });
  await assert.rejects(c.fetch(fx.api(k)), { code: "DISPOSED" });
  assert.throws(() => c.on("token", () => {}), { code: "DISPOSED" });

  const k2 = key();
  const pending = client(k2, "seq=slow:5000");
  const p = pending.getToken();
  await until(() => fx.count(k2) === 1, 5000, "the token request to arrive");
  pending.dispose();
  await assert.rejects(p, { code: "DISPOSED" });
  await until(() => fx.aborted(k2) === 1, 5000, "the server to see the request aborted");
});

test("a Node script with a pending refresh timer exits on its own", async () => {
  const k = key();
  const script = `
    import { TokenClient } from ${JSON.stringify(new URL("../../pkg/node.js", import.meta.url).href)};
    const c = new TokenClient({ tokenUrl: ${JSON.stringify(fx.url(k, "ttl=3600"))}, clientId: "a", clientSecret: "b" });
    await c.getToken();
    console.log("got token");`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  const code = await new Promise((resolve) => {
    const t = setTimeout(() => {
      process.kill(child.pid);
      resolve("hung");
    }, 10_000);
    child.on("exit", (c) => {
      clearTimeout(t);
      resolve(c);
    });
  });
  assert.equal(code, 0, "the process exited by itself");
  assert.match(out, /got token/);
  assert.equal(fx.count(k), 1);
});
