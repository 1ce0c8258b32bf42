#!/usr/bin/env node
// tokenkit-keygen: a key pair for private_key_jwt (RFC 7523), made by WebCrypto on this
// machine. Prints the private JWK (the broker's CLIENT_KEY secret, or a server
// TokenClient's clientKey: keep it out of source control and logs) and the public JWKS to
// register with the authorization server (its client's `jwks`, or your `jwks_uri`).
//
//   npx tokenkit-keygen                      ES256, kid = the key's RFC 7638 thumbprint
//   npx tokenkit-keygen --alg PS256 --kid k1 PS256, RS256, ES256, ES384 or EdDSA
//   npx tokenkit-keygen --json               { "privateJwk": ..., "jwks": ... } on one line
const ALGS = {
  ES256: { name: "ECDSA", namedCurve: "P-256" },
  ES384: { name: "ECDSA", namedCurve: "P-384" },
  EdDSA: { name: "Ed25519" },
  PS256: { name: "RSA-PSS", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
  RS256: { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
};
// The members of each key type's RFC 7638 thumbprint, in their order.
const THUMBPRINT = { EC: ["crv", "kty", "x", "y"], OKP: ["crv", "kty", "x"], RSA: ["e", "kty", "n"] };

const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const alg = option("--alg") ?? "ES256";
if (!ALGS[alg] || args.includes("--help")) {
  console.error(`usage: tokenkit-keygen [--alg ${Object.keys(ALGS).join("|")}] [--kid <id>] [--json]`);
  process.exit(args.includes("--help") ? 0 : 2);
}

const pair = await crypto.subtle.generateKey(ALGS[alg], true, ["sign", "verify"]);
const plain = ({ key_ops, ext, ...jwk }) => jwk;
const publicJwk = plain(await crypto.subtle.exportKey("jwk", pair.publicKey));
const privateJwk = plain(await crypto.subtle.exportKey("jwk", pair.privateKey));
const members = THUMBPRINT[publicJwk.kty];
const thumbprint = JSON.stringify(Object.fromEntries(members.map((m) => [m, publicJwk[m]])));
const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(thumbprint)));
const kid = option("--kid") ?? btoa(String.fromCharCode(...digest)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
Object.assign(publicJwk, { kid, alg, use: "sig" });
Object.assign(privateJwk, { kid, alg });

if (args.includes("--json")) {
  console.log(JSON.stringify({ privateJwk, jwks: { keys: [publicJwk] } }));
} else {
  console.log("# The private JWK: the broker's CLIENT_KEY secret (`wrangler secret put CLIENT_KEY`, paste the line) or a server's clientKey. Keep it secret.");
  console.log(JSON.stringify(privateJwk));
  console.log("# The public JWKS: register it with the authorization server (the client's jwks), or serve it at your jwks_uri.");
  console.log(JSON.stringify({ keys: [publicJwk] }, null, 2));
}
