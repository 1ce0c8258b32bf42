// Runs a module Worker's directory in workerd itself, without Miniflare: one capnp config,
// one workerd process, on 127.0.0.1. For the bench's load rows: Miniflare routes each request
// through an entry Worker of its own, which took about 0.5 ms of workerd's CPU per request
// (make bench, 2026-12-08), twenty times the handlers being compared.
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { createRequire } from "node:module";
import net from "node:net";

/** Every .js and .wasm file under `dir`, relative to `base`. */
const files = (dir, base = dir) =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (f === "node_modules") return [];
    return statSync(p).isDirectory() ? files(p, base) : /\.(js|wasm)$/.test(f) ? [relative(base, p)] : [];
  });

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const accepts = (port) =>
  new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => {
      s.end();
      resolve();
    });
    s.on("error", reject);
  });

// Every workerd started here, killed when Node exits however the bench ends (Miniflare does
// this for its own; a workerd left behind would hold its port and a core).
const live = new Set();
process.on("exit", () => {
  for (const child of live) child.kill();
});
for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => process.exit(130));

/**
 * Readies workerd (the `workerd` package's binary) to serve the module Worker `main` in `dir`
 * (every .js and .wasm under it is a module) with text `bindings`, compatibility date
 * 2025-01-01 as in the tests (worker/local.mjs), no Durable Object or rate-limit binding.
 * Resolves to { start, remove }: `start()` runs it and resolves to { url, pid (workerd's
 * own), dispose() } once it accepts connections (the copy and config are made before, so a
 * cold start times workerd alone); `remove()` deletes the copy.
 */
export async function prepareRaw(dir, main, bindings) {
  const workerd = createRequire(import.meta.url)("workerd").default; // the binary's path
  const copy = mkdtempSync(join(tmpdir(), "tokenkit-raw-"));
  const remove = () => rmSync(copy, { recursive: true, force: true });
  cpSync(dir, copy, { recursive: true, filter: (p) => !p.includes("node_modules") });
  const mods = [main, ...files(copy).filter((f) => f !== main)];
  const module = (f) => (f.endsWith(".wasm") ? `(name = "${f}", wasm = embed "${f}")` : `(name = "${f}", esModule = embed "${f}")`);
  const port = await freePort();
  const text = (s) => JSON.stringify(s);
  writeFileSync(join(copy, "config.capnp"), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .w),
    (name = "internet", network = (allow = ["local", "private", "public"])),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const w :Workerd.Worker = (
  modules = [ ${mods.map(module).join(", ")} ],
  compatibilityDate = "2025-01-01",
  bindings = [ ${Object.entries(bindings).map(([k, v]) => `(name = ${text(k)}, text = ${text(v)})`).join(", ")} ],
  globalOutbound = "internet",
);
`);
  const start = async () => {
    const child = spawn(workerd, ["serve", join(copy, "config.capnp")], { stdio: ["ignore", "inherit", "inherit"] });
    live.add(child);
    const exited = new Promise((r) => child.once("exit", r));
    const dispose = async () => {
      child.kill();
      await exited;
      live.delete(child);
    };
    for (let i = 0; ; i++) {
      try {
        await accepts(port);
        break;
      } catch {
        if (i > 2000 || child.exitCode !== null || child.signalCode !== null) {
          await dispose();
          throw new Error(`workerd did not start serving ${main}`);
        }
        await new Promise((r) => setTimeout(r, 5)); // polls a port: no event says it listens
      }
    }
    return { url: `http://127.0.0.1:${port}`, pid: String(child.pid), dispose };
  };
  return { start, remove };
}

/** [`prepareRaw`] and start: { url, pid, dispose() }, whose dispose also deletes the copy. */
export async function startRaw(dir, main, bindings) {
  const { start, remove } = await prepareRaw(dir, main, bindings);
  try {
    const w = await start();
    return { ...w, dispose: () => w.dispose().finally(remove) };
  } catch (e) {
    remove();
    throw e;
  }
}
