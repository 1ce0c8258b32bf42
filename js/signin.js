// The JavaScript half of the sign-in shell (the "tokenkit/signin" entry only): WebCrypto,
// sessionStorage for the one pending sign-in, the channel to this origin's other tabs, and
// wake-up listeners. No decisions: src/proto/signin.rs and the machine make them.
import { postToken } from "./shell.js";

export const randomBytes = (n) => globalThis.crypto.getRandomValues(new Uint8Array(n));

export async function sha256(text) {
  return new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

const storage = () => {
  try {
    return globalThis.sessionStorage ?? undefined;
  } catch {
    return undefined; // a sandboxed frame throws on access
  }
};

/** Keeps the pending sign-in (state, verifier, nonce: never a token) for the redirect back. */
export function savePending(key, state, codeVerifier, nonce) {
  try {
    const s = storage();
    if (!s) return false;
    s.setItem(key, JSON.stringify({ state, codeVerifier, nonce }));
    return true;
  } catch {
    return false;
  }
}

/** The pending sign-in, removed as it is read: it is used once. */
export function takePending(key) {
  try {
    const s = storage();
    const v = s?.getItem(key) ?? undefined;
    s?.removeItem(key);
    return v;
  } catch {
    return undefined;
  }
}

/** [state, codeVerifier, nonce] of a stored pending sign-in, or undefined. */
export function pendingFields(json) {
  try {
    const p = JSON.parse(json);
    return typeof p?.state === "string" && typeof p?.codeVerifier === "string" ? [p.state, p.codeVerifier, typeof p.nonce === "string" ? p.nonce : undefined] : undefined;
  } catch {
    return undefined;
  }
}

/** The query parameters of a callback URL (a string or URL), or undefined. */
export function callbackParams(url) {
  try {
    return Array.from(new URL(String(url)).searchParams);
  } catch {
    return undefined;
  }
}

const CALLBACK_PARAMS = ["code", "state", "iss", "session_state", "error", "error_description", "error_uri"];

/** Removes the code and its company from the address bar, if the callback is this page. */
export function cleanHistory(url) {
  try {
    if (typeof history !== "object" || typeof location !== "object" || String(url) !== location.href) return;
    const u = new URL(location.href);
    for (const p of CALLBACK_PARAMS) u.searchParams.delete(p);
    history.replaceState(history.state, "", u.href);
  } catch {
    // not a page: nothing to clean
  }
}

/** The `nonce` claim of an ID token (its payload, not verified: only compared). */
export function idTokenNonce(jwt) {
  try {
    const b64 = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))));
    return typeof claims.nonce === "string" ? claims.nonce : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Joins this origin's other tabs on channel `name` and listens for the page being shown
 * again or the network returning. Returns the function that closes it all; `post(close, m)`
 * sends on the channel.
 */
export function openTabs(name, onMessage, onWake) {
  const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(name) : undefined;
  if (channel) channel.onmessage = (e) => onMessage(e.data);
  const visible = () => {
    if (document.visibilityState === "visible") onWake();
  };
  const hasDocument = typeof document === "object" && typeof document.addEventListener === "function";
  if (hasDocument) document.addEventListener("visibilitychange", visible);
  if (typeof addEventListener === "function") addEventListener("online", onWake);
  const close = () => {
    channel?.close();
    if (hasDocument) document.removeEventListener("visibilitychange", visible);
    if (typeof removeEventListener === "function") removeEventListener("online", onWake);
  };
  close.channel = channel;
  return close;
}

export function post(close, message) {
  try {
    close.channel?.postMessage(message);
  } catch {
    // closed
  }
}

/** POSTs an RFC 7009 revocation; resolves to the status. Never follows a redirect. */
export async function postRevocation(fetchFn, url, headers, body) {
  const init = { method: "POST", headers, body, redirect: "manual" };
  const res = await (fetchFn ? fetchFn(url, init) : globalThis.fetch(url, init));
  res.body?.cancel().catch(() => {});
  return res.type === "opaqueredirect" ? 0 : res.status;
}

/**
 * A user's refresh in a browser: postToken() holding the Web Lock `lock`, named for the
 * refresh token being spent. If another tab holds it, that tab is spending this refresh
 * token: this attempt is not sent and waits for that tab's tokens (they call it off through
 * `signal`). The answer gains a fourth item, `release(ms)`: the core says how long this tab
 * keeps the lock (src/proto/client/machine.rs `lock_hold`). A failed send releases it at once.
 * Without Web Locks: a plain postToken() (one tab's behaviour).
 */
export function postTokenLocked(lock, fetchFn, url, headers, body, redirect, cache, credentials, signal, cap) {
  const post = () => postToken(fetchFn, url, headers, body, redirect, cache, credentials, signal, cap);
  const locks = globalThis.navigator?.locks;
  if (!locks) return post();
  return new Promise((resolve, reject) => {
    const calledOff = () => reject(signal?.reason ?? new Error("called off"));
    locks
      .request(lock, { ifAvailable: true }, async (held) => {
        if (!held) {
          if (signal?.aborted) return calledOff();
          return signal?.addEventListener("abort", calledOff, { once: true });
        }
        let answer;
        try {
          answer = await post();
        } catch (e) {
          return reject(e);
        }
        await new Promise((released) => resolve([...answer, (ms) => setTimeout(released, ms)]));
      })
      .catch(reject);
  });
}
