// The JavaScript half of the sign-in shell (the "tokenkit/signin" entry only): WebCrypto,
// sessionStorage for the one pending sign-in, the channel to this origin's other tabs, and
// wake-up listeners. No decisions: src/proto/signin.rs and the machine make them, through
// the wasm's Core (src/wasm/machine.rs); signinClass adds this to shell.js's clientClass.
import { TokenError, cappedText, clientClass, dead, discovered, drive, getDpop, getServer, monotonic, postToken, token } from "./shell.js";

// <boundary> Generated from src/boundary.rs by `make boundary` (tests/boundary.rs checks it): do not edit.
/** The slots of a send action, the same in every build. */
const SEND_ATTEMPT = 1, SEND_URL = 2, SEND_HEADERS = 3, SEND_BODY = 4, SEND_REDIRECT = 5, SEND_CACHE = 6, SEND_CREDENTIALS = 7, SEND_CAP = 8, SEND_LOCK = 9, SEND_ASSERTION = 10;
/** Sizes the shell works with, each decided in the core. */
const BYTES_DPOP_JTI = 16, BYTES_ASSERTION_JTI = 16, BYTES_REVOCATION_ERROR = 4096;
// </boundary>

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

/**
 * POSTs an RFC 7009 revocation; resolves to [status, DPoP-Nonce, error]: the `error` of a
 * 400's JSON body (a DPoP nonce demand names itself there: RFC 9449 §8), read up to the core's cap.
 * Never follows a redirect.
 */
export async function postRevocation(fetchFn, url, headers, body) {
  const init = { method: "POST", headers, body, redirect: "manual" };
  const res = await (fetchFn ? fetchFn(url, init) : globalThis.fetch(url, init));
  if (res.type === "opaqueredirect") return [0, null];
  let error;
  if (res.status === 400) {
    try {
      error = JSON.parse(await cappedText(res, BYTES_REVOCATION_ERROR)).error;
    } catch {
      // not JSON, or larger
    }
  } else res.body?.cancel().catch(() => {});
  return [res.status, res.headers.get("dpop-nonce"), typeof error === "string" ? error : undefined];
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

/** A string option `k` of `o`, or undefined; anything else is an INVALID_CONFIG error. */
function option(o, k) {
  const v = o == null ? undefined : o[k];
  if (v == null) return undefined;
  if (typeof v !== "string") throw new TokenError("INVALID_CONFIG", `${k}: must be a string`);
  return v;
}

/** Sends this client's session to the other tabs (tokens just fetched, or a tab that asked). */
function share(s) {
  const t = s.tabs && s.core.snapshot(monotonic(), Date.now());
  // DPoP: the tokens are bound to this tab's key, which goes with them (structured clone).
  if (t) post(s.tabs, { t: "tokens", at: t[0], rt: t[1], exp: t[2], scope: t[3], gen: t[4], key: s.dpop && getDpop().pairOf(s) });
}

/**
 * A new sign-in for client `s` (the one sequence of tokenkit/signin and the broker's session
 * objects): `[url, state, codeVerifier, nonce]`. The core makes the verifier, state, nonce and
 * URL (`options`: `extraParams`, a step-up's `scope`, `acrValues`, `maxAge`); WebCrypto the
 * randomness and digest; a pushed authorization request (RFC 9126) is sent first when the
 * core built one.
 */
export async function authorize(s, state, options) {
  await discovered(s); // issuer without tokenUrl: the authorization endpoint first
  let random, digest;
  try {
    random = randomBytes(64);
  } catch {
    throw new TokenError("INVALID_CONFIG", "crypto: WebCrypto's getRandomValues is unavailable");
  }
  const [st, verifier, nonce] = s.core.pending(random, state);
  try {
    digest = await sha256(verifier);
  } catch {
    throw new TokenError("INVALID_CONFIG", "crypto: WebCrypto's SHA-256 is unavailable");
  }
  // DPoP: the code is bound to this client's key (dpop_jkt, RFC 9449 §10) where the core
  // says so (where the client outlives the redirect: Machine::binds_code).
  const jkt = s.dpop && s.core.bindsCode() ? await getDpop().thumbprint(s) : undefined;
  let url = s.core.authorizationUrl(st, verifier, nonce ?? undefined, digest, options ?? undefined, jkt);
  // A server's pushed authorization request (RFC 9126): the core built it, js/server.js sends it.
  if (typeof url !== "string") url = await getServer().push(s, url);
  return [url, st, verifier, nonce ?? undefined];
}

/**
 * Completes a sign-in: the callback's query `params` are checked against the pending
 * sign-in `p` (`[state, codeVerifier, nonce]`, or undefined) by the core (state, then the
 * RFC 9207 issuer, then error or code), the code is redeemed as the core's flight, and the ID
 * token's nonce is checked; a nonce that is not ours signs the session out.
 */
export async function complete(s, params, p) {
  // The discovered metadata says whether the callback must carry iss, and where its code is redeemed.
  await discovered(s);
  const flight = s.core.callback(params, p?.[0], p?.[1], p?.[2], monotonic(), Date.now());
  drive(s);
  await token(s, undefined, flight);
  const jwt = s.core.idToken();
  try {
    s.core.nonce(jwt === undefined ? undefined : idTokenNonce(jwt));
  } finally {
    drive(s);
  }
}

/**
 * Sends the core's RFC 7009 revocation `req` (`[url, headers, body, assertion]`) for client
 * `s`: a DPoP-bound token is revoked with a proof of the key it is bound to, a fresh one if the
 * server demands its nonce (the core says when: once); a key-based client signs a new
 * assertion for each attempt. Resolves to the answer's status, -1 for none; what it means is
 * the core's (`revoked`).
 */
export async function revoke(s, req) {
  const send = async () => {
    const body = req[3] ? req[2] + (await getServer().assertion(s)) : req[2];
    return postRevocation(s.fetch, req[0], s.dpop ? [...req[1], ["DPoP", await getDpop().serverProof(s, req[0])]] : req[1], body);
  };
  try {
    let a = await send();
    if (s.dpop && !dead(s) && s.core.serverAnswer(new URL(req[0]).origin, 0, a[0], a[2] ?? "", a[1] ?? "")) a = await send();
    return a[0];
  } catch {
    return -1; // no answer
  }
}

/** The sign-in hooks of shell.js's clientClass (see there). */
const hooks = {
  // In a browser, a sign-in client joins its origin's other tabs: it restores the tokens
  // they fetch, forgets the session when one signs out, asks for the session when it opens,
  // and re-checks its token when the page is shown again or the network returns.
  attach(s) {
    if (!s.core.inPage()) return;
    const onMessage = (m) => {
      if (s.freed || s.core.gone() || m == null) return;
      // `at` is absent when the other tab's access token lapsed: its refresh token is the session.
      if (m.t === "tokens" && (typeof m.at === "string" || typeof m.rt === "string") && typeof m.exp === "number") {
        const str = (v) => (typeof v === "string" ? v : undefined);
        // DPoP tokens are no use without the key they are bound to: none, none taken. The key
        // is taken only with the tokens: a tab that keeps its own session keeps its own key.
        const dpop = s.dpop && getDpop();
        if (dpop && !dpop.usable(m.key)) return;
        if (s.core.restore(str(m.at), str(m.rt), m.exp, str(m.scope), typeof m.gen === "number" ? m.gen : undefined, monotonic(), Date.now())) dpop?.adopt(s, m.key);
        drive(s);
      } else if (m.t === "signout") {
        s.core.signOut(); // the tab that signed out revokes
        if (s.dpop) getDpop().forget(s);
        drive(s);
      } else if (m.t === "hello") share(s);
    };
    const onWake = () => {
      if (s.freed || s.core.gone()) return;
      s.core.timeout(monotonic(), Date.now());
      drive(s);
    };
    s.tabs = openTabs(s.core.scopeKey(), onMessage, onWake); // its close()
    post(s.tabs, { t: "hello" });
  },
  close(s) {
    s.tabs?.();
    s.tabs = undefined;
  },
  // Tokens just came from the server (with a new generation, the core's): told to the other tabs.
  share,
  // A user's refresh in a page, sent holding the lock of its tokens' generation (the core's).
  post: (s, a, signal) => postTokenLocked(`${s.core.scopeKey()} ${a[SEND_LOCK]}`, s.fetch, a[SEND_URL], a[SEND_HEADERS], a[SEND_BODY], a[SEND_REDIRECT], a[SEND_CACHE], a[SEND_CREDENTIALS], signal, a[SEND_CAP]),
  methods(proto, live) {
    proto.createAuthorizationUrl = async function (options) {
      const s = live(this);
      const [url, st, verifier, nonce] = await authorize(s, option(options, "state"), options);
      if (s.core.inPage() && savePending(s.core.scopeKey(), st, verifier, nonce)) return url;
      return { url, state: st, codeVerifier: verifier, nonce };
    };
    proto.completeAuthorization = async function (callbackUrl, saved) {
      const s = live(this);
      // Before the pending sign-in is taken: the discovered metadata says whether the
      // callback must carry iss (RFC 9207), and where its code is redeemed.
      await discovered(s);
      const key = s.core.scopeKey();
      const params = callbackParams(callbackUrl);
      // Taken whatever happens next: a pending sign-in is used once.
      let p = key === undefined ? undefined : pendingFields(takePending(key));
      if (p === undefined && saved !== null && typeof saved === "object") p = [option(saved, "state") ?? "", option(saved, "codeVerifier"), option(saved, "nonce")];
      if (params !== undefined) cleanHistory(callbackUrl);
      await complete(s, params, p);
    };
    Object.defineProperty(proto, "isAuthorized", {
      get() {
        try {
          return live(this).core.authorized();
        } catch {
          return false; // freed
        }
      },
      configurable: true,
    });
    proto.signOut = async function () {
      const s = live(this);
      const req = s.core.signOut();
      drive(s);
      const key = s.core.scopeKey();
      if (key !== undefined) takePending(key);
      if (s.tabs) post(s.tabs, { t: "signout" });
      let status;
      try {
        if (req === undefined) return;
        status = await revoke(s, req);
      } finally {
        if (s.dpop) getDpop().forget(s); // the next session gets a new key
      }
      s.core.revoked(status, req[0]);
    };
  },
};

/** The sign-in build's TokenClient: shell.js's clientClass with the sign-in added. */
export const signinClass = (Core, instantiate, hint) => clientClass(Core, instantiate, hint, hooks);
