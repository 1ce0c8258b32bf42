// The broker's shell (the Worker build): it carries out what the wasm's `Broker` and `Session`
// decide (src/wasm/broker.rs over src/proto/broker/: routing, CORS, gates, which headers pass,
// what a failure tells the browser, a session's next step). Its token clients are `Core`s
// driven by the one driver of every build (js/shell.js), with the same sign-in, DPoP, client
// assertion and revocation sequences as tokenkit/signin (js/signin.js, js/dpop.js,
// js/server.js). What is here is I/O: requests, Durable Object stubs, WebCrypto, storage.
import { TokenError, drive, gone, monotonic, refusedAndDrive, setDpop, setRuntime, setServer, state, token } from "./shell.js";
import * as dpop from "./dpop.js";
import * as server from "./server.js";
import { authorize, callbackParams, complete, revoke } from "./signin.js";
import { b64url, importPrivate, importPublic, jwkView, secretJwk } from "./jws.js";

setRuntime("workerd");
setServer(server);
setDpop(dpop);

// <boundary> Generated from src/boundary.rs by `make boundary` (tests/boundary.rs checks it): do not edit.
/** What `Broker.route` decided: its kind (then `Broker.gates`, `Broker.cors`, `Broker.routed`). */
const ROUTE_DONE = 0, ROUTE_TOKEN = 1, ROUTE_PROXY = 2, ROUTE_SIGN_IN = 3;
/** The gates a routed request must pass first (bits of `Broker.gates`). */
const GATE_ACCESS = 1, GATE_TURNSTILE = 2;
/** The optional request headers the edge reads (bits of `Broker.reads`). */
const READ_BROKER_KEY = 1, READ_CLIENT_IP = 2, READ_CSRF = 4, READ_COOKIE = 8;
/** A session object's next step (`Session.op`): the first element of its answer. */
const STEP_ANSWER = 0, STEP_FAIL = 1, STEP_SIGN_IN = 2, STEP_COMPLETE = 3, STEP_TOKEN = 4, STEP_REFUSED = 5, STEP_END = 6;
/** What the broker's shell could not reach or use (`Broker.failed`): the reply is the core's. */
const FAILED_SESSION_STORE = 0, FAILED_API = 1, FAILED_SESSION_KEY = 2;
/** The slots of a token record, as the shell hands a token out. */
const RECORD_ACCESS_TOKEN = 0, RECORD_HEADER = 1, RECORD_ID = 2, RECORD_EXPIRES_AT = 3, RECORD_REFRESH_AT = 4, RECORD_SCOPE = 5;
/** Which broker `new Broker(role, ...)` makes (a session's object makes its own). */
const ROLE_EDGE = 0, ROLE_TOKEN_CACHE = 1;
/** Which token a broker's token client is for: a `PROXY_ROUTES` entry's number, or this. */
const TOKEN_ROUTE_DEPLOYMENT = -1;
/** Which of the broker's sign-in cookies (`Broker.sessionCookie`, `Broker.macInput`). */
const COOKIE_SESSION = 0, COOKIE_PENDING = 1;
/** What to do after the API answered a proxied call 401 (`Broker.after401`). */
const AFTER401_REPLAY = 0, AFTER401_KEPT = 1, AFTER401_REFUSED = 2;
/** What a session's token request came to (`Session.token`). */
const VERDICT_SERVE = 0, VERDICT_FAIL = 1, VERDICT_END = 2;
// </boundary>

/** [method, url, origin, brokerKey, requestHeaders, clientIp, cookie, tokenkitRequest]; the optional headers `reads` (Broker.reads) leaves out are null. */
function describe(request, reads) {
  const h = request.headers;
  const get = (bit, name) => (reads & bit ? h.get(name) : null);
  const method = request.method;
  // Access-Control-Request-Headers is a preflight's alone (Reads: no other request reads it).
  return [method, request.url, h.get("origin"), get(READ_BROKER_KEY, "x-broker-key"), method === "OPTIONS" ? h.get("access-control-request-headers") : null, get(READ_CLIENT_IP, "cf-connecting-ip"), get(READ_COOKIE, "cookie"), get(READ_CSRF, "tokenkit-request")];
}

/** `name\nvalue\n...` (as Rust's `lines` writes it) -> [[name, value], ...]. */
function pairs(lines, out = []) {
  const p = lines ? lines.split("\n") : [];
  for (let i = 0; i + 1 < p.length; i += 2) out.push([p[i], p[i + 1]]);
  return out;
}

/** Forwards to the API: never follows its redirects (they would carry the token along). */
function forward(request, url, headers) {
  const hasBody = request.method !== "GET" && request.method !== "HEAD";
  const init = { method: request.method, headers, body: hasBody ? request.body : null, redirect: "manual" };
  if (hasBody) init.duplex = "half";
  return fetch(url, init);
}

/** Releases a response's body that will not be read. */
function discard(response) {
  response.body?.cancel().catch(() => {});
}

/** The Rate Limiting binding (`RATE_LIMITER`: `[[ratelimits]]` in wrangler.toml), or undefined. */
const rateBinding = (env) => (typeof env?.RATE_LIMITER?.limit === "function" ? env.RATE_LIMITER : undefined);

/** Asks the binding about `key`: true (within the limit), false (over it), null (it failed). */
function rateLimit(binding, key) {
  try {
    return Promise.resolve(binding.limit({ key })).then((o) => (typeof o?.success === "boolean" ? o.success : null), () => null);
  } catch {
    return Promise.resolve(null);
  }
}

/** The first value of query parameter `name` of `url`, or undefined. */
function queryValue(url, name) {
  try {
    return new URL(url).searchParams.get(name) ?? undefined;
  } catch {
    return undefined;
  }
}

let macKey; // [secret, CryptoKey]: the session key, imported once per isolate

/** base64url(HMAC-SHA256(secret, text)). */
async function sessionMac(secret, text) {
  if (macKey?.[0] !== secret) {
    const raw = new TextEncoder().encode(secret);
    macKey = [secret, await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"])];
  }
  return b64url(new Uint8Array(await crypto.subtle.sign("HMAC", macKey[1], new TextEncoder().encode(text))));
}

const b64urlBytes = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

/** [header, claims, signedBytes, signature] of a compact JWS, or undefined. */
function jwtParts(jwt) {
  try {
    const [h, c, sig, ...rest] = jwt.split(".");
    if (rest.length || !sig) return undefined;
    const json = (s) => JSON.parse(new TextDecoder().decode(b64urlBytes(s)));
    return [json(h), json(c), new TextEncoder().encode(`${h}.${c}`), b64urlBytes(sig)];
  } catch {
    return undefined;
  }
}

/** An RSA public key (base64url `n`, `e`) for RS256 verification. */
const importRsa = (n, e) =>
  crypto.subtle.importKey("jwk", { kty: "RSA", n, e }, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"]);

async function verifyRs256(key, data, signature) {
  try {
    return await crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, signature, data);
  } catch {
    return false;
  }
}

/** GETs `url`, or POSTs the form `body` to it, never following a redirect: [status, the parsed JSON of a 200 or null]. */
async function askJson(url, body) {
  const r = await fetch(url, { method: body === undefined ? "GET" : "POST", redirect: "manual", headers: body === undefined ? { accept: "application/json" } : { "content-type": "application/x-www-form-urlencoded" }, body });
  return [r.status, r.status === 200 ? await r.json().catch(() => null) : null];
}

/** The core's view of the private JWK in secret `name` (DPOP_KEY, CLIENT_KEY): its public members, `alg`, `kid`, `d: true` if it has its private one; null if it is not a JSON object; undefined if it is not set. */
function keyView(env, name) {
  const jwk = secretJwk(env?.[name]);
  return jwk ? jwkView(jwk) : jwk;
}

const isolateKeys = new Map(); // DPOP_KEY's text ("": a key made here) -> a promise of the key pair

/**
 * The isolate's DPoP key pair, once per isolate: with `keying` `[name, p]` (the core chose
 * them from keyView), the DPOP_KEY secret imported as WebCrypto algorithm `name` with `p` (its
 * curve or hash), the private half non-extractable; with `[]`, an ES256 pair made here. A
 * failure is not kept (the next request tries again). The secret goes to importKey only: it
 * never enters wasm memory.
 */
function isolateKey(env, [name, p]) {
  const text = name ? env.DPOP_KEY : "";
  let made = isolateKeys.get(text);
  if (made === undefined) {
    made = text
      ? (async () => {
          const jwk = JSON.parse(text);
          return { privateKey: await importPrivate(jwk, name, p), publicKey: await importPublic(jwk, name, p) };
        })()
      : crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
    isolateKeys.set(text, made);
    made.catch(() => isolateKeys.get(text) === made && isolateKeys.delete(text));
  }
  return made;
}

/**
 * A token client of the broker, for the one driver: `core` (from `Broker.client` or
 * `Session`), sent with `fetch` (a TokenCache stub's, or the runtime's), signing DPoP proofs
 * with the isolate's key when `keying` says so, and client assertions with CLIENT_KEY.
 */
function driven(core, fetch, env, keying) {
  const s = state(core, fetch, undefined);
  s.serves = false; // served through Core.answer, never from a cell
  if (keying !== undefined) s.dpop = dpop.of(core, { make: () => isolateKey(env, keying), name: "DPOP_KEY" });
  const text = env.CLIENT_KEY;
  const jwk = secretJwk(text);
  if (jwk) {
    // One import per isolate: every client shares the key's state (its WebCrypto key, once imported).
    if (!clientKeys.has(text)) clientKeys.set(text, server.of(jwk));
    s.key = clientKeys.get(text);
  }
  return s;
}

const clientKeys = new Map(); // CLIENT_KEY's text -> its key state (js/server.js), shared by the isolate's clients

/**
 * The fetch an isolate's client uses to ask the deployment's `TokenCache` object (binding
 * `TOKEN_CACHE`, one object per credential set, named `name`), or undefined without the
 * binding. A stub is an I/O object of the request that made it: a new one per call. It takes no
 * AbortSignal (the isolate's own deadline still applies: it stops waiting), and the object
 * never redirects. `refused`: a token an API refused, named to the object on each request
 * until it has answered one (the object drops it if it still holds it).
 */
function cacheFetch(env, name, header) {
  const ns = env?.TOKEN_CACHE;
  if (name === undefined || typeof ns?.idFromName !== "function") return undefined;
  const id = ns.idFromName(name);
  const f = async (url, init) => {
    const told = f.refused;
    const headers = told === undefined ? init.headers : [...init.headers, [header, told]];
    const res = await ns.get(id).fetch(url, { method: init.method, headers, body: init.body });
    if (f.refused === told) f.refused = undefined; // heard (a newer refusal is kept)
    return res;
  };
  f.refused = undefined;
  return f;
}

/** A reply `[status, headers, body]` (headers as `name\nvalue\n...`) as a Response, with `cors` (`[[name, value], ...]`). */
function respond([status, headers, body], cors) {
  const h = pairs(headers, [["content-type", "application/json"]]);
  if (cors) h.push(...cors);
  return new Response(status === 204 || status === 304 ? null : body, { status, headers: h });
}

/** A TokenError's fields, for the wasm's replies. */
const fields = (e) => (e instanceof TokenError ? [e.code, e.status, e.error, e.retryAfter, e.message] : ["DISPOSED", undefined, undefined, undefined, ""]);

const ok = (body) => [200, "", body];

/**
 * A token's record and its holder: from `shared` (a TokenCache object's client) when there
 * is one and it can be reached, else from `own`, this isolate's.
 */
async function tokenFrom(shared, own, Broker, ctx) {
  if (shared !== undefined) {
    try {
      return [await token(shared, ctx), shared];
    } catch (e) {
      if (!(e instanceof TokenError) || !Broker.cacheFailed(e.code)) throw e;
    }
  }
  if (own === undefined) throw gone();
  return [await token(own, ctx), own];
}

/** The body of the broker contract's reply with `s`'s token when it holds a valid one (its `token_type` is the client's), else the number of the flight to wait for; throws the client's failure. */
function answer(s, ctx) {
  try {
    return s.core.answer(monotonic(), Date.now());
  } finally {
    drive(s, ctx); // a token due for refresh is served while its refresh is sent
  }
}

const CACHE = Symbol("TokenCache");

/** The broker's classes over the wasm's `Broker` and `Session` (worker/index.js). */
export function broker(Broker, Session) {
  const failure = (e) => Broker.failureReply(...fields(e));
  const [tokenStatus, tokenHeaders] = Broker.tokenHead();
  // A token reply's headers, with each origin's CORS, built once: workerd converts an array of
  // header pairs ten times slower than it copies a Headers (make bench, handler in workerd).
  const tokenResponse = (body, cors) => new Response(body, { status: tokenStatus, headers: (cors.token ??= new Headers([["content-type", "application/json"], ...pairs(tokenHeaders), ...cors])) });
  const unavailable = () => Broker.failed(FAILED_SESSION_STORE);

  /** The edge token broker: `new TokenBroker(env)`, then `broker.handle(request, ctx)`. One per isolate. */
  class TokenBroker {
    #b; #asks; #reads; #cache; #env; #rate; #header; #own; #shared; #routes; #keys; #cors;

    /** Reads the configuration from the Worker's `env`; never throws (a bad configuration answers every request with 500 naming the variable). */
    constructor(env, role) {
      const edge = role !== CACHE;
      const rate = edge ? rateBinding(env) : undefined;
      const b = new Broker(edge ? ROLE_EDGE : ROLE_TOKEN_CACHE, env, keyView(env, "CLIENT_KEY"), keyView(env, "DPOP_KEY"), typeof env?.SESSIONS === "object" && env.SESSIONS !== null, typeof env?.TOKEN_CACHE?.idFromName === "function", rate !== undefined);
      this.#b = b;
      this.#asks = b.asksBinding;
      this.#reads = b.reads; // the optional headers the core's decisions read (each read costs a cached /token time)
      this.#cache = !edge;
      this.#env = env;
      this.#rate = rate;
      this.#header = Broker.refusedHeader();
      this.#own = this.#client(TOKEN_ROUTE_DEPLOYMENT, false);
      this.#shared = this.#client(TOKEN_ROUTE_DEPLOYMENT, true);
      this.#routes = new Map(); // route index -> [own, shared]: the tokens PROXY_ROUTES entries name, made on first use
      this.#keys = new Map(); // Access key id -> CryptoKey
      this.#cors = []; // allowed origin number (Broker.cors) -> its CORS headers
    }

    /** The `TokenCache` Durable Object's broker: the upstream client and `POST /token` only. */
    static tokenCache(env) {
      return new TokenBroker(env, CACHE);
    }

    /** Token client `route` (TOKEN_ROUTE_DEPLOYMENT: the upstream one), this isolate's or through its TokenCache object (`shared`), or undefined. */
    #client(route, shared) {
      const core = this.#b.client(route, shared);
      if (core === undefined) return undefined;
      return shared ? driven(core, cacheFetch(this.#env, this.#b.cacheName(route), this.#header), this.#env, undefined) : driven(core, undefined, this.#env, this.#b.dpopKey);
    }

    /** Route `i`'s own token clients, made on first use. */
    #route(i) {
      let r = this.#routes.get(i);
      if (r === undefined) this.#routes.set(i, (r = [this.#client(i, false), this.#client(i, true)]));
      return r;
    }

    /** Answers one request: a Response, or a promise of one. */
    handle(request, ctx) {
      const d = describe(request, this.#reads);
      if (!this.#asks) return this.#serve(request, d, undefined, ctx);
      // The binding is asked first (keyed like the buckets: CF-Connecting-IP, IPv6 by /64); it
      // answers true, false, or null when it failed (then the isolate's buckets decide).
      return rateLimit(this.#rate, Broker.rateKey(d[5] ?? "*")).then((v) => this.#serve(request, d, v ?? undefined, ctx));
    }

    #serve(request, d, verdict, ctx) {
      const b = this.#b;
      const kind = b.route(d[0], d[1], d[2], d[3], d[4], d[5], d[7], verdict, monotonic());
      // What else the route decided is read now, before any await: the next request's route replaces it.
      if (kind === ROUTE_DONE) return respond(b.routed);
      const n = b.cors, gates = b.gates, detail = kind === ROUTE_TOKEN ? undefined : b.routed;
      const cors = (this.#cors[n] ??= pairs(b.corsLines(n)));
      if (gates === 0) return this.#run(kind, detail, request, d, cors, ctx);
      return this.#gate(gates, kind, detail, request, d).then((refusal) => (refusal === undefined ? this.#run(kind, detail, request, d, cors, ctx) : respond(refusal, cors)));
    }

    #run(kind, detail, request, d, cors, ctx) {
      if (kind === ROUTE_TOKEN) return this.#token(request, cors, ctx);
      if (kind === ROUTE_PROXY) return this.#proxy(request, detail[0], detail[1], d, cors, ctx);
      return this.#signIn(detail, d).then((reply) => respond(reply, cors));
    }

    /** `POST /token`: the cached token at once, else the one request's. */
    #token(request, cors, ctx) {
      let own = this.#own, shared = this.#shared;
      if (this.#cache) {
        // A token cache object asked for a route's own token (`?route=<index>`).
        const i = this.#b.cachedRoute(queryValue(request.url, "route"));
        if (i !== TOKEN_ROUTE_DEPLOYMENT) [own, shared] = this.#route(i);
        // An isolate says an API refused the token this object gave it (the edge ignores the header).
        const refused = request.headers.get(this.#header);
        if (refused !== null && own !== undefined) {
          own.core.refusedElsewhere(refused);
          drive(own, ctx);
        }
      }
      const first = shared ?? own;
      if (first !== undefined) {
        try {
          // The cached token's answer, in one call; else wait (below).
          const r = answer(first, ctx);
          if (typeof r !== "number") return tokenResponse(r, cors);
        } catch (e) {
          if (shared === undefined) return respond(failure(e), cors);
        }
      }
      // The flight's own token, by its holder's core: a token that expired on arrival is
      // not kept, so asking the core again would start another flight, and another.
      const reply = ([rec, holder]) => holder.core.replyWith(rec[RECORD_ACCESS_TOKEN], rec[RECORD_EXPIRES_AT], Date.now());
      return tokenFrom(shared, own, Broker, ctx).then(reply).then((body) => tokenResponse(body, cors), (e) => respond(failure(e), cors));
    }

    /** `/proxy/`: the request forwarded to `target` with the token (route `i`'s own, the deployment's, or the signed-in user's). */
    async #proxy(request, target, i, d, cors, ctx) {
      const b = this.#b;
      const api = new URL(target);
      const method = request.method;
      let used;
      if (b.signsIn) {
        const sid = await this.#session(d[6], COOKIE_SESSION);
        if (sid === undefined) return respond(Session.failureReply("LOGIN_REQUIRED", undefined, undefined, undefined, ""), cors);
        let answer;
        try {
          answer = await this.#ask(sid, "token", i !== TOKEN_ROUTE_DEPLOYMENT ? String(i) : "");
        } catch (reply) {
          return respond(reply, cors);
        }
        if (answer[0] !== 200) return respond([answer[0], "", answer[1]], cors);
        used = { sid, token: answer[1] };
      } else {
        try {
          const [own, shared] = i !== TOKEN_ROUTE_DEPLOYMENT ? this.#route(i) : [this.#own, this.#shared];
          const [rec, holder] = await tokenFrom(shared, own, Broker, ctx);
          used = { holder, id: rec[RECORD_ID], token: rec[RECORD_ACCESS_TOKEN] };
        } catch (e) {
          return respond(failure(e), cors);
        }
      }
      const entries = [...request.headers];
      const keep = Broker.forwarded(entries.map((e) => e[0]).join("\n"), request.headers.get("connection") ?? "");
      const headers = entries.filter((_, k) => keep[k] === 1);
      headers.push(b.authorization(used.token));
      // With DPoP, each send carries a fresh proof of this isolate's key for the API's method
      // and URL (no query), with `ath` of the token and the API's latest nonce.
      const prover = b.dpop ? this.#own : undefined;
      for (let replayed = false; ; ) {
        let sent = headers;
        if (prover !== undefined) {
          try {
            sent = [...headers, ["DPoP", await dpop.resource(prover, method, api.origin, api.pathname, used.token)]];
          } catch {
            return respond(Broker.dpopFailed(), cors);
          }
        }
        let res;
        try {
          res = await forward(request, target, sent);
        } catch {
          return respond(Broker.failed(FAILED_API), cors);
        }
        // The API's nonce, whatever the status (RFC 9449 §8.2), for its next proof.
        if (prover !== undefined) dpop.nonce(prover, api.origin, res.headers.get("dpop-nonce"));
        if (res.status !== 401) return relay(res, cors);
        const www = res.headers.get("www-authenticate") ?? undefined;
        const next = b.after401(www, method === "GET" || method === "HEAD", replayed);
        if (next === AFTER401_REPLAY) {
          replayed = true;
          discard(res);
          continue;
        }
        if (next === AFTER401_REFUSED) {
          // The token's holder drops a token the API refused (the next caller gets a fresh one);
          // one from a TokenCache object is named to that object on this isolate's next request.
          if (used.holder !== undefined) {
            refusedAndDrive(used.holder, used.id, www, false);
            if (used.holder.fetch !== undefined && !used.holder.core.holds(used.id)) used.holder.fetch.refused = used.token;
          } else await this.#ask(used.sid, "refused", used.token).catch(() => {});
        }
        return relay(res, cors);
      }
    }

    /** Every gate in `gates` (Access first, then Turnstile) of a route of `kind` (`detail`: a sign-in's name): undefined if the request passes, else the refusal. */
    async #gate(gates, kind, detail, request, d) {
      const h = (n) => request.headers.get(n) ?? undefined;
      if (gates & GATE_ACCESS) {
        const jwt = h("cf-access-jwt-assertion");
        const why = jwt === undefined ? "no Cloudflare Access token" : await this.#access(jwt);
        if (why !== undefined) return Broker.refused("access_denied", why);
      }
      if (gates & GATE_TURNSTILE) {
        const ask = this.#b.turnstile(kind === ROUTE_SIGN_IN && detail === "login", h("cf-turnstile-response"), queryValue(d[1], "cf-turnstile-response"), d[5] ?? undefined);
        if (ask.length === 1) return ask[0];
        const [status, body] = await askJson(ask[0], ask[1]).catch(() => [0, null]);
        let host;
        try {
          host = new URL(d[1]).hostname;
        } catch {
          // no host: only the allowed origins' count
        }
        return this.#b.turnstileVerdict(status, body, d[2] ?? undefined, host);
      }
    }

    /** Checks an Access token: claims by the core, the RS256 signature by WebCrypto. Why not, or undefined. */
    async #access(jwt) {
      const parts = jwtParts(jwt);
      if (parts === undefined) return "the Access token is not a JWT";
      let kid;
      try {
        kid = this.#b.accessClaims(parts[0], parts[1], monotonic(), Date.now());
      } catch (why) {
        return String(why);
      }
      // Each request that finds the keys stale fetches them itself: in Workers a request
      // cannot wait on another request's fetch. Once fetched they serve for an hour.
      const url = this.#b.keysStale(this.#keys.has(kid), monotonic());
      if (url !== undefined) {
        const [status, body] = await askJson(url).catch(() => [0, null]);
        const found = this.#b.keysFetched(status, body, monotonic());
        if (found !== undefined) {
          const keys = new Map();
          for (const [k, n, e] of found) {
            // A key WebCrypto will not take is skipped like one the core did not choose.
            await importRsa(n, e).then((key) => keys.set(k, key), () => {});
          }
          this.#keys = keys;
        }
      }
      const key = this.#keys.get(kid);
      if (key === undefined) return "the Access token's key is not one of the team's";
      return (await verifyRs256(key, parts[2], parts[3])) ? undefined : "the Access token's signature is not valid";
    }

    // Signing users in (backend-for-frontend): the edge checks a cookie's MAC and asks the
    // session's object (`UserSession`), which holds the pending sign-in and the user's tokens.

    /** A sign-in route's reply. */
    async #signIn(name, d) {
      const url = d[1], cookie = d[6] ?? undefined;
      try {
        if (name === "login") return await this.#login(url, cookie);
        if (name === "callback") return await this.#callback(url, cookie);
        const sid = await this.#session(cookie, COOKIE_SESSION);
        const answer = sid === undefined ? undefined : await this.#ask(sid, name === "logout" ? "logout" : "status", "").catch(() => undefined);
        if (name === "logout") return Broker.logoutReply(answer?.[0] === 200 && answer[1] === "revoked");
        return Broker.statusReply(answer?.[0] === 200 && answer[1] === "1");
      } catch (thrown) {
        // A step that failed threw its reply (anything else: the session store failed). A
        // callback's clears the pending sign-in's cookie, whatever went wrong.
        const reply = Array.isArray(thrown) ? thrown : unavailable();
        return name === "callback" ? Broker.callbackRefused(reply[0], reply[2]) : reply;
      }
    }

    /** `/login`: a new session (a fresh id, never one the browser brought: a session or sign-in it already has is ended first), its pending sign-in in its object, its cookie. */
    async #login(url, cookie) {
      const q = (k) => queryValue(url, k);
      const begin = this.#b.login(q("return_to"), q("acr_values"), q("max_age"), q("scope")); // throws its refusal
      // The new cookie's MAC first: a key that fails ends nothing the browser holds.
      const sid = b64url(crypto.getRandomValues(new Uint8Array(32)));
      const mac = await this.#mac(COOKIE_PENDING, sid);
      for (const kind of [COOKIE_SESSION, COOKIE_PENDING]) {
        const old = await this.#session(cookie, kind);
        if (old !== undefined) await this.#ask(old, "logout", "").catch(() => {});
      }
      const [status, body] = await this.#ask(sid, "begin", begin);
      return status === 200 ? Broker.loginReply(body, sid, mac) : [status, "", body];
    }

    /** `/callback`: completed in the object of the sign-in this browser started (its pending cookie, the only thing this route reads). */
    async #callback(url, cookie) {
      const sid = await this.#session(cookie, COOKIE_PENDING);
      if (sid === undefined) return Broker.callbackRefused();
      // The session cookie's MAC before the object completes: never a signed-in session the
      // browser cannot be given a cookie for.
      const mac = await this.#mac(COOKIE_SESSION, sid);
      const [status, body] = await this.#ask(sid, "complete", url);
      if (status !== 200) return Broker.callbackRefused(status, body);
      return Broker.callbackReply(body, sid, mac);
    }

    /** The MAC of a cookie of `kind` for session `sid`; throws the reply when the session key cannot be used. */
    async #mac(kind, sid) {
      const key = this.#b.sessionKey();
      try {
        if (key === undefined) throw 0;
        return await sessionMac(key, Broker.macInput(kind, sid));
      } catch {
        throw Broker.failed(FAILED_SESSION_KEY);
      }
    }

    /** The session id of `kind`'s cookie (COOKIE_SESSION, COOKIE_PENDING) if its MAC is ours; undefined for none or a forged one (which never costs a Durable Object request). */
    async #session(cookie, kind) {
      const c = Broker.sessionCookie(cookie ?? undefined, kind);
      if (c === undefined) return undefined;
      const expected = await this.#mac(kind, c[0]).catch(() => undefined);
      return expected !== undefined && Broker.macOk(expected, c[1]) ? c[0] : undefined;
    }

    /** Asks session `sid`'s object to do `op` with `body`: `[status, body]`; throws the reply when it cannot be reached. */
    async #ask(sid, op, body) {
      try {
        const ns = this.#env.SESSIONS;
        const res = await ns.get(ns.idFromName(sid)).fetch(Broker.sessionUrl(op), { method: "POST", body });
        return [res.status, await res.text()];
      } catch {
        throw unavailable();
      }
    }
  }

  /** The API's answer for the browser: its body and status (no reason phrase), the headers the core drops removed, CORS added. */
  function relay(res, cors) {
    const names = [...res.headers.keys()];
    const keep = Broker.relayed(names.join("\n"), res.status);
    try {
      if (keep === undefined) throw 0;
      const headers = new Headers(res.headers);
      names.forEach((n, k) => keep[k] === 1 || headers.delete(n));
      for (const [k, v] of cors) headers.set(k, v);
      return new Response(res.body, { status: res.status, headers });
    } catch {
      discard(res);
      return respond(Broker.failed(FAILED_API), cors);
    }
  }

  /**
   * A session's Durable Object state: `new BrokerSession(env, saved, persist)`, then
   * `handle(request)` for the edge's requests and `expire()` for the object's alarm. `saved` is
   * what `persist` last stored (or null); `persist(text, deleteAt)` stores the record (`text`
   * null: delete it) and sets the alarm. The user's tokens are held by a driven client: one
   * refresh however many of the user's requests need it, all of which reach this object.
   */
  class BrokerSession {
    #x; #env; #persist; #s; #exchanged;

    constructor(env, saved, persist) {
      const x = new Session(env, keyView(env, "CLIENT_KEY"), keyView(env, "DPOP_KEY"), saved ?? null, monotonic(), Date.now());
      const core = x.client(monotonic(), Date.now());
      this.#x = x;
      this.#env = env;
      this.#persist = persist;
      this.#s = core === undefined ? undefined : driven(core, undefined, env, x.dpopKey);
      this.#exchanged = new Map(); // route index -> the client of the user's token exchanged for that API (RFC 8693)
    }

    /** Answers one request of the edge, `POST <SESSION_URL><op>`. */
    async handle(request) {
      const body = await request.text().catch(() => "");
      const broken = this.#x.error();
      return respond(broken ?? (await this.#run(request.url, body)));
    }

    /** The object's alarm: a session whose time is up, or an abandoned sign-in, is revoked and forgotten as at sign-out. */
    async expire() {
      if (this.#s !== undefined) await this.#run(undefined, "");
    }

    /** Carries out operation `op` (its URL; undefined: the alarm) as the session says, then writes the record if it is behind. */
    async #run(op, body) {
      const x = this.#x, s = this.#s;
      const next = x.op(op, monotonic(), Date.now(), s.core.authorized(), body);
      let reply;
      try {
        switch (next[0]) {
          case STEP_ANSWER:
            reply = ok(next[1]);
            break;
          case STEP_FAIL:
            reply = next[1];
            break;
          case STEP_SIGN_IN: {
            const [url, st, verifier, nonce] = await authorize(s, undefined, next[2]);
            x.begun(next[1], st, verifier, nonce, monotonic(), Date.now());
            reply = ok(url);
            break;
          }
          case STEP_COMPLETE:
            try {
              await complete(s, callbackParams(body) ?? [], [next[2], next[3], next[4]]);
            } catch (e) {
              await this.#end();
              throw e;
            }
            reply = ok(x.completed(s.core, next[1], monotonic(), Date.now()));
            break;
          case STEP_TOKEN:
            reply = ok(await this.#token(body));
            break;
          case STEP_REFUSED:
            // The API refused this token: the session's, or one of its exchanged tokens (that
            // route's next call exchanges anew).
            for (const c of [s, ...this.#exchanged.values()]) {
              c.core.refusedToken(body);
              drive(c);
            }
            reply = ok("");
            break;
          case STEP_END:
          default: {
            const revoked = await this.#end();
            reply = next[1] ?? ok(revoked ? "revoked" : "");
          }
        }
      } catch (e) {
        reply = Session.failureReply(...fields(e));
      }
      await this.#save();
      return reply;
    }

    /** The user's access token (refreshed if due), or route `body`'s own: the user's exchanged for one for that API. */
    async #token(body) {
      const x = this.#x, s = this.#s;
      let rec, err;
      try {
        rec = await token(s);
      } catch (e) {
        err = e;
      }
      const verdict = x.token(rec?.[RECORD_ID], err?.code);
      if (verdict === VERDICT_SERVE) {
        // A refresh may have rotated the refresh token: it is written before the new access
        // token goes anywhere (an exchange, the API), so an eviction cannot bring back the spent one.
        await this.#save();
        if (!/^[0-9]{1,4}$/.test(body)) return rec[RECORD_ACCESS_TOKEN];
        const i = Number(body);
        let c = this.#exchanged.get(i);
        if (c === undefined) this.#exchanged.set(i, (c = driven(x.exchangeClient(s.core, i), undefined, this.#env, x.dpopKey)));
        c.core.subject(rec[RECORD_ACCESS_TOKEN]);
        return (await token(c))[RECORD_ACCESS_TOKEN];
      }
      if (verdict === VERDICT_END) await this.#end();
      throw err ?? gone();
    }

    /** Ends the session: revoked at the server (when it has a revocation endpoint), nothing kept here. Whether the server confirmed. */
    async #end() {
      const s = this.#s;
      // The exchanged tokens go with the session, revoked at the same endpoint.
      const revocations = [];
      for (const c of this.#exchanged.values()) {
        const req = s.core.revocationOf(c.core);
        if (req !== undefined) revocations.push(req);
        c.core.dispose();
        drive(c);
        c.freed = true; // for work of its still under way (see shell.js dead())
        c.core.free();
      }
      this.#exchanged.clear();
      const req = s.core.signOut();
      drive(s);
      this.#x.ended();
      await this.#save();
      for (const r of revocations) await revoke(s, r);
      if (req === undefined) return false;
      const status = await revoke(s, req);
      try {
        s.core.revoked(status, req[0]);
        return true;
      } catch {
        return false;
      }
    }

    /** Writes the record if the session says storage is behind. */
    async #save() {
      const r = this.#x.record(this.#s.core, monotonic(), Date.now());
      if (r === undefined) return;
      try {
        await this.#persist(r[0], r[1]);
      } catch {
        // storage failed: the next change writes it again
      }
    }
  }

  return { TokenBroker, BrokerSession };
}
