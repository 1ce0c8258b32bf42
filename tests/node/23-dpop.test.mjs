// DPoP-bound tokens (RFC 9449) from tokenkit/dpop in Node: against oidc-provider with DPoP
// and its nonces required, and an API of the tests' own that checks each proof strictly and
// demands its own nonce (tests/fixtures/dpop.mjs); then hostile token endpoints.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { readFileSync } from "node:fs";
import { TokenClient, TokenError } from "../../pkg/dpop/node.js";
import { TokenClient as PlainClient } from "../../pkg/node.js";
import { startDpopPair } from "../fixtures/dpop.mjs";
import { fakeFetch, base } from "./helpers.mjs";

let as, rs, stop;
before(async () => ({ as, rs, stop } = await startDpopPair()));
after(() => stop?.());

const client = (extra = {}) => new TokenClient({ tokenUrl: as.tokenUrl, clientId: "svc", clientSecret: "svc-secret", allowedOrigins: [rs.origin], dpop: true, ...extra });
const claims = (proof) => JSON.parse(Buffer.from(proof.split(".")[1], "base64url").toString());

test("client credentials: a DPoP-bound token from oidc-provider (its nonce demanded and answered once), used at a strict API that demands its own", async () => {
  const c = client();
  const before = { ...as.count };
  const proofsBefore = as.proofs.length;
  const res = await c.fetch(`${rs.origin}/data?page=2#top`);
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(rs.log.at(-1)));
  // The server demanded its nonce once; the second token request, with it, got the token.
  assert.deepEqual({ token: as.count.token - before.token, demands: as.count.nonceDemands - before.nonceDemands, issued: as.count.issued - before.issued }, { token: 2, demands: 1, issued: 1 });
  const [first, second] = as.proofs.slice(proofsBefore);
  assert.notEqual(first.jti, second.jti, "a fresh proof for the retry (§7.3), never the same one");
  assert.equal(first.nonce, undefined);
  assert.equal(typeof second.nonce, "string");
  assert.equal(first.htu, as.tokenUrl);
  // The API: one nonce challenge, then 200; htu had no query or fragment (else it refuses).
  assert.deepEqual(rs.log.slice(-2).map((l) => [l.status, l.error]), [[401, "use_dpop_nonce"], [200, undefined]]);
  const info = await c.getTokenInfo();
  assert.equal(info.tokenType, "DPoP");
  assert.equal(body.jkt, (await as.find(info.accessToken)).jkt, "the token is bound to the key that signed the proof");
  // The API's nonce of that 200 is kept: the next calls go through at once, each with a new
  // proof (the API refuses a reused jti) for its own method.
  const n = rs.log.length;
  for (const method of ["GET", "post", "PATCH"]) {
    const r = await c.fetch(`${rs.origin}/data`, { method, body: method === "GET" ? undefined : "{}" });
    assert.equal(r.status, 200, `${method}: ${JSON.stringify(rs.log.at(-1))}`);
    assert.equal((await r.json()).method, method === "post" ? "POST" : method);
  }
  assert.equal(rs.log.length - n, 3, "no more challenges");
  c.dispose();
});

test("sign() adds the DPoP proof and the DPoP scheme; 40 concurrent calls share one token request", async () => {
  const c = client();
  const before = as.count.issued;
  const results = await Promise.all(Array.from({ length: 40 }, (_, i) => c.fetch(`${rs.origin}/item/${i}`)));
  assert.deepEqual([...new Set(results.map((r) => r.status))], [200], JSON.stringify(rs.log.filter((l) => l.status !== 200).slice(0, 3)));
  assert.equal(as.count.issued - before, 1);
  const req = await c.sign(new Request(`${rs.origin}/signed?q=1`, { method: "DELETE" }));
  assert.match(req.headers.get("authorization"), /^DPoP /);
  const proof = claims(req.headers.get("dpop"));
  assert.equal(proof.htm, "DELETE");
  assert.equal(proof.htu, `${rs.origin}/signed`);
  assert.equal((await fetch(req)).status, 200, JSON.stringify(rs.log.at(-1)));
  c.dispose();
});

test("an app's own key pair is used (its thumbprint is the token's jkt); keys that cannot sign proofs fail the constructor", async () => {
  const keyPair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  const c = client({ dpop: { keyPair } });
  const res = await c.fetch(`${rs.origin}/mine`);
  assert.equal(res.status, 200, JSON.stringify(rs.log.at(-1)));
  const { calculateJwkThumbprint } = await import("jose");
  assert.equal((await res.json()).jkt, await calculateJwkThumbprint(await crypto.subtle.exportKey("jwk", keyPair.publicKey)));
  c.dispose();
  const oaep = await crypto.subtle.generateKey({ name: "RSA-OAEP", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, false, ["encrypt", "decrypt"]);
  const hmac = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const sealed = { publicKey: await crypto.subtle.importKey("jwk", await crypto.subtle.exportKey("jwk", keyPair.publicKey), { name: "Ed25519" }, false, ["verify"]), privateKey: keyPair.privateKey };
  for (const [what, dpop] of [["an encryption key", { keyPair: oaep }], ["a secret key", { keyPair: { publicKey: hmac, privateKey: hmac } }], ["not keys", { keyPair: {} }], ["a string", "yes"], ["unknown member", { keyPair, store: "indexeddb" }], ["a public key that cannot be exported", { keyPair: sealed }]]) {
    assert.throws(() => client({ dpop }), (e) => e instanceof TokenError && e.code === "INVALID_CONFIG" && /^dpop/.test(e.message), what);
  }
  // The default build has no DPoP: it says where it is.
  assert.throws(() => new PlainClient({ ...base, dpop: true }), (e) => e.code === "INVALID_CONFIG" && e.message.includes('"tokenkit/dpop"'));
});

test("nothing JS can see holds the key, the token or the nonces", async () => {
  const c = client();
  await c.getToken();
  const seen = inspect(c, { showHidden: true, depth: 5 }) + JSON.stringify(c) + Object.getOwnPropertyNames(c).join();
  assert.doesNotMatch(seen, /CryptoKey|svc-secret|nonce/i);
  c.dispose();
});

// ---- hostile token endpoints (fake fetch: no network)

const dpopAnswer = (status, body, nonce) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...(nonce && { "dpop-nonce": nonce }) } });

test("a Bearer answer to a DPoP request is refused, naming what came back; so is one without token_type", async () => {
  for (const [type, shown] of [["Bearer", "Bearer"], [undefined, "(none)"]]) {
    const f = fakeFetch(() => dpopAnswer(200, { access_token: "stolen-if-bearer", expires_in: 300, ...(type && { token_type: type }) }));
    const c = new TokenClient({ ...base, dpop: true, fetch: f });
    await assert.rejects(c.getToken(), (e) => e.code === "INVALID_RESPONSE" && e.message.includes(`token_type "${shown}"`) && e.message.includes("DPoP") && !e.message.includes("stolen"));
    assert.ok(f.calls[0].init.headers.some(([k]) => k === "DPoP"), "the request carried a proof");
    c.dispose();
  }
  const ok = new TokenClient({ ...base, dpop: true, fetch: fakeFetch(() => dpopAnswer(200, { access_token: "t", token_type: "dpop", expires_in: 300 })) });
  assert.equal(await ok.getToken(), "t", "the type in another case");
  ok.dispose();
});

test("a server that demands a new nonce every time gets one retry per request, not a storm; a malformed or huge nonce is not sent", async () => {
  let n = 0;
  const f = fakeFetch(() => dpopAnswer(400, { error: "use_dpop_nonce" }, `nonce-${++n}`));
  const c = new TokenClient({ ...base, dpop: true, fetch: f, maxRetries: 5 });
  await assert.rejects(c.getToken(), (e) => e.code === "OAUTH_ERROR" && e.error === "use_dpop_nonce");
  assert.equal(f.calls.length, 2);
  const proofs = f.calls.map((call) => claims(call.init.headers.find(([k]) => k === "DPoP")[1]));
  assert.deepEqual(proofs.map((p) => p.nonce), [undefined, "nonce-1"]);
  c.dispose();
  for (const bad of ["has space", "x".repeat(600), "quote\""]) {
    const g = fakeFetch(() => dpopAnswer(400, { error: "use_dpop_nonce" }, bad));
    const d = new TokenClient({ ...base, dpop: true, fetch: g });
    await assert.rejects(d.getToken(), (e) => e.error === "use_dpop_nonce");
    assert.equal(g.calls.length, 1, `${bad.slice(0, 20)}: not sent again without a usable nonce`);
    d.dispose();
  }
});

test("htu is the URL as the platform normalises it, without query or fragment (case, default port, IDN); htm is the method fetch sends", async () => {
  const f = fakeFetch(() => dpopAnswer(200, { access_token: "t", token_type: "DPoP", expires_in: 300 }));
  // The table tests/dpop.rs also reads: the platform's origin and pathname, the core's htu.
  const { rows } = JSON.parse(readFileSync(new URL("../fixtures/rows/htu.json", import.meta.url), "utf8"));
  const c = new TokenClient({ ...base, tokenUrl: "https://AUTH.example.com:443/oauth2/token?tenant=1", dpop: true, fetch: f, allowedOrigins: [...new Set(rows.map((r) => r.origin))] });
  for (const { url, method, origin, pathname, htu, htm } of rows) {
    const u = new URL(url);
    assert.deepEqual([u.origin, u.pathname], [origin, pathname], `the platform parses ${url}`);
    const req = await c.sign(new Request(url, { method }));
    const p = claims(req.headers.get("dpop"));
    assert.deepEqual([p.htu, p.htm], [htu, htm], url);
    assert.match(p.ath, /^[A-Za-z0-9_-]{43}$/, "ath: SHA-256 of the token, base64url");
  }
  const token = claims(f.calls[0].init.headers.find(([k]) => k === "DPoP")[1]);
  assert.equal(token.htu, "https://auth.example.com/oauth2/token");
  assert.equal(token.ath, undefined, "a token request carries no ath");
  c.dispose();
});

test("an API's nonce challenge is answered once, never with a stream body; it does not refuse the token", async () => {
  let api = 0;
  const sent = []; // each API request's proof nonce, read when it is sent (the headers object is reused)
  const f = fakeFetch((url, init) => {
    if (String(url).includes("/oauth2/token")) return dpopAnswer(200, { access_token: "t", token_type: "DPoP", expires_in: 300 });
    api++;
    sent.push(claims(new Headers(init.headers).get("dpop")).nonce);
    return new Response("{}", { status: 401, headers: { "www-authenticate": 'DPoP error="use_dpop_nonce"', "dpop-nonce": `rs-${api}` } });
  });
  const c = new TokenClient({ ...base, dpop: true, fetch: f, allowedOrigins: ["https://api.example.com"] });
  assert.equal((await c.fetch("https://api.example.com/x")).status, 401);
  assert.equal(api, 2, "sent again once with the nonce, then the answer is the caller's");
  assert.deepEqual(sent, [undefined, "rs-1"]);
  const stream = new ReadableStream({ start: (ctl) => (ctl.enqueue(new TextEncoder().encode("{}")), ctl.close()) });
  assert.equal((await c.fetch("https://api.example.com/x", { method: "POST", body: stream, duplex: "half" })).status, 401);
  assert.equal(api, 3, "a stream body is not sent again");
  assert.equal(f.calls.filter((x) => String(x.url).includes("/oauth2/token")).length, 1, "the token was kept");
  c.dispose();
});

test("a DPoP key WebCrypto cannot make fails as INVALID_CONFIG naming dpop, nothing sent (it was a NETWORK error); the next call tries again", async (t) => {
  const f = fakeFetch(() => dpopAnswer(200, { access_token: "t", token_type: "DPoP", expires_in: 300 }));
  const c = new TokenClient({ ...base, dpop: true, fetch: f });
  t.after(() => c.free());
  const generate = t.mock.method(crypto.subtle, "generateKey", () => Promise.reject(new DOMException("the operation failed", "OperationError")));
  await assert.rejects(c.getToken(), (e) => e instanceof TokenError && e.code === "INVALID_CONFIG" && /^dpop: could not be imported or made by WebCrypto/.test(e.message));
  assert.equal(f.calls.length, 0, "nothing was sent");
  generate.mock.restore();
  c.invalidate();
  assert.equal(await c.getToken(), "t");
  assert.equal(f.calls.length, 1);
});
