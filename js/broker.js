// The JavaScript half of the broker's shell (Worker build only): Request/Response plumbing.
// Decisions (routing, CORS, which headers pass, error mapping) are made in Rust.
import { b64url, importPrivate, importPublic, jwkView, jws, param, secretJwk } from "./jws.js";

/**
 * The fetch an isolate's token cache uses to ask the deployment's Durable Object (binding
 * `TOKEN_CACHE`, one object per credential set, named `name`), or undefined without the
 * binding. The object answers POST /token with the broker contract's reply.
 */
export function tokenCacheFetch(env, name) {
  const ns = env?.TOKEN_CACHE;
  if (!ns || typeof ns.idFromName !== "function") return undefined;
  const id = ns.idFromName(name);
  // A stub is an I/O object of the request that made it: a new one per call. It takes no
  // AbortSignal (the isolate's own deadline still applies: it stops waiting), and the
  // object never redirects.
  return (url, init) => ns.get(id).fetch(url, { method: init.method, headers: init.headers, body: init.body });
}

/** [method, url, origin, brokerKey, requestHeaders, clientIp, cookie, tokenkitRequest] */
export function describe(request) {
  const h = request.headers;
  return [request.method, request.url, h.get("origin"), h.get("x-broker-key"), h.get("access-control-request-headers"), h.get("cf-connecting-ip"), h.get("cookie"), h.get("tokenkit-request")];
}

/** [[name, value], ...] of the request's headers (for the proxy). */
export const entries = (request) => Array.from(request.headers.entries());

/** `name\nvalue\n...` (as Rust's `lines` writes it) -> [[name, value], ...]. */
function pairs(lines, out = []) {
  const p = lines ? lines.split("\n") : [];
  for (let i = 0; i + 1 < p.length; i += 2) out.push([p[i], p[i + 1]]);
  return out;
}

export function reply(status, headers, body) {
  return new Response(status === 204 || status === 304 ? null : body, {
    status,
    headers: pairs(headers, [["content-type", "application/json"]]),
  });
}

/** Forwards to the API: never follows its redirects (they would carry the token along). */
export function forward(fetchFn, request, url, headers) {
  const hasBody = request.method !== "GET" && request.method !== "HEAD";
  const init = { method: request.method, headers, body: hasBody ? request.body : null, redirect: "manual" };
  if (hasBody) init.duplex = "half";
  return fetchFn ? fetchFn(url, init) : globalThis.fetch(url, init);
}

/** Releases a response's body that will not be read. */
export function discard(response) {
  response.body?.cancel().catch(() => {});
}

/** The names of a response's headers (the core decides which are relayed). */
export const headerNames = (response) => Array.from(response.headers.keys());

/** The API's response for the browser: its body and status (no reason phrase), the headers named in `dropped` (`\n`-separated) removed, CORS added. Throws if the runtime refuses it. */
export function relay(response, extra, dropped) {
  const headers = new Headers(response.headers);
  for (const name of dropped.split("\n")) headers.delete(name);
  for (const [k, v] of pairs(extra)) headers.set(k, v);
  return new Response(response.body, { status: response.status, headers });
}

/** The Rate Limiting binding (`RATE_LIMITER`: `[[ratelimits]]` in wrangler.toml), or undefined. */
export const rateBinding = (env) => (typeof env?.RATE_LIMITER?.limit === "function" ? env.RATE_LIMITER : undefined);

/** Asks the binding about `key`: true (within the limit), false (over it), null (it failed). */
export function rateLimit(binding, key) {
  try {
    return Promise.resolve(binding.limit({ key })).then((o) => (typeof o?.success === "boolean" ? o.success : null), () => null);
  } catch {
    return Promise.resolve(null);
  }
}

/** The first value of query parameter `name` of `url`, or undefined. */
export function queryValue(url, name) {
  try {
    return new URL(url).searchParams.get(name) ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * POSTs `body` (text) to `url` (its path names the operation) at the Durable Object of
 * session `sid` (binding `SESSIONS`, class `UserSession`). The object answers as the broker does.
 */
export function sessionFetch(ns, sid, url, body) {
  return ns.get(ns.idFromName(sid)).fetch(url, { method: "POST", body });
}

/** A stored session record as a plain value: JSON text (this release), or the object an older one stored. */
export function parseRecord(saved) {
  try {
    return typeof saved === "string" ? JSON.parse(saved) : saved;
  } catch {
    return null;
  }
}

let macKey; // [secret, CryptoKey]: the session key, imported once per isolate

/** base64url(HMAC-SHA256(secret, text)). */
export async function sessionMac(secret, text) {
  if (macKey?.[0] !== secret) {
    const raw = new TextEncoder().encode(secret);
    macKey = [secret, await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"])];
  }
  return b64url(new Uint8Array(await crypto.subtle.sign("HMAC", macKey[1], new TextEncoder().encode(text))));
}

const b64urlBytes = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

/** [header, claims, signedBytes, signature] of a compact JWS, or undefined. */
export function jwtParts(jwt) {
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
export const importRsa = (n, e) =>
  crypto.subtle.importKey("jwk", { kty: "RSA", n, e }, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"]);

export async function verifyRs256(key, data, signature) {
  try {
    return await crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, signature, data);
  } catch {
    return false;
  }
}

/** GETs `url`, or POSTs the form `body` to it, never following a redirect: [status, the parsed JSON of a 200 or null]. */
export async function askJson(url, body) {
  const r = await fetch(url, { method: body === undefined ? "GET" : "POST", redirect: "manual", headers: body === undefined ? { accept: "application/json" } : { "content-type": "application/x-www-form-urlencoded" }, body });
  return [r.status, r.status === 200 ? await r.json().catch(() => null) : null];
}

// DPoP (RFC 9449, DPOP=true): the broker's key stays in WebCrypto. The core sees the
// public JWK, builds each proof's signing input and keeps the servers' nonces; this makes
// or imports the key, signs and hashes. The DPOP_KEY secret (a private JWK) is read here
// and handed to importKey only: it never enters wasm memory.

/** The core's view of the private JWK in secret `name` (DPOP_KEY, CLIENT_KEY): its public members, `alg`, `kid`, `d: true` if it has its private one; null if it is not a JSON object; undefined if it is not set. */
export function keyView(env, name) {
  const jwk = secretJwk(env?.[name]);
  return jwk ? jwkView(jwk) : jwk;
}

const isolateKeys = new Map(); // secret name -> [its text or "", Promise]: one key each per isolate

/** `make()`'s promise for secret `name` with text `text`, once per isolate; a failure is not kept (the next call tries again). */
function once(name, text, make) {
  const held = isolateKeys.get(name);
  if (held?.[0] === text) return held[1];
  const made = make();
  isolateKeys.set(name, [text, made]);
  made.catch(() => {
    if (isolateKeys.get(name)?.[1] === made) isolateKeys.delete(name);
  });
  return made;
}

/**
 * The isolate's DPoP key: [privateKey, WebCrypto signing parameters, public JWK]. With
 * DPOP_KEY, that secret imported (non-extractable) as WebCrypto algorithm `name` with `p`
 * (its curve or hash), which the core chose from keyView; else an ES256 key pair made
 * here, the private half non-extractable.
 */
export function dpopKey(env, name, p) {
  const text = name ? env.DPOP_KEY : "";
  return once("DPOP_KEY", text, async () => {
    let priv, pub;
    if (text) {
      const jwk = JSON.parse(text);
      priv = await importPrivate(jwk, name, p);
      pub = await importPublic(jwk, name, p);
    } else {
      ({ privateKey: priv, publicKey: pub } = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]));
    }
    return [priv, pub.algorithm.name, param(pub.algorithm), await crypto.subtle.exportKey("jwk", pub)];
  });
}

/** A client assertion (private_key_jwt): the core's signing `input` signed with the CLIENT_KEY secret, imported once per isolate as algorithm `name` with `p`, whose JWS alg is `alg`. */
export async function clientAssertion(env, name, p, alg, input) {
  const text = env.CLIENT_KEY;
  const key = await once("CLIENT_KEY", text, () => importPrivate(JSON.parse(text), name, p));
  return jws(key, alg, input);
}
