// Cloudflare Workers entry: Wrangler and Miniflare import a .wasm file as a compiled
// WebAssembly.Module, which instantiates synchronously; no init() call is needed.
import { initSync } from "./tokenkit.js";
import wasm from "./tokenkit_bg.wasm";
import { guard, setRuntime } from "%SHELL%";

setRuntime("workerd");

initSync({ module: wasm });

import { TokenClient } from "./tokenkit.js";

guard(TokenClient);

export { TokenClient };
export { TokenError } from "%SHELL%";
