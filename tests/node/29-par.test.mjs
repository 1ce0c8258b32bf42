// Pushed authorization requests (RFC 9126) against oidc-provider requiring them
// (require_pushed_authorization_requests) from clients that authenticate with
// private_key_jwt only: a server-side tokenkit/signin client configured by its issuer
// alone, the same with DPoP (tokenkit/dpop: a proof on the PAR request, its nonce demand
// answered once), and the broker signing a user in through Chromium. The authorization
// request a browser carries is client_id and request_uri, nothing else.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { calculateJwkThumbprint } from "jose";
import { launchChromium } from "../fixtures/chromium.mjs";
import { callbackFor, signInAt } from "../fixtures/oidc.mjs";
import { clientKeyPair, startKeyAs, startKeyBroker } from "../fixtures/keyauth.mjs";

const APP = "http://127.0.0.1:9"; // the server-side app's callback: Chromium's route answers it
let browser, key;
before(async () => {
  browser = await launchChromium();
  key = await clientKeyPair("web-key");
});
after(async () => await browser?.close());

const keyClient = (issuer, extra = {}) => ({
  grant: "authorization_code",
  issuer,
  clientId: "web",
  clientAuth: "private_key_jwt",
  clientKey: key.privateJwk,
  redirectUri: `${APP}/callback`,
  scope: "openid offline_access",
  allowedOrigins: [issuer],
  ...extra,
});
const onlyPushed = (url, issuer) => {
  const u = new URL(url);
  assert.equal(`${u.origin}${u.pathname}`, `${issuer}/auth`);
  assert.deepEqual([...u.searchParams.keys()].sort(), ["client_id", "request_uri"], url);
  assert.equal(u.searchParams.get("client_id"), "web");
  assert.match(u.searchParams.get("request_uri"), /^urn:ietf:params:oauth:request_uri:/);
};

test("Node, tokenkit/signin, issuer alone, PAR required: the request is pushed with an assertion; the user's browser carries client_id and request_uri only; code, refresh and sign-out all authenticate with the key", async (t) => {
  const as = await startKeyAs({ keys: [key.publicJwk], redirects: [`${APP}/callback`], requirePar: true });
  t.after(() => as.close());
  // The server enforces it: an authorization request that was not pushed is refused.
  const direct = await fetch(`${as.issuer}/auth?client_id=web&response_type=code&redirect_uri=${encodeURIComponent(`${APP}/callback`)}&scope=openid&code_challenge=${"a".repeat(43)}&code_challenge_method=S256`, { redirect: "manual" });
  assert.ok(direct.status === 400 || /error=invalid_request/.test(direct.headers.get("location") ?? ""), `status ${direct.status}`);
  const { TokenClient } = await import("../../pkg/signin/node.js");
  const client = new TokenClient(keyClient(as.issuer));
  const saved = await client.createAuthorizationUrl({ extraParams: { login_hint: "carol" } });
  onlyPushed(saved.url, as.issuer);
  assert.equal(as.count.par, 1);
  const pushed = as.pars.at(-1);
  assert.equal(pushed.state, saved.state);
  assert.equal(pushed.code_challenge_method, "S256");
  assert.equal(pushed.redirect_uri, `${APP}/callback`);
  assert.equal(pushed.login_hint, "carol");
  assert.deepEqual(as.assertions.map((a) => a.path), ["/request"], "the PAR request carried the assertion");
  const reached = as.authorizations.length;
  const callback = await callbackFor(browser, saved.url, APP, "carol");
  assert.deepEqual(as.authorizations.slice(reached).map((q) => Object.keys(q).sort()), [["client_id", "request_uri"]], "what reached the authorization endpoint");
  await client.completeAuthorization(callback, saved);
  assert.equal(client.isAuthorized, true);
  const refreshes = as.count.issued;
  client.invalidate();
  await client.getToken();
  assert.equal(as.count.issued, refreshes + 1);
  await client.signOut();
  assert.equal(as.count.revocations, 1);
  assert.deepEqual(as.assertions.map((a) => a.path), ["/request", "/token", "/token", "/token/revocation"], "every request authenticated with a fresh assertion");
  assert.equal(new Set(as.assertions.map((a) => a.claims.jti)).size, 4);
  assert.deepEqual(as.refusals, []);
  client.free();
});

test("a server's PAR answers are read strictly: an error is OAUTH_ERROR, a page's build refuses parUrl", async (t) => {
  const as = await startKeyAs({ keys: [key.publicJwk], redirects: [`${APP}/callback`] });
  t.after(() => as.close());
  const { TokenClient } = await import("../../pkg/signin/node.js");
  // parUrl given: pushed even though the server does not require it; a key it does not know is refused there.
  const other = await clientKeyPair("web-key");
  const client = new TokenClient(keyClient(as.issuer, { parUrl: as.parUrl, clientKey: other.privateJwk }));
  const e = await client.createAuthorizationUrl().catch((x) => x);
  assert.deepEqual([e.code, e.status, e.error], ["OAUTH_ERROR", 401, "invalid_client"]);
  client.free();
  const page = await import("../../pkg/signin/browser.js");
  assert.throws(() => new page.TokenClient({ ...keyClient(as.issuer), clientAuth: "none", clientKey: undefined, parUrl: as.parUrl }), (x) => x.code === "INVALID_CONFIG" && x.message.startsWith("parUrl"));
});

test("tokenkit/dpop in Node with PAR and private_key_jwt: the PAR request carries a DPoP proof for the PAR endpoint, the nonce demand answered once; the tokens are bound", async (t) => {
  const as = await startKeyAs({ keys: [key.publicJwk], redirects: [`${APP}/callback`], requirePar: true, dpop: true });
  t.after(() => as.close());
  const { TokenClient } = await import("../../pkg/dpop/node.js");
  const client = new TokenClient(keyClient(as.issuer, { dpop: true }));
  const saved = await client.createAuthorizationUrl();
  onlyPushed(saved.url, as.issuer);
  const parProofs = as.proofs.filter((p) => p.path === "/request");
  assert.equal(parProofs.length, 2, "one refused for its missing nonce, one taken");
  assert.equal(parProofs[0].claims.nonce, undefined);
  assert.equal(typeof parProofs[1].claims.nonce, "string");
  assert.equal(parProofs[1].claims.htu, as.parUrl);
  assert.notEqual(parProofs[0].claims.jti, parProofs[1].claims.jti);
  assert.equal(as.count.par, 2);
  // Each PAR attempt had its own assertion (a jti used once).
  assert.equal(new Set(as.assertions.filter((a) => a.path === "/request").map((a) => a.claims.jti)).size, as.assertions.filter((a) => a.path === "/request").length);
  const callback = await callbackFor(browser, saved.url, APP, "dave");
  await client.completeAuthorization(callback, saved);
  assert.equal((await client.getTokenInfo()).tokenType, "DPoP");
  await client.signOut();
  client.free();
});

test("the broker signing users in with no shared secret and PAR required (ISSUER, REDIRECT_URI, CLIENT_AUTH=private_key_jwt, CLIENT_KEY): /login sends the browser with client_id and request_uri only; the user's call is proxied; logout revokes", async (t) => {
  const { broker, as, page } = await startKeyBroker(t, { key, as: { requirePar: true } });
  const context = await browser.newContext();
  const sent = [];
  context.on("request", (r) => r.url().startsWith(`${as.issuer}/auth`) && sent.push(r.url()));
  const p = await context.newPage();
  await p.goto(`${broker}/login?return_to=${encodeURIComponent(`${page.origin}/`)}`);
  assert.equal(sent.length, 1);
  onlyPushed(sent[0], as.issuer);
  assert.equal(as.count.par, 1);
  assert.equal(as.pars[0].redirect_uri, `${broker}/callback`);
  await signInAt(p, "erin");
  await p.waitForURL(`${page.origin}/`);
  assert.deepEqual(as.authorizations.map((q) => Object.keys(q).sort())[0], ["client_id", "request_uri"]);
  const call = (path, method = "GET") => p.evaluate(([u, m]) => fetch(u, { method: m, credentials: "include", headers: { "Tokenkit-Request": "1" } }).then(async (r) => [r.status, await r.text()]), [`${broker}${path}`, method]);
  const [status, me] = await call("/proxy/me");
  assert.equal(status, 200, me);
  assert.equal(JSON.parse(me).sub, "erin");
  const [, out] = await call("/logout", "POST");
  assert.deepEqual(JSON.parse(out), { signedOut: true, revoked: true });
  assert.deepEqual(as.assertions.map((a) => a.path), ["/request", "/token", "/token/revocation"]);
  assert.deepEqual(as.refusals, []);
  await context.close();
});

test("combined as a FAPI 2.0 deployment would: the broker's sign-in with private_key_jwt, PAR required, DPoP (DPOP_KEY) with the server's nonces: the PAR request carries a proof and an assertion, the user's token is bound to DPOP_KEY, the proxied call sends it with a proof", async (t) => {
  const dpopKey = await clientKeyPair("dpop-key");
  const jkt = await calculateJwkThumbprint(dpopKey.publicJwk);
  const calls = [];
  let find;
  const api = createServer(async (req, res) => {
    const [scheme, token] = (req.headers.authorization ?? "").split(" ");
    const at = token ? await find(token) : undefined;
    calls.push({ scheme, proof: typeof req.headers.dpop === "string", jkt: at?.jkt, sub: at?.accountId });
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ sub: at?.accountId }));
  });
  await new Promise((r) => api.listen(0, "127.0.0.1", r));
  t.after(() => new Promise((r) => (api.closeAllConnections(), api.close(r))));
  const { broker, as, page } = await startKeyBroker(t, {
    key,
    as: { requirePar: true, dpop: true },
    bindings: () => ({ DPOP: "true", DPOP_KEY: JSON.stringify(dpopKey.privateJwk), PROXY_ORIGIN: `http://127.0.0.1:${api.address().port}` }),
  });
  find = (token) => as.provider.AccessToken.find(token);
  const context = await browser.newContext();
  const p = await context.newPage();
  await p.goto(`${broker}/login?return_to=${encodeURIComponent(`${page.origin}/`)}`);
  const par = as.proofs.filter((x) => x.path === "/request");
  assert.equal(par.length, 2, "the PAR endpoint's nonce demand answered once");
  assert.equal(par[1].claims.htu, as.parUrl);
  assert.deepEqual(as.assertions.map((a) => a.path), ["/request", "/request"], "a fresh assertion for each PAR attempt");
  assert.notEqual(as.assertions[0].claims.jti, as.assertions[1].claims.jti);
  await signInAt(p, "gus");
  await p.waitForURL(`${page.origin}/`);
  const [status, body] = await p.evaluate((u) => fetch(u, { credentials: "include", headers: { "Tokenkit-Request": "1" } }).then(async (r) => [r.status, await r.text()]), `${broker}/proxy/whoami`);
  assert.equal(status, 200, body);
  assert.deepEqual(calls, [{ scheme: "DPoP", proof: true, jkt, sub: "gus" }], "bound to DPOP_KEY, sent with a proof");
  assert.deepEqual(as.refusals, []);
  await context.close();
});

test("tokenkit/dpop with PAR: a DPoP key WebCrypto cannot use fails createAuthorizationUrl() as INVALID_CONFIG naming dpop (it was a NETWORK error), nothing pushed", async (t) => {
  const as = await startKeyAs({ keys: [key.publicJwk], redirects: [`${APP}/callback`], requirePar: true, dpop: true });
  t.after(() => as.close());
  const { TokenClient } = await import("../../pkg/dpop/node.js");
  const client = new TokenClient(keyClient(as.issuer, { dpop: true }));
  t.after(() => client.free());
  // The key is made (the code is bound to its thumbprint); signing the PAR request's proof fails.
  const made = new Set();
  const [generateKey, signWith] = [crypto.subtle.generateKey.bind(crypto.subtle), crypto.subtle.sign.bind(crypto.subtle)];
  const generate = t.mock.method(crypto.subtle, "generateKey", async (...args) => {
    const pair = await generateKey(...args);
    made.add(pair.privateKey);
    return pair;
  });
  const sign = t.mock.method(crypto.subtle, "sign", async (alg, k, data) => {
    if (made.has(k)) throw new DOMException("the operation failed", "OperationError");
    return signWith(alg, k, data);
  });
  await assert.rejects(client.createAuthorizationUrl(), (e) => e.code === "INVALID_CONFIG" && /^dpop: could not be imported or made by WebCrypto/.test(e.message));
  assert.equal(as.count.par ?? 0, 0, "nothing was pushed");
  sign.mock.restore();
  generate.mock.restore();
  onlyPushed((await client.createAuthorizationUrl()).url, as.issuer);
});
