// Every code block of the READMEs and docs/ is code: type-checked with `tsc --strict` against the built
// package, and the quick starts that can run here run unchanged (but for the ports) against
// `make demo`'s own servers (www/serve.mjs startDemo, on free ports).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createServer } from "node:http";
import { buildSync } from "esbuild";
import { startDemo } from "../../www/serve.mjs";
import { launchChromium } from "../fixtures/chromium.mjs";
import { signInAt } from "../fixtures/oidc.mjs";

const root = new URL("../../", import.meta.url).pathname;
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "tokenkit-snippets-"));
let demo;

// The sign-in quick start's app, on localhost as the README has it (a port of its own in place
// of Vite's 5173): `/` the page with the button, `/callback` the callback page, their scripts
// bundled from the README's blocks.
const app = {};
before(async () => {
  mkdirSync(join(dir, "node_modules/@types"), { recursive: true });
  symlinkSync(join(root, "pkg"), join(dir, "node_modules/tokenkit"));
  symlinkSync(join(root, "node_modules/@types/node"), join(dir, "node_modules/@types/node"));
  app.server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const html = (script, body = "") => `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">${body}<script type="module" src="${script}"></script>`;
    if (path === "/") return res.writeHead(200, { "content-type": "text/html" }).end(html("/index.js", '<button id="sign-in">Sign in</button>'));
    if (path === "/callback") return res.writeHead(200, { "content-type": "text/html" }).end(html("/callback.js"));
    if (path === "/index.js" || path === "/callback.js") return res.writeHead(200, { "content-type": "text/javascript" }).end(app.scripts[path]);
    res.writeHead(404).end();
  });
  await new Promise((r) => app.server.listen(0, "127.0.0.1", r));
  app.origin = `http://localhost:${app.server.address().port}`;
  demo = await startDemo({ redirects: [`${app.origin}/callback`] });
});
after(async () => {
  await demo?.stop();
  app.server?.closeAllConnections();
  await new Promise((r) => (app.server ? app.server.close(r) : r()));
  rmSync(dir, { recursive: true, force: true });
});

/**
 * The ```js and ```ts blocks of `file`: [name, code], checked as what they are (a .js block
 * as JavaScript with checkJs, a .ts one as TypeScript); a block whose first line is
 * `// <name>.ts: ...` keeps that name (another block imports it).
 */
function blocks(file) {
  const out = [];
  for (const m of readFileSync(join(root, file), "utf8").matchAll(/```(js|ts)\n([\s\S]*?)```/g)) {
    const named = /^\/\/ ([\w.-]+\.ts)\b/.exec(m[2]);
    out.push([named ? named[1] : `${file.replace(/\W/g, "-")}-${out.length + 1}.${m[1]}`, m[2]]);
  }
  return out;
}

test("every code block of the READMEs and docs/ type-checks under tsc --strict (with the DOM and Node's types)", async () => {
  const project = join(dir, "ts");
  mkdirSync(project, { recursive: true });
  symlinkSync(join(dir, "node_modules"), join(project, "node_modules"));
  const docs = readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`);
  const files = [...blocks("README.md"), ...blocks("pkg-template/README.md"), ...docs.flatMap(blocks)];
  assert.ok(files.length >= 6, `${files.length} blocks`);
  for (const [name, code] of files) writeFileSync(join(project, name), `${code.includes("import ") || code.includes("export ") ? "" : "export {};\n"}${code}`);
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { strict: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, allowJs: true, checkJs: true, target: "es2022", module: "esnext", moduleResolution: "bundler", lib: ["es2022", "dom"], types: ["node"], noEmit: true, skipLibCheck: false },
    }),
  );
  try {
    await run(join(root, "node_modules/.bin/tsc"), ["-p", project], { cwd: project });
  } catch (e) {
    assert.fail(`tsc:\n${e.stdout}${e.stderr}`);
  }
});

/** A README block run as a Node module against the demo's servers: its stdout. */
async function runBlock(code, name) {
  const text = code.replaceAll("http://127.0.0.1:8001", demo.authUrl).replaceAll("http://127.0.0.1:8002", demo.brokerUrl);
  writeFileSync(join(dir, name), text);
  const { stdout } = await run(process.execPath, [join(dir, name)], { cwd: dir, timeout: 60_000 });
  return stdout;
}

test("the quick starts run against make demo's servers: through the broker, and a service with client credentials", async () => {
  const [broker, service] = blocks("README.md").filter(([, c]) => c.includes("new TokenClient") && !c.includes("tokenkit/signin"));
  assert.match(broker[1], /brokerUrl/);
  assert.match(await runBlock(broker[1], "broker.mjs"), /^200 \{ ok: true/m);
  assert.match(service[1], /clientSecret/);
  assert.match(await runBlock(service[1], "service.mjs"), /^200 \{ ok: true/m);
  assert.equal(demo.auth.count("quickstart"), 1, "one token request for the service");
});

test("the sign-in quick start runs in Chromium: the button, the sign-in server, the callback's API call, and a reload", async () => {
  const [auth, button, callback] = blocks("README.md").filter(([, c]) => c.includes("./auth.js") || c.includes("tokenkit/signin"));
  assert.match(auth[0], /^auth\.ts$/);
  assert.match(button[1], /#sign-in/);
  assert.match(callback[1], /completeAuthorization/);
  // The README's addresses, for this run's: the app's origin and the demo's sign-in server.
  const local = (code) => code.replaceAll("http://localhost:5173", app.origin).replaceAll("http://127.0.0.1:8003", demo.oidc.issuer);
  for (const [name, code] of [auth, ["index.ts", button[1]], ["callback.ts", callback[1]]]) writeFileSync(join(dir, name), local(code));
  const bundle = (entry) =>
    buildSync({ entryPoints: [join(dir, entry)], bundle: true, format: "esm", write: false, logLevel: "error", alias: { "tokenkit/signin": join(root, "pkg/signin/browser.js") } }).outputFiles[0].text;
  app.scripts = { "/index.js": bundle("index.ts"), "/callback.js": bundle("callback.ts") };

  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    // What the callback page prints: the user's claims from the sign-in server's /me.
    const printed = new Promise((resolve) => page.on("console", (m) => m.type() === "log" && resolve(m.args()[0]?.jsonValue())));
    await page.goto(`${app.origin}/`);
    await page.click("#sign-in");
    await signInAt(page);
    const user = await printed;
    assert.equal(user?.sub, "alice", `the callback page printed the user (errors: ${errors.join("; ")})`);
    assert.deepEqual(errors, []);
    assert.equal(page.url(), `${app.origin}/callback`, "the code is gone from the address bar");
    // A reload: no code left, no other tab: LOGIN_REQUIRED, as the README says.
    const refused = page.waitForEvent("pageerror");
    await page.reload();
    assert.match(String(await refused), /TokenError: the user must sign in/, "LOGIN_REQUIRED's message");
  } finally {
    await browser.close();
  }
});
