// The demo page (www/) in real Chromium, driven by Playwright against the running demo
// stack: local auth server + API, the broker in workerd, the page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { launchChromium } from "../fixtures/chromium.mjs";
import { startDemo } from "../../www/serve.mjs";
import { signInAt } from "../fixtures/oidc.mjs";

let demo, browser, page;
const problems = [];
let allowFaultNoise = false;
const brokerTokens = []; // full tokens the broker handed out, which the DOM must never show
const artifacts = new URL("../artifacts/", import.meta.url).pathname;

before(async () => {
  demo = await startDemo({ ttl: 12 });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e}`));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    // The authorization server's own login pages are not ours (they load web fonts from
    // the internet, which does not exist here).
    if (!page.url().startsWith(demo.pageUrl) || m.location()?.url?.startsWith(demo.oidc.issuer)) return;
    // Chromium itself logs each failed HTTP load; the fault buttons cause exactly those.
    const faultNoise = /Failed to load resource: the server responded with a status of (400|401|429|500|502)/.test(m.text());
    if (!(allowFaultNoise && faultNoise)) problems.push(m.text());
  });
});
after(async () => {
  await browser?.close();
  await demo?.stop();
});

const text = (sel) => page.textContent(sel);
const waitFor = (fn, arg, timeout = 15_000) => page.waitForFunction(fn, arg, { timeout });
/** Empties the result line, so the next wait observes the next outcome, not the last one. */
const clearResult = () => page.evaluate(() => (document.getElementById("result").textContent = ""));
const resultMatches = (re) => waitFor((src) => new RegExp(src).test(document.getElementById("result").textContent), re.source);

test("the page server answers every request and stays up: missing files, /favicon.ico, a malformed URL, an escape, /docs", async () => {
  const origin = new URL(demo.pageUrl).origin;
  for (const [path, status] of [
    ["/favicon.ico", 404],
    ["/nope.js", 404],
    ["/pkg/nope.wasm", 404],
    ["/%E0%A4%A", 400],
    ["/pkg/%2e%2e/%2e%2e/package.json", 404],
    ["/docs", 200],
    ["/docs/api.md", 200],
    ["/docs/nope.md", 404],
    ["/docs/..%2F..%2Fetc%2Fpasswd", 404],
    ["/", 200],
  ]) {
    const r = await fetch(`${origin}${path}`);
    await r.arrayBuffer();
    assert.equal(r.status, status, path);
  }
  assert.equal((await fetch(`${origin}/config.json`)).status, 200, "still up");
  // /docs is the README as HTML, its links to docs/ pages working.
  const docs = await (await fetch(`${origin}/docs`)).text();
  assert.match(docs, /^<!doctype html>/);
  assert.match(docs, /<a href="docs\/broker.md">/);
  assert.match(await (await fetch(new URL("docs/broker.md", `${origin}/docs`))).text(), /<h1 id="the-edge-token-broker">/);
  // A page with figure marks shows the figures, not the marks.
  const signin = await (await fetch(new URL("docs/signin.md", `${origin}/docs`))).text();
  assert.match(signin, /a minimal app with the default entry is \d+\.\d KB/);
  assert.doesNotMatch(signin, /&lt;!--|fig:/);
});

test("loads, shows a token from the broker, calls the API, bursts with one token request", async () => {
  await page.goto(demo.pageUrl);
  await waitFor(() => document.getElementById("t-status").textContent === "valid");
  assert.match(await text("#mode-about"), /edge broker.*never reaches the browser/);
  assert.equal(await page.isDisabled("#scope"), true, "scope is a direct-mode option");
  assert.equal(await text("#t-type"), "Bearer");
  assert.match(await text("#t-preview"), /^tok-de…/);
  await page.click("#call");
  await resultMatches(/API answered 200/);
  await page.click("#burst");
  await resultMatches(/^burst/);
  assert.match(await text("#result"), /100 concurrent calls, 100 OK in \d+ ms, caused 1 token request\(s\)/);
  assert.deepEqual(problems, []);
});

test("broker mode: a fault bites at once (the broker drops its cached token), its retries and the card show it", async () => {
  allowFaultNoise = true;
  const requestLog = () => page.$$eval("#log li.request", (els) => els.map((e) => e.textContent));
  for (const [label, expect, upstream] of [
    ["500", /API answered 200/, 2], // the broker retries upstream itself
    ["Slow", /API answered 200/, 1], // the page's 3 s timeout retries; the broker's one upstream request answers
    ["Malformed JSON", /API answered 200/, 2],
    ["Revoked credentials", /OAUTH_ERROR: .*\(HTTP 400\).*upstream_rejected/, 1],
    // Last: the broker passes on a 40 s Retry-After and asks upstream no more until then.
    ["429 + Retry-After", /^RATE_LIMITED: [^;]*\(HTTP 429\); retry after (39|40) s$/, 1],
  ]) {
    const before = demo.auth.count("demo-broker");
    await clearResult();
    await page.click(`button[data-fault]:text-is("${label}")`);
    await resultMatches(expect);
    // The fault bit at once: the broker went upstream for this click, not from its cache.
    await waitFor(() => !document.querySelector("[data-busy]")); // the click's work is done
    assert.equal(demo.auth.count("demo-broker") - before, upstream, `${label}: upstream token requests`);
    assert.match((await requestLog())[0], new RegExp(`the broker sent ${upstream} upstream token request`), label);
    if (label === "429 + Retry-After") {
      assert.equal(await text("#t-status"), "none", "the card shows no token after a failed fetch");
      await clearResult();
      await page.click("#call");
      await resultMatches(/RATE_LIMITED: .*\(HTTP 429\)/);
      assert.equal(demo.auth.count("demo-broker") - before, 1, "no upstream request inside Retry-After");
      // The fault buttons say why they cannot bite now, instead of arming a fault that fires later.
      assert.equal(await page.isDisabled('button[data-fault="500"]'), true);
      assert.match(await text("#fault-note"), /waiting out the token server's Retry-After/);
      continue;
    }
    if (!/API answered 200/.test(expect.source)) {
      assert.equal(await text("#t-status"), "none", "the card shows no token after a failed fetch");
      await clearResult();
      await page.click("#call");
      await resultMatches(/API answered 200/); // recovery
    }
    await waitFor(() => document.getElementById("t-status").textContent === "valid"); // the card shows the new token
    brokerTokens.push((await (await fetch(`${demo.brokerUrl}/token`, { method: "POST" })).json()).access_token);
  }
  allowFaultNoise = false;
  assert.deepEqual(problems, []);
});

test("direct mode: faults show typed errors, retries and recovery", async () => {
  await page.selectOption("#mode", "direct");
  await waitFor(() => document.getElementById("t-status").textContent === "valid");
  assert.match(await text("#mode-about"), /public client/);
  assert.equal(await page.isDisabled("#scope"), false);
  assert.equal(await text("#t-scope"), "read write");
  const burstBefore = demo.auth.count("demo-direct");
  await page.click("#burst");
  await resultMatches(/^burst/);
  assert.match(await text("#result"), /caused 1 token request/);
  assert.equal(demo.auth.count("demo-direct") - burstBefore, 1, "the server saw one token request");

  allowFaultNoise = true;
  for (const [label, expect, requests] of [
    ["500", /API answered 200/, 2], // retried once, then fine
    ["429 + Retry-After", /RATE_LIMITED: .*\(HTTP 429\)/, 1], // Retry-After 40 s is past the deadline: not waited for
    ["Slow", /API answered 200/, 2], // the 5 s answer times out at 3 s and is retried
    ["Malformed JSON", /INVALID_RESPONSE: /, 1],
    ["Revoked credentials", /OAUTH_ERROR: .*\(HTTP 401\).*invalid_client/, 1],
  ]) {
    const before = demo.auth.count("demo-direct");
    await clearResult();
    await page.click(`button[data-fault]:text-is("${label}")`);
    await resultMatches(expect);
    assert.equal(demo.auth.count("demo-direct") - before, requests, `${label}: token requests`);
    if (label === "500") {
      // The retry is visible: the page logs each token request it sends, with its outcome.
      const requests = await page.$$eval("#log li.request", (els) => els.map((e) => e.textContent));
      // Newest first: the retry's 200 above the first attempt's 500.
      assert.match(requests.slice(0, 2).join(" | "), /HTTP 200 \| .*HTTP 500/);
    }
    if (label === "429 + Retry-After") {
      // The server's Retry-After is honoured across calls: the next call fails at once,
      // without a token request, until the caller invalidates.
      await clearResult();
      await page.click("#call");
      await resultMatches(/RATE_LIMITED: .*\(HTTP 429\)/);
      assert.equal(demo.auth.count("demo-direct") - before, 1, "no request inside Retry-After");
      await page.click("#invalidate");
    }
    await clearResult();
    await page.click("#call");
    await resultMatches(/API answered 200/); // recovery
  }
  allowFaultNoise = false;
  await page.selectOption("#mode", "apikey");
  await waitFor(() => /static key/.test(document.getElementById("mode-about").textContent));
  assert.equal(await page.isDisabled('button[data-fault="500"]'), true, "no faults apply to an API key");
  await page.selectOption("#mode", "direct");
  await waitFor(() => document.getElementById("t-status").textContent === "valid");
  const log = await text("#log");
  for (const code of ["RATE_LIMITED", "INVALID_RESPONSE", "OAUTH_ERROR"]) assert.ok(log.includes(code), code);
  assert.deepEqual(problems, []);
});

test("refreshes before expiry with no clicks (12 s tokens, skew limited to 6 s), at the refresh point it shows", async () => {
  const tokens = () => page.$$eval("#log li.token", (els) => els.length);
  const n = await tokens();
  await waitFor((count) => document.querySelectorAll("#log li.token").length > count, n, 12_000);
  assert.equal(await text("#t-status"), "valid");
});

test("sign-in mode: a user signs in (PKCE), the page calls the API as them, signs out", async () => {
  await page.selectOption("#mode", "signin");
  await waitFor(() => document.getElementById("who").textContent === "not signed in");
  assert.equal(await page.isHidden("#signin"), false);
  const codes = demo.oidc.count.code;
  await page.click("#signin");
  await signInAt(page, "demo-user");
  await page.waitForURL(`${demo.pageUrl}**`);
  await waitFor(() => document.getElementById("who").textContent === "signed in");
  assert.equal(new URL(page.url()).search, "", "the code left the address bar");
  assert.equal(demo.oidc.count.code, codes + 1);
  await waitFor(() => document.getElementById("t-status").textContent === "valid");
  assert.doesNotMatch(await text("#result"), /Sign in to get/, "the status follows the sign-in");
  await clearResult();
  await page.click("#call");
  await resultMatches(/API answered 200 .*"sub":"demo-user"/);
  const revocations = demo.oidc.count.revocations;
  await page.click("#signout");
  await waitFor(() => document.getElementById("who").textContent === "signed out");
  assert.equal(demo.oidc.count.revocations, revocations + 1);
  assert.equal(await text("#t-status"), "none");
  assert.deepEqual(problems, []);
});

test("no secret and no full token in the DOM; no console errors; screenshot", async () => {
  const html = await page.content();
  assert.ok(!html.includes(demo.secret), "client secret");
  assert.ok(brokerTokens.length >= 4);
  for (const t of brokerTokens) assert.ok(t.startsWith("tok-") && !html.includes(t), "full token");
  for (const secretish of ["demo-broker-secret", "Basic "]) assert.ok(!html.includes(secretish), secretish);
  mkdirSync(artifacts, { recursive: true });
  for (const [width, height] of [[390, 844], [1280, 800]]) {
    await page.setViewportSize({ width, height });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    assert.equal(overflow, false, `fits ${width} px`);
    // The mode <select> shows its whole option (it was cut off at both widths).
    const cut = await page.$eval("#mode", (el) => el.scrollWidth > el.clientWidth);
    assert.equal(cut, false, `the mode select at ${width} px`);
    await page.screenshot({ path: `${artifacts}demo-${width}.png`, fullPage: true });
  }
  // What the page is about is above the fold on a phone.
  await page.setViewportSize({ width: 390, height: 844 });
  const explain = await page.$eval("#explain", (el) => el.getBoundingClientRect().top + window.scrollY);
  assert.ok(explain < 844, "the explanation starts on a phone's first screen");
  const call = await page.$eval("#call", (el) => el.getBoundingClientRect().bottom + window.scrollY);
  assert.ok(call < 844 / 2, `Call API is on the first half of a phone's first screen (at ${call} px)`);
  await page.setViewportSize({ width: 1200, height: 900 });
  assert.deepEqual(problems, []);
});
