// Shared helpers for the Node tests of the built package (pkg/).
import { startFixture } from "../fixtures/server.mjs";

export { TokenClient, TokenError } from "../../pkg/node.js";

/** `fetch` to a broker as an app's page calls it: cookies and the CSRF header (see the README). */
export const brokerFetch = (url, init = {}) => fetch(url, { credentials: "include", ...init, headers: { "Tokenkit-Request": "1", ...init.headers } });
export { startFixture };

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Resolves once `cond()` is true (checked every 10 ms); rejects after `ms`. For waiting on
 * a count or an event's effect instead of guessing a sleep.
 */
export async function until(cond, ms = 10_000, what = "condition") {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** A promise of the next `event` from `client` (its payload). */
export const next = (client, event) =>
  new Promise((resolve) => {
    const off = client.on(event, (v) => {
      off();
      resolve(v);
    });
  });

let n = 0;
/** A fresh scenario key, so tests never share counters. */
export const key = (name = "t") => `${name}-${process.pid}-${++n}`;

/** A fetch that answers every call with `make(url, init, i)` and records each call. */
export function fakeFetch(make) {
  const calls = [];
  const f = async (url, init) => {
    calls.push({ url: String(url), init });
    const r = await make(url, init, calls.length - 1);
    return r instanceof Response ? r : new Response(JSON.stringify(r), { status: 200, headers: { "content-type": "application/json" } });
  };
  f.calls = calls;
  return f;
}

export const base = { tokenUrl: "https://auth.example.com/oauth2/token", clientId: "client-id", clientSecret: "TOPSECRET-xyz" };
