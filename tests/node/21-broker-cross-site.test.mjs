// The broker's sign-in mode attacked from another site, in Chromium: the app and the broker
// are on http://127.0.0.1 (one site), the attacker's page on http://localhost (another site:
// hosts differ; ports never matter for "site"). With alice signed in, nothing the attacker's
// page can make the browser do (navigate, submit a form, load an <img> or <iframe>, fetch
// with or without CORS) reaches the API as alice or changes her session (RFC 10017
// §6.1.3.3). The app's own calls need the Tokenkit-Request header, and the sign-in still
// works when the authorization server's redirect comes from another site.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { launchChromium } from "../fixtures/chromium.mjs";
import { startOidc, signInAt } from "../fixtures/oidc.mjs";
import { bffOptions, freePort, startPage } from "../fixtures/bff.mjs";

let app, evil, oidc, mf, broker, browser;
const store = mkdtempSync(join(tmpdir(), "tokenkit-xsite-"));

before(async () => {
  app = await startPage("127.0.0.1");
  evil = await startPage("localhost");
  const port = await freePort();
  broker = `http://127.0.0.1:${port}`;
  oidc = await startOidc({ redirects: [`${broker}/callback`], accessTtl: 300, host: "localhost" });
  mf = new Miniflare(bffOptions({ port, store, issuer: oidc.issuer, backchannel: oidc.local, appOrigin: app.origin, sessionSecret: "cross-site-session-key-0123456789abcdefghij" }));
  await mf.ready;
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await mf?.dispose();
  await oidc?.close();
  await app?.close();
  await evil?.close();
  rmSync(store, { recursive: true, force: true });
});

/** The app's own call: credentials and the CSRF header. */
const appCall = (page, path, init = {}) =>
  page.evaluate(
    async ([url, init]) => {
      const r = await fetch(url, { credentials: "include", ...init, headers: { "Tokenkit-Request": "1", ...init.headers } });
      return [r.status, await r.text()];
    },
    [`${broker}${path}`, init],
  );

/**
 * Alice signs in. The authorization server is on http://localhost (its own site, as a real
 * one is), so its redirect back to /callback is a cross-site navigation: only a Lax
 * cookie comes along on it.
 */
async function signIn(context) {
  const page = await context.newPage();
  await page.goto(`${broker}/login?return_to=${encodeURIComponent(`${app.origin}/`)}`);
  assert.ok(page.url().startsWith(oidc.issuer), page.url());
  await signInAt(page, "alice");
  await page.waitForURL(`${app.origin}/`);
  return page;
}

test("the sign-in completes through the authorization server's cross-site redirect; the cookies are what RFC 10017 §6.1.3.2 asks", async () => {
  const context = await browser.newContext();
  const page = await signIn(context);
  const cookies = (await context.cookies(broker)).filter((c) => c.name.includes("tokenkit"));
  assert.deepEqual(
    cookies.map((c) => [c.name, c.sameSite, c.httpOnly, c.secure, c.path]),
    [["__Host-Http-tokenkit-session", "Strict", true, true, "/"]],
    "one Strict session cookie; the Lax sign-in cookie was cleared by /callback",
  );
  const [status, me] = await appCall(page, "/proxy/me");
  assert.equal(status, 200, me);
  assert.equal(JSON.parse(me).sub, "alice");
  await context.close();
});

test("another site's navigations, forms, images, frames and fetches never act as the signed-in user", async () => {
  const context = await browser.newContext();
  const page = await signIn(context);
  assert.equal(JSON.parse((await appCall(page, "/proxy/me"))[1]).sub, "alice");
  const seen = []; // every broker response the browser got while the attacker's page ran
  context.on("response", (r) => r.url().startsWith(broker) && seen.push([r.request().method(), new URL(r.url()).pathname, r.status()]));
  const before = oidc.count.userinfo;
  const revocations = oidc.count.revocations;

  const attacker = await context.newPage();
  await attacker.goto(`${evil.origin}/`);
  // Subresources and fetches: an <img>, an <iframe>, a no-cors fetch with cookies, a CORS
  // fetch with the header (its preflight is refused), a form POST into a frame.
  const results = await attacker.evaluate(async (b) => {
    const load = (el) => new Promise((r) => ((el.onload = el.onerror = () => r("done")), document.body.append(el), setTimeout(() => r("timeout"), 3000)));
    const out = {};
    out.img = await load(Object.assign(document.createElement("img"), { src: `${b}/proxy/me?img` }));
    out.iframe = await load(Object.assign(document.createElement("iframe"), { src: `${b}/proxy/me?iframe` }));
    out.noCors = await fetch(`${b}/proxy/me?nocors`, { mode: "no-cors", credentials: "include" }).then((r) => r.type, (e) => e.name);
    out.cors = await fetch(`${b}/proxy/me?cors`, { credentials: "include", headers: { "Tokenkit-Request": "1" } }).then((r) => r.status, (e) => e.name);
    out.session = await fetch(`${b}/session`, { credentials: "include", headers: { "Tokenkit-Request": "1" } }).then((r) => r.status, (e) => e.name);
    const frame = Object.assign(document.createElement("iframe"), { name: "sink" });
    document.body.append(frame);
    for (const path of ["/proxy/me?form", "/logout"]) {
      const form = Object.assign(document.createElement("form"), { method: "POST", action: `${b}${path}`, target: "sink" });
      document.body.append(form);
      await new Promise((r) => ((frame.onload = () => r()), form.submit(), setTimeout(r, 3000)));
    }
    return out;
  }, broker);
  assert.equal(results.cors, "TypeError", "the preflight is refused: another site cannot send the header");
  assert.equal(results.session, "TypeError");
  // Top-level navigations: a link followed, a form submitted in the page itself.
  for (const [method, path] of [["GET", "/proxy/me?nav"], ["POST", "/proxy/me?navform"], ["POST", "/logout"], ["GET", "/session"]]) {
    await attacker.goto(`${evil.origin}/`);
    const nav = attacker.waitForURL((u) => u.href.startsWith(broker));
    await attacker.evaluate(([m, url]) => {
      if (m === "GET") return void (location.href = url);
      const f = Object.assign(document.createElement("form"), { method: m, action: url });
      document.body.append(f);
      f.submit();
    }, [method, `${broker}${path}`]);
    await nav;
    const body = await attacker.evaluate(() => document.body.innerText);
    assert.doesNotMatch(body, /alice/, `${method} ${path} answered as alice`);
  }
  // A navigation to /login from another site revokes nothing (the Strict cookie does not
  // come along, so the broker cannot end the session it names): it starts a sign-in, which
  // the authorization server may complete at once for the user it already knows.
  await attacker.goto(`${evil.origin}/`);
  await Promise.all([attacker.waitForURL((u) => !u.href.startsWith(evil.origin)), attacker.evaluate((u) => (location.href = u), `${broker}/login`)]);

  assert.equal(oidc.count.userinfo, before, "the API was never called as alice");
  assert.equal(oidc.count.revocations, revocations, "nothing was revoked");
  for (const [m, path, status] of seen.filter(([, p]) => p !== "/login")) assert.ok(status !== 200 || path === "/session", `${m} ${path} answered ${status}`);
  // Alice's own app still works, and a call of its own without the header is refused.
  assert.deepEqual(JSON.parse((await appCall(page, "/session"))[1]), { signedIn: true });
  assert.equal(JSON.parse((await appCall(page, "/proxy/me"))[1]).sub, "alice");
  const bare = await page.evaluate((u) => fetch(u, { credentials: "include" }).then(async (r) => [r.status, (await r.json()).error]), `${broker}/proxy/me`);
  assert.deepEqual(bare, [403, "csrf_header_required"]);
  await context.close();
});
