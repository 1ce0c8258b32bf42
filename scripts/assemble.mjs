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
// stays, so a stack trace still reads): the readable sources are js/ and the Rust crate.
for (const f of ["tokenkit.js", shell[0]]) {
  const code = readFileSync(join(out, f), "utf8");
  writeFileSync(join(out, f), transformSync(code, { format: "esm", minifyWhitespace: true, minifySyntax: true, legalComments: "none" }).code);
}
for (const name of readdirSync(join(root, "pkg-template"), { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name)) {
  const text = readFileSync(join(root, "pkg-template", name), "utf8").replaceAll("%SHELL%", `./${shell[0]}`);
  writeFileSync(join(out, name), text);
}

// The Node entries inline the wasm (a server downloads it once, not per user), so they need
// no file read that a bundler could break.
const wasmBytes = readFileSync(join(out, "tokenkit_bg.wasm"));
// CommonJS, so that both entries share this one copy: node.js imports it, node.cjs requires it.
writeFileSync(join(out, "wasm-inline.cjs"), `// The wasm, base64, for the Node entries.\nmodule.exports = ${JSON.stringify(wasmBytes.toString("base64"))};\n`);

// node.cjs: the CommonJS entry (require, Jest's default mode), node.js bundled with the glue
// and shell into one CommonJS file, so it needs no require(esm) (absent before Node 20.19).
// It is a second copy of the JS: its TokenError is not \`instanceof\` the ESM entry's.
buildSync({
  entryPoints: [join(out, "node.js")],
  external: ["./wasm-inline.cjs"],
  outfile: join(out, "node.cjs"),
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: "none",
  // Only the glue's async init (never called here) reads import.meta.url.
  define: { "import.meta.url": '""' },
  logLevel: "error",
});

// tokenkit/broker: the prebuilt broker (make worker-build's worker/pkg/), its Worker entry
// (worker/index.js, the one the tests and the demo run), types and a wrangler.toml template.
const broker = join(out, "broker");
cpSync(join(root, "worker/pkg"), broker, { recursive: true });
writeFileSync(join(broker, "index.js"), readFileSync(join(root, "worker/index.js"), "utf8").replaceAll('"./pkg/', '"./'));
cpSync(join(root, "pkg-template/broker"), broker, { recursive: true });
const pkg = JSON.parse(readFileSync(join(out, "package.json"), "utf8"));
pkg.version = /^version = "(.*)"$/m.exec(readFileSync(join(root, "Cargo.toml"), "utf8"))[1];
writeFileSync(join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");

// What a browser downloads: the wasm, wasm-bindgen's glue, our shell and the entry.
const shipped = ["tokenkit_bg.wasm", "tokenkit.js", shell[0], "browser.js"];
const bytes = Buffer.concat(shipped.map((f) => readFileSync(join(out, f))));
const gz = gzipSync(bytes, { level: 9 }).length;
const wasm = readFileSync(join(out, "tokenkit_bg.wasm")).length;
const report = { wasmBytes: wasm, shippedBytes: bytes.length, shippedGzipBytes: gz, files: shipped };
writeFileSync(join(root, "target/size.json"), JSON.stringify(report, null, 2) + "\n");
const inline = readFileSync(join(out, "wasm-inline.cjs")).length;
console.log(
  `tokenkit: Node entries inline the wasm: +${(inline / 1024).toFixed(1)} KB raw in the package (not in the browser download)`,
);
console.log(
  `tokenkit: ${relative(root, out)}/ assembled; .wasm ${(wasm / 1024).toFixed(1)} KB, ` +
    `wasm + JS glue ${(bytes.length / 1024).toFixed(1)} KB raw, ${(gz / 1024).toFixed(1)} KB gzip -9 (budget 45 KB)`,
);
