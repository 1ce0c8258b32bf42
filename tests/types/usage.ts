// Compiled twice, with `strict` and `exactOptionalPropertyTypes` (tsc --init's defaults):
// once with the DOM lib (browsers) and once Node-only (`lib: es2022` + @types/node), so no
// DOM-only name may appear in a signature. The declarations must describe real use, and
// misuse must not type-check (each @ts-expect-error fails the build if it becomes valid).
import { TokenClient, TokenError, type TokenInfo, type TokenErrorCode } from "tokenkit";

const client = new TokenClient({
  tokenUrl: "https://auth.example.com/oauth2/token",
  clientId: "id",
  clientSecret: "secret",
  clientAuth: "client_secret_post",
  scope: ["read", "write"],
  allowedOrigins: ["https://api.example.com"],
  refreshSkewSeconds: 30,
});
const sypht = TokenClient.sypht({ clientId: "a", clientSecret: "b" });
const symbl = TokenClient.symbl({ appId: "a", appSecret: "b", tokenUrl: "http://localhost:1/t" });
const viaBroker = new TokenClient({ brokerUrl: "https://edge.example.com/token", credentials: "include", allowedOrigins: ["https://api.example.com"] });
void viaBroker.getToken();
const key = TokenClient.apiKey({ apiKey: "k", header: "X-Api-Key", allowedOrigins: "https://api.example.com" });

async function use(): Promise<void> {
  const token: string = await client.getToken();
  const info: TokenInfo = await sypht.getTokenInfo();
  const expires: number | null = info.expiresAt;
  const refreshAt: number | null = info.refreshAt;
  // Cloudflare Workers: the handler's ctx keeps a token request this call starts alive.
  const ctx = { waitUntil(_p: Promise<unknown>): void {} };
  await client.fetch("https://api.example.com/x", undefined, ctx);
  await client.getToken(ctx);
  const bounded = new TokenClient({ tokenUrl: "https://a.example.com/t", clientId: "a", clientSecret: "b", timeoutMs: 5000, deadlineMs: 20000 });
  void [refreshAt, bounded];
  const res: Response = await client.fetch("https://api.example.com/x", { method: "POST" });
  const req: Request = await key.sign(new Request("https://api.example.com/"));
  const off: () => void = symbl.on("token", (i) => console.log(i.tokenType, i.scope?.length));
  symbl.on("error", (e) => {
    const code: TokenErrorCode = e.code;
    if (e.code === "RATE_LIMITED") console.log(e.retryAfter?.toFixed());
    return code;
  });
  symbl.on("expired", () => {});
  off();
  try {
    await client.getToken();
  } catch (e) {
    if (e instanceof TokenError && e.code === "OAUTH_ERROR") console.log(e.error, e.errorDescription, e.status);
  }
  void [token, expires, res, req];
  client.invalidate();
  client.dispose();
}
void use;

// Optional fields accept undefined (exactOptionalPropertyTypes): options built from config.
const maybe: { scope?: string | undefined; timeoutMs?: number | undefined } = {};
new TokenClient({ tokenUrl: "https://a.example.com/t", clientId: "a", clientSecret: "b", scope: maybe.scope, timeoutMs: maybe.timeoutMs, fetch: undefined });
// A public client is the one way to leave out the secret.
new TokenClient({ tokenUrl: "https://a.example.com/t", clientId: "spa", clientAuth: "none" });
// The token endpoint discovered from the issuer (RFC 8414), or given (it wins).
new TokenClient({ issuer: "https://a.example.com", clientId: "a", clientSecret: "b" });
new TokenClient({ issuer: "https://a.example.com", tokenUrl: "https://a.example.com/t", clientId: "a", clientSecret: "b" });
// @ts-expect-error a token endpoint: tokenUrl or issuer
new TokenClient({ clientId: "a", clientSecret: "b" });
// The Symbl dialect through the constructor takes Symbl's names.
new TokenClient({ dialect: "symbl", tokenUrl: "https://api.symbl.ai/oauth2/token:generate", appId: "a", appSecret: "b" });
// fetch/sign take what fetch takes.
void client.sign(new URL("https://api.example.com/x"));
void client.fetch(new Request("https://api.example.com/x"), { method: "PUT", body: "b" });

// @ts-expect-error a confidential client needs its secret (or clientAuth: "none")
new TokenClient({ tokenUrl: "https://a.example.com/t", clientId: "a" });
// @ts-expect-error a public client has no secret
new TokenClient({ tokenUrl: "https://a.example.com/t", clientId: "a", clientAuth: "none", clientSecret: "b" });
// @ts-expect-error an API key needs allowedOrigins
TokenClient.apiKey({ apiKey: "k" });

// @ts-expect-error tokenUrl is required by the constructor
new TokenClient({ clientId: "a", clientSecret: "b" });
// @ts-expect-error unknown option names are errors
new TokenClient({ tokenUrl: "https://a.com/t", clientId: "a", clientSceret: "b" });
// @ts-expect-error clientAuth is an enumeration
new TokenClient({ tokenUrl: "https://a.com/t", clientId: "a", clientAuth: "basic" });
// @ts-expect-error symbl has no scope
TokenClient.symbl({ appId: "a", appSecret: "b", scope: "x" });
// @ts-expect-error credentials is an enumeration
new TokenClient({ brokerUrl: "https://edge.example.com/token", credentials: "always" });
// @ts-expect-error unknown events are errors
client.on("refresh", () => {});
// @ts-expect-error the token listener receives TokenInfo, not a string
client.on("token", (s: number) => s);

// A response's challenge, typed (step-up, scope); null when there is none.
import { challenge, type Challenge } from "tokenkit";
export async function stepUp(res: Response): Promise<number | undefined> {
  const c: Challenge | null = challenge(res);
  if (c?.error === "insufficient_user_authentication") return c.maxAge;
  return TokenClient.challenge(res)?.maxAge;
}

// private_key_jwt (servers): a private JWK or a CryptoKey, no secret; never both.
const jwk = { kty: "EC", crv: "P-256", x: "x", y: "y", d: "d", kid: "k1" };
const keyed = new TokenClient({ issuer: "https://as.example.com", clientId: "svc", clientAuth: "private_key_jwt", clientKey: jwk, assertionAudience: "https://as.example.com/token" });
void keyed.getToken();
async function withCryptoKey(k: { type: string; algorithm: { name: string } }): Promise<void> {
  await new TokenClient({ issuer: "https://as.example.com", clientId: "svc", clientAuth: "private_key_jwt", clientKey: k }).getToken();
}
void withCryptoKey;
// @ts-expect-error a key and a secret
new TokenClient({ issuer: "https://as.example.com", clientId: "svc", clientAuth: "private_key_jwt", clientKey: jwk, clientSecret: "s" });
// @ts-expect-error private_key_jwt needs the key
new TokenClient({ issuer: "https://as.example.com", clientId: "svc", clientAuth: "private_key_jwt" });

// An app's own helper that builds the options: TokenClientOptions names what the constructor takes.
import type { TokenClientOptions } from "tokenkit";
const built: TokenClientOptions = { tokenUrl: "https://auth.example.com/token", clientId: "a", clientSecret: "b", allowedOrigins: ["https://api.example.com"] };
void new TokenClient(built);

// What getTokenInfo() resolves to follows the options: an OAuth client's token expires, an API key does not.
{
  const oauth = new TokenClient({ tokenUrl: "https://auth.example.com/token", clientId: "a", clientSecret: "s" });
  const key = new TokenClient({ apiKey: "k", allowedOrigins: ["https://api.example.com"] });
  void oauth.getTokenInfo().then((i) => {
    const at: number = i.expiresAt;
    const refresh: number = i.refreshAt;
    void [at, refresh];
  });
  void key.getTokenInfo().then((i) => {
    const none: null = i.expiresAt;
    void none;
  });
  void TokenClient.apiKey({ apiKey: "k", allowedOrigins: "https://api.example.com" }).getTokenInfo().then((i) => {
    const none: null = i.refreshAt;
    void none;
  });
  const either: TokenClientOptions = Math.random() > 0.5 ? { apiKey: "k", allowedOrigins: "https://api.example.com" } : { tokenUrl: "https://auth.example.com/token", clientId: "a", clientSecret: "s" };
  void new TokenClient(either).getTokenInfo().then((i) => {
    // @ts-expect-error: either kind: number | null
    const at: number = i.expiresAt;
    void at;
  });
  // @ts-expect-error: an unknown option is still refused (overloads keep excess-property checks)
  void new TokenClient({ tokenUrl: "https://auth.example.com/token", clientId: "a", clientSecret: "s", clientSecrt: "s" });
  // `using`: free() at the end of the scope.
  oauth[Symbol.dispose]();
  void (oauth instanceof TokenClient);
}

// Subclassing: through TokenClientClass (the overloaded constructor cannot be a base class).
{
  class Logged extends (TokenClient as import("tokenkit").TokenClientClass) {
    async logged(): Promise<string> {
      const t = await this.getToken();
      console.log("token fetched");
      return t;
    }
  }
  const l = new Logged({ tokenUrl: "https://auth.example.com/token", clientId: "a", clientSecret: "s" });
  void l.logged();
  void (l instanceof TokenClient);
}

// The codes as constants (tokenkit/codes): a branch on one type-checks, an unknown one does not.
import { codes } from "tokenkit/codes";
{
  const onError = (e: unknown) => {
    if (e instanceof TokenError && e.code === codes.OAUTH_ERROR) return e.error;
    // @ts-expect-error: not a code
    if (e instanceof TokenError && e.code === codes.NO_SUCH_CODE) return "";
    return undefined;
  };
  void onError;
  const every: TokenErrorCode[] = Object.values(codes);
  void every;
}
