// A token server simulated in the test's own realm, reached through the client's `fetch`
// option, so `wasm-pack test --node` and `--headless --chrome` need no server started by
// hand. It speaks the subset of tests/fixtures/server.mjs the wasm tests use:
//   POST https://tokens.test/s/<key>/token?seq=<steps>&ttl=<seconds>
//   steps, one per request (the last repeats): ok | <status> | slow:<ms> | hang
// and honours the request's AbortSignal (a hung request rejects when the client aborts it).
const scenarios = new Map();

/** The simulated server's origin (https, so the configuration accepts it anywhere). */
export const SIM = "https://tokens.test";

export function simFetch(url, init = {}) {
  const u = new URL(String(url));
  const m = /^\/s\/([\w.-]+)\/token$/.exec(u.pathname);
  if (u.origin !== SIM || !m) return Promise.resolve(new Response('{"error":"not_found"}', { status: 404 }));
  const key = m[1];
  if (!scenarios.has(key)) scenarios.set(key, { count: 0 });
  const sc = scenarios.get(key);
  const steps = (u.searchParams.get("seq") ?? "ok").split(",");
  const step = steps[Math.min(sc.count, steps.length - 1)];
  const n = ++sc.count;
  const ttl = Number(u.searchParams.get("ttl") ?? 3600);
  const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
  const answer = () =>
    /^\d+$/.test(step) ? json(Number(step), { error: "server_error" }) : json(200, { access_token: `tok-${key}-${n}`, token_type: "Bearer", expires_in: ttl });
  return new Promise((resolve, reject) => {
    const signal = init.signal;
    const abort = () => reject(signal.reason ?? new DOMException("The operation was aborted.", "AbortError"));
    if (signal?.aborted) return abort();
    signal?.addEventListener("abort", abort, { once: true });
    if (step === "hang") return;
    setTimeout(() => resolve(answer()), step.startsWith("slow:") ? Number(step.slice(5)) : 0);
  });
}

/** simFetch itself, for the client's `fetch` option. */
export const simFetcher = () => simFetch;

/** How many token requests scenario `key` has had. */
export const simRequests = (key) => scenarios.get(key)?.count ?? 0;
