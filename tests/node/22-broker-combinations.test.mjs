// The broker's opt-in features combined, pairwise and all at once, in real workerd
// (Miniflare): Cloudflare Access, Turnstile, BROKER_KEYS, the TOKEN_CACHE Durable Object,
// the RATE_LIMITER binding and sign-in. Bindings are named as the shipped template
// (pkg-template/broker/wrangler.toml) names them. Each deployment must serve a caller that
// brings every credential its features ask for, and refuse one that leaves any out, with
// that feature's own error. (Access + TOKEN_CACHE once failed every /token: the token
// cache's own object applied the Access gate to the isolates' requests.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Miniflare } from "miniflare";
import { workerdOptions } from "../../worker/local.mjs";
import { startFixture, key } from "./helpers.mjs";
import { accessKeys, startTeam } from "../fixtures/access.mjs";

const APP = "https://app.example.com";
const AUD = "aud-combo";
const worker = new URL("../../worker/", import.meta.url).pathname;
const { signer, jwt } = accessKeys();
let up, team;
before(async () => ((up = await startFixture()), (team = await startTeam(signer))));
after(async () => (await team.close(), await up.close()));

/** The template's bindings, commented-out ones included: [[durable_objects.bindings]] and [[ratelimits]] names. */
function templateBindings() {
  const toml = readFileSync(new URL("../../pkg-template/broker/wrangler.toml", import.meta.url), "utf8").replace(/^# ?/gm, "");
  const objects = Object.fromEntries([...toml.matchAll(/\[\[durable_objects\.bindings\]\]\s*name = "(\w+)"\s*class_name = "(\w+)"/g)].map((m) => [m[1], m[2]]));
  const limits = [...toml.matchAll(/\[\[ratelimits\]\]\s*name = "(\w+)"/g)].map((m) => m[1]);
  return { objects, limits };
}
const { objects, limits } = templateBindings();
test("the template names the bindings the Worker reads", () => {
  assert.deepEqual(objects, { TOKEN_CACHE: "TokenCache", SESSIONS: "UserSession" });
  assert.deepEqual(limits, ["RATE_LIMITER"]);
});

const FEATURES = ["access", "turnstile", "keys", "cache", "ratelimit", "signin"];
let ip = 0;
const now = () => Math.floor(Date.now() / 1000);

/** A deployment with `features` on: [Miniflare, upstream key]. */
async function deploy(features) {
  const k = key("combo");
  const on = (f) => features.includes(f);
  const bindings = { TOKEN_URL: up.url(k, "ttl=60"), CLIENT_ID: "c", CLIENT_SECRET: "COMBO-SECRET", ALLOWED_ORIGINS: APP, PROXY_ORIGIN: up.origin, RATE_LIMIT: "0" };
  if (on("access")) Object.assign(bindings, { ACCESS_TEAM_DOMAIN: team.origin, ACCESS_AUD: AUD });
  if (on("turnstile")) Object.assign(bindings, { TURNSTILE_SECRET: "TS", TURNSTILE_VERIFY_URL: `${team.origin}/siteverify` });
  if (on("keys")) bindings.BROKER_KEYS = "combo-key";
  if (on("signin")) Object.assign(bindings, { AUTHORIZE_URL: `${up.origin}/authorize`, REDIRECT_URI: "http://127.0.0.1:1/callback", SESSION_SECRET: "combo-session-key-0123456789abcdefghijk", ALLOW_CREDENTIALS: "true" });
  const durableObjects = {};
  if (on("cache")) durableObjects.TOKEN_CACHE = objects.TOKEN_CACHE;
  if (on("signin")) durableObjects.SESSIONS = objects.SESSIONS;
  const ratelimits = on("ratelimit") ? { [limits[0]]: { simple: { limit: 4, period: 60 } } } : undefined;
  const mf = new Miniflare({ ...workerdOptions(`${worker}index.js`, worker, bindings), durableObjects, ratelimits });
  await mf.ready;
  return [mf, k];
}

/** A browser call from the app with every credential `features` ask for, but `omit`'s. */
function call(mf, features, path, { omit, method = "GET", client = `198.51.100.${++ip % 250}` } = {}) {
  // A navigation (/login) carries no Origin; the app's calls do.
  const headers = path.startsWith("/login") ? { "cf-connecting-ip": client } : { origin: APP, "cf-connecting-ip": client };
  if (omit !== "csrf") headers["tokenkit-request"] = "1";
  const give = (f) => features.includes(f) && f !== omit;
  if (give("access")) headers["cf-access-jwt-assertion"] = jwt({ iss: team.origin, aud: [AUD], exp: now() + 300 });
  if (give("keys")) headers["x-broker-key"] = "combo-key";
  let url = `http://broker${path}`;
  if (give("turnstile")) {
    if (path.startsWith("/login")) url += `${path.includes("?") ? "&" : "?"}cf-turnstile-response=ok:broker`;
    else headers["cf-turnstile-response"] = "ok:app.example.com";
  }
  return mf.dispatchFetch(url, { method, headers, redirect: "manual" });
}

/** What a refusal of feature `f` looks like: [status, error]. */
const REFUSAL = { access: [403, "access_denied"], turnstile: [403, "turnstile_required"], keys: [401, "broker_key_required"] };

async function check(features) {
  const [mf, k] = await deploy(features);
  const signin = features.includes("signin");
  try {
    const health = await (await mf.dispatchFetch("http://broker/healthz")).json();
    assert.equal(health.cache, features.includes("cache") ? "durable-object" : "isolate");
    assert.equal(health.rateLimit, features.includes("ratelimit") ? "binding" : "off");
    // Served: everything the features ask for is brought.
    if (signin) {
      const login = await call(mf, features, `/login?return_to=${encodeURIComponent(`${APP}/`)}`);
      assert.equal(login.status, 302, await login.text());
      assert.ok(login.headers.get("location").startsWith(`${up.origin}/authorize?`));
      const proxy = await call(mf, features, `/proxy/s/${k}/api/x`);
      assert.deepEqual([proxy.status, (await proxy.json()).error], [401, "login_required"], "no session yet");
      assert.equal((await call(mf, features, "/token", { method: "POST" })).status, 404, "tokens stay in the broker");
    } else {
      const tokens = await Promise.all(Array.from({ length: 3 }, () => call(mf, features, "/token", { method: "POST" }).then(async (r) => [r.status, await r.text()])));
      for (const [status, body] of tokens) assert.equal(status, 200, body);
      const proxy = await call(mf, features, `/proxy/s/${k}/api/x`);
      assert.equal(proxy.status, 200, await proxy.text());
      assert.equal(up.count(k), 1, "one upstream token request");
    }
    // Refused: each credential left out, with its feature's error; the CSRF header always.
    const target = signin ? "/login" : "/token";
    for (const f of features.filter((f) => REFUSAL[f])) {
      const r = await call(mf, features, target, { omit: f, method: signin ? "GET" : "POST" });
      // Navigations to /login cannot carry a key; a valid key or Access stands in for Turnstile.
      // With Turnstile a key and a widget's token are alternatives (sign-in aside).
      const stands = !signin && ((f === "turnstile" && (features.includes("keys") || features.includes("access"))) || (f === "keys" && features.includes("turnstile")));
      const expected = f === "keys" && signin ? [302, undefined] : stands ? [200, undefined] : REFUSAL[f];
      assert.deepEqual([r.status, r.status === 302 || r.status === 200 ? undefined : (await r.json()).error], expected, `without ${f}`);
    }
    const noCsrf = await call(mf, features, `/proxy/s/${k}/api/x`, { omit: "csrf" });
    assert.deepEqual([noCsrf.status, (await noCsrf.json()).error], [403, "csrf_header_required"]);
    // The binding's limit, shared however many requests the other features add.
    if (features.includes("ratelimit")) {
      const statuses = [];
      for (let i = 0; i < 6; i++) statuses.push((await call(mf, features, "/healthz", { client: "203.0.113.99" })).status);
      assert.deepEqual(statuses.slice(-2), [429, 429], JSON.stringify(statuses));
    }
  } finally {
    await mf.dispose();
  }
}

const pairs = FEATURES.flatMap((a, i) => FEATURES.slice(i + 1).map((b) => [a, b]));
for (const pair of pairs) test(`${pair.join(" + ")}`, () => check(pair));
test("every feature at once", () => check(FEATURES));
test("every feature but sign-in at once", () => check(FEATURES.filter((f) => f !== "signin")));
