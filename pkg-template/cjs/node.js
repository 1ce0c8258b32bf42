// CommonJS entry (`require("tokenkit")`, Jest's default mode): scripts/assemble.mjs bundles
// this with the wasm-bindgen glue, the shell and the inlined wasm into node.cjs, so it needs
// no require(esm) (absent before Node 20.19) and no file read. It is a second copy of the
// JS: a TokenError from it is not `instanceof` the ESM entry's; compare `err.code` instead.
import { initSync, TokenClient } from "./tokenkit.js";
import { guard, setRuntime, TokenError } from "%SHELL%";
import wasm from "./wasm-inline.js";

setRuntime("node");

initSync({ module: Buffer.from(wasm, "base64") });

guard(TokenClient);

export { TokenClient, TokenError };
