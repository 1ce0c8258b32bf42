// Behaviour 1: token requests, exact on the wire, for each dialect and client auth.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { OAuth2Server } from "oauth2-mock-server";
import { TokenClient, startFixture, key, fakeFetch, base } from "./helpers.mjs";

let fx, mock;
before(async () => {
  fx = await startFixture();
  mock = new OAuth2Server();
  await mock.issuer.keys.generate("RS256");
  await mock.start(0, "127.0.0.1");
});
after(async () => {
  await fx.close();
  await mock.stop();
});

const basic = (s) => `Basic ${Buffer.from(s).toString("base64")}`;

test("oauth2 client_secret_basic: form body, RFC 6749 §2.3.1 encoded Basic credentials", async () => {
  const k = key();
  const c = new TokenClient({
    tokenUrl: fx.url(k),
    clientId: "my client",
    clientSecret: "p@ss:w/rd+é",
    scope: ["read", "write"],
    audience: "https://api.example.com",
    resource: "https://api.example.com/v1",
    extraParams: { tenant: "a&b" },
  });
  await c.getToken();
  const [req] = fx.log(k);
  assert.equal(req.method, "POST");
  assert.equal(req.headers["content-type"], "application/x-www-form-urlencoded");
  assert.equal(req.headers.accept, "application/json");
  assert.equal(req.headers.authorization, basic("my+client:p%40ss%3Aw%2Frd%2B%C3%A9"));
  assert.equal(req.headers.cookie, undefined);
  assert.deepEqual(Object.fromEntries(new URLSearchParams(req.body)), {
    grant_type: "client_credentials",
    scope: "read write",
    audience: "https://api.example.com",
    resource: "https://api.example.com/v1",
    tenant: "a&b",
  });
  c.dispose();
});

test("oauth2 client_secret_post and none", async () => {
  const k = key();
  const post = new TokenClient({ tokenUrl: fx.url(k), clientId: "id", clientSecret: "s e", clientAuth: "client_secret_post" });
  await post.getToken();
  assert.equal(fx.log(k)[0].headers.authorization, undefined);
  assert.equal(fx.log(k)[0].body, "grant_type=client_credentials&client_id=id&client_secret=s+e");
  const k2 = key();
  const pub = new TokenClient({ tokenUrl: fx.url(k2), clientId: "pub", clientAuth: "none" });
  await pub.getToken();
  assert.equal(fx.log(k2)[0].body, "grant_type=client_credentials&client_id=pub");
  assert.equal(fx.log(k2)[0].headers.authorization, undefined);
});

test("Sypht preset sends raw id:secret Basic and client_id in the body", async () => {
  const k = key();
  const c = TokenClient.sypht({ clientId: "abc", clientSecret: "x+y/z", tokenUrl: fx.url(k) });
  await c.getToken();
  const [req] = fx.log(k);
  assert.equal(req.headers.authorization, basic("abc:x+y/z"));
  assert.deepEqual(Object.fromEntries(new URLSearchParams(req.body)), {
    grant_type: "client_credentials",
    audience: "https://api.sypht.com",
    client_id: "abc",
  });
  await assert.rejects(c.fetch(fx.api(k)), { code: "ORIGIN_NOT_ALLOWED" }, "default allowed origin is api.sypht.com");
});

test("Symbl preset sends its JSON body and reads accessToken/expiresIn", async () => {
  const k = key();
  const c = TokenClient.symbl({ appId: "app", appSecret: "sec\"ret", tokenUrl: fx.url(k, "dialect=symbl&ttl=120") });
  const info = await c.getTokenInfo();
  const [req] = fx.log(k);
  assert.equal(req.headers["content-type"], "application/json");
  assert.deepEqual(JSON.parse(req.body), { type: "application", appId: "app", appSecret: 'sec"ret' });
  assert.match(info.accessToken, /^tok-/);
  assert.equal(info.tokenType, "Bearer");
  assert.ok(Math.abs(info.expiresAt - (Date.now() + 120_000)) < 2000);
});

test("Symbl's documented status meanings become the messages", async () => {
  for (const [status, re] of [
    [400, /Bad Request/],
    [401, /appId or appSecret is invalid/],
    [404, /does not exist/],
    [500, /try again later/],
  ]) {
    const k = key();
    const c = TokenClient.symbl({ appId: "a", appSecret: "b", tokenUrl: fx.url(k, `seq=${status}`), maxRetries: 0 });
    await assert.rejects(c.getToken(), (e) => e.code === "HTTP_ERROR" && e.status === status && re.test(e.message));
  }
});

test("token requests: redirect manual, cache no-store, credentials omit, POST", async () => {
  const f = fakeFetch(() => ({ access_token: "a" }));
  const c = new TokenClient({ ...base, fetch: f });
  await c.getToken();
  const { url, init } = f.calls[0];
  assert.equal(url, base.tokenUrl);
  assert.equal(init.method, "POST");
  assert.equal(init.redirect, "manual");
  assert.equal(init.cache, "no-store");
  assert.equal(init.credentials, "omit");
  assert.ok(init.signal instanceof AbortSignal);
});

test("a redirect from the token endpoint is never followed", async () => {
  const k = key();
  const c = new TokenClient({ tokenUrl: fx.url(k, "seq=redirect,ok"), clientId: "a", clientSecret: "b" });
  await assert.rejects(c.getToken(), (e) => e.code === "INVALID_RESPONSE" && e.status === 302 && /redirect/.test(e.message));
  assert.equal(fx.count(k), 1);
});

test("standard OAuth2 against oauth2-mock-server (basic and post)", async () => {
  for (const clientAuth of ["client_secret_basic", "client_secret_post"]) {
    const c = new TokenClient({
      tokenUrl: `${mock.issuer.url}/token`,
      clientId: "mock-client",
      clientSecret: "mock-secret",
      clientAuth,
      scope: "read",
      allowedOrigins: [mock.issuer.url],
    });
    const info = await c.getTokenInfo();
    assert.equal(info.tokenType, "Bearer");
    assert.equal(info.accessToken.split(".").length, 3, "a JWT");
    const claims = JSON.parse(Buffer.from(info.accessToken.split(".")[1], "base64url").toString());
    assert.equal(claims.scope, "read");
    assert.ok(Math.abs(info.expiresAt - (Date.now() + 3600_000)) < 5000);
    // The mock's userinfo endpoint accepts the bearer token: a signed call end to end.
    const r = await c.fetch(`${mock.issuer.url}/userinfo`);
    assert.equal(r.status, 200);
    c.dispose();
  }
});
