// Node entry: the wasm is inlined (wasm-inline.js, base64) and compiled synchronously, so
// `import { TokenClient } from "tokenkit"` needs no init() call and no file read: it keeps
// working when a bundler (esbuild, Next.js, a serverless packager) moves this file.
import { initSync, TokenClient } from "./tokenkit.js";
import { guard, setRuntime } from "%SHELL%";
import wasm from "./wasm-inline.js";

setRuntime("node");

initSync({ module: Buffer.from(wasm, "base64") });

guard(TokenClient);

export { TokenClient };
export { TokenError } from "%SHELL%";
