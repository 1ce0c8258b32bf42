// Behaviours 4 and 5: the in-memory cache, fallback to an unexpired token, single flight.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { TokenClient, startFixture, key, fakeFetch, base, sleep, next } from "./helpers.mjs";

let fx;
before(async () => (fx = await startFixture()));
after(() => fx.close());

const client = (k, query, extra = {}) =>
  new TokenClient({ tokenUrl: fx.url(k, query), clientId: "id", clientSecret: "sec", allowedOrigins: [fx.origin], ...extra });

test("answers from memory until expiresAt - refreshSkew", async () => {
  const k = key();
  const c = client(k, "ttl=20", { refreshSkewSeconds: 1 });
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

test("refresh fails while the old token is unexpired: old token + one error per cooldown; expired: reject", async () => {
  // 10 s tokens, skew 5 s: the refresh at 5 s answers 500 (no retries); the 5 s cooldown
  // then reaches expiry at 10 s.
  const k = key();
  const c = client(k, "ttl=10&seq=ok,500", { refreshSkewSeconds: 5, maxRetries: 0 });
  const errors = [];
  c.on("error", (e) => errors.push(e.code));
  const failed = next(c, "error");
  const first = await c.getToken();
  await failed;
  assert.deepEqual(errors, ["HTTP_ERROR"]);
  const again = await Promise.all([c.getToken(), c.getToken(), c.getToken()]);
  assert.deepEqual(again, [first, first, first], "the old, still valid token");
  assert.equal(fx.count(k), 2, "no new request inside the cooldown (one attempt per cooldown)");
  await next(c, "expired");
  await assert.rejects(c.getToken(), { code: "HTTP_ERROR", status: 500 });
  c.dispose();
});

test("during a slow proactive refresh, getToken() answers at once with the old token", async () => {
  // The refresh request hangs until the test releases it: every getToken() in between must
  // resolve first, with the old token; the new token arrives after the release.
  let release;
  const gate = new Promise((r) => (release = r));
  let calls = 0;
  let refreshing;
  const started = new Promise((r) => (refreshing = r));
  const f = fakeFetch(async () => {
    calls++;
    if (calls === 2) {
      refreshing();
      await gate;
    }
    return { access_token: `tok-${calls}`, expires_in: 10 };
  });
  const c = new TokenClient({ ...base, fetch: f, refreshSkewSeconds: 5 });
  assert.equal(await c.getToken(), "tok-1");
  await started; // the timer started the refresh at 5 s; it is now in flight
  const order = [];
  const answers = Promise.all(Array.from({ length: 5 }, () => c.getToken().then((t) => (order.push("token"), t))));
  const done = sleep(5).then(() => order.push("5 ms"));
  assert.deepEqual(await answers, Array(5).fill("tok-1"));
  await done;
  assert.deepEqual(order, ["token", "token", "token", "token", "token", "5 ms"], "answered before 5 ms passed");
  const stored = next(c, "token");
  release();
  assert.equal((await stored).accessToken, "tok-2");
  assert.equal(await c.getToken(), "tok-2");
  assert.equal(f.calls.length, 2);
  c.dispose();
});

test("tokens live in memory only: not on the client object, not in URLs", async () => {
  const k = key();
  const c = client(k, "ttl=60");
  const tok = await c.getToken();
  const seen = inspect(c, { showHidden: true, depth: Infinity, getters: true });
  assert.ok(!seen.includes(tok), `the token is visible on the client: ${seen}`);
  for (const name of Object.getOwnPropertyNames(c)) assert.ok(!String(c[name]).includes(tok), name);
  await c.fetch(fx.api(k, "/x?y=1"));
  assert.ok(!fx.apilog(k).some((r) => r.path.includes(tok)), "the token never goes into a URL");
  assert.ok(!fx.log(k).some((r) => JSON.stringify(r).includes(tok)), "nor back to the token endpoint");
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

test("the JS fast path never serves a token the core dropped (refused by the API, invalidated, disposed)", async () => {
  const k = key();
  const c = client(k, "ttl=600");
  const t1 = await c.getToken();
  assert.equal(await c.getToken(), t1, "served from memory");
  // A 401 to a request whose body cannot be replayed: the refused token is dropped, no replay.
  const body = new ReadableStream({ start: (ctl) => (ctl.enqueue(new TextEncoder().encode("x")), ctl.close()) });
  const r = await c.fetch(fx.api(k, "/x?reject=1"), { method: "POST", body, duplex: "half" });
  assert.equal(r.status, 401);
  const t2 = await c.getToken();
  assert.notEqual(t2, t1, "the refused token is not served");
  assert.equal(fx.count(k), 2);
  c.invalidate();
  const t3 = await c.getToken();
  assert.ok(t3 !== t2 && fx.count(k) === 3, "invalidate() reaches the fast path");
  c.dispose();
  await assert.rejects(c.getToken(), { code: "DISPOSED" });
});

test("the fast path serves only while the core's monotonic deadline holds, whatever the wall clock does", async () => {
  // js/shell.js's servable(): a wall-clock window anchored on the monotonic clock. Each row:
  // the cell's state, the two clocks (mono: undefined = must not be read), the answer, and
  // the window [l, w) left behind.
  const { servable, cellOf } = await import("../../js/shell.js");
  const cell = (u, l, w, e = 9e15) => ({ t: "tok", v: "Bearer tok", i: 1, u, e, l, w });
  const rows = [
    ["no token published", { t: undefined, u: 9e9 }, 100, undefined, false],
    ["first use anchors a window of at most 1 s", cell(10_000, undefined, undefined), 500, 2_000, true, [500, 1_500]],
    ["near the deadline the window ends at it", cell(2_300, undefined, undefined), 500, 2_000, true, [500, 800]],
    ["inside the window the wall clock decides, monotonic not read", cell(10_000, 500, 1_500), 900, undefined, true, [900, 1_500]],
    ["at the window's end: re-anchored on the monotonic clock", cell(10_000, 500, 1_500), 1_500, 3_000, true, [1_500, 2_500]],
    ["at the window's end, past the deadline: not served", cell(3_000, 500, 1_500), 1_500, 3_000, false],
    ["wall clock stepped back, deadline passed: not served", cell(2_300, 900, 1_500), 600, 2_300, false],
    ["wall clock stepped back, deadline ahead: re-anchored", cell(9_000, 900, 1_500), 600, 3_000, true, [600, 1_600]],
    ["a NEVER deadline (an API key)", cell(2 ** 64, undefined, undefined), 5, 7, true, [5, 1_005]],
    ["woken from suspend: past the wall-clock deadline, though the monotonic one stood still", cell(10_000, 500, 1_500, 1_200), 1_300, undefined, false],
    ["inside the window but past the wall-clock deadline", cell(10_000, 500, 1_500, 900), 950, undefined, false],
  ];
  for (const [name, c, wall, mono, served, window] of rows) {
    const got = servable(c, () => wall, () => {
      if (mono === undefined) throw new Error(`${name}: the monotonic clock was read`);
      return mono;
    });
    assert.equal(got, served, name);
    if (window) assert.deepEqual([c.l, c.w], window, name);
  }
  // A new publication (a new token or deadline) is a new cell: no window carries over, the
  // monotonic clock is read again at once.
  const c = cellOf(["tok2", "Bearer tok2", 2, 1_000, 9e15]);
  assert.equal(servable(c, () => 600, () => 1_000), false, "the new deadline applies, not an old window");
  assert.equal(servable(cellOf(["tok2", "Bearer tok2", 2, 1_001, 9e15]), () => 600, () => 1_000), true);
});
