// Packaging: `npm pack` the built pkg/, install the tarball into a fresh project: what the
// tarball holds, a module-scoped client under concurrency in workerd, and tokenkit/broker.
// Loading in each bundler, framework and runtime is tests/matrix/ (make test-matrix).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile as execFileCb, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startFixture, key, until } from "./helpers.mjs";
import { startDpopAs, startResourceServer } from "../fixtures/dpop.mjs";
import { bundleAndRun } from "../../worker/local.mjs";

const root = fileURLToPath(new URL("../..", import.meta.url));
// Children that call a server of this process's must not block its event loop.
const execFile = promisify(execFileCb);
let fx, dir, tarball;

before(async () => {
  fx = await startFixture();
  dir = mkdtempSync(join(tmpdir(), "tokenkit-pack-"));
  const out = execFileSync("npm", ["pack", "--json", "--pack-destination", dir], { cwd: join(root, "pkg"), encoding: "utf8" });
  tarball = join(dir, JSON.parse(out)[0].filename);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--offline", tarball], { cwd: dir, stdio: "ignore" });
});
after(async () => {
  await fx.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Bundles the Worker project `w` with Wrangler and runs it in workerd; tokenkit comes from the tarball's install. */
const bundle = async (w, bindings) => (await bundleAndRun(w, bindings, { NODE_PATH: join(dir, "node_modules") })).mf;

test("the tarball holds the package and nothing else", () => {
  const files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).trim().split("\n").sort();
  for (const f of ["package/package.json", "package/node.js", "package/node.cjs", "package/wasm-inline.js", "package/unpack.js", "package/browser.js", "package/workerd.js", "package/tokenkit.js", "package/tokenkit_bg.wasm", "package/tokenkit.d.ts", "package/README.md", "package/docs/api.md", "package/docs/broker.md", "package/docs/security.md", "package/broker/index.js", "package/broker/index.d.ts", "package/broker/tokenkit_bg.wasm", "package/broker/wrangler.toml", "package/signin/browser.js", "package/signin/node.js", "package/signin/node.cjs", "package/signin/workerd.js", "package/signin/index.d.ts", "package/signin/wasm-inline.js", "package/signin/tokenkit_bg.wasm", "package/dpop/browser.js", "package/dpop/node.js", "package/dpop/node.cjs", "package/dpop/workerd.js", "package/dpop/index.d.ts", "package/dpop/index.d.cts", "package/dpop/wasm-inline.js", "package/dpop/tokenkit_bg.wasm", "package/server/tokenkit.js", "package/server/tokenkit_bg.wasm", "package/server/wasm-inline.js", "package/signin/server/tokenkit_bg.wasm", "package/dpop/server/wasm-inline.js", "package/broker/keygen.mjs", "package/codes.js", "package/codes.cjs", "package/codes.d.ts", "package/codes.d.cts"]) {
    assert.ok(files.includes(f), `${f} in ${files}`);
  }
  assert.ok(files.every((f) => !f.includes(".map") && !f.includes("test")), String(files));
});

test("the exports map gives require() a CommonJS file under any conditions (Jest with custom export conditions falls through to default)", async () => {
  const { exports } = JSON.parse(readFileSync(join(dir, "node_modules/tokenkit/package.json"), "utf8"));
  /** Node's resolution of `target` for `conditions` (in the map's order). */
  const resolve = (target, conditions) => {
    if (typeof target === "string") return target;
    for (const [k, v] of Object.entries(target)) if (k === "default" || conditions.includes(k)) return resolve(v, conditions);
    return undefined;
  };
  for (const entry of [".", "./signin", "./dpop"]) {
    for (const conditions of [["require"], ["require", "custom"], ["require", "browser"], ["require", "node"], ["require", "edge-light"]]) {
      const file = resolve(exports[entry], conditions);
      assert.match(file, /\.cjs$/, `${entry} ${conditions}`);
      // The file is in the package (a CommonJS bundle: .cjs).
      assert.ok(existsSync(join(dir, "node_modules/tokenkit", file)), file);
    }
    assert.match(resolve(exports[entry], ["import"]), /\.js$/);
  }
});

test("tokenkit/signin from the tarball: ESM and CommonJS in Node, each with its own sign-in client; the main entry refuses the grant", () => {
  const run = (file, code) => {
    writeFileSync(join(dir, file), code);
    return JSON.parse(execFileSync(process.execPath, [file], { cwd: dir, encoding: "utf8" }).trim());
  };
  const body = `const c = new TokenClient({ grant: "authorization_code", authorizeUrl: "https://a.example/authorize", tokenUrl: "https://a.example/token", clientId: "web", clientSecret: "s", redirectUri: "https://app.example/cb", scope: "openid" });
  c.createAuthorizationUrl().then((p) => console.log(JSON.stringify({ keys: Object.keys(p).sort(), challenge: new URL(p.url).searchParams.get("code_challenge_method"), authorized: c.isAuthorized })));`;
  const want = { keys: ["codeVerifier", "nonce", "state", "url"], challenge: "S256", authorized: false };
  assert.deepEqual(run("signin.mjs", `import { TokenClient } from "tokenkit/signin";\n${body}`), want);
  assert.deepEqual(run("signin.cjs", `const { TokenClient } = require("tokenkit/signin");\n${body}`), want);
  const refused = run("main.mjs", `import { TokenClient } from "tokenkit";
try { new TokenClient({ grant: "authorization_code", tokenUrl: "https://a.example/token", clientId: "a", clientAuth: "none" }); } catch (e) { console.log(JSON.stringify([e.code, e.message])); }`);
  assert.deepEqual(refused, ["INVALID_CONFIG", 'grant: "authorization_code" needs the sign-in build: import from "tokenkit/signin"']);
});

test("npx tokenkit-keygen from the tarball makes a PS256 key; require(\"tokenkit\") and import of tokenkit/signin sign with it, and oidc-provider, given the printed JWKS, takes their assertions", async () => {
  const { startKeyAs } = await import("../fixtures/keyauth.mjs");
  const bin = join(dir, "node_modules/.bin/tokenkit-keygen");
  const made = JSON.parse(execFileSync(bin, ["--json", "--alg", "PS256", "--kid", "packed"], { cwd: dir, encoding: "utf8" }));
  assert.deepEqual([made.privateJwk.kty, made.privateJwk.alg, made.privateJwk.kid, typeof made.privateJwk.d], ["RSA", "PS256", "packed", "string"]);
  assert.deepEqual(made.jwks.keys.map((k) => [k.kid, k.alg, k.use, "d" in k]), [["packed", "PS256", "sig", false]]);
  const human = execFileSync(bin, [], { cwd: dir, encoding: "utf8" });
  assert.match(human, /^# The private JWK/m);
  const as = await startKeyAs({ keys: made.jwks.keys });
  try {
    const client = `{ issuer: ${JSON.stringify(as.issuer)}, clientId: "svc", clientAuth: "private_key_jwt", clientKey: ${JSON.stringify(made.privateJwk)} }`;
    writeFileSync(join(dir, "key.cjs"), `const { TokenClient } = require("tokenkit");\nnew TokenClient(${client}).getToken().then((t) => console.log(JSON.stringify(typeof t)), (e) => console.log(JSON.stringify(e.code + " " + e.message)));`);
    const cjs = execFile(process.execPath, ["key.cjs"], { cwd: dir });
    assert.equal(JSON.parse((await cjs).stdout), "string");
    writeFileSync(join(dir, "key.mjs"), `import { TokenClient } from "tokenkit/signin";\nconst c = new TokenClient({ ...${client}, allowedOrigins: [${JSON.stringify(as.issuer)}] });\nconsole.log(JSON.stringify(typeof (await c.getToken())));`);
    assert.equal(JSON.parse((await execFile(process.execPath, ["key.mjs"], { cwd: dir })).stdout), "string");
    assert.deepEqual(as.assertions.map((a) => [a.header.alg, a.header.kid]), [["PS256", "packed"], ["PS256", "packed"]]);
  } finally {
    await as.close();
  }
});

// Node prints the source line an uncaught error was thrown from: a minified entry made that
// one line of 65 KB. Each Node entry, tokenkit and tokenkit/signin, ESM and CommonJS.
test("an uncaught TokenError in Node prints short lines, not a minified source line", () => {
  const bad = '{ tokenUrl: "http://auth.example.com/token", clientId: "a", clientSecret: "b", allowedOrigins: ["https://api.example.com"] }';
  for (const entry of ["tokenkit", "tokenkit/signin"]) {
    for (const [file, text] of [
      ["esm.mjs", `import { TokenClient } from "${entry}";\nnew TokenClient(${bad});\n`],
      ["cjs.cjs", `const { TokenClient } = require("${entry}");\nnew TokenClient(${bad});\n`],
    ]) {
      writeFileSync(join(dir, file), text);
      let stderr = "";
      try {
        execFileSync(process.execPath, [file], { cwd: dir, stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
      } catch (e) {
        stderr = e.stderr;
      }
      const lines = stderr.split("\n");
      assert.ok(lines.some((l) => l.startsWith("TokenError: tokenUrl: must use https")), `${entry} ${file}: ${stderr.slice(0, 500)}`);
      const longest = Math.max(...lines.map((l) => l.length));
      assert.ok(longest <= 200, `${entry} ${file}: a ${longest}-character line in:\n${stderr.slice(0, 300)}`);
    }
  }
});

test("Cloudflare Workers: one module-scoped client shared by 200 concurrent requests and an aborted starter", async () => {
  // The natural Workers code: a client at module scope, `client.fetch(url, init, ctx)` in
  // every request. workerd cancels a request that waits on another request's promise
  // ("hung"), so a shared client must make each request wait in its own context, and the
  // starter's token request must survive the starter going away (ctx.waitUntil).
  const k = key("wk");
  const w = join(dir, "worker-shared");
  mkdirSync(w, { recursive: true });
  writeFileSync(
    join(w, "worker.js"),
    `import { TokenClient } from "tokenkit";
     let client; // module scope: shared by every request this isolate serves
     export default {
       async fetch(req, env, ctx) {
         client ??= new TokenClient({ tokenUrl: env.TOKEN_URL, clientId: "a", clientSecret: "b", allowedOrigins: [env.API_ORIGIN] });
         try {
           const r = await client.fetch(env.API_URL, undefined, ctx);
           return new Response(await r.text(), { status: r.status });
         } catch (e) {
           return Response.json({ code: e.code, message: e.message }, { status: 500 });
         }
       },
     };`,
  );
  writeFileSync(join(w, "wrangler.toml"), `name = "tokenkit-shared"\nmain = "worker.js"\ncompatibility_date = "2025-01-01"\n`);
  const mf = await bundle(w, { TOKEN_URL: fx.url(k, "seq=slow:1000&ttl=60"), API_URL: fx.api(k), API_ORIGIN: fx.origin });
  try {
    const ctl = new AbortController();
    const starter = mf.dispatchFetch("http://localhost/", { signal: ctl.signal }).then(
      (r) => r.status,
      (e) => e.name,
    );
    await until(() => fx.count(k) === 1, 10_000, "the starter's token request");
    const rest = Array.from({ length: 200 }, () => mf.dispatchFetch("http://localhost/").then(async (r) => [r.status, await r.text()]));
    ctl.abort();
    const results = await Promise.all(rest);
    const bad = results.filter(([status]) => status !== 200);
    assert.deepEqual(bad.slice(0, 3), [], `${bad.length} of 200 failed (a "hung" cancellation answers 500)`);
    assert.ok(results.every(([, body]) => JSON.parse(body).ok === true));
    assert.equal(await starter, "AbortError");
    assert.equal(fx.count(k), 1, "one token request for all of them");
    // Later requests use the cached token.
    assert.equal((await mf.dispatchFetch("http://localhost/")).status, 200);
    assert.equal(fx.count(k), 1);
  } finally {
    await mf.dispose();
  }
});

test("tokenkit/dpop in Cloudflare Workers: a module-scoped DPoP client, 60 concurrent requests, one token from oidc-provider, every proof taken by the strict API", async () => {
  const as = await startDpopAs();
  const rs = await startResourceServer(as);
  const w = join(dir, "worker-dpop");
  mkdirSync(w, { recursive: true });
  writeFileSync(
    join(w, "worker.js"),
    `import { TokenClient } from "tokenkit/dpop";
     let client;
     export default {
       async fetch(req, env, ctx) {
         client ??= new TokenClient({ tokenUrl: env.TOKEN_URL, clientId: "svc", clientSecret: "svc-secret", allowedOrigins: [env.API_ORIGIN], dpop: true });
         try {
           const r = await client.fetch(env.API_ORIGIN + "/data?i=" + new URL(req.url).searchParams.get("i"), undefined, ctx);
           const info = await client.getTokenInfo(ctx);
           return Response.json({ status: r.status, body: await r.json(), type: info.tokenType });
         } catch (e) {
           return Response.json({ code: e.code, message: e.message }, { status: 500 });
         }
       },
     };`,
  );
  writeFileSync(join(w, "wrangler.toml"), `name = "tokenkit-dpop"\nmain = "worker.js"\ncompatibility_date = "2025-01-01"\n`);
  const mf = await bundle(w, { TOKEN_URL: as.tokenUrl, API_ORIGIN: rs.origin });
  try {
    const first = await (await mf.dispatchFetch("http://localhost/?i=0")).json();
    assert.deepEqual([first.status, first.type, first.body?.ok], [200, "DPoP", true], JSON.stringify([first, rs.log.at(-1)]));
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => mf.dispatchFetch(`http://localhost/?i=${i + 1}`).then((r) => r.json())));
    const bad = results.filter((r) => r.status !== 200);
    assert.deepEqual(bad.slice(0, 3), [], `${bad.length} of 60 failed: ${JSON.stringify(rs.log.filter((l) => l.status !== 200).slice(0, 3))}`);
    assert.equal(as.count.issued, 1, "one token for the isolate");
    assert.equal(new Set(results.map((r) => r.body.jkt)).size, 1, "one key");
  } finally {
    await mf.dispose();
    await rs.close();
    await as.close();
  }
});

test("tokenkit/signin in Cloudflare Workers (Wrangler bundle, workerd): a server-side sign-in starts, a forged callback is refused", async () => {
  const w = join(dir, "signin-app");
  mkdirSync(w, { recursive: true });
  writeFileSync(join(w, "wrangler.toml"), `name = "signin-app"\nmain = "worker.js"\ncompatibility_date = "2025-01-01"\n`);
  writeFileSync(
    join(w, "worker.js"),
    `import { TokenClient } from "tokenkit/signin";
export default {
  async fetch(request, env) {
    const client = new TokenClient({ grant: "authorization_code", authorizeUrl: "https://auth.example.com/authorize", tokenUrl: "https://auth.example.com/token",
      clientId: "web", clientSecret: env.SECRET, redirectUri: "https://app.example.com/callback", scope: "openid offline_access" });
    const pending = await client.createAuthorizationUrl();
    const forged = await client.completeAuthorization("https://app.example.com/callback?code=c&state=forged", pending).then(() => "exchanged", (e) => e.code);
    return Response.json({ keys: Object.keys(pending).sort(), method: new URL(pending.url).searchParams.get("code_challenge_method"), forged, authorized: client.isAuthorized });
  },
};
`,
  );
  const mf = await bundle(w, { SECRET: "worker-secret" });
  try {
    const r = await mf.dispatchFetch("http://localhost/");
    assert.deepEqual(await r.json(), { keys: ["codeVerifier", "nonce", "state", "url"], method: "S256", forged: "STATE_MISMATCH", authorized: false });
  } finally {
    await mf.dispose();
  }
});

/**
 * A Worker project `name` with `workerJs` and the shipped wrangler.toml, bundled from the
 * installed tarball and run in workerd with a client-credentials upstream (fixture key `k`):
 * its Miniflare, and a POST /token from an allowed origin, checked to answer a token.
 */
async function brokerFromTarball(name, workerJs, k, clientId, secret) {
  const w = join(dir, name);
  mkdirSync(w, { recursive: true });
  writeFileSync(join(w, "worker.js"), workerJs);
  copyFileSync(join(dir, "node_modules/tokenkit/broker/wrangler.toml"), join(w, "wrangler.toml"));
  const mf = await bundle(w, { TOKEN_URL: fx.url(k, "ttl=60"), CLIENT_ID: clientId, CLIENT_SECRET: secret, ALLOWED_ORIGINS: "https://app.example.com", RATE_LIMIT: "0" });
  const token = async () => {
    const r = await mf.dispatchFetch("http://localhost/token", { method: "POST", headers: { origin: "https://app.example.com" } });
    const body = await r.json();
    assert.equal(r.status, 200, JSON.stringify(body));
    assert.match(body.access_token, /^tok-/);
    return r;
  };
  return { mf, token };
}

test("tokenkit/broker from npm: a one-line worker.js and the shipped wrangler.toml, no Rust, no bundler warnings", async () => {
  const k = key("npmbroker");
  // esbuild keeps quiet about files in node_modules, so check the shipped glue directly.
  for (const glue of ["tokenkit.js", "broker/tokenkit.js"]) {
    const keys = readFileSync(join(dir, "node_modules/tokenkit", glue), "utf8").match(/"\.\/snippets\/[^"]+":\s*import\d+/g) ?? [];
    const names = keys.map((k) => k.split(":")[0]);
    assert.equal(new Set(names).size, names.length, `${glue}: one imports-object key per snippet`);
  }
  const { mf, token } = await brokerFromTarball("broker-app", `export { default, TokenCache, UserSession } from "tokenkit/broker";\n`, k, "npm-broker", "NPM-SECRET");
  try {
    const health = await mf.dispatchFetch("http://localhost/healthz");
    assert.deepEqual(await health.json(), { ok: true, cache: "isolate", rateLimit: "off" });
    const r = await token();
    assert.equal(r.headers.get("access-control-allow-origin"), "https://app.example.com");
    assert.equal(fx.log(k)[0].headers.authorization, `Basic ${Buffer.from("npm-broker:NPM-SECRET").toString("base64")}`);
  } finally {
    await mf.dispose();
  }
});

test("tokenkit/broker's TokenBroker, as the broker docs show it: a Worker that routes its own paths and hands the rest to the broker", async () => {
  const { mf, token } = await brokerFromTarball(
    "broker-routes",
    `import { TokenBroker } from "tokenkit/broker";
export { TokenCache, UserSession } from "tokenkit/broker";
let broker;
export default {
  fetch(request, env, ctx) {
    if (new URL(request.url).pathname === "/hello") return new Response("the app's own route");
    broker ??= new TokenBroker(env);
    return broker.handle(request, ctx);
  },
};
`,
    key("ownroutes"),
    "own-routes",
    "ROUTES-SECRET",
  );
  try {
    assert.equal(await (await mf.dispatchFetch("http://localhost/hello")).text(), "the app's own route");
    await token();
  } finally {
    await mf.dispose();
  }
});

test("tokenkit/codes: every error code as a constant, the same from import and require, and the codes errors carry", async () => {
  const run = (args, input) => execFileSync(process.execPath, args, { cwd: dir, encoding: "utf8", input });
  const esm = JSON.parse(run(["--input-type=module", "-e", 'import { codes } from "tokenkit/codes"; console.log(JSON.stringify({ codes, frozen: Object.isFrozen(codes) }))']));
  const cjs = JSON.parse(run(["-e", 'const { codes } = require("tokenkit/codes"); console.log(JSON.stringify(codes))']));
  assert.deepEqual(esm.codes, cjs);
  assert.ok(esm.frozen);
  // The constants are the TokenErrorCode type's members, both generated from the core's list.
  const union = [...readFileSync(join(dir, "node_modules/tokenkit/tokenkit.d.ts"), "utf8").matchAll(/^ {2}\| "([A-Z_]+)";?$/gm)].map((m) => m[1]);
  assert.deepEqual(Object.keys(esm.codes).sort(), [...union].sort());
  for (const [k, v] of Object.entries(esm.codes)) assert.equal(k, v);
  const listed = /pub const CODES: &\[&str\] = &\[([^\]]*)\];/.exec(readFileSync(join(root, "src/proto/error.rs"), "utf8"))[1];
  assert.deepEqual(Object.keys(esm.codes), [...listed.matchAll(/"([A-Z_]+)"/g)].map((m) => m[1]));
  // What a client throws is one of them.
  const thrown = JSON.parse(run(["--input-type=module", "-e", 'import { codes } from "tokenkit/codes"; import { TokenClient } from "tokenkit"; try { new TokenClient({}); } catch (e) { console.log(JSON.stringify([e.code, e.code === codes.INVALID_CONFIG])); }']));
  assert.deepEqual(thrown, ["INVALID_CONFIG", true]);
});
