// Shortens the names the wasm and its glue use for each other. wasm-bindgen names every
// import `__wbg_<name>_<16 hex digits>` and every export after its Rust path; those names
// are written twice (in the .wasm and in tokenkit.js) and the hashes do not compress. Here
// wasm-opt renames every import (into one module, "a") and export to one or two letters and
// prints the mapping, and the glue is rewritten to match: the import object's keys, the
// snippet functions the wasm imports directly (shell.js's, by their names), and each
// `wasm.<export>`. Saves about 2 KB gzip of the browser download.
// Usage: node scripts/minify-names.mjs <dir with tokenkit_bg.wasm and tokenkit.js> <wasm-opt feature flags>...
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [dir, ...features] = process.argv.slice(2);
const wasmPath = join(dir, "tokenkit_bg.wasm");
const gluePath = join(dir, "tokenkit.js");
const wasmOpt = new URL("../node_modules/.bin/wasm-opt", import.meta.url).pathname;
const map = JSON.parse(
  execFileSync(wasmOpt, ["--minify-imports-and-exports-and-modules", ...features, wasmPath, "-o", wasmPath], { encoding: "utf8", maxBuffer: 1 << 24 }),
);
let glue = readFileSync(gluePath, "utf8");
const fail = (what) => {
  throw new Error(`minify-names: ${what} in ${gluePath} (has wasm-bindgen's glue changed?)`);
};
const escape = (s) => s.replace(/[$]/g, "\\$");

// Imports: the wasm-bindgen shims are keys of the `import0` object literal; snippet
// functions come from a module namespace (`importN`), named as the snippet exports them.
const namespaces = new Map([...glue.matchAll(/^import \* as (import\d+) from "([^"]+)"/gm)].map((m) => [m[2], m[1]]));
const direct = [];
for (const [module, name, short] of map.imports) {
  if (module === "./tokenkit_bg.js") {
    const key = new RegExp(`^(\\s+)${escape(name)}:`, "m");
    if (!key.test(glue)) fail(`no import shim ${name}`);
    glue = glue.replace(key, `$1${short}:`);
  } else {
    const ns = namespaces.get(module) ?? fail(`no namespace import of ${module}`);
    direct.push(`${JSON.stringify(short)}: ${ns}.${name}`);
  }
}
const ret = /return \{\n\s+__proto__: null,\n\s+"\.\/tokenkit_bg\.js": import0,\n(\s+"[^"]+": import\d+,\n)*\s+\};/;
if (!ret.test(glue)) fail("no imports object");
glue = glue.replace(ret, `return { a: Object.assign(import0, { ${direct.join(", ")} }) };`);

// Exports: every `wasm.<name>`.
for (const [name, short] of map.exports) {
  const use = new RegExp(`\\bwasm\\.${escape(name)}\\b`, "g");
  if (!use.test(glue) && name !== "__instance_terminated" && name !== "__abort_handler") fail(`no use of export ${name}`);
  glue = glue.replace(use, `wasm.${short}`);
}
const left = glue.match(/__wbg_\w+_[0-9a-f]{16}\b/);
if (left) fail(`${left[0]} left unrenamed`);
writeFileSync(gluePath, glue);
