// Figures from one place. Every size, ratio, timing and count a doc quotes is a figure in
// bench/results/latest.json (`figures`, keyed), and the doc marks where it quotes one:
//
//     a minimal app is <!--fig:app.tokenkit-->40.0 KB<!--/fig--> gzip
//
// (the marks are HTML comments: a rendered page shows the figure alone). `make bench` measures
// every figure and rewrites the marked spans; `make figures` does the same for the deterministic
// ones (sizes, counts) in a few seconds, keeping the timed ones. tests/node/34-figures fails when
// a span disagrees with the results file, when the results file's sizes and counts disagree with
// the build, or when a doc quotes an unmarked figure.
//
//     node scripts/figures.mjs            print the deterministic figures, measured now
//     node scripts/figures.mjs --write    ...and merge them into latest.json and the docs
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { buildSync } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, "..");
export const RESULTS = join(root, "bench/results/latest.json");

/** The pages that may quote figures: both READMEs and every page of docs/. */
export const DOCS = ["README.md", "pkg-template/README.md", ...readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];

export const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const gz = (b) => gzipSync(b, { level: 9 }).length;

/** The smallest app each tokenkit entry serves, as the size budgets and `make bench` bundle it. */
export const APPS = {
  tokenkit: `import { TokenClient } from "tokenkit";
const c = new TokenClient({ tokenUrl: "https://auth.example.com/token", clientId: "a", clientAuth: "none", allowedOrigins: ["https://api.example.com"] });
c.fetch("https://api.example.com/x").then((r) => console.log(r.status));`,
  "tokenkit/signin": `import { TokenClient } from "tokenkit/signin";
const c = new TokenClient({ grant: "authorization_code", tokenUrl: "https://auth.example.com/token", authorizeUrl: "https://auth.example.com/authorize", clientId: "a", redirectUri: location.origin + "/cb", scope: "openid" });
if (location.search.includes("code=")) await c.completeAuthorization(location.href);
else location.assign(await c.createAuthorizationUrl());
console.log(await c.getToken());`,
  "tokenkit/dpop": `import { TokenClient } from "tokenkit/dpop";
const c = new TokenClient({ tokenUrl: "https://auth.example.com/token", clientId: "a", clientAuth: "none", allowedOrigins: ["https://api.example.com"], dpop: true });
c.fetch("https://api.example.com/x").then((r) => console.log(r.status));`,
};

/**
 * An esbuild bundle of `contents` for the browser, minified, with tokenkit's entries resolved to
 * `pkg`: how an app ships it. Other imports resolve from `resolveDir` (bench/ for the peers).
 */
export function browserBundle(contents, pkg = join(root, "pkg"), resolveDir = here) {
  return buildSync({
    stdin: { contents, resolveDir, loader: "js" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    write: false,
    alias: { tokenkit: join(pkg, "browser.js"), "tokenkit/signin": join(pkg, "signin/browser.js"), "tokenkit/dpop": join(pkg, "dpop/browser.js") },
    logLevel: "error",
  }).outputFiles[0].contents;
}

/** A build's wasm in pkg/ (`dir`: "", "signin/", "server/"...), gzip -9. */
const wasmGzip = (dir) => gz(readFileSync(join(root, "pkg", dir, "tokenkit_bg.wasm")));

/** The matrix's scenarios, listed without running any. */
export function matrixScenarios() {
  const out = execFileSync(process.execPath, [join(root, "tests/matrix/matrix.test.mjs")], { env: { ...process.env, MATRIX_LIST: "1" }, encoding: "utf8" });
  return JSON.parse(out.trim().split("\n").pop());
}

/** The deterministic figures of the build in pkg/ (sizes and counts), as the docs print them. */
export function measure() {
  const size = JSON.parse(readFileSync(join(root, "target/size.json"), "utf8"));
  const appGzip = Object.fromEntries(Object.entries(APPS).map(([name, contents]) => [name, gz(browserBundle(contents))]));
  return {
    "download.tokenkit": kb(size.shippedGzipBytes),
    "download.signin": kb(size.signin.shippedGzipBytes),
    "download.dpop": kb(size.dpop.shippedGzipBytes),
    "app.tokenkit": kb(appGzip.tokenkit),
    "app.signin": kb(appGzip["tokenkit/signin"]),
    "app.dpop": kb(appGzip["tokenkit/dpop"]),
    "wasm.tokenkit": kb(size.wasmBytes),
    "inline.cost": kb(size.shippedGzipBytes - size.separateAssetGzipBytes),
    "unpack.gzip": kb(gz(readFileSync(join(root, "pkg/unpack.js")))),
    "matrix.scenarios": String(matrixScenarios().length),
    // What a page would download for options it must refuse, were the servers' wasm its own.
    ...Object.fromEntries(["", "signin/", "dpop/"].map((dir) => [`server.extra.${dir.slice(0, -1) || "tokenkit"}`, kb(wasmGzip(`${dir}server/`) - wasmGzip(dir))])),
  };
}

const SPAN = /<!--fig:([A-Za-z0-9.]+)-->(.*?)<!--\/fig-->/g;

/** Every marked figure in `text`: its key and the value the page prints. */
export const spans = (text) => [...text.matchAll(SPAN)].map((m) => ({ key: m[1], value: m[2] }));

/** `text` with every marked figure set to `figures`' value (a key it lacks is left as it is). */
export const apply = (text, figures) => text.replace(SPAN, (all, key) => (key in figures ? `<!--fig:${key}-->${figures[key]}<!--/fig-->` : all));

/** The results file's figures, or none when `make bench` has never run. */
export const recorded = () => (existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, "utf8")).figures ?? {}) : {});

/** Merges `figures` into the results file and rewrites the docs' marked spans from it. */
export function write(figures) {
  const results = existsSync(RESULTS) ? JSON.parse(readFileSync(RESULTS, "utf8")) : { env: "", rows: [] };
  results.figures = Object.fromEntries(Object.entries({ ...results.figures, ...figures }).sort(([a], [b]) => a.localeCompare(b)));
  writeFileSync(RESULTS, JSON.stringify(results, null, 2) + "\n");
  const changed = [];
  for (const f of DOCS) {
    const before = readFileSync(join(root, f), "utf8");
    const after = apply(before, results.figures);
    if (after !== before) writeFileSync(join(root, f), after), changed.push(f);
  }
  return changed;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const figures = measure();
  for (const [k, v] of Object.entries(figures)) console.log(`${k}: ${v}`);
  if (process.argv.includes("--write")) {
    const changed = write(figures);
    console.log(`wrote bench/results/latest.json${changed.length ? `; updated ${changed.join(", ")}` : ""}`);
  }
}
