// An esbuild bundle of `contents` for the browser, minified, with `tokenkit` resolved to the
// built package's browser entry: how an app ships it.
import { join } from "node:path";
import { buildSync } from "esbuild";

const here = new URL(".", import.meta.url).pathname;

export function browserBundle(contents, pkg) {
  return buildSync({
    stdin: { contents, resolveDir: here, loader: "js" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    write: false,
    alias: { tokenkit: join(pkg, "browser.js"), "tokenkit/signin": join(pkg, "signin/browser.js"), "tokenkit/dpop": join(pkg, "dpop/browser.js") },
    logLevel: "error",
  }).outputFiles[0].contents;
}
