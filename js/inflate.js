// Decodes the browser entry's inlined wasm: base64, then raw DEFLATE (RFC 1951), synchronously
// (DecompressionStream is async only). Base64 of the deflated wasm gzips to about the size of
// the wasm gzipped, where base64 of the raw wasm costs 10 KB more; the inflater costs 1.5 KB.
// scripts/assemble.mjs bundles this file with tiny-inflate 1.0.3 (MIT, Devon Govett; a port of
// Joergen Ibsen's tinf) into pkg/inflate.js.
import tinf from "tiny-inflate";

export default function inflate(base64, packed, size) {
  const src = decode(base64);
  // tiny-inflate does not stop on truncated input: check the length before inflating.
  if (src.length !== packed) throw new Error("the inlined wasm is truncated");
  const out = tinf(src, new Uint8Array(size)); // throws on bad data; shorter if truncated
  if (out.length !== size) throw new Error("the inlined wasm is truncated");
  return out;
}

// Native where the platform has it (Chrome 140, Firefox 133, Safari 18.2): 4 ms less on first
// use in Chromium than atob and a loop.
function decode(base64) {
  if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(base64);
  const bin = atob(base64);
  const src = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) src[i] = bin.charCodeAt(i);
  return src;
}
