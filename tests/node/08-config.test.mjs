// Behaviour 10: configuration errors are thrown synchronously, naming the field.
import { test } from "node:test";
import assert from "node:assert/strict";
import { TokenClient, TokenError, base } from "./helpers.mjs";

const bad = [
  [{ ...base, tokenUrl: undefined }, "tokenUrl"],
  [{ ...base, tokenUrl: "not a url" }, "tokenUrl"],
  [{ ...base, tokenUrl: "http://auth.example.com/token" }, "tokenUrl"],
  [{ ...base, tokenUrl: "http://localhost.evil.com/token" }, "tokenUrl"],
  [{ ...base, tokenUrl: "https://user:pw@auth.example.com/token" }, "tokenUrl"],
  [{ ...base, clientId: "" }, "clientId"],
  [{ ...base, clientId: 42 }, "clientId"],
  [{ ...base, clientSecret: undefined }, "clientSecret"],
  [{ ...base, clientSceret: "typo" }, "clientSceret"],
  [{ ...base, alowedOrigins: ["https://a.com"] }, "alowedOrigins"],
  [{ ...base, clientAuth: "private_key_jwt" }, "clientAuth"],
  [{ ...base, dialect: "soap" }, "dialect"],
  [{ ...base, scope: 5 }, "scope"],
  [{ ...base, scope: ["a", ""] }, "scope[1]"],
  [{ ...base, extraParams: { grant_type: "password" } }, "extraParams.grant_type"],
  [{ ...base, extraParams: new Map() }, "extraParams"],
  [{ ...base, allowedOrigins: ["https://api.example.com/path"] }, "allowedOrigins[0]"],
  [{ ...base, allowedOrigins: ["http://api.example.com"] }, "allowedOrigins[0]"],
  [{ ...base, refreshSkewSeconds: -1 }, "refreshSkewSeconds"],
  [{ ...base, defaultExpiresInSeconds: "60" }, "defaultExpiresInSeconds"],
  [{ ...base, timeoutMs: 0 }, "timeoutMs"],
  [{ ...base, timeoutMs: Infinity }, "timeoutMs"],
  [{ ...base, maxRetries: -1 }, "maxRetries"],
  [{ ...base, maxRetries: 2.5 }, "maxRetries"],
  [{ ...base, fetch: "fetch" }, "fetch"],
  [{ ...base, apiKey: "k" }, "tokenUrl"],
  [{ apiKey: "k", header: "Bad Header" }, "header"],
  [{ apiKey: "line\nbreak" }, "apiKey"],
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
