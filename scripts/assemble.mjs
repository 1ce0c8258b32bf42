// Assembles the npm package in pkg/ from wasm-bindgen's output (target/bindgen/) and
// pkg-template/, and prints the size that every user downloads.
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { buildSync, transformSync } from "esbuild";
import { dirname, join, relative } from "node:path";

const root = join(dirname(new URL(import.meta.url).pathname), "..");
const out = join(root, "pkg");
const bindgen = join(root, "target/bindgen");

rmSync(out, { recursive: true, force: true });
mkdirSync(out);
cpSync(bindgen, out, { recursive: true });

const shell = readdirSync(join(out, "snippets"))
  .map((d) => `snippets/${d}/js/shell.js`)
  .filter((f) => existsSync(join(out, f)));
if (shell.length !== 1) throw new Error(`expected one shell.js snippet, found ${shell.length}`);
// wasm-bindgen's glue and our shell ship minified (whitespace and syntax only: every name
// stays, so a stack trace still reads): the readable sources are js/ and the Rust crate. The
// boundary's own constants (src/boundary.rs) are inlined, and their names dropped.
const minify = (file) =>
  writeFileSync(file, transformSync(readFileSync(file, "utf8"), { format: "esm", target: "es2019", minifyWhitespace: true, minifySyntax: true, treeShaking: true, legalComments: "none" }).code);
for (const f of ["tokenkit.js", shell[0]]) minify(join(out, f));
// The edge entry ("edge-light": Vercel's edge runtime, Next.js edge routes) is the Workers
// entry with the wasm imported as `tokenkit_bg.wasm?module`, the convention there: the edge
// runtime compiles wasm only from an import, never from bytes. The Workers rules apply.
function edgeEntry(dir) {
  const workerd = readFileSync(join(dir, "workerd.js"), "utf8");
  const text = workerd.replace('import wasm from "./server/tokenkit_bg.wasm";', 'import wasm from "./server/tokenkit_bg.wasm?module";');
  if (text === workerd) throw new Error("workerd.js no longer imports ./server/tokenkit_bg.wasm");
  writeFileSync(join(dir, "edge.js"), "// Edge entry (edge-light): workerd.js with the wasm imported as tokenkit_bg.wasm?module.\n" + text);
}

// The browser and Node entries inline the wasm, so loading needs no top-level await and no
// file or asset that a bundler could fail to copy (see js/unpack.js): one character per byte,
// the bytes ranked by how often they occur and given the characters that cost least in a JS
// string, first printable ASCII (but " and \), then the control characters a bundler prints
// raw, then two-character escapes, then \xNN. The file stays ASCII, so a page served in
// another charset reads the same characters.
const ESCAPES = { 0x08: "\\b", 0x09: "\\t", 0x0a: "\\n", 0x0b: "\\v", 0x0c: "\\f", 0x0d: "\\r", 0x22: '\\"', 0x5c: "\\\\" };
const CHEAPEST = [];
for (let c = 0x20; c < 0x7f; c++) if (c !== 0x22 && c !== 0x5c) CHEAPEST.push(c);
for (let c = 1; c < 0x20; c++) if (!(c in ESCAPES)) CHEAPEST.push(c);
CHEAPEST.push(0x7f, ...Object.keys(ESCAPES).map(Number), 0);
for (let c = 0x80; c < 0x100; c++) CHEAPEST.push(c);
const literal = (codes) => '"' + codes.map((c) => ESCAPES[c] ?? (c < 0x80 && c !== 0 ? String.fromCharCode(c) : "\\x" + c.toString(16).padStart(2, "0"))).join("") + '"';
function inlineWasm(dir) {
  const bytes = readFileSync(join(dir, "tokenkit_bg.wasm"));
  const count = new Array(256).fill(0);
  for (const b of bytes) count[b]++;
  const ranked = [...count.keys()].sort((a, b) => count[b] - count[a] || a - b);
  const code = new Array(256);
  const table = new Array(256);
  ranked.forEach((byte, i) => {
    code[byte] = CHEAPEST[i];
    table[CHEAPEST[i]] = byte;
  });
  writeFileSync(
    join(dir, "wasm-inline.js"),
    `// tokenkit's wasm (tokenkit_bg.wasm beside this file), one character per byte, for the browser and Node entries: see unpack.js.\n` +
      `export const size = ${bytes.length};\nexport const table = ${literal(table)};\nexport const wasm = ${literal([...bytes].map((b) => code[b]))};\n`,
  );
  return bytes;
}
const wasmBytes = inlineWasm(out);
cpSync(join(root, "js/unpack.js"), join(out, "unpack.js"));

// The servers' build of an entry (with private_key_jwt, which a page must never use: the
// browser builds leave it out) goes in <dir>/server/: its glue, wasm (also inlined), shell
// and `extras` (js/ modules no wasm import names, which import ./shell.js: js/server.js
// always) beside the shell. The Node and Workers entries load it; the browser entry never.
// Resolves to the paths of its shell and of a module beside it, from <dir>.
function serverTree(dir, from, extras) {
  const tree = join(dir, "server");
  cpSync(join(root, from), tree, { recursive: true });
  const shells = readdirSync(join(tree, "snippets"))
    .map((d) => `snippets/${d}/js/shell.js`)
    .filter((f) => existsSync(join(tree, f)));
  if (shells.length !== 1) throw new Error(`expected one shell.js snippet in ${from}, found ${shells.length}`);
  const beside = (f) => shells[0].replace("shell.js", f);
  for (const f of extras) cpSync(join(root, "js", f), join(tree, beside(f)));
  for (const f of ["tokenkit.js", shells[0], ...extras.map(beside)]) minify(join(tree, f));
  inlineWasm(tree);
  return { shell: `./server/${shells[0]}`, beside: (f) => `./server/${beside(f)}` };
}
/** Whether pkg-template entry `name` is a server's (Node, Workers): it loads the server tree. */
const isServerEntry = (name) => name === "node.js" || name === "workerd.js";
/** A server entry's text: the template's imports of the glue, wasm and inlined wasm pointed at the server tree. */
const toServer = (text) =>
  text.replaceAll('"./tokenkit.js"', '"./server/tokenkit.js"').replaceAll('"./tokenkit_bg.wasm"', '"./server/tokenkit_bg.wasm"').replaceAll('"./wasm-inline.js"', '"./server/wasm-inline.js"');

// The error codes, from the core's one list (src/proto/error.rs CODES): the TokenErrorCode type
// and the `tokenkit/codes` constants (an app writes `e.code === codes.OAUTH_ERROR`).
const codeList = /pub const CODES: &\[&str\] = &\[([^\]]*)\];/.exec(readFileSync(join(root, "src/proto/error.rs"), "utf8"));
const codes = codeList ? [...codeList[1].matchAll(/"([A-Z_]+)"/g)].map((m) => m[1]) : [];
if (codes.length < 10) throw new Error("src/proto/error.rs: no CODES list to generate the error codes from");
const codesObject = `Object.freeze({ ${codes.map((c) => `${c}: "${c}"`).join(", ")} })`;
const generated = "// Generated from src/proto/error.rs CODES by scripts/assemble.mjs.\n";
writeFileSync(join(out, "codes.js"), `${generated}/** Every \`TokenError\` code, as constants: \`e.code === codes.OAUTH_ERROR\`. */\nexport const codes = ${codesObject};\n`);
writeFileSync(join(out, "codes.cjs"), `${generated}"use strict";\nexports.codes = ${codesObject};\n`);
const codesTypes = (base) => `${generated}import type { TokenErrorCode } from "${base}";\n/** Every \`TokenError\` code, as constants: \`e.code === codes.OAUTH_ERROR\`. */\nexport declare const codes: { readonly [K in TokenErrorCode]: K };\n`;
writeFileSync(join(out, "codes.d.ts"), codesTypes("./tokenkit.js"));
writeFileSync(join(out, "codes.d.cts"), codesTypes("./tokenkit.cjs"));

const rootServer = serverTree(out, "target/bindgen-server", ["jws.js", "server.js"]);
for (const name of readdirSync(join(root, "pkg-template"), { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name)) {
  let text = readFileSync(join(root, "pkg-template", name), "utf8");
  text = isServerEntry(name) ? toServer(text).replaceAll("%SHELL%", rootServer.shell).replaceAll("%SERVER%", rootServer.beside("server.js")) : text.replaceAll("%SHELL%", `./${shell[0]}`);
  if (text.includes("%SERVER%")) throw new Error(`pkg-template/${name}: only the server entries load js/server.js`);
  text = text.replace("%ERROR_CODES%", codes.map((c) => `  | "${c}"`).join("\n"));
  writeFileSync(join(out, name), text);
}
edgeEntry(out);

// node.cjs and browser.cjs: the CommonJS entries (require; Jest's default mode and its jsdom
// environment, which asks for the browser condition), each the ESM entry bundled with the
// glue, shell and inlined wasm into one CommonJS file, so it needs no require(esm) (absent
// before Node 20.19). Each is a second copy of the JS: its TokenError is not `instanceof`
// the ESM entry's. jsdom's global has no TextDecoder or TextEncoder (the glue makes one of
// each on load): these take Node's when the global lacks them. browser.cjs reaches them
// through process.getBuiltinModule, never a require() a bundler would try to resolve.
const NODE_TEXT = "require(\"node:util\")";
const BROWSER_TEXT = "globalThis.process.getBuiltinModule(\"node:util\")";
function cjsEntry(dir) {
  for (const [entry, platform, util] of [["node", "node", NODE_TEXT], ["browser", "browser", BROWSER_TEXT]]) {
    buildSync({
      entryPoints: [join(dir, `${entry}.js`)],
      outfile: join(dir, `${entry}.cjs`),
      bundle: true,
      format: "cjs",
      platform,
      target: platform === "node" ? "node20" : "es2019",
      // Not minified: Node and Jest print the source line an uncaught error was thrown
      // from, and a minified bundle is one line of 65 KB. No browser downloads these.
      legalComments: "none",
      banner: { js: `var TextDecoder=globalThis.TextDecoder||${util}.TextDecoder,TextEncoder=globalThis.TextEncoder||${util}.TextEncoder;` },
      logLevel: "error",
    });
  }
}
// The Node ESM entry, bundled with the glue and the shell, readable for the same reason
// (the browser's copies of those files stay minified: they are what a page downloads).
function nodeEntry(dir) {
  const built = buildSync({ entryPoints: [join(dir, "node.js")], bundle: true, format: "esm", platform: "node", target: "node20", legalComments: "none", write: false, logLevel: "error" });
  writeFileSync(join(dir, "node.js"), built.outputFiles[0].text);
}
nodeEntry(out);
cjsEntry(out);

// tokenkit/signin: the same entries over the sign-in build (target/bindgen-signin/), in
// signin/, sharing unpack.js. Apps that do not sign users in never download it.
// tokenkit/dpop: the same again over the DPoP build (target/bindgen-dpop/: sign-in and
// DPoP-bound tokens), in dpop/, its entries also handing js/dpop.js to the shell. Apps that
// do not bind tokens to a key never download it.
function variant(name, withDpop) {
  const dir = join(out, name);
  cpSync(join(root, `target/bindgen-${name}`), dir, { recursive: true });
  const shells = readdirSync(join(dir, "snippets"))
    .map((d) => `snippets/${d}/js/shell.js`)
    .filter((f) => existsSync(join(dir, f)));
  if (shells.length !== 1) throw new Error(`expected one shell.js snippet in ${name}/, found ${shells.length}`);
  const shellFile = shells[0];
  // js/signin.js and js/dpop.js are no wasm imports (the Rust side calls nothing in them):
  // they are copied beside the shell snippet, whose ./shell.js they import.
  const beside = (f) => shellFile.replace("shell.js", f);
  // js/dpop.js signs with js/jws.js: the DPoP build's pages need it too.
  const extras = ["signin.js", ...(withDpop ? ["dpop.js", "jws.js"] : [])];
  for (const f of extras) cpSync(join(root, "js", f), join(dir, beside(f)));
  for (const f of ["tokenkit.js", shellFile, ...extras.map(beside)]) minify(join(dir, f));
  const server = serverTree(dir, `target/bindgen-${name}-server`, ["signin.js", "jws.js", "server.js", ...(withDpop ? ["dpop.js"] : [])]);
  // The entries are the default ones with js/signin.js's signinClass in place of clientClass
  // (and, for DPoP, js/dpop.js handed to the shell before any client is made).
  for (const entry of ["browser.js", "node.js", "workerd.js"]) {
    const serves = isServerEntry(entry);
    const template = readFileSync(join(root, "pkg-template", entry), "utf8");
    const imports = 'import { setRuntime } from "%SHELL%";\nimport { signinClass as clientClass } from "%SIGNIN%";' +
      (withDpop ? '\nimport { setDpop } from "%SHELL%";\nimport * as dpop from "%DPOP%";\nsetDpop(dpop);' : "");
    const at = serves ? server.beside : (f) => `./${beside(f)}`;
    const text = (serves ? toServer(template) : template)
      .replace('import { clientClass, setRuntime } from "%SHELL%";', imports)
      .replaceAll("%SHELL%", serves ? server.shell : `./${shellFile}`)
      .replaceAll("%SIGNIN%", at("signin.js"))
      .replaceAll("%DPOP%", at("dpop.js"))
      .replaceAll("%SERVER%", at("server.js"))
      .replaceAll('"./unpack.js"', '"../unpack.js"');
    if (!text.includes("signinClass as clientClass")) throw new Error(`pkg-template/${entry} no longer imports clientClass from %SHELL%`);
    writeFileSync(join(dir, entry), text);
  }
  edgeEntry(dir);
  const wasm = inlineWasm(dir);
  nodeEntry(dir);
  cjsEntry(dir);
  cpSync(join(root, `pkg-template/${name}/index.d.ts`), join(dir, "index.d.ts"));
  // For resolvers without exports maps (webpack 4, TypeScript's node10): the entry is a
  // folder whose own package.json names its entries ("type": "module" keeps its .js ESM).
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ private: true, type: "module", main: "./node.cjs", module: "./browser.js", browser: "./browser.js", types: "./index.d.ts" }, null, 2) + "\n",
  );
  return { wasm, shipped: ["browser.js", "tokenkit.js", shellFile, ...extras.map(beside), "wasm-inline.js"].map((f) => `${name}/${f}`).concat("unpack.js") };
}
const { wasm: signinWasm, shipped: signinShipped } = variant("signin", false);
const { wasm: dpopWasm, shipped: dpopShipped } = variant("dpop", true);

// tokenkit/broker: the prebuilt broker (make worker-build's worker/pkg/), its Worker entry
// (worker/index.js, the one the tests and the demo run), types and a wrangler.toml template.
const broker = join(out, "broker");
cpSync(join(root, "worker/pkg"), broker, { recursive: true });
writeFileSync(join(broker, "index.js"), readFileSync(join(root, "worker/index.js"), "utf8").replaceAll('"./pkg/', '"./'));
cpSync(join(root, "pkg-template/broker"), broker, { recursive: true });
// CommonJS twins of the type files (.d.cts) for the `require` conditions: TypeScript's node16
// resolution reads a .d.ts in this "type": "module" package as ESM, which a CommonJS
// project cannot import (TS1479). Same declarations; the sign-in ones import the base twin.
for (const [from, to, edit] of [
  ["tokenkit.d.ts", "tokenkit.d.cts", (t) => t],
  ["signin/index.d.ts", "signin/index.d.cts", (t) => t.replaceAll('"../tokenkit.js"', '"../tokenkit.cjs"')],
  ["dpop/index.d.ts", "dpop/index.d.cts", (t) => t.replaceAll('"../signin/index.js"', '"../signin/index.cjs"')],
  ["broker/index.d.ts", "broker/index.d.cts", (t) => t],
]) {
  const text = readFileSync(join(out, from), "utf8");
  const twin = edit(text);
  if (from.includes("/index.d.ts") && !from.startsWith("broker/") && twin === text) throw new Error(`${from} no longer imports its base's types`);
  writeFileSync(join(out, to), twin);
}
// The user documentation travels with the package (docs/, which the npm README links to);
// the repository's README is for the repository.
// Contributors' pages (building, testing, the architecture) stay in the repository.
cpSync(join(root, "docs"), join(out, "docs"), { recursive: true, filter: (f) => !/(contributing|architecture)\.md$/.test(f) });
const pkg = JSON.parse(readFileSync(join(out, "package.json"), "utf8"));
pkg.version = /^version = "(.*)"$/m.exec(readFileSync(join(root, "Cargo.toml"), "utf8"))[1];
writeFileSync(join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");

// What a browser downloads: the entry and everything it imports.
const shipped = ["browser.js", "tokenkit.js", shell[0], "wasm-inline.js", "unpack.js"];
const read = (files) => Buffer.concat(files.map((f) => readFileSync(join(out, f))));
const gzip = (files) => gzipSync(read(files), { level: 9 }).length;
const bytes = read(shipped).length;
const gz = gzip(shipped);
// What inlining costs: the design before it fetched the .wasm as a separate asset, gzipped
// apart from the JS (a bundler merges the JS files into one chunk; the .wasm stays a file).
const separate = gzip(["browser.js", "tokenkit.js", shell[0]]) + gzip(["tokenkit_bg.wasm"]);
const report = {
  wasmBytes: wasmBytes.length,
  shippedBytes: bytes,
  shippedGzipBytes: gz,
  separateAssetGzipBytes: separate,
  files: shipped,
  signin: { wasmBytes: signinWasm.length, shippedGzipBytes: gzip(signinShipped), files: signinShipped },
  dpop: { wasmBytes: dpopWasm.length, shippedGzipBytes: gzip(dpopShipped), files: dpopShipped },
};
writeFileSync(join(root, "target/size.json"), JSON.stringify(report, null, 2) + "\n");
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
console.log(
  `tokenkit: ${relative(root, out)}/ assembled; .wasm ${kb(wasmBytes.length)}; browser download ${kb(bytes)} raw, ` +
    `${kb(gz)} gzip -9 (budget 42 KB, tests/node/11-size); inlining the wasm costs ${kb(gz - separate)} gzip -9 over a separate .wasm; ` +
    `tokenkit/signin: .wasm ${kb(signinWasm.length)}, browser download ${kb(report.signin.shippedGzipBytes)} gzip -9; ` +
    `tokenkit/dpop: .wasm ${kb(dpopWasm.length)}, browser download ${kb(report.dpop.shippedGzipBytes)} gzip -9`,
);
