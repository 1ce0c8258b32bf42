// Behaviours 6 and 7: retries with backoff and Retry-After; timeouts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { TokenClient, startFixture, key, until } from "./helpers.mjs";

let fx;
before(async () => (fx = await startFixture()));
after(() => fx.close());

const client = (k, query, extra = {}) => new TokenClient({ tokenUrl: fx.url(k, query), clientId: "id", clientSecret: "sec", ...extra });

test("5xx is retried up to maxRetries with growing backoff", async () => {
  const k = key();
  const t0 = Date.now();
  assert.match(await client(k, "seq=500,502,ok").getToken(), /^tok-/);
  assert.equal(fx.count(k), 3);
  assert.ok(Date.now() - t0 >= 250 + 500, "at least the two backoff floors");
  const k2 = key();
  await assert.rejects(client(k2, "seq=503", { maxRetries: 1 }).getToken(), { code: "HTTP_ERROR", status: 503 });
  assert.equal(fx.count(k2), 2);
});

test("network errors are retried", async () => {
  const k = key();
  assert.match(await client(k, "seq=close,ok").getToken(), /^tok-/);
  assert.equal(fx.count(k), 2);
  const k2 = key();
  await assert.rejects(client(k2, "seq=close", { maxRetries: 0 }).getToken(), { code: "NETWORK" });
  const dead = new TokenClient({ tokenUrl: "http://127.0.0.1:9/token", clientId: "a", clientSecret: "b", maxRetries: 0 });
  await assert.rejects(dead.getToken(), { code: "NETWORK" });
});

test("429 honours Retry-After; over a minute fails at once", async () => {
  const k = key();
  const t0 = Date.now();
  await client(k, "seq=429:1,ok").getToken();
  assert.ok(Date.now() - t0 >= 1000, "waited the Retry-After second");
  assert.equal(fx.count(k), 2);
  const k2 = key();
  const c2 = client(k2, "seq=429:120,ok");
  await assert.rejects(c2.getToken(), { code: "RATE_LIMITED", retryAfter: 120 });
  assert.equal(fx.count(k2), 1, "a Retry-After past the deadline is not waited for");
  await assert.rejects(c2.getToken(), (e) => e.code === "RATE_LIMITED" && e.retryAfter <= 120);
  assert.equal(fx.count(k2), 1, "and is honoured by the next call: nothing sent");
});

test("OAuth 4xx errors are never retried", async () => {
  for (const err of ["invalid_client", "invalid_scope", "unauthorized_client"]) {
    const k = key();
    await assert.rejects(client(k, `seq=oauth:${err},ok`, { maxRetries: 5 }).getToken(), { code: "OAUTH_ERROR", error: err });
    assert.equal(fx.count(k), 1);
  }
});

test("timeoutMs aborts a hung request and a stalled body -> TIMEOUT; a timeout is retried", async () => {
  const k = key();
  await assert.rejects(client(k, "seq=hang", { timeoutMs: 300, maxRetries: 0 }).getToken(), { code: "TIMEOUT" });
  assert.equal(fx.count(k), 1);
  await until(() => fx.aborted(k) === 1, 5000, "the hung request to be aborted");
  const stalled = new TokenClient({
    tokenUrl: "https://auth.example.com/t",
    clientId: "a",
    clientSecret: "b",
    timeoutMs: 300,
    maxRetries: 0,
    fetch: async () => new Response(new ReadableStream({ pull() {} }), { status: 200 }),
  });
  await assert.rejects(stalled.getToken(), { code: "TIMEOUT" });
  const k2 = key();
  assert.match(await client(k2, "seq=hang,ok", { timeoutMs: 300 }).getToken(), /^tok-/, "retried like a network error");
  assert.equal(fx.count(k2), 2);
});
