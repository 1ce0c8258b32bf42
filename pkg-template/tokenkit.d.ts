// Type declarations for tokenkit.

/** Stable error codes; branch on `err.code`. */
/** Every `err.code` (generated from the core's list; the same values as `tokenkit/codes`). */
export type TokenErrorCode =
%ERROR_CODES%;

/** Every failure of tokenkit's own is a TokenError. Messages never contain secrets or tokens. */
export class TokenError extends Error {
  constructor(code: TokenErrorCode, message: string, options?: TokenErrorOptions);
  readonly name: "TokenError";
  readonly code: TokenErrorCode;
  /** HTTP status of the token endpoint's answer (OAUTH_ERROR, HTTP_ERROR, RATE_LIMITED, INVALID_RESPONSE). */
  readonly status?: number;
  /** RFC 6749 §5.2 `error`, e.g. "invalid_client" (OAUTH_ERROR). */
  readonly error?: string;
  /** RFC 6749 §5.2 `error_description`, when the server sent a printable one (OAUTH_ERROR). */
  readonly errorDescription?: string;
  /** Seconds the server asked to wait, from `Retry-After` (RATE_LIMITED, or HTTP_ERROR for a 503). */
  readonly retryAfter?: number;
}

export interface TokenErrorOptions {
  status?: number | undefined;
  error?: string | undefined;
  errorDescription?: string | undefined;
  retryAfter?: number | undefined;
  cause?: unknown;
}

/** What `fetch` accepts, without DOM-only names, so a Node-only project (no "dom" lib) sees the same types. */
export type FetchInput = string | URL | Request;

export type FetchLike = (input: FetchInput, init?: RequestInit) => Promise<Response>;

/** Options shared by every constructor. Every optional field also accepts `undefined`. */
export interface CommonOptions {
  /** Origins (scheme://host[:port]) that may receive the token. https, or http on a loopback host. Default: none (presets: their API). */
  allowedOrigins?: string | readonly string[] | undefined;
  /** A fetch to use instead of the global one (tests, Workers bindings). */
  fetch?: FetchLike | undefined;
}

/** When to refresh, how long to wait, how often to retry. */
export interface TimingOptions {
  /** Refresh this long before expiry (default 60; at most half the token's life). */
  refreshSkewSeconds?: number | undefined;
  /** Lifetime assumed when the server omits expires_in (default 3600, at least 10). */
  defaultExpiresInSeconds?: number | undefined;
  /** Per token request attempt, including reading the body (default 10000). */
  timeoutMs?: number | undefined;
  /** For one getToken(): every attempt, backoff and Retry-After wait together (default 30000). */
  deadlineMs?: number | undefined;
  /** Retries for network errors, timeouts, 429 and 5xx (default 2, at most 10). */
  maxRetries?: number | undefined;
}

/** RFC 6749 request parameters. */
export interface GrantOptions {
  scope?: string | readonly string[] | undefined;
  audience?: string | undefined;
  /** RFC 8707 resource indicator (an absolute URL), sent exactly as given. */
  resource?: string | undefined;
  /** More form parameters; cannot override grant_type, client_id, client_secret, scope, audience, resource. */
  extraParams?: Readonly<Record<string, string>> | undefined;
}

/** A confidential client: a secret, sent with Basic auth (default) or in the body. */
export interface SecretAuth {
  clientSecret: string;
  clientAuth?: "client_secret_basic" | "client_secret_post" | undefined;
}

/** A public client (RFC 6749 §2.1): `clientAuth: "none"` is the only way to leave out the secret. */
export interface PublicAuth {
  clientAuth: "none";
  clientSecret?: undefined;
}

/** A private key to sign with: a WebCrypto `CryptoKey` (typed by shape: a browser's, Node's or a Worker's), or a private JWK. */
export type ClientKey =
  | { readonly type: string; readonly algorithm: { readonly name: string } }
  | { readonly kty: string; readonly d: string; readonly kid?: string | undefined; readonly alg?: string | undefined; readonly [member: string]: unknown };

/**
 * `private_key_jwt` (RFC 7523, FAPI 2.0): each request carries a JWT signed with the client's
 * key instead of a shared secret (`iss` = `sub` = clientId, `aud` = the issuer identifier,
 * a new `jti`, 60 s of life). Servers only (the Node and Workers entries): a page's entry
 * refuses it. Make a key pair with `npx tokenkit-keygen`.
 */
export interface KeyAuth {
  clientAuth: "private_key_jwt";
  /** A private `CryptoKey` that can sign (ECDSA P-256/P-384/P-521, Ed25519, RSASSA-PKCS1-v1_5 or RSA-PSS with SHA-256), or a private JWK (imported once by WebCrypto, not extractable; its `kid` goes into each assertion). */
  clientKey: ClientKey;
  /** The assertions' `aud` when it must not be the issuer identifier (a server that still wants its token endpoint). Default: `issuer`. */
  assertionAudience?: string | undefined;
  clientSecret?: undefined;
}

/**
 * The token endpoint, given or discovered: `tokenUrl`, or `issuer` alone (its metadata is
 * fetched once, RFC 8414 then OpenID Connect Discovery), or both (`tokenUrl` wins).
 */
export type TokenEndpoint =
  | {
      /** The token endpoint: https, or http on localhost / 127.0.0.0/8 / [::1]. */
      tokenUrl: string;
      /** The authorization server's issuer identifier. */
      issuer?: string | undefined;
    }
  | {
      tokenUrl?: undefined;
      /** The authorization server's issuer identifier (https, no query or fragment): the token endpoint is discovered from it. */
      issuer: string;
    }
  | {
      tokenUrl?: undefined;
      issuer?: undefined;
      /** RFC 9728: the protected resource's metadata names its authorization server, which is discovered. */
      resource: string;
      /** Where that metadata is, if not the well-known location: a 401's `resource_metadata` (`challenge(res).resourceMetadata`), on the resource's origin. */
      resourceMetadata?: string | undefined;
    };

/** `new TokenClient({ tokenUrl | issuer, clientId, clientSecret | clientAuth: "none", ... })`. Unknown names are rejected. */
export type ClientCredentialsOptions = CommonOptions &
  TimingOptions &
  GrantOptions &
  TokenEndpoint & {
    clientId: string;
    dialect?: "oauth2" | undefined;
    /** The default. `"authorization_code"` (signing users in) is in "tokenkit/signin". */
    grant?: "client_credentials" | undefined;
  } & (SecretAuth | PublicAuth | KeyAuth);

/** Symbl's JSON app-credentials endpoint, through the constructor: `{ dialect: "symbl", tokenUrl, appId, appSecret }`. */
export interface SymblDialectOptions extends CommonOptions, TimingOptions {
  dialect: "symbl";
  tokenUrl: string;
  appId: string;
  appSecret: string;
}

export type SyphtOptions = CommonOptions &
  TimingOptions &
  GrantOptions & {
    clientId: string;
    clientSecret: string;
    /** Default https://auth.sypht.com/oauth2/token. */
    tokenUrl?: string | undefined;
    clientAuth?: "client_secret_basic" | "client_secret_post" | undefined;
  };

export interface SymblOptions extends CommonOptions, TimingOptions {
  appId: string;
  appSecret: string;
  /** Default https://api.symbl.ai/oauth2/token:generate. */
  tokenUrl?: string | undefined;
  dialect?: "symbl" | undefined;
}

/** A client that gets tokens from a tokenkit edge broker: no secret in the browser. */
export interface BrokerClientOptions extends CommonOptions, TimingOptions {
  /** The broker's token endpoint, e.g. "https://edge.example.com/token". */
  brokerUrl: string;
  /** fetch credentials mode for the broker request (default "omit"; "include" sends its cookies). */
  credentials?: "omit" | "same-origin" | "include" | undefined;
}

export interface ApiKeyOptions extends CommonOptions {
  apiKey: string;
  /** The header to send the key in, as is. Default: `Authorization: Bearer <key>`. */
  header?: string | undefined;
  /** Required: the origins that may receive the key. */
  allowedOrigins: string | readonly string[];
}

export interface TokenInfo {
  accessToken: string;
  /** "Bearer"; "DPoP" for a `tokenkit/dpop` client with `dpop` on. Tokens of other types are refused (INVALID_RESPONSE). */
  tokenType: "Bearer" | "DPoP";
  /** Milliseconds since the epoch, counted from when the request was sent (a token response without `expires_in` lives `defaultExpiresInSeconds`); null for API keys. */
  expiresAt: number | null;
  /** When the client refreshes the token (ms since the epoch), as it computed it; null for API keys. */
  refreshAt: number | null;
  /** The granted scope (the requested one if the server did not say), or null. */
  scope: string | null;
}

/**
 * What a client holds: `"oauth"`, tokens from a token endpoint or a broker, which expire (so
 * `getTokenInfo()` has `expiresAt` and `refreshAt`), or `"apiKey"`, a static key, which does not.
 * `new TokenClient(options)` infers it from the options.
 */
export type TokenKind = "oauth" | "apiKey";

/** `getTokenInfo()` of a client of kind `K`. */
export type TokenInfoOf<K extends TokenKind> = K extends "apiKey"
  ? TokenInfo & { expiresAt: null; refreshAt: null }
  : TokenInfo & { expiresAt: number; refreshAt: number };

/** A Cloudflare Workers `ExecutionContext` (or anything with `waitUntil`): a token request
 * this call starts is handed to it, so it completes for every waiter. */
export interface WaitUntilContext {
  waitUntil(promise: Promise<unknown>): void;
}

export interface TokenClientEvents {
  /** A new token was stored. */
  token: (info: TokenInfo) => void;
  /** The token lapsed without a replacement. */
  expired: () => void;
  /** A token request failed (also when an unexpired old token was used instead). */
  error: (error: TokenError) => void;
}

/**
 * The first challenge of a response's `WWW-Authenticate` (RFC 9110 §11.6.1): its scheme and
 * the parameters apps branch on (RFC 6750 §3, RFC 9470 step-up, RFC 9728). Absent ones are
 * undefined; `maxAge` is a whole number of seconds.
 */
export interface Challenge {
  scheme: string;
  error?: string | undefined;
  errorDescription?: string | undefined;
  scope?: string | undefined;
  acrValues?: string | undefined;
  maxAge?: number | undefined;
  resourceMetadata?: string | undefined;
  realm?: string | undefined;
}

/** The first challenge of `response`'s WWW-Authenticate, or null (none, or no headers). */
export function challenge(response: { headers: { get(name: string): string | null } }): Challenge | null;

/** Every option set `new TokenClient(options)` takes (to type a helper that builds them). */
export type TokenClientOptions = ClientCredentialsOptions | SymblDialectOptions | BrokerClientOptions | ApiKeyOptions;

/** A client. `K`: what it holds (inferred by `new TokenClient(options)`), which types `getTokenInfo()`. */
export interface TokenClient<K extends TokenKind = TokenKind> {
  /**
   * The access token, from memory while it is valid (also while its refresh runs);
   * concurrent calls share one request. In Cloudflare Workers pass the handler's `ctx`.
   */
  getToken(ctx?: WaitUntilContext | undefined): Promise<string>;
  getTokenInfo(ctx?: WaitUntilContext | undefined): Promise<TokenInfoOf<K>>;
  /** Like global fetch, with the token attached if the origin is allowed; a refused token replays once. */
  fetch(input: FetchInput, init?: RequestInit, ctx?: WaitUntilContext): Promise<Response>;
  /** A new Request with the token attached (allowed origins only). */
  sign(request: FetchInput, ctx?: WaitUntilContext): Promise<Request>;
  /** Forget the cached token; the next call fetches a new one. */
  invalidate(): void;
  /** Subscribe; returns the function that unsubscribes. */
  on<E extends keyof TokenClientEvents>(event: E, listener: TokenClientEvents[E]): () => void;
  /** Cancel timers and requests, drop secrets and tokens; later calls reject with DISPOSED. */
  dispose(): void;
  /** Release the wasm memory now (dispose() does not; garbage collection also does). */
  free(): void;
  /** `using client = new TokenClient(...)`: free() at the end of the scope (where the runtime has `Symbol.dispose`). */
  [Symbol.dispose](): void;
}

/** `TokenClient`'s constructor and statics (a class at run time). */
export interface TokenClientConstructor {
  /** @throws {TokenError} INVALID_CONFIG, synchronously, naming the field. */
  new (options: ApiKeyOptions): TokenClient<"apiKey">;
  new (options: ClientCredentialsOptions | SymblDialectOptions | BrokerClientOptions): TokenClient<"oauth">;
  new (options: TokenClientOptions): TokenClient;
  readonly prototype: TokenClient;
  /** The first challenge of `response`'s WWW-Authenticate, or null: the same as `challenge`. */
  challenge(response: { headers: { get(name: string): string | null } }): Challenge | null;
  /** https://auth.sypht.com/oauth2/token, audience and allowed origin https://api.sypht.com. */
  sypht(options: SyphtOptions): TokenClient<"oauth">;
  /** https://api.symbl.ai/oauth2/token:generate, dialect "symbl", allowed origin https://api.symbl.ai. */
  symbl(options: SymblOptions): TokenClient<"oauth">;
  /** A static key; no token endpoint. */
  apiKey(options: ApiKeyOptions): TokenClient<"apiKey">;
}
export declare const TokenClient: TokenClientConstructor;
/**
 * `TokenClient` as a single constructor, to subclass it (a base class cannot have overloads
 * that return different kinds): `class MyClient extends (TokenClient as TokenClientClass) {}`.
 */
export type TokenClientClass = new (options: TokenClientOptions) => TokenClient;

// `Symbol.dispose` for a project whose `lib` predates it (TypeScript's esnext.disposable and
// @types/node declare the same).
declare global {
  interface SymbolConstructor {
    readonly dispose: unique symbol;
  }
}
