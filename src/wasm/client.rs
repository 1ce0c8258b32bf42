//! The exported `TokenClient` class: a translator between JavaScript and
//! [`crate::proto::client::machine::Machine`], which makes every decision.
//!
//! The shell feeds the machine inputs with the time, then [`drive`]s its actions: sends
//! and aborts token requests, wakes waiters, emits events, and (outside Workers) arms one
//! timer for the machine's next deadline. It holds no state of its own beyond the handles
//! the machine's actions point to. It never holds a `RefCell` borrow across an `.await`
//! (wasm-bindgen #4440) nor while calling into JavaScript (listeners, a custom `fetch`,
//! `abort()`, a waiter's `resolve`), so re-entrant calls are safe.

#[allow(unused_imports)]
use crate::prelude::*;

use alloc::rc::{Rc, Weak};
use core::cell::RefCell;

use js_sys::{Array, Function, Promise, Set};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, spawn_local, JsFuture};
use web_sys::{AbortController, Headers};

use crate::proto::client::presets::{PresetSpec, API_KEY, GENERIC, SYMBL, SYPHT};
use crate::proto::client::machine::{Action, AttemptId, FlightId, Get, Machine, Outcome};
use crate::proto::client::request::Runtime;
use crate::proto::client::response::{TokenId, TokenSet};
use crate::proto::client::sign::{self, Plan};
use crate::proto::http::{Body, HttpResponse};
use crate::proto::time::Instant;
use crate::proto::{Config, Error};
use super::convert::{js_error, js_error_with, parse_url, to_value, token_info};
use super::js;
use super::timer::Timer;

/// A token client: fetches, caches, refreshes and attaches access tokens.
#[wasm_bindgen(skip_typescript)]
pub struct TokenClient {
    pub(super) inner: Rc<Inner>,
}

pub(super) struct Inner {
    pub(super) st: RefCell<Shell>,
    /// What the shell's `getToken()`, `fetch()` and `sign()` may use without entering wasm:
    /// `{ t, v, i, u }`, the token, the header value that carries it, its id, and the
    /// monotonic ms before which the machine would answer with it and change nothing
    /// ([`Machine::serving`]). Rewritten after every machine input; reachable from JS only
    /// through `__cell()`, which shell.js keeps in a module-private WeakMap.
    cell: js_sys::Object,
    on_token: Set,
    on_expired: Set,
    on_error: Set,
    /// The other tabs' channel and the wake-up listeners (the sign-in build, in a browser).
    #[cfg(feature = "signin")]
    pub(super) tabs: RefCell<Option<super::signin::Tabs>>,
    /// Where this client's DPoP key comes from (the broker with `DPOP=true`), if it signs
    /// proofs: js/broker.js `dpopKey` holds the key in WebCrypto, once per isolate.
    pub(super) dpop: RefCell<Option<DpopSource>>,
    /// The Worker's env, whose `CLIENT_KEY` secret js/broker.js imports (once per isolate)
    /// to sign this client's assertions (`CLIENT_AUTH=private_key_jwt`).
    pub(super) key_env: RefCell<JsValue>,
    /// A TOKEN_CACHE object's client: the token an API refused, named to the object in
    /// [`REFUSED_HEADER`](crate::proto::broker::REFUSED_HEADER) on each request until the
    /// object has answered one.
    refused: RefCell<Option<crate::proto::AccessToken>>,
}

/// The broker's DPoP key: the Worker's env (js/broker.js reads the `DPOP_KEY` secret from
/// it, never wasm) and the WebCrypto algorithm to import that secret with, or `None` for a
/// key made in this isolate ([`crate::proto::broker::config::BrokerConfig::dpop_keying`]).
#[derive(Clone)]
pub(super) struct DpopSource {
    pub(super) env: JsValue,
    pub(super) import: Option<(&'static str, &'static str)>,
}

#[wasm_bindgen(module = "/js/broker.js")]
extern "C" {
    #[wasm_bindgen(js_name = dpopKey)]
    fn dpop_key(env: &JsValue, name: &str, param: &str) -> Promise;
    #[wasm_bindgen(js_name = clientAssertion)]
    fn client_assertion(env: &JsValue, name: &str, param: &str, alg: &str, input: &str) -> Promise;
}

#[wasm_bindgen(module = "/js/jws.js")]
extern "C" {
    #[wasm_bindgen(js_name = sign)]
    fn sign_proof(key: &JsValue, alg: &str, input: &str) -> Promise;
}

pub(super) struct Shell {
    pub(super) m: Machine,
    pub(super) fetch: Option<Function>,
    /// The abort handle of the attempt the machine last sent.
    sending: Option<(AttemptId, AbortController)>,
    /// `resolve` of each waiter's own promise, called on [`Action::Wake`].
    waiters: Vec<Function>,
    /// The armed timer and what it was armed for (re-armed only when that changes).
    timer: Option<(Timer, Instant, bool)>,
    /// What the platform said when the last token request could not be sent (the `cause`
    /// of a `NETWORK` error), if it does not contain the secret.
    cause: JsValue,
    /// What the fast-path cell last said (`None`: nothing to serve), so it is rewritten,
    /// and the token copied into JS, only when that changes.
    published: Option<(TokenId, Instant)>,
}

type JsResult = Result<JsValue, JsValue>;

/// Runs `fut` as a JS promise. One boxed instantiation for every async method keeps the
/// generic promise glue from being compiled once per method (about 1 KB each).
fn promise(fut: impl core::future::Future<Output = JsResult> + 'static) -> Promise {
    let fut: core::pin::Pin<alloc::boxed::Box<dyn core::future::Future<Output = JsResult>>> =
        alloc::boxed::Box::pin(fut);
    future_to_promise(fut)
}

fn err(e: Error) -> JsValue {
    js_error(&e)
}

#[wasm_bindgen]
impl TokenClient {
    /// `new TokenClient(options)`; throws `INVALID_CONFIG` synchronously.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<TokenClient, JsValue> {
        Self::build(&GENERIC, &options)
    }

    /// `TokenClient.sypht({ clientId, clientSecret, ...overrides })`.
    pub fn sypht(options: JsValue) -> Result<TokenClient, JsValue> {
        Self::build(&SYPHT, &options)
    }

    /// `TokenClient.symbl({ appId, appSecret, ...overrides })`.
    pub fn symbl(options: JsValue) -> Result<TokenClient, JsValue> {
        Self::build(&SYMBL, &options)
    }

    /// `TokenClient.apiKey({ apiKey, header, allowedOrigins })`.
    #[wasm_bindgen(js_name = apiKey)]
    pub fn api_key(options: JsValue) -> Result<TokenClient, JsValue> {
        Self::build(&API_KEY, &options)
    }

    fn build(preset: &'static PresetSpec, options: &JsValue) -> Result<TokenClient, JsValue> {
        let fetch = match js_sys::Reflect::get(options, &JsValue::from_str("fetch")) {
            Ok(f) if f.is_undefined() || f.is_null() => None,
            Ok(f) => match f.dyn_into::<Function>() {
                Ok(f) => Some(f),
                Err(_) => return Err(err(Error::config("fetch", "must be a function"))),
            },
            Err(_) => None,
        };
        let cfg = Config::from_options(preset, &to_value(options, 3), &parse_url).map_err(err)?;
        let inner = Inner::new(cfg, fetch, js::runtime());
        #[cfg(feature = "signin")]
        super::signin::attach(&inner);
        Ok(TokenClient { inner })
    }

    /// The access token, from memory while it is valid. `ctx`: a Workers `ExecutionContext`.
    #[wasm_bindgen(js_name = getToken)]
    pub fn get_token(&self, ctx: JsValue) -> Promise {
        self.answer(ctx, false)
    }

    /// The fast-path cell (see [`Inner`]), for shell.js.
    #[wasm_bindgen(js_name = __cell)]
    pub fn cell(&self) -> js_sys::Object {
        self.inner.cell.clone()
    }

    /// `{ accessToken, tokenType, expiresAt, refreshAt, scope }`.
    #[wasm_bindgen(js_name = getTokenInfo)]
    pub fn get_token_info(&self, ctx: JsValue) -> Promise {
        self.answer(ctx, true)
    }

    /// For shell.js's `fetch()`: the `fetch` option, if one was given.
    #[wasm_bindgen(js_name = __fetch)]
    pub fn fetch_option(&self) -> Option<Function> {
        self.inner.fetch_fn()
    }

    /// For shell.js's `fetch()` and `sign()`: the header that carries the token on a request
    /// to `origin` whose headers are `headers`, or `undefined` to send it as is (the caller
    /// set that header). Throws `ORIGIN_NOT_ALLOWED` before anything is sent.
    #[wasm_bindgen(js_name = __plan)]
    pub fn plan(&self, origin: &str, headers: &Headers) -> Result<Option<String>, JsValue> {
        let st = self.inner.st.borrow();
        let cfg = st.m.config().ok_or_else(|| err(Error::Disposed))?;
        let name = sign::header_name(cfg);
        Ok(match sign::plan(cfg, origin, headers.has(name)?).map_err(err)? {
            Plan::Sign => Some(name.to_owned()),
            Plan::AsIs => None,
        })
    }

    /// For shell.js: `[headerValue, tokenId]` of a valid token (from memory, or by waiting
    /// for the one token request), the value [`sign::authorization`] gives.
    #[wasm_bindgen(js_name = __auth)]
    pub fn auth(&self, ctx: JsValue) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let t = token(&inner, &ctx).await.map_err(|e| inner.error(&e))?;
            let st = inner.st.borrow();
            let cfg = st.m.config().ok_or_else(|| err(Error::Disposed))?;
            Ok(Array::of2(&JsValue::from_str(&sign::authorization(cfg, &t).1), &JsValue::from_f64(t.id.0 as f64))
                .into())
        })
    }

    /// For shell.js: the API answered 401 (with `www`, its `WWW-Authenticate`) to a request
    /// signed with token `id`. The machine drops a refused token and says whether to send
    /// the request again (never when it is not `replayable`).
    #[wasm_bindgen(js_name = __refused)]
    pub fn refused(&self, id: f64, www: Option<String>, replayable: bool) -> bool {
        self.inner.refused(TokenId(id as u64), www.as_deref(), replayable)
    }

    /// Forgets the cached token; the next call fetches a new one.
    pub fn invalidate(&self) {
        self.inner.st.borrow_mut().m.invalidate(js::now());
        drive(&self.inner, &JsValue::UNDEFINED);
    }

    /// Subscribes to `"token"`, `"expired"` or `"error"`; returns the unsubscribe function.
    pub fn on(&self, event: JsValue, listener: JsValue) -> Result<Function, JsValue> {
        let set = match event.as_string().as_deref() {
            Some("token") => &self.inner.on_token,
            Some("expired") => &self.inner.on_expired,
            Some("error") => &self.inner.on_error,
            _ => return Err(err(Error::config("event", "must be \"token\", \"expired\" or \"error\""))),
        };
        let listener =
            listener.dyn_into::<Function>().map_err(|_| err(Error::config("listener", "must be a function")))?;
        if self.inner.st.borrow().m.config().is_none() {
            return Err(err(Error::Disposed));
        }
        Ok(js::subscribe(set, &listener))
    }

    /// Cancels timers and requests, drops secrets and tokens; later calls reject `DISPOSED`.
    pub fn dispose(&self) {
        for set in [&self.inner.on_token, &self.inner.on_expired, &self.inner.on_error] {
            set.clear();
        }
        {
            let mut st = self.inner.st.borrow_mut();
            st.m.dispose();
            st.fetch = None;
        }
        #[cfg(feature = "signin")]
        self.inner.tabs.borrow_mut().take(); // leaves the other tabs, removes the listeners
        drive(&self.inner, &JsValue::UNDEFINED);
    }
}

impl TokenClient {
    /// `getToken()` and `getTokenInfo()`: one compiled body for both.
    fn answer(&self, ctx: JsValue, info: bool) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let t = token(&inner, &ctx).await.map_err(|e| inner.error(&e))?;
            Ok(if info { token_info(&t, js::now()) } else { JsValue::from_str(t.access_token.expose()) })
        })
    }
}

impl Inner {
    /// A token client's state.
    pub(super) fn new(cfg: Config, fetch: Option<Function>, runtime: Runtime) -> Rc<Inner> {
        let seed = (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64;
        Rc::new(Inner {
            st: RefCell::new(Shell {
                m: Machine::new(cfg, runtime, seed),
                fetch,
                sending: None,
                waiters: Vec::new(),
                timer: None,
                cause: JsValue::UNDEFINED,
                published: None,
            }),
            cell: js_sys::Object::new(),
            on_token: Set::new(&JsValue::UNDEFINED),
            on_expired: Set::new(&JsValue::UNDEFINED),
            on_error: Set::new(&JsValue::UNDEFINED),
            #[cfg(feature = "signin")]
            tabs: RefCell::new(None),
            dpop: RefCell::new(None),
            key_env: RefCell::new(JsValue::UNDEFINED),
            refused: RefCell::new(None),
        })
    }

    /// A signed client assertion (`private_key_jwt`) for the request being sent: the
    /// machine's signing input, with a fresh `jti`, signed by the `CLIENT_KEY` secret.
    pub(super) async fn client_assertion(&self) -> Result<String, Error> {
        let jti = super::signin::random_bytes(crate::proto::jwk::ASSERTION_JTI_BYTES as u32).to_vec();
        let (input, key) = {
            let st = self.st.borrow();
            let key = match st.m.config().map(|c| &c.source) {
                Some(crate::proto::client::config::Source::Endpoint(ep)) => ep.client_key.as_ref().map(|k| (k.import, k.alg)),
                _ => None,
            };
            (st.m.client_assertion(js::now().wall, &jti), key)
        };
        let (Some(input), Some(((name, param), alg))) = (input, key) else { return Err(Error::Disposed) };
        let env = self.key_env.borrow().clone();
        let signed = JsFuture::from(client_assertion(&env, name, param, alg, &input))
            .await
            .map_err(|_| Error::config("CLIENT_KEY", "could not be imported by WebCrypto (check its kty, crv and alg)"))?;
        signed.as_string().ok_or(Error::config("CLIENT_KEY", "could not sign"))
    }

    /// A signed DPoP proof: `make` is the machine's signing input for a `jti` at a time
    /// (its token request's, or a resource's). `Ok(None)` when this client signs none
    /// (no DPoP, or no key of its own: the token cache's isolates ask without proofs).
    /// The machine learns the key's public half on first use.
    pub(super) async fn dpop_proof(&self, make: impl Fn(&Machine, &[u8], crate::proto::time::WallMillis) -> Option<String>) -> Result<Option<String>, Error> {
        let source = self.dpop.borrow().as_ref().map(|d| (d.env.clone(), d.import.unwrap_or(("", ""))));
        let Some((env, (name, param))) = source else { return Ok(None) };
        let failed = |_| Error::config("DPOP_KEY", "could not be imported (or a key made) by WebCrypto");
        let record: Array = JsFuture::from(dpop_key(&env, name, param)).await.map_err(failed)?.unchecked_into();
        let alg = {
            let mut st = self.st.borrow_mut();
            if st.m.dpop_key().is_none() && st.m.config().is_some() {
                let (name, param) = (record.get(1).as_string().unwrap_or_default(), record.get(2).as_string().unwrap_or_default());
                let key = crate::proto::dpop::DpopKey::new(&name, &param, &to_value(&record.get(3), 1))?;
                st.m.set_dpop_key(key);
            }
            st.m.dpop_key().map(|k| k.alg)
        };
        let Some(alg) = alg else { return Ok(None) };
        let jti = super::signin::random_bytes(crate::proto::dpop::JTI_BYTES as u32).to_vec();
        let Some(input) = make(&self.st.borrow().m, &jti, js::now().wall) else { return Ok(None) };
        let signature = JsFuture::from(sign_proof(&record.get(0), alg, &input)).await.map_err(failed)?;
        let mut proof = input;
        proof.push('.');
        crate::proto::encode_base64url(&mut proof, &js_sys::Uint8Array::new(&signature).to_vec());
        Ok(Some(proof))
    }

    /// A resource server's `DPoP-Nonce` (any status) for `origin`'s next proof.
    pub(super) fn take_nonce(&self, origin: &str, value: &str) {
        self.st.borrow_mut().m.take_nonce(origin, value);
    }

    /// Tells this browser's other tabs about the tokens just fetched ([`Action::Share`]).
    fn share(&self) {
        #[cfg(feature = "signin")]
        super::signin::fetched(self);
    }

    /// The API answered 401 (with `www`) to a request signed with token `id`: tells the
    /// machine, which decides whether the token is dropped and whether to replay.
    pub(super) fn refused(&self, id: TokenId, www: Option<&str>, replayable: bool) -> bool {
        let replay = self.st.borrow_mut().m.unauthorized(id, www, replayable);
        self.publish();
        replay
    }

    /// Whether token `id` is still the one held.
    pub(super) fn holds(&self, id: TokenId) -> bool {
        self.st.borrow().m.held().is_some_and(|t| t.id == id)
    }

    /// A TOKEN_CACHE object's client (the one with a `fetch` of its own): names `token`
    /// (refused by an API) to the object on its next request. Nothing for any other client.
    pub(super) fn tell_refused(&self, token: &crate::proto::AccessToken) {
        if self.st.borrow().fetch.is_some() {
            *self.refused.borrow_mut() = Some(token.clone());
        }
    }

    /// An isolate says an API refused `token`, which this (object's) client gave it.
    pub(super) fn refused_elsewhere(&self, token: &str) {
        self.st.borrow_mut().m.refused_elsewhere(token);
        self.publish();
    }

    /// Tells shell.js what `getToken()` may answer without asking ([`Machine::serving`]).
    fn publish(&self) {
        let mut st = self.st.borrow_mut();
        let now = js::now();
        let serving = st.m.serving(now).map(|s| (s.token.id, s.until));
        if serving == st.published {
            return;
        }
        st.published = serving;
        match (st.m.serving(now), st.m.config()) {
            (Some(s), Some(cfg)) => {
                let t = s.token;
                let value = sign::authorization(cfg, t).1;
                js::publish(&self.cell, Some(t.access_token.expose()), Some(&value), t.id.0 as f64, s.until.0 as f64, s.wall_until.0 as f64)
            }
            _ => js::publish(&self.cell, None, None, 0.0, 0.0, 0.0),
        }
    }

    /// `e` for JavaScript; a `NETWORK` error carries the platform's error as its `cause`.
    pub(super) fn error(&self, e: &Error) -> JsValue {
        let cause = match e {
            Error::Network { .. } => self.st.borrow().cause.clone(),
            _ => JsValue::UNDEFINED,
        };
        js_error_with(e, &cause)
    }

    /// Keeps `e` as the next `NETWORK` error's cause, unless its text contains the secret.
    fn keep_cause(&self, e: JsValue) {
        let text = js::error_text(&e);
        let mut st = self.st.borrow_mut();
        let leaks = st.m.config().is_some_and(|cfg| cfg.mentions_secret(&text));
        st.cause = if leaks { JsValue::UNDEFINED } else { e };
    }

    /// The abort handle of `attempt`, if it is the one being sent (taken: it is done).
    fn take_sending(&self, attempt: AttemptId) -> Option<AbortController> {
        let mut st = self.st.borrow_mut();
        match st.sending.take() {
            Some((a, c)) if a == attempt => Some(c),
            other => {
                st.sending = other;
                None
            }
        }
    }

    pub(super) fn fetch_fn(&self) -> Option<Function> {
        self.st.borrow().fetch.clone()
    }

    fn emit(&self, set: &Set, value: &JsValue) {
        js::emit(set, value);
    }
}

/// A valid token: from memory, or by waiting for the one token request. `ctx` (a Workers
/// `ExecutionContext`, or `undefined`) keeps any request this call starts alive.
pub(super) async fn token(inner: &Rc<Inner>, ctx: &JsValue) -> Result<TokenSet, Error> {
    loop {
        let flight = match ready(inner, ctx) {
            Ok(r) => return r,
            Err(flight) => flight,
        };
        if let Some(r) = settled(inner, ctx, flight).await {
            return r;
        }
    }
}

/// Waits for the endpoints to be discovered (`issuer` without `tokenUrl`): a sign-in needs
/// them before its authorization URL or its callback ([`Machine::discover`]).
pub(super) async fn discovered(inner: &Rc<Inner>, ctx: &JsValue) -> Result<(), Error> {
    loop {
        let flight = inner.st.borrow_mut().m.discover(js::now());
        drive(inner, ctx);
        let Some(flight) = flight else { return Ok(()) };
        if let Some(Err(e)) = settled(inner, ctx, flight).await {
            return Err(e);
        }
    }
}

/// Waits until flight `flight` settles: its result, or `None` when it is gone (ask again).
async fn settled(inner: &Rc<Inner>, ctx: &JsValue, flight: FlightId) -> Option<Result<TokenSet, Error>> {
    let mut woken: Option<Promise> = None;
    loop {
        match inner.st.borrow().m.outcome(flight) {
            Outcome::Done(r) => return Some(r),
            Outcome::Gone => return None,
            Outcome::Pending => {}
        }
        let wake = match woken.take() {
            Some(p) => p,
            None => waiter(inner),
        };
        if inner.st.borrow().m.runtime() == Runtime::Workerd {
            wait_in_worker(inner, ctx, &wake).await;
            woken = Some(wake);
        } else {
            let _ = JsFuture::from(wake).await;
        }
    }
}

/// The machine's answer if it has one now (a token from memory, or a failure), else the
/// flight to wait for. `ctx` keeps any request this starts alive.
pub(super) fn ready(inner: &Rc<Inner>, ctx: &JsValue) -> Result<Result<TokenSet, Error>, FlightId> {
    let got = inner.st.borrow_mut().m.get(js::now());
    drive(inner, ctx);
    match got {
        Get::Ready(t) => Ok(Ok(t)),
        Get::Fail(e) => Ok(Err(e)),
        Get::Wait(flight) => Err(flight),
    }
}

/// A promise of the waiter's own that [`Action::Wake`] resolves.
fn waiter(inner: &Inner) -> Promise {
    Promise::new(&mut |resolve, _reject| inner.st.borrow_mut().waiters.push(resolve))
}

/// One wait in a Worker. workerd cancels a request whose only pending work is a promise
/// another request will resolve ("hung"), and timers do not outlive a request, so each
/// waiter races its promise with short timers of its own and, on every wake-up, lets the
/// machine handle whatever deadline has passed (it may send the next attempt itself).
async fn wait_in_worker(inner: &Rc<Inner>, ctx: &JsValue, wake: &Promise) {
    let next = inner.st.borrow().m.poll_timeout();
    let now = js::now().mono;
    let step = next.map_or(100, |at| now.until(at).0.clamp(1, 100));
    let race = Promise::race(&Array::of2(wake, &js::sleep(step as f64)));
    let _ = JsFuture::from(race).await;
    inner.st.borrow_mut().m.handle_timeout(js::now());
    drive(inner, ctx);
}

/// Carries out the machine's actions until it has none, then re-arms the timer.
pub(super) fn drive(inner: &Rc<Inner>, ctx: &JsValue) {
    loop {
        let action = inner.st.borrow_mut().m.poll();
        let Some(action) = action else { break };
        match action {
            Action::Send(attempt) => send(inner, attempt, ctx),
            Action::Abort(attempt) => {
                if let Some(c) = inner.take_sending(attempt) {
                    c.abort();
                }
            }
            Action::Wake => {
                let waiters = core::mem::take(&mut inner.st.borrow_mut().waiters);
                for resolve in waiters {
                    let _ = resolve.call0(&JsValue::UNDEFINED);
                }
            }
            Action::Token(t) => inner.emit(&inner.on_token, &token_info(&t, js::now())),
            Action::Expired => inner.emit(&inner.on_expired, &JsValue::UNDEFINED),
            Action::Error(e) => inner.emit(&inner.on_error, &inner.error(&e)),
            Action::Share => inner.share(),
        }
    }
    inner.publish();
    arm_timer(inner);
}

/// Sends the token request as `attempt`; its answer goes back to the machine.
fn send(inner: &Rc<Inner>, attempt: AttemptId, ctx: &JsValue) {
    let Some(req) = inner.st.borrow().m.request() else {
        return;
    };
    let controller = AbortController::new().ok();
    inner.st.borrow_mut().sending = controller.clone().map(|c| (attempt, c));
    let headers = Array::new();
    for (name, value) in &req.headers {
        headers.push(&Array::of2(&JsValue::from_str(name), &JsValue::from_str(value)));
    }
    // A refusal this isolate saw, for the TOKEN_CACHE object (which alone reads it).
    let refused = inner.refused.borrow().clone();
    if let Some(t) = &refused {
        headers.push(&Array::of2(&JsValue::from_str(crate::proto::broker::REFUSED_HEADER), &JsValue::from_str(t.expose())));
    }
    let fetch = inner.fetch_fn();
    let signal = controller.map(|c| c.signal());
    const CAP: u32 = crate::proto::http::MAX_BODY_BYTES as u32;
    #[cfg(feature = "signin")]
    let lock = req.lock.then(|| super::signin::lock_name(inner)).flatten();
    let (inner2, ctx2) = (inner.clone(), ctx.clone());
    let done = promise(async move {
        // A fresh proof for every attempt (RFC 9449 §7.3), with the server's latest nonce;
        // with private_key_jwt, a fresh assertion too (the body ends in `client_assertion=`).
        let mut req = req;
        let proof = match req.assertion {
            true => inner2.client_assertion().await.map(|a| req.body.push_str(&a)),
            false => Ok(()),
        };
        let proof = match proof {
            Ok(()) => inner2.dpop_proof(|m, jti, wall| m.token_proof(wall, jti)).await,
            Err(e) => Err(e),
        };
        // A GET (the authorization server's metadata) has no body.
        let body = (req.method != "GET").then_some(req.body.as_str());
        let answer = match proof {
            Err(e) => Err(e),
            Ok(proof) => {
                if let Some(p) = proof {
                    headers.push(&Array::of2(&JsValue::from_str("DPoP"), &JsValue::from_str(&p)));
                }
                #[cfg(feature = "signin")]
                let answer = match lock {
                    Some(lock) => super::signin::post_token_locked(
                        &lock, fetch, &req.url, &headers, &req.body, req.redirect, req.cache, req.credentials, signal, CAP,
                    ),
                    None => js::post_token(fetch, &req.url, &headers, body, req.redirect, req.cache, req.credentials, signal, CAP),
                };
                #[cfg(not(feature = "signin"))]
                let answer = js::post_token(fetch, &req.url, &headers, body, req.redirect, req.cache, req.credentials, signal, CAP);
                Ok(JsFuture::from(answer).await)
            }
        };
        let answer = match answer {
            Err(e) => Err(Some(e)),
            Ok(a) => a.map_err(|e| {
                // Still the attempt being sent (not one the machine aborted): its error is the cause.
                if inner2.take_sending(attempt).is_some() {
                    inner2.keep_cause(e);
                }
                None
            }),
        };
        let answer = answer.map(|v| {
            let a: Array = v.unchecked_into();
            let status = a.get(0).as_f64().unwrap_or(0.0) as u16;
            // The object answered: it has heard the refusal (a newer one is kept).
            if status != 0 && refused.is_some() {
                let mut held = inner2.refused.borrow_mut();
                if held.as_ref().map(|t| t.expose()) == refused.as_ref().map(|t| t.expose()) {
                    *held = None;
                }
            }
            // A locked refresh's `release(ms)` (js/signin.js postTokenLocked).
            #[cfg(feature = "signin")]
            if let Some(release) = a.get(4).dyn_ref::<Function>() {
                let _ = release.call1(&JsValue::NULL, &JsValue::from(crate::proto::client::machine::lock_hold(status).0 as f64));
            }
            HttpResponse {
                dpop_nonce: a.get(3).as_string(),
                status,
                retry_after: a.get(1).as_string(),
                // `postToken` gives no text for a body over MAX_BODY_BYTES.
                body: match a.get(2).as_string().map(|text| js_sys::JSON::parse(&text)) {
                    Some(Ok(json)) => Body::Json(to_value(&json, 2)),
                    Some(Err(_)) => Body::NotJson,
                    None => Body::TooLarge,
                },
            }
        });
        inner2.take_sending(attempt);
        let result = answer.map_err(|e| e.unwrap_or_else(|| inner2.st.borrow().m.unreachable()));
        inner2.st.borrow_mut().m.handle_response(attempt, result, js::now(), &parse_url);
        drive(&inner2, &ctx2);
        Ok(JsValue::UNDEFINED)
    });
    js::wait_until(ctx, &done);
}

/// Arms the one timer for the machine's next deadline (outside Workers), unless it is
/// already armed for exactly that.
fn arm_timer(inner: &Rc<Inner>) {
    let mut st = inner.st.borrow_mut();
    if st.m.runtime() == Runtime::Workerd {
        return;
    }
    let want = st.m.poll_timeout().map(|at| (at, st.m.keep_alive()));
    if st.timer.as_ref().map(|(_, at, keep)| (*at, *keep)) == want {
        return;
    }
    st.timer = want.map(|(at, keep_alive)| {
        let weak = Rc::downgrade(inner);
        // Handled outside the timer's own callback, which re-arming replaces.
        let timer = Timer::new(js::now().mono.until(at).0, keep_alive, move || spawn_local(on_timer(weak)));
        (timer, at, keep_alive)
    });
}

async fn on_timer(weak: Weak<Inner>) {
    let Some(inner) = weak.upgrade() else { return };
    {
        let mut st = inner.st.borrow_mut();
        st.timer = None;
        st.m.handle_timeout(js::now());
    }
    drive(&inner, &JsValue::UNDEFINED);
}
