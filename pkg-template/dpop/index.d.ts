// Type declarations for tokenkit/dpop: the client of "tokenkit/signin", with tokens bound
// to a key the client holds (DPoP, RFC 9449).
import type { TokenClient as SigninClient, TokenClientConstructor as SigninConstructor, AuthorizationCodeOptions, TokenClientOptions as SigninOptions } from "../signin/index.js";
import type { ApiKeyOptions, ClientCredentialsOptions, TokenKind } from "../tokenkit.js";

export * from "../signin/index.js";

/**
 * `dpop: true`: tokenkit makes an ES256 key pair (`extractable: false`) on first use and
 * keeps it in memory with the tokens. `dpop: { keyPair }`: the app's own `CryptoKeyPair`
 * (ECDSA P-256/384/521, Ed25519, RSASSA-PKCS1-v1_5 or RSA-PSS with SHA-256), whose private
 * key can sign. Tokens then come as `token_type: "DPoP"` (a Bearer answer is refused),
 * `client.fetch()` and `sign()` send `Authorization: DPoP <token>` with a `DPoP` proof, and
 * `getTokenInfo().tokenType` is `"DPoP"`.
 */
export type DpopOption = boolean | { keyPair: DpopKeyPair };

/** A WebCrypto `CryptoKeyPair` (a browser's, Node's or a Worker's: typed by shape). */
export interface DpopKeyPair {
  readonly publicKey: object;
  readonly privateKey: object;
}

/** Either grant, with `dpop`. */
export type DpopClientOptions = (ClientCredentialsOptions | AuthorizationCodeOptions) & { dpop?: DpopOption | undefined };

/** Every option set `tokenkit/dpop`'s `new TokenClient(options)` takes. */
export type TokenClientOptions = DpopClientOptions | SigninOptions;

/** `tokenkit/dpop`'s client: `tokenkit/signin`'s, whose tokens may be DPoP-bound. */
export interface TokenClient<K extends TokenKind = TokenKind> extends SigninClient<K> {}

/** `tokenkit/dpop`'s `TokenClient` constructor (a class at run time). */
export interface TokenClientConstructor extends Omit<SigninConstructor, "prototype"> {
  /** @throws {TokenError} INVALID_CONFIG, synchronously, naming the field. */
  new (options: ApiKeyOptions): TokenClient<"apiKey">;
  new (options: Exclude<TokenClientOptions, ApiKeyOptions>): TokenClient<"oauth">;
  new (options: TokenClientOptions): TokenClient;
  readonly prototype: TokenClient;
}
export declare const TokenClient: TokenClientConstructor;
/** `TokenClient` as a single constructor, to subclass it: `class C extends (TokenClient as TokenClientClass) {}`. */
export type TokenClientClass = new (options: TokenClientOptions) => TokenClient;
