// Behaviour 8: proactive refresh, "expired", clamping, dispose, and Node exiting on its own.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { TokenClient, startFixture, key, sleep } from "./helpers.mjs";

let fx;
before(async () => (fx = await startFixture()));
after(() => fx.close());

const client = (k, query, extra = {}) => new TokenClient({ tokenUrl: fx.url(k, query), clientId: "id", clientSecret: "sec", ...extra });

test("the timer refreshes at expiresAt - skew with no call, and emits token", async () => {
  const k = key();
  const c = client(k, "ttl=3", { refreshSkewSeconds: 2 });
  const seen = [];
  c.on("token", (i) => seen.push(i.accessToken));
  await c.getToken();
  await sleep(900); // skew limited to half the life: refresh at 1.5 s
  assert.equal(fx.count(k), 1);
  await sleep(1100);
  assert.equal(fx.count(k), 2, "proactive refresh happened");
  assert.equal(seen.length, 2);
  c.dispose();
});

test("expired is emitted when a token lapses without a replacement", async () => {
  const k = key();
  const c = client(k, "ttl=1&seq=ok,500", { maxRetries: 0 });
  let expired = 0;
  c.on("expired", () => expired++);
  await c.getToken();
  await sleep(1300);
  assert.equal(expired, 1);
  c.dispose();
});

test("every call re-checks the clock (timers are only an optimisation)", async () => {
  // A year-long token: the timer is clamped to 2^31-1 ms, never fires early.
  const k = key();
  const c = client(k, `ttl=${365 * 86400}`);
  await c.getToken();
  await sleep(200);
  assert.equal(fx.count(k), 1, "clamped delay did not wrap around and fire at once");
  c.dispose();
});

test("dispose() cancels timers and requests; later calls reject DISPOSED", async () => {
  const k = key();
  const c = client(k, "ttl=1");
  await c.getToken();
  const pending = client(key(), "seq=slow:2000");
  const p = pending.getToken();
  pending.dispose();
  await assert.rejects(p, { code: "DISPOSED" });
  c.dispose();
  await sleep(1200);
  assert.equal(fx.count(k), 1, "no refresh after dispose");
  await assert.rejects(c.getToken(), { code: "DISPOSED" });
  await assert.rejects(c.fetch(fx.api(k)), { code: "DISPOSED" });
  assert.throws(() => c.on("token", () => {}), { code: "DISPOSED" });
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
