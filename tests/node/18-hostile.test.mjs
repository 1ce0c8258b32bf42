// A hostile token server: each case answers a token request with one misbehaviour. For
// every case: the exact TokenError code (or the token, where the answer is a quirk a client
// must accept), no retry storm (requests counted), the same client working once the server
// behaves, no unhandled rejection, no more than a short sanitised excerpt of the body in any
// message, and a cached token still served while its refresh meets the misbehaviour.
// Bodies too big or endless are cut at 64 KB: the server counts the bytes it got out.
// Everything on 127.0.0.1; cases run concurrently (each its own path, client and counters).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { TokenClient } from "./helpers.mjs";

const MARK = "LEAK-MARKER-7f3a"; // placed past the first 300 characters of bodies
const pad = (s) => `${"x".repeat(320)}${MARK}${s}`;
const good = (token, ttl = 60) => JSON.stringify({ access_token: token, token_type: "Bearer", expires_in: ttl });

const unhandled = [];
const onUnhandled = (e) => unhandled.push(e);
process.on("unhandledRejection", onUnhandled);

/** Writes a JSON answer. */
const send = (res, status, body, headers = {}) => res.writeHead(status, { "content-type": "application/json", ...headers }).end(body);

/** Keeps writing `chunk` until the client hangs up; counts bytes written. */
function stream(res, state, chunk, { status = 200, headers = {}, everyMs = 0 } = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  const write = () => {
    if (res.destroyed || res.writableEnded) return;
    if (state.sent > 60 * 1024 * 1024) return res.end();
    state.sent += chunk.length;
    const more = res.write(chunk);
    if (everyMs) setTimeout(write, everyMs);
    else if (more) setImmediate(write);
    else res.once("drain", write);
  };
  res.on("close", () => (state.closed = true));
  write();
}

// [name, answer(req, res, state), expected: an error code, or "token" (a quirk to accept:
// the token must be the one named in TOKENS), max requests]
const BIG = Buffer.alloc(1024 * 1024, "a").toString();
const CASES = [
  ["html-200", (q, r) => r.writeHead(200, { "content-type": "text/html" }).end(pad("<html>login</html>")), "INVALID_RESPONSE", 1],
  ["empty-200", (q, r) => send(r, 200, ""), "INVALID_RESPONSE", 1],
  ["truncated-json", (q, r) => send(r, 200, '{"access_token":"abc","expires_in":6'), "INVALID_RESPONSE", 1],
  ["json-array", (q, r) => send(r, 200, "[1,2,3]"), "INVALID_RESPONSE", 1],
  ["json-null", (q, r) => send(r, 200, "null"), "INVALID_RESPONSE", 1],
  ["json-string", (q, r) => send(r, 200, JSON.stringify(pad("tok"))), "INVALID_RESPONSE", 1],
  ["token-missing", (q, r) => send(r, 200, JSON.stringify({ expires_in: 60, note: pad("") })), "INVALID_RESPONSE", 1],
  ["token-empty", (q, r) => send(r, 200, JSON.stringify({ access_token: "", expires_in: 60 })), "INVALID_RESPONSE", 1],
  ["token-number", (q, r) => send(r, 200, JSON.stringify({ access_token: 12345, expires_in: 60 })), "INVALID_RESPONSE", 1],
  ["token-1mb", (q, r) => send(r, 200, JSON.stringify({ access_token: BIG, expires_in: 60 })), "INVALID_RESPONSE", 1],
  ["token-crlf", (q, r) => send(r, 200, JSON.stringify({ access_token: "abc\r\nX-Evil: 1", expires_in: 60 })), "INVALID_RESPONSE", 1],
  ["token-non-ascii", (q, r) => send(r, 200, JSON.stringify({ access_token: "tökén", expires_in: 60 })), "INVALID_RESPONSE", 1],
  ["token-space", (q, r) => send(r, 200, JSON.stringify({ access_token: "a b", expires_in: 60 })), "INVALID_RESPONSE", 1],
  ["expires-negative", (q, r) => send(r, 200, JSON.stringify({ access_token: "t", expires_in: -5 })), "INVALID_RESPONSE", 1],
  ["expires-string-garbage", (q, r) => send(r, 200, JSON.stringify({ access_token: "t", expires_in: "soon" })), "INVALID_RESPONSE", 1],
  ["expires-string-number", (q, r) => send(r, 200, JSON.stringify({ access_token: "tok-str", expires_in: "3600" })), "token", 1],
  ["expires-NaN", (q, r) => send(r, 200, '{"access_token":"t","expires_in":NaN}'), "INVALID_RESPONSE", 1],
  ["expires-1e308", (q, r) => send(r, 200, '{"access_token":"tok-big","expires_in":1e308}'), "token", 1],
  ["expires-missing", (q, r) => send(r, 200, JSON.stringify({ access_token: "tok-noexp" })), "token", 1],
  ["expires-zero", (q, r) => send(r, 200, JSON.stringify({ access_token: "tok-zero", expires_in: 0 })), "token", 1],
  ["expires-bool", (q, r) => send(r, 200, JSON.stringify({ access_token: "t", expires_in: true })), "INVALID_RESPONSE", 1],
  ["token-type-mac", (q, r) => send(r, 200, JSON.stringify({ access_token: "t", token_type: "mac", expires_in: 60 })), "INVALID_RESPONSE", 1],
  ["token-type-number", (q, r) => send(r, 200, JSON.stringify({ access_token: "t", token_type: 7, expires_in: 60 })), "INVALID_RESPONSE", 1],
  ["duplicate-keys", (q, r) => send(r, 200, '{"access_token":"tok-first","access_token":"tok-last","expires_in":60}'), "token", 1],
  ["bom", (q, r) => send(r, 200, `\uFEFF${good("tok-bom")}`), "token", 1],
  ["nested-deep", (q, r) => send(r, 200, `{"x":${"[".repeat(5000)}${"]".repeat(5000)},"access_token":"tok-deep","expires_in":60}`), "token", 1],
  ["error-in-200", (q, r) => send(r, 200, JSON.stringify({ error: "invalid_grant", error_description: pad("") })), "OAUTH_ERROR", 1],
  ["204", (q, r) => r.writeHead(204).end(), "INVALID_RESPONSE", 1],
  ["301-elsewhere", (q, r, s) => r.writeHead(301, { location: s.evil }).end(), "INVALID_RESPONSE", 1],
  ["302-elsewhere", (q, r, s) => r.writeHead(302, { location: s.evil }).end(), "INVALID_RESPONSE", 1],
  ["307-elsewhere", (q, r, s) => r.writeHead(307, { location: s.evil }).end(), "INVALID_RESPONSE", 1],
  ["308-same-origin", (q, r) => r.writeHead(308, { location: "/elsewhere" }).end(), "INVALID_RESPONSE", 1],
  ["401-rfc", (q, r) => send(r, 401, JSON.stringify({ error: "invalid_client", error_description: pad("") })), "OAUTH_ERROR", 1],
  ["401-bare", (q, r) => r.writeHead(401, { "content-type": "text/plain" }).end(pad("no")), "HTTP_ERROR", 1],
  ["403-rfc", (q, r) => send(r, 403, JSON.stringify({ error: "unauthorized_client" })), "OAUTH_ERROR", 1],
  ["403-bare", (q, r) => r.writeHead(403).end(), "HTTP_ERROR", 1],
  ["400-long-description", (q, r) => send(r, 400, JSON.stringify({ error: "invalid_request", error_description: pad("y".repeat(5000)) })), "OAUTH_ERROR", 1],
  ["404-html", (q, r) => r.writeHead(404, { "content-type": "text/html" }).end(pad("<h1>404</h1>")), "HTTP_ERROR", 1],
  ["418", (q, r) => r.writeHead(418).end(), "HTTP_ERROR", 1],
  ["429-seconds", (q, r) => send(r, 429, "{}", { "retry-after": "1" }), "RATE_LIMITED", 3],
  ["429-date", (q, r) => send(r, 429, "{}", { "retry-after": new Date(Date.now() + 1000).toUTCString() }), "RATE_LIMITED", 3],
  ["429-garbage", (q, r) => send(r, 429, "{}", { "retry-after": "tomorrow-ish" }), "RATE_LIMITED", 3],
  ["429-absent", (q, r) => send(r, 429, "{}"), "RATE_LIMITED", 3],
  ["500", (q, r) => send(r, 500, pad("boom")), "HTTP_ERROR", 3],
  ["500-rfc-body", (q, r) => send(r, 500, JSON.stringify({ error: "server_error", error_description: pad("") })), "HTTP_ERROR", 3],
  ["502", (q, r) => r.writeHead(502, { "content-type": "text/html" }).end(pad("bad gateway")), "HTTP_ERROR", 3],
  ["503", (q, r) => send(r, 503, "{}", { "retry-after": "1" }), "HTTP_ERROR", 3],
  ["reset-before-answer", (q, r) => r.socket.destroy(), "NETWORK", 3],
  ["reset-mid-body", (q, r) => (r.writeHead(200, { "content-type": "application/json", "content-length": "500" }), r.write('{"access_token":"tok-'), setTimeout(() => r.socket.destroy(), 20)), "NETWORK", 3],
  ["never-ends", (q, r, s) => stream(r, s, " ", { everyMs: 100 }), "TIMEOUT", 3],
  ["slow-first-byte", () => {}, "TIMEOUT", 3],
  ["gzip-garbage", (q, r) => r.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" }).end(Buffer.from("not gzip at all, really")), "NETWORK", 3],
  ["body-50mb", (q, r, s) => stream(r, s, Buffer.alloc(256 * 1024, " "), { headers: { "content-length": String(50 * 1024 * 1024) } }), "INVALID_RESPONSE", 1],
  ["body-endless-chunked", (q, r, s) => stream(r, s, Buffer.alloc(64 * 1024, " ")), "INVALID_RESPONSE", 1],
  ["error-description-100kb", (q, r) => send(r, 400, JSON.stringify({ error: "invalid_request", error_description: "z".repeat(100_000) })), "HTTP_ERROR", 1],
];

/** The token each accepted quirk must yield. */
const TOKENS = {
  "expires-string-number": "tok-str",
  "expires-1e308": "tok-big",
  "expires-missing": "tok-noexp",
  "expires-zero": "tok-zero",
  "duplicate-keys": "tok-last", // JSON.parse: the last one wins, as in every JSON.parse
  bom: "tok-bom",
  "nested-deep": "tok-deep",
};

const state = new Map(CASES.map(([name]) => [name, { count: 0, bad: true, sent: 0, waiters: [], ttl: 60, serial: 0 }]));
let evilHits = 0;
const evil = createServer((req, res) => (evilHits++, res.writeHead(200).end(good("stolen"))));
await new Promise((r) => evil.listen(0, "127.0.0.1", r));
const evilUrl = `http://127.0.0.1:${evil.address().port}/token`;

const server = createServer(async (req, res) => {
  for await (const _ of req);
  const [, , name] = req.url.split("/");
  const s = state.get(name);
  if (!s) return res.writeHead(404).end();
  s.count++;
  for (const w of s.waiters.splice(0)) w();
  if (!s.bad) return send(res, 200, good(`tok-${name}-${++s.serial}`, s.ttl));
  const answer = CASES.find(([n]) => n === name)[1];
  answer(req, res, { ...s, evil: evilUrl, get sent() { return s.sent; }, set sent(v) { s.sent = v; }, set closed(v) { s.closed = v; } });
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${server.address().port}`;
after(async () => {
  process.off("unhandledRejection", onUnhandled);
  server.closeAllConnections();
  evil.closeAllConnections();
  await new Promise((r) => server.close(r));
  await new Promise((r) => evil.close(r));
});

/** Resolves at the case's next token request. */
const nextRequest = (s) => new Promise((r) => s.waiters.push(r));

const client = (name) =>
  new TokenClient({ tokenUrl: `${base}/c/${name}`, clientId: "hostile", clientSecret: "HOSTILE-SECRET-42", timeoutMs: 1000, deadlineMs: 3500, maxRetries: 2 });

async function run([name, , expected, max]) {
  const s = state.get(name);
  const c = client(name);
  const got = await c.getToken().then(
    (t) => ({ token: t }),
    (e) => ({ error: e }),
  );
  if (expected === "token") {
    assert.equal(got.token, TOKENS[name], `${name}: expected a token, got ${got.error?.code}: ${got.error?.message}`);
  } else {
    assert.equal(got.error?.code, expected, `${name}: ${got.error?.code} ${got.error?.message} (token: ${got.token !== undefined})`);
    const shown = [got.error.message, String(got.error), JSON.stringify(got.error), String(got.error.cause ?? "")].join("\n");
    assert.ok(!shown.includes(MARK), `${name}: the body was echoed: ${shown.slice(0, 500)}`);
    assert.ok(!shown.includes("HOSTILE-SECRET-42"), `${name}: the secret in an error`);
    assert.ok(got.error.message.length <= 400, `${name}: a ${got.error.message.length}-character message`);
  }
  assert.ok(s.count >= 1 && s.count <= max, `${name}: ${s.count} requests (at most ${max})`);
  if (name.startsWith("body-") || name === "token-1mb") assert.ok(s.sent < 8 * 1024 * 1024, `${name}: the client read ${s.sent} bytes`);

  // The server behaves again: the same client gets a token (a Retry-After it was given is
  // waited out: until then it answers at once without asking).
  s.bad = false;
  if (expected !== "token") {
    const waiting = (e) => e.code === "RATE_LIMITED" || (e.code === "HTTP_ERROR" && e.status === 503);
    let t;
    for (let i = 0; i < 10 && t === undefined; i++) {
      t = await c.getToken().catch((e) => (waiting(e) ? new Promise((r) => setTimeout(r, 500)).then(() => undefined) : Promise.reject(e)));
    }
    assert.match(t, new RegExp(`^tok-${name}-`), `${name}: the client works again`);
  }
  c.dispose();

  // A cached token meets the misbehaviour at its refresh: still served until it expires.
  s.ttl = 10; // tokenkit's shortest lifetime: a proactive refresh at 5 s
  const cached = client(name);
  const first = await cached.getToken();
  const refreshing = nextRequest(s);
  s.bad = true;
  await refreshing;
  assert.equal(await cached.getToken(), first, `${name}: the valid cached token is served during a failing refresh`);
  cached.dispose();
}

test(`hostile token server: ${CASES.length} misbehaviours, each with its exact outcome`, async () => {
  assert.ok(CASES.length >= 40);
  const results = await Promise.allSettled(CASES.map(run));
  const failed = results.map((r, i) => [CASES[i][0], r]).filter(([, r]) => r.status === "rejected");
  assert.deepEqual(failed.map(([n, r]) => `${n}: ${r.reason?.message}`), []);
  assert.equal(evilHits, 0, "no redirect was followed to another origin");
  assert.deepEqual(unhandled.map(String), [], "no unhandled promise rejection");
});
