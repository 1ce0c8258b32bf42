// Configuration by discovery (RFC 8414, OpenID Connect Discovery) in Node: clients
// configured with `issuer` alone against oidc-provider's own metadata, and against hostile
// metadata servers of the tests' own (another issuer, HTML, 50 MB, a redirect, insecure
// endpoints, wrong types).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { TokenClient } from "../../pkg/node.js";
import { TokenClient as DpopClient } from "../../pkg/dpop/node.js";
import { startDpopPair } from "../fixtures/dpop.mjs";
import { Miniflare } from "miniflare";
import { workerdOptions } from "../../worker/local.mjs";

let as, rs, stop;
before(async () => ({ as, rs, stop } = await startDpopPair()));
after(() => stop?.());

test("issuer alone: 100 concurrent first calls, one discovery (oidc-provider's RFC 8414 document), one token from the discovered endpoint", async () => {
  const c = new TokenClient({ issuer: as.issuer, clientId: "plain", clientSecret: "plain-secret", allowedOrigins: [rs.origin] });
  const seen = as.metadata.length;
  const issued = as.count.issued;
  const tokens = await Promise.all(Array.from({ length: 100 }, () => c.getToken()));
  assert.equal(new Set(tokens).size, 1);
  assert.equal(as.count.issued - issued, 1);
  assert.deepEqual(as.metadata.slice(seen), ["/.well-known/oauth-authorization-server"]);
  // Later calls and a new token ask no metadata again.
  c.invalidate();
  await c.getToken();
  assert.equal(as.metadata.length - seen, 1);
  c.dispose();
});

test("issuer alone with DPoP: the proofs' htu is the discovered token endpoint; the metadata GET carries no proof", async () => {
  const c = new DpopClient({ issuer: as.issuer, clientId: "svc", clientSecret: "svc-secret", allowedOrigins: [rs.origin], dpop: true });
  const proofs = as.proofs.length;
  const res = await c.fetch(`${rs.origin}/discovered`);
  assert.equal(res.status, 200, JSON.stringify(rs.log.at(-1)));
  assert.equal(as.proofs.at(-1).htu, as.tokenUrl);
  assert.ok(as.proofs.length - proofs >= 1);
  c.dispose();
});

/** A metadata server: `answer(req, res, origin)` for every request; counts requests per path. */
async function metadataServer(answer) {
  const hits = [];
  const server = createServer((req, res) => {
    hits.push(req.url);
    answer(req, res, origin);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    hits,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(r);
      }),
  };
}

const json = (res, status, body) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));

test("hostile metadata: each is INVALID_METADATA, and nothing is sent to any endpoint it names", async () => {
  const rows = [
    ["another issuer's document", (res, o) => json(res, 200, { issuer: "https://evil.example", token_endpoint: `${o}/token` }), /issuer is not the configured one/],
    ["its issuer with another path", (res, o) => json(res, 200, { issuer: `${o}/other`, token_endpoint: `${o}/token` }), /issuer is not the configured one/],
    ["HTML", (res) => res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><p>hello"), /not JSON/],
    ["a 50 MB body", (res) => {
      res.writeHead(200, { "content-type": "application/json" });
      const chunk = Buffer.alloc(1 << 20, 32);
      let n = 0;
      const more = () => {
        while (n < 50 && res.write(chunk)) n++;
        if (n < 50) res.once("drain", more);
        else res.end();
      };
      res.on("close", () => (n = 50));
      more();
    }, /larger than 64 KB/],
    ["a redirect", (res, o) => res.writeHead(302, { location: `${o}/real` }).end(), /redirect/],
    ["a plain-http token endpoint off loopback", (res, o) => json(res, 200, { issuer: o, token_endpoint: "http://as.example/token" }), /endpoint it names is not an https URL/],
    ["a token endpoint of the wrong type", (res, o) => json(res, 200, { issuer: o, token_endpoint: ["x"] }), /endpoint it names is not a string/],
    ["no document at either location", (res) => json(res, 404, {}), /either well-known location/],
  ];
  for (const [what, answer, words] of rows) {
    const srv = await metadataServer((req, res, o) => (req.url.startsWith("/.well-known/") ? answer(res, o) : json(res, 200, { access_token: "stolen", expires_in: 60 })));
    const c = new TokenClient({ issuer: srv.origin, clientId: "c", clientSecret: "METADATA-SECRET", allowedOrigins: ["https://api.example.com"], maxRetries: 0 });
    const e = await c.getToken().then(() => null, (e) => e);
    assert.equal(e?.code, "INVALID_METADATA", `${what}: ${e?.message}`);
    assert.match(e.message, words, what);
    assert.ok(!e.message.includes("evil") && !e.message.includes("METADATA-SECRET"), what);
    assert.ok(srv.hits.every((h) => h.startsWith("/.well-known/")), `${what}: ${srv.hits}`);
    c.dispose();
    await srv.close();
  }
});

test("a failing metadata location is tried again with backoff, then works", async () => {
  let fails = 2;
  const srv = await metadataServer((req, res, o) => {
    if (req.url === "/.well-known/oauth-authorization-server") return fails-- > 0 ? json(res, 503, {}) : json(res, 200, { issuer: o, token_endpoint: `${o}/token` });
    json(res, 200, { access_token: "from-discovered", token_type: "Bearer", expires_in: 60 });
  });
  const c = new TokenClient({ issuer: srv.origin, clientId: "c", clientSecret: "s", allowedOrigins: ["https://api.example.com"] });
  assert.equal(await c.getToken(), "from-discovered");
  assert.deepEqual(srv.hits, ["/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server", "/token"]);
  c.dispose();
  await srv.close();
});

test("a server with only OpenID Connect's location: RFC 8414's answers 404, then the issuer's path + /.well-known/openid-configuration", async () => {
  const srv = await metadataServer((req, res, o) => {
    if (req.url === "/realm/.well-known/openid-configuration") return json(res, 200, { issuer: `${o}/realm`, token_endpoint: `${o}/realm/token` });
    if (req.url === "/realm/token" && req.method === "POST") return json(res, 200, { access_token: "oidc-only", token_type: "Bearer", expires_in: 60 });
    json(res, 404, {});
  });
  const c = new TokenClient({ issuer: `${srv.origin}/realm`, clientId: "c", clientSecret: "s", allowedOrigins: ["https://api.example.com"] });
  assert.equal(await c.getToken(), "oidc-only");
  assert.deepEqual(srv.hits, ["/.well-known/oauth-authorization-server/realm", "/realm/.well-known/openid-configuration", "/realm/token"]);
  c.dispose();
  await srv.close();
});

test("the broker with ISSUER alone in workerd: 50 concurrent /token on a cold isolate, one metadata fetch, one token", async () => {
  const worker = new URL("../../worker/", import.meta.url).pathname;
  const bindings = { ISSUER: as.issuer, CLIENT_ID: "plain", CLIENT_SECRET: "plain-secret", ALLOWED_ORIGINS: "https://app.example.com", RATE_LIMIT: "0" };
  const mf = new Miniflare(workerdOptions(`${worker}index.js`, worker, bindings));
  try {
    await mf.ready;
    const seen = as.metadata.length;
    const issued = as.count.issued;
    const answers = await Promise.all(Array.from({ length: 50 }, () => mf.dispatchFetch("http://broker/token", { method: "POST", headers: { origin: "https://app.example.com" } }).then((r) => r.json())));
    assert.equal(new Set(answers.map((a) => a.access_token)).size, 1, JSON.stringify(answers[0]));
    assert.equal(as.count.issued - issued, 1);
    assert.deepEqual(as.metadata.slice(seen), ["/.well-known/oauth-authorization-server"]);
  } finally {
    await mf.dispose();
  }
});

test("challenge(): step-up and scope challenges typed for the app; client.fetch() returns them as they are (the token was not refused)", async () => {
  const { challenge } = await import("../../pkg/node.js");
  const { challenge: signinChallenge } = await import("../../pkg/signin/node.js");
  const stepUp = 'Bearer error="insufficient_user_authentication", error_description="More recent authentication is required", max_age="300", acr_values="urn:mfa"';
  const scope = 'Bearer error="insufficient_scope", scope="write", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"';
  assert.deepEqual(challenge(new Response(null, { status: 401, headers: { "www-authenticate": stepUp } })), {
    scheme: "Bearer", error: "insufficient_user_authentication", errorDescription: "More recent authentication is required", scope: undefined, acrValues: "urn:mfa", maxAge: 300, resourceMetadata: undefined, realm: undefined,
  });
  assert.equal(signinChallenge(new Response(null, { status: 403, headers: { "www-authenticate": scope } })).resourceMetadata, "https://api.example.com/.well-known/oauth-protected-resource");
  assert.equal(TokenClient.challenge(new Response(null, { status: 403, headers: { "www-authenticate": scope } })).scope, "write");
  assert.equal(challenge(new Response(null, { status: 401 })), null, "no header");
  assert.equal(challenge({}), null, "not a response");
  // The API answers each with its challenge: one call each, the same token throughout.
  let api = 0, tokens = 0;
  const fetch = async (url) => {
    if (String(url).endsWith("/token")) return (tokens++, new Response(JSON.stringify({ access_token: `t${tokens}`, token_type: "Bearer", expires_in: 300 }), { status: 200 }));
    api++;
    return String(url).endsWith("/mfa") ? new Response("{}", { status: 401, headers: { "www-authenticate": stepUp } }) : new Response("{}", { status: 403, headers: { "www-authenticate": scope } });
  };
  const c = new TokenClient({ tokenUrl: "https://auth.example.com/token", clientId: "c", clientSecret: "s", allowedOrigins: ["https://api.example.com"], fetch });
  const r1 = await c.fetch("https://api.example.com/mfa");
  const r2 = await c.fetch("https://api.example.com/admin");
  assert.deepEqual([r1.status, r2.status, api, tokens], [401, 403, 2, 1]);
  assert.equal(challenge(r1).maxAge, 300);
  assert.equal(await c.getToken(), "t1", "kept");
  c.dispose();
});

test("step-up: createAuthorizationUrl({ acrValues, maxAge, scope }) asks for what a challenge named (RFC 9470 §4)", async () => {
  const { TokenClient: SigninClient, challenge } = await import("../../pkg/signin/node.js");
  const c = new SigninClient({ grant: "authorization_code", tokenUrl: "https://auth.example.com/token", authorizeUrl: "https://auth.example.com/authorize", redirectUri: "https://app.example.com/cb", clientId: "web", clientSecret: "s", scope: "openid offline_access", allowedOrigins: ["https://api.example.com"] });
  const res = new Response(null, { status: 401, headers: { "www-authenticate": 'Bearer error="insufficient_user_authentication", acr_values="urn:mfa", max_age=60' } });
  const { acrValues, maxAge } = challenge(res);
  const { url } = await c.createAuthorizationUrl({ acrValues, maxAge, scope: ["openid", "admin"] });
  const q = new URL(url).searchParams;
  assert.deepEqual([q.get("acr_values"), q.get("max_age"), q.get("scope")], ["urn:mfa", "60", "openid admin"]);
  const plain = new URL((await c.createAuthorizationUrl()).url).searchParams;
  assert.deepEqual([plain.get("acr_values"), plain.get("max_age"), plain.get("scope")], [null, null, "openid offline_access"]);
  for (const bad of [{ maxAge: -1 }, { maxAge: 1.5 }, { maxAge: "60" }, { acrValues: "" }, { extraParams: { max_age: "0" } }]) {
    await assert.rejects(c.createAuthorizationUrl(bad), (e) => e.code === "INVALID_CONFIG", JSON.stringify(bad));
  }
  c.dispose();
});

test("resource alone (RFC 9728): the API's metadata names oidc-provider, whose metadata gives the token endpoint; the token request carries the resource", async () => {
  const api = await metadataServer((req, res, o) => {
    if (req.url === "/.well-known/oauth-protected-resource/v1") return json(res, 200, { resource: `${o}/v1`, authorization_servers: [as.issuer, "https://other.example"] });
    json(res, 404, {});
  });
  const seen = as.metadata.length;
  // A key's assertion names its audience: a key-authenticated client may follow the metadata.
  const c = new TokenClient({ resource: `${api.origin}/v1`, clientId: "keyed", clientAuth: "private_key_jwt", clientKey: as.keyedJwk, allowedOrigins: [api.origin] });
  const info = await Promise.all(Array.from({ length: 20 }, () => c.getTokenInfo()));
  assert.equal(new Set(info.map((i) => i.accessToken)).size, 1);
  assert.deepEqual(api.hits, ["/.well-known/oauth-protected-resource/v1"], "one fetch of the resource's metadata");
  assert.deepEqual(as.metadata.slice(seen), ["/.well-known/oauth-authorization-server"], "then one of its authorization server's");
  const record = await as.find(info[0].accessToken);
  assert.equal(record.aud, `${api.origin}/v1`, "a token for that resource (RFC 8707)");
  c.dispose();
  // Metadata for another resource: INVALID_METADATA, and nothing asked of the server it names.
  const wrong = await metadataServer((req, res) => json(res, 200, { resource: "https://evil.example/v1", authorization_servers: [as.issuer] }));
  const before = as.metadata.length;
  const d = new TokenClient({ resource: `${wrong.origin}/v1`, clientId: "keyed", clientAuth: "private_key_jwt", clientKey: as.keyedJwk, allowedOrigins: [wrong.origin] });
  const e = await d.getToken().then(() => null, (e) => e);
  assert.equal(e?.code, "INVALID_METADATA", e?.message);
  assert.match(e.message, /another resource/);
  assert.equal(as.metadata.length, before);
  d.dispose();
  await wrong.close();
  await api.close();
});

test("a client secret never goes where a resource's metadata points: resource alone with a secret is INVALID_CONFIG (client and broker); with the issuer configured, only that server is asked", async () => {
  // The API (or anyone who can write a path on it) names an authorization server of its own.
  const evil = await metadataServer((req, res) => json(res, 200, {}));
  const api = await metadataServer((req, res, o) => json(res, 200, { resource: `${o}/v1`, authorization_servers: [evil.origin] }));
  for (const clientAuth of [undefined, "client_secret_post"]) {
    assert.throws(
      () => new TokenClient({ resource: `${api.origin}/v1`, clientId: "plain", clientSecret: "plain-secret", clientAuth, allowedOrigins: [api.origin] }),
      (e) => e.code === "INVALID_CONFIG" && /^issuer: /.test(e.message) && !e.message.includes("plain-secret"),
    );
  }
  // Naming the issuer: the secret goes there, the token is for the resource (RFC 8707).
  const c = new TokenClient({ issuer: as.issuer, resource: `${api.origin}/v1`, clientId: "plain", clientSecret: "plain-secret", allowedOrigins: [api.origin] });
  const record = await as.find((await c.getTokenInfo()).accessToken);
  assert.equal(record.aud, `${api.origin}/v1`);
  c.dispose();
  // The broker: RESOURCE alone with CLIENT_SECRET is a 500 naming ISSUER, and nothing is asked.
  const mf = new Miniflare(workerdOptions(new URL("../../worker/index.js", import.meta.url).pathname, new URL("../../worker/", import.meta.url).pathname, { RESOURCE: `${api.origin}/v1`, CLIENT_ID: "plain", CLIENT_SECRET: "plain-secret", RATE_LIMIT: "0" }));
  try {
    const r = await mf.dispatchFetch("http://broker/token", { method: "POST" });
    const body = await r.json();
    assert.deepEqual([r.status, body.error], [500, "broker_misconfigured"]);
    assert.match(body.message, /^ISSUER: /);
    assert.ok(!JSON.stringify(body).includes("plain-secret"));
  } finally {
    await mf.dispose();
  }
  assert.deepEqual([api.hits, evil.hits], [[], []], "neither the API's metadata nor its server was asked");
  await api.close();
  await evil.close();
});

test("the broker's /login takes a step-up (acr_values, max_age) into the authorization request; a bad one is 400", async () => {
  const { bffOptions, freePort } = await import("../fixtures/bff.mjs");
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const port = await freePort();
  const store = mkdtempSync(join(tmpdir(), "tokenkit-stepup-"));
  const options = bffOptions({ port, store, issuer: as.issuer, appOrigin: "https://app.example.com", sessionSecret: "step-up-session-key-0123456789abcdefghijklm" });
  let mf = new Miniflare(options);
  try {
    await mf.ready;
    const login = (q) => mf.dispatchFetch(`http://127.0.0.1:${port}/login?return_to=${encodeURIComponent("https://app.example.com/")}${q}`, { redirect: "manual" });
    const r = await login("&acr_values=urn%3Amfa&max_age=60");
    assert.equal(r.status, 302, await r.text());
    const q = new URL(r.headers.get("location")).searchParams;
    assert.deepEqual([q.get("acr_values"), q.get("max_age")], ["urn:mfa", "60"]);
    const plain = new URL((await login("")).headers.get("location")).searchParams;
    assert.deepEqual([plain.get("acr_values"), plain.get("max_age")], [null, null]);
    assert.equal((await login("&max_age=soon")).status, 400);
    // Any site can send a browser to /login: a query's scope never replaces SIGNIN_SCOPE and
    // adds nothing STEP_UP_SCOPES does not allow (nothing by default).
    const widen = await login("&scope=admin");
    assert.deepEqual([widen.status, (await widen.json()).error], [400, "invalid_request"]);
    const narrowed = new URL((await login("&scope=openid")).headers.get("location")).searchParams;
    assert.equal(narrowed.get("scope"), "openid offline_access", "the configured scope is always asked for");
    await mf.dispose();
    mf = new Miniflare({ ...options, bindings: { ...options.bindings, STEP_UP_SCOPES: "admin" } });
    await mf.ready;
    const stepped = new URL((await login("&scope=admin")).headers.get("location")).searchParams;
    assert.equal(stepped.get("scope"), "openid offline_access admin");
    assert.equal((await login("&scope=root")).status, 400);
  } finally {
    await mf.dispose();
    rmSync(store, { recursive: true, force: true });
  }
});

test("resource alone with the resource_metadata URL an API's 401 named (RFC 9728 §5.1): taken on the resource's origin only", async () => {
  const { challenge } = await import("../../pkg/node.js");
  const api = await metadataServer((req, res, o) => {
    if (req.url === "/v1/data") return res.writeHead(401, { "www-authenticate": `Bearer resource_metadata="${o}/meta/v1.json"` }).end();
    if (req.url === "/meta/v1.json") return json(res, 200, { resource: `${o}/v1`, authorization_servers: [as.issuer] });
    json(res, 404, {});
  });
  const named = challenge(await fetch(`${api.origin}/v1/data`)).resourceMetadata;
  assert.equal(named, `${api.origin}/meta/v1.json`);
  const c = new TokenClient({ resource: `${api.origin}/v1`, resourceMetadata: named, clientId: "keyed", clientAuth: "private_key_jwt", clientKey: as.keyedJwk, allowedOrigins: [api.origin] });
  assert.ok(await c.getToken());
  assert.deepEqual(api.hits, ["/v1/data", "/meta/v1.json"]);
  c.dispose();
  assert.throws(() => new TokenClient({ resource: `${api.origin}/v1`, resourceMetadata: "https://evil.example/prm", clientId: "keyed", clientAuth: "private_key_jwt", clientKey: as.keyedJwk }), (e) => e.code === "INVALID_CONFIG" && /resourceMetadata/.test(e.message));
  await api.close();
});
