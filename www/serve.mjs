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
import { startOidc } from "../tests/fixtures/oidc.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".wasm": "application/wasm", ".json": "application/json", ".svg": "image/svg+xml" };
const PRESETS = {
  sypht: { TOKEN_URL: "https://auth.sypht.com/oauth2/token", AUDIENCE: "https://api.sypht.com", api: "https://api.sypht.com/fileupload/v2/files" },
  symbl: { TOKEN_URL: "https://api.symbl.ai/oauth2/token:generate", DIALECT: "symbl", api: "https://api.symbl.ai/v1/conversations" },
};

/** Starts the stack; resolves to its URLs and a stop() that stops everything it started. */
export async function startDemo({ port = 0, ttl = 30, env = process.env } = {}) {
  const stops = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
  };
  try {
    const auth = await startFixture();
    stops.push(() => auth.close());

    // The page server: www/ and the built package under /pkg/ (no directory escapes).
    const page = createServer(async (req, res) => {
      const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
      if (path === "/docs") {
        // The project README, as the page's "docs" link (nothing is fetched from outside).
        res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" }).end(await readFile(join(root, "README.md")));
        return;
      }
      if (path === "/config.json") {
        res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(config));
        return;
      }
      const [base, rel] = path.startsWith("/pkg/") ? ["pkg", path.slice(5)] : ["www", path === "/" ? "index.html" : path.slice(1)];
      const file = normalize(join(root, base, rel));
      if (!file.startsWith(join(root, base)) || rel.endsWith(".mjs")) return res.writeHead(404).end();
      try {
        res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" }).end(await readFile(file));
      } catch {
        res.writeHead(404).end();
      }
    });
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

    const broker = await startBroker({
      ...upstream,
      ALLOWED_ORIGINS: pageOrigin,
      PROXY_ORIGIN: real && realApi ? new URL(realApi).origin : auth.origin,
    });
    stops.push(() => broker.dispose());
    const brokerOrigin = broker.url;

    // Signing a user in: oidc-provider (a standards-checked authorization server) with its
    // development login page; "Call API" asks its userinfo endpoint.
    const oidc = await startOidc({ redirects: [`${pageOrigin}/`], accessTtl: ttl });
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
