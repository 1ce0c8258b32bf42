// Figures from one place (scripts/figures.mjs): every size, ratio, timing and count the docs
// quote is a marked span that agrees with bench/results/latest.json, whose sizes and counts
// agree with the build; an unmarked figure in a doc fails here. A figure that moved:
// `make figures` (sizes, counts) or `make bench` (everything) rewrites the file and the docs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DOCS, measure, recorded, root, spans } from "../../scripts/figures.mjs";

const figures = recorded();
const read = (f) => readFileSync(join(root, f), "utf8");

test("every figure a doc marks is the results file's figure", () => {
  const wrong = [];
  for (const f of DOCS) {
    for (const { key, value } of spans(read(f))) {
      if (!(key in figures)) wrong.push(`${f}: ${key} is not in bench/results/latest.json`);
      else if (figures[key] !== value) wrong.push(`${f}: ${key} says ${value}, the results ${figures[key]}`);
    }
  }
  assert.deepEqual(wrong, [], "run `make figures` (sizes, counts) or `make bench`");
});

// Counts exactly; sizes within 2%: another Rust or esbuild release moves them a little, and a doc
// that far off still tells a reader the truth (the size budgets hold the bytes exactly).
const agree = (recorded, now) => {
  const [a, b] = [recorded, now].map((v) => (/ KB$/.test(v ?? "") ? parseFloat(v) : NaN));
  return recorded === now || (a > 0 && Math.abs(a - b) <= 0.02 * b);
};

test("the results file's sizes and counts are the build's", () => {
  const now = measure();
  assert.ok(agree("40.0 KB", "40.7 KB") && !agree("40.0 KB", "41.0 KB") && !agree("77", "79") && !agree(undefined, "1.0 KB"), "agree() itself");
  const stale = Object.entries(now).filter(([k, v]) => !agree(figures[k], v)).map(([k, v]) => `${k}: recorded ${figures[k]}, measured ${v}`);
  assert.deepEqual(stale, [], "run `make figures` and commit bench/results/latest.json with the docs it rewrites");
});

// Constants of the code or the protocol a doc may state as they are (not measurements).
const CONSTANTS = [
  /\b64 KB\b/, // a response body's cap
  /\b4 KB\b/, // a cookie's and an error body's cap
];

/**
 * What a doc says outside code, marked figures, its history blocks (decisions, as measured when
 * made, dated) and given figures (a test's inputs: not measurements).
 */
export function prose(text) {
  return text
    .replace(/^```[\s\S]*?^```/gm, "")
    .replace(/<!--(history|given)-->[\s\S]*?<!--\/\1-->/g, "")
    .replace(/<!--fig:[A-Za-z0-9.]+-->.*?<!--\/fig-->/g, "")
    .replace(/target [≤≥] [\d.]+ ?(?:×|ms|KB)/g, "") // a target is a goal, not a measurement
    .replace(/`[^`\n]*`/g, "");
}

const FIGURE = /(?<![\w.,])\d[\d,]*(?:\.\d+)?\s?(?:KB|KiB|MB|kB|B|ms|µs|ns)(?!\w)|\d+(?:\.\d+)?×|\b\d+ (?:scenarios|tests)\b/g;

test("no doc quotes a measured figure outside a mark or a history block", () => {
  const loose = [];
  for (const f of DOCS) {
    for (const line of prose(read(f)).split("\n")) {
      for (const [m] of line.matchAll(FIGURE)) if (!CONSTANTS.some((c) => c.test(m))) loose.push(`${f}: ${m} in "${line.trim().slice(0, 100)}"`);
    }
  }
  assert.deepEqual(loose, [], "mark each as <!--fig:key-->…<!--/fig--> (scripts/figures.mjs), or put a decision's measurement in <!--history-->…<!--/history-->");
});

test("the figure finder finds what it must (so the last test can fail)", () => {
  const found = (s) => [...prose(s).matchAll(FIGURE)].map((m) => m[0]);
  assert.deepEqual(found("about 40.0 KB gzip, 7.9 ms, 1.1×, 77 scenarios, 512 B"), ["40.0 KB", "7.9 ms", "1.1×", "77 scenarios", "512 B"]);
  assert.deepEqual(found("<!--fig:app.tokenkit-->40.0 KB<!--/fig--> and `64 KB` and RFC 9449 and 2025-09-01"), []);
  assert.deepEqual(found("<!--history-->\n-1.5 KB\n<!--/history-->\n"), []);
  assert.deepEqual(found("a <!--given-->50 MB<!--/given--> body, 3 ms"), ["3 ms"]);
});
