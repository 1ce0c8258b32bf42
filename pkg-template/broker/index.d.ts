// tokenkit/broker: the edge token broker as a ready Cloudflare Worker.

/** The Worker's vars and secrets the broker reads (see the README's broker section). */
export interface BrokerEnv {
  TOKEN_URL?: string;
  CLIENT_ID?: string;
  /** Set with `wrangler secret put CLIENT_SECRET`, never in wrangler.toml. */
  CLIENT_SECRET?: string;
  CLIENT_AUTH?: "client_secret_basic" | "client_secret_post" | "private_key_jwt" | "none";
  /** With CLIENT_AUTH=private_key_jwt: the private JWK (a secret: `npx tokenkit-keygen` makes one) every request's assertion is signed with, in place of CLIENT_SECRET. */
  CLIENT_KEY?: string;
  /** The assertions' aud when it must not be ISSUER. */
  ASSERTION_AUDIENCE?: string;
  SCOPE?: string;
  AUDIENCE?: string;
  RESOURCE?: string;
  DIALECT?: "oauth2" | "symbl";
  /** "true": DPoP-bound tokens (RFC 9449); /token is then not served. */
  DPOP?: "true" | "false";
  /** A private JWK (a secret) the DPoP proofs are signed with; required with TOKEN_CACHE or sign-in. */
  DPOP_KEY?: string;
  /** Comma-separated browser origins allowed to call the broker. */
  ALLOWED_ORIGINS?: string;
  /** The API origin /proxy/ forwards to. */
  PROXY_ORIGIN?: string;
  /** Comma-separated entries `METHODS /path [audience=<name>] [resource=<url>] [scope=<scope>]...`: what /proxy/ forwards, and the token each API takes (its own, down-scoped; exchanged for a signed-in user's, RFC 8693). */
  PROXY_ROUTES?: string;
  BROKER_KEYS?: string;
  /** "true": allowed origins may call with cookies (Access-Control-Allow-Credentials). */
  ALLOW_CREDENTIALS?: "true" | "false";
  /** Requests per minute per client in each isolate (without RATE_LIMITER, or if it fails); 0 = off. */
  RATE_LIMIT?: string;
  /** Cloudflare's Rate Limiting binding ([[ratelimits]]), shared by a location's isolates. */
  RATE_LIMITER?: { limit(options: { key: string }): Promise<{ success: boolean }> };
  /** The TokenCache Durable Object namespace: one upstream token for the whole deployment. */
  TOKEN_CACHE?: unknown;
  /** Signing users in (backend-for-frontend): set it, or REDIRECT_URI with ISSUER (discovered), to turn it on. */
  AUTHORIZE_URL?: string;
  /** The broker's own /callback URL, registered at the authorization server; with ISSUER alone it turns sign-in on. */
  REDIRECT_URI?: string;
  REVOCATION_URL?: string;
  /** The pushed authorization request endpoint (RFC 9126); else discovered from ISSUER (the broker always pushes when the server has one). */
  PAR_URL?: string;
  /** The authorization server's issuer identifier: without TOKEN_URL its token endpoint is discovered (RFC 8414); sign-in checks callbacks' iss against it (RFC 9207). */
  ISSUER?: string;
  /** Default "openid offline_access". */
  SIGNIN_SCOPE?: string;
  /** Scope values /login?scope= may add to SIGNIN_SCOPE for a step-up (space- or comma-separated); none by default. */
  STEP_UP_SCOPES?: string;
  /** At least 32 random characters; a secret. Signs the session cookie. */
  SESSION_SECRET?: string;
  /** Seconds a session lasts from sign-in (default 86400). */
  SESSION_TTL?: string;
  /** The UserSession Durable Object namespace (required for sign-in). */
  SESSIONS?: unknown;
  [name: string]: unknown;
}

/** A Workers ExecutionContext, as far as the broker uses it. */
export interface BrokerContext {
  waitUntil(promise: Promise<unknown>): void;
}

/** The Worker: `export { default } from "tokenkit/broker";` is a complete worker.js. */
declare const worker: {
  fetch(request: Request, env: BrokerEnv, ctx: BrokerContext): Promise<Response>;
};
export default worker;

/** The broker itself, for a Worker that routes other paths too. One per isolate. */
export class TokenBroker {
  constructor(env: BrokerEnv);
  handle(request: Request, ctx: BrokerContext): Promise<Response>;
  free(): void;
}

/** A Durable Object state, as far as the broker's objects use it. */
export interface BrokerObjectState {
  waitUntil?(promise: Promise<unknown>): void;
  blockConcurrencyWhile<T>(fn: () => Promise<T>): Promise<T>;
  storage: unknown;
}

/** The deployment's token cache (bind as TOKEN_CACHE): export it from worker.js. */
export class TokenCache {
  constructor(state: BrokerObjectState, env: BrokerEnv);
  fetch(request: Request): Promise<Response>;
}

/** One browser session's tokens when the broker signs users in (bind as SESSIONS). */
export class UserSession {
  constructor(state: BrokerObjectState, env: BrokerEnv);
  fetch(request: Request): Promise<Response>;
  alarm(): Promise<void>;
}
