// The shipped client in each runtime that loads it, with real timers: tests/wasm/run.mjs runs
// these cases in Node (pkg/node.js) and in headless Chromium (pkg/browser.js, in a page).
// The token server is simulated in the same realm (sim.js, through the `fetch` option); one
// case goes through the platform's own fetch to tests/fixtures/server.mjs. Plain JS with its
// own asserts: the same file runs in both.
import { SIM, simFetch, simRequests } from "./sim.js";

function ok(cond, what) {
  if (!cond) throw new Error(`not true: ${what}`);
}
function eq(a, b, what) {
  if (a !== b) throw new Error(`${what}: ${JSON.stringify(a)} !== ${JSON.stringify(b)}`);
}
async function rejects(p, code, what) {
  try {
    await p;
  } catch (e) {
    eq(e.name, "TokenError", `${what}: name`);
    ok(e instanceof Error, `${what}: an Error`);
    return eq(e.code, code, `${what}: code`);
  }
  throw new Error(`${what}: resolved, expected ${code}`);
}
/** Waits until `done()` holds (checked every 50 ms) for at most `ms`: ordering by the event. */
async function until(ms, done) {
  const start = Date.now();
  while (!done()) {
    if (Date.now() - start > ms) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}
const counter = () => {
  const f = (x) => f.calls.push(x);
  f.calls = [];
  return f;
};

/** Options for scenario `k` of the simulated server. */
const opts = (k, query, extra = {}) => ({ tokenUrl: `${SIM}/s/${k}/token?${query}`, clientId: "cid", clientSecret: "csecret", allowedOrigins: [SIM], fetch: simFetch, ...extra });

export const cases = [
  ["a token is fetched once and cached; expiresAt is the server's lifetime", async ({ TokenClient, key }) => {
    const k = key("cache");
    const c = new TokenClient(opts(k, "ttl=60"));
    const a = await c.getToken();
    eq(await c.getToken(), a, "the same token");
    ok(a.startsWith("tok-"), a);
    eq(simRequests(k), 1, "requests");
    const left = (await c.getTokenInfo()).expiresAt - Date.now();
    ok(left > 55_000 && left <= 60_000, `left ${left}`);
    c.dispose();
  }],
  ["200 concurrent calls share one request", async ({ TokenClient, key }) => {
    const k = key("flight");
    const c = new TokenClient(opts(k, "seq=slow:100&ttl=60"));
    const tokens = await Promise.all(Array.from({ length: 200 }, () => c.getToken()));
    ok(tokens.every((t) => t === tokens[0]), "one token");
    eq(simRequests(k), 1, "requests");
    c.dispose();
  }],
  ["the refresh timer really fires; a disposed client's never sends", async ({ TokenClient, key }) => {
    // 10 s tokens, skew 5 s: the timer refreshes at 5 s with no call. A second client,
    // disposed, got its token first: had its refresh survived dispose, its request would
    // have reached the server before the first client's. (Whether dispose clears the timer
    // itself is tests/node/06-timers's check, through clearTimeout: a disposed core ignores
    // a timer that still fires, so this case stays green without the clearing.)
    const gone = key("timer-disposed");
    const d = new TokenClient(opts(gone, "ttl=10", { refreshSkewSeconds: 5 }));
    await d.getToken();
    d.dispose();
    const k = key("timer");
    const c = new TokenClient(opts(k, "ttl=10", { refreshSkewSeconds: 5 }));
    const seen = counter();
    c.on("token", seen);
    await c.getToken();
    eq(seen.calls.length, 1, "token events");
    ok(await until(9_000, () => seen.calls.length === 2), "proactive refresh with no call");
    eq(simRequests(k), 2, "requests");
    eq(simRequests(gone), 1, "a disposed client sends nothing more");
    c.dispose();
  }],
  ["a failed refresh emits one error; the token lapses with no replacement: expired", async ({ TokenClient, key }) => {
    const k = key("expired");
    const c = new TokenClient(opts(k, "ttl=10&seq=ok,500", { maxRetries: 0, refreshSkewSeconds: 5 }));
    const expired = counter();
    const errors = counter();
    c.on("expired", expired);
    c.on("error", errors);
    await c.getToken();
    ok(await until(9_000, () => errors.calls.length === 1), "background refresh failed");
    eq(errors.calls[0].code, "HTTP_ERROR", "error code");
    eq(expired.calls.length, 0, "the old token is still valid");
    ok(await until(9_000, () => expired.calls.length === 1), "token lapsed without replacement");
    eq(errors.calls.length, 1, "one attempt per cooldown");
    c.dispose();
  }],
  ["fetch() and sign() attach the token only to allowed origins; a refused token is replaced once", async ({ TokenClient, key }) => {
    const k = key("sign");
    const seen = [];
    const api = (input, init) => {
      const req = new Request(input, init);
      seen.push(req.headers.get("authorization"));
      return Promise.resolve(new Response("", { status: seen.length === 2 ? 401 : 200, headers: { "www-authenticate": 'Bearer error="invalid_token"' } }));
    };
    const c = new TokenClient(opts(k, "ttl=60", { fetch: (u, i) => (String(u).startsWith(`${SIM}/s/`) ? simFetch(u, i) : api(u, i)) }));
    const token = await c.getToken();
    eq((await c.fetch(`${SIM}/api`)).status, 200, "first call");
    eq(seen[0], `Bearer ${token}`, "the header");
    eq((await c.fetch(`${SIM}/api`)).status, 200, "a 401 with invalid_token is replayed with a new token");
    ok(seen[2] !== seen[1] && seen[2].startsWith("Bearer tok-"), "a new token on the replay");
    eq(simRequests(k), 2, "requests");
    await rejects(c.fetch("https://example.invalid/"), "ORIGIN_NOT_ALLOWED", "another origin");
    await rejects(c.sign(new Request("https://example.invalid/")), "ORIGIN_NOT_ALLOWED", "sign() to another origin");
    const mine = await c.sign(new Request(`${SIM}/api`, { headers: { authorization: "Basic x" } }));
    eq(mine.headers.get("authorization"), "Basic x", "the caller's own header is left as is");
    eq((await c.sign(new Request(`${SIM}/api`))).headers.get("authorization"), `Bearer ${await c.getToken()}`, "sign()");
    c.dispose();
  }],
  ["a hung request is aborted at timeoutMs", async ({ TokenClient, key }) => {
    const c = new TokenClient(opts(key("hang"), "seq=hang", { timeoutMs: 300 }));
    await rejects(c.getToken(), "TIMEOUT", "getToken");
    c.dispose();
  }],
  ["5xx is retried, then the token comes", async ({ TokenClient, key }) => {
    const k = key("retry");
    const c = new TokenClient(opts(k, "seq=503,503,ok"));
    ok((await c.getToken()).startsWith("tok-"), "a token");
    eq(simRequests(k), 3, "requests");
    c.dispose();
  }],
  ["configuration errors are TokenErrors thrown by the constructor", async ({ TokenClient }) => {
    try {
      new TokenClient({ tokenUrl: "http://auth.example.com/t", clientId: "a", clientSecret: "b" });
    } catch (e) {
      eq(e.code, "INVALID_CONFIG", "code");
      ok(e.message.startsWith("tokenUrl:"), e.message);
      return;
    }
    throw new Error("constructed");
  }],
  ["disposed and freed clients reject DISPOSED; no property holds the secret or the token", async ({ TokenClient, key }) => {
    const c = new TokenClient(opts(key("gone"), "ttl=60"));
    const t = await c.getToken();
    ok(!JSON.stringify(Object.getOwnPropertyNames(c).map((n) => String(c[n]))).includes(t), "no own property has the token");
    ok(Object.keys(c).length === 0, "no own enumerable properties");
    c.dispose();
    await rejects(c.getToken(), "DISPOSED", "after dispose");
    c.free();
    await rejects(c.getToken(), "DISPOSED", "after free");
    await rejects(c.fetch(`${SIM}/api`), "DISPOSED", "fetch after free");
    c.invalidate();
    c.dispose();
  }],
  ["a listener that frees the client mid-answer: its waiters reject DISPOSED, nothing throws", async ({ TokenClient, key }) => {
    const c = new TokenClient(opts(key("free-in-listener"), "seq=slow:50&ttl=60"));
    c.on("token", () => c.free());
    const results = await Promise.allSettled([c.getToken(), c.getToken(), c.getTokenInfo()]);
    ok(results.every((r) => r.status === "fulfilled" || r.reason.code === "DISPOSED"), JSON.stringify(results.map((r) => r.status + " " + (r.reason?.code ?? ""))));
    await rejects(c.getToken(), "DISPOSED", "after");
  }],
  ["the platform's own fetch against the fixture server", async ({ TokenClient, key, fixture }) => {
    const k = key("real");
    const c = new TokenClient({ tokenUrl: `${fixture}/s/${k}/token?seq=503,ok&ttl=60`, clientId: "cid", clientSecret: "csecret", allowedOrigins: [fixture] });
    const a = await c.getToken();
    eq(await c.getToken(), a, "cached");
    const log = await (await fetch(`${fixture}/s/${k}/log`)).json();
    eq(log.length, 2, "a 503, then the token");
    ok(log[0].body.includes("grant_type=client_credentials"), log[0].body);
    c.dispose();
  }],
];

/** Runs every case; resolves to `[[name, null | error text], ...]`. Cases run one at a time. */
export async function runAll(TokenClient, fixture, runtime) {
  let n = 0;
  const key = (name) => `${runtime}-${name}-${++n}`;
  const out = [];
  for (const [name, run] of cases) {
    try {
      await run({ TokenClient, key, fixture });
      out.push([name, null]);
    } catch (e) {
      out.push([name, String(e && e.stack ? e.stack : e)]);
    }
  }
  return out;
}
