// tokenkit/signin's declarations, compiled with usage.ts (both configs): a browser sign-in, a
// server-side one, and misuse that must not type-check.
import { TokenClient, TokenError, challenge, type PendingSignIn } from "tokenkit/signin";

const user = new TokenClient({
  grant: "authorization_code",
  authorizeUrl: "https://auth.example.com/authorize",
  tokenUrl: "https://auth.example.com/token",
  revocationUrl: "https://auth.example.com/revoke",
  clientId: "spa",
  clientAuth: "none",
  redirectUri: "https://app.example.com/callback",
  scope: "openid offline_access read",
  allowedOrigins: ["https://api.example.com"],
});
async function browserFlow(): Promise<void> {
  const url = await user.createAuthorizationUrl({ extraParams: { prompt: "login" } });
  if (typeof url === "string") void url.startsWith("https://");
  await user.completeAuthorization("https://app.example.com/callback?code=c&state=s");
  const signedIn: boolean = user.isAuthorized;
  void signedIn;
  await user.getToken();
  await user.signOut();
}
void browserFlow;

const server = new TokenClient({
  grant: "authorization_code",
  authorizeUrl: "https://auth.example.com/authorize",
  tokenUrl: "https://auth.example.com/token",
  clientId: "web",
  clientSecret: "s",
  redirectUri: "https://app.example.com/callback",
});
async function serverFlow(): Promise<void> {
  const pending = (await server.createAuthorizationUrl()) as PendingSignIn;
  await server.completeAuthorization(new URL("https://app.example.com/callback?code=c&state=s"), pending);
}
void serverFlow;

const e = new TokenError("LOGIN_REQUIRED", "sign in");
const code: "STATE_MISMATCH" | string = e.code;
void code;

// @ts-expect-error: a sign-in client needs a redirectUri
new TokenClient({ grant: "authorization_code", authorizeUrl: "https://a", tokenUrl: "https://t", clientId: "spa", clientAuth: "none" });
// @ts-expect-error: isAuthorized is read-only
user.isAuthorized = true;

// Step-up from a challenge: its ACR values and max age on the next sign-in.
export async function stepUpSignIn(client: TokenClient, res: Response): Promise<void> {
  const c = challenge(res);
  if (c?.error === "insufficient_user_authentication") await client.createAuthorizationUrl({ acrValues: c.acrValues, maxAge: c.maxAge, scope: ["openid", "admin"] });
}

// Configured by the issuer alone; half-given endpoints do not type-check.
export const byIssuer = new TokenClient({ grant: "authorization_code", issuer: "https://auth.example.com", clientId: "spa", clientAuth: "none", redirectUri: "https://app.example.com/cb" });
// @ts-expect-error authorizeUrl without tokenUrl
export const half = new TokenClient({ grant: "authorization_code", authorizeUrl: "https://auth.example.com/a", clientId: "spa", clientAuth: "none", redirectUri: "https://app.example.com/cb" });

// A server's sign-in with private_key_jwt and pushed authorization requests.
const par = new TokenClient({ grant: "authorization_code", issuer: "https://as.example.com", clientId: "web", redirectUri: "https://app.example.com/cb", clientAuth: "private_key_jwt", clientKey: { kty: "EC", crv: "P-256", x: "x", y: "y", d: "d" }, parUrl: "https://as.example.com/par" });
void par.createAuthorizationUrl();

// A sign-in client's tokens expire; its sign-in methods are there.
{
  const user = new TokenClient({ grant: "authorization_code", issuer: "https://auth.example.com", clientId: "spa", clientAuth: "none", redirectUri: "https://app.example.com/callback" });
  void user.getTokenInfo().then((i) => {
    const at: number = i.expiresAt;
    void at;
  });
  void user.signOut();
}

{
  class App extends (TokenClient as import("tokenkit/signin").TokenClientClass) {}
  void new App({ grant: "authorization_code", issuer: "https://auth.example.com", clientId: "spa", clientAuth: "none", redirectUri: "https://app.example.com/callback" }).signOut();
}
