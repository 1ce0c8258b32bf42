// Signing users in through the broker (backend-for-frontend): the broker Worker in workerd
// (Miniflare) with its UserSession Durable Object, oidc-provider (a standards-checked
// authorization server: PKCE required, refresh tokens rotated) as the user's authorization
// server and API (its userinfo endpoint), and an app page in Chromium (Playwright). All on
// 127.0.0.1. The page never sees a token: it holds one HttpOnly cookie naming its session.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { launchChromium } from "../fixtures/chromium.mjs";
import { startOidc, signInAt } from "../fixtures/oidc.mjs";
import { bffOptions, freePort, startPage } from "../fixtures/bff.mjs";

const SESSION_SECRET = "test-session-key-0123456789abcdefghijklmnop";
let app, other, oidc, mf, options, broker, browser;
const store = mkdtempSync(join(tmpdir(), "tokenkit-sessions-")); // the objects' storage

before(async () => {
  app = await startPage();
  other = await startPage();
  const port = await freePort();
  broker = `http://127.0.0.1:${port}`;
  oidc = await startOidc({ redirects: [`${broker}/callback`], accessTtl: 10 });
  options = bffOptions({ port, store, issuer: oidc.issuer, appOrigin: app.origin, sessionSecret: SESSION_SECRET });
  mf = new Miniflare(options);
  await mf.ready;
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await mf?.dispose();
  await oidc?.close();
  await app?.close();
  await other?.close();
  rmSync(store, { recursive: true, force: true });
});

/** A new browser context with alice signed in through the broker; its page is on the app. */
async function signedIn() {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${broker}/login?return_to=${encodeURIComponent(`${app.origin}/`)}`);
  await signInAt(page, "alice");
  await page.waitForURL(`${app.origin}/`);
  return { context, page };
}

/** `fetch` from the page as the app sends it (the browser's cookies and the CSRF header): [status, body text]. */
const call = (page, path, init = {}) =>
  page.evaluate(
    async ([url, init]) => {
      const r = await fetch(url, { credentials: "include", ...init, headers: { "Tokenkit-Request": "1", ...init.headers } });
      return [r.status, await r.text()];
    },
    [`${broker}${path}`, init],
  );

test("login → callback → proxied calls as the user → one refresh under 50 concurrent calls → logout revokes; no token reaches the page", async () => {
  const context = await browser.newContext();
  const seen = []; // every body the broker sent the browser
  context.on("response", async (r) => {
    if (r.url().startsWith(broker) && (r.status() < 300 || r.status() >= 400)) seen.push(await r.text().catch(() => ""));
  });
  const page = await context.newPage();
  await page.goto(`${app.origin}/`);
  // The app sends the user to the broker's /login; they come back to the app signed in.
  await page.goto(`${broker}/login?return_to=${encodeURIComponent(`${app.origin}/`)}`);
  // Meanwhile another tab of the app calls the API: not signed in yet, and the sign-in
  // under way is not disturbed.
  const tab = await context.newPage();
  await tab.goto(`${app.origin}/`);
  assert.equal((await call(tab, "/proxy/me"))[0], 401);
  await tab.close();
  await signInAt(page, "alice");
  await page.waitForURL(`${app.origin}/`);
  assert.equal(oidc.count.code, 1, "one code exchange");

  // (Cookies are not per port: oidc-provider's own, also on 127.0.0.1, are left out.)
  const ours = async () => (await context.cookies(broker)).filter((c) => c.name.includes("tokenkit"));
  const [cookie, ...others] = await ours();
  assert.equal(others.length, 0, "one cookie");
  assert.equal(cookie.name, "__Host-Http-tokenkit-session", "the pending sign-in's cookie is gone");
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.secure, true);
  assert.equal(cookie.sameSite, "Strict");
  assert.equal(cookie.path, "/");
  assert.doesNotMatch(await page.evaluate(() => document.cookie), /tokenkit/, "page JavaScript cannot read the session cookie");
  assert.deepEqual(JSON.parse((await call(page, "/session"))[1]), { signedIn: true });

  const [status, me] = await call(page, "/proxy/me");
  assert.equal(status, 200, me);
  assert.equal(JSON.parse(me).sub, "alice", "the API saw alice's token");

  // The first access token lasts 10 s (tokenkit's shortest; refresh due at half-life, 5 s);
  // later ones 300 s. Once it is due (a wait for the clock: the refresh is time-driven),
  // 50 concurrent proxied calls: one refresh, the rotated refresh token spent once.
  oidc.setAccessTtl(300);
  await new Promise((r) => setTimeout(r, 5500));
  assert.equal(oidc.count.refresh, 0);
  const burst = await page.evaluate(
    (url) => Promise.all(Array.from({ length: 50 }, () => fetch(url, { credentials: "include", headers: { "Tokenkit-Request": "1" } }).then(async (r) => [r.status, (await r.json()).sub]))),
    `${broker}/proxy/me`,
  );
  assert.deepEqual(new Set(burst.map(JSON.stringify)), new Set([JSON.stringify([200, "alice"])]), "all 50 served as alice");
  assert.equal(oidc.count.refresh, 1, "one refresh for 50 concurrent calls");
  assert.equal(oidc.count.invalidGrant, 0, "no refresh token spent twice");

  const [out, body] = await call(page, "/logout", { method: "POST" });
  assert.equal(out, 200, body);
  assert.deepEqual(JSON.parse(body), { signedOut: true, revoked: true });
  assert.equal(oidc.count.revocations, 1);
  assert.equal(await oidc.liveRefreshTokens(), 0, "the refresh token is revoked at the server");
  assert.deepEqual(await ours(), [], "the cookie is removed");
  const [after, why] = await call(page, "/proxy/me");
  assert.equal(after, 401);
  assert.equal(JSON.parse(why).error, "login_required");

  // Nothing the page could read holds a token: bodies, storage, cookies, the document.
  const visible = [
    ...seen,
    await page.evaluate(() => document.documentElement.outerHTML + document.cookie + JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage })),
  ].join("\n");
  const tokens = oidc.issued();
  assert.ok(tokens.length >= 3, "access and refresh tokens were issued");
  for (const t of tokens) assert.ok(!visible.includes(t), "a token reached the page");
  await context.close();
});

test("credentialed CORS: the allowed origin reads the answer; another origin, even on the same site, cannot", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${app.origin}/`);
  assert.deepEqual(await call(page, "/session"), [200, '{"signedIn":false}']);
  await page.goto(`${other.origin}/`);
  const blocked = await page.evaluate((url) => fetch(url, { credentials: "include" }).then(() => "read", (e) => e.name), `${broker}/session`);
  assert.equal(blocked, "TypeError", "the browser withholds the answer from a page on another origin");
  await context.close();
});

test("callbacks that are not this browser's, and open redirects, are refused", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  // No session cookie: nothing to complete.
  let r = await page.goto(`${broker}/callback?code=x&state=y`);
  assert.equal(r.status(), 400);
  assert.equal((await r.json()).error, "state_mismatch");
  // A sign-in started, then a callback with another state (a login CSRF attempt).
  const login = await page.request.get(`${broker}/login`, { maxRedirects: 0 });
  assert.equal(login.status(), 302);
  assert.ok(login.headers().location.startsWith(`${oidc.issuer}/auth?`));
  r = await page.goto(`${broker}/callback?code=x&state=not-the-one-sent`);
  assert.equal(r.status(), 400);
  assert.equal((await r.json()).error, "state_mismatch");
  // A forged cookie is refused without asking any session.
  await context.addCookies([{ name: "__Host-Http-tokenkit-session", value: `${"A".repeat(43)}.${"B".repeat(43)}`, domain: "127.0.0.1", path: "/", secure: true, httpOnly: true, sameSite: "Strict" }]);
  await page.goto(`${app.origin}/`);
  assert.deepEqual(await call(page, "/session"), [200, '{"signedIn":false}']);
  for (const to of ["https://evil.example/", "//evil.example/", `${other.origin}/`]) {
    const bad = await page.request.get(`${broker}/login?return_to=${encodeURIComponent(to)}`, { maxRedirects: 0 });
    assert.equal(bad.status(), 400, to);
    assert.equal((await bad.json()).error, "bad_return_to");
  }
  // Sign-in mode keeps tokens in the broker.
  assert.equal((await page.request.post(`${broker}/token`)).status(), 404);
  assert.equal(oidc.count.code, 1, "none of these reached the token endpoint");
  await context.close();
});

test("a session restored after its access token lapsed uses its stored refresh token: one refresh, the call succeeds", async () => {
  oidc.setAccessTtl(10);
  try {
    const { context, page } = await signedIn();
    assert.equal((await call(page, "/proxy/me"))[0], 200);
    await mf.dispose(); // evicted; storage holds an access token with 10 s to live and the refresh token
    // Idle past the access token's life (the expiry is time-driven: a wait for the clock).
    await new Promise((r) => setTimeout(r, 10_500));
    mf = new Miniflare(options);
    await mf.ready;
    const [refreshes, invalid] = [oidc.count.refresh, oidc.count.invalidGrant];
    const [status, me] = await call(page, "/proxy/me");
    assert.equal(status, 200, me);
    assert.equal(JSON.parse(me).sub, "alice");
    assert.equal(oidc.count.refresh - refreshes, 1, "one refresh with the stored refresh token");
    assert.equal(oidc.count.invalidGrant, invalid);
    // The rotated refresh token was written: evicted and idle again, the next refresh uses
    // it (the spent one would be invalid_grant, and revoke the grant).
    await mf.dispose();
    await new Promise((r) => setTimeout(r, 10_500));
    mf = new Miniflare(options);
    await mf.ready;
    assert.equal((await call(page, "/proxy/me"))[0], 200);
    assert.equal(oidc.count.refresh - refreshes, 2);
    assert.equal(oidc.count.invalidGrant, invalid, "the spent refresh token never came back");
    await context.close();
  } finally {
    oidc.setAccessTtl(300);
  }
});

test("a session outlives its object: workerd restarted, the user is still signed in, from storage", async () => {
  const { context, page } = await signedIn();
  assert.equal(JSON.parse((await call(page, "/proxy/me"))[1]).sub, "alice");
  await mf.dispose(); // every object's memory is gone; the storage stays
  mf = new Miniflare(options);
  await mf.ready;
  const [status, me] = await call(page, "/proxy/me");
  assert.equal(status, 200, me);
  assert.equal(JSON.parse(me).sub, "alice");
  // Signing in again starts a new session and ends (revokes) the one the browser had.
  const revoked = oidc.count.revocations;
  const again = await page.request.get(`${broker}/login`, { maxRedirects: 0 });
  assert.equal(again.status(), 302);
  assert.equal(oidc.count.revocations, revoked + 1, "the old session is revoked");
  assert.equal((await call(page, "/proxy/me"))[0], 401, "the new session is not signed in yet");
  await context.close();
});
