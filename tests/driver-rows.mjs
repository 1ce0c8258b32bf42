// The driver's race table (js/shell.js on a fake runtime), one table for both runtimes it is
// run in: Node (tests/node/35-driver.test.mjs, node:test's mock timers) and workerd
// (tests/workerd/driver.js, a fake clock of its own inside a real isolate). Each row gets the
// harness `h`: `client` (a TokenClient on the fake runtime), `calls` and `api` (the token
// endpoint's and the API's requests, each answered by the row: `ok(body, status)`,
// `fail(error)`), `delays` (every timer armed), `tick(ms)` (the clock moved on, what came due
// run), `settle()` (every promise the driver waits on run) and `assert` (node:assert/strict's
// equal, deepEqual, rejects). `mode` is the driver's: "node" (one timer per client) or
// "workerd" (no timer outlives a request: each waiter sleeps, in its own request, to the
// core's deadline).

export const TOKEN_URL = "https://auth.example.com/token";
export const API = "https://api.example.com";
const token = (t, expiresIn = 3600) => ({ access_token: t, token_type: "Bearer", expires_in: expiresIn });

/**
 * The fake network a row answers: `calls` (the token endpoint's requests) and `api` (the
 * API's), each `{ url, init, ok(body, status), fail(error) }`, and a client of `TokenClient`
 * that sends with it (`options` added to its configuration).
 */
export function fakeClient(TokenClient, options = {}) {
  const calls = [];
  const api = [];
  const pending = (list, url, init) =>
    new Promise((resolve, reject) => {
      const call = { url, init, ok: (body, status = 200) => resolve(new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } })), fail: reject };
      list.push(call);
      init?.signal?.addEventListener("abort", () => reject(init.signal.reason));
    });
  const fetch = (url, init) => (String(url).startsWith(API) ? pending(api, url, init) : pending(calls, url, init));
  const client = new TokenClient({ tokenUrl: TOKEN_URL, clientId: "c", clientSecret: "s", allowedOrigins: [API], fetch, ...options });
  return { client, calls, api };
}

export const rows = [
  {
    name: "20 concurrent callers: one token request, one token",
    async run({ client, calls, assert, settle }) {
      const all = Array.from({ length: 20 }, () => client.getToken());
      await settle();
      assert.equal(calls.length, 1);
      calls[0].ok(token("t1"));
      assert.deepEqual(new Set(await Promise.all(all)), new Set(["t1"]));
      assert.equal(calls.length, 1);
    },
  },
  {
    name: "a cached token is served with no request until its refresh is due; then one refresh",
    async run({ client, calls, tick, assert, settle }, mode) {
      const first = client.getToken();
      await settle();
      calls[0].ok(token("t1"));
      assert.equal(await first, "t1");
      const { refreshAt } = await client.getTokenInfo();
      await tick(refreshAt - Date.now() - 1000);
      assert.equal(await client.getToken(), "t1");
      assert.equal(calls.length, 1, "no request before the refresh is due");
      await tick(2000);
      if (mode === "node") {
        // The client's one timer refreshes ahead of expiry, with no caller.
        assert.equal(calls.length, 2, "the timer sent the refresh");
      } else {
        // No timer outlives a request in Workers: the next caller finds the refresh due, is
        // served the still-valid token, and the refresh goes out.
        assert.equal(calls.length, 1, "nothing runs between requests");
        assert.equal(await client.getToken(), "t1");
        await settle();
        assert.equal(calls.length, 2, "the caller's request sent the refresh");
      }
      calls[1].ok(token("t2"));
      await settle();
      assert.equal(await client.getToken(), "t2");
      assert.equal(calls.length, 2);
    },
  },
  {
    name: "while a token request is pending, one timer for its deadline: no polling",
    async run({ client, calls, delays, tick, assert, settle }, mode) {
      const waiting = [client.getToken(), client.getToken()];
      await settle();
      assert.equal(calls.length, 1);
      // node: the client's one timer; workerd: each waiter's own sleep. All to the attempt's
      // deadline (timeoutMs), none shorter: the old Rust driver slept 100 ms at a time.
      assert.deepEqual(delays, mode === "node" ? [5000] : [5000, 5000]);
      await tick(4999);
      assert.equal(delays.length, mode === "node" ? 1 : 2, "nothing woke before the deadline");
      // The deadline: the attempt is aborted and retried after the core's backoff.
      await tick(1);
      await tick(2000);
      assert.equal(calls.length, 2, "one retry after the timeout");
      calls[1].ok(token("t1"));
      assert.deepEqual(await Promise.all(waiting), ["t1", "t1"]);
    },
    options: { timeoutMs: 5000 },
  },
  {
    name: "a request that fails: the callers wait through the core's backoff, no longer; one request at a time",
    async run({ client, calls, tick, assert, settle }) {
      const waiting = [client.getToken(), client.getToken(), client.getToken()];
      await settle();
      calls[0].fail(new TypeError("fetch failed"));
      await settle();
      assert.equal(calls.length, 1, "the retry waits for its backoff");
      // The first backoff is 250–500 ms. The waiters slept to the attempt's timeout (10 s)
      // when it was sent: they must wake for the backoff's end instead (a Workers client that
      // slept on took 10 s per retry, and a broker's isolate timed out on its TokenCache).
      for (let i = 0; i < 6 && calls.length < 2; i++) await tick(100);
      assert.equal(calls.length, 2, "retried at the backoff's end");
      calls[1].ok({ error: "server_error" }, 500);
      await settle();
      for (let i = 0; i < 11 && calls.length < 3; i++) await tick(100);
      assert.equal(calls.length, 3, "a 5xx too: the second backoff is 500–1000 ms");
      calls[2].ok(token("t1"));
      assert.deepEqual(await Promise.all(waiting), ["t1", "t1", "t1"]);
    },
  },
  {
    name: "dispose while a request is pending: every caller rejects DISPOSED; the late answer changes nothing",
    async run({ client, calls, assert, settle }) {
      const waiting = [client.getToken(), client.getToken()];
      await settle();
      client.dispose();
      for (const w of waiting) await assert.rejects(w, (e) => e.code === "DISPOSED");
      calls[0].ok(token("late"));
      await settle();
      await assert.rejects(client.getToken(), (e) => e.code === "DISPOSED");
      assert.equal(calls.length, 1);
    },
  },
  {
    name: "invalidate(): the next callers share one new request",
    async run({ client, calls, assert, settle }) {
      const first = client.getToken();
      await settle();
      calls[0].ok(token("t1"));
      await first;
      client.invalidate();
      const next = Array.from({ length: 5 }, () => client.getToken());
      await settle();
      assert.equal(calls.length, 2);
      calls[1].ok(token("t2"));
      assert.deepEqual(new Set(await Promise.all(next)), new Set(["t2"]));
    },
  },
  {
    name: "client.fetch: a 401 drops the token, one new token request, one replay",
    async run({ client, calls, api, assert, settle }) {
      const res = client.fetch(`${API}/me`);
      await settle();
      calls[0].ok(token("t1"));
      await settle();
      assert.equal(api.length, 1);
      assert.equal(api[0].init.headers.get("authorization"), "Bearer t1");
      api[0].ok({ error: "invalid_token" }, 401);
      await settle();
      assert.equal(calls.length, 2, "the refused token is dropped");
      calls[1].ok(token("t2"));
      await settle();
      assert.equal(api.length, 2, "sent again, once");
      assert.equal(api[1].init.headers.get("authorization"), "Bearer t2");
      api[1].ok({ ok: true });
      assert.equal((await res).status, 200);
    },
  },
];
