// The tokenkit edge token broker as a Cloudflare Worker. Wiring only: the broker itself
// (routing, CORS, proxying, token cache) is Rust, in src/proto/broker.rs and src/wasm/broker.rs.
import { initSync, TokenBroker } from "./pkg/tokenkit.js";
import wasm from "./pkg/tokenkit_bg.wasm";

initSync({ module: wasm });

let broker; // one per isolate: its token cache is shared by every request the isolate serves

export default {
  fetch(request, env, ctx) {
    broker ??= new TokenBroker(env);
    return broker.handle(request, ctx);
  },
};
