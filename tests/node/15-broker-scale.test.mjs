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
    for (const w of isolates) assert.deepEqual(await (await w.fetch("http://broker/healthz")).json(), { ok: true, cache: "durable-object" });
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

test("without the binding: the per-isolate cache, said at /healthz", async () => {
  const k = key("nobinding");
  const { host, port, ...w } = workerdOptions(`${worker}index.js`, worker, {});
  const mf = new Miniflare({ host, port, ...w, bindings: { TOKEN_URL: up.url(k, "ttl=60"), CLIENT_ID: "c", CLIENT_SECRET: "s", RATE_LIMIT: "0" } });
  try {
    await mf.ready;
    assert.deepEqual(await (await mf.dispatchFetch("http://broker/healthz")).json(), { ok: true, cache: "isolate" });
    assert.equal((await mf.dispatchFetch("http://broker/token", { method: "POST" })).status, 200);
  } finally {
    await mf.dispose();
  }
});
