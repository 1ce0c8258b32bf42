// The workerd rows of `make bench`: the broker (worker/index.js + worker/pkg/) next to a
// hand-written 30-line JS Worker doing the same job (one cached client-credentials token,
// served on POST /token to allowed origins), both in real workerd through Miniflare on
// 127.0.0.1. Rows: cold start (a fresh workerd to the first /token answered) and a cached
// /token under load (throughput, p50/p99), in interleaved rounds, beside a control (the JS
// Worker against itself).
import http from "node:http";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { workerdOptions } from "../worker/local.mjs";
import { startFixture } from "../tests/node/helpers.mjs";

const APP = "https://app.example.com";

// The baseline a team might write by hand (no single flight, no retries, no validation).
const plainWorker = `let cached; // { token, exp }
async function fetchToken(env) {
  const res = await fetch(env.TOKEN_URL, {
    method: "POST",
    redirect: "manual",
    headers: { authorization: "Basic " + btoa(env.CLIENT_ID + ":" + env.CLIENT_SECRET), "content-type": "application/x-www-form-urlencoded" },
    body: "grant_type=client_credentials",
  });
  if (!res.ok) throw new Error("token endpoint: " + res.status);
  const body = await res.json();
  return { token: body.access_token, exp: Date.now() + body.expires_in * 1000 };
}
export default {
  async fetch(request, env) {
    const origin = request.headers.get("origin");
    if (!env.ALLOWED_ORIGINS.split(",").map((s) => s.trim()).includes(origin)) return new Response("forbidden", { status: 403 });
    const cors = { "access-control-allow-origin": origin, vary: "Origin" };
    if (new URL(request.url).pathname !== "/token" || request.method !== "POST") return new Response("not found", { status: 404, headers: cors });
    if (!cached || Date.now() > cached.exp - 60_000) cached = await fetchToken(env);
    const body = { access_token: cached.token, token_type: "Bearer", expires_in: Math.floor((cached.exp - Date.now()) / 1000) };
    return Response.json(body, { headers: { ...cors, "cache-control": "no-store" } });
  },
};
`;

const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))];

/**
 * `n` POST /token requests, `concurrency` at a time, over keep-alive connections with
 * node:http (lighter than fetch, so the Worker rather than the load generator is the
 * bottleneck); per-request latencies (ms) and requests/s.
 */
async function load(url, n, concurrency) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const post = () =>
    new Promise((resolve, reject) => {
      const req = http.request(`${url}/token`, { method: "POST", agent, headers: { origin: APP, "content-length": 0 } }, (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`/token answered ${res.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 200)}`))));
      });
      req.on("error", reject);
      req.end();
    });
  const lat = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        const s = performance.now();
        await post();
        lat.push(performance.now() - s);
      }
    }),
  );
  const elapsed = performance.now() - t0;
  agent.destroy();
  return { rps: n / (elapsed / 1000), p50: quantile(lat, 0.5), p99: quantile(lat, 0.99) };
}

/**
 * The CPU each handler spends on a cached /token, in this process (workerd's clocks do not
 * advance while a request runs, so it cannot time itself): the broker (worker/pkg) and the JS
 * Worker's handler, called in turn on the same request, with a Response that only keeps its
 * arguments (so what is timed is the handlers' own work, not the platform's). ns per request.
 */
async function handlerCpu(root, plainPath, rounds) {
  const glue = await import(join(root, "worker/pkg/tokenkit.js"));
  glue.initSync({ module: new WebAssembly.Module(readFileSync(join(root, "worker/pkg/tokenkit_bg.wasm"))) });
  const { broker } = await import(join(root, "worker/pkg/broker.js"));
  const { TokenBroker } = broker(glue.Broker, glue.Session);
  const plain = (await import(`file://${plainPath}`)).default;
  const env = { TOKEN_URL: "https://auth.example.com/token", CLIENT_ID: "bench", CLIENT_SECRET: "bench-secret", ALLOWED_ORIGINS: APP, RATE_LIMIT: "0" };
  const token = JSON.stringify({ access_token: "t".repeat(40), token_type: "Bearer", expires_in: 3600 });
  const [realFetch, RealResponse] = [globalThis.fetch, globalThis.Response];
  globalThis.fetch = async () => new RealResponse(token, { headers: { "content-type": "application/json" } });
  const b = new TokenBroker(env);
  const ctx = { waitUntil() {} };
  const request = { method: "POST", url: "https://broker.example.com/token", headers: new Headers({ origin: APP }) };
  await b.handle(request, ctx); // the token, fetched once: every timed request is a cached one
  await plain.fetch(request, env);
  globalThis.Response = class {
    constructor(body, init) {
      this.body = body;
      this.init = init;
    }
    static json(body, init) {
      return new this(JSON.stringify(body), init);
    }
  };
  const N = 50_000;
  const out = { "tokenkit broker": [], "30-line JS Worker": [] };
  try {
    for (let r = 0; r < rounds + 1; r++) {
      let t0 = performance.now();
      for (let i = 0; i < N; i++) b.handle(request, ctx);
      const broker = ((performance.now() - t0) * 1e6) / N;
      t0 = performance.now();
      for (let i = 0; i < N; i++) plain.fetch(request, env);
      const js = ((performance.now() - t0) * 1e6) / N;
      if (r > 0) out["tokenkit broker"].push(broker), out["30-line JS Worker"].push(js); // the first warms up
    }
  } finally {
    [globalThis.fetch, globalThis.Response] = [realFetch, RealResponse];
  }
  return out;
}

/** Measures the workerd rows; `row(section, name, value)` records each. */
export async function workerdRows({ root, rounds, row, spread }) {
  const up = await startFixture();
  const dir = mkdtempSync(join(tmpdir(), "tokenkit-bench-"));
  writeFileSync(join(dir, "index.js"), plainWorker);
  const cpu = await handlerCpu(root, join(dir, "index.js"), rounds);
  for (const [name, v] of Object.entries(cpu)) row("broker cached /token, the handler's own CPU (Node, no network)", `${name}: per request`, spread(v, (x) => `${(x / 1000).toFixed(1)} µs`), "", name === "tokenkit broker" ? "broker.cpu" : undefined);
  const workers = {
    "tokenkit broker": () => workerdOptions(join(root, "worker/index.js"), join(root, "worker"), {}),
    "30-line JS Worker": () => workerdOptions(join(dir, "index.js"), dir, {}),
  };
  // The same JS Worker again, run beside them under load: its ratio to the first is what this
  // machine's noise alone gives (two identical Workers measured 0.82× to 1.10× per run in
  // fixed order, 1.00× in alternating order).
  const CONTROL = "30-line JS Worker, again (control)";
  const loaded = { ...workers, [CONTROL]: workers["30-line JS Worker"] };
  const bindings = (k) => ({ TOKEN_URL: up.url(k, "ttl=3600"), CLIENT_ID: "bench", CLIENT_SECRET: "bench-secret", ALLOWED_ORIGINS: APP, RATE_LIMIT: "0" });
  const start = async (name, k) => {
    const mf = new Miniflare({ ...loaded[name](), bindings: bindings(k) });
    const url = String(await mf.ready).replace(/\/$/, "");
    return { mf, url };
  };
  try {
    // Cold start: a fresh workerd (its own process) until the first /token is answered.
    const cold = Object.fromEntries(Object.keys(workers).map((k) => [k, []]));
    for (let r = 0; r < rounds; r++) {
      for (const name of Object.keys(workers)) {
        const t0 = performance.now();
        const { mf, url } = await start(name, `cold-${r}-${name.length}`);
        const res = await fetch(`${url}/token`, { method: "POST", headers: { origin: APP } });
        if (res.status !== 200) throw new Error(`${name}: first /token answered ${res.status}`);
        await res.arrayBuffer();
        cold[name].push(performance.now() - t0);
        await mf.dispose();
      }
    }
    for (const [name, v] of Object.entries(cold)) row("cold start", `workerd: new runtime → first /token answered, ${name}`, spread(v, (x) => `${x.toFixed(0)} ms`));

    // Throughput of a cached /token: all Workers running, rounds interleaved, the order
    // reversed every other round (whichever runs last in a round ran up to a tenth faster).
    const running = {};
    for (const name of Object.keys(loaded)) running[name] = await start(name, `load-${name.length}`);
    const N = 2000;
    const C = 16;
    const out = Object.fromEntries(Object.keys(loaded).map((k) => [k, []]));
    for (const { url } of Object.values(running)) await load(url, 200, C); // warm up
    const names = Object.keys(running);
    for (let r = 0; r < 2 * rounds; r++) for (const name of r % 2 ? [...names].reverse() : names) out[name].push(await load(running[name].url, N, C));
    for (const { mf } of Object.values(running)) await mf.dispose();
    const section = `broker cached /token, workerd, ${C} concurrent`;
    for (const [name, v] of Object.entries(out)) {
      row(section, `${name}: requests/s`, spread(v.map((x) => x.rps), (x) => x.toFixed(0)));
      row(section, `${name}: p50 / p99 latency`, `${quantile(v.map((x) => x.p50), 0.5).toFixed(2)} ms / ${quantile(v.map((x) => x.p99), 0.5).toFixed(2)} ms`);
    }
    const ratio = (a) => out[a].map((x, i) => x.rps / out["30-line JS Worker"][i].rps);
    row(section, "tokenkit / JS Worker throughput, per round (target ≥ 0.95×)", spread(ratio("tokenkit broker"), (x) => `${x.toFixed(2)}×`), "", "broker.ratio");
    row(section, "JS Worker / the same JS Worker, per round (the noise floor)", spread(ratio(CONTROL), (x) => `${x.toFixed(2)}×`), "", "broker.control");
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await up.close();
  }
}
