// Runs the wasm-bindgen tests in Node and in headless Chromium against the fixture server,
// which this script starts on 127.0.0.1 and stops by its PID.
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

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

const env = {
  ...process.env,
  TOKENKIT_FIXTURE: origin,
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER: "wasm-bindgen-test-runner",
  CHROMEDRIVER: "/usr/bin/chromedriver",
  WASM_BINDGEN_TEST_WEBDRIVER_JSON: `${root}/tests/wasm/webdriver.json`,
  WASM_BINDGEN_TEST_TIMEOUT: "60",
};
let failed = false;
for (const test of ["wasm_node", "wasm_browser"]) {
  console.log(`\n== wasm tests (${test}) against ${origin}`);
  const r = spawnSync("cargo", ["test", "--locked", "--target", "wasm32-unknown-unknown", "--test", test], {
    cwd: root,
    stdio: "inherit",
    env,
  });
  if (r.status !== 0) failed = true;
}
stop();
process.exit(failed ? 1 : 0);
