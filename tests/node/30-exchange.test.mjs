// Down-scoped tokens per API (RFC 10017 §6.2.2.3) from the broker in workerd, against
// oidc-provider with private_key_jwt clients: PROXY_ROUTES entries that name their own
// resource (client credentials: one cached, single-flight token per API, alone and with the
// TOKEN_CACHE object) or audience and scope (a signed-in user's token exchanged for one per
// API, RFC 8693, in the session's object: one exchange per session and API under concurrent
// calls). Each API of the tests' own takes only a token issued for it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { Miniflare } from "miniflare";
import { launchChromium } from "../fixtures/chromium.mjs";
import { signInAt } from "../fixtures/oidc.mjs";
import { clientKeyPair, startKeyAs, startKeyBroker } from "../fixtures/keyauth.mjs";
import { workerdOptions } from "../../worker/local.mjs";

const worker = new URL("../../worker/", import.meta.url).pathname;
const APP = "https://app.example.com";
let key, browser;
before(async () => {
  key = await clientKeyPair("svc-key");
  browser = await launchChromium();
});
after(async () => await browser?.close());

/**
 * The APIs, on one origin (the broker's PROXY_ORIGIN): /orders/ and /billing/ take only a
 * token issued for them (client credentials with their resource, or exchanged for their
 * audience), /public/ any token of the server, /whoami/ a user's own access token. `log`:
 * every call's API, token and verdict.
 */
async function startApis(as) {
  const log = [];
  const server = createServer(async (req, res) => {
    const api = new URL(req.url, "http://x").pathname.split("/")[1];
    const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    let ok = false, sub;
    const x = as.exchanged.get(token);
    if (x) {
      ok = x.aud === `${api}-api` && x.exp > Date.now();
      sub = x.sub;
    } else {
      const cc = await as.find(token);
      const at = cc ? undefined : await as.provider.AccessToken.find(token);
      if (cc) ok = api === "public" || cc.aud === `${origin}/${api}/`;
      if (at) [ok, sub] = [api === "whoami", at.accountId];
    }
    log.push({ api, token, ok });
    const headers = { "content-type": "application/json", ...(!ok && { "www-authenticate": 'Bearer error="invalid_token"' }) };
    res.writeHead(ok ? 200 : 401, headers).end(JSON.stringify({ api, sub }));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, log, close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))) };
}

test("client credentials: two routes with their own resource get two tokens, one request each under 40 concurrent calls, each token taken only by its own API; alone and with TOKEN_CACHE", async (t) => {
  const as = await startKeyAs({ keys: [key.publicJwk] });
  const apis = await startApis(as);
  t.after(async () => (await apis.close(), await as.close()));
  const routes = `GET /orders/ resource=${apis.origin}/orders/, GET /billing/ resource=${apis.origin}/billing/, GET /public/`;
  const base = { ISSUER: as.issuer, CLIENT_ID: "svc", CLIENT_AUTH: "private_key_jwt", CLIENT_KEY: JSON.stringify(key.privateJwk), ALLOWED_ORIGINS: APP, PROXY_ORIGIN: apis.origin, PROXY_ROUTES: routes, RATE_LIMIT: "0" };
  for (const [label, durableObjects] of [["alone", {}], ["with TOKEN_CACHE", { TOKEN_CACHE: "TokenCache" }]]) {
    const mf = new Miniflare({ ...workerdOptions(`${worker}index.js`, worker, base), durableObjects });
    try {
      await mf.ready;
      const call = (path) => mf.dispatchFetch(`http://broker/proxy${path}`, { headers: { origin: APP, "tokenkit-request": "1" } });
      const before = as.count.token;
      const from = apis.log.length;
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => call(i % 2 ? `/orders/${i}` : `/billing/${i}`)));
      assert.deepEqual([...new Set(answers.map((r) => r.status))], [200], `${label}: ${JSON.stringify(apis.log.slice(from).find((l) => !l.ok))}`);
      assert.equal(as.count.token - before, 2, `${label}: one token request per route`);
      const used = (api) => new Set(apis.log.slice(from).filter((l) => l.api === api).map((l) => l.token));
      const [orders, billing] = [used("orders"), used("billing")];
      assert.deepEqual([orders.size, billing.size], [1, 1], label);
      assert.notEqual([...orders][0], [...billing][0]);
      // The default route takes the deployment's token (a third request, no resource).
      assert.equal((await call("/public/x")).status, 200);
      assert.equal(as.count.token - before, 3);
      // Each token is for its own API only: sent to the other, it is refused.
      const cross = await fetch(`${apis.origin}/billing/x`, { headers: { authorization: `Bearer ${[...orders][0]}` } });
      assert.equal(cross.status, 401);
      const rec = await as.find([...orders][0]);
      assert.equal(rec.aud, `${apis.origin}/orders/`);
    } finally {
      await mf.dispose();
    }
  }
});

test("PROXY_ROUTES with a bad token word is a 500 naming the variable", async () => {
  for (const routes of ["GET /orders/ audience=", "GET /orders/ colour=blue", "GET /orders/ resource=not-a-url", "GET /orders/ scope=a\"b", "GET /orders/ audience=a audience=b"]) {
    const mf = new Miniflare(workerdOptions(`${worker}index.js`, worker, { TOKEN_URL: "https://as.example/token", CLIENT_ID: "a", CLIENT_SECRET: "b", PROXY_ORIGIN: "https://api.example", PROXY_ROUTES: routes, RATE_LIMIT: "0" }));
    try {
      await mf.ready;
      const r = await mf.dispatchFetch("http://broker/proxy/orders/1", { headers: { "tokenkit-request": "1" } });
      assert.equal(r.status, 500, routes);
      assert.match((await r.json()).message, /^PROXY_ROUTES: /, routes);
    } finally {
      await mf.dispose();
    }
  }
});

test("a signed-in user (Chromium, no shared secret): two routes with their own audience and scope get the user's token exchanged once each (RFC 8693) under 40 concurrent calls; each taken only by its API; the user's own token elsewhere", async (t) => {
  let apis;
  const { broker, as, page } = await startKeyBroker(t, {
    key,
    as: { audiences: ["orders-api", "billing-api"] },
    bindings: async (as) => {
      apis = await startApis(as);
      t.after(() => apis.close());
      return { PROXY_ORIGIN: apis.origin, PROXY_ROUTES: "GET /orders/ audience=orders-api scope=orders, GET /billing/ audience=billing-api scope=billing, GET /whoami/" };
    },
  });
  const context = await browser.newContext();
  const p = await context.newPage();
  await p.goto(`${broker}/login?return_to=${encodeURIComponent(`${page.origin}/`)}`);
  await signInAt(p, "fay");
  await p.waitForURL(`${page.origin}/`);
  const metadata = as.count.metadata;
  const calls = (paths) => p.evaluate(([b, ps]) => Promise.all(ps.map((x) => fetch(`${b}/proxy${x}`, { credentials: "include", headers: { "Tokenkit-Request": "1" } }).then(async (r) => [r.status, await r.json()]))), [broker, paths]);
  const results = await calls(Array.from({ length: 40 }, (_, i) => (i % 2 ? `/orders/${i}` : `/billing/${i}`)));
  assert.deepEqual([...new Set(results.map(([s]) => s))], [200], JSON.stringify(apis.log.find((l) => !l.ok)));
  assert.ok(results.every(([, b]) => b.sub === "fay"), "the exchanged tokens are the user's");
  assert.equal(as.count.exchanges, 2, "one exchange per session and API");
  assert.equal(as.count.metadata, metadata, "the exchanges use the session's discovered endpoints: no metadata asked again");
  const tokens = (api) => [...new Set(apis.log.filter((l) => l.api === api).map((l) => l.token))];
  const [orders, billing] = [tokens("orders"), tokens("billing")];
  assert.deepEqual([orders.length, billing.length], [1, 1]);
  assert.deepEqual([as.exchanged.get(orders[0]).aud, as.exchanged.get(orders[0]).scope], ["orders-api", "orders"]);
  assert.deepEqual([as.exchanged.get(billing[0]).aud, as.exchanged.get(billing[0]).scope], ["billing-api", "billing"]);
  assert.equal((await fetch(`${apis.origin}/orders/x`, { headers: { authorization: `Bearer ${billing[0]}` } })).status, 401, "billing's token is not orders'");
  // A route without a token of its own takes the user's own access token.
  const [[status, me]] = await calls(["/whoami/"]);
  assert.deepEqual([status, me.sub], [200, "fay"]);
  // Every request authenticated with the key: PAR, code, and the two exchanges.
  assert.deepEqual(as.assertions.map((a) => a.path), ["/request", "/token", "/token", "/token"]);
  // Sign-out revokes what the session holds: its refresh token and both exchanged tokens.
  const revocations = as.count.revocations;
  const out = await p.evaluate((b) => fetch(`${b}/logout`, { method: "POST", credentials: "include", headers: { "Tokenkit-Request": "1" } }).then((r) => r.json()), broker);
  assert.deepEqual(out, { signedOut: true, revoked: true });
  assert.equal(as.count.revocations - revocations, 3, "the refresh token and the two exchanged access tokens");
  await context.close();
});
