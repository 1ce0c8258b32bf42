// Tidies wasm-bindgen 0.2.130's glue. First: it writes one `import * as importN` per use of a JS
// snippet, then an imports object that repeats the snippet's key once per import; every
// bundler built on esbuild (Wrangler among them) warns "Duplicate key" for each. All of
// them are the same module namespace, so keeping the first of each key changes nothing.
// Usage: node scripts/glue.mjs <tokenkit.js>...
import { readFileSync, writeFileSync } from "node:fs";

export function dedupe(code) {
  const seen = new Set();
  return code.replace(/^[ \t]*("\.\/snippets\/[^"]+"): import\d+,?\r?\n/gm, (line, key) => {
    if (seen.has(key)) return "";
    seen.add(key);
    return line;
  });
}

// The glue's async default export (`init()`) fetches `new URL("tokenkit_bg.wasm",
// import.meta.url)`. tokenkit never calls it (every entry uses initSync with the inlined
// or imported module), yet bundlers see the URL and emit the 78 KB .wasm into every build,
// and webpack 4 cannot parse import.meta at all. Dropped, with its loader.
export function dropAsyncInit(code) {
  const load = /\nasync function __wbg_load\(module, imports\) \{\n[\s\S]*?\n\}\n/;
  const init = /\nlet __wbg_init_promise;\n[\s\S]*?\n(?=export \{ initSync, __wbg_init as default \};)/;
  if (!load.test(code) || !init.test(code)) throw new Error("glue.mjs: wasm-bindgen's async init is not where it was: check the glue");
  const out = code.replace(load, "\n").replace(init, "\n").replace("export { initSync, __wbg_init as default };", "export { initSync };");
  if (out.includes("import.meta")) throw new Error("glue.mjs: the glue still reads import.meta");
  return out;
}

// initSync compiles anything that is not `instanceof WebAssembly.Module`. The module an edge
// runtime hands over (Next.js: `import wasm from "x.wasm?module"`) comes from another realm,
// so instanceof is false and compiling it throws "Argument 0 must be a buffer source": its
// brand (Symbol.toStringTag) is what tells a compiled module.
export function crossRealmModule(code) {
  const check = "    if (!(module instanceof WebAssembly.Module)) {";
  if (!code.includes(check)) throw new Error("glue.mjs: initSync's module check is not where it was: check the glue");
  return code.replace(check, '    if (!(module instanceof WebAssembly.Module) && String(module) !== "[object WebAssembly.Module]") {');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const path of process.argv.slice(2)) writeFileSync(path, crossRealmModule(dropAsyncInit(dedupe(readFileSync(path, "utf8")))));
}
