// The broker at scale: several broker Workers (separate isolates, as Cloudflare runs a
// deployment) in one Miniflare, bound to one Durable Object namespace (TOKEN_CACHE), all in
// workerd on 127.0.0.1. The token endpoint must see one request per refresh window for the
// whole deployment, not one per isolate; without a working object each isolate still serves.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { workerdOptions } from "../../worker/local.mjs";
import { startFixture, key } from "./helpers.mjs";

const worker = new URL("../../worker/", import.meta.url).pathname;
const ISOLATES = 8;
let up;
before(async () => (up = await startFixture()));
after(() => up.close());

/** A deployment: `ISOLATES` broker Workers whose TOKEN_CACHE is class `className` of `cacheScript`. */
async function deployment(bindings, cache) {
  const { host, port, ...w } = workerdOptions(`${worker}index.js`, worker, {});
  const mf = new Miniflare({
    host,
    port,
    workers: [
      cache ?? { ...w, name: "cache", bindings, durableObjects: { TOKEN_CACHE: "TokenCache" } },
      ...Array.from({ length: ISOLATES }, (_, i) => ({
        ...w,
        name: `isolate-${i}`,
        bindings,
        durableObjects: { TOKEN_CACHE: { className: "TokenCache", scriptName: "cache" } },
      })),
    ],
  });
  await mf.ready;
  const isolates = await Promise.all(Array.from({ length: ISOLATES }, (_, i) => mf.getWorker(`isolate-${i}`)));
  return { mf, isolates };
}

/** `n` concurrent POST /token to every isolate; the tokens they answered with. */
async function burst(isolates, n) {
  const all = await Promise.all(
    isolates.flatMap((w) =>
      Array.from({ length: n }, async () => {
        const r = await w.fetch("http://broker/token", { method: "POST" });
        const body = await r.json();
        assert.equal(r.status, 200, JSON.stringify(body));
        return body.access_token;
      }),
    ),
  );
  return all;
}

test(`${ISOLATES} isolates × 200 concurrent /token on a cold deployment: one upstream request; one more per refresh window`, async () => {
  const k = key("scale");
  const { mf, isolates } = await deployment({ TOKEN_URL: up.url(k, "ttl=12"), CLIENT_ID: "c", CLIENT_SECRET: "s", RATE_LIMIT: "0" });
  try {
    for (const w of isolates) assert.deepEqual(await (await w.fetch("http://broker/healthz")).json(), { ok: true, cache: "durable-object", rateLimit: "off" });
    const first = await burst(isolates, 200);
    assert.equal(new Set(first).size, 1, "every isolate serves the deployment's one token");
    assert.equal(up.count(k), 1, `${ISOLATES * 200} calls, one upstream token request`);
    // Keep calling until the token changes (the object refreshes at half-life): exactly one
    // more upstream request for the whole deployment.
    let now = first[0];
    for (let i = 0; i < 60 && now === first[0]; i++) {
      const tokens = await burst(isolates, 5);
      now = tokens.find((t) => t !== first[0]) ?? first[0];
      if (now === first[0]) await new Promise((r) => setTimeout(r, 250));
    }
    assert.notEqual(now, first[0], "a new token within 15 s");
    assert.equal(up.count(k), 2, "one upstream request for the new window, whatever the isolates");
  } finally {
    await mf.dispose();
  }
});

/** `n` concurrent proxied calls from every isolate: their statuses. */
async function proxied(isolates, k, n) {
  return Promise.all(
    isolates.flatMap((w) =>
      Array.from({ length: n }, async () => {
        const r = await w.fetch(`http://broker/proxy/s/${k}/api/x`, { headers: { "tokenkit-request": "1" } });
        await r.arrayBuffer();
        return r.status;
      }),
    ),
  );
}

for (const cached of [true, false]) {
  test(`an API's 401 drops the token it refused ${cached ? "in the TOKEN_CACHE object too: every isolate refusing at once makes one upstream request" : "(no TOKEN_CACHE: in the isolate)"}`, async () => {
    const k = key("refused");
    const bindings = { TOKEN_URL: up.url(k, "ttl=300"), CLIENT_ID: "c", CLIENT_SECRET: "s", RATE_LIMIT: "0", PROXY_ORIGIN: up.origin };
    const { mf, isolates } = cached
      ? await deployment(bindings)
      : await (async () => {
          const { host, port, ...w } = workerdOptions(`${worker}index.js`, worker, {});
          const mf = new Miniflare({ host, port, ...w, bindings });
          await mf.ready;
          return { mf, isolates: [await mf.getWorker()] };
        })();
    try {
      assert.deepEqual(new Set(await proxied(isolates, k, 5)), new Set([200]));
      assert.equal(up.count(k), 1);
      // A caller cannot make the broker drop its token: the edge's /token ignores the header.
      const held = (await (await isolates[0].fetch("http://broker/token", { method: "POST" })).json()).access_token;
      const again = await isolates[0].fetch("http://broker/token", { method: "POST", headers: { "tokenkit-refused": held } });
      assert.equal((await again.json()).access_token, held);
      assert.equal(up.count(k), 1);
      // The server revokes the token (the API now refuses it): each isolate's next call is
      // refused once, and every call after that gets a fresh token, from one upstream request.
      await fetch(`${up.origin}/s/${k}/revoke`);
      const refused = await proxied(isolates, k, 3);
      assert.ok(refused.includes(401) && refused.every((x) => x === 401 || x === 200), JSON.stringify(refused));
      assert.deepEqual(new Set(await proxied(isolates, k, 5)), new Set([200]), "a fresh token after the refusal, not the refused one until it expires");
      assert.equal(up.count(k), 2, "one upstream request for the whole deployment");
    } finally {
      await mf.dispose();
    }
  });
}

test("the Durable Object failing: every isolate falls back to its own cache and still serves", async () => {
  const k = key("fallback");
  const dir = mkdtempSync(join(tmpdir(), "tokenkit-broken-"));
  writeFileSync(join(dir, "broken.js"), `export class TokenCache { fetch() { throw new Error("object unavailable"); } }\nexport default { fetch() { return new Response("x"); } };\n`);
  try {
    const bindings = { TOKEN_URL: up.url(k, "ttl=60"), CLIENT_ID: "c", CLIENT_SECRET: "s", RATE_LIMIT: "0" };
    const { mf, isolates } = await deployment(bindings, {
      name: "cache",
      modules: true,
      scriptPath: join(dir, "broken.js"),
      modulesRoot: dir,
      compatibilityDate: "2025-01-01",
      durableObjects: { TOKEN_CACHE: "TokenCache" },
    });
    try {
      const tokens = await burst(isolates, 20);
      assert.equal(tokens.length, ISOLATES * 20);
      assert.equal(up.count(k), ISOLATES, "one upstream request per isolate: the fallback");
    } finally {
      await mf.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The isolate passes the object's 5xx on as `upstream_unavailable` (the contract's client
// reads a 5xx as HTTP_ERROR, whatever its code).
for (const [seq, status, code] of [
  ["malformed", 502, "upstream_unavailable"],
  ["500", 502, "upstream_unavailable"],
]) {
  test(`upstream failing (${seq}): the object's answer is passed on; no isolate retries it or asks upstream itself`, async () => {
    // The object runs the retry schedule against upstream; an isolate that retried the
    // object, then fell back to its own request, sent each failing server four times as
    // many requests per isolate (the object's own retries aside).
    const k = key(`upfail-${seq}`);
    const { mf, isolates } = await deployment({ TOKEN_URL: up.url(k, `seq=${seq}`), CLIENT_ID: "c", CLIENT_SECRET: "s", RATE_LIMIT: "0" });
    try {
      for (const w of isolates.slice(0, 3)) {
        const before = up.count(k);
        const r = await w.fetch("http://broker/token", { method: "POST" });
        const body = await r.json();
        assert.deepEqual([r.status, body.error], [status, code], JSON.stringify(body));
        // One request for the object's flight, plus its own retries of a 5xx (two).
        assert.equal(up.count(k) - before, seq === "500" ? 3 : 1, "the object's requests only");
      }
    } finally {
      await mf.dispose();
    }
  });
}

test("without the binding: the per-isolate cache, said at /healthz", async () => {
  const k = key("nobinding");
  const { host, port, ...w } = workerdOptions(`${worker}index.js`, worker, {});
  const mf = new Miniflare({ host, port, ...w, bindings: { TOKEN_URL: up.url(k, "ttl=60"), CLIENT_ID: "c", CLIENT_SECRET: "s", RATE_LIMIT: "0" } });
  try {
    await mf.ready;
    assert.deepEqual(await (await mf.dispatchFetch("http://broker/healthz")).json(), { ok: true, cache: "isolate", rateLimit: "off" });
    assert.equal((await mf.dispatchFetch("http://broker/token", { method: "POST" })).status, 200);
  } finally {
    await mf.dispose();
  }
});

/** Waits out the last seconds of a rate limit window (a count straddling two is not one window's). */
async function freshWindow(period) {
  const left = period * 1000 - (Date.now() % (period * 1000));
  if (left < 8000) await new Promise((r) => setTimeout(r, left + 50));
}

/** `n` GET /healthz from `ip` (each with another spoofed X-Forwarded-For); their statuses. A 429 must carry `wait` as Retry-After. */
const calls = (w, ip, n, wait = "10") =>
  Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const r = await w.fetch("http://broker/healthz", { headers: { "cf-connecting-ip": ip, "x-forwarded-for": `192.0.2.${i}` } });
      await r.arrayBuffer();
      if (r.status === 429) assert.equal(r.headers.get("retry-after"), wait);
      return r.status;
    }),
  );
const ok = (statuses) => statuses.filter((s) => s === 200).length;

test("the Rate Limiting binding (Miniflare's): keyed by CF-Connecting-IP, IPv6 by /64; X-Forwarded-For changes nothing", async () => {
  const { host, port, ...w } = workerdOptions(`${worker}index.js`, worker, {});
  const mf = new Miniflare({
    host,
    port,
    ...w,
    bindings: { TOKEN_URL: up.url(key("rl"), "ttl=60"), CLIENT_ID: "c", CLIENT_SECRET: "s", RATE_LIMIT: "1000" },
    ratelimits: { RATE_LIMITER: { simple: { limit: 5, period: 60 } } },
  });
  try {
    await mf.ready;
    const b = { fetch: (url, init) => mf.dispatchFetch(url, init) };
    await freshWindow(60);
    assert.equal(ok(await calls(b, "203.0.113.5", 12)), 5, "the binding's limit, not the isolate's 1000 a minute");
    assert.equal(ok(await calls(b, "203.0.113.6", 3)), 3, "another client has its own");
    assert.equal(ok(await calls(b, "2001:db8:0:7::1", 4)) + ok(await calls(b, "2001:db8:0:7:ffff::2", 4)), 5, "one /64, one client");
    const h = await (await b.fetch("http://broker/healthz", { headers: { "cf-connecting-ip": "203.0.113.99" } })).json();
    assert.equal(h.rateLimit, "binding");
  } finally {
    await mf.dispose();
  }
});

test(`the limit holds across ${ISOLATES} isolates sharing the binding; a failing binding falls back to each isolate's buckets`, async () => {
  // Miniflare's own binding counts per Worker; Cloudflare's counts per location, shared by
  // its isolates. This stand-in has the binding's interface and one count for all isolates.
  const dir = mkdtempSync(join(tmpdir(), "tokenkit-limiter-"));
  writeFileSync(
    join(dir, "limiter.js"),
    `import { WorkerEntrypoint } from "cloudflare:workers";
const counts = new Map();
export class Limiter extends WorkerEntrypoint {
  limit(options) {
    if (Object.keys(options).join() !== "key") throw new Error("the binding takes { key }");
    if (options.key === "203.0.113.66") throw new Error("limiter down");
    const n = (counts.get(options.key) ?? 0) + 1;
    counts.set(options.key, n);
    return { success: n <= 50 };
  }
}
export default { fetch() { return new Response("limiter"); } };
`,
  );
  const { host, port, ...w } = workerdOptions(`${worker}index.js`, worker, {});
  const bindings = { TOKEN_URL: up.url(key("rl8"), "ttl=60"), CLIENT_ID: "c", CLIENT_SECRET: "s", RATE_LIMIT: "5" };
  const mf = new Miniflare({
    host,
    port,
    workers: [
      ...Array.from({ length: ISOLATES }, (_, i) => ({
        ...w,
        name: `isolate-${i}`,
        bindings,
        serviceBindings: { RATE_LIMITER: { name: "limiter", entrypoint: "Limiter" } },
      })),
      { name: "limiter", modules: true, scriptPath: join(dir, "limiter.js"), modulesRoot: dir, compatibilityDate: "2025-01-01" },
    ],
  });
  try {
    await mf.ready;
    const isolates = await Promise.all(Array.from({ length: ISOLATES }, (_, i) => mf.getWorker(`isolate-${i}`)));
    const spread = async (ip, n, wait) => (await Promise.all(isolates.map((b) => calls(b, ip, n, wait)))).flat();
    assert.equal(ok(await spread("198.51.100.1", 20)), 50, `${ISOLATES * 20} calls from one client across ${ISOLATES} isolates: the shared limit of 50`);
    assert.equal(ok(await spread("198.51.100.2", 5)), ISOLATES * 5, "another client is not limited by the first");
    assert.equal(ok(await spread("203.0.113.66", 10, "12")), ISOLATES * 5, "binding down: each isolate's own 5 a minute");
  } finally {
    await mf.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
