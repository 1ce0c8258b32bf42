// A signed-in user's DPoP-bound tokens (tokenkit/dpop with grant "authorization_code")
// against oidc-provider with DPoP and its nonces required for both clients, and the strict
// API of tests/fixtures/dpop.mjs: in Chromium through a real login (code, refresh, a second
// tab on the same key, sign-out with revocation), and a server-side sign-in in Node whose
// code is bound to the key by dpop_jkt.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { calculateJwkThumbprint } from "jose";
import { launchChromium } from "../fixtures/chromium.mjs";
import { pageReady, startOidc, startApp, signInAt, callbackFor, spaClient, webClient } from "../fixtures/oidc.mjs";
import { startResourceServer } from "../fixtures/dpop.mjs";

let app, oidc, rs, browser;

// The app: one page (also the callback). An init script (below) records every key pair
// the page's WebCrypto makes, so the test can look at what tokenkit made.
const page = (issuer, origin, api) => `<!doctype html><meta charset="utf-8"><title>app</title><script type="module">
import { TokenClient } from "/pkg/dpop/browser.js";
window.client = new TokenClient({ ...${JSON.stringify(spaClient(issuer, origin))}, allowedOrigins: ["${api}"], dpop: true });
window.call = async (path) => {
  const r = await client.fetch("${api}" + path);
  return { status: r.status, body: await r.json() };
};
window.ready = true;
</script>`;

const recordKeys = () => {
  const made = (window.madeKeys = []);
  const generate = crypto.subtle.generateKey.bind(crypto.subtle);
  crypto.subtle.generateKey = async (...args) => {
    const k = await generate(...args);
    made.push(k);
    return k;
  };
};

before(async () => {
  app = await startApp(() => page(oidc.issuer, app.origin, rs.origin));
  oidc = await startOidc({ redirects: [`${app.origin}/callback`], dpop: true });
  rs = await startResourceServer({ find: oidc.findAccess });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await rs?.close();
  await oidc?.close();
  await app?.close();
});

const ready = pageReady;

test("Chromium: code, refresh and a second tab on one non-extractable key; the API takes every proof; sign-out revokes with a proof", async () => {
  const context = await browser.newContext();
  await context.addInitScript(recordKeys);
  const p = await context.newPage();
  await p.goto(`${app.origin}/`);
  await ready(p);
  const url = await p.evaluate(() => client.createAuthorizationUrl());
  assert.equal(new URL(url).searchParams.get("dpop_jkt"), null, "a page's key does not outlive the redirect: no dpop_jkt");
  await p.goto(url);
  await signInAt(p);
  await p.waitForURL(`${app.origin}/callback?**`);
  await ready(p);
  await p.evaluate(() => client.completeAuthorization(location.href));
  const info = await p.evaluate(() => client.getTokenInfo());
  assert.equal(info.tokenType, "DPoP");
  const first = await p.evaluate(() => call("/me"));
  assert.equal(first.status, 200, JSON.stringify(rs.log.at(-1)));
  // The key lives in memory only: nothing in IndexedDB (where iOS Safari's Lockdown and
  // Private modes refuse a non-extractable CryptoKey with DataCloneError) or Web Storage.
  assert.deepEqual(await p.evaluate(async () => [(await indexedDB.databases()).length, localStorage.length, sessionStorage.length]), [0, 0, 0]);
  // The key tokenkit made: ECDSA P-256, its private half not extractable, and the one the
  // token is bound to.
  const made = await p.evaluate(async () => Promise.all(madeKeys.map(async (k) => ({ extractable: k.privateKey.extractable, alg: k.privateKey.algorithm.name, jwk: await crypto.subtle.exportKey("jwk", k.publicKey) }))));
  assert.equal(made.length, 1, "one key for the session");
  assert.deepEqual([made[0].extractable, made[0].alg], [false, "ECDSA"]);
  const jkt = await calculateJwkThumbprint(made[0].jwk);
  assert.equal(first.body.jkt, jkt);
  assert.equal((await oidc.findAccess(info.accessToken)).jkt, jkt);
  // A refresh: the refresh token is bound to the same key, and so is the new token.
  const refreshes = oidc.count.refresh;
  await p.evaluate(() => client.invalidate());
  const after = await p.evaluate(() => call("/me"));
  assert.equal(after.status, 200, JSON.stringify(rs.log.at(-1)));
  assert.equal(oidc.count.refresh, refreshes + 1);
  assert.equal(after.body.jkt, jkt);
  // A second tab takes the session with its key (structured clone): no sign-in, no new key.
  const codes = oidc.count.code;
  const q = await context.newPage();
  await q.goto(`${app.origin}/`);
  await ready(q);
  await q.waitForFunction(() => client.isAuthorized);
  const other = await q.evaluate(() => call("/me"));
  assert.equal(other.status, 200, JSON.stringify(rs.log.at(-1)));
  assert.equal(other.body.jkt, jkt, "the second tab signs with the same key");
  assert.equal(oidc.count.code, codes);
  assert.equal(await q.evaluate(() => madeKeys.length), 0, "the second tab made no key");
  // A tab answering late with an older session and another key: the tokens are not taken
  // (they last less than the ones held), and neither is the key (it was, and every proof
  // of this tab's own tokens was then refused).
  const late = await q.evaluate(async ({ name }) => {
    const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
    // A probe made after the client's channel is told after it (destinations are told in
    // creation order): once the probe has the message, the client has handled it.
    const probe = new BroadcastChannel(name);
    const handled = new Promise((r) => (probe.onmessage = r));
    const channel = new BroadcastChannel(name);
    channel.postMessage({ t: "tokens", at: "older-access-token", rt: "older-refresh-token", exp: Date.now() + 20_000, scope: "openid", gen: 7, key: pair });
    await handled;
    channel.close();
    probe.close();
    return call("/me");
  }, { name: `tokenkit ${oidc.issuer}/token spa` });
  assert.equal(late.status, 200, JSON.stringify(rs.log.at(-1)));
  assert.equal(late.body.jkt, jkt, "still signing with the key its tokens are bound to");
  // Sign-out: revoked (with a proof of the key), forgotten in both tabs.
  const revocations = oidc.count.revocations;
  await p.evaluate(() => client.signOut());
  assert.equal(oidc.count.revocations, revocations + 1);
  assert.equal(await oidc.liveRefreshTokens(), 0, "the refresh token is revoked");
  await q.waitForFunction(() => !client.isAuthorized);
  await context.close();
});

test("server-side sign-in in Node: the code is bound to the key by dpop_jkt, and the tokens to the same key; the code exchange answers the nonce demand; sign-out forgets the key", async () => {
  const { TokenClient } = await import("../../pkg/dpop/node.js");
  const exchanges = []; // [status, proof's nonce] of each token request
  const fetch = async (url, init) => {
    const r = await globalThis.fetch(url, init);
    if (String(url).endsWith("/token")) exchanges.push([r.status, JSON.parse(Buffer.from(new Headers(init.headers).get("dpop").split(".")[1], "base64url")).nonce]);
    return r;
  };
  const client = new TokenClient({ ...webClient(oidc, app.origin), allowedOrigins: [rs.origin], dpop: true, fetch });
  const saved = await client.createAuthorizationUrl();
  const jkt = new URL(saved.url).searchParams.get("dpop_jkt");
  assert.match(jkt ?? "", /^[A-Za-z0-9_-]{43}$/);
  await client.completeAuthorization(await callbackFor(browser, saved.url, app.origin, "bob"), saved);
  // oidc-provider demands its nonce of the code exchange too: sent again once, with it.
  assert.deepEqual(exchanges.map(([status, nonce]) => [status, typeof nonce]), [[400, "undefined"], [200, "string"]]);
  const res = await client.fetch(`${rs.origin}/me`);
  assert.equal(res.status, 200, JSON.stringify(rs.log.at(-1)));
  assert.equal((await res.json()).jkt, jkt, "the token is bound to the key dpop_jkt named");
  await client.signOut();
  assert.equal(client.isAuthorized, false);
  // The next session is bound to a new key: the signed-out one is gone with its tokens.
  const next = new URL((await client.createAuthorizationUrl()).url).searchParams.get("dpop_jkt");
  assert.match(next ?? "", /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(next, jkt);
  client.dispose();
});

test("sign-out: a revocation endpoint's nonce demand is answered once with a fresh proof; one that demands a new nonce every time gets two requests, not a storm", async () => {
  const { TokenClient } = await import("../../pkg/dpop/node.js");
  const claims = (proof) => JSON.parse(Buffer.from(proof.split(".")[1], "base64url").toString());
  for (const [demands, revoked] of [[1, true], [Infinity, false]]) {
    const sent = []; // the proofs of every revocation request
    let n = 0;
    const fetch = async (url, init) => {
      if (!String(url).endsWith("/token/revocation")) return globalThis.fetch(url, init);
      sent.push(claims(new Headers(init.headers).get("dpop")));
      if (sent.length > demands) return globalThis.fetch(url, init);
      return new Response(JSON.stringify({ error: "use_dpop_nonce", error_description: "nonce" }), { status: 400, headers: { "content-type": "application/json", "dpop-nonce": `rv-${++n}` } });
    };
    const client = new TokenClient({ ...webClient(oidc, app.origin), allowedOrigins: [rs.origin], dpop: true, fetch });
    const saved = await client.createAuthorizationUrl();
    await client.completeAuthorization(await callbackFor(browser, saved.url, app.origin, "carol"), saved);
    const live = await oidc.liveRefreshTokens();
    const out = await client.signOut().then(() => "ok", (e) => e.code);
    assert.equal(sent.length, 2, "sent once, and again once");
    assert.notEqual(sent[0].jti, sent[1].jti, "a fresh proof");
    assert.equal(sent[1].nonce, "rv-1", "with the nonce the demand carried");
    assert.equal(sent[1].htu, `${oidc.issuer}/token/revocation`);
    if (revoked) {
      assert.equal(out, "ok");
      assert.equal(await oidc.liveRefreshTokens(), live - 1, "revoked at the server");
    } else {
      assert.equal(out, "HTTP_ERROR", "the second demand fails the revocation");
    }
    assert.equal(client.isAuthorized, false);
    client.dispose();
  }
});
