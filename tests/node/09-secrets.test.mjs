// Behaviours 11 and 12: no secret or token in messages, what JS can inspect of the client or
// console output; every failure is a TokenError and the instance survives bad input.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { inspect } from "node:util";
import { TokenClient, TokenError, startFixture, key, fakeFetch, base } from "./helpers.mjs";

let fx;
before(async () => (fx = await startFixture()));
after(() => fx.close());

test("secrets and tokens never show up in errors, String(), JSON.stringify() or the console", async () => {
  const printed = [];
  const saved = {};
  for (const m of ["log", "info", "warn", "error", "debug"]) {
    saved[m] = console[m];
    console[m] = (...a) => printed.push(a.map(String).join(" "));
  }
  const seen = [];
  try {
    const k = key();
    const c = new TokenClient({
      tokenUrl: fx.url(k, "ttl=60&seq=ok,oauth:invalid_client"),
      clientId: "id",
      clientSecret: "TOPSECRET-xyz",
      allowedOrigins: [fx.origin],
      maxRetries: 0,
    });
    const token = await c.getToken();
    c.on("error", (e) => seen.push(e));
    c.invalidate();
    await c.getToken().catch((e) => seen.push(e));
    await c.fetch("https://evil.example.com/").catch((e) => seen.push(e));
    try {
      new TokenClient({ ...base, clientSceret: "TOPSECRET-xyz" });
    } catch (e) {
      seen.push(e);
    }
    // Everything JS can see of the client: a secret or token kept in a JS property would show.
    const surfaces = [inspect(c, { showHidden: true, depth: Infinity, getters: true }), JSON.stringify(c), ...printed];
    for (const e of seen) surfaces.push(e.message, e.stack ?? "", JSON.stringify(e), String(e));
    for (const s of surfaces) {
      assert.ok(!s.includes("TOPSECRET"), `secret leaked: ${s}`);
      assert.ok(!s.includes(token), `token leaked: ${s}`);
    }
    assert.ok(seen.length >= 4);
  } finally {
    Object.assign(console, saved);
  }
});

test("TokenError is a real Error subclass with a stable shape", async () => {
  const c = new TokenClient({ ...base, fetch: fakeFetch(() => new Response("{}", { status: 429, headers: { "retry-after": "3" } })), maxRetries: 0 });
  const e = await c.getToken().catch((e) => e);
  assert.ok(e instanceof TokenError && e instanceof Error);
  assert.equal(e.name, "TokenError");
  assert.equal(Object.getPrototypeOf(e), TokenError.prototype);
  assert.deepEqual([e.code, e.status, e.retryAfter], ["RATE_LIMITED", 429, 3]);
  assert.equal(String(e).startsWith("TokenError: "), true);
});

test("hostile inputs give typed errors and the instance keeps working", async () => {
  const k = key();
  const good = new TokenClient({ tokenUrl: fx.url(k), clientId: "a", clientSecret: "b", allowedOrigins: [fx.origin] });
  // A fetch that returns garbage or throws synchronously.
  for (const f of [() => 42, () => null, () => { throw new Error("boom"); }, async () => ({ status: "x" })]) {
    const c = new TokenClient({ ...base, fetch: f, maxRetries: 0 });
    await assert.rejects(c.getToken(), (e) => e instanceof TokenError && e.code === "NETWORK");
  }
  assert.throws(() => good.on("nope", () => {}), { code: "INVALID_CONFIG" });
  assert.throws(() => good.on("token", 5), { code: "INVALID_CONFIG" });
  await assert.rejects(good.fetch("not a url"), TypeError, "like global fetch");
  await assert.rejects(good.sign(42), TypeError);
  const weird = [null, 0, true, [], { tokenUrl: { toString: () => "https://x.com" } }, Object.create(null)];
  for (const w of weird) assert.throws(() => new TokenClient(w), TokenError);
  // A listener that throws does not break the client.
  const off = good.on("token", () => {
    throw new Error("listener bug");
  });
  // The shell re-throws listener errors in a microtask (as EventTarget reports them);
  // capture that microtask instead of letting it crash the test runner.
  const thrown = [];
  const realQueue = globalThis.queueMicrotask;
  globalThis.queueMicrotask = (fn) =>
    realQueue(() => {
      try {
        fn();
      } catch (e) {
        thrown.push(e);
      }
    });
  try {
    assert.match(await good.getToken(), /^tok-/);
    await new Promise((r) => setTimeout(r, 10));
  } finally {
    globalThis.queueMicrotask = realQueue;
  }
  assert.deepEqual(thrown.map((e) => e.message), ["listener bug"], "reported, not swallowed");
  off();
  good.invalidate();
  assert.match(await good.getToken(), /^tok-/);
  assert.equal((await good.fetch(fx.api(k))).status, 200, "the wasm instance is alive");
});

test("NETWORK says why: the platform's error as `cause` and its code in the message, never a secret", async () => {
  // A port that was just free: nothing listens there.
  const probe = createServer();
  await new Promise((r) => probe.listen(0, "127.0.0.1", r));
  const { port } = probe.address();
  await new Promise((r) => probe.close(r));
  const dead = new TokenClient({ tokenUrl: `http://127.0.0.1:${port}/token`, clientId: "a", clientSecret: "TOPSECRET-xyz", maxRetries: 0 });
  const e = await dead.getToken().catch((e) => e);
  assert.equal(e.code, "NETWORK");
  assert.ok(e.cause instanceof Error, "the underlying error is kept");
  assert.equal(e.message, `the token endpoint at 127.0.0.1:${port} could not be reached (ECONNREFUSED)`, "which request, which host, why");
  // A typo in the issuer's host: the discovery request is named, with what to check.
  const typo = new TokenClient({ issuer: "https://auth.invalid", clientId: "a", clientSecret: "s3cret-value", maxRetries: 0 });
  const t = await typo.getToken().catch((e) => e);
  assert.equal(t.code, "NETWORK");
  assert.match(t.message, /^the authorization server's metadata at auth\.invalid could not be reached \(check the issuer's host, or give tokenUrl\)/);
  // Port 9 is one fetch refuses to use at all; the message says so.
  const blocked = new TokenClient({ tokenUrl: "http://127.0.0.1:9/token", clientId: "a", clientSecret: "s3cret-value", maxRetries: 0 });
  assert.match((await blocked.getToken().catch((e) => e)).message, /\(bad port\)/);
  // A fetch whose error would carry the secret: the cause is dropped, the code stays.
  const leaky = new TokenClient({ ...base, maxRetries: 0, fetch: () => Promise.reject(new Error("refused with TOPSECRET-xyz")) });
  const e2 = await leaky.getToken().catch((e) => e);
  assert.equal(e2.code, "NETWORK");
  assert.equal(e2.cause, undefined);
  assert.ok(!e2.message.includes("TOPSECRET"), e2.message);
  assert.match(e2.message, /\(the platform's reason is withheld: it contains the client secret\)$/, "not lost silently");
  // A rejection with no text to check (String() throws) is withheld too, and still NETWORK.
  const odd = new TokenClient({ ...base, maxRetries: 0, fetch: () => Promise.reject(Object.create(null)) });
  const e3 = await odd.getToken().catch((e) => e);
  assert.equal(e3.code, "NETWORK");
  assert.match(e3.message, /withheld/);
  // A long reason is cut at a word, never mid-word (Deno's refused connection is ~150 characters).
  const wordy = new TokenClient({ ...base, maxRetries: 0, fetch: () => Promise.reject(new TypeError("x".repeat(190) + " connection refused")) });
  assert.match((await wordy.getToken().catch((e) => e)).message, /\(x{190}…\)$/);
});

test("after free(), calls reject DISPOSED instead of crashing into wasm; free() twice is fine", async () => {
  const c = new TokenClient({ ...base, fetch: fakeFetch(() => ({ access_token: "t1" })) });
  assert.equal(await c.getToken(), "t1");
  c.free();
  for (const call of [() => c.getToken(), () => c.getTokenInfo(), () => c.fetch("https://api.example.com/"), () => c.sign("https://api.example.com/")]) {
    await assert.rejects(call(), { code: "DISPOSED" });
  }
  assert.throws(() => c.on("token", () => {}), { code: "DISPOSED" });
  c.invalidate();
  c.dispose();
  c.free();
  assert.throws(() => TokenClient.apiKey({ apiKey: "k" }), (e) => e.code === "INVALID_CONFIG" && /^allowedOrigins: is required/.test(e.message));
});
