// The Chromium rows of `make bench`: cached getToken() next to auth0-spa-js getTokenSilently()
// (memory cache), oidc-client-ts getUser(), a hand-written cache and the await floor; and cold
// start (import -> first usable client) in a fresh browser context. Pages are served from
// 127.0.0.1 by a server that starts and stops here; the token endpoint is a fake fetch.
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { browserBundle } from "../scripts/figures.mjs";
import { launchChromium } from "../tests/fixtures/chromium.mjs";

const here = dirname(fileURLToPath(import.meta.url));

// Runs in the page: every contender once per round, in turn; ns/op per round.
const pageSource = `
import { TokenClient } from "tokenkit";
import { Auth0Client } from "@auth0/auth0-spa-js";
import { InMemoryWebStorage, User, UserManager, WebStorageStateStore } from "oidc-client-ts";

const TOKEN = "tok-" + "x".repeat(40);
const fakeFetch = async () => new Response(JSON.stringify({ access_token: TOKEN, token_type: "Bearer", expires_in: 3600 }), { headers: { "content-type": "application/json" } });

async function perOp(n, f) {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await f();
  return ((performance.now() - t0) * 1e6) / n;
}

window.bench = async (rounds) => {
  const client = new TokenClient({ tokenUrl: "https://auth.example.com/token", clientId: "a", clientAuth: "none", allowedOrigins: ["https://api.example.com"], fetch: fakeFetch });
  if ((await client.getToken()) !== TOKEN) throw new Error("tokenkit: no token");

  // auth0-spa-js with its in-memory cache holding a valid access token and ID token, as
  // after a login: getTokenSilently() answers from the cache.
  const auth0 = new Auth0Client({ domain: "auth.example.com", clientId: "a", cacheLocation: "memory" });
  await auth0.cacheManager.set({ client_id: "a", audience: "default", scope: auth0.scope.default, access_token: TOKEN, token_type: "Bearer", expires_in: 3600, id_token: "idt" });
  await auth0.cacheManager.setIdToken("a", "idt", { claims: { __raw: "idt", sub: "u" }, user: { sub: "u" } });
  if ((await auth0.getTokenSilently()) !== TOKEN) throw new Error("auth0-spa-js: not answered from its cache");

  // oidc-client-ts with its user in an in-memory store.
  const oidc = new UserManager({ authority: "https://auth.example.com", client_id: "a", redirect_uri: location.href, userStore: new WebStorageStateStore({ store: new InMemoryWebStorage() }) });
  await oidc.storeUser(new User({ access_token: TOKEN, token_type: "Bearer", profile: { sub: "u", iss: "https://auth.example.com", aud: "a", exp: 0, iat: 0 }, expires_at: Math.floor(Date.now() / 1000) + 3600 }));
  if ((await oidc.getUser())?.access_token !== TOKEN) throw new Error("oidc-client-ts: no user");

  let cache = { token: "", exp: 0 };
  const handWritten = async () => {
    if (cache.token && Date.now() < cache.exp) return cache.token;
    cache = { token: TOKEN, exp: Date.now() + 3_600_000 };
    return cache.token;
  };
  const contenders = {
    tokenkit: () => perOp(50_000, () => client.getToken()),
    "hand-written JS cache": () => perOp(200_000, handWritten),
    "await Promise.resolve() (floor)": () => perOp(200_000, () => Promise.resolve()),
    "@auth0/auth0-spa-js getTokenSilently()": () => perOp(5_000, () => auth0.getTokenSilently()),
    "oidc-client-ts getUser()": () => perOp(5_000, async () => (await oidc.getUser()).access_token),
  };
  const out = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
  for (let r = 0; r < 3; r++) for (const f of Object.values(contenders)) await f(); // warm up: the JIT settles over the first rounds
  for (let r = 0; r < rounds; r++) for (const [k, f] of Object.entries(contenders)) out[k].push(await f());
  client.dispose();
  return out;
};
`;

// Cold start: the import, then the first client, which decodes, compiles and instantiates
// the wasm (first use); the title reports [total ms, first-use ms].
const coldPage = `<!doctype html><meta charset="utf-8"><script type="module">
const t0 = performance.now();
const { TokenClient } = await import("/pkg/browser.js");
const t1 = performance.now();
new TokenClient({ tokenUrl: "https://auth.example.com/token", clientId: "a", clientAuth: "none" });
const t2 = performance.now();
document.title = JSON.stringify([t2 - t0, t2 - t1]);
</script>`;

// oauth4webapi's cold start for the same job (its module bundled, then a client's first
// request built: it has no cache and no wasm).
const o4wSource = `export * as oauth from "oauth4webapi";`;
const o4wPage = `<!doctype html><meta charset="utf-8"><script type="module">
const t0 = performance.now();
const { oauth } = await import("/o4w.js");
const as = { issuer: "https://auth.example.com", token_endpoint: "https://auth.example.com/token" };
await oauth.clientCredentialsGrantRequest(as, { client_id: "a" }, oauth.None(), new URLSearchParams(), { [oauth.customFetch]: async () => new Response("{}") });
document.title = JSON.stringify([performance.now() - t0, 0]);
</script>`;

const types = { ".js": "text/javascript", ".html": "text/html", ".json": "application/json" };

/** Measures the Chromium rows; `row(section, name, value)` records each. */
export async function chromiumRows({ pkg, rounds, row, spread, ns }) {
  const bundle = browserBundle(pageSource, pkg, here);
  const o4w = browserBundle(o4wSource, pkg, here);
  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    let body;
    if (path === "/") body = '<!doctype html><meta charset="utf-8"><script type="module" src="/bench.js"></script>';
    else if (path === "/bench.js") body = bundle;
    else if (path === "/cold.html") body = coldPage;
    else if (path === "/o4w.html") body = o4wPage;
    else if (path === "/o4w.js") body = o4w;
    else if (path.startsWith("/pkg/")) {
      const file = normalize(join(pkg, path.slice(5)));
      if (!file.startsWith(pkg)) return res.writeHead(404).end();
      try {
        body = readFileSync(file);
      } catch {
        return res.writeHead(404).end();
      }
    } else return res.writeHead(404).end();
    res.writeHead(200, { "content-type": types[extname(path) || ".html"] ?? "application/octet-stream", "cache-control": "no-store" }).end(body);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(String(e)));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => typeof window.bench === "function");
    const results = await page.evaluate((n) => window.bench(n), rounds);
    if (problems.length) throw new Error(`bench page: ${problems.join("; ")}`);
    const section = `cached getToken(), Chromium ${browser.version()}`;
    for (const [k, v] of Object.entries(results)) row(section, k, spread(v, ns));
    const m = (k) => [...results[k]].sort((a, b) => a - b)[Math.floor(results[k].length / 2)];
    row(section, "tokenkit / hand-written (target ≤ 1.2×)", `${(m("tokenkit") / m("hand-written JS cache")).toFixed(1)}×`, "", "cached.chromium.ratio");

    const coldRuns = async (page) => {
      const out = [];
      for (let r = 0; r < rounds; r++) {
        const ctx = await browser.newContext(); // a fresh cache and a fresh module map
        const p = await ctx.newPage();
        await p.goto(`${origin}/${page}`);
        await p.waitForFunction(() => document.title !== "");
        out.push(JSON.parse(await p.title()));
        await ctx.close();
      }
      return out;
    };
    const ms = (x) => `${x.toFixed(1)} ms`;
    const cold = await coldRuns("cold.html");
    row("cold start", "Chromium: import (the entry's modules from a loopback server) + first new TokenClient", spread(cold.map((c) => c[0]), ms));
    row("cold start", "Chromium: first use (decode, compile, instantiate the wasm, configure; target ≤ 10 ms)", spread(cold.map((c) => c[1]), ms), "", "cold.chromium.firstUse");
    const o4wCold = await coldRuns("o4w.html");
    row("cold start", "Chromium: oauth4webapi, import (one bundled module) + first token request built", spread(o4wCold.map((c) => c[0]), ms));
  } finally {
    await browser.close();
    server.close();
  }
}
