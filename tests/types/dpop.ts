// tokenkit/dpop's declarations, compiled with usage.ts (both configs): a DPoP client with a
// made key and with the app's own, and misuse that must not type-check.
import { TokenClient, TokenError, type DpopOption } from "tokenkit/dpop";

const made = new TokenClient({ tokenUrl: "https://auth.example.com/token", clientId: "svc", clientSecret: "s", allowedOrigins: ["https://api.example.com"], dpop: true });
async function own(keyPair: { publicKey: object; privateKey: object }): Promise<void> {
  const c = new TokenClient({ tokenUrl: "https://auth.example.com/token", clientId: "svc", clientSecret: "s", dpop: { keyPair } });
  const info = await c.getTokenInfo();
  // A DPoP client's tokens are "DPoP": the type says it can be (it was "Bearer" only).
  const type: "Bearer" | "DPoP" = info.tokenType;
  if (info.tokenType === "DPoP") void type;
  const res: Response = await made.fetch("https://api.example.com/data");
  void res;
}
void own;
const user = new TokenClient({
  grant: "authorization_code",
  authorizeUrl: "https://auth.example.com/authorize",
  tokenUrl: "https://auth.example.com/token",
  clientId: "spa",
  clientAuth: "none",
  redirectUri: "https://app.example.com/callback",
  dpop: true,
});
void user.createAuthorizationUrl();
const option: DpopOption = false;
void option;
void TokenError;

// @ts-expect-error: dpop is true, false or { keyPair }
new TokenClient({ tokenUrl: "https://auth.example.com/token", clientId: "svc", clientSecret: "s", dpop: "yes" });
