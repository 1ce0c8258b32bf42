// Decodes the entries' inlined wasm (wasm-inline.js, written by scripts/assemble.mjs): one
// character per byte, the byte being table[char]. The most frequent bytes are printable
// ASCII and the next ones raw control characters, which bundlers print as they are, so the
// text gzips to within 5% of the wasm itself and its decoding is one table lookup per byte.
// It replaced base64 of the deflated wasm and a DEFLATE decoder (tiny-inflate): 0.7 KB gzip
// less in an app, and no inflating on first use (5-10 ms cold in Chromium).
export default function unpack(text, table, size) {
  if (text.length !== size) throw new Error("the inlined wasm is truncated");
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = table.charCodeAt(text.charCodeAt(i));
  return out;
}
