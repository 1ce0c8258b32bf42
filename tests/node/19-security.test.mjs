// Where a token may go, and where a secret may not, under attack: look-alike origins,
// redirects from an allowed API to another origin, sign() on foreign Requests, every event
// and surface a caller can see, and every answer the broker gives. All on 127.0.0.1; a
// "foreign" origin is another local server that records what reaches it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { inspect } from "node:util";
import { startBroker } from "../../worker/local.mjs";
import { TokenClient, startFixture, key } from "./helpers.mjs";

let fx, foreign, api;
const reached = []; // [url, authorization] of every request the foreign origin got

/** A local server; `handler(req, res)`. */
async function serve(handler) {
  const server = createServer(handler);
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))) };
}

before(async () => {
  fx = await startFixture();
  foreign = await serve((req, res) => (reached.push([req.url, req.headers.authorization]), res.writeHead(200).end("{}")));
  // An allowed API that redirects: to the foreign origin, or to itself.
  api = await serve((req, res) => {
    const to = new URL(req.url, "http://x").searchParams.get("to");
    if (to) return res.writeHead(Number(new URL(req.url, "http://x").searchParams.get("status") ?? 302), { location: to }).end();
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ authorization: req.headers.authorization ?? null }));
  });
});
after(async () => {
  await foreign.close();
  await api.close();
  await fx.close();
});

const client = (k, allowed, extra = {}) =>
  new TokenClient({ tokenUrl: fx.url(k, "ttl=60"), clientId: "id", clientSecret: "SEC-RET-9f2c", allowedOrigins: allowed, ...extra });

test("look-alike origins are refused before anything is sent: suffix, userinfo, port, scheme, case and IDN tricks", async () => {
  const k = key("lookalike");
  const sent = [];
  const recording = (url, init) => (sent.push(String(url)), globalThis.fetch(url, init));
  const c = client(k, ["https://api.example.com"], { fetch: recording });
  for (const url of [
    "https://api.example.com.evil.test/v1",
    "https://api.example.com@evil.test/v1",
    "https://evil.test/https://api.example.com/",
    "https://api.example.com:444/v1",
    "http://api.example.com/v1",
    "wss://api.example.com/v1",
    "https://api.example.co/v1",
    "https://xn--pi-7ka.example.com/v1",
    "https://api.example.com%2eevil.test/v1",
    "https://sub.api.example.com/v1",
  ]) {
    let parsed;
    try {
      parsed = new URL(url);
    } catch {
      continue; // not a URL at all: fetch would refuse it too
    }
    assert.notEqual(parsed.origin, "https://api.example.com", url);
    await assert.rejects(c.fetch(url), (e) => e.code === "ORIGIN_NOT_ALLOWED" || e instanceof TypeError, url);
    await assert.rejects(async () => c.sign(new Request(url)), (e) => e.code === "ORIGIN_NOT_ALLOWED" || e instanceof TypeError, url);
  }
  assert.deepEqual(sent, [], "nothing was sent: not even a token request");
  c.dispose();
});

test("a redirect from an allowed API is never followed with the token: the caller gets it, and may follow it with client.fetch, which signs only for allowed origins", async () => {
  const k = key("redirect");
  const c = client(k, [api.origin]);
  const token = await c.getToken();
  for (const status of [301, 302, 303, 307, 308]) {
    const r = await c.fetch(`${api.origin}/start?status=${status}&to=${encodeURIComponent(`${foreign.origin}/landed`)}`);
    assert.equal(r.status, status);
    assert.equal(r.headers.get("location"), `${foreign.origin}/landed`);
    await r.arrayBuffer();
  }
  assert.equal(reached.length, 0, "the other origin is never reached");
  const same = await c.fetch(`${api.origin}/start?to=${encodeURIComponent(`${api.origin}/here`)}`);
  assert.equal(same.status, 302, "same-origin redirects are not followed either");
  const followed = await c.fetch(same.headers.get("location"));
  assert.deepEqual(await followed.json(), { authorization: `Bearer ${token}` }, "followed by the caller: signed afresh for an allowed origin");
  await assert.rejects(c.fetch(`${foreign.origin}/landed`), { code: "ORIGIN_NOT_ALLOWED" });
  c.dispose();
});

test("no event but the token event, and no surface of the client, carries the token or the secret", async () => {
  const k = key("events");
  const c = client(k, [fx.origin], { maxRetries: 0 });
  const events = [];
  for (const e of ["token", "expired", "error"]) c.on(e, (v) => events.push([e, v]));
  const token = await c.getToken();
  c.invalidate();
  await c.fetch(`${fx.api(k)}?reject=5`).catch(() => {});
  await c.fetch("https://evil.test/").catch((e) => events.push(["rejected", e]));
  await fetch(`${fx.origin}/s/${k}/fault?kind=oauth:invalid_client`, { method: "POST" });
  c.invalidate();
  await c.getToken().catch((e) => events.push(["rejected", e]));
  const info = await c.getTokenInfo().catch((e) => e);
  assert.ok(events.some(([e]) => e === "token") && events.some(([e]) => e === "error"));
  for (const [name, v] of events) {
    const text = [inspect(v, { showHidden: true, depth: 5, getters: true }), JSON.stringify(v) ?? "", String(v)].join("\n");
    assert.ok(!text.includes("SEC-RET-9f2c"), `${name}: the secret`);
    if (name !== "token") assert.ok(!text.includes(token), `${name}: the token`);
  }
  for (const s of [inspect(c, { showHidden: true, depth: 5, getters: true }), JSON.stringify(c) ?? "", String(c), inspect(info)]) {
    assert.ok(!s.includes("SEC-RET-9f2c"));
  }
  c.dispose();
});

test("the broker never answers with CLIENT_SECRET: health, errors, CORS, limits, proxy, misconfiguration", async () => {
  const SECRET = "BROKER-SECRET-5d1e";
  const k = key("brokersweep");
  const brokers = [
    await startBroker({ TOKEN_URL: fx.url(k, "ttl=60&seq=oauth:invalid_client,500,ok"), CLIENT_ID: "c", CLIENT_SECRET: SECRET, ALLOWED_ORIGINS: "https://app.example.com", PROXY_ORIGIN: fx.origin, RATE_LIMIT: "3", BROKER_KEYS: "k1" }),
    await startBroker({ TOKEN_URL: "http://auth.example.com/not-https", CLIENT_ID: "c", CLIENT_SECRET: SECRET }),
    await startBroker({ TOKEN_URL: fx.url(k), CLIENT_ID: "c", CLIENT_SECRET: SECRET, RATE_LIMIT: "lots" }),
  ];
  try {
    const answers = [];
    for (const b of brokers) {
      for (const [path, init] of [
        ["/healthz", {}],
        ["/token", { method: "POST" }],
        ["/token", { method: "POST", headers: { "x-broker-key": "k1" } }],
        ["/token", { method: "POST", headers: { "x-broker-key": "k1" } }],
        ["/token", { method: "POST", headers: { "x-broker-key": "k1", origin: "https://evil.example" } }],
        ["/token", { method: "OPTIONS", headers: { origin: "https://app.example.com", "access-control-request-method": "POST" } }],
        ["/token", { method: "GET" }],
        ["/proxy/..%2fsecret", { headers: { "x-broker-key": "k1", "tokenkit-request": "1" } }],
        [`/proxy/s/${k}/api/x`, { headers: { "x-broker-key": "k1", "tokenkit-request": "1" } }],
        ["/nope", {}],
      ]) {
        const r = await b.fetch(path, init);
        answers.push(`${r.status} ${JSON.stringify([...r.headers])} ${await r.text()}`);
      }
    }
    assert.ok(answers.some((a) => a.startsWith("500")) && answers.some((a) => a.startsWith("429")) && answers.some((a) => a.startsWith("400")));
    for (const a of answers) assert.ok(!a.includes(SECRET), `the secret in: ${a}`);
  } finally {
    for (const b of brokers) await b.dispose();
  }
});
