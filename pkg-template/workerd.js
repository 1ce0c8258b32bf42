// Cloudflare Workers entry: Wrangler and Miniflare import a .wasm file as a compiled
// WebAssembly.Module, which instantiates synchronously; no init() call is needed.
import { initSync, Core } from "./tokenkit.js";
import wasm from "./tokenkit_bg.wasm";
import { clientClass, setRuntime } from "%SHELL%";
// What only servers do: private_key_jwt and pushed authorization requests (a page's entry has neither).
import { setServer } from "%SHELL%";
import * as server from "%SERVER%";
setServer(server);

setRuntime("workerd");

initSync({ module: wasm });

export const TokenClient = clientClass(Core, () => {}, "");
export { TokenError } from "%SHELL%";
/** The first challenge of a response's WWW-Authenticate, or null: TokenClient.challenge. */
export const challenge = (response) => TokenClient.challenge(response);
