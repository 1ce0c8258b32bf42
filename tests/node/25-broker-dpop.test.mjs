// The broker with DPoP-bound tokens (DPOP=true, RFC 9449) in real workerd (Miniflare):
// oidc-provider demands DPoP and its nonce on every token request, and the strict API of
// tests/fixtures/dpop.mjs checks every proof and demands its own nonce. Alone (a key each
// isolate makes), combined with the TOKEN_CACHE object and BROKER_KEYS (one key for every
// isolate, the DPOP_KEY secret), misconfigured, and signing users in (a Chromium login
// through oidc-provider with DPoP and nonces required; its userinfo endpoint is the API).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Miniflare } from "miniflare";
import { calculateJwkThumbprint } from "jose";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { workerdOptions } from "../../worker/local.mjs";
import { startDpopAs, startResourceServer } from "../fixtures/dpop.mjs";
import { launchChromium } from "../fixtures/chromium.mjs";
import { callbackFor, startOidc, signInAt } from "../fixtures/oidc.mjs";
import { bffOptions, freePort, startPage } from "../fixtures/bff.mjs";

const APP = "https://app.example.com";
const worker = new URL("../../worker/", import.meta.url).pathname;
let as, rs;
const running = [];
before(async () => {
  as = await startDpopAs();
  rs = await startResourceServer(as);
});
after(async () => {
  for (const mf of running) await mf.dispose();
  await rs?.close();
  await as?.close();
});

async function deploy(extra, durableObjects = {}) {
  const bindings = { TOKEN_URL: as.tokenUrl, CLIENT_ID: "svc", CLIENT_SECRET: "svc-secret", ALLOWED_ORIGINS: APP, PROXY_ORIGIN: rs.origin, RATE_LIMIT: "0", DPOP: "true", ...extra };
  const mf = new Miniflare({ ...workerdOptions(`${worker}index.js`, worker, bindings), durableObjects });
  running.push(mf);
  await mf.ready;
  return mf;
}
const call = (mf, path, { method = "GET", body, headers = {} } = {}) =>
  mf.dispatchFetch(`http://broker${path}`, { method, body, headers: { origin: APP, "tokenkit-request": "1", ...headers } });
const delta = (before) => ({ token: as.count.token - before.token, demands: as.count.nonceDemands - before.nonceDemands, issued: as.count.issued - before.issued });

/** An ES256 key pair's private JWK (the DPOP_KEY secret) and its RFC 7638 thumbprint. */
async function secretKey(alg = { name: "ECDSA", namedCurve: "P-256" }) {
  const pair = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
  return { text: JSON.stringify(jwk), jkt: await calculateJwkThumbprint(await crypto.subtle.exportKey("jwk", pair.publicKey)) };
}

test("one isolate, its own key: 30 concurrent proxied calls, one DPoP-bound token (the AS's nonce answered once), every proof taken by the strict API; /token is not served", async () => {
  const mf = await deploy({});
  const before = { ...as.count };
  const proofsBefore = as.proofs.length;
  const logBefore = rs.log.length;
  const results = await Promise.all(Array.from({ length: 30 }, (_, i) => call(mf, `/proxy/item/${i}?q=${i}`)));
  const bodies = await Promise.all(results.map((r) => r.json()));
  assert.deepEqual([...new Set(results.map((r) => r.status))], [200], JSON.stringify(rs.log.slice(logBefore).filter((l) => l.status !== 200).slice(0, 3)));
  assert.deepEqual(delta(before), { token: 2, demands: 1, issued: 1 }, "single flight; the nonce demand answered once with a fresh proof");
  const [first, second] = as.proofs.slice(proofsBefore);
  assert.notEqual(first.jti, second.jti);
  assert.equal(first.nonce, undefined);
  assert.equal(typeof second.nonce, "string");
  assert.equal(second.htu, as.tokenUrl);
  // One key for the isolate: every call's token is bound to it.
  assert.equal(new Set(bodies.map((b) => b.jkt)).size, 1);
  // The API demanded its nonce (some calls raced the first answer): each such GET was sent
  // again once, with a fresh proof, and no call saw a second challenge.
  const log = rs.log.slice(logBefore);
  assert.equal(log.filter((l) => l.status === 200).length, 30);
  assert.ok(log.filter((l) => l.error === "use_dpop_nonce").length <= 30);
  assert.ok(log.every((l) => l.status === 200 || l.error === "use_dpop_nonce"), JSON.stringify(log.find((l) => l.status !== 200 && l.error !== "use_dpop_nonce")));

  // Methods as sent, each with its own proof; the nonce of the last answer is kept.
  for (const method of ["POST", "PATCH", "DELETE"]) {
    const r = await call(mf, "/proxy/data", { method, body: method === "DELETE" ? undefined : "{}" });
    assert.equal(r.status, 200, `${method}: ${JSON.stringify(rs.log.at(-1))}`);
    assert.equal((await r.json()).method, method);
  }
  // A caller's own DPoP header never reaches the API (it takes exactly one proof: ours).
  const forged = await call(mf, "/proxy/data", { headers: { dpop: "eyJhbGciOiJub25lIn0.e30." } });
  assert.equal(forged.status, 200, JSON.stringify(rs.log.at(-1)));
  // A bound token is no use to a browser.
  const t = await call(mf, "/token", { method: "POST" });
  assert.equal(t.status, 404);
  const text = await t.text();
  assert.match(text, /proxy/);
  assert.ok(!text.includes("svc-secret"));
});

test("a nonce challenge to a call with a body is relayed, not replayed (a stream is not sent twice), and the token is kept", async () => {
  const mf = await deploy({});
  const before = { ...as.count };
  const logBefore = rs.log.length;
  // The isolate's first call to the API carries no API nonce yet.
  const r = await call(mf, "/proxy/data", { method: "POST", body: "{\"once\":true}" });
  assert.equal(r.status, 401);
  assert.match(r.headers.get("www-authenticate"), /use_dpop_nonce/);
  assert.deepEqual(rs.log.slice(logBefore).map((l) => l.error), ["use_dpop_nonce"], "sent once");
  // The nonce that 401 carried is used by the next call, with the same token.
  const ok = await call(mf, "/proxy/data", { method: "POST", body: "{}" });
  assert.equal(ok.status, 200, JSON.stringify(rs.log.at(-1)));
  assert.equal(delta(before).issued, 1, "a nonce challenge does not refuse the token");
});

test("TOKEN_CACHE + BROKER_KEYS + DPOP_KEY: the object and every isolate sign with the secret key; one token for the deployment", async () => {
  const key = await secretKey();
  const before = { ...as.count };
  // The isolate asks the deployment's TokenCache object (its own isolate) for the token.
  const mf = await deploy({ DPOP_KEY: key.text, BROKER_KEYS: "k-1" }, { TOKEN_CACHE: "TokenCache" });
  const health = await (await call(mf, "/healthz")).text();
  assert.equal(JSON.parse(health).cache, "durable-object");
  assert.ok(!health.includes(JSON.parse(key.text).d), "the key never in an answer");
  const results = await Promise.all(Array.from({ length: 40 }, (_, i) => call(mf, `/proxy/c/${i}`, { headers: { "x-broker-key": "k-1" } })));
  const bodies = await Promise.all(results.map((r) => r.json()));
  assert.deepEqual([...new Set(results.map((r) => r.status))], [200], JSON.stringify(bodies.find((b) => !b.ok)));
  assert.deepEqual([...new Set(bodies.map((b) => b.jkt))], [key.jkt], "bound to DPOP_KEY's public key");
  assert.equal(delta(before).issued, 1, "one token per deployment");
  // Without the key the proxy still refuses (the features combine, none is skipped).
  assert.equal((await call(mf, "/proxy/c/x")).status, 401);
  assert.equal((await call(mf, "/token", { method: "POST", headers: { "x-broker-key": "k-1" } })).status, 404);
});

test("an Ed25519 DPOP_KEY in a lone isolate is used as given", async () => {
  const key = await secretKey({ name: "Ed25519" });
  const mf = await deploy({ DPOP_KEY: key.text });
  const r = await call(mf, "/proxy/ed");
  assert.equal(r.status, 200, JSON.stringify(rs.log.at(-1)));
  assert.equal((await r.json()).jkt, key.jkt);
});

test("misconfigured DPoP answers 500 naming the variable, never the key", async () => {
  const key = await secretKey();
  const d = JSON.parse(key.text).d;
  const pub = JSON.parse(key.text);
  delete pub.d;
  for (const [extra, objects, want] of [
    [{}, { TOKEN_CACHE: "TokenCache" }, /DPOP_KEY: must be set/],
    [{ DPOP: "on" }, {}, /DPOP: must be true or false/],
    [{ DPOP: "false", DPOP_KEY: key.text }, {}, /DPOP_KEY: is set but DPOP is not true/],
    [{ DPOP_KEY: "{not json" }, {}, /DPOP_KEY: must be a private JWK/],
    [{ DPOP_KEY: JSON.stringify(pub) }, {}, /DPOP_KEY: must be a private JWK/],
    [{ DPOP_KEY: JSON.stringify({ kty: "oct", k: "c2VjcmV0" }) }, {}, /DPOP_KEY: must be/],
  ]) {
    const mf = await deploy(extra, objects);
    const r = await call(mf, "/proxy/x");
    const text = await r.text();
    assert.equal(r.status, 500, text);
    assert.equal(JSON.parse(text).error, "broker_misconfigured");
    assert.match(text, want);
    assert.ok(!text.includes(d) && !text.includes("svc-secret"), text);
    await mf.dispose();
    running.splice(running.indexOf(mf), 1);
  }
  // A key that parses but WebCrypto will not import (a point off the curve) fails the token
  // request with the broker's own error, naming the variable.
  const bad = JSON.parse(key.text);
  bad.x = bad.y;
  const mf = await deploy({ DPOP_KEY: JSON.stringify(bad) });
  const r = await call(mf, "/proxy/x");
  const text = await r.text();
  assert.equal(r.status, 500, text);
  assert.match(text, /DPOP_KEY: could not be imported/);
  assert.ok(!text.includes(d), text);
});

/**
 * A broker that signs users in with DPOP_KEY, in workerd on a free port, against oidc-provider
 * (`oidcOptions`), with the app's page and Chromium: { key, app, broker, oidc, mf, browser },
 * all stopped after the test.
 */
async function startDpopSignIn(t, oidcOptions, label) {
  const key = await secretKey();
  const app = await startPage();
  const port = await freePort();
  const broker = `http://127.0.0.1:${port}`;
  const oidc = await startOidc({ redirects: [`${broker}/callback`, `${app.origin}/callback`], dpop: true, ...oidcOptions });
  const store = mkdtempSync(join(tmpdir(), `tokenkit-dpop-${label}-`));
  const options = bffOptions({ port, store, issuer: oidc.issuer, appOrigin: app.origin, sessionSecret: `dpop-${label}-key-0123456789abcdefghijklmnopq` });
  Object.assign(options.bindings, { DPOP: "true", DPOP_KEY: key.text });
  const mf = new Miniflare(options);
  const browser = await launchChromium();
  t.after(async () => {
    await browser.close();
    await mf.dispose();
    await oidc.close();
    await app.close();
    rmSync(store, { recursive: true, force: true });
  });
  await mf.ready;
  return { key, app, broker, oidc, mf, browser };
}

test("sign-in with DPoP: the session object's code exchange and refresh carry proofs of DPOP_KEY; proxied calls as the user carry the DPoP scheme and a proof the userinfo endpoint takes; logout revokes", async (t) => {
  const { key, app, broker, oidc, browser } = await startDpopSignIn(t, { accessTtl: 10 }, "sessions");
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${broker}/login?return_to=${encodeURIComponent(`${app.origin}/`)}`);
  await signInAt(page, "alice");
  await page.waitForURL(`${app.origin}/`);
  assert.equal(oidc.count.code, 1, "one code exchange (its nonce demand answered inside it)");
  const me = (n = 1) =>
    page.evaluate(
      ([url, n]) => Promise.all(Array.from({ length: n }, () => fetch(url, { credentials: "include", headers: { "Tokenkit-Request": "1" } }).then(async (r) => [r.status, await r.text()]))),
      [`${broker}/proxy/me`, n],
    );
  // oidc-provider's userinfo demands its nonce of the first call: the broker answers once.
  const [[status, body]] = await me();
  assert.equal(status, 200, body);
  assert.equal(JSON.parse(body).sub, "alice");
  const bound = async () => {
    const jkts = new Set();
    for (const v of oidc.issued()) {
      const r = await oidc.findAccess(v);
      if (r) jkts.add(r.jkt);
    }
    return [...jkts];
  };
  assert.deepEqual(await bound(), [key.jkt], "the user's token is bound to DPOP_KEY");
  // The first token lasts 10 s; once its refresh is due (a wait for the clock), 20
  // concurrent calls: one refresh, with a proof, and every call served.
  oidc.setAccessTtl(300);
  await new Promise((r) => setTimeout(r, 5500));
  const burst = await me(20);
  assert.deepEqual([...new Set(burst.map(([s]) => s))], [200], burst.find(([s]) => s !== 200)?.[1]);
  assert.equal(oidc.count.refresh, 1);
  assert.deepEqual(await bound(), [key.jkt], "the refreshed token is bound to the same key");
  const out = await page.evaluate((url) => fetch(url, { method: "POST", credentials: "include", headers: { "Tokenkit-Request": "1" } }).then((r) => r.json()), `${broker}/logout`);
  assert.deepEqual(out, { signedOut: true, revoked: true });
  assert.equal(await oidc.liveRefreshTokens(), 0);
});

test("sign-out revokes with a DPoP proof and answers a nonce demand once, one sequence for the broker's session object and tokenkit/dpop's client (it was written twice, and the broker's sent no proof)", async (t) => {
  const { app, broker, oidc, browser } = await startDpopSignIn(t, { revocationNonce: true }, "signout");
  // Each sign-out's revocation requests: a proof each, of the key the tokens are bound to, for
  // the revocation endpoint; the first refused for its nonce, the second carrying it.
  const proofs = (from) => {
    const sent = oidc.revocationProofs.slice(from);
    assert.equal(sent.length, 2, `${JSON.stringify(sent)}: the demand answered once`);
    for (const p of sent) {
      assert.ok(p !== null, "every revocation request carries a proof");
      assert.equal(p.htm, "POST");
      assert.equal(p.htu, `${oidc.issuer}/token/revocation`);
      assert.equal(p.ath, undefined, "a request to the authorization server carries no ath");
    }
    // The first carries the nonce the server's token endpoint gave last (one origin, one
    // nonce), which the revocation endpoint refuses; the second the one it named.
    assert.equal(typeof sent[1].nonce, "string");
    assert.notEqual(sent[0].nonce, sent[1].nonce);
    assert.notEqual(sent[0].jti, sent[1].jti, "a fresh proof for the second attempt");
  };
  // The broker: sign in through it (a browser of its own each time), then POST /logout.
  const brokerSignOut = async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${broker}/login?return_to=${encodeURIComponent(`${app.origin}/`)}`);
    await signInAt(page, "alice");
    await page.waitForURL(`${app.origin}/`);
    const out = await page.evaluate((url) => fetch(url, { method: "POST", credentials: "include", headers: { "Tokenkit-Request": "1" } }).then((r) => r.json()), `${broker}/logout`);
    await context.close();
    return out;
  };
  assert.deepEqual(await brokerSignOut(), { signedOut: true, revoked: true });
  proofs(0);
  assert.equal(await oidc.liveRefreshTokens(), 0);
  // tokenkit/dpop in Node, signing a user in for a server: the same sign-out.
  const { TokenClient } = await import("../../pkg/dpop/node.js");
  const client = new TokenClient({ grant: "authorization_code", authorizeUrl: `${oidc.issuer}/auth`, tokenUrl: `${oidc.issuer}/token`, revocationUrl: `${oidc.issuer}/token/revocation`, issuer: oidc.issuer, clientId: "web", clientSecret: "web-secret", redirectUri: `${app.origin}/callback`, scope: "openid offline_access", dpop: true });
  t.after(() => client.free());
  const saved = await client.createAuthorizationUrl();
  await client.completeAuthorization(await callbackFor(browser, saved.url, app.origin, "bob"), saved);
  assert.equal(client.isAuthorized, true);
  await client.signOut();
  proofs(2);
  assert.equal(await oidc.liveRefreshTokens(), 0);
  // A server that names a new nonce on every answer: each sign-out sends two requests and
  // stops (the client's rejects, the broker's answers revoked: false); never a loop.
  oidc.revocationProofs.length = 0;
  const again = new TokenClient({ grant: "authorization_code", authorizeUrl: `${oidc.issuer}/auth`, tokenUrl: `${oidc.issuer}/token`, revocationUrl: `${oidc.issuer}/token/revocation`, issuer: oidc.issuer, clientId: "web", clientSecret: "web-secret", redirectUri: `${app.origin}/callback`, scope: "openid offline_access", dpop: true });
  t.after(() => again.free());
  const saved2 = await again.createAuthorizationUrl();
  await again.completeAuthorization(await callbackFor(browser, saved2.url, app.origin, "bob"), saved2);
  oidc.setRevocationNonce("never");
  const e = await again.signOut().catch((x) => x);
  assert.equal(e?.code, "HTTP_ERROR", String(e));
  assert.equal(oidc.revocationProofs.length, 2);
  assert.deepEqual(await brokerSignOut(), { signedOut: true, revoked: false });
  assert.equal(oidc.revocationProofs.length, 4);
});
