// Browser entry: fetches and compiles the wasm next to this module (browsers only compile
// large modules asynchronously, hence the top-level await), so no init() call is needed.
// Bundlers that understand `new URL(..., import.meta.url)` (Vite, webpack, Parcel) copy the
// .wasm for you; with esbuild, copy tokenkit_bg.wasm next to your bundle.
import init from "./tokenkit.js";
import { guard, setRuntime } from "%SHELL%";

setRuntime("browser");

await init({ module_or_path: new URL("./tokenkit_bg.wasm", import.meta.url) });

import { TokenClient } from "./tokenkit.js";

guard(TokenClient);

export { TokenClient };
export { TokenError } from "%SHELL%";
