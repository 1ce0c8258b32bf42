// `make worker`: the broker in real workerd (wrangler dev) on 127.0.0.1:8787, against a
// local token server and API on 127.0.0.1 holding the demo client's secret. Ctrl-C stops both.
import { spawn } from "node:child_process";
import { startFixture } from "../tests/fixtures/server.mjs";

const up = await startFixture();
const vars = {
  TOKEN_URL: up.url("broker-dev", "ttl=60"),
  CLIENT_ID: "demo-client",
  CLIENT_SECRET: "demo-secret",
  ALLOWED_ORIGINS: "http://127.0.0.1:8000,http://localhost:8000",
  PROXY_ORIGIN: up.origin,
};
console.log(`upstream token server: ${vars.TOKEN_URL}`);
console.log(`upstream API:          ${up.api("broker-dev")}`);
console.log("broker:                http://127.0.0.1:8787  (POST /token, /proxy/s/broker-dev/api/data, GET /healthz)");
const args = ["dev", "--ip", "127.0.0.1", "--port", "8787", ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`])];
const child = spawn("wrangler", args, { cwd: new URL(".", import.meta.url).pathname, stdio: "inherit", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } });
const stop = async () => {
  try {
    process.kill(child.pid);
  } catch {}
  await up.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
child.on("exit", stop);
