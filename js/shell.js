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
  for (const m of ["getToken", "getTokenInfo", "fetch", "sign"]) wrap(m, () => Promise.reject(gone()));
  wrap("on", () => {
    throw gone();
  });
  wrap("invalidate", () => {});
  wrap("dispose", () => {});
  // The fast path: while the core says its token may be served (the cell it rewrites after
  // every input: the token and the instant before which it would answer with it and change
  // nothing), getToken() answers without entering wasm. The decision is the core's; this
  // only compares two numbers.
  const cells = new WeakMap();
  const getToken = p.getToken;
  p.getToken = function (ctx) {
    let c = cells.get(this);
    if (c === undefined && this.__wbg_ptr) cells.set(this, (c = this.__cell()));
    return c !== undefined && c.t !== undefined && monotonic() < c.u ? Promise.resolve(c.t) : getToken.call(this, ctx);
  };
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
 * thrown by the call that needed the wasm, where the app's own try/catch sees it.
 * Returns the class to export: the glue's class behind a Proxy that loads before `new`.
 */
export function loadOnFirstUse(TokenClient, instantiate) {
  let loaded = false;
  const load = () => {
    if (loaded) return;
    try {
      instantiate();
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new TokenError(
        "WASM_UNAVAILABLE",
        `tokenkit's WebAssembly could not be loaded (${why.slice(0, 200)}); a page with a Content-Security-Policy needs 'wasm-unsafe-eval' in script-src`,
        { cause: e },
      );
    }
    loaded = true;
  };
  for (const name of Object.getOwnPropertyNames(TokenClient)) {
    const f = TokenClient[name];
    if (typeof f !== "function" || name.startsWith("__")) continue;
    TokenClient[name] = function (...args) {
      load();
      return f.apply(this, args);
    };
  }
  return new Proxy(TokenClient, {
    construct(target, args, newTarget) {
      load();
      return Reflect.construct(target, args, newTarget);
    },
  });
}

export function parseUrl(s) {
  try {
    return new URL(s);
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
 * POSTs a token request and reads the answer; resolves to [status, retryAfter, text].
 * Deadlines and retries are the state machine's: it aborts `signal` when an attempt is
 * over. An opaque redirect (a browser's answer to `redirect: "manual"`) reports status 0.
 */
export function postToken(fetchFn, url, headers, body, redirect, cache, credentials, signal) {
  const init = { method: "POST", headers, body, redirect, signal };
  if (cache !== undefined) init.cache = cache;
  if (credentials !== undefined) init.credentials = credentials;
  return (async () => {
    const res = await (fetchFn ? fetchFn(url, init) : globalThis.fetch(url, init));
    if (res.type === "opaqueredirect") return [0, null, ""];
    return [res.status, res.headers.get("retry-after"), await res.text()];
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

export const newRequest = (input, init) => new Request(input, init);

/**
 * What to send again after a refused token, or null when the body cannot be replayed (a
 * stream). A bodyless request is reused as is: cloning costs a Request per call.
 */
export function replayCopy(request, init) {
  if (request.body === null) return request;
  if (init && typeof ReadableStream === "function" && init.body instanceof ReadableStream) return null;
  return request.clone();
}

export function send(fetchFn, request) {
  return fetchFn ? fetchFn(request) : globalThis.fetch(request);
}

/** Releases a response we will not read (the 401 before a replay). */
export function discard(response) {
  response.body?.cancel().catch(ignore);
}

/** Sets the fast-path cell (see guard): `t` the token that may be served, before `u`. */
export function publish(cell, token, until) {
  cell.t = token;
  cell.u = until;
}

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
