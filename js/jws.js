// JWS signing with WebCrypto keys, shared by DPoP proofs (js/dpop.js), client assertions
// (js/server.js) and the broker (js/broker.js). The core builds every signing input and
// decides what goes in it (src/proto/jwk.rs, src/proto/dpop.rs); this only imports, signs
// and encodes. A private key never enters wasm memory: the core sees a view of it (its
// algorithm, public members and kid), WebCrypto holds the key.

// The JWS alg the core chose -> WebCrypto's signing parameters (src/proto/jwk.rs ALGS).
const SIGNING = {
  ES256: { name: "ECDSA", hash: "SHA-256" },
  ES384: { name: "ECDSA", hash: "SHA-384" },
  ES512: { name: "ECDSA", hash: "SHA-512" },
  EdDSA: { name: "Ed25519" },
  RS256: { name: "RSASSA-PKCS1-v1_5" },
  PS256: { name: "RSA-PSS", saltLength: 32 },
};

/** A WebCrypto algorithm's curve or hash ("" for Ed25519). */
export const param = (a) => a.namedCurve ?? a.hash?.name ?? "";
const bytes = (text) => new TextEncoder().encode(text);

/** base64url of `b` (bytes), unpadded. */
export const b64url = (b) => btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/** The signature (bytes) of signing input `input` with private key `k`, whose JWS alg is `alg` (the core's). */
export const sign = async (k, alg, input) => new Uint8Array(await crypto.subtle.sign(SIGNING[alg], k, bytes(input)));

/** `input.signature`: a compact JWS of the core's signing input `input`. */
export const jws = async (k, alg, input) => `${input}.${b64url(await sign(k, alg, input))}`;

const PUBLIC = ["kty", "crv", "x", "y", "n", "e"];
const PRIVATE = [...PUBLIC, "d", "p", "q", "dp", "dq", "qi"];
const pick = (jwk, names) => Object.fromEntries(names.filter((m) => typeof jwk[m] === "string").map((m) => [m, jwk[m]]));

/** The core's view of a private JWK: its public members, `alg` and `kid`, and `d: true` when it has its private member (whose value stays here). */
export function jwkView(jwk) {
  const view = { d: typeof jwk.d === "string" };
  for (const m of [...PUBLIC, "alg", "kid"]) if (typeof jwk[m] === "string") view[m] = jwk[m];
  return view;
}

/** A private JWK's text (a Worker secret) parsed: the JWK, null if it is not a JSON object, undefined if unset. */
export function secretJwk(text) {
  if (typeof text !== "string" || !text.trim()) return undefined;
  try {
    const jwk = JSON.parse(text);
    return typeof jwk === "object" && jwk !== null && !Array.isArray(jwk) ? jwk : null;
  } catch {
    return null;
  }
}

/** WebCrypto's import parameters for the core's algorithm `name` with curve or hash `p`. */
export const importParams = (name, p) => (name === "ECDSA" ? { name, namedCurve: p } : name.startsWith("RSA") ? { name, hash: p } : { name });

/** Imports the private members of `jwk` (not extractable) to sign with. */
export const importPrivate = (jwk, name, p) => crypto.subtle.importKey("jwk", pick(jwk, PRIVATE), importParams(name, p), false, ["sign"]);

/** Imports the public members of `jwk` (extractable: a DPoP proof carries them). */
export const importPublic = (jwk, name, p) => crypto.subtle.importKey("jwk", pick(jwk, PUBLIC), importParams(name, p), true, ["verify"]);

