// Runs the broker Worker (worker/index.js + worker/pkg/) in real workerd through Miniflare,
// on 127.0.0.1 with a free port. Used by `make demo`, `make example` and the tests.
import { Miniflare } from "miniflare";

const dir = new URL(".", import.meta.url).pathname;

/** Resolves to { url, fetch(path, init), dispose() } for a broker with these env bindings. */
export async function startBroker(bindings) {
  const mf = new Miniflare({
    modules: true,
    scriptPath: `${dir}index.js`,
    modulesRoot: dir,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: "2025-01-01",
    bindings,
    host: "127.0.0.1",
    port: 0,
  });
  try {
    const url = String(await mf.ready).replace(/\/$/, "");
    return { url, fetch: (path, init) => mf.dispatchFetch(`${url}${path}`, init), dispose: () => mf.dispose() };
  } catch (e) {
    await mf.dispose();
    throw e;
  }
}
