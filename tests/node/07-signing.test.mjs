// Behaviour 9: the token goes only to allowed origins; 401 replays once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { TokenClient, startFixture, key } from "./helpers.mjs";

let fx;
before(async () => (fx = await startFixture()));
after(() => fx.close());

const client = (k, extra = {}) =>
  new TokenClient({ tokenUrl: fx.url(k, "ttl=60"), clientId: "id", clientSecret: "sec", allowedOrigins: [fx.origin], ...extra });

test("fetch() attaches Authorization: Bearer <token> to an allowed origin", async () => {
  const k = key();
  const c = client(k);
  const r = await c.fetch(fx.api(k, "/items"), { method: "POST", body: "hello" });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { ok: true, path: "/items", method: "POST", body: "hello" });
  assert.equal(fx.apilog(k)[0].authorization, `Bearer ${await c.getToken()}`);
});

test("other origins are refused and nothing is sent (scheme, host and port must match)", async () => {
  const k = key();
  const c = client(k);
  const port = Number(new URL(fx.origin).port);
  for (const url of [
    `http://127.0.0.1:${port + 1}/s/${k}/api/x`,
    `http://localhost:${port}/s/${k}/api/x`,
    `https://127.0.0.1:${port}/s/${k}/api/x`,
    "https://evil.example.com/",
  ]) {
    await assert.rejects(c.fetch(url), (e) => e.code === "ORIGIN_NOT_ALLOWED" && e.message.includes(new URL(url).origin));
    await assert.rejects(c.sign(new Request(url)), { code: "ORIGIN_NOT_ALLOWED" });
  }
  assert.equal(fx.count(k), 0, "not even a token was fetched");
  assert.equal(fx.apilog(k).length, 0);
  const none = new TokenClient({ tokenUrl: fx.url(k), clientId: "id", clientSecret: "sec" });
  await assert.rejects(none.fetch(fx.api(k)), { code: "ORIGIN_NOT_ALLOWED" }, "no allowedOrigins: nothing is allowed");
});

test("a caller-supplied Authorization header is left as is", async () => {
  const k = key();
  const c = client(k);
  const r = await c.fetch(fx.api(k), { headers: { Authorization: "Bearer mine" } });
  assert.equal(r.status, 401, "our fixture does not know 'mine'");
  assert.equal(fx.apilog(k)[0].authorization, "Bearer mine");
  assert.equal(fx.apilog(k).length, 1, "no replay with the caller's header");
  assert.equal(fx.count(k), 0);
  const signed = await c.sign(new Request(fx.api(k), { headers: { authorization: "Basic x" } }));
  assert.equal(signed.headers.get("authorization"), "Basic x");
});

test("sign() returns a new Request with the header set", async () => {
  const k = key();
  const c = client(k);
  const original = new Request(fx.api(k), { method: "PUT", body: "b" });
  const signed = await c.sign(original);
  assert.notEqual(signed, original);
  assert.equal(original.headers.get("authorization"), null);
  assert.equal(signed.headers.get("authorization"), `Bearer ${await c.getToken()}`);
  assert.equal(signed.method, "PUT");
  assert.equal(await signed.text(), "b");
});

test("on 401 the token is invalidated, a new one fetched, the request replayed once", async () => {
  const k = key();
  const c = client(k);
  const r = await c.fetch(`${fx.api(k, "/data")}?reject=1`, { method: "POST", body: "payload" });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).body, "payload", "the body was replayed");
  assert.equal(fx.count(k), 2, "a fresh token for the replay");
  const log = fx.apilog(k);
  assert.equal(log.length, 2);
  assert.notEqual(log[0].authorization, log[1].authorization);
  const k2 = key();
  const c2 = client(k2);
  const r2 = await c2.fetch(`${fx.api(k2)}?reject=5`);
  assert.equal(r2.status, 401, "only one replay");
  assert.equal(fx.apilog(k2).length, 2);
});

test("a streamed body is not replayed", async () => {
  const k = key();
  const c = client(k);
  const body = new ReadableStream({
    start(ctl) {
      ctl.enqueue(new TextEncoder().encode("once"));
      ctl.close();
    },
  });
  const r = await c.fetch(`${fx.api(k)}?reject=1`, { method: "POST", body, duplex: "half" });
  assert.equal(r.status, 401);
  assert.equal(fx.apilog(k).length, 1);
});

test("API keys: default Bearer, or a custom header as is, same origin rules", async () => {
  const k = key();
  const bearer = TokenClient.apiKey({ apiKey: "static-key", allowedOrigins: [fx.origin] });
  assert.equal(await bearer.getToken(), "static-key");
  assert.deepEqual(await bearer.getTokenInfo(), { accessToken: "static-key", tokenType: "Bearer", expiresAt: null, refreshAt: null, scope: null });
  assert.equal((await bearer.fetch(fx.api(k))).status, 200);
  assert.equal(fx.apilog(k)[0].authorization, "Bearer static-key");
  const custom = TokenClient.apiKey({ apiKey: "static-key", header: "X-Api-Key", allowedOrigins: [fx.origin] });
  assert.equal((await custom.fetch(fx.api(k))).status, 200);
  assert.equal(fx.apilog(k)[1].authorization, "static-key");
  await assert.rejects(custom.fetch("https://elsewhere.example.com/"), { code: "ORIGIN_NOT_ALLOWED" });
  const viaCtor = new TokenClient({ apiKey: "k2", allowedOrigins: [fx.origin] });
  assert.equal(await viaCtor.getToken(), "k2");
});
