// The bundler/runtime matrix: the packed tarball, installed into a fresh project per scenario,
// loaded the way each tool's users load it (default settings, no tokenkit-specific config),
// then a page in Chromium or a program in the runtime gets a token from a local server, makes
// one signed call and is refused a call to a foreign origin.
//
// The tools are installed once, at exact versions, in tests/matrix/node_modules (make
// matrix-setup); each project lives in tests/matrix/.work/<scenario>/ so that Node's module
// resolution finds them there, and holds its own node_modules/tokenkit from the tarball.
// Offline after install: the only server is the local fixture on 127.0.0.1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startFixture } from "../fixtures/server.mjs";
import { bundleAndRun } from "../../worker/local.mjs";
import { CHROMIUM, CHROMIUM_ARGS, launchChromium } from "../fixtures/chromium.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "../..");
const tools = join(here, "node_modules");
const work = join(here, ".work");
const rootBin = (name) => join(root, "node_modules/.bin", name);
const toolBin = (name) => join(tools, ".bin", name);
// Quiet, offline tools: no telemetry, no update checks.
const ENV = { ...process.env, NEXT_TELEMETRY_DISABLED: "1", DENO_NO_UPDATE_CHECK: "1", BUN_DISABLE_TELEMETRY: "1", DO_NOT_TRACK: "1", WRANGLER_SEND_METRICS: "false", CI: "1", NO_COLOR: "1", FORCE_COLOR: "0" };

let fx, tarball, browser;
const results = [];
const OK = { status: 200, denied: "ORIGIN_NOT_ALLOWED" };
// `MATRIX_LIST=1 node tests/matrix/matrix.test.mjs` prints the scenarios' names as JSON and runs
// none of them: the docs' scenario count comes from it (scripts/figures.mjs).
const LIST = process.env.MATRIX_LIST === "1" ? [] : null;
if (LIST) process.on("exit", () => console.log(JSON.stringify(LIST)));

if (!LIST) before(async () => {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  fx = await startFixture();
  const out = execFileSync("npm", ["pack", "--json", "--pack-destination", work], { cwd: join(root, "pkg"), encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  tarball = join(work, JSON.parse(out)[0].filename);
  browser = await launchChromium();
});

if (!LIST) after(async () => {
  await browser?.close();
  await fx?.close();
  const lines = ["| scenario | result | seconds |", "|---|---|---|", ...results.map((r) => `| ${r.name} | ${r.ok ? "works" : "FAILS"} | ${(r.ms / 1000).toFixed(1)} |`)];
  const total = results.reduce((n, r) => n + r.ms, 0);
  lines.push(`| all ${results.length} | ${results.filter((r) => r.ok).length} work | ${(total / 1000).toFixed(0)} |`);
  writeFileSync(join(work, "results.md"), lines.join("\n") + "\n");
  console.log(lines.join("\n"));
});

/** One matrix row: a node:test test, timed, with its result in the printed table. */
function scenario(name, fn) {
  if (LIST) return void LIST.push(name);
  test(name, async () => {
    const t0 = performance.now();
    let ok = false;
    try {
      await fn();
      ok = true;
    } finally {
      results.push({ name, ok, ms: performance.now() - t0 });
    }
  });
}

let n = 0;
/** A fresh project: package.json, the files `files(key)` names, and `npm install <tarball>` (offline). */
function project(name, files, pkg = {}) {
  const key = `mx-${name}-${process.pid}-${++n}`;
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: `app-${name}`, private: true, type: "module", ...pkg }, null, 2));
  for (const [f, text] of Object.entries(files(key))) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), text);
  }
  execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--loglevel=error", tarball], { cwd: dir, stdio: "ignore" });
  return { dir, key };
}

const run = (cmd, args, opts = {}) =>
  new Promise((resolve, reject) => {
    execFile(cmd, args, { env: ENV, timeout: 180_000, maxBuffer: 64 << 20, ...opts }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")} failed: ${err.message}\n${stdout}\n${stderr}`.slice(0, 6000)));
      else resolve({ stdout, stderr });
    });
  });

/** Starts a long-running server (a dev server, `next start`) and waits for its URL on stdout. */
function serve(cmd, args, cwd, urlPattern) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: ENV, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const stop = () =>
      new Promise((r) => {
        if (child.exitCode !== null || child.signalCode !== null) return r();
        child.once("exit", r);
        try {
          process.kill(-child.pid, "SIGTERM"); // its process group: the server and its workers
        } catch {
          r();
        }
      });
    const onData = (d) => {
      out += d;
      // eslint-disable-next-line no-control-regex
      const m = urlPattern.exec(out.replace(/\x1b\[[0-9;]*m/g, ""));
      if (m) resolve({ url: m[1].replace(/\/$/, ""), stop, output: () => out, child });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => reject(new Error(`${cmd} exited (${code}) before serving:\n${out.slice(-3000)}`)));
    // A liveness guard, not a timing assertion: a server that never says where it listens.
    setTimeout(() => stop().then(() => reject(new Error(`${cmd}: no URL after 120 s:\n${out.slice(-3000)}`))), 120_000).unref();
  });
}

/** Serves a built directory on 127.0.0.1, optionally with a Content-Security-Policy. */
async function staticServer(dir, headers = {}) {
  const types = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".wasm": "application/wasm" };
  const server = createServer((req, res) => {
    try {
      let path = decodeURIComponent(new URL(req.url, "http://x").pathname);
      if (path.endsWith("/")) path += "index.html";
      const body = readFileSync(join(dir, path));
      res.writeHead(200, { "content-type": types[extname(path)] ?? "application/octet-stream", ...headers }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}`, stop: () => new Promise((r) => server.close(r)) };
}

/** Loads `url` in Chromium, waits for the app to write its result into document.title. */
async function pageResult(url) {
  const page = await browser.newPage();
  const problems = [];
  page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
  page.on("pageerror", (e) => problems.push(String(e)));
  // The wasm is inlined: a dev server or a build that still fetches a .wasm has a copy to serve.
  page.on("request", (r) => new URL(r.url()).pathname.endsWith(".wasm") && problems.push(`requested ${r.url()}`));
  try {
    await page.goto(url);
    await page.waitForFunction(() => document.title.startsWith("{"), null, { timeout: 30_000 }).catch((e) => {
      throw new Error(`${url}: no result (${e.message}); page errors: ${problems.join(" | ")}`);
    });
    return { result: JSON.parse(await page.title()), problems };
  } finally {
    await page.close();
  }
}

/**
 * The app every scenario runs: one client, one signed call to the API, one refused call,
 * the outcome handed to `report` (no top-level await). `imports` is how it loads tokenkit.
 */
const app = (key, imports, report) => `${imports}
const report = ${report};
try {
  const client = new TokenClient({ tokenUrl: ${JSON.stringify(fx.url(key))}, clientId: "a", clientSecret: "b", allowedOrigins: [${JSON.stringify(fx.origin)}] });
  client.fetch(${JSON.stringify(fx.api(key))}).then(async (r) => {
    const denied = await client.fetch("https://evil.example.com/").then(() => "sent", (e) => e instanceof TokenError && e.code);
    report({ status: r.status, denied });
  }, (e) => report({ code: e.code, message: e.message })).finally(() => client.dispose());
} catch (e) {
  report({ code: e.code, message: e.message });
}
`;
const ESM = 'import { TokenClient, TokenError } from "tokenkit";';
/** In a page: the outcome goes to document.title. */
const browserApp = (key, imports = ESM) => app(key, imports, "(v) => { document.title = JSON.stringify(v); }");
/** In a runtime: the outcome is printed as JSON. */
const serverApp = (key, { cjs = false } = {}) =>
  app(key, cjs ? 'const { TokenClient, TokenError } = require("tokenkit");' : ESM, "(v) => console.log(JSON.stringify(v))");

const lastJson = (stdout) => JSON.parse(stdout.trim().split("\n").filter((l) => l.startsWith("{")).pop() ?? "null");

async function expectPage(url, key, maxTokenRequests = 1) {
  const { result, problems } = await pageResult(url);
  assert.deepEqual(result, OK);
  assert.deepEqual(problems, []);
  assert.ok(fx.count(key) >= 1 && fx.count(key) <= maxTokenRequests, `${fx.count(key)} token requests, expected 1..${maxTokenRequests}`);
}

/** Every .wasm file under `dir`: a browser build must have none (the wasm is inlined). */
const wasmFiles = (dir) => readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith(".wasm"));

async function expectBuilt(dir, key) {
  assert.deepEqual(wasmFiles(dir), [], "no .wasm in the build output (the wasm is inlined; nothing requests a file)");
  const s = await staticServer(dir);
  try {
    await expectPage(`${s.url}/`, key);
  } finally {
    await s.stop();
  }
}

const INDEX_HTML = (src) => `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>loading</title></head><body><script type="module" src="${src}"></script></body></html>\n`;

// ---- Vite 5, 6, 7, 8: build (default target) and dev server --------------------------------
for (const v of [5, 6, 7, 8]) {
  const vite = join(tools, `vite${v}/bin/vite.js`);
  scenario(`Vite ${v} build`, async () => {
    const { dir, key } = project(`vite${v}-build`, (k) => ({ "index.html": INDEX_HTML("/src/main.js"), "src/main.js": browserApp(k) }));
    await run(process.execPath, [vite, "build", "--logLevel", "warn"], { cwd: dir });
    await expectBuilt(join(dir, "dist"), key);
  });
  scenario(`Vite ${v} dev`, async () => {
    const { dir, key } = project(`vite${v}-dev`, (k) => ({ "index.html": INDEX_HTML("/src/main.js"), "src/main.js": browserApp(k) }));
    const s = await serve(process.execPath, [vite, "--host", "127.0.0.1", "--port", "0"], dir, /(http:\/\/127\.0\.0\.1:\d+\/)/);
    try {
      await expectPage(`${s.url}/`, key);
      assert.equal(s.child.exitCode, null, "the dev server is still running");
    } finally {
      await s.stop();
    }
  });
}


// ---- webpack 5 (its defaults: ./src/index.js -> dist/main.js, production) -------------------
for (const mode of ["production", "development"]) scenario(`webpack 5 build (${mode})`, async () => {
  const { dir, key } = project(`webpack5-${mode}`, (k) => ({ "src/index.js": browserApp(k), "dist/index.html": INDEX_HTML("main.js") }));
  // What `npx webpack --mode ${mode}` does with no config file, run in the project.
  const build = `import webpack from "webpack";
webpack({ mode: "${mode}" }, (err, stats) => {
  if (err || stats.hasErrors() || stats.hasWarnings()) { console.error(err ?? stats.toString("errors-warnings")); process.exit(1); }
});`;
  await run(process.execPath, ["--input-type=module", "-e", build], { cwd: dir });
  await expectBuilt(join(dir, "dist"), key);
});

// ---- webpack 4 (still in many apps): no exports maps, acorn 6 (ES2019 syntax at most) ---
// Its md4 hashing needs --openssl-legacy-provider on Node 17+ whatever the app bundles: that
// is the app's existing set-up, not tokenkit's. No loader rule, no alias.
for (const [label, entry] of [["tokenkit", ESM], ["tokenkit/signin", 'import { TokenClient, TokenError } from "tokenkit/signin";']]) {
  scenario(`webpack 4 build (${label})`, async () => {
    const { dir, key } = project(`webpack4-${label.replace("/", "-")}`, (k) => ({ "src/index.js": browserApp(k, entry), "dist/index.html": INDEX_HTML("main.js").replace(' type="module"', "") }));
    const build = `const webpack = require(${JSON.stringify(join(tools, "webpack4"))});
webpack({ mode: "production", context: process.cwd() }, (err, stats) => {
  if (err || stats.hasErrors() || stats.hasWarnings()) { console.error(String(err ?? stats.toString("errors-warnings")).slice(0, 4000)); process.exit(1); }
});`;
    await run(process.execPath, ["-e", build], { cwd: dir, env: { ...ENV, NODE_OPTIONS: "--openssl-legacy-provider" } });
    await expectBuilt(join(dir, "dist"), key);
  });
}

// ---- Rspack 2 (its CLI's defaults: ./src/index.js -> dist/main.js), production and dev ------
for (const mode of ["production", "development"]) scenario(`Rspack 2 build (${mode})`, async () => {
  const { dir, key } = project(`rspack-${mode}`, (k) => ({ "src/index.js": browserApp(k), "dist/index.html": INDEX_HTML("main.js") }));
  await run(process.execPath, [join(tools, "@rspack/cli/bin/rspack.js"), "build", "--mode", mode], { cwd: dir });
  await expectBuilt(join(dir, "dist"), key);
});

// ---- Rollup 4 + @rollup/plugin-node-resolve (defaults) --------------------------------------
scenario("Rollup 4 + node-resolve build", async () => {
  const { dir, key } = project("rollup4", (k) => ({ "src/main.js": browserApp(k), "dist/index.html": INDEX_HTML("main.js") }));
  const { rollup } = await import("rollup");
  const { nodeResolve } = await import("@rollup/plugin-node-resolve");
  const warnings = [];
  const bundle = await rollup({ input: join(dir, "src/main.js"), plugins: [nodeResolve()], onwarn: (w) => warnings.push(String(w)) });
  await bundle.write({ dir: join(dir, "dist"), format: "es" });
  await bundle.close();
  assert.deepEqual(warnings, []);
  await expectBuilt(join(dir, "dist"), key);
});

// ---- Parcel 2: build and dev server, zero config --------------------------------------------
const parcelFiles = (k) => ({ "index.html": INDEX_HTML("./main.js"), "main.js": browserApp(k) });
scenario("Parcel 2 build", async () => {
  const { dir, key } = project("parcel-build", parcelFiles);
  await run(toolBin("parcel"), ["build", "index.html", "--no-autoinstall", "--log-level", "warn"], { cwd: dir });
  await expectBuilt(join(dir, "dist"), key);
});
scenario("Parcel 2 dev", async () => {
  const { dir, key } = project("parcel-dev", parcelFiles);
  const s = await serve(toolBin("parcel"), ["serve", "index.html", "--no-autoinstall", "--host", "127.0.0.1", "--port", String(await freePort()), "--no-hmr"], dir, /Server running at (http:\/\/[\d.:]+)/);
  try {
    await expectPage(`${s.url}/`, key);
  } finally {
    await s.stop();
  }
});

// ---- esbuild: its default iife and esm for the browser; esm and cjs bundles for Node --------
for (const format of ["iife", "esm"]) {
  scenario(`esbuild ${format} (browser)`, async () => {
    const { dir, key } = project(`esbuild-${format}`, (k) => ({ "app.js": browserApp(k), "www/index.html": format === "esm" ? INDEX_HTML("app.js") : INDEX_HTML("app.js").replace(' type="module"', "") }));
    const args = ["app.js", "--bundle", "--outfile=www/app.js", ...(format === "esm" ? ["--format=esm"] : [])];
    await run(rootBin("esbuild"), args, { cwd: dir });
    await expectBuilt(join(dir, "www"), key);
  });
}
for (const format of ["esm", "cjs"]) {
  scenario(`esbuild ${format} (Node bundle, run from an empty directory)`, async () => {
    const { dir, key } = project(`esbuild-node-${format}`, (k) => ({ "app.js": serverApp(k) }));
    const out = join(dir, "lambda", format === "esm" ? "index.mjs" : "index.cjs");
    await run(rootBin("esbuild"), ["app.js", "--bundle", "--platform=node", `--format=${format}`, `--outfile=${out}`], { cwd: dir });
    // As a serverless packager ships it: the bundle alone, no node_modules next to it.
    const { stdout } = await run(process.execPath, [out], { cwd: dirname(out) });
    assert.deepEqual(lastJson(stdout), OK);
    assert.equal(fx.count(key), 1);
  });
}

// ---- Node: ESM and CommonJS, on this Node, Node 20.11 (no require(esm)), 22 and 24 ---------
const nodes = [
  ["Node " + process.versions.node, process.execPath],
  ["Node 20.11.1", join(tools, "node20-11/bin/node")],
  ["Node 22.23.3", join(tools, "node22/bin/node")],
  ["Node 24.21.0", join(tools, "node24/bin/node")],
];
/** A server-side sign-in: the authorization URL and the PKCE verifier the app keeps. */
const signinApp = (cjs) => `${cjs ? 'const { TokenClient } = require("tokenkit/signin");' : 'import { TokenClient } from "tokenkit/signin";'}
const c = new TokenClient({ grant: "authorization_code", authorizeUrl: "https://auth.example.com/auth", tokenUrl: "https://auth.example.com/token", clientId: "web", clientSecret: "s", redirectUri: "https://app.example.com/cb", allowedOrigins: ["https://api.example.com"] });
c.createAuthorizationUrl().then((p) => { console.log(JSON.stringify({ url: p.url, codeVerifier: p.codeVerifier })); c.dispose(); }, (e) => console.log(JSON.stringify({ code: e.code, message: e.message })));
`;
const expectPkce = (stdout) => {
  const { url, codeVerifier, message } = lastJson(stdout) ?? {};
  assert.ok(url, message ?? stdout);
  const q = new URL(url).searchParams;
  assert.equal(q.get("code_challenge_method"), "S256");
  assert.equal(q.get("code_challenge"), createHash("sha256").update(codeVerifier).digest("base64url"));
};
for (const [label, node] of nodes) {
  scenario(`${label} ESM import`, async () => {
    const { dir, key } = project(`node-esm-${label.split(" ")[1]}`, (k) => ({ "app.js": serverApp(k) }));
    const { stdout } = await run(node, ["app.js"], { cwd: dir });
    assert.deepEqual(lastJson(stdout), OK);
    assert.equal(fx.count(key), 1);
  });
  scenario(`${label} CommonJS require`, async () => {
    const { dir, key } = project(`node-cjs-${label.split(" ")[1]}`, (k) => ({ "app.js": serverApp(k, { cjs: true }) }), { type: "commonjs" });
    const { stdout } = await run(node, ["app.js"], { cwd: dir });
    assert.deepEqual(lastJson(stdout), OK);
    assert.equal(fx.count(key), 1);
  });
  scenario(`${label} sign-in (tokenkit/signin, import and require)`, async () => {
    const { dir } = project(`node-signin-${label.split(" ")[1]}`, () => ({ "esm.mjs": signinApp(false), "cjs.cjs": signinApp(true) }));
    expectPkce((await run(node, ["esm.mjs"], { cwd: dir })).stdout);
    expectPkce((await run(node, ["cjs.cjs"], { cwd: dir })).stdout);
  });
}

// ---- Test runners: Jest in its default (CommonJS) mode, Vitest ------------------------------
const runnerTest = (k, cjs) => `${cjs ? 'const { TokenClient } = require("tokenkit");' : 'import { test, expect } from "vitest";\nimport { TokenClient } from "tokenkit";'}
test("a token and a signed call", async () => {
  const c = new TokenClient({ tokenUrl: ${JSON.stringify(fx.url(k))}, clientId: "a", clientSecret: "b", allowedOrigins: [${JSON.stringify(fx.origin)}] });
  const r = await c.fetch(${JSON.stringify(fx.api(k))});
  expect(r.status).toBe(200);
  await expect(c.fetch("https://evil.example.com/")).rejects.toMatchObject({ code: "ORIGIN_NOT_ALLOWED" });
  c.dispose();
});
`;
scenario("Jest 29 (default mode)", async () => {
  const { dir, key } = project("jest", (k) => ({ "token.test.js": runnerTest(k, true) }), { type: "commonjs" });
  const { stdout, stderr } = await run(rootBin("jest"), ["--ci"], { cwd: dir });
  assert.match(stdout + stderr, /Tests:\s+1 passed, 1 total/);
  assert.equal(fx.count(key), 1);
});
// Jest's jsdom environment, as a React or Vue app's tests run: it asks for the `browser`
// condition from CommonJS, and its global has no TextDecoder and no fetch. The client loads;
// without a fetch it says so, naming the option; with the test's own stub it works.
const jsdomTest = `const { TokenClient } = require("tokenkit");
const opts = { tokenUrl: "https://auth.example.com/token", clientId: "a", clientSecret: "b", allowedOrigins: ["https://api.example.com"] };
test("without fetch: a typed error naming the option", () => {
  expect(typeof fetch).toBe("undefined");
  expect(() => new TokenClient(opts)).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", message: expect.stringMatching(/^fetch: is required/) }));
});
test("with the test's fetch stub: a token", async () => {
  const fetch = jest.fn(async () => ({ status: 200, type: "basic", headers: new Headers({ "content-type": "application/json" }), text: async () => '{"access_token":"tok","token_type":"Bearer","expires_in":60}' }));
  const c = new TokenClient({ ...opts, fetch });
  expect(await c.getToken()).toBe("tok");
  expect(fetch).toHaveBeenCalledTimes(1);
  c.dispose();
});
`;
for (const [v, jest] of [[29, rootBin("jest")], [30, join(tools, "jest30/bin/jest.js")]]) {
  scenario(`Jest ${v} with testEnvironment jsdom`, async () => {
    const { dir } = project(`jest${v}-jsdom`, () => ({ "token.test.js": jsdomTest }), { type: "commonjs", jest: { testEnvironment: `jest-environment-jsdom-${v}` } });
    const { stdout, stderr } = await run(v === 29 ? jest : process.execPath, v === 29 ? ["--ci"] : [jest, "--ci"], { cwd: dir });
    assert.match(stdout + stderr, /Tests:\s+2 passed, 2 total/);
  });
}
// jest-fixed-jsdom and its kind set `customExportConditions: [""]` so that packages resolve as
// in Node: `require` then meets only the exports map's `default`, which must have a CommonJS
// branch (it was the ES module: SyntaxError "Cannot use import statement outside a module").
scenario("Jest 29 with jsdom and customExportConditions [\"\"] (as jest-fixed-jsdom sets)", async () => {
  const { dir } = project("jest29-conditions", () => ({ "token.test.js": jsdomTest }), {
    type: "commonjs",
    jest: { testEnvironment: "jest-environment-jsdom-29", testEnvironmentOptions: { customExportConditions: [""] } },
  });
  const { stdout, stderr } = await run(rootBin("jest"), ["--ci"], { cwd: dir });
  assert.match(stdout + stderr, /Tests:\s+2 passed, 2 total/);
});
// Vercel's edge runtime as apps test and run edge code off Vercel: Jest's edge environment (it
// asks for edge-light from CommonJS) and the edge-runtime package's VM. Its timers cannot be
// unref'd, so the Workers rules must apply (no timer outlives a request): the client is never
// disposed, and the test run and the host process end by themselves. `run`'s 60 s timeout is
// the liveness guard: a timer left behind would hold them for the token's hour.
const edgeJestTest = (k) => `const { TokenClient, TokenError } = require("tokenkit");
const client = new TokenClient({ tokenUrl: ${JSON.stringify(fx.url(k))}, clientId: "a", clientSecret: "b", allowedOrigins: [${JSON.stringify(fx.origin)}] });
test("in the edge runtime: one token for concurrent calls, a signed call, a refused origin", async () => {
  expect(typeof EdgeRuntime).toBe("string");
  const rs = await Promise.all(Array.from({ length: 10 }, () => client.fetch(${JSON.stringify(fx.api(k))})));
  expect(rs.map((r) => r.status)).toEqual(Array(10).fill(200));
  await expect(client.fetch("https://evil.example.com/")).rejects.toMatchObject({ code: "ORIGIN_NOT_ALLOWED" });
});
`;
scenario("Jest 30 with @edge-runtime/jest-environment: the run ends with the client alive", async () => {
  const { dir, key } = project("jest-edge", (k) => ({ "token.test.js": edgeJestTest(k) }), { type: "commonjs", jest: { testEnvironment: "@edge-runtime/jest-environment" } });
  const { stdout, stderr } = await run(process.execPath, [join(tools, "jest30/bin/jest.js"), "--ci"], { cwd: dir, timeout: 60_000 });
  assert.match(stdout + stderr, /Tests:\s+1 passed, 1 total/);
  assert.equal(fx.count(key), 1);
});
scenario("edge-runtime 4: an esbuild bundle in EdgeRuntime, 20 concurrent requests, the host exits", async () => {
  const { dir, key } = project("edge-runtime", (k) => ({
    // A fetch-event handler, as edge-runtime runs one; the client at module scope.
    "handler.js": `import { TokenClient, TokenError } from "tokenkit";
let client;
addEventListener("fetch", (event) => {
  event.respondWith((async () => {
    try {
      client ??= new TokenClient({ tokenUrl: ${JSON.stringify(fx.url(k))}, clientId: "a", clientSecret: "b", allowedOrigins: [${JSON.stringify(fx.origin)}] });
    } catch (e) {
      return Response.json({ code: e.code, message: e.message });
    }
    const r = await client.fetch(${JSON.stringify(fx.api(k))}, undefined, event);
    const denied = await client.fetch("https://evil.example.com/", undefined, event).then(() => "sent", (e) => e instanceof TokenError && e.code);
    return Response.json({ status: r.status, denied });
  })());
});
`,
    "host.mjs": `import { EdgeRuntime } from ${JSON.stringify(join(tools, "edge-runtime/dist/index.js"))};
import { readFileSync } from "node:fs";
const initialCode = readFileSync("handler.bundle.js", "utf8");
const runtime = new EdgeRuntime({ initialCode });
const all = await Promise.all(Array.from({ length: 20 }, async () => {
  const r = await runtime.dispatchFetch("http://localhost/");
  await r.waitUntil();
  return r.json();
}));
// Every request answered: no timer of the client's may be left (a waiter's sleep kept this
// host alive for a request's 10 s timeout once).
const timers = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
// Vercel's own edge compiles no wasm from bytes: code generation for wasm turned off.
const noWasm = await new EdgeRuntime({ initialCode, codeGeneration: { strings: false, wasm: false } }).dispatchFetch("http://localhost/").then((r) => r.json());
console.log(JSON.stringify({ all, timers, noWasm }));
`,
  }));
  await run(rootBin("esbuild"), ["handler.js", "--bundle", "--outfile=handler.bundle.js", "--log-level=warning"], { cwd: dir });
  const { stdout } = await run(process.execPath, ["host.mjs"], { cwd: dir, timeout: 60_000 });
  const { all, timers, noWasm } = lastJson(stdout) ?? {};
  assert.deepEqual(all, Array(20).fill(OK));
  assert.equal(timers, 0, "timers left running after every request was answered");
  assert.equal(fx.count(key), 1, "20 concurrent requests, one token request");
  assert.equal(noWasm.code, "WASM_UNAVAILABLE");
  assert.match(noWasm.message, /edge runtime .*"edge-light" condition/);
  assert.doesNotMatch(noWasm.message, /Content-Security-Policy/);
});
// The edge-light condition is Vercel's: its entry imports the wasm as Vercel's build does
// (`?module`, a compiled module: Vercel's edge compiles none from bytes). esbuild told to use
// the condition stops at that import, as docs/runtimes.md says; without it the default entry
// runs in the edge runtime (the row above).
scenario("esbuild --conditions=edge-light: stops at the wasm ?module import, as documented", async () => {
  const { dir } = project("esbuild-edge-light", () => ({ "handler.js": 'import { TokenClient } from "tokenkit";\nconsole.log(typeof TokenClient);\n' }));
  const built = await run(rootBin("esbuild"), ["handler.js", "--bundle", "--conditions=edge-light", "--outfile=out.js", "--log-level=error"], { cwd: dir }).then(() => "built", (e) => String(e.stderr ?? e));
  assert.match(built, /No loader is configured for "\.wasm" files: .*tokenkit_bg\.wasm\?module/);
  const docs = readFileSync(join(root, "docs/runtimes.md"), "utf8");
  assert.match(docs, /No loader is configured for "\.wasm" files/, "docs/runtimes.md quotes the error a user meets");
});
// Node without WebAssembly (--jitless): the error names the runtime, not a page's CSP.
scenario("Node --jitless: import and require throw WASM_UNAVAILABLE naming the runtime", async () => {
  const make = (cjs) => `${cjs ? 'const { TokenClient } = require("tokenkit");' : 'import { TokenClient } from "tokenkit";'}
try {
  new TokenClient({ tokenUrl: "https://auth.example.com/token", clientId: "a", clientSecret: "b", allowedOrigins: ["https://api.example.com"] });
  console.log(JSON.stringify({ made: true }));
} catch (e) {
  console.log(JSON.stringify({ code: e.code, message: e.message }));
}
`;
  const { dir } = project("node-jitless", () => ({ "esm.mjs": make(false), "cjs.cjs": make(true) }));
  for (const file of ["esm.mjs", "cjs.cjs"]) {
    const got = lastJson((await run(process.execPath, ["--jitless", file], { cwd: dir })).stdout);
    assert.equal(got?.code, "WASM_UNAVAILABLE", `${file}: ${JSON.stringify(got)}`);
    assert.match(got.message, /this runtime does not allow WebAssembly \(--jitless/);
  }
});
scenario("Vitest 4", async () => {
  const { dir, key } = project("vitest", (k) => ({ "token.test.js": runnerTest(k, false) }));
  const { stdout, stderr } = await run(toolBin("vitest"), ["run"], { cwd: dir });
  assert.match(stdout + stderr, /Tests\s+1 passed \(1\)/);
  assert.equal(fx.count(key), 1);
});

// ---- Bun, Deno (network permission only) ----------------------------------------------------
scenario("Bun", async () => {
  const { dir, key } = project("bun", (k) => ({ "app.js": serverApp(k) }));
  const { stdout } = await run(toolBin("bun"), ["app.js"], { cwd: dir });
  assert.deepEqual(lastJson(stdout), OK);
  assert.equal(fx.count(key), 1);
});
scenario("Deno (--allow-net only)", async () => {
  const { dir, key } = project("deno", (k) => ({ "app.js": serverApp(k) }));
  const { stdout } = await run(toolBin("deno"), ["run", "--allow-net=127.0.0.1", "app.js"], { cwd: dir, env: { ...ENV, DENO_DIR: join(work, ".deno") } });
  assert.deepEqual(lastJson(stdout), OK);
  assert.equal(fx.count(key), 1);
});
// Without --allow-net Deno refuses the fetch; the NETWORK error carries Deno's own words (as its
// message and cause), or says they were withheld when they contain the secret (a one-letter
// secret is in nearly every sentence, as "b" is in "NotCapable").
scenario("Deno without --allow-net: NETWORK says what Deno said", async () => {
  const { dir } = project("deno-no-net", (k) => ({
    "app.js": `import { TokenClient } from "tokenkit";
const out = [];
for (const clientSecret of ["s3cret-value-0123", "b"]) {
  const c = new TokenClient({ tokenUrl: ${JSON.stringify(fx.url(k))}, clientId: "a", clientSecret, maxRetries: 0 });
  const e = await c.getToken().catch((e) => e);
  out.push({ code: e.code, message: e.message, cause: String(e.cause) });
}
console.log(JSON.stringify(out));
`,
  }));
  const { stdout } = await run(toolBin("deno"), ["run", "app.js"], { cwd: dir, env: { ...ENV, DENO_DIR: join(work, ".deno") } });
  const [plain, short] = JSON.parse(stdout.trim().split("\n").pop());
  assert.equal(plain.code, "NETWORK");
  assert.match(plain.message, /^the token endpoint at 127\.0\.0\.1:\d+ could not be reached \(Requires net access to "127\.0\.0\.1:\d+", run again with the --allow-net flag\)$/);
  assert.match(plain.cause, /NotCapable|PermissionDenied/);
  assert.equal(short.code, "NETWORK");
  assert.match(short.message, /\(the platform's reason is withheld: it contains the client secret\)$/);
  assert.equal(short.cause, "undefined");
});

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

// ---- Next.js: a client component (browser entry) and a route handler (Node entry) -----------
const nextModes = [
  ["build (Turbopack) + start", ["build"]],
  ["build --webpack + start", ["build", "--webpack"]],
  ["dev (Turbopack)", null],
];
for (const [mode, buildArgs] of nextModes) scenario(`Next.js 16 ${mode}: client component, route handler`, async () => {
  const { dir, key } = project(`next-${mode.split(" ")[0]}${buildArgs?.[1] ?? ""}`, (k) => ({
    "app/layout.js": `export const metadata = { title: "loading", icons: { icon: "data:," } };\nexport default function Layout({ children }) { return <html><body>{children}</body></html>; }\n`,
    "app/page.js": `import Token from "./token";\nexport default function Page() { return <main><Token /></main>; }\n`,
    // The React recipe: create the client in an effect and dispose of it in the cleanup, so
    // StrictMode's double effect and unmounts leave no timers behind.
    "app/token.js": `"use client";
import { useEffect } from "react";
import { TokenClient, TokenError } from "tokenkit";
export default function Token() {
  useEffect(() => {
    const client = new TokenClient({ tokenUrl: ${JSON.stringify(fx.url(k))}, clientId: "a", clientSecret: "b", allowedOrigins: [${JSON.stringify(fx.origin)}] });
    let live = true;
    client.fetch(${JSON.stringify(fx.api(k))}).then(async (r) => {
      const denied = await client.fetch("https://evil.example.com/").then(() => "sent", (e) => e instanceof TokenError && e.code);
      if (live) document.title = JSON.stringify({ status: r.status, denied });
    }, (e) => { if (live) document.title = JSON.stringify({ code: e.code, message: e.message }); });
    return () => { live = false; client.dispose(); };
  }, []);
  return <p>token demo</p>;
}
`,
    "app/api/token/route.js": `import { TokenClient, TokenError } from "tokenkit";
export const dynamic = "force-dynamic";
// Module scope: one client (one token) for every request this server instance handles.
const client = new TokenClient({ tokenUrl: ${JSON.stringify(fx.url(k + "-route"))}, clientId: "a", clientSecret: "b", allowedOrigins: [${JSON.stringify(fx.origin)}] });
export async function GET() {
  const r = await client.fetch(${JSON.stringify(fx.api(k + "-route"))});
  const denied = await client.fetch("https://evil.example.com/").then(() => "sent", (e) => e instanceof TokenError && e.code);
  return Response.json({ status: r.status, denied });
}
`,
  }));
  if (buildArgs) await run(toolBin("next"), buildArgs, { cwd: dir, timeout: 600_000 });
  const s = await serve(toolBin("next"), [buildArgs ? "start" : "dev", "-H", "127.0.0.1", "-p", String(await freePort())], dir, /Local:\s+(http:\/\/[\d.:]+)/);
  try {
    // next dev renders in StrictMode: the effect runs, is cleaned up (dispose) and runs again,
    // so the first client's token request may have reached the server before it was aborted.
    await expectPage(`${s.url}/`, key, buildArgs ? 1 : 2);
    const routes = await Promise.all(Array.from({ length: 20 }, () => fetch(`${s.url}/api/token`).then((r) => r.json())));
    assert.deepEqual(routes, Array(20).fill(OK));
    assert.equal(fx.count(key + "-route"), 1, "20 concurrent route calls, one token request");
  } finally {
    await s.stop();
  }
});

// ---- Next.js edge routes: the edge-light entry (the wasm from an import, Workers rules) -----
// Turbopack only: Next.js 16.4.6's `build --webpack` fails on any edge route, one without
// tokenkit too (ENOENT route_client-reference-manifest.js).
for (const [mode, buildArgs] of nextModes.slice(0, 1)) scenario(`Next.js 16 ${mode}: an edge route handler (edge-light)`, async () => {
  const { dir, key } = project(`next-edge-${buildArgs[1] ?? "turbopack"}`, (k) => ({
    "app/layout.js": `export default function Layout({ children }) { return <html><body>{children}</body></html>; }\n`,
    "app/page.js": `export default function Page() { return <p>edge</p>; }\n`,
    "app/api/token/route.js": `import { TokenClient, TokenError } from "tokenkit";
export const runtime = "edge";
export const dynamic = "force-dynamic";
const client = new TokenClient({ tokenUrl: ${JSON.stringify(fx.url(k))}, clientId: "a", clientSecret: "b", allowedOrigins: [${JSON.stringify(fx.origin)}] });
export async function GET() {
  const r = await client.fetch(${JSON.stringify(fx.api(k))});
  const denied = await client.fetch("https://evil.example.com/").then(() => "sent", (e) => e instanceof TokenError && e.code);
  return Response.json({ status: r.status, denied });
}
`,
  }));
  await run(toolBin("next"), buildArgs, { cwd: dir, timeout: 600_000 });
  const s = await serve(toolBin("next"), ["start", "-H", "127.0.0.1", "-p", String(await freePort())], dir, /Local:\s+(http:\/\/[\d.:]+)/);
  try {
    const routes = await Promise.all(Array.from({ length: 20 }, () => fetch(`${s.url}/api/token`).then((r) => r.json())));
    assert.deepEqual(routes, Array(20).fill(OK));
    assert.equal(fx.count(key), 1, "20 concurrent edge calls, one token request");
  } finally {
    await s.stop();
  }
});

// ---- SvelteKit (Vite 8, adapter-node) on Node 22: the client made in onMount ---------------
scenario("SvelteKit 3 on Node 22: vite build, adapter-node server, a page", async () => {
  const node22 = join(tools, "node22/bin/node");
  const { dir, key } = project("sveltekit", (k) => ({
    "vite.config.js": `import { sveltekit } from "@sveltejs/kit/vite";\nimport adapter from "@sveltejs/adapter-node";\nimport { defineConfig } from "vite";\nexport default defineConfig({ plugins: [sveltekit({ adapter: adapter() })] });\n`,
    "src/app.html": `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>loading</title>%sveltekit.head%</head><body><div>%sveltekit.body%</div></body></html>\n`,
    "src/lib/app.js": browserApp(k),
    "src/routes/+page.svelte": `<script>\n  import { onMount } from "svelte";\n  onMount(() => { import("../lib/app.js"); });\n</script>\n<p>svelte</p>\n`,
  }));
  await run(node22, [join(tools, "vite/bin/vite.js"), "build", "--logLevel", "warn"], { cwd: dir });
  assert.deepEqual(wasmFiles(join(dir, "build")), [], "no .wasm in the build output");
  const s = await serve("/usr/bin/env", [`PORT=${await freePort()}`, "HOST=127.0.0.1", node22, "build"], dir, /Listening on (http:\/\/[\d.:]+)/);
  try {
    await expectPage(`${s.url}/`, key);
  } finally {
    await s.stop();
  }
});

// ---- Astro, Nuxt and React Router (framework mode) on Node 24 (Astro 7 needs 22.23.4+) ------
// Each loads the app in the page only (a client script, onMounted, useEffect), as their docs
// say to for browser-only code; the builds' client output must hold no .wasm, and no page
// may request one.
const node24 = join(tools, "node24/bin/node");
const astroFiles = (k) => ({
  "src/app.js": browserApp(k),
  "src/pages/index.astro": `<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>loading</title></head><body><p>astro</p><script>import "../app.js";</script></body></html>\n`,
});
const astro = join(tools, "astro/bin/astro.mjs");
scenario("Astro 7 build (static)", async () => {
  const { dir, key } = project("astro-build", astroFiles);
  await run(node24, [astro, "build"], { cwd: dir, env: { ...ENV, ASTRO_TELEMETRY_DISABLED: "1" } });
  await expectBuilt(join(dir, "dist"), key);
});
scenario("Astro 7 dev", async () => {
  const { dir, key } = project("astro-dev", astroFiles);
  const s = await serve("/usr/bin/env", ["ASTRO_TELEMETRY_DISABLED=1", node24, astro, "dev", "--host", "127.0.0.1", "--port", String(await freePort())], dir, /(http:\/\/127\.0\.0\.1:\d+)\//);
  try {
    await expectPage(`${s.url}/`, key);
  } finally {
    await s.stop();
  }
});
const nuxtFiles = (k) => ({
  // DevTools off: on a cold start they find a dependency of their own (@vue/devtools-core)
  // after the first page load, and Vite reloads the page (seen with no tokenkit in the app).
  "nuxt.config.js": "export default defineNuxtConfig({ devtools: { enabled: false } });\n",
  "lib/token.js": browserApp(k),
  "app.vue": `<script setup>\nonMounted(() => { import("./lib/token.js"); });\nuseHead({ title: "loading", link: [{ rel: "icon", href: "data:," }] });\n</script>\n<template><p>nuxt</p></template>\n`,
});
const nuxt = join(tools, "nuxt/bin/nuxt.mjs");
const NUXT_ENV = ["NUXT_TELEMETRY_DISABLED=1"];
scenario("Nuxt 4 build + its Node server", async () => {
  const { dir, key } = project("nuxt-build", nuxtFiles);
  await run(node24, [nuxt, "build"], { cwd: dir, env: { ...ENV, NUXT_TELEMETRY_DISABLED: "1" } });
  assert.deepEqual(wasmFiles(join(dir, ".output/public")), [], "no .wasm in the client output");
  const s = await serve("/usr/bin/env", [...NUXT_ENV, "HOST=127.0.0.1", `PORT=${await freePort()}`, node24, ".output/server/index.mjs"], dir, /Listening on (http:\/\/[\d.:]+)/);
  try {
    await expectPage(`${s.url}/`, key);
  } finally {
    await s.stop();
  }
});
scenario("Nuxt 4 dev", async () => {
  const { dir, key } = project("nuxt-dev", nuxtFiles);
  const s = await serve("/usr/bin/env", [...NUXT_ENV, node24, nuxt, "dev", "--host", "127.0.0.1", "--port", String(await freePort())], dir, /Ready in .*(http:\/\/127\.0\.0\.1:\d+)/);
  try {
    await expectPage(`${s.url}/`, key);
  } finally {
    await s.stop();
  }
});
const reactRouterFiles = (k) => ({
  // server.fs.allow: the matrix's layout, not tokenkit's: the framework is installed once in
  // tests/matrix/node_modules, above the project, and its dev server serves its own client
  // entry from there. tokenkit is in the project's node_modules, as in any app.
  "vite.config.js": `import { reactRouter } from "@react-router/dev/vite";\nimport { defineConfig } from "vite";\nexport default defineConfig({ plugins: [reactRouter()], server: { fs: { allow: [".", ${JSON.stringify(tools)}] } } });\n`,
  "app/root.jsx": `import { Links, Meta, Outlet, Scripts } from "react-router";\nexport default function App() {\n  return <html><head><meta charSet="utf-8" /><link rel="icon" href="data:," /><title>loading</title><Meta /><Links /></head><body><Outlet /><Scripts /></body></html>;\n}\n`,
  "app/routes.js": `import { index } from "@react-router/dev/routes";\nexport default [index("routes/home.jsx")];\n`,
  "app/token.js": browserApp(k),
  "app/routes/home.jsx": `import { useEffect } from "react";\nexport default function Home() {\n  useEffect(() => { import("../token.js"); }, []);\n  return <p>react router</p>;\n}\n`,
});
const reactRouter = join(tools, "@react-router/dev/bin.cjs");
scenario("React Router 8 (framework) build + react-router-serve", async () => {
  const { dir, key } = project("react-router-build", reactRouterFiles);
  await run(node24, [reactRouter, "build"], { cwd: dir });
  assert.deepEqual(wasmFiles(join(dir, "build/client")), [], "no .wasm in the client output");
  const s = await serve("/usr/bin/env", ["HOST=127.0.0.1", `PORT=${await freePort()}`, node24, join(tools, "@react-router/serve/bin.cjs"), "build/server/index.js"], dir, /(http:\/\/[\w.]+:\d+)/);
  try {
    await expectPage(`${s.url.replace("localhost", "127.0.0.1")}/`, key);
  } finally {
    await s.stop();
  }
});
scenario("React Router 8 (framework) dev", async () => {
  const { dir, key } = project("react-router-dev", reactRouterFiles);
  const s = await serve(node24, [reactRouter, "dev", "--host", "127.0.0.1", "--port", String(await freePort())], dir, /(http:\/\/127\.0\.0\.1:\d+)\//);
  try {
    await expectPage(`${s.url}/`, key);
  } finally {
    await s.stop();
  }
});

// ---- Cloudflare Workers: bundled by Wrangler as `wrangler deploy` does, run in workerd -------
scenario("workerd (Wrangler bundle, Miniflare)", async () => {
  const { dir, key } = project("workerd", () => ({
    "worker.js": `import { TokenClient, TokenError } from "tokenkit";
let client; // module scope: shared by every request this isolate serves
export default {
  async fetch(req, env, ctx) {
    client ??= new TokenClient({ tokenUrl: env.TOKEN_URL, clientId: "a", clientSecret: "b", allowedOrigins: [env.API_ORIGIN] });
    const r = await client.fetch(env.API_URL, undefined, ctx);
    const denied = await client.fetch("https://evil.example.com/", undefined, ctx).then(() => "sent", (e) => e instanceof TokenError && e.code);
    return Response.json({ status: r.status, denied });
  },
};
`,
    "wrangler.toml": `name = "matrix"\nmain = "worker.js"\ncompatibility_date = "2025-01-01"\n`,
  }));
  const { mf, log } = await bundleAndRun(dir, { TOKEN_URL: fx.url(key), API_URL: fx.api(key), API_ORIGIN: fx.origin }, ENV);
  assert.doesNotMatch(log, /\[WARNING\]/);
  try {
    const bodies = await Promise.all(Array.from({ length: 20 }, () => mf.dispatchFetch("http://localhost/").then((r) => r.json())));
    assert.deepEqual(bodies, Array(20).fill(OK));
    assert.equal(fx.count(key), 1);
  } finally {
    await mf.dispose();
  }
});

// ---- TypeScript: `tsc --init` defaults (TS 5.9: strict, exactOptionalPropertyTypes, ...) ------
/** The first ```js block of a README (the quick start), as a TypeScript module. */
const quickStart = (readme) => {
  const block = /```js\n([\s\S]*?)```/.exec(readFileSync(join(root, readme), "utf8"));
  assert.ok(block, `${readme} has a quick start`);
  return `export {};\n${block[1]}`;
};
const tsProject = async (name, files, edit) => {
  const { dir } = project(name, () => files);
  await run(rootBin("tsc"), ["--init"], { cwd: dir });
  const p = join(dir, "tsconfig.json");
  writeFileSync(p, edit(readFileSync(p, "utf8")));
  cpSync(join(root, "node_modules/@types/node"), join(dir, "node_modules/@types/node"), { recursive: true });
  await run(rootBin("tsc"), ["--noEmit", "-p", "."], { cwd: dir });
};
scenario("TypeScript: tsc --init defaults, a browser app", async () => {
  const app = `import { TokenClient, TokenError } from "tokenkit";
const secret: string | undefined = new URLSearchParams(location.search).get("s") ?? undefined;
const client = TokenClient.apiKey({ apiKey: secret ?? "", allowedOrigins: ["https://api.example.com"] });
const pkce = new TokenClient({ tokenUrl: "https://auth.example.com/token", clientId: "spa", clientAuth: "none", scope: undefined, allowedOrigins: ["https://api.example.com"] });
const res: Response = await client.fetch(new URL("https://api.example.com/v1/items"), { method: "POST", body: "{}" });
try {
  await pkce.getToken();
} catch (e) {
  if (e instanceof TokenError && e.code === "WASM_UNAVAILABLE") document.title = e.message;
}
console.log(res.status);
`;
  await tsProject("ts-defaults", { "index.ts": app }, (c) => c);
});
scenario("TypeScript: tsc --init with its Node settings (lib esnext, no DOM), both READMEs' quick starts", async () => {
  await tsProject("ts-node", { "index.ts": quickStart("README.md"), "npm.ts": quickStart("pkg-template/README.md") }, (c) =>
    c.replace('"types": [],', '"types": ["node"], "lib": ["esnext"],'),
  );
});

// ---- TypeScript: every module resolution it still supports, for all three entries ---------
// No skipLibCheck: the package's own type files are checked too. The sign-in client must
// keep every base method (`dispose`), which a sign-in declaration that cannot find its
// base silently loses.
const allEntries = `import { TokenClient, TokenError } from "tokenkit";
import { TokenClient as SignInClient } from "tokenkit/signin";
import type { BrokerEnv } from "tokenkit/broker";
const c = new TokenClient({ tokenUrl: "https://auth.example.com/token", clientId: "a", clientSecret: "b", allowedOrigins: ["https://api.example.com"] });
const s = new SignInClient({ grant: "authorization_code", authorizeUrl: "https://auth.example.com/auth", tokenUrl: "https://auth.example.com/token", clientId: "spa", clientAuth: "none", redirectUri: "https://app.example.com/cb", allowedOrigins: ["https://api.example.com"] });
const env: BrokerEnv = { TOKEN_URL: "https://auth.example.com/token" };
const url = s.createAuthorizationUrl();
c.dispose();
s.dispose();
export { env, url, TokenError };
`;
for (const [label, type, module, resolution, file] of [
  ["node10 (module commonjs)", "commonjs", "commonjs", "node10", "app.ts"],
  ["node16, CommonJS project", "commonjs", "node16", "node16", "app.ts"],
  ["node16, ESM project", "module", "node16", "node16", "app.ts"],
  ["nodenext, CommonJS project", "commonjs", "nodenext", "nodenext", "app.ts"],
  ["nodenext, ESM project", "module", "nodenext", "nodenext", "app.ts"],
  ["nodenext, a .cts file", "module", "nodenext", "nodenext", "app.cts"],
  ["bundler", "module", "esnext", "bundler", "app.ts"],
]) {
  // TypeScript 6.0 deprecates node10 (a project keeps it with ignoreDeprecations); 7.0
  // removed it.
  const versions = [["5.9", rootBin("tsc")], ["6.0", join(tools, "typescript6/bin/tsc")], ["7.0", join(tools, "typescript7/bin/tsc")]];
  for (const [version, tsc] of versions.filter(([v]) => resolution !== "node10" || v !== "7.0")) {
    scenario(`TypeScript ${version} ${label}: tokenkit, tokenkit/signin, tokenkit/broker`, async () => {
      const name = `ts${version}-${resolution}-${type}-${file.split(".")[1]}`;
      const deprecated = resolution === "node10" && version === "6.0" ? { ignoreDeprecations: "6.0" } : {};
      const tsconfig = { compilerOptions: { strict: true, noEmit: true, target: "es2022", module, moduleResolution: resolution, lib: ["es2022", "dom"], types: [], skipLibCheck: false, ...deprecated }, files: [file] };
      const { dir } = project(name, () => ({ [file]: allEntries, "tsconfig.json": JSON.stringify(tsconfig) }), { type });
      await run(process.execPath, [tsc, "-p", "."], { cwd: dir });
    });
  }
}

// ---- A browser extension's service worker (Manifest V3) --------------------------------------
// The extension's own CSP decides (`content_security_policy.extension_pages`): without
// 'wasm-unsafe-eval' the constructor throws WASM_UNAVAILABLE naming that manifest key (the
// message spoke of a page's CSP, and cut the browser's reason mid-word); with it, a token and
// a signed call from the worker.
scenario("Chrome extension (MV3) service worker: works with 'wasm-unsafe-eval'; without it WASM_UNAVAILABLE names the manifest key", async () => {
  const { chromium } = await import("playwright-core");
  const outcome = async (name, csp) => {
    const { dir, key } = project(name, (k) => ({ "app.js": app(k, ESM, "(v) => { self.result = v; }") }));
    await run(rootBin("esbuild"), ["app.js", "--bundle", "--format=esm", "--outfile=ext/sw.js"], { cwd: dir });
    const manifest = { manifest_version: 3, name, version: "1.0", background: { service_worker: "sw.js", type: "module" }, host_permissions: [`${fx.origin}/*`], content_security_policy: { extension_pages: csp } };
    writeFileSync(join(dir, "ext/manifest.json"), JSON.stringify(manifest));
    const ext = join(dir, "ext");
    const context = await chromium.launchPersistentContext(join(dir, "profile"), {
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_ARGS, `--disable-extensions-except=${ext}`, `--load-extension=${ext}`],
    });
    try {
      const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent("serviceworker", { timeout: 30_000 }));
      await worker.evaluate(() => new Promise((resolve) => { const poll = () => (self.result ? resolve() : setTimeout(poll, 20)); poll(); }));
      return { result: await worker.evaluate(() => self.result), key };
    } finally {
      await context.close();
    }
  };
  const refused = await outcome("mv3-strict", "script-src 'self'; object-src 'self'");
  assert.equal(refused.result.code, "WASM_UNAVAILABLE", JSON.stringify(refused.result));
  assert.match(refused.result.message, /content_security_policy\.extension_pages/);
  assert.match(refused.result.message, /'wasm-unsafe-eval'/);
  assert.equal(fx.count(refused.key), 0);
  const allowed = await outcome("mv3-wasm", "script-src 'self' 'wasm-unsafe-eval'; object-src 'self'");
  assert.deepEqual(allowed.result, OK);
  assert.equal(fx.count(allowed.key), 1);
});

// ---- A page with a strict Content-Security-Policy --------------------------------------------
scenario("CSP: 'wasm-unsafe-eval' works; without it the constructor throws WASM_UNAVAILABLE", async () => {
  const { dir, key } = project("csp", (k) => ({ "app.js": browserApp(k), "www/index.html": INDEX_HTML("app.js") }));
  await run(rootBin("esbuild"), ["app.js", "--bundle", "--format=esm", "--outfile=www/app.js"], { cwd: dir });
  const strict = await staticServer(join(dir, "www"), { "content-security-policy": "default-src 'self'; script-src 'self'; connect-src *; img-src data:" });
  try {
    const { result } = await pageResult(`${strict.url}/`);
    assert.equal(result.code, "WASM_UNAVAILABLE", JSON.stringify(result));
    assert.match(result.message, /'wasm-unsafe-eval'/);
    assert.equal(fx.count(key), 0);
  } finally {
    await strict.stop();
  }
  const allowed = await staticServer(join(dir, "www"), { "content-security-policy": "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src *; img-src data:" });
  try {
    await expectPage(`${allowed.url}/`, key);
  } finally {
    await allowed.stop();
  }
});
