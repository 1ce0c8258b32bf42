// The broker's opt-in gates in real workerd (Miniflare): Cloudflare Access (RS256 tokens
// checked against the team's keys) and Turnstile (siteverify), with a stand-in for the
// Access team and for siteverify on 127.0.0.1. What is checked is what a forger could try.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Miniflare } from "miniflare";
import { startBroker, workerdOptions } from "../../worker/local.mjs";
import { startFixture, key } from "./helpers.mjs";
import { accessKeys, startTeam } from "../fixtures/access.mjs";

const APP = "https://app.example.com";
const AUD = "aud-tag-0123456789";
let up, team, brokers = [];

const { signer, stranger, jwt, b64url } = accessKeys();

before(async () => {
  up = await startFixture();
  team = await startTeam(signer);
});
after(async () => {
  for (const b of brokers) await b.dispose();
  await team.close();
  await up.close();
});

async function broker(extra) {
  const b = await startBroker({ TOKEN_URL: up.url(key("gate"), "ttl=60"), CLIENT_ID: "c", CLIENT_SECRET: "GATE-SECRET", ALLOWED_ORIGINS: APP, RATE_LIMIT: "0", ...extra });
  brokers.push(b);
  return b;
}

const now = () => Math.floor(Date.now() / 1000);

test("Cloudflare Access: only a valid RS256 token from the team, for this application, in its lifetime, passes", async () => {
  const b = await broker({ ACCESS_TEAM_DOMAIN: team.origin, ACCESS_AUD: AUD });
  const good = { iss: team.origin, aud: [AUD], exp: now() + 300, iat: now(), email: "ops@example.com" };
  const token = (jwtValue) => b.fetch("/token", { method: "POST", headers: jwtValue ? { "cf-access-jwt-assertion": jwtValue } : {} });

  assert.equal((await b.fetch("/healthz")).status, 200, "health needs no token");
  const none = await token();
  assert.equal(none.status, 403);
  assert.equal((await none.json()).error, "access_denied");
  for (let i = 0; i < 5; i++) {
    const r = await token(jwt(good));
    assert.equal(r.status, 200, await r.text());
  }

  for (const [why, forged] of [
    ["another application", jwt({ ...good, aud: ["other-app"] })],
    ["another team", jwt({ ...good, iss: "https://evil.cloudflareaccess.com" })],
    ["expired", jwt({ ...good, exp: now() - 120 })],
    ["not yet valid", jwt({ ...good, nbf: now() + 600 })],
    ["no expiry", jwt({ ...good, exp: undefined })],
    ["HS256 with a public secret", jwt(good, { head: { alg: "HS256" } })],
    ["alg none", jwt(good, { head: { alg: "none" } })],
    ["signed by another key under the team's kid", jwt(good, { pair: stranger })],
    ["an unknown kid", jwt(good, { head: { kid: "k9" }, pair: stranger })],
    ["claims changed after signing", (() => { const [h, , s] = jwt(good).split("."); return `${h}.${b64url(JSON.stringify({ ...good, aud: AUD, email: "admin@example.com", exp: now() + 9999 }))}.${s}`; })()],
    ["not a JWT", "abc.def"],
  ]) {
    const r = await token(forged);
    assert.equal(r.status, 403, why);
    const body = await r.json();
    assert.equal(body.error, "access_denied", why);
  }
  assert.equal(team.seen.certs, 1, "the team's keys are fetched once and cached (an unknown kid within a minute fetches nothing)");
});

test("Turnstile: every /token and /proxy/ call needs a token solved on the app's site, whether or not it sends an Origin", async () => {
  const b = await broker({ TURNSTILE_SECRET: "TS-SECRET", TURNSTILE_VERIFY_URL: `${team.origin}/siteverify`, PROXY_ORIGIN: up.origin });
  const call = (headers, path = "/token") => b.fetch(path, { method: "POST", headers: { "tokenkit-request": "1", ...headers } });
  const before = team.seen.verify.length;
  // The attacker's path: a script that leaves Origin out (or says it is the app).
  for (const [why, headers, path] of [
    ["no Origin", {}],
    ["no Origin, through the proxy", {}, `/proxy/s/${key("gate")}/api/x`],
    ["a forged Origin of the app", { origin: APP }],
    ["an empty token", { "cf-turnstile-response": "" }],
  ]) {
    const r = await call(headers, path);
    assert.deepEqual([r.status, (await r.json()).error], [403, "turnstile_required"], why);
  }
  assert.equal(team.seen.verify.length, before, "nothing asked of siteverify without a token");

  const ok = await call({ origin: APP, "cf-turnstile-response": "ok:app.example.com", "cf-connecting-ip": "203.0.113.4" });
  assert.equal(ok.status, 200);
  const sent = team.seen.verify.at(-1);
  assert.deepEqual([sent.secret, sent.response, sent.remoteip], ["TS-SECRET", "ok:app.example.com", "203.0.113.4"]);
  assert.equal((await call({ "cf-turnstile-response": "ok:app.example.com" })).status, 200, "solved on the app's site, no Origin");

  for (const [why, headers] of [
    ["used or expired", { origin: APP, "cf-turnstile-response": "used:x" }],
    ["solved on another site", { origin: APP, "cf-turnstile-response": "ok:evil.example" }],
    ["solved on another site, Origin left out", { "cf-turnstile-response": "ok:evil.example" }],
  ]) {
    const r = await call(headers);
    assert.deepEqual([r.status, (await r.json()).error], [403, "turnstile_failed"], why);
  }
  team.failVerify(500);
  try {
    const r = await call({ origin: APP, "cf-turnstile-response": "ok:app.example.com" });
    assert.equal(r.status, 403, "siteverify failing: closed, not open");
  } finally {
    team.failVerify(200);
  }
  const pre = await b.fetch("/token", { method: "OPTIONS", headers: { origin: APP, "access-control-request-method": "POST", "access-control-request-headers": "cf-turnstile-response" } });
  assert.equal(pre.status, 204, "preflights pass");
  assert.equal(team.seen.verify.length - before, 6, "siteverify asked once per call with a token");
});

test("Turnstile with BROKER_KEYS: a valid key or a widget's token, either one (servers hold a key, browsers solve the widget); neither is refused", async () => {
  const b = await broker({ TURNSTILE_SECRET: "TS-SECRET", TURNSTILE_VERIFY_URL: `${team.origin}/siteverify`, BROKER_KEYS: "server-key" });
  const call = (headers) => b.fetch("/token", { method: "POST", headers });
  const before = team.seen.verify.length;
  assert.equal((await call({ "x-broker-key": "server-key" })).status, 200);
  assert.equal((await call({ "x-broker-key": "server-key", origin: APP })).status, 200);
  assert.equal(team.seen.verify.length, before, "a valid key needs no siteverify");
  assert.equal((await call({ origin: APP, "cf-turnstile-response": "ok:app.example.com" })).status, 200, "a browser without the key");
  for (const [why, headers] of [["no key, no widget", {}], ["a wrong key, no widget", { "x-broker-key": "guess", origin: APP }]]) {
    const r = await call(headers);
    const body = await r.json();
    assert.deepEqual([r.status, body.error], [403, "turnstile_required"], why);
    assert.match(body.message, /X-Broker-Key/);
  }
});

test("Turnstile with sign-in: /login needs the widget's cf-turnstile-response; the session then carries the proof", async () => {
  const { host, port, ...w } = workerdOptions(new URL("../../worker/index.js", import.meta.url).pathname, new URL("../../worker/", import.meta.url).pathname, {});
  const mf = new Miniflare({
    ...w,
    host,
    port,
    durableObjects: { SESSIONS: "UserSession" },
    bindings: {
      TOKEN_URL: `${team.origin}/token`,
      CLIENT_ID: "web",
      CLIENT_SECRET: "web-secret",
      AUTHORIZE_URL: `${team.origin}/auth`,
      REDIRECT_URI: "http://127.0.0.1:9/callback",
      SESSION_SECRET: "a-session-secret-of-at-least-32-chars!",
      ALLOWED_ORIGINS: APP,
      TURNSTILE_SECRET: "TS-SECRET",
      TURNSTILE_VERIFY_URL: `${team.origin}/siteverify`,
      RATE_LIMIT: "0",
    },
  });
  try {
    await mf.ready;
    const without = await mf.dispatchFetch("http://broker/login", { redirect: "manual" });
    assert.equal(without.status, 403);
    assert.equal((await without.json()).error, "turnstile_required");
    const login = await mf.dispatchFetch("http://broker/login?cf-turnstile-response=ok:broker", { redirect: "manual" });
    assert.equal(login.status, 302);
    assert.ok(login.headers.get("location").startsWith(`${team.origin}/auth?`));
    assert.match(login.headers.get("set-cookie"), /^__Host-Http-tokenkit-signin=/);
  } finally {
    await mf.dispose();
  }
});
