// The short version of `make soak` (tests/soak/): the broker under load for 8 s as deployed
// (isolates behind a router, the TokenCache object) and the browser client in Chromium for
// 10,000 signed calls and 100 rotations. Correctness, not speed: no failed request, no stale
// token, one upstream request per refresh window, wasm memory unchanged, one live timer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { brokerSoak, clientSoak } from "../soak/soak.mjs";

test("broker under load: 0 failed, every sampled token live, one upstream request per refresh window (±1)", async () => {
  const r = await brokerSoak({ seconds: 8, isolates: 4, connections: 8 });
  assert.equal(r.failed, 0, JSON.stringify(r));
  assert.ok(r.checked > 10 && r.stale === 0, JSON.stringify(r));
  assert.ok(Math.abs(r.upstream - r.windows) <= 1, JSON.stringify(r));
  assert.equal(r.wasmAfterKB, r.wasmBeforeKB, "isolate wasm memory");
});

test("browser client: 10,000 signed calls, 100 rotations: wasm memory unchanged, heap flat, one live timer", async () => {
  const r = await clientSoak({ calls: 10_000, every: 100 });
  assert.equal(r.rotations, 100);
  assert.equal(r.wasmAfterKB, r.wasmBeforeKB, JSON.stringify(r));
  assert.ok(r.heapAfterKB - r.heapBeforeKB < 512, JSON.stringify(r));
  assert.equal(r.liveTimers, 1, "exactly one live timer for the client");
});
