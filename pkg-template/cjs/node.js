// CommonJS entry (`require("tokenkit")`, Jest's default mode): scripts/assemble.mjs bundles
// this with the wasm-bindgen glue and the shell into node.cjs, so it needs no require(esm)
// and works on every Node 20. It is a second copy of the JS: a TokenError from it is not
// `instanceof` the ESM entry's TokenError; compare `err.code` (or `err.name`) instead.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { initSync, TokenClient } from "./tokenkit.js";
import { guard, setRuntime, TokenError } from "%SHELL%";

setRuntime("node");

initSync({ module: readFileSync(join(__dirname, "tokenkit_bg.wasm")) });

guard(TokenClient);

export { TokenClient, TokenError };
