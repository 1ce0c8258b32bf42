// Packaging: `npm pack` the built pkg/, install the tarball into fresh projects, and
// `import { TokenClient } from "tokenkit"` with no init() in Node ESM, in a browser page
// built by esbuild (real Chromium), and in a Worker bundled by Wrangler (real workerd).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, execFile } from "node:child_process";
import { promisify } from "node:util";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, extname } from "node:path";
import { fileURLToPath } from "node:url";
import { startFixture, key, until } from "./helpers.mjs";
import { workerdOptions } from "../../worker/local.mjs";

const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = (name) => join(root, "node_modules/.bin", name);
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

/** Bundles the Worker project `w` with Wrangler (as `wrangler deploy` would) and runs it in workerd. */
async function bundleAndRun(w, bindings) {
  const { Miniflare } = await import("miniflare");
  execFileSync(bin("wrangler"), ["deploy", "--dry-run", "--outdir", "dist"], {
    cwd: w,
    stdio: "pipe",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", NODE_PATH: join(dir, "node_modules") },
  });
  return new Miniflare(workerdOptions(join(w, "dist/worker.js"), join(w, "dist"), bindings));
}

test("the tarball holds the package and nothing else", () => {
  const files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).trim().split("\n").sort();
  for (const f of ["package/package.json", "package/node.js", "package/node.cjs", "package/wasm-inline.js", "package/inflate.js", "package/browser.js", "package/workerd.js", "package/tokenkit.js", "package/tokenkit_bg.wasm", "package/tokenkit.d.ts", "package/README.md", "package/broker/index.js", "package/broker/index.d.ts", "package/broker/tokenkit_bg.wasm", "package/broker/wrangler.toml"]) {
    assert.ok(files.includes(f), `${f} in ${files}`);
  }
  assert.ok(files.every((f) => !f.includes(".map") && !f.includes("test")), String(files));
});

test("Node ESM: import from 'tokenkit' with no init call", async () => {
  const k = key();
  const script = `
    import { TokenClient, TokenError } from "tokenkit";
    const c = new TokenClient({ tokenUrl: ${JSON.stringify(fx.url(k))}, clientId: "a", clientSecret: "b", allowedOrigins: [${JSON.stringify(fx.origin)}] });
    const r = await c.fetch(${JSON.stringify(fx.api(k))});
    console.log(JSON.stringify({ status: r.status, isError: new TokenError("X", "m") instanceof Error }));`;
  writeFileSync(join(dir, "node-app.mjs"), script);
  // Asynchronously: the fixture server answering it runs in this process.
  const { stdout } = await promisify(execFile)(process.execPath, ["node-app.mjs"], { cwd: dir, timeout: 20_000 });
  assert.deepEqual(JSON.parse(stdout), { status: 200, isError: true });
});

test("browser: an esbuild bundle in headless Chromium", async () => {
  const { chromium } = await import("playwright-core");
  const k = key();
  const www = join(dir, "www");
  mkdirSync(www, { recursive: true });
  writeFileSync(
    join(dir, "browser-app.js"),
    `import { TokenClient, TokenError } from "tokenkit";
     const c = new TokenClient({ tokenUrl: ${JSON.stringify(fx.url(k))}, clientId: "a", clientSecret: "b", allowedOrigins: [${JSON.stringify(fx.origin)}] });
     const r = await c.fetch(${JSON.stringify(fx.api(k))});
     const denied = await c.fetch("https://evil.example.com/").catch((e) => e instanceof TokenError && e.code);
     document.title = JSON.stringify({ status: r.status, denied });`,
  );
  execFileSync(bin("esbuild"), ["browser-app.js", "--bundle", "--format=esm", "--platform=browser", `--outfile=${join(www, "app.js")}`], { cwd: dir, stdio: "pipe" });
  writeFileSync(join(www, "index.html"), `<!doctype html><link rel="icon" href="data:,"><title>loading</title><script type="module" src="app.js"></script>`);
  const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
  const server = createServer((req, res) => {
    try {
      const path = new URL(req.url, "http://x").pathname;
      const body = readFileSync(join(www, path === "/" ? "index.html" : path.slice(1)));
      res.writeHead(200, { "content-type": types[extname(path)] ?? "text/html" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage();
    const problems = [];
    page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
    page.on("pageerror", (e) => problems.push(String(e)));
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.waitForFunction(() => document.title !== "loading", null, { timeout: 15_000 });
    assert.deepEqual(problems, []);
    assert.deepEqual(JSON.parse(await page.title()), { status: 200, denied: "ORIGIN_NOT_ALLOWED" });
  } finally {
    await browser.close();
    await new Promise((r) => server.close(r));
  }
});

test("Cloudflare Workers: bundled by Wrangler, run in workerd by Miniflare", async () => {
  const k = key();
  const w = join(dir, "worker");
  mkdirSync(w, { recursive: true });
  writeFileSync(
    join(w, "worker.js"),
    `import { TokenClient, TokenError } from "tokenkit";
     export default {
       async fetch(req, env) {
         const c = new TokenClient({ tokenUrl: env.TOKEN_URL, clientId: "a", clientSecret: "b", allowedOrigins: [env.API_ORIGIN] });
         try {
           const r = await c.fetch(env.API_URL);
           const denied = await c.fetch("https://evil.example.com/").catch((e) => e instanceof TokenError && e.code);
           return Response.json({ status: r.status, body: await r.json(), denied });
         } catch (e) {
           return Response.json({ code: e.code, message: e.message }, { status: 500 });
         } finally {
           c.dispose();
         }
       },
     };`,
  );
  writeFileSync(join(w, "wrangler.toml"), `name = "tokenkit-test"\nmain = "worker.js"\ncompatibility_date = "2025-01-01"\n`);
  const mf = await bundleAndRun(w, { TOKEN_URL: fx.url(k), API_URL: fx.api(k), API_ORIGIN: fx.origin });
  try {
    const res = await mf.dispatchFetch("http://localhost/");
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.deepEqual(body, { status: 200, body: { ok: true, path: "/data", method: "GET", body: "" }, denied: "ORIGIN_NOT_ALLOWED" });
    assert.equal(fx.count(k), 1);
  } finally {
    await mf.dispose();
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
  const mf = await bundleAndRun(w, { TOKEN_URL: fx.url(k, "seq=slow:1000&ttl=60"), API_URL: fx.api(k), API_ORIGIN: fx.origin });
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

test("tokenkit/broker from npm: a one-line worker.js and the shipped wrangler.toml, no Rust, no bundler warnings", async () => {
  const k = key("npmbroker");
  const w = join(dir, "broker-app");
  mkdirSync(w, { recursive: true });
  writeFileSync(join(w, "worker.js"), `export { default } from "tokenkit/broker";\n`);
  copyFileSync(join(dir, "node_modules/tokenkit/broker/wrangler.toml"), join(w, "wrangler.toml"));
  // esbuild keeps quiet about files in node_modules, so check the shipped glue directly.
  for (const glue of ["tokenkit.js", "broker/tokenkit.js"]) {
    const keys = readFileSync(join(dir, "node_modules/tokenkit", glue), "utf8").match(/"\.\/snippets\/[^"]+":\s*import\d+/g) ?? [];
    const names = keys.map((k) => k.split(":")[0]);
    assert.equal(new Set(names).size, names.length, `${glue}: one imports-object key per snippet`);
  }
  const mf = await bundleAndRun(w, { TOKEN_URL: fx.url(k, "ttl=60"), CLIENT_ID: "npm-broker", CLIENT_SECRET: "NPM-SECRET", ALLOWED_ORIGINS: "https://app.example.com", RATE_LIMIT: "0" });
  try {
    const health = await mf.dispatchFetch("http://localhost/healthz");
    assert.deepEqual(await health.json(), { ok: true });
    const r = await mf.dispatchFetch("http://localhost/token", { method: "POST", headers: { origin: "https://app.example.com" } });
    const body = await r.json();
    assert.equal(r.status, 200, JSON.stringify(body));
    assert.match(body.access_token, /^tok-/);
    assert.equal(r.headers.get("access-control-allow-origin"), "https://app.example.com");
    assert.equal(fx.log(k)[0].headers.authorization, `Basic ${Buffer.from("npm-broker:NPM-SECRET").toString("base64")}`);
  } finally {
    await mf.dispose();
  }
});

test("CommonJS: require('tokenkit') from the tarball, with no require(esm)", async () => {
  const k = key("cjs");
  writeFileSync(
    join(dir, "cjs-app.cjs"),
    `const { TokenClient, TokenError } = require("tokenkit");
     const c = new TokenClient({ tokenUrl: ${JSON.stringify(fx.url(k))}, clientId: "a", clientSecret: "b", allowedOrigins: [${JSON.stringify(fx.origin)}] });
     c.fetch(${JSON.stringify(fx.api(k))}).then(async (r) => {
       const denied = await c.fetch("https://evil.example.com/").catch((e) => e instanceof TokenError && e.code);
       console.log(JSON.stringify({ status: r.status, denied }));
       c.dispose();
     });`,
  );
  // --no-experimental-require-module: prove node.cjs does not lean on require(esm) (absent before Node 20.19).
  const { stdout } = await promisify(execFile)(process.execPath, ["--no-experimental-require-module", "cjs-app.cjs"], { cwd: dir, timeout: 20_000 });
  assert.deepEqual(JSON.parse(stdout), { status: 200, denied: "ORIGIN_NOT_ALLOWED" });
});

test("Jest 29 in its default mode (CommonJS, no config) loads the package and gets a token", async () => {
  const k = key("jest");
  const j = join(dir, "jest-app");
  mkdirSync(j, { recursive: true });
  writeFileSync(join(j, "package.json"), JSON.stringify({ name: "jest-app", private: true }));
  writeFileSync(
    join(j, "token.test.js"),
    `const { TokenClient } = require("tokenkit");
     test("a token and a signed call", async () => {
       const c = new TokenClient({ tokenUrl: process.env.TOKEN_URL, clientId: "a", clientSecret: "b", allowedOrigins: [process.env.API_ORIGIN] });
       const r = await c.fetch(process.env.API_URL);
       expect(r.status).toBe(200);
       await expect(c.fetch("https://evil.example.com/")).rejects.toMatchObject({ code: "ORIGIN_NOT_ALLOWED" });
       c.dispose();
     });`,
  );
  const { stdout, stderr } = await promisify(execFile)(bin("jest"), ["--ci", "--rootDir", j, "--modulePaths", join(dir, "node_modules")], {
    cwd: j,
    timeout: 60_000,
    env: { ...process.env, TOKEN_URL: fx.url(k), API_URL: fx.api(k), API_ORIGIN: fx.origin },
  });
  assert.match(stdout + stderr, /Tests:\s+1 passed, 1 total/);
  assert.equal(fx.count(k), 1);
});

test("esbuild Node bundles (ESM and CJS) run anywhere: the wasm travels inside them", async () => {
  const k = key("nodebundle");
  writeFileSync(
    join(dir, "lambda.js"),
    `import { TokenClient } from "tokenkit";
     const c = new TokenClient({ tokenUrl: process.env.TOKEN_URL, clientId: "a", clientSecret: "b", allowedOrigins: [process.env.API_ORIGIN] });
     const r = await c.fetch(process.env.API_URL);
     console.log(r.status);
     c.dispose();`,
  );
  writeFileSync(join(dir, "lambda-cjs.js"), `require("tokenkit").TokenClient.apiKey({ apiKey: "k", allowedOrigins: ["https://a.example.com"] }).getToken().then(console.log);`);
  // Bundled and then run from an empty directory: nothing of the package is next to them.
  const away = mkdtempSync(join(tmpdir(), "tokenkit-away-"));
  try {
    execFileSync(bin("esbuild"), ["lambda.js", "--bundle", "--platform=node", "--format=esm", `--outfile=${join(away, "esm.mjs")}`], { cwd: dir, stdio: "pipe" });
    execFileSync(bin("esbuild"), ["lambda-cjs.js", "--bundle", "--platform=node", "--format=cjs", `--outfile=${join(away, "cjs.cjs")}`], { cwd: dir, stdio: "pipe" });
    const run = (file) =>
      promisify(execFile)(process.execPath, [file], { cwd: away, timeout: 20_000, env: { ...process.env, TOKEN_URL: fx.url(k), API_URL: fx.api(k), API_ORIGIN: fx.origin } });
    assert.equal((await run("esm.mjs")).stdout.trim(), "200");
    assert.equal((await run("cjs.cjs")).stdout.trim(), "k");
  } finally {
    rmSync(away, { recursive: true, force: true });
  }
});
