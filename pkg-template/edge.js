// Edge entry (the "edge-light" condition: Vercel's edge runtime, Next.js edge routes and
// middleware). The edge runtime compiles wasm only from an import, never from bytes, so the
// module is `tokenkit_bg.wasm?module` (the bundler's convention there), instantiated at
// import as in Workers; the Workers rules apply: no timer outlives a request, and expiry is
// checked on every call.
import { initSync } from "./tokenkit.js";
import wasm from "./tokenkit_bg.wasm?module";
import { guard, setRuntime } from "%SHELL%";

setRuntime("workerd");

initSync({ module: wasm });

import { TokenClient } from "./tokenkit.js";

guard(TokenClient);

export { TokenClient };
export { TokenError } from "%SHELL%";
