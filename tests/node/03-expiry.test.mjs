// Behaviour 3: expiry counts from when the request was sent, not when the answer arrived.
import { test } from "node:test";
import assert from "node:assert/strict";
import { TokenClient, fakeFetch, base, sleep } from "./helpers.mjs";

test("expiresAt = time sent + expires_in, however slow the answer", async () => {
  const f = fakeFetch(async () => {
    await sleep(1500);
    return { access_token: "a", expires_in: 10 };
  });
  const c = new TokenClient({ ...base, fetch: f });
  const sentBefore = Date.now();
  const info = await c.getTokenInfo();
  const arrived = Date.now();
  assert.ok(arrived - sentBefore >= 1500);
  assert.ok(info.expiresAt >= sentBefore + 10_000 && info.expiresAt <= sentBefore + 10_000 + 500, `${info.expiresAt - sentBefore}`);
  assert.ok(info.expiresAt < arrived + 10_000 - 900, "not counted from arrival");
});
