// The JavaScript half of tokenkit's wasm shell: what JS already does well (an Error
// subclass, URL parsing, fetch with a deadline, timers that do not keep Node alive).
// No OAuth decisions are made here; those live in Rust (src/proto/).

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

export function tokenError(code, message, status, error, errorDescription, retryAfter, cause) {
  if (cause !== undefined) {
    // Say what the platform said: ECONNREFUSED, ENOTFOUND, a TLS error code...
    const detail = cause?.cause?.code ?? cause?.code ?? cause?.cause?.message ?? cause?.message;
    if (typeof detail === "string" && detail) message += ` (${detail.slice(0, 120)})`;
  }
  return new TokenError(code, message, { status, error, errorDescription, retryAfter, ...(cause !== undefined && { cause }) });
}

/** The text of an error and its cause, for the secret check before it becomes a `cause`. */
export const errorText = (e) => [e, e?.cause].map((x) => (x == null ? "" : `${x.message ?? ""} ${x.code ?? ""} ${String(x)}`)).join(" ");

/**
 * After free() (or `using`), the wasm object is gone and wasm-bindgen would throw "null
 * pointer passed to rust": every method answers like a disposed client instead.
 */
export function guard(TokenClient) {
  const p = TokenClient.prototype;
  const gone = () => new TokenError("DISPOSED", "the client was disposed (free() was called)");
  const wrap = (name, whenGone) => {
    const f = p[name];
    p[name] = function (...args) {
      return this.__wbg_ptr ? f.apply(this, args) : whenGone();
    };
  };
  // The fast path: while the core says its token may be served (the cell it rewrites after
  // every input: the token, its header value and id, and the instant before which it would
  // answer with it and change nothing), getToken(), fetch() and sign() use it without
  // entering wasm. The decision is the core's; this only compares numbers (servable).
  const cells = new WeakMap();
  const serving = (client) => {
    let c = cells.get(client);
    if (c === undefined) cells.set(client, (c = client.__cell()));
    return servable(c, Date.now, monotonic) ? c : undefined;
  };
  const getToken = p.getToken;
  p.getToken = function (ctx) {
    // The disposed check inline (not wrap's rest-args call): this is the hot path.
    if (!this.__wbg_ptr) return Promise.reject(gone());
    const c = serving(this);
    return c ? Promise.resolve(c.t) : getToken.call(this, ctx);
  };
  // [header value, token id] of a valid token.
  const auth = (client, ctx) => {
    const c = serving(client);
    return c ? [c.v, c.i] : client.__auth(ctx);
  };
  p.fetch = function (input, init, ctx) {
    return signedFetch(this, auth, input, init, ctx);
  };
  p.sign = async function (request, ctx) {
    const req = new Request(request);
    const name = this.__plan(parseUrl(req.url)?.origin ?? "", req.headers);
    if (name !== undefined) req.headers.set(name, (await auth(this, ctx))[0]);
    return req;
  };
  for (const m of ["getTokenInfo", "fetch", "sign"]) wrap(m, () => Promise.reject(gone()));
  wrap("on", () => {
    throw gone();
  });
  wrap("invalidate", () => {});
  wrap("dispose", () => {});
  const free = p.free;
  p.free = function () {
    if (!this.__wbg_ptr) return;
    this.dispose(); // abort requests and timers before the memory goes
    free.call(this);
  };
  if (typeof Symbol.dispose === "symbol") p[Symbol.dispose] = p.free;
}

/**
 * The wasm is compiled and instantiated the first time a client is made (`new TokenClient`,
 * or a static factory), not at import: importing never fails and never waits, and a failure
 * (a Content-Security-Policy without 'wasm-unsafe-eval', no WebAssembly) is a TokenError
 * thrown by the call that needed the wasm, where the app's own try/catch sees it; `hint`
 * (the entry's: a page's CSP, or a runtime that forbids WebAssembly) says what to allow.
 * A runtime without fetch is refused here too, naming the option, rather than as an
 * unreachable server on the first call. Returns the class to export: the glue's class
 * behind a Proxy that loads before `new`.
 */
export function loadOnFirstUse(TokenClient, instantiate, hint) {
  let loaded = false;
  const load = (options) => {
    // A runtime without fetch (Jest's jsdom environment): the client could never send.
    if (options?.fetch == null && typeof fetch != "function") throw new TokenError("INVALID_CONFIG", "fetch: is required: this runtime has no fetch");
    if (loaded) return;
    try {
      instantiate();
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new TokenError(
        "WASM_UNAVAILABLE",
        `tokenkit's WebAssembly could not be loaded (${why.slice(0, 200)}): ${hint}`,
        { cause: e },
      );
    }
    loaded = true;
  };
  for (const name of Object.getOwnPropertyNames(TokenClient)) {
    const f = TokenClient[name];
    if (typeof f !== "function" || name.startsWith("__")) continue;
    TokenClient[name] = function (...args) {
      load(args[0]);
      return f.apply(this, args);
    };
  }
  return new Proxy(TokenClient, {
    construct(target, args, newTarget) {
      load(args[0]);
      return Reflect.construct(target, args, newTarget);
    },
  });
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
async function cappedText(res, cap) {
  const reader = res.body?.getReader();
  if (!reader) return res.text();
  const parts = [];
  for (let n = 0, c; !(c = await reader.read()).done; parts.push(c.value)) {
    if ((n += c.value.length) > cap) return void reader.cancel().catch(ignore);
  }
  return new Blob(parts).text();
}

/**
 * POSTs a token request and reads the answer; resolves to [status, retryAfter, text]
 * (text undefined: the body is larger than `cap` bytes).
 * Deadlines and retries are the state machine's: it aborts `signal` when an attempt is
 * over. An opaque redirect (a browser's answer to `redirect: "manual"`) reports status 0.
 */
export function postToken(fetchFn, url, headers, body, redirect, cache, credentials, signal, cap) {
  const init = { method: "POST", headers, body, redirect, signal };
  if (cache !== undefined) init.cache = cache;
  if (credentials !== undefined) init.credentials = credentials;
  return (async () => {
    const res = await (fetchFn ? fetchFn(url, init) : globalThis.fetch(url, init));
    if (res.type === "opaqueredirect") return [0, null, ""];
    return [res.status, res.headers.get("retry-after"), await cappedText(res, cap)];
  })();
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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
 * Sets the fast-path cell (see guard): `t` the token that may be served while the monotonic
 * clock is before `u` and the wall clock before `e`, `v` the header value that carries it,
 * `i` its id.
 */
export function publish(cell, token, value, id, until, wallUntil) {
  cell.t = token;
  cell.v = value;
  cell.i = id;
  cell.u = until;
  cell.e = wallUntil;
  cell.w = 0; // re-anchor (servable)
}

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
 * `client.fetch(input, init, ctx)`. The core decides (`__plan`: is the origin allowed, which
 * header; `__refused`: after a 401, drop the token and send again?); this carries it out.
 * A string or URL with a plain `init` is sent as `fetch(input, { ...init, headers })`, with no
 * `Request` built or cloned (each costs more than the header); anything else goes through
 * a copy, `new Request(input, init)`, as fetch itself would read it.
 */
async function signedFetch(client, auth, input, init, ctx) {
  const f = client.__fetch();
  const send = (a, b) => (f ? f(a, b) : globalThis.fetch(a, b));
  const proto = init == null ? null : Object.getPrototypeOf(init);
  const url = (typeof input === "string" || input instanceof URL) && (proto === null || proto === Object.prototype) && parseUrl(input, baseUrl());
  let origin, headers, go, replayable;
  if (url && !url.username && !url.password) {
    origin = url.origin;
    headers = new Headers(init?.headers);
    replayable = reusable(init?.body);
    go = () => send(input, { ...init, headers });
  } else {
    // Sent as the caller's Request would be, never the caller's object itself (its headers
    // are not ours to change); a body is copied for a replay unless it is a stream.
    let req = new Request(input, init);
    const copy = req.body === null ? req : typeof ReadableStream === "function" && init?.body instanceof ReadableStream ? null : req.clone();
    origin = parseUrl(req.url)?.origin ?? "";
    headers = req.headers;
    replayable = copy !== null;
    go = () => {
      const r = req;
      req = copy;
      headers = copy?.headers;
      return send(r);
    };
  }
  const name = client.__plan(origin, headers);
  if (name === undefined) return go();
  for (;;) {
    const [value, id] = await auth(client, ctx);
    headers.set(name, value);
    const res = await go();
    // Every 401 is reported (a refused token is dropped even if this body cannot be sent
    // again); the core says whether to send it again, and only once.
    if (res.status !== 401 || !client.__wbg_ptr || !client.__refused(id, res.headers.get("www-authenticate"), replayable)) return res;
    replayable = false;
    discard(res);
  }
}

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
