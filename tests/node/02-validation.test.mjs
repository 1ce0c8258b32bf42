// Behaviour 2: status first, then JSON, then fields; precise codes, never the body's secrets.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { TokenClient, fakeFetch, base } from "./helpers.mjs";

const respond = (body, status = 200, headers = {}) =>
  fakeFetch(() => new Response(typeof body === "string" ? body : JSON.stringify(body), { status, headers }));

// The table tests/core.rs also reads (tests/fixtures/rows/responses.json): each refused
// answer, sent as its exact text, gives this code, status and message, never the secret.
const { rows } = JSON.parse(readFileSync(new URL("../fixtures/rows/responses.json", import.meta.url), "utf8"));

for (const { name, status, body, code, message } of rows) {
  test(`invalid response: ${name} -> ${code}`, async () => {
    const c = new TokenClient({ ...base, fetch: respond(body, status), maxRetries: 0 });
    await assert.rejects(c.getToken(), (e) => {
      assert.equal(e.code, code);
      assert.equal(e.status, status);
      assert.ok(e.message.includes(message), `${e.message} !~ ${message}`);
      assert.ok(!e.message.includes("TOPSECRET"));
      return true;
    });
  });
}

test("OAUTH_ERROR carries error and errorDescription; the secret is blotted out", async () => {
  const body = { error: "invalid_client", error_description: "secret TOPSECRET-xyz is wrong" };
  const c = new TokenClient({ ...base, fetch: respond(body, 401) });
  const e = await c.getToken().catch((e) => e);
  assert.equal(e.code, "OAUTH_ERROR");
  assert.equal(e.error, "invalid_client");
  assert.equal(e.errorDescription, "secret [redacted] is wrong");
  assert.ok(!e.message.includes("TOPSECRET"));
});

test("valid variants: case-insensitive type, numeric string, cap, default lifetime", async () => {
  const at = (b) => new TokenClient({ ...base, fetch: respond(b) }).getTokenInfo();
  const now = Date.now();
  const a = await at({ access_token: "a", token_type: "BEARER", expires_in: "90" });
  assert.equal(a.tokenType, "Bearer");
  assert.ok(Math.abs(a.expiresAt - (now + 90_000)) < 1000);
  const b = await at({ access_token: "a", expires_in: 1e12 });
  assert.ok(Math.abs(b.expiresAt - (now + 365 * 86400_000)) < 1000, "capped at a year");
  const c = await new TokenClient({ ...base, defaultExpiresInSeconds: 77, fetch: respond({ access_token: "a" }) }).getTokenInfo();
  assert.ok(Math.abs(c.expiresAt - (now + 77_000)) < 1000, "defaultExpiresInSeconds");
  assert.equal(c.scope, null);
  const d = await new TokenClient({ ...base, scope: "x y", fetch: respond({ access_token: "a" }) }).getTokenInfo();
  assert.equal(d.scope, "x y", "requested scope when the server omits it");
});

test("429 -> RATE_LIMITED with Retry-After in seconds, also from an HTTP date", async () => {
  const c = new TokenClient({ ...base, maxRetries: 0, fetch: respond({}, 429, { "retry-after": "7" }) });
  await assert.rejects(c.getToken(), { code: "RATE_LIMITED", status: 429, retryAfter: 7 });
  const date = new Date(Date.now() + 30_000).toUTCString();
  const d = new TokenClient({ ...base, maxRetries: 0, fetch: respond({}, 429, { "retry-after": date }) });
  const e = await d.getToken().catch((e) => e);
  assert.equal(e.code, "RATE_LIMITED");
  assert.ok(e.retryAfter >= 28 && e.retryAfter <= 31, String(e.retryAfter));
});

test("a runtime without fetch (Jest's jsdom environment): construction fails with INVALID_CONFIG naming the fetch option", async (t) => {
  const fetch = globalThis.fetch;
  t.after(() => (globalThis.fetch = fetch));
  delete globalThis.fetch;
  for (const make of [() => new TokenClient({ ...base }), () => TokenClient.apiKey({ apiKey: "k", allowedOrigins: ["https://api.example.com"] })]) {
    assert.throws(make, (e) => e.code === "INVALID_CONFIG" && /^fetch: is required/.test(e.message));
  }
  // With the option, the client works.
  const c = new TokenClient({ ...base, fetch: respond({ access_token: "a", expires_in: 60 }) });
  assert.equal(await c.getToken(), "a");
  c.dispose();
});
