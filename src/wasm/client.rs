//! The exported `TokenClient` class.
//!
//! State lives in `Rc<Inner>`; every async method clones the `Rc` into its future and never
//! holds a `RefCell` borrow across an `.await` (wasm-bindgen #4440), nor while calling back
//! into JavaScript (listeners, a custom `fetch`, `abort()`), so re-entrant calls are safe.

#[allow(unused_imports)]
use crate::prelude::*;

use core::cell::RefCell;
use alloc::rc::{Rc, Weak};

use js_sys::{Array, Function, Promise, Set};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, spawn_local, JsFuture};
use web_sys::{AbortController, Request, Response};

use super::convert::{js_error, parse_url, to_value, token_info};
use super::flight::Flight;
use super::js;
use super::timer::Timer;
use crate::proto::config::{Preset, Source};
use crate::proto::response::{process_token_response, Body, HttpResponse, TokenSet};
use crate::proto::retry::retry_delay;
use crate::proto::state::{Cache, Completion, Lookup, Ticket, TimerAction};
use crate::proto::{Config, Error};

/// A token client: fetches, caches, refreshes and attaches access tokens.
#[wasm_bindgen(skip_typescript)]
pub struct TokenClient {
    inner: Rc<Inner>,
}

pub(super) struct Inner {
    st: RefCell<State>,
    on_token: Set,
    on_expired: Set,
    on_error: Set,
}

struct State {
    /// `None` once disposed: the secrets go with it.
    cfg: Option<Rc<Config>>,
    fetch: Option<Function>,
    cache: Cache,
    flight: Option<(Ticket, Rc<Flight>)>,
    abort: Option<AbortController>,
    /// Settles when the request in flight is done (Workers keep it alive with waitUntil).
    flight_done: Option<Promise>,
    /// Proactive refresh timers; off in Workers, where timers do not outlive a request.
    timers: bool,
    timer: Option<Timer>,
}

#[derive(Clone, Copy)]
enum Event {
    Token,
    Expired,
    Error,
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
        Self::build(Preset::Generic, &options)
    }

    /// `TokenClient.sypht({ clientId, clientSecret, ...overrides })`.
    pub fn sypht(options: JsValue) -> Result<TokenClient, JsValue> {
        Self::build(Preset::Sypht, &options)
    }

    /// `TokenClient.symbl({ appId, appSecret, ...overrides })`.
    pub fn symbl(options: JsValue) -> Result<TokenClient, JsValue> {
        Self::build(Preset::Symbl, &options)
    }

    /// `TokenClient.apiKey({ apiKey, header, allowedOrigins })`.
    #[wasm_bindgen(js_name = apiKey)]
    pub fn api_key(options: JsValue) -> Result<TokenClient, JsValue> {
        Self::build(Preset::ApiKey, &options)
    }

    fn build(preset: Preset, options: &JsValue) -> Result<TokenClient, JsValue> {
        let fetch = match js_sys::Reflect::get(options, &JsValue::from_str("fetch")) {
            Ok(f) if f.is_undefined() || f.is_null() => None,
            Ok(f) => match f.dyn_into::<Function>() {
                Ok(f) => Some(f),
                Err(_) => return Err(err(Error::config("fetch", "must be a function"))),
            },
            Err(_) => None,
        };
        let cfg = Config::from_options(preset, &to_value(options, 3), &parse_url).map_err(err)?;
        Ok(TokenClient {
            inner: Inner::new(cfg, fetch, true),
        })
    }

    /// The access token, from memory until its refresh is due.
    #[wasm_bindgen(js_name = getToken)]
    pub fn get_token(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let t = token(&inner).await.map_err(err)?;
            Ok(JsValue::from_str(t.access_token.expose()))
        })
    }

    /// `{ accessToken, tokenType, expiresAt, scope }`.
    #[wasm_bindgen(js_name = getTokenInfo)]
    pub fn get_token_info(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move { Ok(token_info(&token(&inner).await.map_err(err)?)) })
    }

    /// Like global `fetch`, with the token attached when the origin is allowed.
    pub fn fetch(&self, input: JsValue, init: JsValue) -> Promise {
        let inner = self.inner.clone();
        promise(async move { signed_fetch(&inner, &input, &init).await })
    }

    /// A new `Request` with the token attached.
    pub fn sign(&self, request: JsValue) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let req = js::new_request(&request, &JsValue::UNDEFINED)?;
            let cfg = inner.config().map_err(err)?.0;
            check_origin(&cfg, &req)?;
            attach(&inner, &cfg, &req).await?;
            Ok(req.into())
        })
    }

    /// Forgets the cached token; the next call fetches a new one.
    pub fn invalidate(&self) {
        let mut st = self.inner.st.borrow_mut();
        if st.cfg.is_some() {
            st.cache.invalidate();
            st.flight = None;
            st.abort = None;
            st.flight_done = None;
            arm_timer(&self.inner, &mut st);
        }
    }

    /// Subscribes to `"token"`, `"expired"` or `"error"`; returns the unsubscribe function.
    pub fn on(&self, event: JsValue, listener: JsValue) -> Result<Function, JsValue> {
        let set = match event.as_string().as_deref() {
            Some("token") => &self.inner.on_token,
            Some("expired") => &self.inner.on_expired,
            Some("error") => &self.inner.on_error,
            _ => {
                return Err(err(Error::config(
                    "event",
                    "must be \"token\", \"expired\" or \"error\"",
                )))
            }
        };
        let listener = listener
            .dyn_into::<Function>()
            .map_err(|_| err(Error::config("listener", "must be a function")))?;
        self.inner.config().map_err(err)?;
        Ok(js::subscribe(set, &listener))
    }

    /// Cancels timers and requests, drops secrets and tokens; later calls reject `DISPOSED`.
    pub fn dispose(&self) {
        let (abort, flight) = {
            let mut st = self.inner.st.borrow_mut();
            st.cfg = None;
            st.fetch = None;
            st.cache = Cache::default();
            st.timer = None;
            st.flight_done = None;
            (st.abort.take(), st.flight.take())
        };
        for set in [&self.inner.on_token, &self.inner.on_expired, &self.inner.on_error] {
            set.clear();
        }
        if let Some(a) = abort {
            a.abort();
        }
        if let Some((_, f)) = flight {
            f.finish(Err(Error::Disposed));
        }
    }
}

impl Inner {
    /// A token client's state; `timers` off where timers do not outlive a request (Workers).
    pub(super) fn new(cfg: Config, fetch: Option<Function>, timers: bool) -> Rc<Inner> {
        Rc::new(Inner {
            st: RefCell::new(State {
                cfg: Some(Rc::new(cfg)),
                fetch,
                cache: Cache::default(),
                flight: None,
                abort: None,
                flight_done: None,
                timers,
                timer: None,
            }),
            on_token: Set::new(&JsValue::UNDEFINED),
            on_expired: Set::new(&JsValue::UNDEFINED),
            on_error: Set::new(&JsValue::UNDEFINED),
        })
    }

    /// Forgets the token `token_id` (after the API answered 401 with it).
    pub(super) fn invalidate_token(&self, token_id: u64) {
        self.st.borrow_mut().cache.invalidate_token(token_id);
    }

    pub(super) fn config(&self) -> Result<(Rc<Config>, Option<Function>), Error> {
        let st = self.st.borrow();
        let cfg = st.cfg.clone().ok_or(Error::Disposed)?;
        Ok((cfg, st.fetch.clone()))
    }

    fn disposed(&self) -> bool {
        self.st.borrow().cfg.is_none()
    }

    fn emit(&self, event: Event, value: &JsValue) {
        let set = match event {
            Event::Token => &self.on_token,
            Event::Expired => &self.on_expired,
            Event::Error => &self.on_error,
        };
        js::emit(set, value);
    }
}

/// What [`begin`] found.
pub(super) enum Begin {
    /// A valid cached token.
    Ready(TokenSet),
    /// Wait for this flight; `started` is its completion promise if this call started it.
    Wait {
        flight: Rc<Flight>,
        #[cfg_attr(not(feature = "broker"), allow(dead_code))]
        started: Option<Promise>,
    },
}

/// A valid token: from the cache, or by joining or starting the one token request.
async fn token(inner: &Rc<Inner>) -> Result<TokenSet, Error> {
    match begin(inner)? {
        Begin::Ready(t) => Ok(t),
        Begin::Wait { flight, .. } => flight.wait().await,
    }
}

/// Looks the token up and joins or starts the token request, without waiting.
pub(super) fn begin(inner: &Rc<Inner>) -> Result<Begin, Error> {
    let (outcome, expired) = {
        let mut guard = inner.st.borrow_mut();
        let st = &mut *guard;
        let cfg = st.cfg.clone().ok_or(Error::Disposed)?;
        if let Some(t) = cfg.static_token() {
            return Ok(Begin::Ready(t));
        }
        let now = js::now();
        let expired = st.cache.expire(now);
        if expired {
            arm_timer(inner, st);
        }
        let outcome = match st.cache.lookup(now) {
            Lookup::Fresh(t) => return Ok(Begin::Ready(t)),
            Lookup::Join => st.flight.as_ref().map(|(_, f)| Begin::Wait {
                flight: f.clone(),
                started: None,
            }),
            Lookup::Fetch(ticket) => {
                let flight = start_flight(inner, st, ticket);
                Some(Begin::Wait {
                    flight,
                    started: st.flight_done.clone(),
                })
            }
        };
        (outcome, expired)
    };
    if expired {
        inner.emit(Event::Expired, &JsValue::UNDEFINED);
    }
    outcome.ok_or(Error::Disposed)
}

fn start_flight(inner: &Rc<Inner>, st: &mut State, ticket: Ticket) -> Rc<Flight> {
    let flight = Rc::new(Flight::default());
    let abort = AbortController::new().ok();
    st.flight = Some((ticket, flight.clone()));
    st.abort = abort.clone();
    let done = promise(run_flight(inner.clone(), ticket, flight.clone(), abort));
    st.flight_done = Some(done);
    flight
}

async fn run_flight(
    inner: Rc<Inner>,
    ticket: Ticket,
    flight: Rc<Flight>,
    abort: Option<AbortController>,
) -> JsResult {
    let result = match &abort {
        Some(a) => request_token(&inner, a).await,
        None => Err(Error::Network),
    };
    let completion = {
        let mut guard = inner.st.borrow_mut();
        let st = &mut *guard;
        if st.cfg.is_none() {
            None
        } else {
            if st.cache.is_in_flight(ticket) {
                st.flight = None;
                st.abort = None;
                st.flight_done = None;
            }
            let c = st.cache.complete(ticket, result, js::now());
            arm_timer(&inner, st);
            Some(c)
        }
    };
    match completion {
        None => flight.finish(Err(Error::Disposed)),
        Some(Completion::Token { token, stored }) => {
            if stored {
                inner.emit(Event::Token, &token_info(&token));
            }
            flight.finish(Ok(token));
        }
        Some(Completion::Fallback { token, error }) => {
            inner.emit(Event::Error, &js_error(&error));
            flight.finish(Ok(token));
        }
        Some(Completion::Failed(error)) => {
            inner.emit(Event::Error, &js_error(&error));
            flight.finish(Err(error));
        }
    }
    Ok(JsValue::UNDEFINED)
}

/// One token request with its retries.
async fn request_token(inner: &Rc<Inner>, abort: &AbortController) -> Result<TokenSet, Error> {
    let (cfg, fetch) = inner.config()?;
    let Source::Endpoint(ep) = &cfg.source else {
        return Err(Error::Disposed);
    };
    let req = ep.token_request();
    let headers = Array::new();
    for (name, value) in &req.headers {
        headers.push(&Array::of2(&JsValue::from_str(name), &JsValue::from_str(value)));
    }
    let mut retries = 0;
    loop {
        let sent_at = js::now();
        let answer = JsFuture::from(js::post_token(
            fetch.clone(),
            &req.url,
            &headers,
            &req.body,
            cfg.timeout_ms as f64,
            abort,
            ep.credentials,
        ))
        .await;
        let result = match answer {
            Ok(v) => {
                let a: Array = v.unchecked_into();
                let text = a.get(2).as_string().unwrap_or_default();
                let resp = HttpResponse {
                    status: a.get(0).as_f64().unwrap_or(0.0) as u16,
                    retry_after: a.get(1).as_string(),
                    body: match js_sys::JSON::parse(&text) {
                        Ok(json) => Body::Json(to_value(&json, 1)),
                        Err(_) => Body::NotJson,
                    },
                };
                process_token_response(&cfg, ep, &resp, sent_at, js::now())
            }
            Err(e) if js::is_timeout(&e) => Err(Error::Timeout),
            Err(_) => Err(Error::Network),
        };
        if inner.disposed() {
            return Err(Error::Disposed);
        }
        let e = match result {
            Ok(t) => return Ok(t),
            Err(e) => e,
        };
        let delay = retry_delay(&e, retries, cfg.max_retries, js_sys::Math::random()).ok_or(e)?;
        let _ = JsFuture::from(js::sleep(delay as f64)).await;
        if inner.disposed() {
            return Err(Error::Disposed);
        }
        retries += 1;
    }
}

/// Re-arms the one timer from the cache's next deadline (dropping the old one cancels it).
fn arm_timer(inner: &Rc<Inner>, st: &mut State) {
    st.timer = None;
    if !st.timers {
        return;
    }
    if let Some(at) = st.cache.poll_timeout() {
        let weak = Rc::downgrade(inner);
        let delay = at.saturating_sub(js::now());
        // Handle the timeout outside the timer's own callback, which arm_timer replaces.
        st.timer = Some(Timer::new(delay, move || spawn_local(on_timer(weak))));
    }
}

async fn on_timer(weak: Weak<Inner>) {
    let Some(inner) = weak.upgrade() else {
        return;
    };
    let expired = {
        let mut guard = inner.st.borrow_mut();
        let st = &mut *guard;
        if st.cfg.is_none() {
            return;
        }
        let expired = match st.cache.handle_timeout(js::now()) {
            TimerAction::Expired => true,
            TimerAction::Refresh(ticket) => {
                start_flight(&inner, st, ticket);
                false
            }
            TimerAction::Nothing => false,
        };
        arm_timer(&inner, st);
        expired
    };
    if expired {
        inner.emit(Event::Expired, &JsValue::UNDEFINED);
    }
}

fn check_origin(cfg: &Config, req: &Request) -> Result<(), JsValue> {
    let origin = js::parse_url(&req.url()).map(|u| u.origin()).unwrap_or_default();
    if cfg.origin_allowed(&origin) {
        Ok(())
    } else {
        Err(err(Error::OriginNotAllowed { origin }))
    }
}

/// Sets the header that carries `t` (`Authorization: <type> <token>`, or the API key's).
fn set_auth(cfg: &Config, req: &Request, t: &TokenSet) -> Result<(), JsValue> {
    let (name, value) = cfg.authorization(t);
    req.headers().set(name, &value)
}

/// Sets the token header on `req` unless the caller set it.
async fn attach(inner: &Rc<Inner>, cfg: &Config, req: &Request) -> Result<(), JsValue> {
    if req.headers().has(cfg.header_name())? {
        return Ok(());
    }
    set_auth(cfg, req, &token(inner).await.map_err(err)?)
}

async fn signed_fetch(inner: &Rc<Inner>, input: &JsValue, init: &JsValue) -> JsResult {
    let req = js::new_request(input, init)?;
    let (cfg, fetch) = inner.config().map_err(err)?;
    check_origin(&cfg, &req)?;
    if req.headers().has(cfg.header_name())? {
        // The caller's own credentials: sent as is, no token fetched, no replay.
        return JsFuture::from(js::send(fetch, &req)?).await;
    }
    let replay = match cfg.static_token() {
        None => js::replay_copy(&req, init)?,
        Some(_) => None, // a static key would be refused again
    };
    let t = token(inner).await.map_err(err)?;
    set_auth(&cfg, &req, &t)?;
    let resp: Response = JsFuture::from(js::send(fetch.clone(), &req)?).await?.unchecked_into();
    match replay {
        Some(replay) if resp.status() == 401 => {
            js::discard(&resp);
            inner.invalidate_token(t.id);
            set_auth(&cfg, &replay, &token(inner).await.map_err(err)?)?;
            JsFuture::from(js::send(fetch, &replay)?).await
        }
        _ => Ok(resp.into()),
    }
}
