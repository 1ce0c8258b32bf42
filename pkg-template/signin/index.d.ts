// Type declarations for tokenkit/signin: the client of "tokenkit", plus signing a user in
// (authorization code + PKCE, refresh tokens, sign-out).
import {
  type TokenClient as BaseClient,
  type TokenClientConstructor as BaseConstructor,
  type TokenKind,
  type ApiKeyOptions,
  type ClientCredentialsOptions,
  type CommonOptions,
  type KeyAuth,
  type PublicAuth,
  type SecretAuth,
  type TimingOptions,
  type TokenClientOptions as BaseOptions,
} from "../tokenkit.js";

export * from "../tokenkit.js";

/** `new TokenClient({ grant: "authorization_code", ... })`: a signed-in user's tokens. */
export type AuthorizationCodeOptions = CommonOptions &
  TimingOptions & {
    grant: "authorization_code";
    /** The RFC 7009 revocation endpoint: signOut() revokes the refresh token there (discovered with `issuer` alone). */
    revocationUrl?: string | undefined;
    clientId: string;
    /** The registered redirect URI, sent as given. */
    redirectUri: string;
    /** With `openid` a nonce is sent and checked; `offline_access` usually brings a refresh token. */
    scope?: string | readonly string[] | undefined;
    /** RFC 8707 resource indicator, sent with the authorization and token requests. */
    resource?: string | undefined;
    /** More token request parameters. */
    extraParams?: Readonly<Record<string, string>> | undefined;
    /** The pushed authorization request endpoint (RFC 9126; servers only): the sign-in's parameters go there, the user's browser carries `client_id` and `request_uri` alone. Discovered with `issuer` when the server requires it or the client is confidential. */
    parUrl?: string | undefined;
  } & SignInEndpoints & (SecretAuth | PublicAuth | KeyAuth);

/**
 * The sign-in's endpoints: given, or discovered from `issuer` alone (RFC 8414; a callback
 * must then carry `iss` if the server's metadata promises it, RFC 9207).
 */
export type SignInEndpoints =
  | {
      /** The authorization endpoint (https, or http on a loopback host). */
      authorizeUrl: string;
      /** The token endpoint. */
      tokenUrl: string;
      /** The issuer: a callback's `iss` must match it when the server sends one (RFC 9207). */
      issuer?: string | undefined;
    }
  | {
      authorizeUrl?: undefined;
      tokenUrl?: undefined;
      /** The issuer identifier: every endpoint is discovered from its metadata. */
      issuer: string;
    };

/** What a server-side app keeps in its own session between the redirect and the callback. */
export interface PendingSignIn {
  url: string;
  state: string;
  codeVerifier: string;
  nonce?: string | undefined;
}

export interface AuthorizationUrlOptions {
  /** Your own state (at least 16 unguessable characters); default: a random one. */
  state?: string | undefined;
  /** More authorization request parameters (prompt, login_hint, ...). */
  extraParams?: Readonly<Record<string, string>> | undefined;
  /** Step-up (RFC 9470): the ACR values a challenge named (`challenge(res).acrValues`). */
  acrValues?: string | undefined;
  /** Step-up (RFC 9470): the most seconds since the user authenticated (`challenge(res).maxAge`). */
  maxAge?: number | undefined;
  /** The scope to ask for this time instead of the client's (an `insufficient_scope` challenge's). */
  scope?: string | readonly string[] | undefined;
}

/** Every option set `tokenkit/signin`'s `new TokenClient(options)` takes. */
export type TokenClientOptions = AuthorizationCodeOptions | ClientCredentialsOptions | BaseOptions;

export interface TokenClient<K extends TokenKind = TokenKind> extends BaseClient<K> {
  /**
   * Where to send the user. In a browser the pending sign-in (state, PKCE verifier, nonce:
   * never a token) waits in sessionStorage and this resolves to the URL; in Node and Workers
   * it resolves to `{ url, state, codeVerifier, nonce }` for your own session.
   */
  createAuthorizationUrl(options?: AuthorizationUrlOptions): Promise<string | PendingSignIn>;
  /**
   * On the redirect back: checks state (STATE_MISMATCH), the server's error (OAUTH_ERROR) and
   * `iss`, exchanges the code, and removes it from the address bar. Server side, pass what
   * createAuthorizationUrl() returned.
   */
  completeAuthorization(callbackUrl: string | URL, saved?: Omit<PendingSignIn, "url">): Promise<void>;
  /** Whether a user's session is held (a token, or a refresh token to get one). */
  readonly isAuthorized: boolean;
  /** Revokes the refresh token (RFC 7009) and forgets the session here and in other tabs. */
  signOut(): Promise<void>;
}

/** `tokenkit/signin`'s `TokenClient` constructor (a class at run time); the statics are `tokenkit`'s. */
export interface TokenClientConstructor extends Omit<BaseConstructor, "prototype"> {
  /** @throws {TokenError} INVALID_CONFIG, synchronously, naming the field. */
  new (options: ApiKeyOptions): TokenClient<"apiKey">;
  new (options: Exclude<TokenClientOptions, ApiKeyOptions>): TokenClient<"oauth">;
  new (options: TokenClientOptions): TokenClient;
  readonly prototype: TokenClient;
}
export declare const TokenClient: TokenClientConstructor;
/** `TokenClient` as a single constructor, to subclass it: `class C extends (TokenClient as TokenClientClass) {}`. */
export type TokenClientClass = new (options: TokenClientOptions) => TokenClient;
