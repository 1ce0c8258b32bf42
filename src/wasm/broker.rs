//! The broker's decisions behind a synchronous interface (Worker build, cargo feature
//! `broker`): `Broker` for the edge and the `TokenCache` object, `Session` for a `UserSession`
//! object.
//!
//! Nothing here waits. js/broker.js owns every request, promise, Durable Object stub, WebCrypto
//! call and `ctx.waitUntil`, and drives the token clients it makes from these configurations
//! (each a [`Core`], the clients' own machine) with the one driver of every build,
//! js/shell.js. Each method answers one question from [`crate::proto::broker`]: how to route a
//! request and which gates it passes, which headers go on, what a failure means for the
//! browser, what a session does next. Replies cross as `[status, headers, body]`, the
//! headers as `name\nvalue\n...` (one string crossing instead of two per header).

#[allow(unused_imports)]
use crate::prelude::*;

use js_sys::Array;
use wasm_bindgen::prelude::*;

// What a routed request needs (`Broker::route`'s kinds) and the gates it must pass first.
use crate::boundary::gate::{ACCESS, TURNSTILE};
use crate::boundary::route::{DONE, PROXY, SIGN_IN, TOKEN};
use crate::boundary::token_route::DEPLOYMENT;
use crate::boundary::{after401, cookie, role, step, verdict};
use crate::proto::broker::bff::{self, CookieKind, Next, Record, SessionOp, SignIn, TokenVerdict, UserSession};
use crate::proto::broker::config::{config_error_reply, listed_origins, misconfigured, BrokerConfig, EnvError, Role, TokenTarget};
use crate::proto::broker::contract::{failure_reply, Failure};
use crate::proto::broker::gate;
use crate::proto::broker::rate::{client_key, rate_limited_reply, rate_verdict, RateLimiter};
use crate::proto::broker::route::{after_401, forward_header, After401, Incoming, Route};
use crate::proto::broker::{cache_failed_code, health_reply, relayable_status, relayed_header, CacheKind, ShellFailure};
use crate::proto::client::request::Runtime;
use crate::proto::client::sign;
use crate::proto::http::Reply;
use crate::proto::time::{Instant, Secs};
use crate::proto::value::Value;
use crate::proto::Config;
use super::convert::{parse_url, to_value};
use super::machine::{now, Core};

/// `[status, headers, body]` of `r`, its headers and `extra` (CORS) as one string.
pub(super) fn reply(r: &Reply, extra: &[(&'static str, String)]) -> JsValue {
    Array::of3(&JsValue::from(r.status), &JsValue::from_str(&lines(r.headers.iter().chain(extra))), &JsValue::from_str(&r.body)).into()
}

/// Headers as `name\nvalue\n...`; a pair holding a newline (never a valid header) is left out.
fn lines<'a>(pairs: impl Iterator<Item = &'a (&'static str, String)>) -> String {
    let mut out = String::new();
    for (k, v) in pairs.filter(|(k, v)| !k.contains('\n') && !v.contains('\n')) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(k);
        out.push('\n');
        out.push_str(v);
    }
    out
}

/// A `TokenError`'s public fields, as js/broker.js hands them back.
fn failure(code: String, status: Option<u16>, error: Option<String>, retry_after: Option<f64>, message: String) -> Failure {
    Failure { code, status, error, retry_after: retry_after.map(|s| Secs(s.max(0.0) as u64)), message }
}

fn role_of(role: u8) -> Role {
    match role {
        role::TOKEN_CACHE => Role::TokenCache,
        _ => Role::Edge,
    }
}

/// The env's string variables, as the configuration reads them.
fn getter(env: &JsValue) -> impl Fn(&str) -> Option<String> + '_ {
    |k: &str| js_sys::Reflect::get(env, &JsValue::from_str(k)).ok().and_then(|v| v.as_string())
}

/// The shell's view of a private JWK secret (js/broker.js `keyView`): `None` when it is not
/// set, an empty string (refused by name) when it is not a JSON object.
fn key_view(view: &JsValue) -> Option<Value> {
    match view.is_null() {
        true => Some(Value::Str(String::new())),
        false => (!view.is_undefined()).then(|| to_value(view, 1)),
    }
}

/// `[name, param]` to import `DPOP_KEY` with, `[]` for a key made in this isolate, or
/// `undefined` without DPoP ([`BrokerConfig::dpop_keying`]).
fn dpop_keying(cfg: &BrokerConfig, view: &JsValue, shared: bool) -> Result<JsValue, EnvError> {
    let import = cfg.dpop_keying(key_view(view).as_ref(), shared)?;
    Ok(match (cfg.dpop(), import) {
        (false, _) => JsValue::UNDEFINED,
        (true, None) => Array::new().into(),
        (true, Some((name, param))) => Array::of2(&JsValue::from_str(name), &JsValue::from_str(param)).into(),
    })
}

fn client(cfg: Config) -> Core {
    Core::of(cfg, Runtime::Workerd, js_sys::Math::random() * 9_007_199_254_740_992.0)
}

/// The broker of the edge (`role` 0) or of a `TokenCache` object (1).
#[wasm_bindgen(skip_typescript)]
pub struct Broker {
    cfg: Result<BrokerConfig, EnvError>,
    /// With a broken configuration: the origins `ALLOWED_ORIGINS` lists, who may read why.
    listed: Vec<String>,
    /// This isolate's own rate limit buckets: the limit without a `RATE_LIMITER` binding,
    /// or when it fails.
    limiter: RateLimiter,
    /// Whether `TOKEN_CACHE` and `RATE_LIMITER` are bound (the edge's bindings only).
    shared: bool,
    rate: bool,
    /// The DPoP key's source ([`dpop_keying`]).
    dpop: JsValue,
    /// When the Access keys were last fetched, and when a fetch last started.
    keys_checked: Option<Instant>,
    keys_started: Option<Instant>,
    /// What the last [`Broker::route`] decided besides its kind: gates, allowed origin, details.
    routed: (u8, u32, JsValue),
}


#[wasm_bindgen]
impl Broker {
    /// The broker of `role` (0 the edge, 1 a `TokenCache` object) from the Worker's `env`;
    /// `client_key` and `dpop_key` are the shell's views of those secrets; `sessions`,
    /// `token_cache`, `rate`: whether those bindings are there. Never throws: a broken
    /// configuration answers every request naming the variable.
    #[wasm_bindgen(constructor)]
    pub fn new(role: u8, env: JsValue, client_key: JsValue, dpop_key: JsValue, sessions: bool, token_cache: bool, rate: bool) -> Broker {
        let role = role_of(role);
        let edge = role == Role::Edge;
        let (shared, rate) = (edge && token_cache, edge && rate);
        let get = getter(&env);
        let mut dpop = JsValue::UNDEFINED;
        let cfg = BrokerConfig::from_env(role, &get, key_view(&client_key).as_ref(), &parse_url).and_then(|c| match (c.signs_in(), edge && sessions) {
            (true, false) => Err(EnvError { var: "SESSIONS", reason: "sign-in needs the UserSession Durable Object bound as SESSIONS" }),
            _ => {
                dpop = dpop_keying(&c, &dpop_key, shared)?;
                Ok(c)
            }
        });
        let listed = if edge && cfg.is_err() { listed_origins(&get, &parse_url) } else { Vec::new() };
        Broker { cfg, listed, limiter: RateLimiter::default(), shared, rate, dpop, keys_checked: None, keys_started: None, routed: (0, 0, JsValue::UNDEFINED) }
    }

    /// The DPoP key's source: `[name, param]` to import `DPOP_KEY` with, `[]` for a key made
    /// in this isolate, `undefined` without DPoP.
    #[wasm_bindgen(getter, js_name = dpopKey)]
    pub fn dpop_key(&self) -> JsValue {
        self.dpop.clone()
    }

    /// Whether the deployment's tokens are DPoP-bound.
    #[wasm_bindgen(getter)]
    pub fn dpop(&self) -> bool {
        self.cfg.as_ref().is_ok_and(|c| c.dpop())
    }

    /// Whether the broker signs users in (`/proxy/` then carries the session's user's token).
    #[wasm_bindgen(getter, js_name = signsIn)]
    pub fn signs_in(&self) -> bool {
        self.cfg.as_ref().is_ok_and(|c| c.signs_in())
    }

    /// The header of an isolate's token request that names the token an API refused to the
    /// `TokenCache` object ([`crate::proto::broker::REFUSED_HEADER`]).
    #[wasm_bindgen(js_name = refusedHeader)]
    pub fn refused_header() -> String {
        crate::proto::broker::REFUSED_HEADER.to_owned()
    }

    /// `[status, headers]` of every token reply (`Core.answer` gives the body).
    #[wasm_bindgen(js_name = tokenHead)]
    pub fn token_head() -> JsValue {
        reply(&crate::proto::broker::token_head(), &[])
    }

    /// The reply when the DPoP key could not be made, imported or used for a proof.
    #[wasm_bindgen(js_name = dpopFailed)]
    pub fn dpop_failed() -> JsValue {
        reply(&crate::proto::broker::contract::upstream_reply(&crate::proto::dpop::key_failed("DPOP_KEY")), &[])
    }

    /// A token client: `route` [`DEPLOYMENT`] the upstream one, else that `PROXY_ROUTES` entry's own;
    /// `shared`: the one that asks the deployment's `TokenCache` object for it (the broker
    /// contract). `undefined` when there is none.
    pub fn client(&self, route: i32, shared: bool) -> Option<Core> {
        let cfg = self.cfg.as_ref().ok()?;
        let i = usize::try_from(route).ok();
        let c = match (shared, i) {
            (false, None) => cfg.upstream.clone(),
            (false, Some(i)) => cfg.route_client(i)?,
            (true, _) if !self.shared => return None,
            (true, i) => cfg.shared_cache_config(i, &parse_url).ok()?,
        };
        Some(client(c))
    }

    /// The name of the `TokenCache` object that holds the upstream token (`route` [`DEPLOYMENT`]) or
    /// route `route`'s own.
    #[wasm_bindgen(js_name = cacheName)]
    pub fn cache_name(&self, route: i32) -> Option<String> {
        let cfg = self.cfg.as_ref().ok()?;
        match usize::try_from(route) {
            Ok(i) => cfg.route_credential_set(i),
            Err(_) => Some(cfg.credential_set()),
        }
    }

    /// The rate limit binding's key for a client's IP (IPv6 by /64).
    #[wasm_bindgen(js_name = rateKey)]
    pub fn rate_key(ip: &str) -> String {
        client_key(ip)
    }

    /// Whether the rate limit binding is asked first.
    #[wasm_bindgen(getter, js_name = asksBinding)]
    pub fn asks_binding(&self) -> bool {
        self.rate && self.cfg.is_ok()
    }

    /// Routes a request (the rate limit binding said `verdict`: `undefined` when it was not
    /// asked or failed) at monotonic `mono`: its kind ([`crate::boundary::route`]). What else was
    /// decided is read next, only where the kind needs it: [`Broker::gates`], [`Broker::cors`]
    /// and [`Broker::routed`]. A cached `/token` is the hot path: this call and two numbers,
    /// nothing allocated for JavaScript.
    #[allow(clippy::too_many_arguments)]
    pub fn route(&mut self, method: &str, url: &str, origin: Option<String>, key: Option<String>, request_headers: Option<String>, ip: Option<String>, csrf: Option<String>, verdict: Option<bool>, mono: f64) -> u8 {
        let (kind, gates, cors, detail) = self.decide(method, url, origin.as_deref(), key.as_deref(), request_headers.as_deref(), ip.as_deref(), csrf.as_deref(), verdict, mono);
        self.routed = (gates, cors, detail);
        kind
    }

    /// The optional request headers to read and pass to [`Broker::route`]: bits of
    /// [`crate::boundary::read`] ([`BrokerConfig::reads`]); every one with a broken
    /// configuration.
    #[wasm_bindgen(getter)]
    pub fn reads(&self) -> u8 {
        use crate::boundary::read::{BROKER_KEY, CLIENT_IP, COOKIE, CSRF};
        let Ok(cfg) = &self.cfg else { return BROKER_KEY | CLIENT_IP | CSRF | COOKIE };
        let r = cfg.reads(self.rate);
        let bit = |on: bool, b: u8| if on { b } else { 0 };
        bit(r.broker_key, BROKER_KEY) | bit(r.client_ip, CLIENT_IP) | bit(r.csrf, CSRF) | bit(r.cookie, COOKIE)
    }

    /// What the last route must pass first: bits of [`crate::boundary::gate`].
    #[wasm_bindgen(getter)]
    pub fn gates(&self) -> u8 {
        self.routed.0
    }

    /// The last route's allowed origin ([`BrokerConfig::cors_origin`]): its CORS headers are
    /// [`Broker::cors_lines`] of it.
    #[wasm_bindgen(getter)]
    pub fn cors(&self) -> u32 {
        self.routed.1
    }

    /// The last route's details: `DONE`'s reply, `PROXY`'s `[target, route]` (route [`DEPLOYMENT`]: the
    /// deployment's token, or the user's), `SIGN_IN`'s name (`login`, `callback`, `logout`,
    /// `session`); `undefined` for `TOKEN`.
    #[wasm_bindgen(getter)]
    pub fn routed(&self) -> JsValue {
        self.routed.2.clone()
    }

    /// The CORS headers (`name\nvalue\n...`) of every answer to allowed origin `n`
    /// ([`Broker::cors`]).
    #[wasm_bindgen(js_name = corsLines)]
    pub fn cors_lines(&self, n: u32) -> String {
        self.cfg.as_ref().map_or_else(|_| String::new(), |c| lines(c.cors_of(n as usize).iter()))
    }

    #[allow(clippy::too_many_arguments)]
    fn decide(&mut self, method: &str, url: &str, origin: Option<&str>, key: Option<&str>, request_headers: Option<&str>, ip: Option<&str>, csrf: Option<&str>, verdict: Option<bool>, mono: f64) -> (u8, u8, u32, JsValue) {
        let done = |r: JsValue| (DONE, 0, 0, r);
        let cfg = match &self.cfg {
            Ok(c) => c,
            Err(e) => return done(reply(&misconfigured(e, &self.listed, method, origin, request_headers), &[])),
        };
        let n = cfg.cors_origin(origin);
        let client = ip.unwrap_or("*");
        if let Err(secs) = rate_verdict(verdict, &mut self.limiter, client, cfg.rate_per_minute, Instant(mono as u64)) {
            return done(reply(&rate_limited_reply(secs), &cfg.cors_of(n)));
        }
        // The path exactly as received: after "scheme://authority", before "?".
        let after = url.split_once("://").map_or("", |(_, rest)| rest);
        let path_query = after.find('/').and_then(|i| after.get(i..)).unwrap_or("/");
        let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
        let incoming = Incoming { method, path, query, origin, broker_key: key, request_headers, csrf };
        let route = match cfg.route(&incoming) {
            Err(r) => return done(reply(&r, &cfg.cors_of(n))),
            Ok(Route::Health) => {
                let cache = if self.shared { CacheKind::DurableObject } else { CacheKind::Isolate };
                return done(reply(&health_reply(cache, self.rate, cfg.rate_per_minute), &cfg.cors_of(n)));
            }
            Ok(r) => r,
        };
        let proved = gate::proved_otherwise(cfg, key);
        let access = if cfg.access.is_some() { ACCESS } else { 0 };
        let turnstile = if cfg.turnstile.is_some() && gate::turnstile_needed(cfg.signs_in(), &route, proved) { TURNSTILE } else { 0 };
        let (gates, n) = (access | turnstile, n as u32);
        match route {
            Route::Token => (TOKEN, gates, n, JsValue::UNDEFINED),
            Route::Proxy(target) => {
                // Defence in depth: whatever proxy_target allowed must parse to PROXY_ORIGIN.
                let api = parse_url(&target);
                if api.as_ref().map(|u| &u.origin) != cfg.proxy_origin.as_ref() {
                    return done(reply(&Reply::error(400, "bad_proxy_path", "the proxy path leaves PROXY_ORIGIN"), &cfg.cors_of(n as usize)));
                }
                let own = api.and_then(|u| cfg.token_route(&u.pathname, method)).map_or(DEPLOYMENT, |i| i as i32);
                (PROXY, gates, n, Array::of2(&JsValue::from_str(&target), &JsValue::from(own)).into())
            }
            r => {
                let name = match r {
                    Route::Login => "login",
                    Route::Callback => "callback",
                    Route::Logout => "logout",
                    _ => "session",
                };
                (SIGN_IN, gates, n, JsValue::from_str(name))
            }
        }
    }

    /// A refusal by a gate: `code` and why.
    pub fn refused(code: &str, why: &str) -> JsValue {
        reply(&gate::refused(code, why), &[])
    }

    /// Checks an Access token's header and claims (parsed JSON) at `mono`/`wall`: the `kid` of
    /// the key to verify it with, or throws why not.
    #[wasm_bindgen(js_name = accessClaims)]
    pub fn access_claims(&self, header: JsValue, claims: JsValue, mono: f64, wall: f64) -> Result<String, JsValue> {
        let access = self.cfg.as_ref().ok().and_then(|c| c.access.as_ref()).ok_or_else(|| JsValue::from_str("Access is not configured"))?;
        gate::access_claims(&to_value(&header, 4), &to_value(&claims, 4), access, now(mono, wall)).map_err(JsValue::from_str)
    }

    /// Whether to fetch the team's keys now ([`gate::jwks_stale`]); if so, the fetch is
    /// counted as started, and this is its URL.
    #[wasm_bindgen(js_name = keysStale)]
    pub fn keys_stale(&mut self, kid_known: bool, mono: f64) -> Option<String> {
        let access = self.cfg.as_ref().ok()?.access.as_ref()?;
        let now = Instant(mono as u64);
        gate::jwks_stale(self.keys_checked, self.keys_started, kid_known, now).then(|| {
            self.keys_started = Some(now);
            access.certs_url()
        })
    }

    /// The team's keys in the answer (`status`, parsed JSON `body`) fetched at `mono`:
    /// `[[kid, n, e], ...]`, or `undefined` to keep the old ones.
    #[wasm_bindgen(js_name = keysFetched)]
    pub fn keys_fetched(&mut self, status: u16, body: JsValue, mono: f64) -> JsValue {
        self.keys_checked = Some(Instant(mono as u64));
        match gate::access_keys(status, &to_value(&body, 3)) {
            None => JsValue::UNDEFINED,
            Some(keys) => keys.iter().map(|k| JsValue::from(Array::of3(&JsValue::from_str(&k.kid), &JsValue::from_str(&k.n), &JsValue::from_str(&k.e)))).collect::<Array>().into(),
        }
    }

    /// The siteverify request (`[url, body]`) for the widget token of a request: its
    /// `CF-Turnstile-Response` `header`, or for `/login` (`login`: a navigation, which sets
    /// no header) its `cf-turnstile-response` `query` value; or `[reply]`, the refusal when
    /// there is none to check.
    pub fn turnstile(&self, login: bool, header: Option<String>, query: Option<String>, ip: Option<String>) -> Array {
        let Some((cfg, t)) = self.cfg.as_ref().ok().and_then(|c| Some((c, c.turnstile.as_ref()?))) else { return Array::new() };
        let token = if login { query } else { header };
        match token.filter(|t| !t.is_empty() && t.len() <= 2048) {
            Some(token) => Array::of2(&JsValue::from_str(&t.verify_url), &JsValue::from_str(&gate::siteverify_body(t, &token, ip.as_deref()))),
            None => {
                let why = match cfg.broker_keys.is_empty() {
                    true => "send a Turnstile token (CF-Turnstile-Response)",
                    false => "send a Turnstile token (CF-Turnstile-Response) or a valid X-Broker-Key",
                };
                Array::of1(&reply(&gate::refused("turnstile_required", why), &[]))
            }
        }
    }

    /// What siteverify answered (`status`, parsed JSON `body`) for a request from `origin`
    /// to the broker at `host`: `undefined` if the widget passes, else the refusal.
    #[wasm_bindgen(js_name = turnstileVerdict)]
    pub fn turnstile_verdict(&self, status: u16, body: JsValue, origin: Option<String>, host: Option<String>) -> JsValue {
        let Ok(cfg) = &self.cfg else { return JsValue::UNDEFINED };
        let origin_host = origin.as_deref().and_then(parse_url).map(|u| u.hostname);
        let allowed: Vec<&str> = cfg.allowed_origins.iter().map(|o| gate::origin_host(o)).chain(host.as_deref()).collect();
        match gate::turnstile_verdict(status, &to_value(&body, 3), origin_host.as_deref(), &allowed) {
            Ok(()) => JsValue::UNDEFINED,
            Err(why) => reply(&gate::refused("turnstile_failed", why), &[]),
        }
    }

    /// The `PROXY_ROUTES` entry a token cache object's request names (its `route` query
    /// value), or [`DEPLOYMENT`]: the deployment's token.
    #[wasm_bindgen(js_name = cachedRoute)]
    pub fn cached_route(&self, query: Option<String>) -> i32 {
        let c = self.cfg.as_ref().ok().filter(|c| c.role == Role::TokenCache);
        c.and_then(|c| c.cached_route(query.as_deref())).map_or(DEPLOYMENT, |i| i as i32)
    }

    /// The broker contract's answer to a failed token request (a `TokenError`'s fields).
    #[wasm_bindgen(js_name = failureReply)]
    pub fn failure_reply(code: String, status: Option<u16>, error: Option<String>, retry_after: Option<f64>, message: String) -> JsValue {
        reply(&failure_reply(&failure(code, status, error, retry_after, message)), &[])
    }

    /// Whether an isolate asks upstream itself after the `TokenCache` object failed with `code`.
    #[wasm_bindgen(js_name = cacheFailed)]
    pub fn cache_failed(code: &str) -> bool {
        cache_failed_code(code)
    }

    /// The reply for what the shell could not reach or use: `kind` is a [`ShellFailure`]'s
    /// number (src/boundary.rs `failed`); any other, the API's.
    pub fn failed(kind: u8) -> JsValue {
        reply(&ShellFailure::from_number(kind).unwrap_or(ShellFailure::Api).reply(), &[])
    }

    /// Which of the request's headers (`names`, `\n`-separated) go on to the API: one byte
    /// each, 1 to forward. `connection`: its `Connection` header.
    pub fn forwarded(names: &str, connection: &str) -> Vec<u8> {
        names.split('\n').map(|n| u8::from(forward_header(n, connection))).collect()
    }

    /// Which of the API's response headers (`names`) reach the browser in an answer with
    /// `status`: one byte each, 1 to relay; `undefined` when the answer cannot be relayed.
    pub fn relayed(names: &str, status: u16) -> Option<Vec<u8>> {
        relayable_status(status).then(|| names.split('\n').map(|n| u8::from(relayed_header(n, status))).collect())
    }

    /// The header that carries `token` to the API: `[name, value]`.
    pub fn authorization(&self, token: &str) -> Array {
        let Ok(cfg) = &self.cfg else { return Array::new() };
        Array::of2(&JsValue::from_str(sign::header_name(&cfg.upstream)), &JsValue::from_str(&[sign::scheme(&cfg.upstream), token].concat()))
    }

    /// After the API answered 401 (`www`: its `WWW-Authenticate`) to a request with no body
    /// (`bodiless`), sent `replayed` once already: [`crate::boundary::after401`].
    #[wasm_bindgen(js_name = after401)]
    pub fn after_401(&self, www: Option<String>, bodiless: bool, replayed: bool) -> u8 {
        match after_401(self.dpop(), www.as_deref(), bodiless, replayed) {
            After401::Replay => after401::REPLAY,
            After401::Kept => after401::KEPT,
            After401::Refused => after401::REFUSED,
        }
    }

    // The sign-in's front (the edge): cookies, their MACs' inputs, and the replies.

    fn signin(&self) -> Option<(&BrokerConfig, &SignIn)> {
        let cfg = self.cfg.as_ref().ok()?;
        Some((cfg, &cfg.signin.as_ref()?.0))
    }

    /// The cookies' HMAC key (`SESSION_SECRET`), for WebCrypto.
    #[wasm_bindgen(js_name = sessionKey)]
    pub fn session_key(&self) -> Option<String> {
        self.signin()?.1.session_key.as_ref().map(|k| k.expose().to_owned())
    }

    /// The session id and MAC of the cookie of `kind` ([`crate::boundary::cookie`]) in
    /// `cookie`, or `undefined`.
    #[wasm_bindgen(js_name = sessionCookie)]
    pub fn session_cookie(cookie: Option<String>, kind: u8) -> Option<Array> {
        let (sid, mac) = bff::session_cookie(cookie.as_deref(), cookie_kind(kind))?;
        Some(Array::of2(&JsValue::from_str(sid), &JsValue::from_str(mac)))
    }

    /// What a cookie of `kind` for session `sid` carries the MAC of.
    #[wasm_bindgen(js_name = macInput)]
    pub fn mac_input(kind: u8, sid: &str) -> String {
        bff::mac_input(cookie_kind(kind), sid)
    }

    /// Whether `got` is the MAC `expected` (constant time).
    #[wasm_bindgen(js_name = macOk)]
    pub fn mac_ok(expected: &str, got: &str) -> bool {
        bff::mac_ok(expected, got)
    }

    /// `GET /login`'s request to the session object (`begin`), or its refusal (a return
    /// target or step-up that is not allowed).
    pub fn login(&self, return_to: Option<String>, acr_values: Option<String>, max_age: Option<String>, scope: Option<String>) -> Result<String, JsValue> {
        let (cfg, signin) = self.signin().ok_or_else(no_signin)?;
        let back = bff::return_target(return_to.as_deref(), &cfg.allowed_origins, &parse_url).map_err(|r| reply(&r, &[]))?;
        let configured = match &cfg.signin.as_ref().map(|(_, c)| &c.source) {
            Some(crate::proto::client::config::Source::Endpoint(ep)) => ep.scope.as_deref(),
            _ => None,
        };
        bff::begin_body(&back, acr_values.as_deref(), max_age.as_deref(), scope.as_deref(), signin, configured).map_err(|r| reply(&r, &[]))
    }

    /// `/login`'s answer: to the authorization server at `url`, with the pending cookie.
    #[wasm_bindgen(js_name = loginReply)]
    pub fn login_reply(url: &str, sid: &str, mac: &str) -> JsValue {
        reply(&no_store(302).with("Location", url.to_owned()).with("Set-Cookie", bff::set_cookie(CookieKind::Pending, sid, mac, bff::PENDING_TTL)), &[])
    }

    /// `/callback`'s answer once the object completed the sign-in (`body`, its answer) and
    /// the session cookie's MAC is `mac`; the pending cookie is cleared.
    #[wasm_bindgen(js_name = callbackReply)]
    pub fn callback_reply(body: &str, sid: &str, mac: &str) -> JsValue {
        let r = match bff::Completed::decode(body) {
            Some(done) => no_store(302)
                .with("Location", done.return_to)
                .with("Set-Cookie", bff::set_cookie(CookieKind::Session, sid, mac, done.max_age))
                .with("Set-Cookie", bff::clear_old_cookie()),
            None => Reply::error(502, "session_unavailable", "the session store answered out of contract"),
        };
        reply(&r.with("Set-Cookie", bff::clear_cookie(CookieKind::Pending)), &[])
    }

    /// `/callback`'s refusal `[status, headers, body]` (no sign-in cookie: `undefined`), with
    /// the pending cookie cleared.
    #[wasm_bindgen(js_name = callbackRefused)]
    pub fn callback_refused(status: Option<u16>, body: Option<String>) -> JsValue {
        let r = match (status, body) {
            (Some(status), Some(body)) => Reply { status, headers: Vec::new(), body },
            _ => bff::session_reply(&crate::proto::Error::StateMismatch { reason: "no sign-in cookie" }),
        };
        reply(&r.with("Set-Cookie", bff::clear_cookie(CookieKind::Pending)), &[])
    }

    /// `POST /logout`'s answer: the cookies removed; `revoked`: the server confirmed.
    #[wasm_bindgen(js_name = logoutReply)]
    pub fn logout_reply(revoked: bool) -> JsValue {
        let body = if revoked { "{\"signedOut\":true,\"revoked\":true}" } else { "{\"signedOut\":true,\"revoked\":false}" };
        reply(&no_store_body(200, body).with("Set-Cookie", bff::clear_cookie(CookieKind::Session)).with("Set-Cookie", bff::clear_old_cookie()), &[])
    }

    /// `GET /session`'s answer.
    #[wasm_bindgen(js_name = statusReply)]
    pub fn status_reply(signed_in: bool) -> JsValue {
        reply(&no_store_body(200, if signed_in { "{\"signedIn\":true}" } else { "{\"signedIn\":false}" }), &[])
    }

    /// The URL of session operation `op` (`begin`, `complete`, `token`, `status`, `refused`,
    /// `logout`) at the session object.
    #[wasm_bindgen(js_name = sessionUrl)]
    pub fn session_url(op: &str) -> String {
        let mut u = String::from(bff::SESSION_URL);
        u.push_str(op);
        u
    }
}

fn cookie_kind(kind: u8) -> CookieKind {
    if kind == cookie::PENDING { CookieKind::Pending } else { CookieKind::Session }
}

fn no_signin() -> JsValue {
    reply(&config_error_reply(&EnvError { var: "AUTHORIZE_URL", reason: "sign-in is not configured" }), &[])
}

fn no_store(status: u16) -> Reply {
    no_store_body(status, "")
}

fn no_store_body(status: u16, body: &str) -> Reply {
    Reply { status, headers: Vec::new(), body: body.to_owned() }.with("Cache-Control", "no-store")
}

/// A `UserSession` object's decisions: its configuration, the session's lifecycle
/// ([`UserSession`]) and its record. js/broker.js drives the sign-in client ([`Session::client`])
/// and the exchange clients with the one driver, and asks this what each operation does next.
#[wasm_bindgen(skip_typescript)]
pub struct Session {
    cfg: Result<(Config, Vec<Option<TokenTarget>>), EnvError>,
    ttl: Secs,
    dpop: JsValue,
    life: UserSession,
    /// The tokens the record held, until the client takes them up.
    restored: Option<crate::proto::client::machine::Snapshot>,
}

#[wasm_bindgen]
impl Session {
    /// A session object's state from the Worker's `env`, the views of its key secrets, and
    /// what storage held (`saved`: the record's text, or an older release's object) at `wall`.
    #[wasm_bindgen(constructor)]
    pub fn new(env: JsValue, client_key: JsValue, dpop_key: JsValue, saved: JsValue, mono: f64, wall: f64) -> Session {
        let get = getter(&env);
        let mut dpop = JsValue::UNDEFINED;
        let mut ttl = Secs(0);
        let cfg = BrokerConfig::from_env(Role::Session, &get, key_view(&client_key).as_ref(), &parse_url).and_then(|c| {
            // The session's tokens are used by the edge's isolates: one key, DPOP_KEY.
            dpop = dpop_keying(&c, &dpop_key, true)?;
            let targets = c.proxy_routes.iter().map(|r| r.token.clone()).collect();
            let (s, client) = c.signin.ok_or(EnvError { var: "AUTHORIZE_URL", reason: "is required for sign-in" })?;
            ttl = s.session_ttl;
            Ok((client, targets))
        });
        let saved = match saved.as_string() {
            Some(text) => js_sys::JSON::parse(&text).unwrap_or(JsValue::NULL),
            None => saved,
        };
        let (life, restored) = UserSession::restore(Record::decode(&to_value(&saved, 4)), now(mono, wall));
        Session { cfg, ttl, dpop, life, restored }
    }

    /// The sign-in client, holding what storage held (`undefined`: the configuration is
    /// broken; [`Session::error`] says how).
    pub fn client(&mut self, mono: f64, wall: f64) -> Option<Core> {
        let (cfg, _) = self.cfg.as_ref().ok()?;
        let mut core = client(cfg.clone());
        if let Some(t) = self.restored.take() {
            let taken = core.restore_snapshot(t, mono, wall);
            self.life.restored(taken);
        }
        Some(core)
    }

    /// The DPoP key's source (see `Broker.dpopKey`).
    #[wasm_bindgen(getter, js_name = dpopKey)]
    pub fn dpop_key(&self) -> JsValue {
        self.dpop.clone()
    }

    /// The reply for a broken configuration, or `undefined`.
    pub fn error(&self) -> JsValue {
        match &self.cfg {
            Err(e) => reply(&config_error_reply(e), &[]),
            Ok(_) => JsValue::UNDEFINED,
        }
    }

    /// The first step of operation `op` (the request's URL; `undefined`: the alarm) at
    /// `wall`, the client holding the user's tokens or not (`authorized`):
    /// - `[0, body]`: answer 200 with it;
    /// - `[1, reply]`: answer with the refusal;
    /// - `[2, returnTo, stepUp]`: begin a sign-in (`stepUp`: its options), then [`Session::begun`];
    /// - `[3, returnTo, state, verifier, nonce]`: complete it, then [`Session::completed`];
    /// - `[4]`: the user's token, then [`Session::token`];
    /// - `[5]`: the API refused the body's token: tell the clients;
    /// - `[6, reply]`: end the session (revoked), then answer with `reply` (`undefined`: 200,
    ///   `revoked` if the server confirmed).
    pub fn op(&mut self, op: Option<String>, mono: f64, wall: f64, authorized: bool, body: &str) -> Array {
        let op = match op {
            None => SessionOp::Expire,
            Some(url) => match SessionOp::from_url(&url) {
                Some(op) => op,
                None => return Array::of2(&JsValue::from(step::FAIL), &reply(&Reply::error(404, "not_found", "unknown session operation"), &[])),
            },
        };
        let n = |k: u8| JsValue::from(k);
        match self.life.op(op, now(mono, wall), authorized) {
            Next::Answer(b) => Array::of2(&n(step::ANSWER), &JsValue::from_str(&b)),
            Next::Fail(e) => Array::of2(&n(step::FAIL), &reply(&bff::session_reply(&e), &[])),
            Next::SignIn => {
                let (return_to, step) = bff::parse_begin(body);
                let o = js_sys::Object::new();
                let set = |k: &str, v: JsValue| {
                    let _ = js_sys::Reflect::set(&o, &JsValue::from_str(k), &v);
                };
                if let Some(s) = &step.scope {
                    set("scope", JsValue::from_str(s));
                }
                if let Some(a) = &step.acr_values {
                    set("acrValues", JsValue::from_str(a));
                }
                if let Some(m) = step.max_age {
                    set("maxAge", JsValue::from_f64(m as f64));
                }
                Array::of3(&n(step::SIGN_IN), &JsValue::from_str(&return_to), &o)
            }
            Next::Complete(p) => {
                let nonce = p.pending.nonce.as_deref().map_or(JsValue::UNDEFINED, JsValue::from_str);
                Array::of5(&n(step::COMPLETE), &JsValue::from_str(&p.return_to), &JsValue::from_str(&p.pending.state), &JsValue::from_str(&p.pending.verifier), &nonce)
            }
            Next::Token => Array::of1(&n(step::TOKEN)),
            Next::Refused => Array::of1(&n(step::REFUSED)),
            Next::End(then) => Array::of2(&n(step::END), &then.err().map_or(JsValue::UNDEFINED, |e| reply(&bff::session_reply(&e), &[]))),
        }
    }

    /// A sign-in began at `wall`: `[state, verifier, nonce]` is what its callback is checked against.
    pub fn begun(&mut self, return_to: String, state: String, verifier: String, nonce: Option<String>, mono: f64, wall: f64) {
        self.life.begun(crate::proto::signin::Pending { state, verifier, nonce }, return_to, now(mono, wall));
    }

    /// The code was redeemed by `client` at `wall`: the object's answer to the edge.
    pub fn completed(&mut self, client: &Core, return_to: String, mono: f64, wall: f64) -> String {
        let (expires, refreshable) = client.session_expiry(mono, wall);
        self.life.completed(return_to, now(mono, wall), self.ttl, expires, refreshable).encode()
    }

    /// What the user's token request came to (`id`, the token's; `code`, a failure's):
    /// [`crate::boundary::verdict`].
    pub fn token(&mut self, id: Option<f64>, code: Option<String>) -> u8 {
        let r = match (id, code.as_deref()) {
            (Some(id), _) => Ok(crate::proto::client::response::TokenId(id as u64)),
            (None, Some("LOGIN_REQUIRED")) => Err(crate::proto::Error::LoginRequired { reason: "" }),
            (None, _) => Err(crate::proto::Error::Disposed),
        };
        match self.life.token_result(r.as_ref().copied()) {
            TokenVerdict::Serve => verdict::SERVE,
            TokenVerdict::Fail => verdict::FAIL,
            TokenVerdict::End => verdict::END,
        }
    }

    /// The session was ended: nothing is held or kept.
    pub fn ended(&mut self) {
        self.life.ended();
    }

    /// The record to write, if storage is behind the session (`client`: what it holds):
    /// `[text, deleteAt]`, `text` null to delete it all; `undefined`: nothing to write.
    pub fn record(&mut self, client: &mut Core, mono: f64, wall: f64) -> Option<Array> {
        if !self.life.behind() {
            return None;
        }
        let tokens = client.snapshot_of(mono, wall);
        let record = self.life.take_record(tokens)?;
        let text = record.encode().map_or(JsValue::NULL, |t| JsValue::from_str(&t));
        let delete_at = record.delete_at().map_or(JsValue::UNDEFINED, |x| JsValue::from_f64(x.0 as f64));
        Some(Array::of2(&text, &delete_at))
    }

    /// The token exchange client (RFC 8693) of route `route` for this session's user, from the
    /// sign-in client as it stands (its endpoints discovered); throws for a route that names
    /// no token of its own.
    #[wasm_bindgen(js_name = exchangeClient)]
    pub fn exchange_client(&self, client: &Core, route: u32) -> Result<Core, JsValue> {
        let target = self.cfg.as_ref().ok().and_then(|(_, t)| t.get(route as usize)?.as_ref());
        let target = target.ok_or_else(|| super::convert::js_error(&crate::proto::Error::config("PROXY_ROUTES", "this entry names no token of its own")))?;
        let cfg = client.config_for_exchange(target).ok_or_else(|| super::convert::js_error(&crate::proto::Error::Disposed))?;
        Ok(self::client(cfg))
    }

    /// A session failure's reply (a `TokenError`'s fields).
    #[wasm_bindgen(js_name = failureReply)]
    pub fn failure_reply(code: String, status: Option<u16>, error: Option<String>, retry_after: Option<f64>, message: String) -> JsValue {
        reply(&bff::session_failure_reply(&failure(code, status, error, retry_after, message)), &[])
    }
}
