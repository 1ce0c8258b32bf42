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

export function tokenError(code, message, status, error, errorDescription, retryAfter) {
  return new TokenError(code, message, { status, error, errorDescription, retryAfter });
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

// Workers run requests without a cookie jar or an HTTP cache, and older compatibility
// dates reject the `credentials` and `cache` fields outright, so they are left out there.
const WORKERS = typeof navigator === "object" && navigator?.userAgent === "Cloudflare-Workers";

const TIMED_OUT = Symbol("tokenkit timeout");
export const isTimeout = (e) => e === TIMED_OUT;
const ignore = () => {};

/**
 * POSTs a token request and reads the answer, all within `ms`: the deadline covers a server
 * that sends headers and then stalls the body. Resolves to [status, retryAfter, text].
 * Never follows redirects (an opaque redirect reports status 0); sends cookies only to a
 * broker whose client set `credentials`.
 */
export function postToken(fetchFn, url, headers, body, ms, controller, credentials) {
  const init = { method: "POST", headers, body, redirect: "manual", signal: controller.signal };
  if (!WORKERS) {
    init.credentials = credentials; // "omit", unless a broker client asks for its cookies
    init.cache = "no-store";
  }
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => {
      reject(TIMED_OUT);
      controller.abort();
    }, ms);
  });
  const work = (async () => {
    const res = await (fetchFn ? fetchFn(url, init) : globalThis.fetch(url, init));
    if (res.type === "opaqueredirect") return [0, null, ""];
    return [res.status, res.headers.get("retry-after"), await res.text()];
  })();
  work.catch(ignore); // it may settle after the deadline has already answered
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A timer for proactive refresh; in Node it must not keep a finished script alive. */
export function setTimer(callback, ms) {
  const t = setTimeout(callback, ms);
  if (typeof t === "object" && t !== null && typeof t.unref === "function") t.unref();
  return t;
}
export const clearTimer = (t) => clearTimeout(t);

export const newRequest = (input, init) => new Request(input, init);

/** A copy of `request` to replay after a 401, or null when its body cannot be replayed. */
export function replayCopy(request, init) {
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
