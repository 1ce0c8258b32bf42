// The broker's proxy in real workerd (Miniflare) on the paths an attacker takes, not the
// ones a feature's author had in mind (issue 34): nested PROXY_ROUTES, the same path in
// another case, encoded or with path parameters, headers that would mislead the API about
// the caller, the method or the path, an API answering out of range or with headers that
// would act as the broker origin's own. A token server and an API of our own on 127.0.0.1
// record what they were sent; an API that must never be reached counts that too.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { startBroker } from "../../worker/local.mjs";

const APP = "https://app.example.com";
let as, api;
const brokers = [];

/** A server on 127.0.0.1: `answer(req, res, body)`; resolves to { origin, seen, close }. */
async function server(answer) {
  const seen = [];
  const s = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks).toString();
    seen.push({ method: req.method, url: req.url, headers: req.headers, body });
    answer(req, res, body);
  });
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  return {
    origin: `http://127.0.0.1:${s.address().port}`,
    seen,
    close: () => new Promise((r) => (s.closeAllConnections(), s.close(r))),
  };
}

const json = (res, status, body, headers = {}) => res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));

before(async () => {
  // A token per audience: `tok-<audience>-<n>` (the deployment's has audience "none").
  let n = 0;
  as = await server((req, res, body) => {
    const aud = new URLSearchParams(body).get("audience") ?? "none";
    json(res, 200, { access_token: `tok-${aud}-${++n}`, token_type: "Bearer", expires_in: 300 });
  });
  api = await server((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (path === "/odd-status") return res.writeHead(600, "Odd").end("out of range");
    // A redirect an attacker can aim (an open `?next=`) at the broker's own routes.
    if (path === "/bounce") return res.writeHead(307, { location: "/logout", "content-type": "text/plain" }).end();
    if (path === "/created") return res.writeHead(201, { location: "/items/7", "content-type": "application/json" }).end("{}");
    if (path === "/policy") {
      // Headers that would act as the broker origin's own, or as its CORS policy.
      return res
        .writeHead(200, {
          "content-type": "application/json",
          "x-api-header": "kept",
          "access-control-allow-origin": "https://evil.example",
          "access-control-allow-credentials": "true",
          "access-control-expose-headers": "*",
          "clear-site-data": '"*"',
          "set-cookie": "__Host-Http-tokenkit-session=evil; Path=/; Secure; HttpOnly",
          "strict-transport-security": "max-age=63072000; includeSubDomains",
          nel: '{"report_to":"x","max_age":86400}',
          "report-to": '{"group":"x","max_age":86400,"endpoints":[{"url":"https://evil.example/r"}]}',
          "service-worker-allowed": "/",
        })
        .end("{}");
    }
    json(res, 200, { path, method: req.method, authorization: req.headers.authorization ?? null });
  });
});
after(async () => {
  for (const b of brokers) await b.dispose();
  await api?.close();
  await as?.close();
});

async function broker(extra = {}) {
  const b = await startBroker({ TOKEN_URL: `${as.origin}/token`, CLIENT_ID: "c", CLIENT_SECRET: "ATTACK-SECRET", ALLOWED_ORIGINS: APP, PROXY_ORIGIN: api.origin, RATE_LIMIT: "0", ...extra });
  brokers.push(b);
  return b;
}

/** A server caller's call through the proxy (the CSRF header, no Origin). */
const call = (b, path, init = {}) => b.fetch(path, { ...init, headers: { "tokenkit-request": "1", ...init.headers } });

test("nested PROXY_ROUTES: the most specific entry decides the methods and the token; no other entry's token, in any case, encoding or path parameters", async () => {
  const b = await broker({ PROXY_ROUTES: "GET POST /api/ audience=general, GET /api/billing/ audience=billing" });
  const seen = api.seen.length;
  const general = await (await call(b, "/proxy/api/items", { method: "POST", body: "x" })).json();
  assert.match(general.authorization, /^Bearer tok-general-/);
  const billing = await (await call(b, "/proxy/api/billing/invoices")).json();
  assert.match(billing.authorization, /^Bearer tok-billing-/);
  // The attacker's paths to billing with the general entry's POST and token.
  for (const [path, status] of [
    ["/proxy/api/billing/charge", 405],
    ["/proxy/api/BILLING/charge", 400],
    ["/proxy/api/Billing/charge", 400],
    ["/proxy/api/%62illing/charge", 405], // decoded first: billing's own rules
    ["/proxy/api/billing", 405], // a trailing slash does not tell two paths apart
    ["/proxy/api/items?_method=DELETE", 400], // a method override in the query
    ["/proxy/api/billing;jsessionid=x/charge", 400],
    ["/proxy/api/..;/api/billing/charge", 400],
  ]) {
    const r = await call(b, path, { method: "POST", body: "charge" });
    assert.equal(r.status, status, `${path}: ${await r.text()}`);
  }
  const r = await call(b, "/proxy/api/billing/charge", { method: "POST" });
  assert.equal(r.headers.get("allow"), "GET, OPTIONS", "only billing's own methods");
  assert.deepEqual(api.seen.slice(seen).map((s) => s.url), ["/api/items", "/api/billing/invoices"], "nothing else reached the API");
});

test("the proxy forwards no header an API could take for the network's word: client identity, method and path overrides, Cloudflare's", async () => {
  const b = await broker();
  const seen = api.seen.length;
  const misleading = {
    "x-http-method-override": "DELETE",
    "x-http-method": "DELETE",
    "x-method-override": "DELETE",
    "x-original-url": "/admin/users",
    "x-rewrite-url": "/admin/users",
    "x-forwarded-host": "admin.internal",
    "x-forwarded-for": "10.0.0.1",
    "x-forwarded-proto": "https",
    forwarded: "for=10.0.0.1;host=admin.internal",
    "x-real-ip": "10.0.0.1",
    "true-client-ip": "10.0.0.1",
    "cf-access-authenticated-user-email": "admin@example.com",
    "cf-connecting-ip": "10.0.0.1",
    "remote-user": "admin",
    "x-auth-request-email": "admin@example.com",
    "x-goog-authenticated-user-email": "accounts.google.com:admin@example.com",
    "x-amzn-oidc-identity": "admin",
    "x-ms-client-principal-name": "admin",
    via: "1.1 trusted-proxy",
  };
  const r = await call(b, "/proxy/items", { headers: { ...misleading, "x-api-version": "2", "idempotency-key": "k1" } });
  assert.equal(r.status, 200, await r.text());
  const got = api.seen.slice(seen)[0].headers;
  for (const h of Object.keys(misleading)) assert.equal(got[h], undefined, `${h} reached the API`);
  assert.deepEqual([got["x-api-version"], got["idempotency-key"]], ["2", "k1"], "the API's own headers pass");
});

test("the API's answer: CORS is the broker's alone, headers that would act on the broker origin are dropped, an out-of-range status is 502", async () => {
  const b = await broker();
  const r = await call(b, "/proxy/policy", { headers: { origin: APP } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("access-control-allow-origin"), APP, "the broker's CORS, not the API's");
  assert.equal(r.headers.get("access-control-expose-headers"), "Retry-After");
  assert.equal(r.headers.get("x-api-header"), "kept");
  for (const h of ["access-control-allow-credentials", "clear-site-data", "set-cookie", "strict-transport-security", "nel", "report-to", "service-worker-allowed"]) {
    assert.equal(r.headers.get(h), null, `${h} reached the browser as the broker's`);
  }
  // A redirect reaches the page without its Location: the browser would follow it as the
  // broker's own (a relative one lands on the broker, with the session cookie and the CSRF header).
  const bounce = await call(b, "/proxy/bounce", { method: "POST", body: "x", redirect: "manual" });
  assert.deepEqual([bounce.status, bounce.headers.get("location")], [307, null]);
  const created = await call(b, "/proxy/created", { method: "POST", body: "x" });
  assert.deepEqual([created.status, created.headers.get("location")], [201, "/items/7"], "a created resource's Location is kept");
  // Without the fix the runtime's Response refused the status and the request hung (500).
  const odd = await call(b, "/proxy/odd-status");
  assert.deepEqual([odd.status, (await odd.json()).error], [502, "api_unavailable"]);
  assert.equal((await call(b, "/proxy/items")).status, 200, "the next call is served");
});

test("requests from several origins at once: each answer carries its own origin's CORS, and each proxied call its own path", async () => {
  const OTHER = "https://other.example.com";
  const b = await broker({ ALLOWED_ORIGINS: `${APP}, ${OTHER}` });
  const origins = [APP, OTHER, "https://evil.example", undefined];
  // A route's kind, gates, origin and target are read from the wasm before any await: a
  // later request's route must not lend its CORS or its target to an earlier one.
  // The first wave waits for the token's one flight; the second is answered from the cache.
  for (const wave of [0, 1]) {
    const calls = Array.from({ length: 24 }, (_, k) => {
      const origin = origins[k % 4];
      const headers = origin === undefined ? {} : { origin };
      const proxied = k % 3 === 0;
      const path = `/items/${k}`;
      const sent = proxied ? call(b, `/proxy${path}`, { headers }) : b.fetch("/token", { method: "POST", headers });
      return sent.then(async (r) => ({ k, origin, proxied, path, status: r.status, cors: r.headers.get("access-control-allow-origin"), body: await r.json() }));
    });
    for (const r of await Promise.all(calls)) {
      const allowed = r.origin === APP || r.origin === OTHER;
      assert.equal(r.cors, allowed ? r.origin : null, `wave ${wave}, call ${r.k} from ${r.origin}: CORS`);
      if (r.origin === "https://evil.example") {
        assert.equal(r.status, 403, `call ${r.k}: an origin not allowed is refused`);
        continue;
      }
      assert.equal(r.status, 200, `call ${r.k}: ${JSON.stringify(r.body)}`);
      if (r.proxied) assert.equal(r.body.path, r.path, `call ${r.k}: its own path`);
      else assert.match(r.body.access_token, /^tok-none-/);
    }
  }
});
