// The broker Worker (worker/index.js) for the soak, plus GET /__wasm: this isolate's wasm
// memory in bytes (what tokenkit itself allocates; workerd's own memory is the process's).
import broker, { TokenCache } from "../../worker/index.js";
import { initSync } from "../../worker/pkg/tokenkit.js";

export { TokenCache };

const memory = () => Object.values(initSync({})).find((v) => v instanceof WebAssembly.Memory).buffer.byteLength;

export default {
  fetch(request, env, ctx) {
    if (new URL(request.url).pathname === "/__wasm") return new Response(String(memory()));
    return broker.fetch(request, env, ctx);
  },
};
