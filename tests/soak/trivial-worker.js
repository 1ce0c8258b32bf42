// The soak's baseline: a Worker that answers /token with a constant, doing nothing else. Its
// memory growth under the same load is workerd's (and Miniflare's) own, not tokenkit's.
const body = JSON.stringify({ access_token: "constant", token_type: "Bearer", expires_in: 3600 });
export class TokenCache {}
export default {
  fetch(request) {
    if (new URL(request.url).pathname === "/__wasm") return new Response("0");
    return new Response(body, { headers: { "content-type": "application/json", "cache-control": "no-store" } });
  },
};
