// DPoP (RFC 9449) for the "tokenkit/dpop" entry: its entries hand this module to the shell
// (setDpop). The key pair stays in WebCrypto, in the shell's module-private state of each
// client (`s.dpop`): the core gets the public JWK, builds every proof's signing input and
// keeps the servers' nonces (src/proto/dpop.rs); this only has WebCrypto make, sign and
// hash. No private key ever enters wasm memory, and none is ever exported.
import { TokenError, dead, gone } from "./shell.js";
import { b64url, param, sign } from "./jws.js";

// <boundary> Generated from src/boundary.rs by `make boundary` (tests/boundary.rs checks it): do not edit.
/** Sizes the shell works with, each decided in the core. */
const BYTES_DPOP_JTI = 16, BYTES_ASSERTION_JTI = 16, BYTES_REVOCATION_ERROR = 4096;
/** What a request's answer says in place of an HTTP status when none came back. */
const STATUS_NETWORK = -1, STATUS_KEY_REFUSED = -2, STATUS_KEY_FAILED = -3;
// </boundary>

const bytes = (text) => new TextEncoder().encode(text);

/**
 * A client's DPoP state for option `dpop` (the core has checked its shape): `true`, an ES256
 * key pair made on first use with `extractable: false`, or `{ keyPair }`, the app's
 * CryptoKeyPair, checked here (and its algorithm by the core) so a wrong key fails the
 * constructor; or the broker's `{ make }`, a function that resolves to its key pair.
 */
export function of(core, o) {
  if (!globalThis.crypto?.subtle) throw new TokenError("INVALID_CONFIG", "dpop: needs WebCrypto (crypto.subtle: a secure context, https or localhost)");
  const pair = o === true ? undefined : o.keyPair;
  if (pair !== undefined) {
    const { publicKey: pub, privateKey: priv } = pair ?? {};
    if (pub?.type !== "public" || priv?.type !== "private" || !priv.usages?.includes("sign")) throw new TokenError("INVALID_CONFIG", "dpop.keyPair: must be a CryptoKeyPair whose private key can sign");
    // Each proof carries the public key as a JWK: exportKey must be allowed to read it.
    if (!pub.extractable) throw new TokenError("INVALID_CONFIG", "dpop.keyPair: its public key must be extractable (each proof carries it as a JWK)");
    core.dpopAlg(pub.algorithm.name, param(pub.algorithm));
  }
  // `make`: the broker's, its isolate's one key pair (made or imported once: js/broker.js).
  const make = o.make;
  return { pair, make, name: o.name ?? "dpop", own: pair !== undefined || make !== undefined, ready: undefined, ath: undefined };
}

/** What a proof fails with when WebCrypto could not make, import or use the key: INVALID_CONFIG naming where the key came from (`dpop`, the broker's `DPOP_KEY`), as the core says it of a token request (src/proto/dpop.rs key_failed). */
const failed = (s) => (dead(s) ? gone() : new TokenError("INVALID_CONFIG", `${s.dpop.name}: could not be imported or made by WebCrypto`));

/** The signing key and its parameters, once per client: made (or the app's taken) and its public JWK given to the core. */
function key(s) {
  const d = s.dpop;
  return (d.ready ??= (async () => {
    const pair = (d.pair ??= await (d.make ? d.make() : crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"])));
    const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
    if (dead(s)) throw gone();
    return [pair.privateKey, s.core.dpopKey(pair.publicKey.algorithm.name, param(pair.publicKey.algorithm), jwk)];
  })().catch((e) => {
    d.ready = undefined; // the next proof tries again
    throw e instanceof TokenError ? e : failed(s);
  }));
}

/** A signed proof; `make(jti)` is the core's signing input for `jti`, fresh random bytes (a new proof for every attempt: §7.3). */
async function proof(s, make) {
  const [k, alg] = await key(s);
  const input = dead(s) ? undefined : make(crypto.getRandomValues(new Uint8Array(BYTES_DPOP_JTI)));
  if (input === undefined) throw gone();
  const signature = await sign(k, alg, input);
  if (dead(s)) throw gone();
  return `${input}.${b64url(signature)}`;
}

/** A proof, or STATUS_KEY_FAILED for the core when the key failed (DISPOSED stays itself). */
const keyFailed = (p) => p.catch((e) => Promise.reject(e?.code === "DISPOSED" ? e : STATUS_KEY_FAILED));

/** The proof for the token request being sent (the token endpoint's nonce, if it gave one); STATUS_KEY_FAILED for the core when the key failed (nothing is sent). */
export const token = (s) => keyFailed(proof(s, (jti) => s.core.tokenProof(jti, Date.now())));

/** The proof for a `m` request to a resource server at `origin` and `pathname`, with `ath`, the SHA-256 of `tok` (worked out once per token). */
export async function resource(s, m, origin, pathname, tok) {
  const d = s.dpop;
  if (d === undefined) throw gone();
  if (d.ath?.[0] !== tok) d.ath = [tok, new Uint8Array(await crypto.subtle.digest("SHA-256", bytes(tok)))];
  const ath = d.ath[1];
  return proof(s, (jti) => s.core.proof(m == null ? undefined : String(m), origin, pathname, ath, jti, Date.now()));
}

/** The proof for a request to the authorization server other than a token request (PAR, a revocation at `url`): no `ath`; STATUS_KEY_FAILED when the key failed, as `token`. */
export function serverProof(s, url) {
  const u = new URL(url);
  return keyFailed(proof(s, (jti) => s.core.proof("POST", u.origin, u.pathname, new Uint8Array(0), jti, Date.now())));
}

/** SHA-256 of the key's RFC 7638 thumbprint input: the authorization request's `dpop_jkt` (§10), binding the code to the key. */
export async function thumbprint(s) {
  await key(s);
  if (dead(s)) throw gone();
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes(s.core.dpopThumbprint())));
}

/** The key pair to share with this origin's other tabs, with the tokens bound to it (a CryptoKey crosses by structured clone, still not extractable). */
export const pairOf = (s) => s.dpop?.pair;

/** Whether `pair` (another tab's, with its tokens) is a key pair that can sign. */
export const usable = (pair) => pair?.publicKey?.type === "public" && pair?.privateKey?.type === "private" && !!pair.privateKey.usages?.includes("sign");

/** Takes up another tab's key pair (`usable`) with the tokens taken from it: the next proof is signed with it. */
export function adopt(s, pair) {
  const d = s.dpop;
  if (d !== undefined && pair !== d.pair) Object.assign(d, { pair, ready: undefined, ath: undefined });
}

/** Forgets the key (unless it is the app's own) and the nonces: a signed-out user's next session gets a new key. */
export function forget(s) {
  const d = s.dpop;
  if (d === undefined) return;
  if (!dead(s)) s.core.dpopForget();
  Object.assign(d, { pair: d.own ? d.pair : undefined, ready: undefined, ath: undefined });
}

/** A resource server's `DPoP-Nonce` (whatever the status: §8.2) for `origin`'s next proof. */
export function nonce(s, origin, value) {
  if (value !== null && !dead(s)) s.core.dpopNonce(origin, value);
}
