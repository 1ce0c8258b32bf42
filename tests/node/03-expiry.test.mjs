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
  // Both clocks are read in whole milliseconds (performance.now() truncated), so a deadline
  // read off the wall clock can land 1 ms either side of the true instant.
  assert.ok(info.expiresAt >= sentBefore + 10_000 - 1 && info.expiresAt <= sentBefore + 10_000 + 500, `${info.expiresAt - sentBefore}`);
  assert.ok(info.expiresAt < arrived + 10_000 - 900, "not counted from arrival");
});

test("honest expiry: a 2 s token is never handed out after 2 s; the next request waits out the 5 s interval", async () => {
  const sent = [];
  const f = fakeFetch(async () => {
    sent.push(Date.now());
    return { access_token: `t${sent.length}`, expires_in: 2 };
  });
  const c = new TokenClient({ ...base, fetch: f });
  // The client's expiry timer does not keep Node alive (by design): this test must stay up.
  const alive = setInterval(() => {}, 1000);
  try {
    let expired;
    const lapsed = new Promise((r) => (expired = r));
    c.on("expired", () => expired(Date.now()));
    const info = await c.getTokenInfo();
    assert.equal(info.accessToken, "t1");
    assert.ok(Math.abs(info.expiresAt - sent[0] - 2000) <= 50, `expiresAt is ${info.expiresAt - sent[0]} ms after sending, not stretched`);
    const lapsedAt = await lapsed;
    assert.ok(lapsedAt - sent[0] >= 2000 - 20, "not expired early");
    // Past its life: a caller waits for the next token rather than getting t1.
    assert.equal(await c.getToken(), "t2");
    assert.equal(f.calls.length, 2);
    assert.ok(sent[1] - sent[0] >= 5000 - 20, `second request ${sent[1] - sent[0]} ms after the first: at most one per 5 s`);
    c.dispose();
  } finally {
    clearInterval(alive);
  }
});
