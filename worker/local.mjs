// Runs the broker Worker (worker/index.js + worker/pkg/) in real workerd through Miniflare,
// on 127.0.0.1 with a free port. Used by `make demo`, `make example` and the tests.
import { spawnSync } from "node:child_process";
import { Miniflare } from "miniflare";

const dir = new URL(".", import.meta.url).pathname;

/** Miniflare options that run the module Worker `scriptPath` (with its .wasm) in workerd on 127.0.0.1. */
export function workerdOptions(scriptPath, modulesRoot, bindings) {
  return {
    modules: true,
    scriptPath,
    modulesRoot,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    // The templates use 2025-09-01; the tests run at the older date on purpose: no guarantee
    // rests on a compatibility flag (workerd strips Authorization on a cross-origin
    // redirect only from 2025-09-01).
    compatibilityDate: "2025-01-01",
    bindings,
    host: "127.0.0.1",
    port: 0,
  };
}

/** Resolves to { url, fetch(path, init), dispose() } for a broker with these env bindings, on `port` (0: a free one). */
export async function startBroker(bindings, { port = 0 } = {}) {
  const mf = new Miniflare({ ...workerdOptions(`${dir}index.js`, dir, bindings), port });
  try {
    const url = String(await mf.ready).replace(/\/$/, "");
    return { url, fetch: (path, init) => mf.dispatchFetch(`${url}${path}`, init), dispose: () => mf.dispose() };
  } catch (e) {
    await mf.dispose();
    throw e;
  }
}

/**
 * Bundles the Worker project in `project` with Wrangler, as `wrangler deploy` would (to
 * `project/dist`), and runs the bundle in workerd. Resolves to { mf, log } (log: Wrangler's
 * stdout and stderr, for its warnings). `env` adds to Wrangler's environment.
 */
export async function bundleAndRun(project, bindings, env = {}) {
  const wrangler = new URL("../node_modules/.bin/wrangler", import.meta.url).pathname;
  const r = spawnSync(wrangler, ["deploy", "--dry-run", "--outdir", "dist"], {
    cwd: project,
    encoding: "utf8",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", ...env },
  });
  const log = `${r.stdout}${r.stderr}`;
  if (r.status !== 0) throw new Error(`wrangler deploy --dry-run failed in ${project}:\n${log.slice(-3000)}`);
  return { mf: new Miniflare(workerdOptions(`${project}/dist/worker.js`, `${project}/dist`, bindings)), log };
}
