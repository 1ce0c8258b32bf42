// Load and soak, as deployed and as used (`make soak`; a short version runs in `make test`).
//
// brokerSoak: the broker Worker in workerd as Cloudflare runs it — several isolates behind a
//   round-robin router, the TokenCache Durable Object — under autocannon on 127.0.0.1, with
//   10 s tokens (tokenkit's shortest: a refresh every 5 s). Failed requests, upstream token
//   requests against the refresh windows, and workerd's resident memory over time.
// clientSoak: the browser client in Chromium: signed calls through client.fetch() with a
//   token rotation every 100 calls; JS heap (after GC) and wasm memory before and after, and
//   the live timers the page holds.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import autocannon from "autocannon";
import { Miniflare } from "miniflare";
import { workerdOptions } from "../../worker/local.mjs";
import { startFixture } from "../fixtures/server.mjs";
import { launchChromium } from "../fixtures/chromium.mjs";

const root = new URL("../../", import.meta.url).pathname;

/** Resident memory (KB) of the workerd processes started by this Node process. */
function workerdRss() {
  let kb = 0;
  let pids = [];
  try {
    pids = execFileSync("pgrep", ["-P", String(process.pid), "workerd"], { encoding: "utf8" }).split("\n").filter(Boolean);
  } catch {
    return 0;
  }
  for (const pid of pids) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    } catch {}
  }
  return kb;
}

/**
 * Runs the broker under load for `seconds` (after a 3 s warm-up); resolves to its figures.
 * `baseline`: the same, with a Worker that answers a constant (workerd's own growth).
 */
export async function brokerSoak({ seconds = 60, isolates = 4, connections = 32, baseline = false } = {}) {
  const up = await startFixture();
  const dir = mkdtempSync(join(tmpdir(), "tokenkit-soak-"));
  writeFileSync(
    join(dir, "router.js"),
    `let i = 0;\nexport default { fetch(request, env) { const n = ${isolates}; return env["B" + (i++ % n)].fetch(request); } };\n`,
  );
  const key = `soak-${process.pid}-${Date.now()}`;
  const bindings = { TOKEN_URL: up.url(key, "ttl=10"), CLIENT_ID: "soak", CLIENT_SECRET: "SOAK-SECRET", RATE_LIMIT: "0" };
  const script = baseline ? "tests/soak/trivial-worker.js" : "tests/soak/measured-worker.js";
  const { host, port, ...w } = workerdOptions(`${root}${script}`, root, {});
  const mf = new Miniflare({
    host,
    port,
    workers: [
      { name: "router", modules: true, scriptPath: join(dir, "router.js"), modulesRoot: dir, compatibilityDate: "2025-01-01", serviceBindings: Object.fromEntries(Array.from({ length: isolates }, (_, i) => [`B${i}`, `isolate-${i}`])) },
      { ...w, name: "cache", bindings, durableObjects: { TOKEN_CACHE: "TokenCache" } },
      ...Array.from({ length: isolates }, (_, i) => ({ ...w, name: `isolate-${i}`, bindings, durableObjects: { TOKEN_CACHE: { className: "TokenCache", scriptName: "cache" } } })),
    ],
  });
  try {
    const url = String(await mf.ready).replace(/\/$/, "");
    // The isolates' wasm memory (the router spreads 2 × isolates calls over all of them).
    const wasm = async () => {
      const sizes = await Promise.all(Array.from({ length: 2 * isolates }, async () => Number(await (await fetch(`${url}/__wasm`)).text())));
      return Math.max(...sizes) / 1024;
    };
    await autocannon({ url: `${url}/token`, method: "POST", connections, duration: 3 }); // warm-up
    const wasmBefore = await wasm();
    // Alongside the load: every token the broker hands out must still be live upstream
    // (the fixture's API refuses an expired one).
    let checked = 0;
    let stale = 0;
    let loading = true;
    const checker = (async () => {
      while (loading && !baseline) {
        // Live when the broker answered: the check itself may land late on a loaded machine.
        const { access_token } = await (await fetch(`${url}/token`, { method: "POST" })).json();
        const answered = Date.now();
        const api = await fetch(`${up.api(key)}?at=${answered}`, { headers: { authorization: `Bearer ${access_token}` } });
        await api.arrayBuffer();
        checked++;
        if (api.status !== 200) stale++;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const rss = [];
    const sampler = setInterval(() => rss.push(workerdRss()), 1000);
    const started = Date.now();
    const upstream0 = up.count(key);
    const result = await autocannon({ url: `${url}/token`, method: "POST", connections, duration: seconds });
    const elapsed = (Date.now() - started) / 1000;
    loading = false;
    await checker;
    clearInterval(sampler);
    const wasmAfter = await wasm();
    const upstream = up.count(key) - upstream0;
    const warm = rss.slice(Math.min(5, rss.length - 1)).filter(Boolean);
    return {
      seconds: elapsed,
      isolates,
      connections,
      requests: result.requests.total,
      perSecond: Math.round(result.requests.average),
      latencyP99: result.latency.p99,
      failed: result.errors + result.timeouts + result.non2xx,
      checked,
      stale,
      upstream,
      // A 10 s token is refreshed at half-life: a new window every 5 s.
      windows: Math.round((elapsed / 5) * 10) / 10,
      wasmBeforeKB: wasmBefore,
      wasmAfterKB: wasmAfter,
      rssFirstKB: warm[0] ?? 0,
      rssLastKB: warm.at(-1) ?? 0,
      rssMaxKB: Math.max(0, ...warm),
      rssEvery5sMB: rss.filter((_, i) => i % 5 === 4).map((kb) => Math.round(kb / 1024)),
    };
  } finally {
    await mf.dispose();
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>soak</title><script>
// Every timer the page arms, until it fires or is cleared.
window.liveTimers = new Set();
const set = window.setTimeout.bind(window), clear = window.clearTimeout.bind(window);
window.setTimeout = (fn, ms, ...a) => { const id = set((...b) => { liveTimers.delete(id); fn(...b); }, ms, ...a); liveTimers.add(id); return id; };
window.clearTimeout = (id) => { liveTimers.delete(id); clear(id); };
</script><script type="module">
import { TokenClient } from "/pkg/browser.js";
import { initSync } from "/pkg/tokenkit.js";
let n = 0;
const ok = () => new Response("{}", { headers: { "content-type": "application/json" } });
const fakeFetch = async (url) =>
  String(url).endsWith("/token")
    ? new Response(JSON.stringify({ access_token: "tok-" + ++n, token_type: "Bearer", expires_in: 3600 }), { headers: { "content-type": "application/json" } })
    : ok();
window.client = new TokenClient({ brokerUrl: "https://edge.example.com/token", allowedOrigins: ["https://api.example.com"], fetch: fakeFetch });
window.tokenRequests = () => n;
window.wasmBytes = () => Object.values(initSync({})).find((v) => v instanceof WebAssembly.Memory).buffer.byteLength;
window.work = async (calls, every) => {
  for (let i = 0; i < calls; i++) {
    if (i % every === 0) client.invalidate(); // a rotation: the next call fetches a new token
    const r = await client.fetch("https://api.example.com/x");
    if (r.status !== 200) throw new Error("status " + r.status);
  }
};
window.ready = true;
</script>`;

/** `calls` signed calls in Chromium, a rotation every `every`; resolves to its figures. */
export async function clientSoak({ calls = 100_000, every = 100 } = {}) {
  const pkg = `${root}pkg/`;
  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (path === "/") return res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
    const file = normalize(join(pkg, path.replace(/^\/pkg\//, "")));
    if (!path.startsWith("/pkg/") || !file.startsWith(pkg)) return res.writeHead(404).end();
    try {
      res.writeHead(200, { "content-type": extname(file) === ".wasm" ? "application/wasm" : "text/javascript" }).end(readFileSync(file));
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.waitForFunction(() => window.ready === true);
    const cdp = await page.context().newCDPSession(page);
    const heap = async () => {
      for (let i = 0; i < 3; i++) await cdp.send("HeapProfiler.collectGarbage");
      return (await cdp.send("Runtime.getHeapUsage")).usedSize;
    };
    await page.evaluate(([c, e]) => work(c, e), [Math.min(1000, calls), every]); // warm up
    const heap0 = await heap();
    const wasm0 = await page.evaluate(() => wasmBytes());
    const rotations0 = await page.evaluate(() => tokenRequests());
    const started = Date.now();
    await page.evaluate(([c, e]) => work(c, e), [calls, every]);
    const ms = Date.now() - started;
    const heap1 = await heap();
    return {
      calls,
      rotations: (await page.evaluate(() => tokenRequests())) - rotations0,
      seconds: ms / 1000,
      heapBeforeKB: Math.round(heap0 / 1024),
      heapAfterKB: Math.round(heap1 / 1024),
      wasmBeforeKB: wasm0 / 1024,
      wasmAfterKB: (await page.evaluate(() => wasmBytes())) / 1024,
      liveTimers: await page.evaluate(() => liveTimers.size),
    };
  } finally {
    await browser.close();
    await new Promise((r) => server.close(r));
  }
}
