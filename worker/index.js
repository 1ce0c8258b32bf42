// The tokenkit edge token broker as a Cloudflare Worker. Wiring only: the broker's decisions
// are Rust (src/proto/broker/, src/wasm/broker.rs); js/broker.js carries them out.
import { initSync, Broker, Session } from "./pkg/tokenkit.js";
import { broker as brokerClasses } from "./pkg/broker.js";
import wasm from "./pkg/tokenkit_bg.wasm";

initSync({ module: wasm });

const { TokenBroker, BrokerSession } = brokerClasses(Broker, Session);

/** The broker itself (`new TokenBroker(env)`, then `broker.handle(request, ctx)`), for a Worker that routes other paths too. */
export { TokenBroker };

let broker; // one per isolate; its token cache is shared by every request the isolate serves

export default {
  fetch(request, env, ctx) {
    broker ??= new TokenBroker(env);
    return broker.handle(request, ctx);
  },
};

/**
 * The deployment's token, when the Worker binds this class as `TOKEN_CACHE` (a Durable
 * Object; see wrangler.toml): one object per credential set holds the upstream token and
 * single-flights its requests, so the token endpoint sees one request per expiry window for
 * the whole deployment, not one per isolate. Isolates ask it over the broker contract (POST
 * /token) and keep its answer for the token's remaining life; if it cannot answer, they ask
 * upstream themselves. It serves only the isolates: no origins, keys or proxy of its own.
 */
export class TokenCache {
  constructor(state, env) {
    this.state = state;
    this.broker = TokenBroker.tokenCache(env); // reads the upstream variables only: no gates, origins, keys or limits
  }

  fetch(request) {
    return this.broker.handle(request, { waitUntil: (p) => this.state.waitUntil?.(p) });
  }
}

/**
 * One browser's session when the broker signs users in (`AUTHORIZE_URL`; bound as
 * `SESSIONS`, see wrangler.toml): its pending sign-in and the user's tokens, which never
 * reach the browser. Every request of the session reaches this one object, so a refresh
 * is single-flight however many requests need it. What it holds is kept in its storage
 * (and deleted at sign-out or when the session ends), so it outlives eviction.
 */
export class UserSession {
  constructor(state, env) {
    this.state = state;
    this.env = env;
    state.blockConcurrencyWhile(async () => this.open(await state.storage.get("session")));
  }

  open(saved) {
    const storage = this.state.storage;
    this.session = new BrokerSession(this.env, saved ?? null, async (record, deleteAt) => {
      if (record === null) return storage.deleteAll();
      await storage.put("session", record);
      if (deleteAt) await storage.setAlarm(deleteAt); // when it is all deleted: see proto::broker::bff::Record::delete_at
    });
  }

  fetch(request) {
    return this.session.handle(request);
  }

  /** The session's time is up (or its sign-in was abandoned): revoked and forgotten, as at sign-out. */
  alarm() {
    return this.session.expire();
  }
}
