// `make soak`: the load and soak runs at full length (SOAK_SECONDS, default 60; 100,000
// signed calls), printed and checked. Exits non-zero if a check fails. Figures go to
// tests/soak/results.json (the README quotes the latest run).
import { writeFileSync } from "node:fs";
import { brokerSoak, clientSoak } from "./soak.mjs";

const seconds = Number(process.env.SOAK_SECONDS ?? 60);
const failures = [];
const check = (ok, what) => (ok ? console.log(`  ok    ${what}`) : (failures.push(what), console.log(`  FAIL  ${what}`)));

console.log(`broker: ${seconds} s under autocannon (4 isolates behind a router, the TokenCache object), and a constant Worker as the baseline`);
const broker = await brokerSoak({ seconds, isolates: 4, connections: 32 });
const base = await brokerSoak({ seconds, isolates: 4, connections: 32, baseline: true });
console.log(broker);
check(broker.failed === 0, `${broker.requests} requests, ${broker.failed} failed`);
check(broker.stale === 0, `${broker.checked} sampled tokens all live upstream`);
check(Math.abs(broker.upstream - broker.windows) <= 1, `${broker.upstream} upstream token requests for ${broker.windows} refresh windows (±1)`);
check(broker.wasmAfterKB === broker.wasmBeforeKB, `isolate wasm memory ${broker.wasmBeforeKB} KB -> ${broker.wasmAfterKB} KB`);
console.log(`  info  workerd RSS ${broker.rssFirstKB >> 10} -> ${broker.rssLastKB >> 10} MB (baseline Worker: ${base.rssFirstKB >> 10} -> ${base.rssLastKB >> 10} MB over ${base.requests} requests)`);

console.log("browser client: 100,000 signed calls, a rotation every 100, in Chromium");
const client = await clientSoak({ calls: 100_000, every: 100 });
console.log(client);
check(client.rotations === 1000, `${client.rotations} rotations`);
check(client.wasmAfterKB === client.wasmBeforeKB, `wasm memory ${client.wasmBeforeKB} KB -> ${client.wasmAfterKB} KB`);
check(client.heapAfterKB - client.heapBeforeKB < 512, `JS heap ${client.heapBeforeKB} KB -> ${client.heapAfterKB} KB (after GC)`);
check(client.liveTimers === 1, `${client.liveTimers} live timer for the one client`);

writeFileSync(new URL("./results.json", import.meta.url), `${JSON.stringify({ date: new Date().toISOString().slice(0, 10), seconds, broker, baseline: base, client }, null, 2)}\n`);
if (failures.length) {
  console.error(`soak: ${failures.length} check(s) failed`);
  process.exit(1);
}
