//! The exported `TokenBroker` (Worker build, cargo feature `broker`): the edge token broker.
//!
//! One broker per isolate. Tokens come from the same state machine as `TokenClient` in its
//! Workers mode (single flight, retries, validation, no timers that outlive a request, each
//! waiter waiting in its own request), driven here from Rust (src/wasm/client.rs) rather than by
//! js/shell.js. The request that starts a
//! token fetch hands it to `ctx.waitUntil`, so the fetch completes for every waiter even if
//! that request's caller goes away.

#[allow(unused_imports)]
use crate::prelude::*;

use alloc::rc::Rc;
use core::cell::RefCell;

use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::{Request, Response};

use crate::proto::Error;
use crate::proto::broker::config::{config_error_reply, listed_origins, misconfigured, BrokerConfig, EnvError, Role};
use crate::proto::broker::contract::upstream_reply;
use crate::proto::broker::rate::{client_key, rate_limited_reply, rate_verdict, RateLimiter};
use crate::proto::broker::route::{after_401, forward_header, After401, Incoming, Route};
use crate::proto::broker::{cache_failed, health_reply, relayable_status, relayed_header, token_reply, CacheKind, REFUSED_HEADER};
use crate::proto::client::request::Runtime;
use crate::proto::client::response::TokenSet;
use crate::proto::client::sign;
use crate::proto::http::Reply;
use super::bff::Front;
use super::client::{ready, token, DpopSource, Inner};
use super::convert::parse_url;
use super::gate::{Gates, Pass};
use super::js;

#[wasm_bindgen(module = "/js/broker.js")]
extern "C" {
    fn describe(request: &Request) -> Array;
    /// The first value of query parameter `name` of `url`, form-decoded.
    #[wasm_bindgen(js_name = queryValue)]
    fn query_value(url: &str, name: &str) -> Option<String>;
    #[wasm_bindgen(js_name = rateBinding)]
    fn rate_binding(env: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = rateLimit)]
    fn rate_limit(binding: &JsValue, key: &str) -> Promise;
    #[wasm_bindgen(js_name = tokenCacheFetch)]
    fn token_cache_fetch(env: &JsValue, name: &str) -> Option<Function>;
    fn entries(request: &Request) -> Array;
    fn reply(status: u16, headers: &str, body: &str) -> Response;
    #[wasm_bindgen(catch)]
    fn forward(fetch: Option<Function>, request: &Request, url: &str, headers: &Array) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch)]
    fn relay(response: &Response, extra: &str, dropped: &str) -> Result<Response, JsValue>;
    #[wasm_bindgen(js_name = headerNames)]
    fn header_names(response: &Response) -> Array;
    /// Releases a response's body that will not be read.
    fn discard(response: &Response);
    #[wasm_bindgen(js_name = keyView)]
    fn key_view(env: &JsValue, name: &str) -> JsValue;
}

/// The core's view of the private JWK in secret `name` (its public members, `alg`, `kid`,
/// `d: true`): `None` when it is not set, an empty string (refused by name) when it is not
/// a JSON object. The private members stay in JavaScript, for WebCrypto.
pub(super) fn secret_key_view(env: &JsValue, name: &str) -> Option<crate::proto::value::Value> {
    let view = key_view(env, name);
    match view.is_null() {
        true => Some(crate::proto::value::Value::Str(String::new())),
        false => (!view.is_undefined()).then(|| super::convert::to_value(&view, 1)),
    }
}

/// The DPoP key source of an object whose configuration is `cfg` (`None` without DPoP):
/// the `DPOP_KEY` secret, or a key of this isolate's own. `shared`: its tokens are used in
/// other isolates too (see [`BrokerConfig::dpop_keying`]).
pub(super) fn dpop_source(cfg: &BrokerConfig, env: &JsValue, shared: bool) -> Result<Option<DpopSource>, EnvError> {
    let import = cfg.dpop_keying(secret_key_view(env, "DPOP_KEY").as_ref(), shared)?;
    Ok(cfg.dpop().then(|| DpopSource { env: env.clone(), import }))
}

/// The edge token broker: `new TokenBroker(env)`, then `broker.handle(request, ctx)`.
#[wasm_bindgen(skip_typescript)]
pub struct TokenBroker {
    inner: Rc<Broker>,
}

struct Broker {
    cfg: Result<Rc<BrokerConfig>, EnvError>,
    /// With a broken configuration: the origins `ALLOWED_ORIGINS` lists, who may read why.
    listed: Vec<String>,
    /// This isolate's own token client for the upstream endpoint.
    tokens: Option<Rc<Inner>>,
    /// With a `TOKEN_CACHE` Durable Object binding: a broker-contract client of the
    /// deployment's one token (the object single-flights the upstream request), whose copy
    /// is kept here for the token's remaining life. `tokens` serves if the object cannot.
    shared: Option<Rc<Inner>>,
    /// This isolate's own rate limit buckets: the limit without a `RATE_LIMITER` binding,
    /// or when it fails.
    limiter: RefCell<RateLimiter>,
    /// Cloudflare's Rate Limiting binding (`RATE_LIMITER`), shared by the isolates of a
    /// location; `undefined` without one.
    rate: JsValue,
    /// The `SESSIONS` Durable Object namespace (`UserSession`), for signing users in.
    sessions: JsValue,
    /// The Access keys this isolate holds.
    gates: Gates,
    /// The Worker's env: the bindings and secrets the route clients below need.
    env: JsValue,
    /// The tokens of the `PROXY_ROUTES` entries that name their own (down-scoped per API),
    /// made on first use: `(route, this isolate's client, the deployment's through the
    /// TOKEN_CACHE object of its credential set)`.
    routes: RefCell<Vec<RouteTokens>>,
}

/// A route's own token clients: `(route, this isolate's, the deployment's object's)`.
type RouteTokens = (usize, Rc<Inner>, Option<Rc<Inner>>);

impl TokenBroker {
    fn with_role(role: Role, env: &JsValue) -> TokenBroker {
        let get = |k: &str| js_sys::Reflect::get(env, &JsValue::from_str(k)).ok().and_then(|v| v.as_string());
        let edge = role == Role::Edge;
        // Bindings too belong to a role: only the edge has sessions, a shared cache and a limiter.
        let binding = |name: &str| match edge {
            true => js_sys::Reflect::get(env, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED),
            false => JsValue::UNDEFINED,
        };
        let sessions = binding("SESSIONS");
        let shared_bound = binding("TOKEN_CACHE").is_object();
        let mut dpop = None;
        let cfg = BrokerConfig::from_env(role, &get, secret_key_view(env, "CLIENT_KEY").as_ref(), &parse_url).and_then(|c| match (c.signs_in(), sessions.is_object()) {
            (true, false) => Err(EnvError { var: "SESSIONS", reason: "sign-in needs the UserSession Durable Object bound as SESSIONS" }),
            _ => {
                dpop = dpop_source(&c, env, shared_bound)?;
                Ok(Rc::new(c))
            }
        });
        let tokens = cfg.as_ref().ok().map(|c| Inner::new(c.upstream.clone(), None, Runtime::Workerd));
        if let Some(t) = &tokens {
            *t.dpop.borrow_mut() = dpop;
            *t.key_env.borrow_mut() = env.clone();
        }
        let shared = cfg.as_ref().ok().filter(|_| edge).and_then(|c| {
            let fetch = token_cache_fetch(env, &c.credential_set())?;
            let shared = c.shared_cache_config(None, &parse_url).ok()?;
            Some(Inner::new(shared, Some(fetch), Runtime::Workerd))
        });
        let rate = if edge { rate_binding(env) } else { JsValue::UNDEFINED };
        let listed = if edge && cfg.is_err() { listed_origins(&get, &parse_url) } else { Vec::new() };
        let (env, routes) = (env.clone(), RefCell::new(Vec::new()));
        TokenBroker { inner: Rc::new(Broker { cfg, listed, tokens, shared, limiter: RefCell::new(RateLimiter::default()), rate, sessions, gates: Gates::default(), env, routes }) }
    }
}

#[wasm_bindgen]
impl TokenBroker {
    /// The Worker's fetch handler. Reads the configuration from the Worker's `env`; never
    /// throws (a bad configuration answers every request with 500 naming the variable).
    #[wasm_bindgen(constructor)]
    pub fn new(env: JsValue) -> TokenBroker {
        TokenBroker::with_role(Role::Edge, &env)
    }

    /// The `TokenCache` Durable Object's broker: the upstream client and `POST /token` only.
    #[wasm_bindgen(js_name = tokenCache)]
    pub fn token_cache(env: JsValue) -> TokenBroker {
        TokenBroker::with_role(Role::TokenCache, &env)
    }

    /// Answers one request. A cached token, CORS and errors are answered without the
    /// future machinery (an already-resolved promise); a token being fetched and the proxy
    /// wait.
    pub fn handle(&self, request: Request, ctx: JsValue) -> Promise {
        let broker = self.inner.clone();
        let d = describe(&request);
        let client = d.get(5).as_string().unwrap_or_else(|| "*".to_owned());
        if broker.rate.is_undefined() || broker.cfg.is_err() {
            return broker.serve(request, &d, &client, None, ctx);
        }
        // The binding is asked first (keyed like the buckets: CF-Connecting-IP, IPv6 by /64);
        // it answers true, false, or null when it failed (then the isolate's buckets decide).
        let asked = rate_limit(&broker.rate, &client_key(&client));
        future_to_promise(async move {
            let verdict = JsFuture::from(asked).await.ok().and_then(|v| v.as_bool());
            JsFuture::from(broker.serve(request, &d, &client, verdict, ctx)).await
        })
    }
}

impl Broker {
    /// Answers `request` once the rate limit binding (if any) gave its `verdict`: routes
    /// it, passes it through the configured gates (Access, Turnstile), and serves it.
    fn serve(self: &Rc<Self>, request: Request, d: &Array, client: &str, verdict: Option<bool>, ctx: JsValue) -> Promise {
        let step = self.route(d, client, verdict);
        let (origin, key) = (d.get(2).as_string(), d.get(3).as_string());
        let gated = match (&self.cfg, step.route()) {
            (Ok(cfg), Some(route)) if Gates::apply(cfg, &route, key.as_deref()) => Some((cfg.clone(), route)),
            _ => None,
        };
        let Some((cfg, route)) = gated else { return self.run(step, request, ctx) };
        let broker = self.clone();
        let (url, ip) = (d.get(1).as_string().unwrap_or_default(), d.get(5).as_string());
        future_to_promise(async move {
            let header = |n: &str| request.headers().get(n).ok().flatten();
            let turnstile = match route {
                Route::Login => query_value(&url, "cf-turnstile-response"),
                _ => header("cf-turnstile-response"),
            };
            let pass = Pass {
                route: &route,
                access_jwt: header("cf-access-jwt-assertion"),
                origin: origin.as_deref(),
                broker_key: key.as_deref(),
                turnstile,
                ip: ip.as_deref(),
                host: parse_url(&url).map(|u| u.hostname),
            };
            if let Err(r) = broker.gates.check(&cfg, pass).await {
                return Ok(respond(r, step.cors()).into());
            }
            JsFuture::from(broker.run(step, request, ctx)).await
        })
    }

    /// Serves a routed (and admitted) request.
    fn run(self: &Rc<Self>, step: Step, request: Request, ctx: JsValue) -> Promise {
        let broker = self.clone();
        let now = |resp: Response| Promise::resolve(&JsValue::from(resp));
        match step {
            Step::Done(resp) => now(resp),
            Step::Token(cors) => {
                // Only the token cache's object hands on DPoP-bound tokens (to its isolates).
                let dpop = broker.cfg.as_ref().is_ok_and(|c| c.dpop());
                // A token cache object asked for a route's own token (`?route=<index>`).
                let object = broker.cfg.as_ref().ok().filter(|c| c.role == Role::TokenCache);
                let route = object.and_then(|c| c.cached_route(query_value(&request.url(), "route").as_deref()));
                // An isolate says an API refused the token this object gave it.
                if let (Some(cfg), Some(refused)) = (object, request.headers().get(REFUSED_HEADER).ok().flatten()) {
                    let holder = match route {
                        Some(i) => broker.route_tokens(cfg, i).map(|(own, _)| own),
                        None => broker.tokens.clone(),
                    };
                    if let Some(h) = holder {
                        h.refused_elsewhere(&refused);
                    }
                }
                if let (Some(i), Ok(cfg)) = (route, &broker.cfg) {
                    let cfg = cfg.clone();
                    return future_to_promise(async move { Ok(token_response(broker.token_for(&cfg, Some(i), &ctx).await.map(|(t, _)| t), dpop, &cors).into()) });
                }
                match broker.shared.as_ref().or(broker.tokens.as_ref()).map(|t| ready(t, &ctx)) {
                    Some(Ok(Ok(t))) => now(token_response(Ok(t), dpop, &cors)),
                    Some(Ok(Err(e))) if broker.shared.is_none() => now(token_response(Err(e), dpop, &cors)),
                    _ => future_to_promise(async move { Ok(token_response(broker.token(&ctx).await, dpop, &cors).into()) }),
                }
            }
            Step::Proxy(cfg, target, cors) => future_to_promise(async move {
                Ok(broker.proxy_response(&cfg, &request, &target, &cors, &ctx).await.into())
            }),
            Step::SignIn(cfg, route, url, cookie, cors) => future_to_promise(async move {
                let Some(front) = broker.front(&cfg) else { return Ok(respond(config_error_reply(&NO_SIGNIN), &cors).into()) };
                let cookie = cookie.as_deref();
                let r = match route {
                    Route::Login => {
                        let step = [query_value(&url, "acr_values"), query_value(&url, "max_age"), query_value(&url, "scope")];
                        front.login(query_value(&url, "return_to"), step, cookie).await
                    }
                    Route::Callback => front.callback(&url, cookie).await,
                    Route::Logout => front.logout(cookie).await,
                    _ => front.status(cookie).await,
                };
                Ok(respond(r, &cors).into())
            }),
        }
    }
}

impl Step {
    /// The route a step serves (`None`: answered already).
    fn route(&self) -> Option<Route> {
        match self {
            Step::Done(_) => None,
            Step::Token(_) => Some(Route::Token),
            Step::Proxy(_, target, _) => Some(Route::Proxy(target.clone())),
            Step::SignIn(_, route, ..) => Some(route.clone()),
        }
    }

    fn cors(&self) -> &[(&'static str, String)] {
        match self {
            Step::Done(_) => &[],
            Step::Token(cors) | Step::Proxy(.., cors) | Step::SignIn(.., cors) => cors,
        }
    }
}

/// What [`Broker::route`] leaves to do.
enum Step {
    Done(Response),
    Token(Vec<(&'static str, String)>),
    Proxy(Rc<BrokerConfig>, String, Vec<(&'static str, String)>),
    /// A sign-in route: the route, the request's URL and cookie.
    SignIn(Rc<BrokerConfig>, Route, String, Option<String>, Vec<(&'static str, String)>),
}

fn token_response(r: Result<TokenSet, Error>, dpop: bool, cors: &[(&'static str, String)]) -> Response {
    match r {
        Ok(t) => respond(token_reply(&t, dpop, js::now().mono), cors),
        Err(e) => respond(upstream_reply(&e), cors),
    }
}

pub(super) fn respond(r: Reply, cors: &[(&'static str, String)]) -> Response {
    reply(r.status, &lines(r.headers.iter().chain(cors)), &r.body)
}

/// Headers as one string, `name\nvalue\n...`, for js/broker.js: one string crossing instead
/// of two per header. A pair holding a newline (never a valid header) is left out.
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

impl Broker {
    /// Routes `request` (the core decides); answers at once unless it needs the token or the API.
    fn route(&self, d: &Array, client: &str, verdict: Option<bool>) -> Step {
        let s = |i: u32| d.get(i).as_string();
        let (method, url) = (s(0).unwrap_or_default(), s(1).unwrap_or_default());
        let (origin, key, request_headers, csrf) = (s(2), s(3), s(4), s(7));
        let cfg = match &self.cfg {
            Ok(c) => c.clone(),
            Err(e) => return Step::Done(respond(misconfigured(e, &self.listed, &method, origin.as_deref(), request_headers.as_deref()), &[])),
        };
        let cors = cfg.cors_headers(origin.as_deref());
        let limiter = &mut self.limiter.borrow_mut();
        if let Err(secs) = rate_verdict(verdict, limiter, client, cfg.rate_per_minute, js::now().mono) {
            return Step::Done(respond(rate_limited_reply(secs), &cors));
        }
        // The path exactly as received: after "scheme://authority", before "?".
        let after = url.split_once("://").map_or("", |(_, rest)| rest);
        let path_query = after.find('/').and_then(|i| after.get(i..)).unwrap_or("/");
        let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
        let incoming = Incoming {
            method: &method,
            path,
            query,
            origin: origin.as_deref(),
            broker_key: key.as_deref(),
            request_headers: request_headers.as_deref(),
            csrf: csrf.as_deref(),
        };
        match cfg.route(&incoming) {
            Err(r) => Step::Done(respond(r, &cors)),
            Ok(Route::Health) => {
                let cache = if self.shared.is_some() { CacheKind::DurableObject } else { CacheKind::Isolate };
                Step::Done(respond(health_reply(cache, !self.rate.is_undefined(), cfg.rate_per_minute), &cors))
            }
            Ok(Route::Token) => Step::Token(cors),
            Ok(r @ (Route::Login | Route::Callback | Route::Logout | Route::Session)) => {
                Step::SignIn(cfg, r, url.clone(), s(6), cors)
            }
            Ok(Route::Proxy(target)) => {
                // Defence in depth: whatever proxy_target allowed must parse to PROXY_ORIGIN.
                let same = parse_url(&target).map(|u| u.origin) == cfg.proxy_origin.clone();
                if !same {
                    return Step::Done(respond(
                        Reply::error(400, "bad_proxy_path", "the proxy path leaves PROXY_ORIGIN"),
                        &cors,
                    ));
                }
                Step::Proxy(cfg, target, cors)
            }
        }
    }

    async fn proxy_response(
        &self,
        cfg: &BrokerConfig,
        request: &Request,
        target: &str,
        cors: &[(&'static str, String)],
        ctx: &JsValue,
    ) -> Response {
        let unavailable = || respond(Reply::error(502, "api_unavailable", "the API could not be reached"), cors);
        match self.proxy(cfg, request, target, ctx).await {
            Ok(resp) if relayable_status(resp.status()) => {
                // The API's headers that would act as the broker origin's own are dropped.
                let mut dropped = String::new();
                let status = resp.status();
                for name in header_names(&resp).iter().filter_map(|n| n.as_string()).filter(|n| !relayed_header(n, status)) {
                    dropped.push_str(&name);
                    dropped.push('\n');
                }
                relay(&resp, &lines(cors.iter()), &dropped).unwrap_or_else(|_| {
                    discard(&resp);
                    unavailable()
                })
            }
            Ok(resp) => {
                discard(&resp);
                unavailable()
            }
            Err(Some(r)) => respond(r, cors),
            Err(None) => unavailable(),
        }
    }

    /// The deployment's token (through the Durable Object), else this isolate's own: when
    /// the object cannot be reached or fails, the isolate asks upstream itself.
    async fn token(&self, ctx: &JsValue) -> Result<TokenSet, Error> {
        self.token_from(self.shared.as_ref(), self.tokens.as_ref(), ctx).await.map(|(t, _)| t)
    }

    /// A token from the `shared` client (a TOKEN_CACHE object's) if there is one and it can
    /// be reached, else from `own`; and the client it came from.
    async fn token_from(&self, shared: Option<&Rc<Inner>>, own: Option<&Rc<Inner>>, ctx: &JsValue) -> Result<(TokenSet, Rc<Inner>), Error> {
        if let Some(shared) = shared {
            match token(shared, ctx).await {
                Ok(t) => return Ok((t, shared.clone())),
                Err(e) if cache_failed(&e) => {}
                Err(e) => return Err(e),
            }
        }
        let own = own.ok_or(Error::Disposed)?;
        token(own, ctx).await.map(|t| (t, own.clone()))
    }

    /// The clients of route `i`'s own token (this isolate's, and the deployment's through
    /// its TOKEN_CACHE object when the edge has the binding), made on first use.
    fn route_tokens(&self, cfg: &BrokerConfig, i: usize) -> Option<(Rc<Inner>, Option<Rc<Inner>>)> {
        if let Some((_, own, shared)) = self.routes.borrow().iter().find(|(r, ..)| *r == i) {
            return Some((own.clone(), shared.clone()));
        }
        let own = Inner::new(cfg.route_client(i)?, None, Runtime::Workerd);
        *own.dpop.borrow_mut() = self.tokens.as_ref().and_then(|t| t.dpop.borrow().clone());
        *own.key_env.borrow_mut() = self.env.clone();
        let shared = match cfg.role {
            Role::Edge => cfg.route_credential_set(i).and_then(|name| {
                let fetch = token_cache_fetch(&self.env, &name)?;
                Some(Inner::new(cfg.shared_cache_config(Some(i), &parse_url).ok()?, Some(fetch), Runtime::Workerd))
            }),
            _ => None,
        };
        self.routes.borrow_mut().push((i, own.clone(), shared.clone()));
        Some((own, shared))
    }

    /// The token a call takes: route `i`'s own (through its object when there is one, else
    /// this isolate's), or the deployment's; and the route it came from.
    async fn token_for(&self, cfg: &BrokerConfig, route: Option<usize>, ctx: &JsValue) -> Result<(TokenSet, Rc<Inner>), Error> {
        match route.and_then(|i| self.route_tokens(cfg, i)) {
            Some((own, shared)) => self.token_from(shared.as_ref(), Some(&own), ctx).await,
            None => self.token_from(self.shared.as_ref(), self.tokens.as_ref(), ctx).await,
        }
    }

    /// The sign-in half, when the broker signs users in.
    fn front<'a>(&'a self, cfg: &'a BrokerConfig) -> Option<Front<'a>> {
        let (signin, _) = cfg.signin.as_ref()?;
        Some(Front { sessions: &self.sessions, cfg, signin })
    }

    /// Forwards the request with the token (the signed-in user's, in sign-in mode, else
    /// the broker's own); `Err(None)` when the API is unreachable.
    async fn proxy(
        &self,
        cfg: &BrokerConfig,
        request: &Request,
        target: &str,
        ctx: &JsValue,
    ) -> Result<Response, Option<Reply>> {
        let front = self.front(cfg);
        // A route that names its own token (audience, resource, scope) gets it: exchanged
        // for the user's in sign-in mode (RFC 8693), else client credentials of its own.
        let api = parse_url(target);
        let method = request.method();
        let route = api.as_ref().and_then(|u| cfg.token_route(&u.pathname, &method));
        let (name, value, used) = match &front {
            Some(front) => {
                let cookie = request.headers().get("cookie").ok().flatten();
                let (sid, t) = front.user_token(cookie.as_deref(), route).await.map_err(Some)?;
                ("Authorization", [sign::scheme(&cfg.upstream), &t].concat(), Used::User(sid, t))
            }
            None => {
                let (t, holder) = self.token_for(cfg, route, ctx).await.map_err(|e| Some(upstream_reply(&e)))?;
                let (name, value) = sign::authorization(&cfg.upstream, &t);
                (name, value, Used::Broker(t.id, holder, t.access_token))
            }
        };
        let connection = request.headers().get("connection").ok().flatten().unwrap_or_default();
        let headers = Array::new();
        for pair in entries(request).iter() {
            let pair = Array::from(&pair);
            let name = pair.get(0).as_string().unwrap_or_default();
            if forward_header(&name, &connection) {
                headers.push(&pair);
            }
        }
        headers.push(&Array::of2(&JsValue::from_str(name), &JsValue::from_str(&value)));
        // With DPoP, each send carries a fresh proof of this isolate's key for the API's
        // method and URL (no query), with `ath` of the token attached and the API's nonce.
        let dpop = cfg.dpop();
        let prover = self.tokens.as_ref().filter(|_| dpop);
        let ath = match (&prover, &used) {
            (None, _) => None,
            (Some(_), Used::User(_, t)) => Some(t.clone()),
            (Some(_), Used::Broker(_, _, t)) => Some(t.expose().to_owned()),
        };
        let ath = match ath {
            Some(t) => Some(js_sys::Uint8Array::new(&JsFuture::from(super::signin::sha256(&t)).await.map_err(|_| None)?).to_vec()),
            None => None,
        };
        let mut replayed = false;
        loop {
            let sent_headers = headers.slice(0, headers.length());
            if let (Some(prover), Some(api), Some(ath)) = (prover, &api, &ath) {
                let proof = prover
                    .dpop_proof(|m, jti, wall| m.resource_proof(&method, &api.origin, &api.pathname, Some(ath), wall, jti))
                    .await
                    .map_err(|e| Some(upstream_reply(&e)))?;
                if let Some(p) = proof {
                    sent_headers.push(&Array::of2(&JsValue::from_str("DPoP"), &JsValue::from_str(&p)));
                }
            }
            let sent = forward(None, request, target, &sent_headers).map_err(|_| None)?;
            let resp = JsFuture::from(sent).await.map_err(|_| None)?;
            let resp: Response = resp.unchecked_into();
            let header = |n: &str| resp.headers().get(n).ok().flatten();
            // The API's nonce, whatever the status (RFC 9449 §8.2), for its next proof.
            if let (Some(prover), Some(api), Some(nonce)) = (prover, &api, header("dpop-nonce")) {
                prover.take_nonce(&api.origin, &nonce);
            }
            if resp.status() != 401 {
                return Ok(resp);
            }
            let www = header("www-authenticate");
            match after_401(dpop, www.as_deref(), matches!(method.as_str(), "GET" | "HEAD"), replayed) {
                After401::Replay => replayed = true,
                After401::Kept => return Ok(resp),
                After401::Refused => {
                    // The token's holder drops it if the API refused it (the next caller gets a
                    // fresh one); the caller's body is streamed, so there is no replay here.
                    match (&used, &front) {
                        (Used::Broker(id, holder, token), _) => {
                            // Its holder drops it; a token from a TOKEN_CACHE object is named to
                            // that object on this isolate's next request, and dropped there too.
                            holder.refused(*id, www.as_deref(), false);
                            if !holder.holds(*id) {
                                holder.tell_refused(token);
                            }
                        }
                        (Used::User(sid, t), Some(front)) => front.refused(sid, t).await,
                        _ => {}
                    }
                    return Ok(resp);
                }
            }
        }
    }
}

/// Whose token a proxied call carried.
enum Used {
    /// The broker's own: its id, the client it came from, and the token.
    Broker(crate::proto::client::response::TokenId, Rc<Inner>, crate::proto::AccessToken),
    /// The signed-in user's: the session and the token.
    User(String, String),
}

/// Sign-in is configured but this build cannot use it (never: the broker build signs in).
const NO_SIGNIN: EnvError = EnvError { var: "AUTHORIZE_URL", reason: "sign-in is not configured" };
