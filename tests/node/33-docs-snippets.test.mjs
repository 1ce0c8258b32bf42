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
import { startDemo } from "../../www/serve.mjs";

const root = new URL("../../", import.meta.url).pathname;
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "tokenkit-snippets-"));
let demo;

before(async () => {
  mkdirSync(join(dir, "node_modules/@types"), { recursive: true });
  symlinkSync(join(root, "pkg"), join(dir, "node_modules/tokenkit"));
  symlinkSync(join(root, "node_modules/@types/node"), join(dir, "node_modules/@types/node"));
  demo = await startDemo();
});
after(async () => {
  await demo?.stop();
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
