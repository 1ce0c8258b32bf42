// tokenkit/broker's declarations: the one-line worker.js, a Worker that routes other paths,
// the Durable Object classes, and misuse that must not type-check.
import worker, { TokenBroker, TokenCache, UserSession, type BrokerEnv } from "tokenkit/broker";

export { default as entry, TokenCache as Cache, UserSession as Session } from "tokenkit/broker";

const env: BrokerEnv = {
  TOKEN_URL: "https://auth.example.com/token",
  CLIENT_ID: "edge",
  ALLOW_CREDENTIALS: "true",
  AUTHORIZE_URL: "https://auth.example.com/authorize",
  REDIRECT_URI: "https://edge.example.com/callback",
  SESSION_TTL: "3600",
};
const ctx = { waitUntil: (_: Promise<unknown>) => {} };
const broker = new TokenBroker(env);
export async function routed(request: Request): Promise<Response> {
  if (new URL(request.url).pathname === "/other") return new Response("other");
  return broker.handle(request, ctx);
}
export const viaDefault = (request: Request) => worker.fetch(request, env, ctx);
export const classes = [TokenCache, UserSession] as const;

export const bound: BrokerEnv = { ...env, DPOP: "true", DPOP_KEY: "{\"kty\":\"EC\"}" };
// @ts-expect-error DPOP is "true" or "false"
const badDpop: BrokerEnv = { DPOP: "on" };
void badDpop;
// @ts-expect-error ALLOW_CREDENTIALS is "true" or "false"
const badFlag: BrokerEnv = { ALLOW_CREDENTIALS: "yes" };
void badFlag;
// @ts-expect-error handle() needs the execution context
void broker.handle(new Request("https://edge.example.com/token"));

// No shared secret: private_key_jwt with CLIENT_KEY, pushed sign-ins, a token per API.
export const keyed: BrokerEnv = { TOKEN_URL: "https://as.example.com/token", CLIENT_ID: "svc", CLIENT_AUTH: "private_key_jwt", CLIENT_KEY: "{\"kty\":\"EC\"}", ASSERTION_AUDIENCE: "https://as.example.com", PAR_URL: "https://as.example.com/par", PROXY_ROUTES: "GET /orders/ audience=orders scope=orders:read" };
