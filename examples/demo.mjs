// `make demo`: tokenkit end to end on this machine. Starts a local OAuth2 token server and
// a protected API on 127.0.0.1, then uses the built package as an app would and prints
// what happened. Tokens are shown redacted; the client secret is never printed.
import { TokenClient, TokenError } from "../pkg/node.js";
import { startFixture } from "../tests/fixtures/server.mjs";
import { startBroker } from "../worker/local.mjs";

const redact = (t) => `${t.slice(0, 6)}…${t.slice(-4)} (${t.length} chars)`;
const step = (n, text) => console.log(`\n${n}. ${text}`);

const server = await startFixture();
const scenario = "demo";
const tokenUrl = server.url(scenario, "ttl=30&seq=ok,ok,503,ok");
console.log(`local token server: ${tokenUrl}`);
console.log(`protected API:      ${server.api(scenario)}`);

const client = new TokenClient({
  tokenUrl,
  clientId: "demo-client",
  clientSecret: "demo-secret-never-printed",
  scope: ["read", "write"],
  allowedOrigins: [server.origin],
  refreshSkewSeconds: 10,
});
client.on("token", (info) => console.log(`   [event] token: ${redact(info.accessToken)}, expires in ${Math.round((info.expiresAt - Date.now()) / 1000)} s`));
client.on("error", (e) => console.log(`   [event] error: ${e.code}: ${e.message}`));

try {
  step(1, "client.fetch() the protected API: tokenkit fetches a token first (client_credentials, Basic auth)");
  const res = await client.fetch(server.api(scenario, "/reports"));
  console.log(`   API answered ${res.status}: ${await res.text()}`);

  step(2, "100 concurrent calls: answered from the in-memory cache");
  await Promise.all(Array.from({ length: 100 }, () => client.fetch(server.api(scenario, "/reports"))));
  console.log(`   token requests so far: ${server.count(scenario)}`);

  step(3, "the API says 401 (token revoked): tokenkit gets a new token and replays the call once");
  const replayed = await client.fetch(`${server.api(scenario, "/reports")}?reject=102`);
  console.log(`   API answered ${replayed.status}; token requests so far: ${server.count(scenario)}`);

  step(4, "the token server fails with 503 once: retried with backoff");
  client.invalidate();
  const info = await client.getTokenInfo();
  console.log(`   got ${redact(info.accessToken)} (${info.tokenType}, scope "${info.scope}"); token requests: ${server.count(scenario)}`);

  step(5, "a request to an origin outside allowedOrigins is refused before anything is sent");
  await client.fetch("https://evil.example.com/steal").catch((e) => {
    console.log(`   ${e instanceof TokenError ? "TokenError" : "Error"} ${e.code}: ${e.message}`);
  });
  step(6, "through the edge broker (worker/ in real workerd): the secret stays on the edge");
  const broker = await startBroker({
    TOKEN_URL: server.url("demo-broker", "ttl=30"),
    CLIENT_ID: "demo-client",
    CLIENT_SECRET: "demo-secret-never-printed",
    PROXY_ORIGIN: server.origin,
  });
  try {
    const brokerUrl = broker.url;
    console.log(`   broker: ${brokerUrl} (POST /token, /proxy/..., GET /healthz)`);
    const browserLike = new TokenClient({ brokerUrl: `${brokerUrl}/token`, allowedOrigins: [server.origin] });
    const viaBroker = await browserLike.fetch(server.api("demo-broker", "/reports"));
    console.log(`   TokenClient({ brokerUrl }) -> API answered ${viaBroker.status}; no client secret in this client`);
    const proxied = await fetch(`${brokerUrl}/proxy/s/demo-broker/api/reports`, { headers: { "Tokenkit-Request": "1" } }); // the CSRF header
    console.log(`   GET ${brokerUrl}/proxy/s/demo-broker/api/reports -> ${proxied.status} (the caller never held the token)`);
    console.log(`   upstream token requests for the broker: ${server.count("demo-broker")}`);
    browserLike.dispose();
  } finally {
    await broker.dispose();
  }

  console.log("\ndone: tokenkit fetched, cached, refreshed, replayed, retried, refused and brokered as designed.");
} finally {
  client.dispose();
  await server.close();
}
