// Behaviours 4 and 5: the in-memory cache, fallback to an unexpired token, single flight.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { TokenClient, startFixture, key, fakeFetch, base, sleep } from "./helpers.mjs";

let fx;
before(async () => (fx = await startFixture()));
after(() => fx.close());

const client = (k, query, extra = {}) =>
  new TokenClient({ tokenUrl: fx.url(k, query), clientId: "id", clientSecret: "sec", allowedOrigins: [fx.origin], ...extra });

test("answers from memory until expiresAt - refreshSkew", async () => {
  const k = key();
  const c = client(k, "ttl=4", { refreshSkewSeconds: 1 });
  const first = await c.getToken();
  await sleep(1500);
  assert.equal(await c.getToken(), first, "still fresh");
  assert.equal(fx.count(k), 1);
  c.invalidate();
  const second = await c.getToken();
  assert.notEqual(second, first, "invalidate() forgets the token");
  assert.equal(fx.count(k), 2);
  c.dispose();
});

test("refresh fails while the old token is unexpired: old token + error event; expired: reject", async () => {
  // 4 s tokens, skew 3 s (limited to half: 2 s); the refresh answers 500.
  const k = key();
  const c = client(k, "ttl=4&seq=ok,500", { refreshSkewSeconds: 3, maxRetries: 0 });
  const errors = [];
  c.on("error", (e) => errors.push(e.code));
  const first = await c.getToken();
  await sleep(2200); // refresh due (timer fires too)
  assert.equal(await c.getToken(), first, "old, still valid token");
  assert.ok(errors.length >= 1 && errors.every((code) => code === "HTTP_ERROR"), String(errors));
  await sleep(2000); // now expired
  await assert.rejects(c.getToken(), { code: "HTTP_ERROR", status: 500 });
  c.dispose();
});

test("tokens live in memory only: no storage, no cookies, no URLs", async () => {
  const k = key();
  const c = client(k, "ttl=60");
  const tok = await c.getToken();
  assert.equal(typeof globalThis.localStorage, "undefined");
  assert.ok(!fx.log(k)[0].headers.cookie);
  await c.fetch(fx.api(k, "/x?y=1"));
  assert.ok(!fx.apilog(k).some((r) => r.path.includes(tok)), "the token never goes into a URL");
  c.dispose();
});

test("1000 concurrent getToken() on a cold cache -> exactly one token request", async () => {
  const k = key();
  const c = client(k, "seq=slow:200&ttl=60");
  const tokens = await Promise.all(Array.from({ length: 1000 }, () => c.getToken()));
  assert.equal(new Set(tokens).size, 1);
  assert.equal(fx.count(k), 1);
  c.dispose();
});

test("concurrent fetch() and getToken() on a due cache -> one refresh, shared", async () => {
  const k = key();
  const c = client(k, "ttl=60");
  await c.getToken();
  c.invalidate();
  const results = await Promise.all([
    ...Array.from({ length: 50 }, () => c.fetch(fx.api(k)).then((r) => r.status)),
    ...Array.from({ length: 50 }, () => c.getToken()),
  ]);
  assert.equal(fx.count(k), 2);
  assert.ok(results.slice(0, 50).every((s) => s === 200));
  c.dispose();
});

test("all waiters get the same error, from one request", async () => {
  const f = fakeFetch(async () => {
    await sleep(50);
    return new Response(JSON.stringify({ error: "invalid_client" }), { status: 401 });
  });
  const c = new TokenClient({ ...base, fetch: f });
  const results = await Promise.allSettled(Array.from({ length: 100 }, () => c.getToken()));
  assert.ok(results.every((r) => r.status === "rejected" && r.reason.code === "OAUTH_ERROR"));
  assert.equal(f.calls.length, 1);
});
