// The size budget, deterministic: what a browser downloads (the .wasm, wasm-bindgen's glue,
// our shell and the entry module) is at most 45 KB gzip -9.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";

const BUDGET = 45 * 1024;

test(`wasm + JS glue <= ${BUDGET} bytes gzip -9`, () => {
  const pkg = new URL("../../pkg/", import.meta.url);
  const [snippet] = readdirSync(new URL("snippets/", pkg));
  const files = ["tokenkit_bg.wasm", "tokenkit.js", `snippets/${snippet}/js/shell.js`, "browser.js"];
  const size = gzipSync(Buffer.concat(files.map((f) => readFileSync(new URL(f, pkg)))), { level: 9 }).length;
  console.log(`shipped size: ${size} bytes gzip -9 (${(size / 1024).toFixed(1)} KB of ${BUDGET / 1024} KB)`);
  assert.ok(size <= BUDGET, `${size} > ${BUDGET}`);
});

test("the release wasm carries no std panic handler (built no_std)", () => {
  // std's handler formats "panicked at <location>"; ours traps without formatting.
  const wasm = readFileSync(new URL("../../pkg/tokenkit_bg.wasm", import.meta.url)).toString("latin1");
  assert.ok(!wasm.includes("panicked at"));
});
