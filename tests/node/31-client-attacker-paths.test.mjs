// The paths an attacker takes through client.fetch() and a server-side sign-in, in the
// runtimes a user hits (Node, and workerd through Miniflare):
// - an allowed API that answers with a redirect gets the redirect back: a signed request
//   (Bearer or DPoP) is never followed, to another origin or to itself, so neither the token
//   nor the proof reaches where the redirect points (workerd at compatibility date 2025-01-01
//   would carry Authorization along; no runtime strips DPoP);
// - a URL object the caller changes while the token is on its way changes nothing: the
//   request goes where the origin check looked;
// - completeAuthorization(url, saved) with a saved sign-in without an unguessable state is
//   INVALID_CONFIG before anything is sent (an empty `state=` is anyone's to forge).
// "Elsewhere" is a second local server that records every request it gets. All on 127.0.0.1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TokenClient, startFixture, key, until } from "./helpers.mjs";
import { TokenClient as DpopClient } from "../../pkg/dpop/node.js";
import { TokenClient as SigninClient, TokenError } from "../../pkg/signin/node.js";
import { startDpopAs } from "../fixtures/dpop.mjs";
import { bundleAndRun } from "../../worker/local.mjs";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** A local server recording every request (path, headers); `answer(req, res)` replies. */
async function serve(answer) {
  const log = [];
  const server = createServer((req, res) => {
    log.push({ path: req.url, headers: req.headers });
    answer(req, res);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, log, close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))) };
}

let fx, as, api, elsewhere;
before(async () => {
  fx = await startFixture();
  as = await startDpopAs();
  elsewhere = await serve((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
  // The allowed API: /redirect points elsewhere, /same points to itself, the rest is a 200.
  api = await serve((req, res) => {
    if (req.url === "/redirect") return res.writeHead(302, { location: `${elsewhere.origin}/steal` }).end();
    if (req.url === "/same") return res.writeHead(302, { location: `${api.origin}/other` }).end();
    res.writeHead(200, { "content-type": "application/json" }).end("{}");
  });
});
after(async () => {
  await api?.close();
  await elsewhere?.close();
  await as?.close();
  await fx?.close();
});

/** Forgets what the servers saw, so each test asserts its own requests. */
const clearLogs = () => {
  api.log.length = 0;
  elsewhere.log.length = 0;
};
/** What the API saw: [path, Authorization, DPoP] of each request. */
const apiSaw = () => api.log.map(({ path, headers }) => [path, headers.authorization ?? null, headers.dpop ?? null]);
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());

test("Node: a signed request is never followed: the caller gets the 302 (to another origin or the same), in every redirect mode and input shape; elsewhere receives nothing", async () => {
  clearLogs();
  const k = key("redirect");
  const c = new TokenClient({ tokenUrl: fx.url(k, "ttl=60"), clientId: "id", clientSecret: "sec", allowedOrigins: [api.origin] });
  const token = await c.getToken();
  for (const [name, input, init] of [
    ["string, no init", `${api.origin}/redirect`, undefined],
    ["string, redirect follow", `${api.origin}/redirect`, { redirect: "follow" }],
    ["URL, redirect follow", new URL(`${api.origin}/redirect`), { redirect: "follow" }],
    ["Request", new Request(`${api.origin}/redirect`), undefined],
    ["Request with redirect follow", new Request(`${api.origin}/redirect`, { redirect: "follow" }), undefined],
  ]) {
    const r = await c.fetch(input, init);
    assert.equal(r.status, 302, name);
    assert.equal(r.headers.get("location"), `${elsewhere.origin}/steal`, name);
  }
  assert.deepEqual(elsewhere.log, [], "elsewhere received no request at all");
  assert.deepEqual(apiSaw(), Array(5).fill(["/redirect", `Bearer ${token}`, null]), "each call was signed and sent once");

  // The caller's "error" is kept: fetch refuses the redirect.
  clearLogs();
  await assert.rejects(c.fetch(`${api.origin}/redirect`, { redirect: "error" }), TypeError);
  assert.deepEqual(elsewhere.log, []);
  assert.deepEqual(apiSaw(), [["/redirect", `Bearer ${token}`, null]]);

  // A redirect to the allowed origin itself is not followed either: the caller decides.
  clearLogs();
  const same = await c.fetch(`${api.origin}/same`, { redirect: "follow" });
  assert.equal(same.status, 302);
  assert.equal(same.headers.get("location"), `${api.origin}/other`);
  assert.deepEqual(apiSaw(), [["/same", `Bearer ${token}`, null]], "/other was not requested");

  // sign(): the signed Request the caller sends itself does not follow either.
  clearLogs();
  const signed = await c.sign(new Request(`${api.origin}/redirect`, { redirect: "follow" }));
  assert.equal(signed.redirect, "manual");
  assert.equal((await fetch(signed)).status, 302);
  assert.deepEqual(elsewhere.log, []);
  assert.deepEqual(apiSaw(), [["/redirect", `Bearer ${token}`, null]]);
  c.dispose();
});

test("Node, tokenkit/dpop: a DPoP-signed request to an API that redirects elsewhere: the caller gets the 302; neither the token nor the proof leaves the allowed origin", async () => {
  // Why it matters: fetch following the redirect takes the DPoP header along (Node strips
  // Authorization across origins, not DPoP).
  clearLogs();
  const control = await fetch(`${api.origin}/redirect`, { headers: { authorization: "DPoP canary-token", dpop: "canary-proof" } });
  assert.equal(control.status, 200);
  assert.deepEqual(elsewhere.log.map(({ path, headers }) => [path, headers.authorization ?? null, headers.dpop ?? null]), [["/steal", null, "canary-proof"]], "the control: a followed redirect carries the proof");

  clearLogs();
  const c = new DpopClient({ tokenUrl: as.tokenUrl, clientId: "svc", clientSecret: "svc-secret", allowedOrigins: [api.origin], dpop: true });
  for (const init of [undefined, { redirect: "follow" }]) {
    const r = await c.fetch(`${api.origin}/redirect`, init);
    assert.equal(r.status, 302);
    assert.equal(r.headers.get("location"), `${elsewhere.origin}/steal`);
  }
  assert.deepEqual(elsewhere.log, [], "elsewhere received no request: no Authorization, no DPoP");
  const info = await c.getTokenInfo();
  assert.equal(info.tokenType, "DPoP");
  const saw = apiSaw();
  assert.deepEqual(saw.map(([path, auth]) => [path, auth]), [["/redirect", `DPoP ${info.accessToken}`], ["/redirect", `DPoP ${info.accessToken}`]]);
  for (const [, , proof] of saw) assert.deepEqual([claims(proof).htm, claims(proof).htu], ["GET", `${api.origin}/redirect`], "a proof for the allowed API only");
  assert.notEqual(claims(saw[0][2]).jti, claims(saw[1][2]).jti);

  // sign(): the Request with the token and the proof does not follow either.
  clearLogs();
  const signed = await c.sign(new Request(`${api.origin}/redirect`));
  assert.equal(signed.redirect, "manual");
  assert.ok(signed.headers.get("dpop"));
  assert.equal((await fetch(signed)).status, 302);
  assert.deepEqual(elsewhere.log, []);
  c.dispose();
});

test("Cloudflare Workers (workerd, compatibility date 2025-01-01): client.fetch in a Worker gets the 302 and elsewhere receives nothing, Bearer and DPoP", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tokenkit-redirect-"));
  let mf;
  try {
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(join(root, "pkg"), join(dir, "node_modules/tokenkit"), "dir");
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "redirect-app", private: true, type: "module" }));
    writeFileSync(join(dir, "wrangler.toml"), `name = "tokenkit-redirect"\nmain = "worker.js"\ncompatibility_date = "2025-01-01"\n`);
    writeFileSync(
      join(dir, "worker.js"),
      `import { TokenClient } from "tokenkit";
       import { TokenClient as DpopClient } from "tokenkit/dpop";
       let bearer, dpop;
       export default {
         async fetch(req, env, ctx) {
           const q = new URL(req.url).searchParams;
           // The control: the platform's own fetch, following the redirect with a token.
           if (q.get("raw")) {
             const r = await fetch(env.API + "/redirect", { headers: { authorization: "Bearer canary", dpop: "canary-proof" } });
             return Response.json({ status: r.status });
           }
           bearer ??= new TokenClient({ tokenUrl: env.TOKEN_URL, clientId: "id", clientSecret: "sec", allowedOrigins: [env.API] });
           dpop ??= new DpopClient({ tokenUrl: env.DPOP_TOKEN_URL, clientId: "svc", clientSecret: "svc-secret", allowedOrigins: [env.API], dpop: true });
           const client = q.get("client") === "dpop" ? dpop : bearer;
           const init = q.get("mode") ? { redirect: q.get("mode") } : undefined;
           try {
             const r = await client.fetch(env.API + "/redirect", init, ctx);
             return Response.json({ status: r.status, location: r.headers.get("location"), token: (await client.getTokenInfo(ctx)).accessToken });
           } catch (e) {
             return Response.json({ name: e.name, code: e.code, message: e.message }, { status: 500 });
           }
         },
       };`,
    );
    const k = key("workerd");
    ({ mf } = await bundleAndRun(dir, { TOKEN_URL: fx.url(k, "ttl=60"), DPOP_TOKEN_URL: as.tokenUrl, API: api.origin }, {}));
    const get = async (query) => (await mf.dispatchFetch(`http://localhost/?${query}`)).json();

    // The control: at this date workerd follows with Authorization (and DPoP) to another origin.
    clearLogs();
    assert.deepEqual(await get("raw=1"), { status: 200 });
    assert.deepEqual(elsewhere.log.map(({ path, headers }) => [path, headers.authorization ?? null, headers.dpop ?? null]), [["/steal", "Bearer canary", "canary-proof"]], "the control: workerd 2025-01-01 forwards both");

    clearLogs();
    const seen = [];
    for (const query of ["client=bearer", "client=bearer&mode=follow", "client=dpop", "client=dpop&mode=follow"]) {
      const got = await get(query);
      assert.deepEqual([got.status, got.location], [302, `${elsewhere.origin}/steal`], `${query}: ${JSON.stringify(got)}`);
      seen.push(got.token);
    }
    assert.deepEqual(elsewhere.log, [], "elsewhere received no request at all");
    const saw = apiSaw();
    assert.deepEqual(saw.map(([path, auth, proof]) => [path, auth, proof !== null]), [
      ["/redirect", `Bearer ${seen[0]}`, false],
      ["/redirect", `Bearer ${seen[1]}`, false],
      ["/redirect", `DPoP ${seen[2]}`, true],
      ["/redirect", `DPoP ${seen[3]}`, true],
    ]);
    assert.equal(fx.count(k), 1, "one Bearer token for the isolate");

    // The caller's "error" is kept: workerd refuses that mode outright (a TypeError), so
    // nothing is sent at all, rather than the request being followed.
    clearLogs();
    assert.equal((await get("client=bearer&mode=error")).name, "TypeError");
    assert.deepEqual([api.log, elsewhere.log], [[], []]);
  } finally {
    await mf?.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a URL object changed while the token is on its way: the request goes to the origin that was checked, elsewhere receives nothing", async () => {
  clearLogs();
  const elsewhereHost = new URL(elsewhere.origin).host;
  for (const [name, change] of [
    ["href", (u) => (u.href = `${elsewhere.origin}/steal`)],
    ["host", (u) => (u.host = elsewhereHost)],
    ["port and pathname", (u) => ((u.port = new URL(elsewhere.origin).port), (u.pathname = "/steal"))],
  ]) {
    const k = key("mutate");
    const c = new TokenClient({ tokenUrl: fx.url(k, "seq=slow:1000&ttl=60"), clientId: "id", clientSecret: "sec", allowedOrigins: [fx.origin] });
    const u = new URL(fx.api(k, "/checked"));
    const pending = c.fetch(u, { method: "POST", body: "payload" });
    // The token request has arrived and waits: the check is done, the request not yet sent.
    await until(() => fx.count(k) === 1, 10_000, "the token request");
    change(u);
    assert.equal(u.origin, elsewhere.origin, name);
    const r = await pending;
    assert.equal(r.status, 200, name);
    assert.deepEqual(await r.json(), { ok: true, path: "/checked", method: "POST", body: "payload" }, name);
    assert.deepEqual(fx.apilog(k).map((l) => [l.path, l.authorization]), [["/checked", `Bearer ${await c.getToken()}`]], name);
    assert.equal(fx.count(k), 1, name);
    c.dispose();
  }
  assert.deepEqual(elsewhere.log, [], "elsewhere received no request at all");
});

test("completeAuthorization with a saved sign-in without a 16-character state: INVALID_CONFIG naming state, and nothing is sent", async () => {
  const k = key("state");
  const sent = [];
  const recording = (url, init) => (sent.push(String(url)), globalThis.fetch(url, init));
  const client = () =>
    new SigninClient({
      grant: "authorization_code",
      authorizeUrl: `${fx.origin}/authorize`,
      tokenUrl: fx.url(k, "ttl=60"),
      clientId: "web",
      clientSecret: "s",
      redirectUri: "https://app.example/cb",
      fetch: recording,
    });
  const codeVerifier = "v".repeat(43);
  for (const [name, saved, callback] of [
    ["no state, an empty state= in the callback", { codeVerifier }, "https://app.example/cb?state=&code=abc"],
    ["state undefined, a URL object", { state: undefined, codeVerifier }, new URL("https://app.example/cb?state=&code=abc")],
    ["an empty state", { state: "", codeVerifier }, "https://app.example/cb?state=&code=abc"],
    ["a one-character state", { state: "x", codeVerifier }, "https://app.example/cb?state=x&code=abc"],
    ["15 characters", { state: "s".repeat(15), codeVerifier }, `https://app.example/cb?state=${"s".repeat(15)}&code=abc`],
  ]) {
    const c = client();
    await assert.rejects(
      c.completeAuthorization(callback, saved),
      (e) => e instanceof TokenError && e.code === "INVALID_CONFIG" && /^state: /.test(e.message),
      name,
    );
    assert.equal(c.isAuthorized, false, name);
    c.dispose();
  }
  assert.deepEqual(sent, [], "nothing was sent");
  assert.equal(fx.count(k), 0, "the token endpoint saw nothing");
  // The control: with a 16-character state the same callback's code is redeemed.
  const c = client();
  const state = "s".repeat(16);
  await c.completeAuthorization(`https://app.example/cb?state=${state}&code=abc`, { state, codeVerifier });
  assert.equal(c.isAuthorized, true);
  assert.deepEqual(sent, [fx.url(k, "ttl=60")]);
  const body = new URLSearchParams(fx.log(k)[0].body);
  assert.deepEqual([body.get("grant_type"), body.get("code"), body.get("code_verifier")], ["authorization_code", "abc", codeVerifier]);
  c.dispose();
});
