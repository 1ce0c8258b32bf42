// Signing a user in with `issuer` alone (RFC 8414 discovery) in Chromium, through
// oidc-provider's real login: the page learns the authorization, token and revocation
// endpoints and the RFC 9207 promise from the metadata; a callback without `iss` is then
// refused (mix-up), error callbacks included, before anything is exchanged.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { pageReady, startSignInStack, signInAt } from "../fixtures/oidc.mjs";

let app, oidc, browser, stop;
// The app's only configuration: the issuer, the client and where to come back.
const options = (issuer, origin) => ({ grant: "authorization_code", issuer, clientId: "spa", clientAuth: "none", redirectUri: `${origin}/callback`, scope: "openid offline_access", allowedOrigins: [issuer] });
const page = (issuer, origin) => `<!doctype html><meta charset="utf-8"><title>app</title><script type="module">
import { TokenClient } from "/pkg/signin/browser.js";
window.client = new TokenClient(${JSON.stringify(options(issuer, origin))});
window.ready = true;
</script>`;

before(async () => ({ app, oidc, browser, stop } = await startSignInStack(page)));
after(() => stop?.());

const ready = pageReady;

test("Chromium, issuer alone: sign in, tokens, refresh and sign-out at the discovered endpoints; a callback without iss is refused", async () => {
  const context = await browser.newContext();
  const metadata = [];
  context.on("request", (r) => r.url().includes("/.well-known/") && metadata.push(new URL(r.url()).pathname));
  const p = await context.newPage();
  await p.goto(`${app.origin}/`);
  await ready(p);
  const url = await p.evaluate(() => client.createAuthorizationUrl());
  assert.ok(url.startsWith(`${oidc.issuer}/auth?`), url);
  assert.deepEqual(metadata, ["/.well-known/oauth-authorization-server"], "one discovery for the page");
  await p.goto(url);
  await signInAt(p);
  await p.waitForURL(`${app.origin}/callback?**`);
  const callback = p.url();
  assert.equal(new URL(callback).searchParams.get("iss"), oidc.issuer, "oidc-provider sends iss (RFC 9207)");
  await ready(p);
  // The same callback without its iss: refused before any exchange, the pending sign-in spent.
  const codes = oidc.count.code;
  const stripped = new URL(callback);
  stripped.searchParams.delete("iss");
  const refused = await p.evaluate((u) => client.completeAuthorization(u).then(() => "ok", (e) => `${e.code}: ${e.message}`), stripped.href);
  assert.match(refused, /^INVALID_RESPONSE: .*no iss/);
  assert.equal(oidc.count.code, codes, "nothing exchanged");
  // An error callback without iss is refused the same way (it may come from another server).
  const sign = await p.evaluate(() => client.createAuthorizationUrl());
  const state = new URL(sign).searchParams.get("state");
  const error = await p.evaluate((u) => client.completeAuthorization(u).then(() => "ok", (e) => e.code + ": " + e.message), `${app.origin}/callback?error=access_denied&state=${state}`);
  assert.match(error, /^INVALID_RESPONSE: .*no iss/);
  // A real sign-in with iss: code, tokens, refresh, sign-out, all at the discovered endpoints.
  const again = await p.evaluate(() => client.createAuthorizationUrl());
  // The user's session at the server is still there: it comes straight back.
  await p.goto(again);
  await p.waitForURL(`${app.origin}/callback?**`);
  await ready(p);
  await p.evaluate(() => client.completeAuthorization(location.href));
  assert.equal(oidc.count.code, codes + 1);
  const info = await p.evaluate(() => client.getTokenInfo());
  assert.equal(info.tokenType, "Bearer");
  const refreshes = oidc.count.refresh;
  await p.evaluate(() => (client.invalidate(), client.getToken()));
  assert.equal(oidc.count.refresh, refreshes + 1);
  const revocations = oidc.count.revocations;
  await p.evaluate(() => client.signOut());
  assert.equal(oidc.count.revocations, revocations + 1, "revoked at the discovered revocation_endpoint");
  assert.equal(await oidc.liveRefreshTokens(), 0);
  await context.close();
});

test("the broker signing users in with ISSUER and REDIRECT_URI (no AUTHORIZE_URL, TOKEN_URL or REVOCATION_URL): its session object discovers, /login takes a scope, the user's calls are proxied, logout revokes at the discovered endpoint", async (t) => {
  const { Miniflare } = await import("miniflare");
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { bffOptions, freePort, startPage } = await import("../fixtures/bff.mjs");
  const { startOidc } = await import("../fixtures/oidc.mjs");
  const page = await startPage();
  const port = await freePort();
  const broker = `http://127.0.0.1:${port}`;
  const as = await startOidc({ redirects: [`${broker}/callback`] });
  const store = mkdtempSync(join(tmpdir(), "tokenkit-discovery-sessions-"));
  const options = bffOptions({ port, store, issuer: as.issuer, appOrigin: page.origin, sessionSecret: "discovery-session-key-0123456789abcdefghij" });
  for (const v of ["AUTHORIZE_URL", "TOKEN_URL", "REVOCATION_URL"]) delete options.bindings[v];
  const mf = new Miniflare(options);
  t.after(async () => {
    await mf.dispose();
    await as.close();
    await page.close();
    rmSync(store, { recursive: true, force: true });
  });
  await mf.ready;
  const p = await (await browser.newContext()).newPage();
  await p.goto(`${broker}/login?scope=openid+offline_access&return_to=${encodeURIComponent(`${page.origin}/`)}`);
  assert.ok(p.url().startsWith(`${as.issuer}/`), "at the discovered authorization endpoint");
  await signInAt(p, "dora");
  await p.waitForURL(`${page.origin}/`);
  assert.equal(as.count.code, 1);
  const call = (path, method = "GET") => p.evaluate(([u, m]) => fetch(u, { method: m, credentials: "include", headers: { "Tokenkit-Request": "1" } }).then(async (r) => [r.status, await r.text()]), [`${broker}${path}`, method]);
  const [status, me] = await call("/proxy/me");
  assert.equal(status, 200, me);
  assert.equal(JSON.parse(me).sub, "dora");
  const [, out] = await call("/logout", "POST");
  assert.deepEqual(JSON.parse(out), { signedOut: true, revoked: true });
  assert.equal(as.count.revocations, 1, "at the discovered revocation_endpoint");
});
