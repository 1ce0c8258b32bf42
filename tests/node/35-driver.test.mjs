// The one JavaScript driver (js/shell.js) on a fake runtime: a fake clock (node:test's mock
// timers for setTimeout and Date, performance.now following Date), a fake fetch whose
// answers the test gives, and every timer the driver arms recorded. Each row runs in both of
// the driver's modes: "node" (one timer per client, armed for the core's deadline) and
// "workerd" (no timer outlives a request: each waiter sleeps, in its own request, to the
// core's deadline). The counterpart of tests/machine.rs, which races the core itself; the
// broker's clients are this driver in its workerd mode (js/broker.js), so what the old Rust
// driver did differently (a 100 ms poll in Workers) is a row here. A real workerd run of the
// same driver: tests/node/15 (8 isolates, concurrent) and 12.
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";

// The servers' build, unbundled: its glue, its wasm, and the shell module the glue imports
// (whose setRuntime switches the driver's mode).
const base = new URL("../../pkg/server/", import.meta.url);
const [snippet] = readdirSync(new URL("snippets/", base));
const shell = await import(new URL(`snippets/${snippet}/js/shell.js`, base).href);
const glue = await import(new URL("tokenkit.js", base).href);
glue.initSync({ module: readFileSync(new URL("tokenkit_bg.wasm", base)) });
const TokenClient = shell.clientClass(glue.Core, () => {}, "");

const TOKEN_URL = "https://auth.example.com/token";
const API = "https://api.example.com";
const token = (t, expiresIn = 3600) => ({ access_token: t, token_type: "Bearer", expires_in: expiresIn });

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
  return { client, calls, api, delays, tick };
}

const rows = [
  {
    name: "20 concurrent callers: one token request, one token",
    async run({ client, calls }) {
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
    async run({ client, calls, tick }, mode) {
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
    async run({ client, calls, delays, tick }, mode) {
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
    name: "a request that fails: the callers wait through the core's backoff; one request at a time",
    async run({ client, calls, tick }) {
      const waiting = [client.getToken(), client.getToken(), client.getToken()];
      await settle();
      calls[0].fail(new TypeError("fetch failed"));
      await settle();
      assert.equal(calls.length, 1, "the retry waits for its backoff");
      for (let i = 0; i < 100 && calls.length < 2; i++) await tick(100);
      assert.equal(calls.length, 2);
      calls[1].ok(token("t1"));
      assert.deepEqual(await Promise.all(waiting), ["t1", "t1", "t1"]);
    },
  },
  {
    name: "dispose while a request is pending: every caller rejects DISPOSED; the late answer changes nothing",
    async run({ client, calls }) {
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
    async run({ client, calls }) {
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
    async run({ client, calls, api }) {
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

for (const mode of ["node", "workerd"]) {
  for (const row of rows) {
    test(`driver, ${mode}: ${row.name}`, async (t) => {
      await row.run(harness(t, mode, row.options), mode);
    });
  }
}
