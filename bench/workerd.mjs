// The workerd rows of `make bench`: the broker (worker/index.js + worker/pkg/) next to a
// hand-written 30-line JS Worker doing the same job (one cached client-credentials token,
// served on POST /token to allowed origins), both in real workerd through Miniflare on
// 127.0.0.1. Rows: cold start (a fresh workerd to the first /token answered) and a cached
// /token under load (throughput, p50/p99), in interleaved rounds, beside a control (the JS
// Worker against itself).
import http from "node:http";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
 * The time each handler takes for a cached /token inside workerd: a wrapper module runs the
 * Worker's own `fetch` handler `n` times in one request (workerd's clocks stand still while a
 * request runs, so it is timed from outside), minus a request that runs it once. This counts
 * what the platform does for the handler too: converting an array of header pairs into a
 * Response took 21 µs there, a Headers copy 6 µs (a Node timing with a fake Response saw
 * neither). `workers` maps a name to [its module's directory, its main module]; ns per request.
 */
async function handlerInWorkerd(workers, bindings, rounds) {
  const N = 20_000;
  const wrapper = (main) => `import worker from "./${main}";
export default {
  async fetch(request, env, ctx) {
    const n = Number(new URL(request.url).searchParams.get("n"));
    const req = new Request("https://broker.example.com/token", { method: "POST", headers: { origin: "${APP}" } });
    let last;
    for (let i = 0; i < n; i++) last = await worker.fetch(req, env, ctx);
    return last;
  },
};
`;
  const running = {};
  const out = {};
  try {
    for (const [name, [dir, main]] of Object.entries(workers)) {
      const copy = mkdtempSync(join(tmpdir(), "tokenkit-handler-"));
      cpSync(dir, copy, { recursive: true });
      writeFileSync(join(copy, "_handler.js"), wrapper(main));
      const mf = new Miniflare({ ...workerdOptions(join(copy, "_handler.js"), copy, {}), bindings: bindings(`handler-${name.length}`) });
      running[name] = { mf, copy, url: String(await mf.ready).replace(/\/$/, "") };
      out[name] = [];
    }
    const time = async (url, n) => {
      const t0 = performance.now();
      const res = await fetch(`${url}/?n=${n}`);
      const body = await res.text();
      if (res.status !== 200 || !body.includes("access_token")) throw new Error(`handler loop answered ${res.status}: ${body.slice(0, 200)}`);
      return performance.now() - t0;
    };
    const names = Object.keys(running);
    for (let r = 0; r < 2 * rounds + 1; r++) {
      for (const name of r % 2 ? [...names].reverse() : names) {
        const { url } = running[name];
        const one = await time(url, 1);
        const many = await time(url, N);
        if (r > 0) out[name].push(((many - one) * 1e6) / (N - 1)); // the first round warms up
      }
    }
  } finally {
    for (const { mf, copy } of Object.values(running)) {
      await mf.dispose();
      rmSync(copy, { recursive: true, force: true });
    }
  }
  return out;
}

/** Measures the workerd rows; `row(section, name, value)` records each. */
export async function workerdRows({ root, rounds, row, spread }) {
  const up = await startFixture();
  const dir = mkdtempSync(join(tmpdir(), "tokenkit-bench-"));
  writeFileSync(join(dir, "index.js"), plainWorker);
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
  const handler = await handlerInWorkerd({ "tokenkit broker": [join(root, "worker"), "index.js"], "30-line JS Worker": [dir, "index.js"] }, bindings, rounds);
  for (const [name, v] of Object.entries(handler)) row("broker cached /token, the handler in workerd (no network)", `${name}: per request`, spread(v, (x) => `${(x / 1000).toFixed(1)} µs`), "", name === "tokenkit broker" ? "broker.handler" : undefined);
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
