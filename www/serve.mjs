// `make demo`: the whole tokenkit stack on 127.0.0.1, one line per URL, Ctrl-C stops it all.
//
//   - a local authorization server and a protected API (short token lifetimes, fault
//     injection for the page's fault buttons): tests/fixtures/server.mjs;
//   - the edge broker Worker in real workerd (Miniflare), holding the client secret;
//   - the demo page (www/) importing the built package (pkg/) as an app would.
//
// Real endpoints instead of the local server (the secret goes to the broker only):
//   TOKENKIT_TOKEN_URL, TOKENKIT_CLIENT_ID, TOKENKIT_CLIENT_SECRET, TOKENKIT_SCOPE,
//   TOKENKIT_AUDIENCE, TOKENKIT_DIALECT, TOKENKIT_API_URL; or TOKENKIT_PRESET=sypht|symbl
//   with TOKENKIT_CLIENT_ID / TOKENKIT_CLIENT_SECRET (and TOKENKIT_API_URL to call).
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { startFixture } from "../tests/fixtures/server.mjs";
import { startBroker } from "../worker/local.mjs";
// oidc-provider 9 says at import that it wants Node 22; it works on Node 20 (the one this
// project's tools run on, and the tests check it), so that one line is not printed.
const warn = console.warn;
console.warn = (...a) => (/oidc-provider WARNING: Unsupported runtime/.test(String(a[0])) ? undefined : warn(...a));
const { startOidc } = await import("../tests/fixtures/oidc.mjs");
console.warn = warn;
import { render } from "./markdown.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".wasm": "application/wasm", ".json": "application/json", ".svg": "image/svg+xml" };
const PRESETS = {
  sypht: { TOKEN_URL: "https://auth.sypht.com/oauth2/token", AUDIENCE: "https://api.sypht.com", api: "https://api.sypht.com/fileupload/v2/files" },
  symbl: { TOKEN_URL: "https://api.symbl.ai/oauth2/token:generate", DIALECT: "symbl", api: "https://api.symbl.ai/v1/conversations" },
};

/** Whether a server can listen on 127.0.0.1:`port` now. */
const free = (port) =>
  new Promise((resolve) => {
    const s = createServer().once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });

/**
 * Starts the stack; resolves to its URLs and a stop() that stops everything it started.
 * `port`: the page's (0: free ports for everything). With a fixed one, the authorization
 * server and API, the broker and the sign-in server take the three ports after it when they
 * are free (8001, 8002, 8003 by default: the README's quick starts use them).
 */
export async function startDemo({ port = 0, ttl = 30, env = process.env, redirects = [] } = {}) {
  const fixed = async (n) => (port && (await free(port + n)) ? port + n : 0);
  const stops = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
  };
  try {
    const auth = await startFixture({ port: await fixed(1) });
    stops.push(() => auth.close());

    // The page server: www/ and the built package under /pkg/ (no directory escapes). It
    // answers every request, whatever it is (a missing file, /favicon.ico, a malformed URL):
    // the body is read before the status is written, and nothing it throws escapes.
    const page = createServer((req, res) => {
      serve(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end();
      });
    });
    const send = (res, status, type, body) => res.writeHead(status, { "content-type": type, "cache-control": "no-store" }).end(body);
    async function serve(req, res) {
      let path;
      try {
        path = decodeURIComponent(new URL(req.url, "http://x").pathname);
      } catch {
        return send(res, 400, "text/plain; charset=utf-8", "bad request");
      }
      // The README and docs/, as HTML pages (the page's "Docs" link; nothing fetched from outside).
      const doc = path === "/docs" || path === "/docs/" ? "README.md" : /^\/docs\/([\w-]+\.md)$/.exec(path)?.[1];
      if (doc !== undefined) {
        const text = await readFile(join(root, doc === "README.md" ? "" : "docs", doc), "utf8").catch(() => undefined);
        if (text === undefined) return send(res, 404, "text/plain; charset=utf-8", "not found");
        return send(res, 200, "text/html; charset=utf-8", render(text, `tokenkit: ${doc}`));
      }
      if (path === "/config.json") return send(res, 200, "application/json", JSON.stringify(config));
      const [base, rel] = path.startsWith("/pkg/") ? ["pkg", path.slice(5)] : ["www", path === "/" ? "index.html" : path.slice(1)];
      const file = normalize(join(root, base, rel));
      if (!file.startsWith(join(root, base)) || rel.endsWith(".mjs")) return send(res, 404, "text/plain; charset=utf-8", "not found");
      const body = await readFile(file).catch(() => undefined);
      if (body === undefined) return send(res, 404, "text/plain; charset=utf-8", "not found");
      send(res, 200, TYPES[extname(file)] ?? "application/octet-stream", body);
    }
    await new Promise((resolve, reject) => {
      page.once("error", reject);
      page.listen(port, "127.0.0.1", resolve);
    }).catch(async (e) => {
      if (e.code !== "EADDRINUSE" || port === 0) throw e;
      await new Promise((resolve) => page.listen(0, "127.0.0.1", resolve));
    });
    stops.push(() => new Promise((r) => page.close(r)));
    const pageOrigin = `http://127.0.0.1:${page.address().port}`;

    const preset = PRESETS[env.TOKENKIT_PRESET] ?? {};
    const real = Boolean(env.TOKENKIT_TOKEN_URL || preset.TOKEN_URL);
    const upstream = real
      ? {
          TOKEN_URL: env.TOKENKIT_TOKEN_URL ?? preset.TOKEN_URL,
          CLIENT_ID: env.TOKENKIT_CLIENT_ID ?? "",
          CLIENT_SECRET: env.TOKENKIT_CLIENT_SECRET ?? "",
          ...(env.TOKENKIT_SCOPE ? { SCOPE: env.TOKENKIT_SCOPE } : {}),
          ...((env.TOKENKIT_AUDIENCE ?? preset.AUDIENCE) ? { AUDIENCE: env.TOKENKIT_AUDIENCE ?? preset.AUDIENCE } : {}),
          ...((env.TOKENKIT_DIALECT ?? preset.DIALECT) ? { DIALECT: env.TOKENKIT_DIALECT ?? preset.DIALECT } : {}),
        }
      : { TOKEN_URL: auth.url("demo-broker", `ttl=${ttl}`), CLIENT_ID: "demo-broker-client", CLIENT_SECRET: "demo-broker-secret" };
    const realApi = env.TOKENKIT_API_URL ?? preset.api;

    // The page's origin, and a dev server's (Vite's default port) for the README's quick start.
    const appOrigins = [pageOrigin, "http://localhost:5173", "http://127.0.0.1:5173"];
    const broker = await startBroker(
      {
        ...upstream,
        ALLOWED_ORIGINS: appOrigins.join(","),
        PROXY_ORIGIN: real && realApi ? new URL(realApi).origin : auth.origin,
      },
      { port: await fixed(2) },
    );
    stops.push(() => broker.dispose());
    const brokerOrigin = broker.url;

    // Signing a user in: oidc-provider (a standards-checked authorization server) with its
    // development login page; "Call API" asks its userinfo endpoint.
    // `redirects`: more (a test's app in place of the README's dev server).
    const oidc = await startOidc({ redirects: [`${pageOrigin}/`, "http://localhost:5173/callback", "http://127.0.0.1:5173/callback", ...redirects], accessTtl: ttl, port: await fixed(3) });
    stops.push(() => oidc.close());

    const local = (key) => ({ apiUrl: auth.api(key, "/reports"), statsUrl: `${auth.origin}/s/${key}/stats`, faultUrl: `${auth.origin}/s/${key}/fault` });
    const config = {
      ttl,
      real,
      modes: {
        broker: {
          brokerUrl: `${brokerOrigin}/token`,
          ...(real
            ? { apiUrl: realApi }
            : {
                ...local("demo-broker"),
                // For the fault buttons: revoke the broker's token at the API, and the same API
                // through the broker's /proxy/, whose 401 makes the broker drop its cached token.
                revokeUrl: `${auth.origin}/s/demo-broker/revoke`,
                proxyUrl: `${brokerOrigin}/proxy${new URL(auth.api("demo-broker", "/reports")).pathname}`,
              }),
        },
        ...(real
          ? {}
          : {
              direct: { tokenUrl: auth.url("demo-direct", `ttl=${ttl}`), clientId: "demo-public-client", ...local("demo-direct") },
              apikey: { apiKey: "static-key", ...local("demo-apikey") },
            }),
        signin: {
          authorizeUrl: `${oidc.issuer}/auth`,
          tokenUrl: `${oidc.issuer}/token`,
          revocationUrl: `${oidc.issuer}/token/revocation`,
          issuer: oidc.issuer,
          clientId: "spa",
          redirectUri: `${pageOrigin}/`,
          apiUrl: `${oidc.issuer}/me`,
        },
      },
    };
    return { pageUrl: `${pageOrigin}/`, brokerUrl: brokerOrigin, authUrl: auth.origin, auth, oidc, secret: upstream.CLIENT_SECRET, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const demo = await startDemo({ port: Number(process.env.PORT ?? 8000), ttl: Number(process.env.TOKENKIT_TTL ?? 30) });
  console.log(`authorization server + API (local): ${demo.authUrl}`);
  console.log(`edge broker (workerd):              ${demo.brokerUrl}`);
  console.log(`sign-in server (oidc-provider):     ${demo.oidc.issuer}  (any login and password)`);
  console.log(`demo page:                          ${demo.pageUrl}`);
  console.log("Ctrl-C stops everything.");
  const quit = async () => {
    await demo.stop();
    process.exit(0);
  };
  process.on("SIGINT", quit);
  process.on("SIGTERM", quit);
}
