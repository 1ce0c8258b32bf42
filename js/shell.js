// The JavaScript half of tokenkit's wasm shell: what JS already does well (an Error
// subclass, URL parsing, fetch with a deadline, timers that do not keep Node alive).
// No OAuth decisions are made here; those live in Rust (src/proto/).

// <boundary> Generated from src/boundary.rs by `make boundary` (tests/boundary.rs checks it): do not edit.
/** What `Core.poll` asks the driver to do: the first element of each action. */
const ACTION_SEND = 0, ACTION_ABORT = 1, ACTION_WAKE = 2, ACTION_TOKEN = 3, ACTION_EXPIRED = 4, ACTION_ERROR = 5, ACTION_SHARE = 6;
/** Where a `Core` runs. */
const RUNTIME_BROWSER = 0, RUNTIME_NODE = 1, RUNTIME_WORKERD = 2;
/** The slot of the one value an `ABORT`, `TOKEN` or `ERROR` action carries. */
const VALUE_SLOT = 1;
/** The slots of a send action, the same in every build. */
const SEND_ATTEMPT = 1, SEND_URL = 2, SEND_HEADERS = 3, SEND_BODY = 4, SEND_REDIRECT = 5, SEND_CACHE = 6, SEND_CREDENTIALS = 7, SEND_CAP = 8, SEND_LOCK = 9, SEND_ASSERTION = 10;
/** The slots of a token record, as the shell hands a token out. */
const RECORD_ACCESS_TOKEN = 0, RECORD_HEADER = 1, RECORD_ID = 2, RECORD_EXPIRES_AT = 3, RECORD_REFRESH_AT = 4, RECORD_SCOPE = 5;
/** What a request's answer says in place of an HTTP status when none came back. */
const STATUS_NETWORK = -1, STATUS_KEY_REFUSED = -2, STATUS_KEY_FAILED = -3;
/** How the shell read an answer's body (its one `JSON.parse`). */
const BODY_JSON = 0, BODY_NOT_JSON = 1, BODY_TOO_LARGE = 2;
// </boundary>

/** The error type of every tokenkit failure; `code` is stable, branch on it. */
export class TokenError extends Error {
  constructor(code, message, options) {
    super(message, options && "cause" in options ? { cause: options.cause } : undefined);
    this.name = "TokenError";
    this.code = code;
    if (options) {
      for (const k of ["status", "error", "errorDescription", "retryAfter"]) {
        if (options[k] !== undefined) this[k] = options[k];
      }
    }
  }
}

/** The platform's words, whole, or cut at a word with an ellipsis (never mid-word). */
const clip = (text, n) => (text.length <= n ? text : `${text.slice(0, n).replace(/\s+\S*$/, "")}…`);

export function tokenError(code, message, status, error, errorDescription, retryAfter, cause) {
  if (cause !== undefined) {
    // Say what the platform said: ECONNREFUSED, ENOTFOUND, a TLS error code...
    const detail = cause?.cause?.code ?? cause?.code ?? cause?.cause?.message ?? cause?.message;
    if (typeof detail === "string" && detail) message += ` (${clip(detail, 200)})`;
  }
  return new TokenError(code, message, { status, error, errorDescription, retryAfter, ...(cause !== undefined && { cause }) });
}

/** The text of an error and its cause, for the secret check before it becomes a `cause`. */
export const errorText = (e) => [e, e?.cause].map((x) => (x == null ? "" : `${x.message ?? ""} ${x.code ?? ""} ${String(x)}`)).join(" ");

/** Whether a failed request's error must not become a `cause`: its text holds the secret, or it has no text to check (a custom fetch's odd rejection). */
function withheld(s, e) {
  try {
    return s.core.mentions(errorText(e));
  } catch {
    return true;
  }
}

/**
 * The wasm is compiled and instantiated the first time a client is made (`new TokenClient`,
 * or a static factory), not at import: importing never fails and never waits, and a failure
 * (a Content-Security-Policy without 'wasm-unsafe-eval', no WebAssembly) is a TokenError
 * thrown by the call that needed the wasm, where the app's own try/catch sees it; `hint`
 * (the entry's: a page's CSP, or a runtime that forbids WebAssembly) says what to allow.
 * A runtime without fetch is refused here too, naming the option, rather than as an
 * unreachable server on the first call. `load(options)` does this the first time.
 */
function loader(instantiate, hint) {
  let loaded = false;
  return (options, sends = true) => {
    // A runtime without fetch (Jest's jsdom environment): the client could never send.
    if (sends && options?.fetch == null && typeof fetch != "function") throw new TokenError("INVALID_CONFIG", "fetch: is required: this runtime has no fetch");
    if (loaded) return;
    try {
      instantiate();
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new TokenError(
        "WASM_UNAVAILABLE",
        `tokenkit's WebAssembly could not be loaded (${clip(why, 300)}): ${hint}`,
        { cause: e },
      );
    }
    loaded = true;
  };
}

export function parseUrl(s, base) {
  try {
    return new URL(s, base);
  } catch {
    return undefined;
  }
}

/** `[[key, value], ...]` of a plain object (also from another realm), else undefined. */
export function plainEntries(v) {
  return Object.prototype.toString.call(v) === "[object Object]" ? Object.entries(v) : undefined;
}

// Which runtime loaded the package: each entry (browser.js, node.js, workerd.js) says so
// before any client exists. The Rust side reads it once per client.
let runtime = "browser";
export function setRuntime(r) {
  runtime = r;
}
export const getRuntime = () => runtime;

/** A monotonic clock in ms: wall-clock jumps do not move it. */
export const monotonic = typeof performance === "object" && typeof performance?.now === "function" ? () => performance.now() : () => Date.now();

const ignore = () => {};

/**
 * The body as text, or undefined past `cap` bytes (src/proto/http.rs MAX_BODY_BYTES, the
 * one place the limit is written): reading stops there, so memory stays bounded.
 * Blob.text() decodes UTF-8 and drops a BOM. A response without a body stream (a test's
 * fetch stub, a whatwg-fetch polyfill: they hold the whole body already) gives its text().
 */
export async function cappedText(res, cap) {
  const reader = res.body?.getReader();
  if (!reader) return res.text();
  const parts = [];
  for (let n = 0, c; !(c = await reader.read()).done; parts.push(c.value)) {
    if ((n += c.value.length) > cap) return void reader.cancel().catch(ignore);
  }
  return new Blob(parts).text();
}

/**
 * POSTs a token request (or GETs metadata: `body` undefined) and reads the answer;
 * resolves to [status, retryAfter, text, dpopNonce] (text undefined: the body is larger than `cap` bytes).
 * Deadlines and retries are the state machine's: it aborts `signal` when an attempt is
 * over. An opaque redirect (a browser's answer to `redirect: "manual"`) reports status 0.
 */
export function postToken(fetchFn, url, headers, body, redirect, cache, credentials, signal, cap) {
  // No body: the GET of the authorization server's metadata (discovery).
  const init = { method: body === undefined ? "GET" : "POST", headers, body, redirect, signal };
  if (cache !== undefined) init.cache = cache;
  if (credentials !== undefined) init.credentials = credentials;
  return (async () => {
    const res = await (fetchFn ? fetchFn(url, init) : globalThis.fetch(url, init));
    if (res.type === "opaqueredirect") return [0, null, "", null];
    return [res.status, res.headers.get("retry-after"), await cappedText(res, cap), res.headers.get("dpop-nonce")];
  })();
}

/**
 * The client's one timer. In Node it keeps the process alive only while a caller awaits a
 * token (`keepAlive`); a proactive refresh or expiry timer never keeps a finished script alive.
 */
export function setTimer(callback, ms, keepAlive) {
  const t = setTimeout(callback, ms);
  if (!keepAlive && typeof t === "object" && t !== null && typeof t.unref === "function") t.unref();
  return t;
}
export const clearTimer = (t) => clearTimeout(t);

/** Hands `promise` to a Workers `ctx.waitUntil`, when the caller passed one. */
export function waitUntil(ctx, promise) {
  if (ctx && typeof ctx.waitUntil === "function") ctx.waitUntil(promise);
}

/** Releases a response we will not read (the 401 before a replay). */
function discard(response) {
  response.body?.cancel().catch(ignore);
}

/**
 * The fast-path cell of what the core says may be served (`Core.serving`): `t` the token,
 * served while the monotonic clock is before `u` and the wall clock before `e`, `v` the header
 * value that carries it, `i` its id. A new one each time it changes: no window of an older
 * one (`w: 0`) carries over (see servable).
 */
export const cellOf = (c) => ({ t: c[0], v: c[1], i: c[2], u: c[3], e: c[4], w: 0 });

/** The longest the fast path trusts the wall clock before it reads the monotonic one again. */
const WINDOW_MS = 1000;

/**
 * Whether the cell's token may be served now: while the monotonic clock (`mono()`) is before
 * the core's `u`. In Chromium performance.now() costs ~260 ns and Date.now() ~55 ns, so the
 * monotonic clock is read only to anchor a window of at most WINDOW_MS on the wall clock,
 * [l, w), that ends no later than `u`; inside it, a wall-clock reading decides. A wall clock
 * that steps back (a reading before the last one) or leaves the window re-anchors on the
 * monotonic clock; one that runs fast only ends the window early. What the wall clock cannot
 * show (a step back between two readings, a stopped clock) can keep a token served past `u`
 * only until the core's own timer for `u` fires and republishes the cell (the shell arms it
 * whenever a token is served, outside Workers, where both clocks stand still in a request).
 */
export function servable(c, wall, mono) {
  if (c.t === undefined) return false;
  const now = wall();
  // Never past the deadline on the wall clock either: after a suspend, where the monotonic
  // clock stood still, the core re-reads both clocks before it serves.
  if (!(now < c.e)) return false;
  if (c.l <= now && now < c.w) {
    c.l = now;
    return true;
  }
  const m = mono();
  if (!(m < c.u)) return false;
  c.l = now;
  c.w = now + Math.min(c.u - m, WINDOW_MS);
  return true;
}

/**
 * `client.fetch(input, init, ctx)`. The core decides (`io.plan`: is the origin allowed,
 * which header; `io.refused`: after a 401, drop the token and send again?); this carries
 * it out. `io.auth(ctx)` gives `[headerValue, tokenId]` of a valid token.
 * A string or URL with a plain `init` is sent as `fetch(href, { ...init, headers })`, with no
 * `Request` built or cloned (each costs more than the header); anything else goes through
 * a copy, `new Request(input, init)`, as fetch itself would read it.
 *
 * # Security
 * What is sent is what was checked: the URL parsed once (a caller's URL object changed
 * after the check changes nothing), or the copy. A signed request never follows a redirect
 * (`redirect: "manual"`, or the caller's `"error"`): fetch would take the token (Node strips
 * `Authorization` across origins, workerd only from compatibility date 2025-09-01) and the
 * DPoP proof (no runtime strips it) to wherever the API points, and apply that server's
 * nonce and 401 to the allowed origin. The caller gets the redirect itself (an
 * `opaqueredirect` in a browser) and decides.
 */
async function signedFetch(io, input, init, ctx) {
  const f = io.fetch;
  const send = (a, b) => (f ? f(a, b) : globalThis.fetch(a, b));
  const proto = init == null ? null : Object.getPrototypeOf(init);
  const url = (typeof input === "string" || input instanceof URL) && (proto === null || proto === Object.prototype) && parseUrl(input, baseUrl());
  let origin, pathname, method, headers, go, replayable;
  if (url && !url.username && !url.password) {
    ({ origin, pathname } = url);
    const href = url.href;
    method = init?.method;
    headers = new Headers(init?.headers);
    replayable = reusable(init?.body);
    go = (signed) => send(href, signed ? { ...init, headers, redirect: manual(init?.redirect) } : { ...init, headers });
  } else {
    // Sent as the caller's Request would be, never the caller's object itself (its headers
    // are not ours to change); a body is copied for a replay unless it is a stream.
    let req = new Request(input, init);
    ({ origin = "", pathname } = parseUrl(req.url) ?? {});
    method = req.method;
    headers = req.headers;
    let copy;
    go = (signed) => {
      if (copy === undefined) {
        // A signed request is remade not to follow redirects (its headers go along).
        if (signed && req.redirect !== manual(req.redirect)) req = new Request(req, { redirect: "manual" });
        copy = req.body === null ? req : typeof ReadableStream === "function" && init?.body instanceof ReadableStream ? null : req.clone();
        replayable = copy !== null;
        headers = req.headers;
      }
      const r = req;
      req = copy;
      headers = copy?.headers;
      return send(r);
    };
  }
  const name = io.plan(origin, headers);
  if (name === undefined) return go(false);
  for (;;) {
    const [value, id, token] = await io.auth(ctx);
    headers.set(name, value);
    // A DPoP token goes with a proof of this request, made for it alone (RFC 9449 §7.1).
    if (io.proof) headers.set("DPoP", await io.proof(method, origin, pathname, token));
    const res = await go(true);
    // The server's next nonce, whatever the status (§8.2).
    if (io.proof) io.nonce(origin, res.headers.get("dpop-nonce"));
    // Every 401 is reported (a refused token is dropped even if this body cannot be sent
    // again); the core says whether to send it again, and only once.
    if (res.status !== 401 || !io.refused(id, res.headers.get("www-authenticate"), replayable)) return res;
    replayable = false;
    discard(res);
  }
}

/** The redirect mode of a signed request: the caller's `"error"`, else `"manual"` (never followed). */
const manual = (mode) => (mode === "error" ? "error" : "manual");

/** The base a relative URL resolves against, as fetch does (none in Node). */
const baseUrl = () => globalThis.document?.baseURI ?? globalThis.location?.href;

/** A body fetch can send again as is (not a stream, nor an iterable Node's fetch takes). */
const reusable = (b) =>
  b == null ||
  typeof b === "string" ||
  b instanceof ArrayBuffer ||
  ArrayBuffer.isView(b) ||
  b instanceof URLSearchParams ||
  (typeof Blob === "function" && b instanceof Blob) ||
  (typeof FormData === "function" && b instanceof FormData);

export function subscribe(set, listener) {
  set.add(listener);
  return () => {
    set.delete(listener);
  };
}

export function emit(set, value) {
  for (const listener of Array.from(set)) {
    try {
      listener(value);
    } catch (e) {
      // A throwing listener must not break the client; surface it like EventTarget does.
      queueMicrotask(() => {
        throw e;
      });
    }
  }
}

/**
 * The default build's `TokenClient`: a driver for the wasm's synchronous `Core`
 * (src/wasm/machine.rs), which makes every decision. This carries them out: each input is
 * given both clocks, then `drive` does what the core's actions say (send, abort, wake the
 * waiters, emit), takes what may be served without asking, and arms the one timer. Its
 * state (the core, the token cell, the `fetch` option) sits in a module-private WeakMap:
 * no property of a client holds a secret. `instantiate` loads the wasm on first use (see
 * loadOnFirstUse), `hint` says what to allow when it cannot. `ext` (js/signin.js, the
 * sign-in build) adds the sign-in: `attach(s)` and `close(s)` a client's tabs, `share(s)`
 * its tokens, `post(s, a, signal)` a refresh under its lock, and `methods(proto, live)` adds
 * its methods.
 */
export function clientClass(Core, instantiate, hint, ext) {
  const load = loader(instantiate, hint);
  const states = new WeakMap();
  const PRESET = {};
  const live = (client) => {
    const s = states.get(client);
    if (s === undefined) throw gone();
    return s;
  };
  class TokenClient {
    constructor(options, key, preset) {
      load(options);
      const f = options == null ? undefined : options.fetch;
      if (f != null && typeof f !== "function") throw new TokenError("INVALID_CONFIG", "fetch: must be a function");
      // private_key_jwt: the core sees a view of the key (its algorithm, public members and
      // kid), never its private members; the entries of servers hand over the signing (setServer).
      // A page's build has no private_key_jwt: it refuses the option, never seeing the key.
      const given = options == null ? undefined : options.clientKey;
      const opts = given == null ? options : { ...options, clientKey: server ? server.view(given) : true };
      const core = new Core(key === PRESET ? preset : 0, opts, runtime === "workerd" ? RUNTIME_WORKERD : runtime === "node" ? RUNTIME_NODE : RUNTIME_BROWSER, Math.random() * 2 ** 53);
      const s = state(core, f || undefined, ext);
      if (options?.dpop) {
        // Only the DPoP build gets here: elsewhere the core refused the option.
        try {
          s.dpop = dpop.of(core, options.dpop);
        } catch (e) {
          core.free();
          throw e;
        }
      }
      if (given != null) s.key = server?.of(given);
      s.io = io(s);
      states.set(this, s);
      ext?.attach(s);
    }
    /**
     * The first challenge of a response's WWW-Authenticate (RFC 9110 §11.6.1, read by the
     * core): { scheme, error, errorDescription, scope, acrValues, maxAge, resourceMetadata,
     * realm }, or null. For step-up (RFC 9470) and scope challenges, which client.fetch()
     * returns as they are: the token was not refused.
     */
    static challenge(response) {
      const h = response?.headers?.get?.("www-authenticate");
      if (typeof h !== "string") return null;
      load(undefined, false);
      const r = Core.challenge(h);
      if (r === undefined) return null;
      const [scheme, error, errorDescription, scope, acrValues, resourceMetadata, realm, maxAge] = r.split("\n").map((v) => v || undefined);
      return { scheme, error, errorDescription, scope, acrValues, maxAge: maxAge && Number(maxAge), resourceMetadata, realm };
    }
    // The vendors' constructors: each number is its row in src/proto/client/presets.rs PRESETS.
    static sypht(options) {
      return new TokenClient(options, PRESET, 1);
    }
    static symbl(options) {
      return new TokenClient(options, PRESET, 2);
    }
    static apiKey(options) {
      return new TokenClient(options, PRESET, 3);
    }
    getToken(ctx) {
      const s = states.get(this);
      if (s === undefined) return Promise.reject(gone());
      const c = s.cell;
      return c !== undefined && servable(c, Date.now, monotonic) ? Promise.resolve(c.t) : token(s, ctx).then((r) => r[RECORD_ACCESS_TOKEN]);
    }
    getTokenInfo(ctx) {
      const s = states.get(this);
      return s === undefined ? Promise.reject(gone()) : token(s, ctx).then((r) => info(s, r));
    }
    fetch(input, init, ctx) {
      const s = states.get(this);
      return s === undefined ? Promise.reject(gone()) : signedFetch(s.io, input, init, ctx);
    }
    async sign(request, ctx) {
      const s = live(this);
      let req = new Request(request);
      const url = parseUrl(req.url);
      const name = s.core.plan(url?.origin ?? "", (n) => req.headers.has(n));
      if (name === undefined) return req;
      // Signed, it must not follow a redirect wherever it is sent (see signedFetch).
      if (req.redirect !== manual(req.redirect)) req = new Request(req, { redirect: "manual" });
      const [value, , token] = await auth(s, ctx);
      req.headers.set(name, value);
      if (s.dpop) req.headers.set("DPoP", await dpop.resource(s, req.method, url.origin, url.pathname, token));
      return req;
    }
    invalidate() {
      const s = states.get(this);
      if (s === undefined) return;
      s.core.invalidate(monotonic(), Date.now());
      drive(s);
    }
    on(event, listener) {
      const s = live(this);
      if (event !== "token" && event !== "expired" && event !== "error") throw new TokenError("INVALID_CONFIG", 'event: must be "token", "expired" or "error"');
      if (typeof listener !== "function") throw new TokenError("INVALID_CONFIG", "listener: must be a function");
      if (s.core.gone()) throw new TokenError("DISPOSED", "the client was disposed");
      return subscribe(s.on[event], listener);
    }
    dispose() {
      const s = states.get(this);
      if (s === undefined) return;
      for (const k in s.on) s.on[k].clear();
      s.core.dispose();
      s.fetch = undefined;
      s.dpop = undefined; // the key pair goes with the tokens bound to it
      ext?.close(s); // leaves the other tabs, removes the listeners
      drive(s);
    }
    free() {
      const s = states.get(this);
      if (s === undefined) return;
      this.dispose(); // abort requests and timers before the memory goes
      states.delete(this);
      s.freed = true; // for work still under way (a request's answer, a waiter): see dead()
      s.core.free();
    }
  }
  if (typeof Symbol.dispose === "symbol") TokenClient.prototype[Symbol.dispose] = TokenClient.prototype.free;
  ext?.methods(TokenClient.prototype, live);
  return TokenClient;
}

/**
 * What the driver keeps of a client (module-private: no property of a client holds a secret):
 * its core, the `fetch` it sends with, `ext` (the sign-in build's hooks), and whether it
 * `serves` from a cell (a TokenClient's; the broker's clients set it false: they are served
 * only through `Core.answer`). Every
 * `Core` is driven from one: a `TokenClient`'s, and each of the broker's token clients.
 */
export const state = (core, fetch, ext) => ({ core, ext, fetch, serves: true, on: { token: new Set(), expired: new Set(), error: new Set() }, waiters: [], cell: undefined, timer: undefined, at: -1, keep: false, sending: undefined, cause: undefined });

/** An answer's text as the core takes it: `[body, kind]`, parsed once (kinds: the BODY_ constants). */
export function parsed(text) {
  if (text === undefined) return [undefined, BODY_TOO_LARGE];
  try {
    return [JSON.parse(text), BODY_JSON];
  } catch {
    return [undefined, BODY_NOT_JSON];
  }
}

export const gone = () => new TokenError("DISPOSED", "the client was disposed (free() was called)");

/** Whether the core was disposed, or freed (its methods would throw "null pointer passed to rust"). */
export const dead = (s) => s.freed === true || s.core.gone();

// What only servers do (js/server.js, given by the Node and Workers entries: setServer):
// client assertions (private_key_jwt) and pushed authorization requests.
let server;
export function setServer(k) {
  server = k;
}
export const getServer = () => server;

// The DPoP build's proofs (js/dpop.js, given by its entries: setDpop).
let dpop;
export function setDpop(d) {
  dpop = d;
}
export const getDpop = () => dpop;

/** `{ accessToken, tokenType, expiresAt, refreshAt, scope }` of a core token record. */
const info = (s, r) => ({ accessToken: r[RECORD_ACCESS_TOKEN], tokenType: s.dpop ? "DPoP" : "Bearer", expiresAt: r[RECORD_EXPIRES_AT], refreshAt: r[RECORD_REFRESH_AT], scope: r[RECORD_SCOPE] });

/** `e` with the platform's error as its `cause`, when it is a `NETWORK` error and one was kept. */
function withCause(s, e) {
  if (!(e instanceof TokenError) || e.code !== "NETWORK" || s.cause === undefined) return e;
  // A platform's reason that contains the secret is not shown; say so rather than lose it silently.
  return s.cause === null ? tokenError(e.code, `${e.message} (the platform's reason is withheld: it contains the client secret)`) : tokenError(e.code, e.message, undefined, undefined, undefined, undefined, s.cause);
}

/**
 * Carries out the core's actions until it has none; then takes what may be served and
 * re-arms the timer. `ctx` (a Workers ExecutionContext) keeps any request it sends alive.
 */
export function drive(s, ctx) {
  const core = s.core;
  const mono = monotonic(), wall = Date.now();
  // A listener may free() the client: its core is gone then, and so is the work.
  for (let a; !s.freed && (a = core.poll(mono, wall)) !== undefined; ) {
    switch (a[0]) {
      case ACTION_SEND:
        send(s, a, ctx);
        break;
      case ACTION_ABORT:
        if (s.sending !== undefined && s.sending[0] === a[VALUE_SLOT]) {
          s.sending[1]?.abort();
          s.sending = undefined;
        }
        break;
      case ACTION_WAKE:
        rouse(s);
        break;
      case ACTION_TOKEN:
        emit(s.on.token, info(s, a[VALUE_SLOT]));
        break;
      case ACTION_EXPIRED:
        emit(s.on.expired, undefined);
        break;
      case ACTION_ERROR:
        emit(s.on.error, withCause(s, a[VALUE_SLOT]));
        break;
      case ACTION_SHARE:
        s.ext?.share(s);
        break;
    }
  }
  if (s.freed) return;
  if (s.serves) {
    const c = core.serving(mono, wall);
    if (c !== undefined) s.cell = c === null ? undefined : cellOf(c);
  }
  arm(s);
}

/** Wakes every waiter to look at the core again (a flight ended, or in Workers its deadline moved). */
function rouse(s) {
  const w = s.waiters;
  s.waiters = [];
  for (const resolve of w) resolve();
}

/** Sends token request `a` (see Core.poll); its answer, or its failure, goes back to the core. */
function send(s, a, ctx) {
  const attempt = a[SEND_ATTEMPT];
  const controller = typeof AbortController === "function" ? new AbortController() : undefined;
  s.sending = [attempt, controller];
  const answer = (status, retryAfter, text, nonce) => {
    if (s.sending !== undefined && s.sending[0] === attempt) s.sending = undefined;
    if (dead(s)) return;
    // The body is parsed once, here; the core validates what it holds (Core.response).
    const [body, kind] = parsed(text);
    s.core.response(attempt, status, retryAfter ?? undefined, body, kind, monotonic(), Date.now(), nonce ?? undefined);
    drive(s, ctx);
  };
  const signal = controller?.signal;
  const post = () => (a[SEND_LOCK] !== undefined && s.ext ? s.ext.post(s, a, signal) : postToken(s.fetch, a[SEND_URL], a[SEND_HEADERS], a[SEND_BODY], a[SEND_REDIRECT], a[SEND_CACHE], a[SEND_CREDENTIALS], signal, a[SEND_CAP]));
  // private_key_jwt: the body ends in `client_assertion=`, for an assertion made for this
  // attempt alone (a new jti). With DPoP, each token request carries a proof of its own
  // (RFC 9449 §7.3: never one reused); a metadata GET (no body) carries none.
  const prepare = async () => {
    if (a[SEND_ASSERTION]) a[SEND_BODY] += await server.assertion(s);
    if (s.dpop && a[SEND_BODY] !== undefined) a[SEND_HEADERS].push(["DPoP", await dpop.token(s)]);
    return post();
  };
  const sent = a[SEND_ASSERTION] || (s.dpop && a[SEND_BODY] !== undefined) ? prepare() : post();
  const done = sent.then(
    (r) => {
      // A locked refresh's release(ms): the core says how long this tab keeps the lock.
      if (typeof r[4] === "function") r[4](dead(s) ? 0 : s.core.lockHold(r[0]));
      answer(r[0], r[1], r[2], r[3]);
    },
    (e) => {
      // Still the attempt being sent (not one the core aborted): its error is the cause,
      // unless its text contains the secret.
      if (s.sending !== undefined && s.sending[0] === attempt && !dead(s)) s.cause = withheld(s, e) ? null : e;
      // Nothing was sent: WebCrypto could not use the client's key or its DPoP key.
      answer(e === STATUS_KEY_REFUSED || e === STATUS_KEY_FAILED ? e : STATUS_NETWORK);
    },
  );
  waitUntil(ctx, done);
}

/** Arms the one timer for the core's next deadline (outside Workers), unless it is armed for exactly that. */
function arm(s) {
  const at = s.core.deadline();
  if (runtime === "workerd") {
    // The waiters sleep to the deadline they saw (wake): a new one wakes them to look again
    // (an answer that failed puts the next attempt at the backoff's end, before the timeout).
    if (at !== s.at) {
      s.at = at;
      rouse(s);
    }
    return;
  }
  const keep = at >= 0 && s.core.keep();
  if (at === s.at && keep === s.keep) return;
  if (s.timer !== undefined) clearTimer(s.timer);
  s.timer = undefined;
  s.at = at;
  s.keep = keep;
  if (at < 0) return;
  s.timer = setTimer(
    () => {
      s.timer = undefined;
      s.at = -1;
      s.core.timeout(monotonic(), Date.now());
      drive(s);
    },
    Math.min(Math.max(at - monotonic(), 0), 2147483647),
    keep,
  );
}

/**
 * A valid token's record: from memory, or by waiting for the one token request. `flight`:
 * wait for that flight first (a sign-in's code exchange).
 */
export async function token(s, ctx, flight) {
  try {
    for (;;) {
      if (s.freed) throw gone();
      const r = flight ?? s.core.get(monotonic(), Date.now());
      flight = undefined;
      drive(s, ctx);
      if (typeof r !== "number") return r;
      for (;;) {
        if (s.freed) throw gone();
        const o = s.core.outcome(r, monotonic(), Date.now());
        if (o === null) break; // gone: ask again
        if (o !== undefined) return o;
        await wake(s, ctx);
        if (s.freed) throw gone();
      }
    }
  } catch (e) {
    throw withCause(s, e);
  }
}

/**
 * Resolves once the endpoints are discovered (issuer without tokenUrl): the sign-in's
 * authorization URL and callback need them. Throws the discovery's failure.
 */
export async function discovered(s) {
  try {
    for (let id; !dead(s) && (id = s.core.discover(monotonic(), Date.now())) !== undefined; ) {
      drive(s);
      while (s.core.outcome(id, monotonic(), Date.now()) === undefined) {
        await wake(s);
        if (dead(s)) throw gone();
      }
    }
    if (dead(s)) throw gone();
  } catch (e) {
    throw withCause(s, e);
  }
}

/**
 * Resolves on the core's next wake-up. In Workers, where no timer outlives a request and a
 * promise resolved by another request's work does not keep this one alive, each waiter
 * also sleeps, in its own request, until the core's next deadline (woken sooner when that
 * deadline moves: arm), and then lets the core handle it.
 */
function wake(s, ctx) {
  const woken = new Promise((resolve) => s.waiters.push(resolve));
  if (runtime !== "workerd") return woken;
  const at = s.core.deadline();
  if (at < 0) return woken;
  // The sleep is cleared when the waiter wakes first: a timer left to its deadline would hold
  // a host that waits for its timers (edge-runtime's VM: about 10 s, a request's timeout).
  let timer;
  const slept = new Promise((resolve) => (timer = setTimeout(resolve, Math.max(at - monotonic(), 1))));
  return Promise.race([woken, slept]).then(() => {
    clearTimeout(timer);
    if (dead(s)) return;
    s.core.timeout(monotonic(), Date.now());
    drive(s, ctx);
  });
}

/** `[headerValue, tokenId, token]` of a valid token: the cell's while it may be served. */
function auth(s, ctx) {
  const c = s.cell;
  return c !== undefined && servable(c, Date.now, monotonic) ? [c.v, c.i, c.t] : token(s, ctx).then((r) => [r[RECORD_HEADER], r[RECORD_ID], r[RECORD_ACCESS_TOKEN]]);
}

/** What signedFetch needs of a client, made once per client (fetch() is the hot path). */
const io = (s) => ({
  get fetch() {
    return s.fetch;
  },
  plan: (origin, headers) => s.core.plan(origin, (n) => headers.has(n)),
  auth: (ctx) => auth(s, ctx),
  // DPoP tokens only: a request's proof, and a resource server's nonce.
  proof: s.dpop && ((method, origin, pathname, token) => dpop.resource(s, method, origin, pathname, token)),
  nonce: (origin, value) => dpop.nonce(s, origin, value),
  refused: (id, www, replayable) => !dead(s) && refusedAndDrive(s, id, www, replayable),
});

export function refusedAndDrive(s, id, www, replayable) {
  const again = s.core.refused(id, www ?? undefined, replayable);
  drive(s);
  return again;
}
