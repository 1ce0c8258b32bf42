// Node entry (also Deno and Bun). The wasm is inlined (wasm-inline.js: a character per byte)
// and compiled synchronously the first time a client is made: no init() call, no file read
// (it keeps working when a bundler or a serverless packager moves this file), and a load
// failure is a TokenError thrown by that call, not a failed import.
// scripts/assemble.mjs also bundles this file as node.cjs, the CommonJS entry.
import { initSync, Core } from "./tokenkit.js";
import { clientClass, setRuntime } from "%SHELL%";
// What only servers do: private_key_jwt and pushed authorization requests (a page's entry has neither).
import { setServer } from "%SHELL%";
import * as server from "%SERVER%";
setServer(server);
import { size, table, wasm } from "./wasm-inline.js";
import unpack from "./unpack.js";

setRuntime("node");

export const TokenClient = clientClass(Core, () => initSync({ module: new WebAssembly.Module(unpack(wasm, table, size)) }), "this runtime does not allow WebAssembly (--jitless, or code generation turned off)");
export { TokenError } from "%SHELL%";
/** The first challenge of a response's WWW-Authenticate, or null: TokenClient.challenge. */
export const challenge = (response) => TokenClient.challenge(response);
