// Node entry: the wasm is inlined (wasm-inline.cjs, base64) and compiled synchronously, so
// `import { TokenClient } from "tokenkit"` needs no init() call and no file read: it keeps
// working when a bundler (esbuild, Next.js, a serverless packager) moves this file.
// scripts/assemble.mjs also bundles this file as node.cjs, the CommonJS entry.
import { initSync, TokenClient } from "./tokenkit.js";
import { guard, setRuntime } from "%SHELL%";
import wasm from "./wasm-inline.cjs";

setRuntime("node");

initSync({ module: Buffer.from(wasm, "base64") });

guard(TokenClient);

export { TokenClient };
export { TokenError } from "%SHELL%";
