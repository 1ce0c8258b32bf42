// The Worker build's JavaScript: the wasm imports only js/shell.js (its snippet); js/broker.js
// drives the broker's clients with that same module, so it and the modules it imports are
// copied beside it (one shell.js, one TokenError), and `broker.js` re-exports it for
// worker/index.js. Usage: node scripts/worker-pkg.mjs <dir> (wasm-bindgen's out-dir).
import { copyFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [dir] = process.argv.slice(2);
const root = new URL("..", import.meta.url).pathname;
const snippets = readdirSync(join(dir, "snippets")).filter((d) => readdirSync(join(dir, "snippets", d, "js")).includes("shell.js"));
if (snippets.length !== 1) throw new Error(`expected one shell.js snippet in ${dir}, found ${snippets.length}`);
const at = join("snippets", snippets[0], "js");
for (const f of ["broker.js", "dpop.js", "server.js", "signin.js", "jws.js"]) copyFileSync(join(root, "js", f), join(dir, at, f));
writeFileSync(join(dir, "broker.js"), `// The broker's classes (js/broker.js), beside the shell the wasm imports.\nexport * from "./${at}/broker.js";\n`);
