// Node entry: compiles the wasm synchronously from this package's directory, so
// `import { TokenClient } from "tokenkit"` needs no init() call.
import { readFileSync } from "node:fs";
import { initSync } from "./tokenkit.js";
import { guard, setRuntime } from "%SHELL%";

setRuntime("node");

initSync({ module: readFileSync(new URL("./tokenkit_bg.wasm", import.meta.url)) });

import { TokenClient } from "./tokenkit.js";

guard(TokenClient);

export { TokenClient };
export { TokenError } from "%SHELL%";
