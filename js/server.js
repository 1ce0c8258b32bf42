// What only servers do (the Node and Workers entries hand this module to the shell:
// setServer; a page's entry does not, and its build refuses the options):
// - private_key_jwt (RFC 7523 §2.2): the client's key stays in WebCrypto, and each request
//   gets an assertion the core built, signed here;
// - pushed authorization requests (RFC 9126) for a sign-in: the core builds the request and
//   reads the answer; this sends it.
import { TokenError, dead, getDpop, gone, parsed, postToken } from "./shell.js";
import { importPrivate, jwkView, jws, param } from "./jws.js";

// <boundary> Generated from src/boundary.rs by `make boundary` (tests/boundary.rs checks it): do not edit.
/** Sizes the shell works with, each decided in the core. */
const BYTES_DPOP_JTI = 16, BYTES_ASSERTION_JTI = 16, BYTES_REVOCATION_ERROR = 4096;
/** What a request's answer says in place of an HTTP status when none came back. */
const STATUS_NETWORK = -1, STATUS_KEY_REFUSED = -2, STATUS_KEY_FAILED = -3;
/** How the shell read an answer's body (its one `JSON.parse`). */
const BODY_JSON = 0, BODY_NOT_JSON = 1, BODY_TOO_LARGE = 2;
// </boundary>

const isKey = (k) => typeof k?.type === "string" && typeof k?.algorithm?.name === "string";

/**
 * The core's view of option `clientKey`, to construct the core with instead of the key: a
 * CryptoKey's `{ algorithm, param }`, a JWK's public view, or the value itself when it is
 * neither (the core says what is wrong with it). A CryptoKey must be private and able to sign.
 */
export function view(k) {
  if (isKey(k)) {
    if (k.type !== "private" || !k.usages?.includes("sign")) throw new TokenError("INVALID_CONFIG", "clientKey: must be a private key whose usages include \"sign\"");
    return { algorithm: k.algorithm.name, param: param(k.algorithm) };
  }
  return k !== null && typeof k === "object" && !Array.isArray(k) ? jwkView(k) : k;
}

/** A client's key state for option `clientKey` (checked by the core): imported on first use. */
export const of = (given) => ({ given, ready: undefined });

/** [CryptoKey, alg]: the client's key, imported once (a JWK's private members go to WebCrypto and are then let go). */
function key(s) {
  const k = s.key;
  return (k.ready ??= (async () => {
    const [name, p, alg] = s.core.clientKey();
    const ck = isKey(k.given) ? k.given : await importPrivate(k.given, name, p);
    k.given = ck;
    return [ck, alg];
  })().catch((e) => {
    k.ready = undefined; // the next request tries again
    throw e;
  }));
}


/**
 * A signed client assertion for the request being sent: new claims, a new `jti`, for every
 * attempt. Rejects with DISPOSED, or with STATUS_KEY_REFUSED when WebCrypto refused the key.
 */
export async function assertion(s) {
  let k, alg;
  try {
    [k, alg] = await key(s);
  } catch {
    throw dead(s) ? gone() : STATUS_KEY_REFUSED;
  }
  const input = dead(s) ? undefined : s.core.clientAssertion(crypto.getRandomValues(new Uint8Array(BYTES_ASSERTION_JTI)), Date.now());
  if (input === undefined) throw gone();
  return jws(k, alg, input).catch(() => Promise.reject(STATUS_KEY_REFUSED));
}

/**
 * Pushes a sign-in's authorization request (RFC 9126): `req` is the core's
 * `[url, headers, body, assertion, redirect, cache, credentials, cap]`. A key-based client
 * signs an assertion per attempt; with DPoP each attempt carries a fresh proof and a nonce
 * demand is answered once (the core says when). Resolves to the URL the user goes to.
 */
export async function push(s, [url, headers, body, signs, redirect, cache, credentials, cap]) {
  const send = async () => {
    const b = signs ? body + (await assertion(s)) : body;
    const h = s.dpop ? [...headers, ["DPoP", await getDpop().serverProof(s, url)]] : headers;
    return postToken(s.fetch, url, h, b, redirect, cache, credentials, undefined, cap);
  };
  let a;
  try {
    a = await send();
    let [json, kind] = parsed(a[2]);
    if (s.dpop && !dead(s) && s.core.serverAnswer(new URL(url).origin, 0, a[0], String(json?.error ?? ""), a[3] ?? "")) {
      a = await send();
      [json, kind] = parsed(a[2]);
    }
    if (dead(s)) throw gone();
    return s.core.pushed(a[0], json, kind);
  } catch (e) {
    if (e instanceof TokenError) throw e;
    return s.core.pushed(e === STATUS_KEY_REFUSED || e === STATUS_KEY_FAILED ? e : STATUS_NETWORK, undefined, BODY_TOO_LARGE);
  }
}
