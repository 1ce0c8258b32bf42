// The JavaScript half of the broker's shell (Worker build only): Request/Response plumbing.
// Decisions (routing, CORS, which headers pass, error mapping) are made in Rust.

/** [method, url, origin, brokerKey, requestHeaders, clientIp] */
export function describe(request) {
  const h = request.headers;
  return [request.method, request.url, h.get("origin"), h.get("x-broker-key"), h.get("access-control-request-headers"), h.get("cf-connecting-ip")];
}

/** [[name, value], ...] of the request's headers (for the proxy). */
export const entries = (request) => Array.from(request.headers.entries());

/** `name\nvalue\n...` (as Rust's `lines` writes it) -> [[name, value], ...]. */
function pairs(lines, out = []) {
  const p = lines ? lines.split("\n") : [];
  for (let i = 0; i + 1 < p.length; i += 2) out.push([p[i], p[i + 1]]);
  return out;
}

export function reply(status, headers, body) {
  return new Response(status === 204 || status === 304 ? null : body, {
    status,
    headers: pairs(headers, [["content-type", "application/json"]]),
  });
}

/** Forwards to the API: never follows its redirects (they would carry the token along). */
export function forward(fetchFn, request, url, headers) {
  const hasBody = request.method !== "GET" && request.method !== "HEAD";
  const init = { method: request.method, headers, body: hasBody ? request.body : null, redirect: "manual" };
  if (hasBody) init.duplex = "half";
  return fetchFn ? fetchFn(url, init) : globalThis.fetch(url, init);
}

/** The API's response for the browser: its body and status, CORS added, cookies dropped. */
export function relay(response, extra) {
  const headers = new Headers(response.headers);
  headers.delete("set-cookie");
  for (const [k, v] of pairs(extra)) headers.set(k, v);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}
