// Tidies wasm-bindgen 0.2.130's glue. It writes one `import * as importN` per use of a JS
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

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const path of process.argv.slice(2)) writeFileSync(path, dedupe(readFileSync(path, "utf8")));
}
