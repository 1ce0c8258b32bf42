// The tokenkit demo page. It uses the package as an app would (`import ... from "tokenkit"`
// through the import map) and never sees a client secret: the broker holds it, direct mode
// uses a public client, and tokens are shown redacted.
import { TokenClient, TokenError } from "tokenkit";
import { TokenClient as UserClient, TokenError as UserTokenError } from "tokenkit/signin";

const $ = (id) => document.getElementById(id);
const config = await (await fetch("/config.json")).json();
const WINDOW_MS = 3 * 60_000;

let client = null;
let pageTokenRequests = 0; // token requests this page sent (to the broker or the endpoint)
let offs = [];
let current = null; // { info, issuedAt, refreshAt }
let waitUntil = 0; // broker mode: until when the broker waits out a Retry-After (the fault buttons cannot bite)
const timeline = []; // { t, kind }

const redact = (t) => (t.length > 16 ? `${t.slice(0, 6)}…${t.slice(-4)}` : "••••");
const time = (ms) => new Date(ms).toLocaleTimeString();
// The message already says the status and the wait where they apply: said once.
const describeError = (e) => (e instanceof TokenError || e instanceof UserTokenError ? `${e.code}: ${e.message}` : String(e));

function log(kind, text) {
  const li = document.createElement("li");
  li.className = kind;
  li.textContent = `${time(Date.now())}  ${text}`;
  $("log").prepend(li);
  while ($("log").children.length > 200) $("log").lastChild.remove();
}

function mark(kind) {
  timeline.push({ t: Date.now(), kind });
  drawTimeline();
}

function result(ok, text) {
  $("result").className = ok ? "ok" : "err";
  $("result").textContent = text;
}

/** Enables the fault buttons that can bite now, and says why not when they cannot. */
function faultButtons() {
  const m = mode();
  const which = $("mode").value;
  const wait = Math.ceil((waitUntil - Date.now()) / 1000);
  document.querySelectorAll("[data-fault]").forEach((b) => {
    if (b.dataset.busy) return;
    b.disabled = !m.faultUrl || which === "apikey" || wait > 0;
  });
  $("fault-note").textContent = wait > 0 ? `The broker is waiting out the token server's Retry-After (${wait} s more): until then it asks the token server nothing, so a fault would not be reached.` : "";
}

const ABOUT = {
  broker:
    "The page asks the edge broker (a Worker in workerd) for tokens; the client secret never reaches the browser. " +
    "The broker caches tokens and retries upstream itself: a fault button first makes the broker drop its token (the API refuses it, seen through the broker's /proxy/), so the fault bites at once.",
  direct:
    "The page runs the client-credentials grant itself, as a public client: every token request, retry and error is logged here. " +
    "For comparison only: a real client secret must never be in a page.",
  apikey: "A static key, attached only to allowed origins: no token endpoint, nothing expires, so no faults apply.",
  signin:
    "A user signs in at the authorization server (any login and password here) and comes back with a code, exchanged with PKCE; " +
    "the refresh token renews the access token before it lapses. Tokens stay in this tab's memory (other tabs get them over a BroadcastChannel); \"Call API\" asks the server's userinfo.",
};

function mode() {
  return config.modes[$("mode").value];
}

function build() {
  for (const off of offs) off();
  client?.dispose();
  current = null;
  renderToken(); // the old client's token must not show as the new one's
  // The stats are the new mode's: nothing carried over from the last one.
  pageTokenRequests = 0;
  for (const [id, v] of [["s-page", "0"], ["s-token", "–"], ["s-api", "–"]]) $(id).textContent = v;
  result(true, "Ready.");
  const m = mode();
  const skew = Math.max(0, Number($("skew").value) || 0);
  const tokenEndpoint = m.brokerUrl ?? m.tokenUrl;
  // An injected fetch, only to count this page's token requests for the burst demo.
  // Every token request this page sends is counted and its outcome logged, so retries show.
  const counting = async (input, init) => {
    if ((typeof input === "string" ? input : input.url) !== tokenEndpoint) return fetch(input, init);
    const n = ++pageTokenRequests;
    $("s-page").textContent = pageTokenRequests;
    try {
      const res = await fetch(input, init);
      log("request", `token request #${n}: HTTP ${res.status}`);
      return res;
    } catch (e) {
      log("request", `token request #${n}: ${e?.name === "AbortError" ? "aborted (timeoutMs)" : "failed"}`);
      throw e;
    }
  };
  const common = { allowedOrigins: [new URL(m.apiUrl).origin], ...(tokenEndpoint ? { fetch: counting } : {}) };
  const timing = { refreshSkewSeconds: skew, maxRetries: 1, timeoutMs: 3000 };
  const scope = $("scope").value.trim();
  if ($("mode").value === "broker") client = new TokenClient({ brokerUrl: m.brokerUrl, ...common, ...timing });
  else if ($("mode").value === "direct")
    client = new TokenClient({ tokenUrl: m.tokenUrl, clientId: m.clientId, clientAuth: "none", ...(scope ? { scope } : {}), ...common, ...timing });
  else if ($("mode").value === "signin")
    client = new UserClient({
      grant: "authorization_code",
      authorizeUrl: m.authorizeUrl,
      tokenUrl: m.tokenUrl,
      revocationUrl: m.revocationUrl,
      issuer: m.issuer,
      clientId: m.clientId,
      clientAuth: "none",
      redirectUri: m.redirectUri,
      scope: "openid offline_access",
      ...common,
      ...timing,
    });
  else client = TokenClient.apiKey({ apiKey: m.apiKey, ...common });
  offs = [
    client.on("token", (info) => {
      // The refresh point is the client's own (getTokenInfo().refreshAt), not re-derived here.
      current = { info, issuedAt: Date.now(), refreshAt: info.refreshAt };
      log("token", `token: ${info.tokenType} ${redact(info.accessToken)}, expires ${time(info.expiresAt)}`);
      mark("token");
      renderToken();
    }),
    client.on("expired", () => {
      log("expired", "expired: the token lapsed without a replacement");
      mark("expired");
      current = null;
      renderToken();
    }),
    client.on("error", (e) => {
      log("error", `error: ${describeError(e)}`);
      mark("error");
    }),
  ];
  // Only what applies to this mode is enabled; one line says what the mode demonstrates.
  const which = $("mode").value;
  waitUntil = 0;
  faultButtons();
  $("scope").disabled = which !== "direct";
  document.querySelectorAll(".signin-only").forEach((e) => (e.hidden = which !== "signin"));
  $("skew").disabled = which === "apikey";
  $("mode-about").textContent = ABOUT[which];
  log("info", `client: ${$("mode").selectedOptions[0].textContent}`);
  load();
}

async function load() {
  if ($("mode").value === "signin" && !client.isAuthorized) {
    $("who").textContent = "not signed in";
    result(true, "Sign in to get a user's token.");
    return;
  }
  try {
    const info = await client.getTokenInfo();
    if (!current || current.info.accessToken !== info.accessToken) current = { info, issuedAt: Date.now(), refreshAt: info.refreshAt };
    renderToken();
    if ($("mode").value === "signin") $("who").textContent = "signed in";
    result(true, "A token is held: Call API uses it.");
  } catch (e) {
    result(false, describeError(e));
  }
}

function renderToken() {
  const c = current;
  $("t-status").textContent = c ? "valid" : "none";
  $("t-type").textContent = c?.info.tokenType ?? "–";
  $("t-scope").textContent = c?.info.scope ?? "–";
  $("t-issued").textContent = c ? time(c.issuedAt) : "–";
  $("t-expires").textContent = c ? (c.info.expiresAt === null ? "never (API key)" : time(c.info.expiresAt)) : "–";
  $("t-preview").textContent = c ? redact(c.info.accessToken) : "–";
}

function tick() {
  const c = current;
  const now = Date.now();
  const set = (bar, left, until) => {
    if (!c || until === null || c.info.expiresAt === null) {
      $(bar).style.width = c?.info.expiresAt === null ? "100%" : "0";
      $(left).textContent = c?.info.expiresAt === null ? "∞" : "–";
      return;
    }
    const span = Math.max(1, until - c.issuedAt);
    $(bar).style.width = `${Math.max(0, Math.min(100, ((until - now) / span) * 100))}%`;
    $(left).textContent = `${Math.max(0, Math.round((until - now) / 1000))} s`;
  };
  set("bar-refresh", "left-refresh", c?.refreshAt ?? null);
  set("bar-expiry", "left-expiry", c?.info.expiresAt ?? null);
  drawTimeline();
  faultButtons();
}

function drawTimeline() {
  const svg = $("timeline");
  const now = Date.now();
  while (timeline.length && timeline[0].t < now - WINDOW_MS) timeline.shift();
  const lanes = { token: 12, api: 36, burst: 60, error: 84, expired: 108 }; // the centres of the five rows the labels sit in
  const parts = [];
  // The minute lines; the lanes' names and the time axis are HTML around it (index.html).
  for (let m = 1; m < 3; m++) parts.push(`<line x1="${600 - m * 200}" y1="0" x2="${600 - m * 200}" y2="120" stroke="#2b3642"/>`);
  for (const { t, kind } of timeline) {
    const x = 600 - ((now - t) / WINDOW_MS) * 600;
    const color = { token: "#3fb950", api: "#58a6ff", burst: "#d2a8ff", error: "#f85149", expired: "#d29922" }[kind] ?? "#8b98a5";
    parts.push(`<rect x="${x.toFixed(1)}" y="${lanes[kind] - 7}" width="3" height="14" fill="${color}"><title>${kind} ${time(t)}</title></rect>`);
  }
  svg.innerHTML = parts.join("");
}

async function stats() {
  const m = mode();
  if (!m.statsUrl) return;
  try {
    const s = await (await fetch(m.statsUrl)).json();
    $("s-token").textContent = s.tokenRequests;
    $("s-api").textContent = s.apiCalls;
    return s;
  } catch {}
}

async function busy(button, fn) {
  button.disabled = true;
  button.dataset.busy = "1";
  try {
    await fn();
  } finally {
    delete button.dataset.busy;
    button.disabled = false;
    faultButtons();
    await stats();
  }
}

async function callApi() {
  const t0 = performance.now();
  try {
    const r = await client.fetch(mode().apiUrl);
    const ms = Math.round(performance.now() - t0);
    const body = await r.text();
    result(r.ok, `API answered ${r.status} in ${ms} ms: ${body.slice(0, 120)}`);
    mark(r.ok ? "api" : "error");
    log(r.ok ? "info" : "error", `API ${r.status} (${ms} ms)`);
  } catch (e) {
    result(false, describeError(e));
    mark("error");
    log("error", `API call failed: ${describeError(e)}`);
    // The broker passes on a long Retry-After and asks upstream nothing until it has passed.
    if (mode().brokerUrl && e?.code === "RATE_LIMITED" && e.retryAfter) waitUntil = Date.now() + e.retryAfter * 1000;
  }
}

$("apply").onclick = build;
$("mode").onchange = build;
$("call").onclick = (ev) => busy(ev.target, callApi);
$("invalidate").onclick = () => {
  client.invalidate();
  current = null;
  renderToken();
  log("info", "invalidated: the next call fetches a new token");
};
$("burst").onclick = (ev) =>
  busy(ev.target, async () => {
    client.invalidate();
    const before = pageTokenRequests;
    const t0 = performance.now();
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => client.fetch(mode().apiUrl)));
    const ms = Math.round(performance.now() - t0);
    const ok = results.filter((r) => r.status === "fulfilled" && r.value.ok).length;
    const text = `burst: 100 concurrent calls, ${ok} OK in ${ms} ms, caused ${pageTokenRequests - before} token request(s)`;
    result(ok === 100, text);
    log("info", text);
    mark("burst");
  });
document.querySelectorAll("[data-fault]").forEach((b) => {
  b.onclick = () =>
    busy(b, async () => {
      const m = mode();
      // One fault at a time, for this click's request only: any left over is cleared first.
      await fetch(m.faultUrl, { method: "DELETE" });
      await fetch(`${m.faultUrl}?kind=${encodeURIComponent(b.dataset.fault)}`, { method: "POST" });
      log("info", `fault armed: the next token request ${m.brokerUrl ? "the broker sends upstream" : "this page sends"} answers ${b.textContent}`);
      if (m.revokeUrl) {
        // The broker would answer from its cache until its token nears expiry. Revoke that token
        // at the API; the broker drops it when the API refuses it (RFC 6750), here through its
        // /proxy/, so its next /token goes upstream and meets the fault.
        await fetch(m.revokeUrl, { method: "POST" });
        const r = await fetch(m.proxyUrl, { headers: { "Tokenkit-Request": "1" } }); // the broker's CSRF header
        log("info", `the API revoked the broker's token; a call through the broker's /proxy/ got ${r.status}, so the broker dropped it`);
      }
      const upstreamBefore = m.brokerUrl ? (await stats())?.tokenRequests : undefined;
      client.invalidate();
      current = null;
      renderToken();
      await callApi();
      if (upstreamBefore !== undefined) {
        const n = (await stats())?.tokenRequests - upstreamBefore;
        log("request", `the broker sent ${n} upstream token request(s)${n > 1 ? ": the fault, then its own retry" : ""}`);
      }
      // A fault that found no request (the broker was waiting out a Retry-After) must not
      // fire later on an unrelated call.
      await fetch(m.faultUrl, { method: "DELETE" });
    });
});

$("signin").onclick = (ev) =>
  busy(ev.target, async () => {
    log("info", "signing in: off to the authorization server (the PKCE verifier waits in sessionStorage)");
    location.assign(await client.createAuthorizationUrl());
  });
$("signout").onclick = (ev) =>
  busy(ev.target, async () => {
    try {
      await client.signOut();
      log("info", "signed out: the refresh token was revoked at the server, and every tab forgot the session");
    } catch (e) {
      log("error", `sign-out: ${describeError(e)}`);
    }
    current = null;
    renderToken();
    $("who").textContent = "signed out";
  });

if (!config.modes.direct) for (const v of ["direct", "apikey"]) $("mode").querySelector(`[value=${v}]`).remove();
// Back from the authorization server: this page is the redirect URI.
const callback = new URLSearchParams(location.search);
if (callback.has("state") && (callback.has("code") || callback.has("error"))) {
  $("mode").value = "signin";
  build();
  try {
    await client.completeAuthorization(location.href);
    $("who").textContent = "signed in";
    log("info", "signed in: the code was exchanged (PKCE) for an access token and a refresh token");
    load();
  } catch (e) {
    result(false, describeError(e));
    log("error", `sign-in: ${describeError(e)}`);
  }
} else build();
setInterval(tick, 500);
setInterval(stats, 3000);
window.tokenkitDemo = { ready: true };
