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
  // Wherever the caller sends it, a signed request does not follow a redirect with the token.
  assert.equal(signed.redirect, "manual");
  assert.equal((await c.sign(new Request(fx.api(k), { redirect: "error" }))).redirect, "error");
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

test("every input shape fetch() takes is signed, replayed once and sent as fetch would send it; the caller's objects are not changed", async () => {
  // string/URL inputs with a plain init are sent without building a Request; everything else
  // goes through a copy. Both must look the same on the wire.
  const shapes = [
    ["string, no init", (u) => [u], "GET", ""],
    ["string, init with object headers and a string body", (u) => [u, { method: "POST", headers: { "X-Test": "a" }, body: "s" }], "POST", "s", "a"],
    ["URL, init with a Headers body of bytes", (u) => [new URL(u), { method: "PUT", headers: new Headers([["x-test", "b"]]), body: new TextEncoder().encode("bytes") }], "PUT", "bytes", "b"],
    ["string, URLSearchParams body, array headers", (u) => [u, { method: "POST", headers: [["x-test", "c"]], body: new URLSearchParams({ q: "1" }) }], "POST", "q=1", "c"],
    ["string, Blob body", (u) => [u, { method: "POST", body: new Blob(["blob"]) }], "POST", "blob"],
    ["Request with a body", (u) => [new Request(u, { method: "POST", headers: { "x-test": "d" }, body: "req" })], "POST", "req", "d"],
    ["Request and an init", (u) => [new Request(u, { method: "POST", body: "old" }), { method: "PATCH", body: "new" }], "PATCH", "new"],
    ["string and a Request as init", (u) => [u, new Request("http://ignored.example/", { method: "DELETE", headers: { "x-test": "e" } })], "DELETE", "", "e"],
    ["string, init with a null prototype", (u) => [u, Object.assign(Object.create(null), { method: "POST", body: "np" })], "POST", "np"],
  ];
  for (const [name, make, method, body, xTest = null] of shapes) {
    const k = key();
    const c = client(k);
    const args = make(`${fx.api(k, "/shape")}?reject=1`);
    const before = args.map((a) => (a instanceof Request ? [...a.headers] : a?.headers instanceof Headers ? [...a.headers] : JSON.stringify(a)));
    const r = await c.fetch(...args);
    assert.equal(r.status, 200, name);
    const log = fx.apilog(k);
    assert.equal(log.length, 2, `${name}: sent, refused, sent once more`);
    assert.equal(fx.count(k), 2, `${name}: a fresh token for the replay`);
    for (const sent of log) {
      assert.equal(sent.method, method, name);
      assert.equal(sent.body, body, name);
      assert.equal(sent.xTest, xTest, `${name}: the caller's other headers are sent`);
    }
    assert.equal(log[1].authorization, `Bearer ${await c.getToken()}`, name);
    const after = args.map((a) => (a instanceof Request ? [...a.headers] : a?.headers instanceof Headers ? [...a.headers] : JSON.stringify(a)));
    assert.deepEqual(after, before, `${name}: the caller's Request, Headers and init are untouched`);
  }
});

test("inputs fetch itself refuses are refused before a token is fetched", async () => {
  const k = key();
  const c = client(k);
  const withCredentials = fx.api(k).replace("http://", "http://user:pw@");
  await assert.rejects(c.fetch(withCredentials), TypeError);
  await assert.rejects(c.fetch("/relative/in/node"), TypeError);
  await assert.rejects(c.fetch(fx.api(k), { headers: { "bad header": "x" } }), TypeError);
  assert.equal(fx.count(k), 0);
  assert.equal(fx.apilog(k).length, 0);
});

test("a body Node's fetch takes as an async iterable is sent once, not replayed", async () => {
  const k = key();
  const c = client(k);
  async function* chunks() {
    yield new TextEncoder().encode("it");
  }
  const r = await c.fetch(`${fx.api(k)}?reject=1`, { method: "POST", body: chunks(), duplex: "half" });
  assert.equal(r.status, 401);
  assert.equal(fx.apilog(k).length, 1);
  assert.equal(fx.apilog(k)[0].body, "it");
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
