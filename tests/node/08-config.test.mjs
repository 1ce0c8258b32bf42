// Behaviour 10: configuration errors are thrown synchronously, naming the field.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { TokenClient, TokenError, base } from "./helpers.mjs";

// The table tests/core.rs also reads (tests/fixtures/rows/config.json; null: leave the
// option out), then what JSON cannot write: a Map, a non-function fetch, Infinity.
const table = JSON.parse(readFileSync(new URL("../fixtures/rows/config.json", import.meta.url), "utf8"));
const shared = table.rows.map(({ set, field }) => {
  const opts = { ...table.base, ...set };
  for (const k of Object.keys(set)) if (set[k] === null) delete opts[k];
  return [opts, field];
});
const bad = [
  ...shared,
  [{ ...base, extraParams: new Map() }, "extraParams"],
  [{ ...base, timeoutMs: Infinity }, "timeoutMs"],
  [{ ...base, fetch: "fetch" }, "fetch"],
];

for (const [opts, field] of bad) {
  test(`INVALID_CONFIG names ${field}`, () => {
    assert.throws(
      () => new TokenClient(opts),
      (e) => e instanceof TokenError && e.code === "INVALID_CONFIG" && e.message.startsWith(`${field}:`) && !e.message.includes("TOPSECRET"),
    );
  });
}

test("presets validate too", () => {
  assert.throws(() => TokenClient.sypht({ clientId: "a" }), { code: "INVALID_CONFIG", message: /^clientSecret:/ });
  assert.throws(() => TokenClient.symbl({ appId: "a" }), { code: "INVALID_CONFIG", message: /^appSecret:/ });
  assert.throws(() => TokenClient.symbl({ appId: "a", appSecret: "b", scope: "x" }), { code: "INVALID_CONFIG", message: /^scope:/ });
  assert.throws(() => TokenClient.apiKey({}), { code: "INVALID_CONFIG", message: /^apiKey:/ });
  assert.throws(() => TokenClient.apiKey({ apiKey: "k", tokenUrl: "https://a.com" }), { code: "INVALID_CONFIG", message: /^tokenUrl:/ });
  assert.throws(() => new TokenClient("nope"), { code: "INVALID_CONFIG" });
  assert.throws(() => new TokenClient(), { code: "INVALID_CONFIG", message: /^tokenUrl:/ });
});

test("loopback http is allowed for tokenUrl", () => {
  for (const u of ["http://localhost:8080/t", "http://127.0.0.1/t", "http://127.1.2.3/t", "http://[::1]:9/t"]) {
    new TokenClient({ ...base, tokenUrl: u }).dispose();
  }
});
