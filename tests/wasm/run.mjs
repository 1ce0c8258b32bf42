// The wasm in each runtime that ships it, with real timers and the fixture server started on
// 127.0.0.1 (stopped by its PID):
// - the package as apps load it: tests/wasm/cases.mjs against pkg/node.js in Node, and
//   against pkg/browser.js in a headless Chromium page (Playwright);
// - the Rust surface of the wasm's Core, as a Rust developer would run it (`wasm-pack test
//   --node`, `wasm-pack test --headless --chrome`). `--mode no-install`: wasm-pack uses the
//   pinned wasm-bindgen-cli and Debian's chromedriver, and never downloads either.
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { join, normalize } from "node:path";
import { launchChromium } from "../fixtures/chromium.mjs";
import { runAll } from "./cases.mjs";
import { TokenClient } from "../../pkg/node.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const server = spawn(process.execPath, ["tests/fixtures/server.mjs"], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
const stop = () => {
  try {
    process.kill(server.pid);
  } catch {}
};
process.on("exit", stop);
const origin = await new Promise((resolve, reject) => {
  createInterface({ input: server.stdout }).once("line", resolve);
  server.once("exit", () => reject(new Error("fixture server exited")));
});

let failed = false;
const report = (runtime, results) => {
  for (const [name, error] of results) {
    console.log(`${error ? "not ok" : "ok"} - ${runtime}: ${name}`);
    if (error) {
      failed = true;
      console.log(error.replace(/^/gm, "    "));
    }
  }
};

console.log(`\n== the package in Node (pkg/node.js), fixture ${origin}`);
report("node", await runAll(TokenClient, origin, "nd"));

// The page and its modules (pkg/ and tests/wasm/ only) from 127.0.0.1, another origin than
// the fixture's, as an app's page would be.
const types = { ".js": "text/javascript", ".mjs": "text/javascript", ".html": "text/html" };
const files = createServer((req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname));
  if (path === "/") return res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>tokenkit</title>");
  if (!path.startsWith("/pkg/") && !path.startsWith("/tests/wasm/")) return res.writeHead(404).end();
  try {
    const body = readFileSync(join(root, path));
    res.writeHead(200, { "content-type": types[path.slice(path.lastIndexOf("."))] ?? "application/octet-stream" }).end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => files.listen(0, "127.0.0.1", r));
const page = `http://127.0.0.1:${files.address().port}/`;
console.log(`\n== the package in Chromium (pkg/browser.js), page ${page}`);
const browser = await launchChromium();
try {
  const tab = await browser.newPage();
  const errors = [];
  tab.on("pageerror", (e) => errors.push(String(e)));
  await tab.goto(page);
  const results = await tab.evaluate(async (fixture) => {
    const { TokenClient } = await import("/pkg/browser.js");
    const { runAll } = await import("/tests/wasm/cases.mjs");
    return runAll(TokenClient, fixture, "ch");
  }, origin);
  report("chromium", results);
  if (errors.length) {
    failed = true;
    console.log(`not ok - chromium: page errors\n    ${errors.join("\n    ")}`);
  }
} finally {
  await browser.close();
  files.close();
}

const env = { ...process.env, TOKENKIT_FIXTURE: origin, CHROMEDRIVER: "/usr/bin/chromedriver" };
for (const args of [["--node"], ["--headless", "--chrome"]]) {
  console.log(`\n== wasm-pack test ${args.join(" ")}`);
  const r = spawnSync("wasm-pack", ["test", "--mode", "no-install", ...args, "--", "--locked"], { cwd: root, stdio: "inherit", env });
  if (r.status !== 0) failed = true;
}
stop();
process.exit(failed ? 1 : 0);
