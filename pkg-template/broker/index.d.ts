// tokenkit/broker: the edge token broker as a ready Cloudflare Worker.

/** The Worker's vars and secrets the broker reads (see the README's broker section). */
export interface BrokerEnv {
  TOKEN_URL?: string;
  CLIENT_ID?: string;
  /** Set with `wrangler secret put CLIENT_SECRET`, never in wrangler.toml. */
  CLIENT_SECRET?: string;
  CLIENT_AUTH?: "client_secret_basic" | "client_secret_post" | "none";
  SCOPE?: string;
  AUDIENCE?: string;
  RESOURCE?: string;
  DIALECT?: "oauth2" | "symbl";
  /** Comma-separated browser origins allowed to call the broker. */
  ALLOWED_ORIGINS?: string;
  /** The API origin /proxy/ forwards to. */
  PROXY_ORIGIN?: string;
  BROKER_KEYS?: string;
  RATE_LIMIT?: string;
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
