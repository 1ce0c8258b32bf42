// private_key_jwt (RFC 7523, FAPI 2.0) against oidc-provider with the clients' public keys
// registered and no shared secret anywhere: the package's TokenClient in Node (a private
// JWK, a non-extractable CryptoKey) and in workerd, and the broker with CLIENT_KEY (alone,
// and with the TOKEN_CACHE object). The server checks every assertion (tests/fixtures/
// keyauth.mjs); these tests check that it refuses a wrong key, an expired assertion and a
// reused jti, that every attempt gets its own assertion, and that the key shows nowhere.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { TokenClient, TokenError } from "./helpers.mjs";
import { clientKeyPair, startKeyAs } from "../fixtures/keyauth.mjs";
import { workerdOptions } from "../../worker/local.mjs";

let as, key, other;
before(async () => {
  key = await clientKeyPair("key-1");
  other = await clientKeyPair("key-1"); // same kid, another key: not the registered one
  as = await startKeyAs({ keys: [key.publicJwk] });
});
after(async () => await as?.close());

const client = (extra = {}) => new TokenClient({ issuer: as.issuer, clientId: "svc", clientAuth: "private_key_jwt", clientKey: key.privateJwk, ...extra });
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url"));
const header = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[0], "base64url"));
/** A fetch that records each token request's body (and can answer the first `fail` with 503). */
function recording(fail = 0) {
  const bodies = [];
  const f = async (url, init) => {
    if (init.method === "POST") {
      bodies.push(String(init.body));
      if (bodies.length <= fail) return new Response("busy", { status: 503 });
    }
    return fetch(url, init);
  };
  f.bodies = bodies;
  return f;
}
const assertionOf = (body) => new URLSearchParams(body).get("client_assertion");

test("Node, a private JWK, the issuer alone: 20 concurrent callers, one token request with one assertion the server checked; no secret sent", async () => {
  const fetchFn = recording();
  const c = client({ fetch: fetchFn });
  const before = { ...as.count };
  const n = as.assertions.length;
  const tokens = await Promise.all(Array.from({ length: 20 }, () => c.getToken()));
  assert.equal(new Set(tokens).size, 1);
  assert.equal(as.count.token - before.token, 1, "single flight");
  assert.equal(as.assertions.length - n, 1);
  const body = new URLSearchParams(fetchFn.bodies[0]);
  assert.deepEqual([...body.keys()], ["grant_type", "client_id", "client_assertion_type", "client_assertion"]);
  assert.equal(body.get("client_assertion_type"), "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  const jwt = body.get("client_assertion");
  assert.deepEqual(header(jwt), { alg: "ES256", kid: "key-1", typ: "client-authentication+jwt" });
  const c1 = claims(jwt);
  assert.deepEqual([c1.iss, c1.sub, c1.aud, c1.exp - c1.iat], ["svc", "svc", as.issuer, 60]);
  assert.ok(Math.abs(c1.iat - Date.now() / 1000) < 5);
  // The key is in no property, message or JSON of the client.
  for (const text of [JSON.stringify(c), Object.keys(c).join(), String(c)]) assert.ok(!text.includes(key.privateJwk.d));
  // Imported once per client: later requests sign with the same CryptoKey.
  const subtle = globalThis.crypto.subtle;
  const importKey = subtle.importKey;
  let imports = 0;
  subtle.importKey = function (...a) {
    imports++;
    return importKey.apply(this, a);
  };
  try {
    for (let i = 0; i < 3; i++) {
      c.invalidate();
      await c.getToken();
    }
    const fresh = client({ fetch: fetchFn });
    await fresh.getToken();
    fresh.free();
  } finally {
    subtle.importKey = importKey;
  }
  assert.equal(imports, 1, "three more requests of the same client import nothing; a new client imports its key once");
  assert.equal(new Set(fetchFn.bodies.map(assertionOf).map((j) => claims(j).jti)).size, fetchFn.bodies.length, "a new jti every request");
  c.free();
});

test("a non-extractable CryptoKey; every attempt (a 503, then the retry) gets its own assertion; the server refuses an expired one and a reused jti", async () => {
  const fetchFn = recording(1);
  const c = client({ clientKey: key.privateKey, fetch: fetchFn });
  await c.getToken();
  assert.equal(fetchFn.bodies.length, 2);
  const [unsent, used] = fetchFn.bodies.map(assertionOf);
  assert.notEqual(claims(unsent).jti, claims(used).jti, "a new jti per attempt");
  assert.equal(header(used).kid, undefined, "a CryptoKey has no kid to give");
  c.free();
  const post = (body) => fetch(as.tokenUrl, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body }).then(async (r) => [r.status, (await r.json()).error]);
  // The used assertion again: its jti was spent.
  const refusals = as.refusals.length;
  assert.deepEqual(await post(fetchFn.bodies[1]), [401, "invalid_client"]);
  assert.match(as.refusals.at(-1), /only be used once/);
  // The never-used one, two minutes later on the server's clock: expired.
  const realNow = Date.now;
  Date.now = () => realNow() + 120_000;
  try {
    assert.deepEqual(await post(fetchFn.bodies[0]), [401, "invalid_client"]);
  } finally {
    Date.now = realNow;
  }
  assert.match(as.refusals.at(-1), /exp|expired|"exp" claim/i);
  assert.equal(as.refusals.length - refusals, 2);
  // And the same unsent assertion now is taken: what refused it was its age, nothing else.
  assert.equal((await post(fetchFn.bodies[0]))[0], 200);
});

test("a key the server does not know: OAUTH_ERROR invalid_client, and the key is in no error", async () => {
  const c = client({ clientKey: other.privateJwk, maxRetries: 0 });
  const e = await c.getToken().catch((x) => x);
  assert.ok(e instanceof TokenError);
  assert.deepEqual([e.code, e.status, e.error], ["OAUTH_ERROR", 401, "invalid_client"]);
  assert.ok(!JSON.stringify({ m: e.message, s: e.stack, c: String(e.cause) }).includes(other.privateJwk.d));
  c.free();
});

test("configuration is checked by name: a secret too, no key, no audience, a public key, a key WebCrypto cannot import", async () => {
  const bad = (o, field) => assert.throws(() => client(o), (e) => e instanceof TokenError && e.code === "INVALID_CONFIG" && e.message.startsWith(field), field);
  bad({ clientSecret: "s" }, "clientSecret");
  bad({ clientKey: undefined }, "clientKey");
  bad({ issuer: undefined, tokenUrl: as.tokenUrl }, "assertionAudience");
  bad({ clientKey: key.publicJwk }, "clientKey");
  const pub = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"])).publicKey;
  bad({ clientKey: pub }, "clientKey");
  // A JWK whose members are not a key: the core cannot tell, WebCrypto can, at first use.
  const c = client({ clientKey: { ...key.privateJwk, d: "AAAA" }, maxRetries: 0 });
  const e = await c.getToken().catch((x) => x);
  assert.equal(e.code, "INVALID_CONFIG");
  assert.match(e.message, /^clientKey: /);
  c.free();
  // The page's entry has no private keys at all.
  const page = await import("../../pkg/browser.js");
  assert.throws(() => new page.TokenClient({ issuer: as.issuer, clientId: "svc", clientAuth: "private_key_jwt", clientKey: key.privateJwk }), (e) => e.code === "INVALID_CONFIG" && /servers/.test(e.message));
});

test("the package in workerd: a module-scoped client with a private JWK, 20 concurrent requests, one token", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tokenkit-keyauth-"));
  try {
    cpSync(new URL("../../pkg/", import.meta.url).pathname, join(dir, "pkg"), { recursive: true });
    writeFileSync(
      join(dir, "worker.js"),
      `import { TokenClient } from "./pkg/workerd.js";
let client;
export default {
  async fetch(req, env, ctx) {
    client ??= new TokenClient({ issuer: env.ISSUER, clientId: "svc", clientAuth: "private_key_jwt", clientKey: JSON.parse(env.CLIENT_KEY) });
    const t = await client.getToken(ctx);
    return Response.json({ ok: typeof t === "string" && t.length > 0, token: t });
  },
};
`,
    );
    const mf = new Miniflare(workerdOptions(join(dir, "worker.js"), dir, { ISSUER: as.issuer, CLIENT_KEY: JSON.stringify(key.privateJwk) }));
    try {
      await mf.ready;
      const before = { ...as.count };
      const bodies = await Promise.all(Array.from({ length: 20 }, () => mf.dispatchFetch("http://x/").then((r) => r.json())));
      assert.ok(bodies.every((b) => b.ok), JSON.stringify(bodies[0]));
      assert.equal(new Set(bodies.map((b) => b.token)).size, 1);
      assert.equal(as.count.token - before.token, 1);
      const a = as.assertions.at(-1);
      assert.deepEqual([a.header.typ, a.claims.aud, a.claims.iss], ["client-authentication+jwt", as.issuer, "svc"]);
    } finally {
      await mf.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const worker = new URL("../../worker/", import.meta.url).pathname;
const APP = "https://app.example.com";

test("the broker with no shared secret: CLIENT_AUTH=private_key_jwt and CLIENT_KEY, alone and with the TOKEN_CACHE object; /healthz and errors never show the key", async () => {
  const base = { ISSUER: as.issuer, CLIENT_ID: "svc", CLIENT_AUTH: "private_key_jwt", CLIENT_KEY: JSON.stringify(key.privateJwk), ALLOWED_ORIGINS: APP, RATE_LIMIT: "0" };
  for (const [label, durableObjects] of [["alone", {}], ["with TOKEN_CACHE", { TOKEN_CACHE: "TokenCache" }]]) {
    const mf = new Miniflare({ ...workerdOptions(`${worker}index.js`, worker, base), durableObjects });
    try {
      await mf.ready;
      const before = { ...as.count };
      const answers = await Promise.all(Array.from({ length: 30 }, () => mf.dispatchFetch("http://broker/token", { method: "POST", headers: { origin: APP } })));
      const bodies = await Promise.all(answers.map((r) => r.json()));
      assert.deepEqual([...new Set(answers.map((r) => r.status))], [200], `${label}: ${JSON.stringify(bodies[0])}`);
      assert.equal(new Set(bodies.map((b) => b.access_token)).size, 1, label);
      assert.equal(as.count.token - before.token, 1, `${label}: one token request`);
      const health = await (await mf.dispatchFetch("http://broker/healthz")).text();
      assert.ok(!health.includes(key.privateJwk.d) && !health.includes("CLIENT_KEY"), health);
    } finally {
      await mf.dispose();
    }
  }
  // Misconfigured: 500 naming the variable, never its value.
  for (const [env, name] of [[{ CLIENT_KEY: "{not json" }, "CLIENT_KEY"], [{ CLIENT_KEY: JSON.stringify(key.publicJwk) }, "CLIENT_KEY"], [{ CLIENT_KEY: undefined }, "CLIENT_KEY"], [{ CLIENT_KEY: JSON.stringify({ ...key.privateJwk, d: "AAAA" }) }, "CLIENT_KEY: could not be imported"]]) {
    const mf = new Miniflare(workerdOptions(`${worker}index.js`, worker, Object.fromEntries(Object.entries({ ...base, ...env }).filter(([, v]) => v !== undefined))));
    try {
      await mf.ready;
      const r = await mf.dispatchFetch("http://broker/token", { method: "POST", headers: { origin: APP } });
      const text = await r.text();
      assert.equal(r.status, 500, text);
      assert.match(text, new RegExp(name));
      assert.ok(!text.includes(key.privateJwk.x), text);
    } finally {
      await mf.dispose();
    }
  }
});
