// Signing a user in (tokenkit/signin) against oidc-provider, a standards-checked
// authorization server, on 127.0.0.1: PKCE required, refresh tokens rotated. Browser flows run
// in Chromium (Playwright) from a page served here; the confidential flow runs in Node.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { pageReady, startSignInStack, signInAt, callbackFor, spaClient, webClient } from "../fixtures/oidc.mjs";
import { until } from "./helpers.mjs";

let app, oidc, browser;

// The app: one page (also the callback) that makes the client and waits for the test.
const page = (issuer, origin) => `<!doctype html><meta charset="utf-8"><title>app</title><script type="module">
import { TokenClient, TokenError } from "/pkg/signin/browser.js";
window.TokenError = TokenError;
window.events = [];
window.client = new TokenClient({ ...${JSON.stringify(spaClient(issuer, origin))}, allowedOrigins: ["${issuer}"], refreshSkewSeconds: 60 });
for (const e of ["token", "expired", "error"]) client.on(e, (v) => events.push(e === "token" ? ["token", v.accessToken] : [e, v?.code]));
window.ready = true;
</script>`;

let stop;
before(async () => ({ app, oidc, browser, stop } = await startSignInStack(page)));
after(() => stop?.());

const ready = pageReady;

/** Signs in from a fresh page of `context` and returns the page, on the app, signed in. */
async function signedIn(context) {
  const p = await context.newPage();
  await p.goto(`${app.origin}/`);
  await ready(p);
  const url = await p.evaluate(() => client.createAuthorizationUrl());
  await p.goto(url);
  await signInAt(p);
  await p.waitForURL(`${app.origin}/callback?**`);
  await ready(p);
  await p.evaluate(() => client.completeAuthorization(location.href));
  return p;
}

test("sign-in round trip: PKCE, state in sessionStorage only until the callback, code exchanged once, address bar cleaned, API call signed", async () => {
  const context = await browser.newContext();
  const p = await context.newPage();
  await p.goto(`${app.origin}/`);
  await ready(p);
  assert.equal(await p.evaluate(() => client.isAuthorized), false);
  assert.equal(await p.evaluate(() => client.getToken().catch((e) => e.code)), "LOGIN_REQUIRED");
  const url = new URL(await p.evaluate(() => client.createAuthorizationUrl()));
  assert.equal(url.origin + url.pathname, `${oidc.issuer}/auth`);
  assert.equal(url.searchParams.get("code_challenge_method"), "S256");
  assert.match(url.searchParams.get("code_challenge"), /^[A-Za-z0-9_-]{43}$/);
  assert.ok(url.searchParams.get("nonce"), "openid in scope: a nonce");
  const stored = await p.evaluate(() => Object.entries(sessionStorage));
  assert.equal(stored.length, 1);
  const pending = JSON.parse(stored[0][1]);
  assert.deepEqual(Object.keys(pending).sort(), ["codeVerifier", "nonce", "state"]);
  assert.equal(pending.state, url.searchParams.get("state"));

  const codes = oidc.count.code;
  await p.goto(url.href);
  await signInAt(p);
  await p.waitForURL(`${app.origin}/callback?**`);
  await ready(p);
  const after = await p.evaluate(async () => {
    await client.completeAuthorization(location.href);
    return { authorized: client.isAuthorized, href: location.href, stored: Object.keys(sessionStorage).length, events: window.events };
  });
  assert.equal(after.authorized, true);
  assert.equal(after.href, `${app.origin}/callback`, "code and state removed from the address bar");
  assert.equal(after.stored, 0, "the pending sign-in is gone from sessionStorage");
  assert.equal(oidc.count.code, codes + 1);
  const me = await p.evaluate(async (iss) => (await client.fetch(`${iss}/me`)).json(), oidc.issuer);
  assert.equal(me.sub, "alice");
  // Completing the same callback again is refused: the pending sign-in was used once.
  const again = await p.evaluate(() => client.completeAuthorization(location.href + "?code=x&state=y").catch((e) => e.code));
  assert.equal(again, "STATE_MISMATCH");
  assert.equal(oidc.count.code, codes + 1);
  await context.close();
});

test("a callback with another state is refused and nothing is exchanged; an error callback is OAUTH_ERROR", async () => {
  const context = await browser.newContext();
  const p = await context.newPage();
  await p.goto(`${app.origin}/`);
  await ready(p);
  await p.goto(await p.evaluate(() => client.createAuthorizationUrl()));
  await signInAt(p);
  await p.waitForURL(`${app.origin}/callback?**`);
  await ready(p);
  const codes = oidc.count.code;
  const tampered = await p.evaluate(() => {
    const u = new URL(location.href);
    u.searchParams.set("state", "forged-state-from-an-attacker");
    return client.completeAuthorization(u.href).then(() => "exchanged", (e) => [e.code, e instanceof TokenError]);
  });
  assert.deepEqual(tampered, ["STATE_MISMATCH", true]);
  assert.equal(oidc.count.code, codes, "no code was exchanged");
  assert.equal(await p.evaluate(() => client.isAuthorized), false);

  // prompt=none without a session: the server answers the callback with an error.
  const fresh = await browser.newContext();
  const q = await fresh.newPage();
  await q.goto(`${app.origin}/`);
  await ready(q);
  await q.goto(await q.evaluate(() => client.createAuthorizationUrl({ extraParams: { prompt: "none" } })));
  await q.waitForURL(`${app.origin}/callback?**`);
  await ready(q);
  const refused = await q.evaluate(() => client.completeAuthorization(location.href).then(() => "exchanged", (e) => [e.code, e.error]));
  assert.deepEqual(refused, ["OAUTH_ERROR", "login_required"]);
  await context.close();
  await fresh.close();
});

test("refresh tokens rotate; a refused refresh token ends the session with \"expired\" and LOGIN_REQUIRED", async () => {
  oidc.setAccessTtl(10); // refreshed at half-life: every 5 s
  const context = await browser.newContext();
  try {
    const p = await signedIn(context);
    const refreshes = oidc.count.refresh;
    const invalid = oidc.count.invalidGrant;
    const first = await p.evaluate(() => client.getToken());
    await until(() => oidc.count.refresh >= refreshes + 2, 20_000, "two refreshes");
    const now = await p.evaluate(() => client.getToken());
    assert.notEqual(now, first);
    assert.equal(oidc.count.invalidGrant, invalid, "each refresh used the rotated refresh token");
    await oidc.spoilRefreshTokens();
    await p.waitForFunction(() => events.some(([e]) => e === "expired"), null, { timeout: 20_000 });
    const after = await p.evaluate(async () => ({ code: await client.getToken().catch((e) => e.code), authorized: client.isAuthorized, errors: events.filter(([e]) => e === "error").map(([, c]) => c) }));
    assert.deepEqual(after, { code: "LOGIN_REQUIRED", authorized: false, errors: ["LOGIN_REQUIRED"] });
  } finally {
    oidc.setAccessTtl(300);
    await context.close();
  }
});

test("signOut() revokes the refresh token at the server and forgets the session", async () => {
  const context = await browser.newContext();
  const p = await signedIn(context);
  const revocations = oidc.count.revocations;
  assert.ok((await oidc.liveRefreshTokens()) > 0);
  await p.evaluate(() => client.signOut());
  assert.equal(oidc.count.revocations, revocations + 1);
  assert.equal(await oidc.liveRefreshTokens(), 0, "revoked");
  assert.deepEqual(await p.evaluate(async () => [client.isAuthorized, await client.getToken().catch((e) => e.code)]), [false, "LOGIN_REQUIRED"]);
  await context.close();
});

for (const tabs of [2, 5]) {
  test(`${tabs} tabs: one refresh per window, the others adopt it; a new tab joins the session; sign-out reaches every tab`, async () => {
    oidc.setAccessTtl(10);
    const context = await browser.newContext();
    try {
      const first = await signedIn(context);
      const pages = [first];
      for (let i = 1; i < tabs; i++) {
        const q = await context.newPage();
        await q.goto(`${app.origin}/`);
        await ready(q);
        await q.waitForFunction(() => client.isAuthorized, null, { timeout: 5000 }); // joined through the channel
        pages.push(q);
      }
      const refreshes = oidc.count.refresh;
      const invalid = oidc.count.invalidGrant;
      const tokensSeen = async () => (await Promise.all(pages.map((q) => q.evaluate(() => client.getToken())))).sort();
      // Two refresh windows go by.
      await until(() => oidc.count.refresh >= refreshes + 2, 25_000, "two refreshes");
      await until(async () => new Set(await tokensSeen()).size === 1, 5_000, "every tab on the same token");
      const windows = oidc.count.refresh - refreshes;
      assert.ok(windows <= 3, `${windows} refreshes for ${tabs} tabs over two windows`);
      assert.equal(oidc.count.invalidGrant, invalid, "no tab spent a rotated refresh token twice");
      await first.evaluate(() => client.signOut());
      // An event each tab awaits; the timeout only bounds a machine under load.
      for (const q of pages) await q.waitForFunction(() => !client.isAuthorized, null, { timeout: 15_000 });
    } finally {
      oidc.setAccessTtl(300);
      await context.close();
    }
  });
}

test("a tab whose copy of the new tokens is late waits on the lock the refreshing tab keeps; it never spends the rotated refresh token", async () => {
  const context = await browser.newContext();
  // Each page's channel can hold back what arrives (window.late), and records whether
  // each request for the refresh lock got it (window.locked).
  await context.addInitScript(() => {
    const Channel = BroadcastChannel;
    window.late = null;
    window.BroadcastChannel = class extends Channel {
      set onmessage(f) {
        super.onmessage = (e) => (window.late ? window.late.push(e) : f(e));
        window.deliver = f;
      }
    };
    window.locked = [];
    const request = navigator.locks.request.bind(navigator.locks);
    navigator.locks.request = (name, options, callback) => request(name, options, (held) => (window.locked.push(!!held), callback(held)));
  });
  try {
    const a = await signedIn(context);
    const b = await context.newPage();
    await b.goto(`${app.origin}/`);
    await ready(b);
    await b.waitForFunction(() => client.isAuthorized, null, { timeout: 5000 });
    const invalid = oidc.count.invalidGrant;
    const refreshes = oidc.count.refresh;
    await b.evaluate(() => (window.late = []));
    // Tab A refreshes (spending the refresh token both tabs hold); its tokens reach B late.
    const fresh = await a.evaluate(() => (client.invalidate(), client.getToken()));
    assert.equal(oidc.count.refresh, refreshes + 1);
    // B refreshes too, under the same refresh token's lock, before A's tokens arrive.
    await b.evaluate(() => {
      window.locked = [];
      client.invalidate();
      window.got = client.getToken().catch((e) => e.code);
    });
    await b.waitForFunction(() => window.locked.length > 0);
    assert.deepEqual(await b.evaluate(() => window.locked), [false], "A still holds the lock: B sends nothing");
    // A's tokens arrive: B takes them up and calls its refresh off.
    const got = await b.evaluate(() => {
      const held = window.late;
      window.late = null;
      for (const e of held) window.deliver(e);
      return window.got;
    });
    assert.equal(got, fresh);
    assert.equal(oidc.count.refresh, refreshes + 1, "one refresh for both tabs");
    assert.equal(oidc.count.invalidGrant, invalid);
  } finally {
    await context.close();
  }
});

test("a new tab joins a session whose access token lapsed while its refresh token is good: it refreshes once, instead of asking for a sign-in", async () => {
  oidc.setAccessTtl(30);
  const context = await browser.newContext();
  try {
    await context.clock.install(); // the page's timers wait for the test: no refresh of its own
    const first = await signedIn(context);
    // The first tab's access token lapses (its machine slept past it): it holds the refresh token alone.
    await first.clock.setSystemTime(Date.now() + 120_000);
    const [refreshes, invalid] = [oidc.count.refresh, oidc.count.invalidGrant];
    const q = await context.newPage();
    await q.goto(`${app.origin}/`);
    await ready(q);
    await q.waitForFunction(() => client.isAuthorized, null, { timeout: 5000 }); // joined through the channel
    const token = await q.evaluate(() => client.getToken());
    assert.ok(token);
    assert.equal(oidc.count.refresh, refreshes + 1, "one refresh with the shared refresh token");
    assert.equal(oidc.count.invalidGrant, invalid);
  } finally {
    oidc.setAccessTtl(300);
    await context.close();
  }
});

test("a tab that slept past its token's expiry gets a fresh token, never the expired one", async () => {
  oidc.setAccessTtl(30);
  const context = await browser.newContext();
  try {
    await context.clock.install();
    const p = await signedIn(context);
    const before = await p.evaluate(() => client.getToken());
    const refreshes = oidc.count.refresh;
    // The laptop sleeps for two minutes: the wall clock moves, the monotonic one and the
    // page's timers do not. Then the page is shown again.
    await p.clock.setSystemTime(Date.now() + 120_000);
    const [served, counted] = await p.evaluate(async () => {
      const t = await client.getToken(); // before any wake-up event
      document.dispatchEvent(new Event("visibilitychange"));
      return [t, events.filter(([e]) => e === "token").length];
    });
    assert.notEqual(served, before, "the expired token was not handed out");
    assert.ok(counted >= 2);
    assert.equal(oidc.count.refresh, refreshes + 1);
  } finally {
    oidc.setAccessTtl(300);
    await context.close();
  }
});

test("confidential client in Node: client_secret_basic + PKCE, the app keeps state and verifier in its own session", async () => {
  const { TokenClient } = await import("../../pkg/signin/node.js");
  const client = new TokenClient({ ...webClient(oidc, app.origin), allowedOrigins: [oidc.issuer] });
  const saved = await client.createAuthorizationUrl();
  assert.deepEqual(Object.keys(saved).sort(), ["codeVerifier", "nonce", "state", "url"]);
  // The user's browser signs in; the server-side app receives the callback URL.
  const callback = await callbackFor(browser, saved.url, app.origin, "bob");
  await assert.rejects(client.completeAuthorization(callback, { ...saved, state: "another-session-state" }), { code: "STATE_MISMATCH" });
  await client.completeAuthorization(callback, saved);
  assert.equal(client.isAuthorized, true);
  const me = await (await client.fetch(`${oidc.issuer}/me`)).json();
  assert.equal(me.sub, "bob");
  await client.signOut();
  assert.equal(client.isAuthorized, false);
  client.dispose();
});
