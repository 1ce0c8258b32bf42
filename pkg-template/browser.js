// Browser entry. The wasm is inlined (wasm-inline.js: a character per byte) and compiled
// synchronously the first time a client is made, so there is no top-level await, no separate
// asset for a bundler to copy or a server to serve, and no init() call. A load failure (a
// Content-Security-Policy without 'wasm-unsafe-eval') is a TokenError thrown by that call.
import { initSync, Core } from "./tokenkit.js";
import { clientClass, setRuntime } from "%SHELL%";
import { size, table, wasm } from "./wasm-inline.js";
import unpack from "./unpack.js";

// Vercel's edge runtime, bundled without edge-light: the Workers rules (timers there cannot be unref'd).
const edge = typeof EdgeRuntime === "string";
setRuntime(edge ? "workerd" : "browser");

export const TokenClient = clientClass(
  Core,
  () => initSync({ module: new WebAssembly.Module(unpack(wasm, table, size)) }),
  edge
    ? "this edge runtime compiles wasm only from an import: bundle for it with the \"edge-light\" condition"
    : "allow 'wasm-unsafe-eval' in script-src (a page's Content-Security-Policy; an extension's manifest content_security_policy.extension_pages)",
);
export { TokenError } from "%SHELL%";
/** The first challenge of a response's WWW-Authenticate, or null: TokenClient.challenge. */
export const challenge = (response) => TokenClient.challenge(response);
