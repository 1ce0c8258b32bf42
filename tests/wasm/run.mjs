// Runs the wasm-bindgen tests through wasm-pack, as a Rust developer would
// (`wasm-pack test --node`, `wasm-pack test --headless --chrome`), with the fixture server
// started on 127.0.0.1 (stopped by its PID) for the one real-fetch test per runtime; the
// rest bring their own simulated token server. `--mode no-install`: wasm-pack uses the
// pinned wasm-bindgen-cli and Debian's chromedriver, and never downloads either.
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

const env = { ...process.env, TOKENKIT_FIXTURE: origin, CHROMEDRIVER: "/usr/bin/chromedriver" };
let failed = false;
for (const args of [["--node"], ["--headless", "--chrome"]]) {
  console.log(`\n== wasm-pack test ${args.join(" ")} (the real-fetch test against ${origin})`);
  const r = spawnSync("wasm-pack", ["test", "--mode", "no-install", ...args, "--", "--locked"], { cwd: root, stdio: "inherit", env });
  if (r.status !== 0) failed = true;
}
stop();
process.exit(failed ? 1 : 0);
