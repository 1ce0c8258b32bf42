// The edge token broker (worker/) in real workerd through Miniflare, against an upstream
// token server and API on 127.0.0.1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBroker } from "../../worker/local.mjs";
import { TokenClient, brokerFetch, startFixture, key, until } from "./helpers.mjs";

const APP = "https://app.example.com";
let up;
const running = [];

before(async () => (up = await startFixture()));
after(async () => {
  for (const mf of running) await mf.dispose();
  await up.close();
});

async function broker(vars) {
  const b = await startBroker(vars);
  running.push(b);
  return b;
}

const vars = (k, extra = {}) => ({
  TOKEN_URL: up.url(k, "ttl=60"),
  CLIENT_ID: "broker-client",
  CLIENT_SECRET: "EDGE-SECRET-123",
  ALLOWED_ORIGINS: `${APP}, http://localhost:5173`,
  PROXY_ORIGIN: up.origin,
  RATE_LIMIT: "0",
  ...extra,
});

test("configuration errors: every request answers 500 naming the variable, never a value", async () => {
  const b = await broker({ TOKEN_URL: "http://not-loopback.example.com/t", CLIENT_ID: "id", CLIENT_SECRET: "EDGE-SECRET-123" });
  for (const [path, method] of [["/token", "POST"], ["/healthz", "GET"], ["/proxy/x", "GET"]]) {
    const r = await b.fetch(path, { method });
    const text = await r.text();
    assert.equal(r.status, 500);
    assert.equal(JSON.parse(text).error, "broker_misconfigured");
    assert.match(text, /TOKEN_URL/);
    assert.ok(!text.includes("EDGE-SECRET") && !text.includes("not-loopback"), text);
  }
  const missing = await broker({ TOKEN_URL: "https://auth.example.com/t", CLIENT_ID: "id" });
  assert.match(await (await missing.fetch("/token", { method: "POST" })).text(), /CLIENT_SECRET: is required/);
  // A page on a listed origin may read which variable (not a bare "Failed to fetch"); its
  // preflight is answered; another origin reads nothing.
  const listed = await broker({ TOKEN_URL: "https://auth.example.com/t", CLIENT_ID: "id", ALLOWED_ORIGINS: APP });
  const pre = await listed.fetch("/token", { method: "OPTIONS", headers: { origin: APP, "access-control-request-method": "POST", "access-control-request-headers": "content-type" } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), APP);
  assert.equal(pre.headers.get("access-control-allow-headers"), "content-type");
  const told = await listed.fetch("/token", { method: "POST", headers: { origin: APP } });
  assert.equal(told.status, 500);
  assert.equal(told.headers.get("access-control-allow-origin"), APP);
  assert.match(await told.text(), /"broker_misconfigured".*CLIENT_SECRET: is required/);
  const other = await listed.fetch("/token", { method: "POST", headers: { origin: "https://evil.example" } });
  assert.equal(other.status, 500);
  assert.equal(other.headers.get("access-control-allow-origin"), null);
  // What a broker client (a page's, here Node's) is told.
  const e = await new TokenClient({ brokerUrl: `${listed.url}/token`, maxRetries: 0 }).getToken().catch((e) => e);
  assert.equal(e.code, "OAUTH_ERROR");
  assert.equal(e.error, "broker_misconfigured");
  assert.match(e.message, /CLIENT_SECRET: is required/);
});

test("endpoints, methods, CORS", async () => {
  const k = key("b");
  const b = await broker(vars(k));
  const health = await b.fetch("/healthz");
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { ok: true, cache: "isolate", rateLimit: "off" });

  const t = await b.fetch("/token", { method: "POST", headers: { origin: APP } });
  assert.equal(t.status, 200);
  assert.equal(t.headers.get("cache-control"), "no-store");
  assert.equal(t.headers.get("access-control-allow-origin"), APP);
  assert.match(t.headers.get("vary"), /Origin/);
  const body = await t.json();
  assert.deepEqual(Object.keys(body).sort(), ["access_token", "expires_in", "token_type"]);
  assert.ok(body.expires_in <= 60 && body.expires_in >= 58);
  const again = await (await b.fetch("/token", { method: "POST", headers: { origin: APP } })).json();
  assert.equal(again.access_token, body.access_token);
  assert.equal(up.count(k), 1, "a cached /token makes no upstream request");
  const [sent] = up.log(k);
  assert.equal(sent.headers.authorization, `Basic ${Buffer.from("broker-client:EDGE-SECRET-123").toString("base64")}`);

  const pre = await b.fetch("/token", { method: "OPTIONS", headers: { origin: APP, "access-control-request-method": "POST", "access-control-request-headers": "content-type" } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), APP);
  assert.match(pre.headers.get("access-control-allow-methods"), /POST/);
  assert.equal(pre.headers.get("access-control-allow-headers"), "content-type");

  for (const init of [{ method: "POST", headers: { origin: "https://evil.example.com" } }, { method: "OPTIONS", headers: { origin: "https://evil.example.com" } }]) {
    const r = await b.fetch("/token", init);
    assert.equal(r.status, 403);
    assert.equal(r.headers.get("access-control-allow-origin"), null);
    assert.equal((await r.json()).error, "origin_not_allowed");
  }
  const nf = await b.fetch("/nope");
  assert.equal(nf.status, 404);
  assert.equal((await nf.json()).error, "not_found");
  const wrong = await b.fetch("/token");
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("allow"), "POST, OPTIONS");
  assert.equal((await b.fetch("/healthz", { method: "DELETE" })).status, 405);
});

test("proxy: forwards to PROXY_ORIGIN with the token, strips the caller's credentials", async () => {
  const k = key("p");
  const b = await broker(vars(k));
  const r = await b.fetch(`/proxy/s/${k}/api/items?x=1`, {
    method: "POST",
    body: "payload",
    headers: { origin: APP, authorization: "Bearer caller", cookie: "session=1", "content-type": "text/plain", connection: "x-secret-hop", "x-secret-hop": "1", "tokenkit-request": "1" },
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("access-control-allow-origin"), APP);
  assert.deepEqual(await r.json(), { ok: true, path: "/items", method: "POST", body: "payload" });
  const [call] = up.apilog(k);
  const token = (await (await b.fetch("/token", { method: "POST" })).json()).access_token;
  assert.equal(call.authorization, `Bearer ${token}`);
  const denied = await b.fetch(`/proxy/s/${k}/api/items`, { headers: { origin: "https://evil.example.com", "tokenkit-request": "1" } });
  assert.equal(denied.status, 403);
  // Without the CSRF header (a form, a navigation, an <img> from another site cannot send
  // one), refused before anything reaches the API.
  for (const headers of [{ origin: APP }, {}, { "tokenkit-request": "0" }]) {
    const r = await b.fetch(`/proxy/s/${k}/api/items`, { method: "POST", body: "x", headers });
    assert.equal(r.status, 403, JSON.stringify(headers));
    assert.equal((await r.json()).error, "csrf_header_required");
  }
  assert.equal(up.apilog(k).length, 1, "only the first call reached the API");
});

test("proxy path attacks are rejected and never reach another host", async () => {
  const k = key("atk");
  const b = await broker(vars(k));
  // What reaches the Worker intact is rejected before any token or API request.
  for (const path of [
    "/proxy/a%2fb",
    "/proxy/a%2F..%2Fb",
    "/proxy/a%5cb",
    "/proxy//evil.example.com/x",
    "/proxy/https://evil.example.com/x",
    "/proxy/https:evil.example.com",
    "/proxy/a/b//c",
  ]) {
    const r = await b.fetch(path, { headers: { origin: APP, "tokenkit-request": "1" } });
    assert.equal(r.status, 400, path);
    assert.equal((await r.json()).error, "bad_proxy_path", path);
  }
  assert.equal(up.count(k), 0, "not even a token was fetched");
  assert.equal(up.apilog(k).length, 0);
  // Dot segments and backslashes are normalised by the URL parser (the client's and
  // workerd's) before the Worker sees them: sent byte for byte, they either leave /proxy/
  // (404) or stay a path on PROXY_ORIGIN; never another host.
  const raw = (path) =>
    new Promise((resolve, reject) => {
      const u = new URL(b.url);
      const req = httpRequest({ host: "127.0.0.1", port: u.port, path, method: "GET", headers: { "tokenkit-request": "1" } }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve([res.statusCode, body]));
      });
      req.on("error", reject);
      req.end();
    });
  for (const path of ["/proxy/../admin", "/proxy/a/../../b", "/proxy/%2e%2e/admin", "/proxy/.%2E/x", "/proxy/..%2f..%2fx"]) {
    const [status, body] = await raw(path);
    assert.ok(status === 400 || (status === 404 && body.includes("unknown path")), `${path}: ${status} ${body}`);
  }
  const [status] = await raw("/proxy/s\\" + k + "\\api\\norm");
  assert.equal(status, 200, "a\\b is a/b on PROXY_ORIGIN (normalised), not another host");
  assert.deepEqual(up.apilog(k).map((c) => c.path), ["/norm"]);
});

test("rate limit per client answers 429 with Retry-After", async () => {
  const k = key("rl");
  const b = await broker(vars(k, { RATE_LIMIT: "3" }));
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await b.fetch("/healthz", { headers: { "cf-connecting-ip": "203.0.113.7" } })).status);
  assert.deepEqual(statuses, [200, 200, 200, 429]);
  const r = await b.fetch("/healthz", { headers: { "cf-connecting-ip": "203.0.113.7" } });
  assert.equal(r.status, 429);
  assert.ok(Number(r.headers.get("retry-after")) >= 1);
  assert.equal((await b.fetch("/healthz", { headers: { "cf-connecting-ip": "203.0.113.8" } })).status, 200, "another client");
});

test("upstream failures map to the broker contract, without secrets", async () => {
  for (const [seq, status, code] of [
    ["500", 502, "upstream_unavailable"],
    ["close", 502, "upstream_unavailable"],
    ["429:9", 429, "upstream_rate_limited"],
    ["oauth:invalid_client", 400, "upstream_rejected"],
    ["malformed", 502, "upstream_invalid_response"],
  ]) {
    const k = key("uf");
    const b = await broker(vars(k, { TOKEN_URL: up.url(k, `seq=${seq}`) }));
    const r = await b.fetch("/token", { method: "POST" });
    const text = await r.text();
    assert.equal(r.status, status, `${seq}: ${text}`);
    assert.equal(JSON.parse(text).error, code);
    assert.ok(!text.includes("EDGE-SECRET") && !/\bat \w+ \(/.test(text) && !text.includes("rejected: invalid_client"), text);
    if (status === 429) assert.equal(r.headers.get("retry-after"), "9");
  }
});

test("1000 concurrent /token on a cold broker -> exactly one upstream request", async () => {
  const k = key("sf");
  const b = await broker(vars(k, { TOKEN_URL: up.url(k, "seq=slow:300&ttl=60") }));
  const bodies = await Promise.all(Array.from({ length: 1000 }, () => b.fetch("/token", { method: "POST" }).then((r) => r.json())));
  assert.equal(up.count(k), 1);
  assert.equal(new Set(bodies.map((x) => x.access_token)).size, 1);
  assert.ok(bodies.every((x) => x.access_token?.startsWith("tok-")));
});

test("a token that expires on arrival (expires_in 0) is answered at once with it, one upstream request per /token, never a loop", async () => {
  const k = key("zero");
  const b = await broker(vars(k, { TOKEN_URL: up.url(k, "ttl=0") }));
  const r = await b.fetch("/token", { method: "POST", headers: { origin: APP } });
  const body = await r.json();
  assert.equal(r.status, 200, JSON.stringify(body));
  assert.ok(body.access_token.startsWith("tok-"));
  assert.equal(body.expires_in, 0);
  assert.equal(up.count(k), 1, "answered from its own flight: not asked for again");
});

test("the request that started the refresh is aborted: other waiters still get the token", async () => {
  const k = key("ab");
  const b = await broker(vars(k, { TOKEN_URL: up.url(k, "seq=slow:800&ttl=60") }));
  const ctl = new AbortController();
  const first = b.fetch("/token", { method: "POST", signal: ctl.signal }).catch((e) => e.name);
  await until(() => up.count(k) === 1, 5000, "the upstream token request");
  const second = b.fetch("/token", { method: "POST" });
  ctl.abort();
  assert.equal(await first, "AbortError");
  const r = await second;
  assert.equal(r.status, 200);
  assert.match((await r.json()).access_token, /^tok-/);
  assert.equal(up.count(k), 1, "the aborted request's upstream fetch completed for everyone");
  const later = await (await b.fetch("/token", { method: "POST" })).json();
  assert.match(later.access_token, /^tok-/);
  assert.equal(up.count(k), 1);
});

test("BROKER_KEYS: every caller needs X-Broker-Key; an allowed Origin (anyone can send one) is no substitute", async () => {
  const k = key("bk");
  const b = await broker(vars(k, { BROKER_KEYS: "alpha, beta" }));
  assert.equal((await b.fetch("/token", { method: "POST" })).status, 401);
  assert.equal((await b.fetch("/token", { method: "POST", headers: { "x-broker-key": "nope" } })).status, 401);
  assert.equal((await b.fetch("/token", { method: "POST", headers: { "x-broker-key": "beta" } })).status, 200);
  assert.equal((await b.fetch("/token", { method: "POST", headers: { origin: APP } })).status, 401);
  assert.equal((await b.fetch("/proxy/x", { headers: { origin: APP } })).status, 401);
  assert.equal((await b.fetch("/token", { method: "POST", headers: { origin: APP, "x-broker-key": "alpha" } })).status, 200);
  const pre = await b.fetch("/token", { method: "OPTIONS", headers: { origin: APP, "access-control-request-method": "POST", "access-control-request-headers": "x-broker-key" } });
  assert.equal(pre.status, 204, "a preflight cannot carry the key");
  assert.equal(pre.headers.get("access-control-allow-headers"), "x-broker-key");
});

test("ALLOW_CREDENTIALS=true: credentialed CORS for allowed origins only", async () => {
  const k = key("cred");
  const b = await broker(vars(k, { ALLOW_CREDENTIALS: "true" }));
  const ok = await b.fetch("/token", { method: "POST", headers: { origin: APP } });
  assert.equal(ok.headers.get("access-control-allow-credentials"), "true");
  assert.equal(ok.headers.get("access-control-allow-origin"), APP);
  const evil = await b.fetch("/token", { method: "POST", headers: { origin: "https://evil.example.com" } });
  assert.equal(evil.status, 403);
  assert.equal(evil.headers.get("access-control-allow-credentials"), null);
  const plain = await broker(vars(key("nocred")));
  assert.equal((await plain.fetch("/token", { method: "POST", headers: { origin: APP } })).headers.get("access-control-allow-credentials"), null);
});

test("browser side: TokenClient({ brokerUrl }) gets tokens from the broker, no secret", async () => {
  const k = key("bc");
  const b = await broker(vars(k));
  const client = new TokenClient({ brokerUrl: `${b.url}/token`, allowedOrigins: [up.origin] });
  const r = await client.fetch(up.api(k, "/direct"));
  assert.equal(r.status, 200);
  const many = await Promise.all(Array.from({ length: 50 }, () => client.getToken()));
  assert.equal(new Set(many).size, 1);
  assert.equal(up.count(k), 1);
  // Through the proxy, the browser never even holds the token.
  const viaProxy = await brokerFetch(`${b.url}/proxy/s/${k}/api/viaproxy`);
  assert.equal(viaProxy.status, 200);
  await assert.rejects(client.fetch("https://elsewhere.example.com/"), { code: "ORIGIN_NOT_ALLOWED" });
  client.dispose();
});

/** A TokenClient of broker `b` whose fetch records when each broker call is made. */
function brokerClient(b, extra = {}) {
  const calls = [];
  const client = new TokenClient({ brokerUrl: `${b.url}/token`, fetch: (url, init) => (calls.push(Date.now()), fetch(url, init)), ...extra });
  return { client, calls };
}

test("browser side: a refusal the broker cannot fix is one broker call, never retried", async () => {
  const k = key("br");
  const b = await broker(vars(k, { TOKEN_URL: up.url(k, "seq=oauth:invalid_client") }));
  const { client, calls } = brokerClient(b, { maxRetries: 5 });
  await assert.rejects(client.getToken(), (e) => e.code === "OAUTH_ERROR" && e.status === 400 && e.error === "upstream_rejected");
  assert.equal(calls.length, 1, "one broker call");
  assert.equal(up.count(k), 1, "one upstream request");
  client.dispose();
});

test("browser side: the broker's 429 + Retry-After is waited out by the client, then retried", async () => {
  // RATE_LIMIT=60: a full bucket of 60, refilled one a second. Drain it, then ask for a token.
  const k = key("b429");
  const b = await broker(vars(k, { RATE_LIMIT: "60" }));
  for (let i = 0; i < 60; i++) await (await b.fetch("/healthz")).text();
  const { client, calls: seen } = brokerClient(b);
  assert.match(await client.getToken(), /^tok-/);
  assert.equal(seen.length, 2, "one retry");
  assert.ok(seen[1] - seen[0] >= 1000, `waited ${seen[1] - seen[0]} ms for Retry-After: 1`);
  client.dispose();
});

test("browser side: an upstream 429 the broker will not wait out is passed on and honoured", async () => {
  // The broker waits out a short upstream Retry-After itself (within its 30 s deadline); a
  // longer one comes back as 429 + Retry-After, and the client makes no call before it passes.
  const k = key("u429");
  const b = await broker(vars(k, { TOKEN_URL: up.url(k, "seq=429:40,ok") }));
  const { client, calls } = brokerClient(b);
  const e = await client.getToken().catch((e) => e);
  assert.equal(e.code, "RATE_LIMITED");
  assert.ok(e.retryAfter >= 39 && e.retryAfter <= 40, String(e.retryAfter));
  await assert.rejects(client.getToken(), { code: "RATE_LIMITED" });
  assert.equal(calls.length, 1, "no broker call inside Retry-After");
  assert.equal(up.count(k), 1, "and no upstream request");
  const direct = await b.fetch("/token", { method: "POST" });
  assert.equal(direct.status, 429, "the broker also fails fast until Retry-After passes");
  assert.ok(Number(direct.headers.get("retry-after")) >= 39);
  assert.equal(up.count(k), 1);
  client.dispose();
});

test("the Worker in worker/ bundles with Wrangler without warnings (make worker, deploying from the repo)", () => {
  const root = new URL("../..", import.meta.url).pathname;
  const w = mkdtempSync(join(tmpdir(), "tokenkit-worker-"));
  try {
    cpSync(join(root, "worker"), w, { recursive: true });
    const built = spawnSync(join(root, "node_modules/.bin/wrangler"), ["deploy", "--dry-run", "--outdir", "dist"], {
      cwd: w,
      encoding: "utf8",
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", FORCE_COLOR: "0" },
    });
    assert.equal(built.status, 0, built.stderr);
    assert.doesNotMatch(built.stdout + built.stderr, /Duplicate key|WARNING/);
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});
