//! Signing a user in (cargo feature `signin`, the `tokenkit/signin` entry): the
//! authorization code grant with PKCE, refresh tokens shared between a browser's tabs, and
//! sign-out. Every decision is in [`crate::proto::signin`] and the machine; this only
//! carries them out: randomness and SHA-256 from WebCrypto, the pending sign-in in
//! sessionStorage, a BroadcastChannel to the other tabs, wake-up listeners.

#[allow(unused_imports)]
use crate::prelude::*;

use alloc::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use crate::proto::client::config::{Grant, Source};
use crate::proto::client::machine::Snapshot;
use crate::proto::client::request::Runtime;
use crate::proto::signin::{self, Pending, RANDOM_BYTES};
use crate::proto::time::WallMillis;
use crate::proto::{AccessToken, Error, RefreshToken};
use super::client::{drive, Inner, TokenClient};
use super::convert::js_error;
use super::js;

#[wasm_bindgen(module = "/js/signin.js")]
extern "C" {
    #[wasm_bindgen(js_name = randomBytes)]
    pub(super) fn random_bytes(n: u32) -> Uint8Array;
    pub(super) fn sha256(text: &str) -> Promise;
    #[wasm_bindgen(js_name = savePending)]
    fn save_pending(key: &str, state: &str, verifier: &str, nonce: Option<String>) -> bool;
    #[wasm_bindgen(js_name = takePending)]
    fn take_pending(key: &str) -> Option<String>;
    #[wasm_bindgen(js_name = callbackParams)]
    fn callback_params(url: &JsValue) -> Option<Array>;
    #[wasm_bindgen(js_name = cleanHistory)]
    fn clean_history(url: &JsValue);
    #[wasm_bindgen(js_name = idTokenNonce)]
    pub(super) fn id_token_nonce(jwt: &str) -> Option<String>;
    #[wasm_bindgen(js_name = openTabs)]
    fn open_tabs(name: &str, on_message: &Function, on_wake: &Function) -> Function;
    fn post(close: &Function, message: &JsValue);
    #[wasm_bindgen(js_name = postRevocation)]
    fn post_revocation(fetch: Option<Function>, url: &str, headers: &Array, body: &str) -> Promise;
    #[wasm_bindgen(js_name = postTokenLocked)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn post_token_locked(
        lock: &str,
        fetch: Option<Function>,
        url: &str,
        headers: &Array,
        body: &str,
        redirect: &str,
        cache: Option<&str>,
        credentials: Option<&str>,
        signal: Option<web_sys::AbortSignal>,
        cap: u32,
    ) -> Promise;
    #[wasm_bindgen(js_name = pendingFields)]
    fn pending_fields(v: &JsValue) -> Option<Array>;
}

/// The other tabs' channel and the wake-up listeners of one client (browser only).
pub(super) struct Tabs {
    /// Closes the channel and removes the listeners; `post(close, message)` sends.
    close: Function,
    /// Names the refresh token this tab holds, without revealing it: random, new with each
    /// token response, passed on with the tokens. A refresh holds the lock of its
    /// generation, so two tabs never spend the same refresh token.
    generation: core::cell::RefCell<String>,
    _on_message: Closure<dyn FnMut(JsValue)>,
    _on_wake: Closure<dyn FnMut()>,
}

impl Drop for Tabs {
    fn drop(&mut self) {
        let _ = self.close.call0(&JsValue::UNDEFINED);
    }
}

/// The name of this client's channel and the key of its pending sign-in: the token
/// endpoint and the client (not secret).
fn scope_key(inner: &Inner) -> Option<String> {
    let st = inner.st.borrow();
    let Source::Endpoint(ep) = &st.m.config()?.source else { return None };
    let Grant::AuthorizationCode(_) = &ep.grant else { return None };
    let mut key = String::from("tokenkit ");
    key.push_str(&ep.token_url);
    key.push(' ');
    key.push_str(&ep.client_id);
    Some(key)
}

/// In a browser, a sign-in client joins its origin's other tabs: it restores the tokens they
/// fetch, forgets the session when one signs out, asks for the session when it opens, and
/// re-checks its token when the page is shown again or the network returns.
pub(super) fn attach(inner: &Rc<Inner>) {
    if inner.st.borrow().m.runtime() != Runtime::Browser {
        return;
    }
    let Some(name) = scope_key(inner) else { return };
    let weak = Rc::downgrade(inner);
    let on_message = Closure::<dyn FnMut(JsValue)>::new(move |msg: JsValue| {
        if let Some(inner) = weak.upgrade() {
            on_message(&inner, &msg);
        }
    });
    let weak = Rc::downgrade(inner);
    let on_wake = Closure::<dyn FnMut()>::new(move || {
        if let Some(inner) = weak.upgrade() {
            wake(&inner);
        }
    });
    let close = open_tabs(&name, on_message.as_ref().unchecked_ref(), on_wake.as_ref().unchecked_ref());
    post(&close, &message("hello", &[]));
    *inner.tabs.borrow_mut() =
        Some(Tabs { close, generation: core::cell::RefCell::new(new_generation()), _on_message: on_message, _on_wake: on_wake });
}

fn message(kind: &str, fields: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    js::set(&o, "t", &JsValue::from_str(kind));
    for (k, v) in fields {
        js::set(&o, k, v);
    }
    o.into()
}

fn field(msg: &JsValue, k: &str) -> JsValue {
    js_sys::Reflect::get(msg, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
}

fn new_generation() -> String {
    let mut out = String::new();
    crate::proto::encode_base64url(&mut out, &random_bytes(12).to_vec());
    out
}

/// The lock a refresh of the current refresh token is sent under.
pub(super) fn lock_name(inner: &Inner) -> Option<String> {
    let tabs = inner.tabs.borrow();
    let mut name = scope_key(inner)?;
    name.push(' ');
    name.push_str(&tabs.as_ref()?.generation.borrow());
    Some(name)
}

/// Tokens just came from the server: a new generation, told to the other tabs.
pub(super) fn fetched(inner: &Inner) {
    if let Some(tabs) = inner.tabs.borrow().as_ref() {
        *tabs.generation.borrow_mut() = new_generation();
    }
    share(inner);
}

/// Sends the session (tokens just fetched, or to a tab that asked) to the other tabs.
pub(super) fn share(inner: &Inner) {
    let Some((_, t)) = inner.st.borrow_mut().m.snapshot(js::now()) else { return };
    let msg = message(
        "tokens",
        &[
            ("at", t.access_token.as_ref().map_or(JsValue::UNDEFINED, |a| JsValue::from_str(a.expose()))),
            ("rt", t.refresh_token.as_ref().map_or(JsValue::UNDEFINED, |r| JsValue::from_str(r.expose()))),
            ("exp", JsValue::from_f64(t.expires_at.0 as f64)),
            ("scope", t.scope.as_deref().map_or(JsValue::UNDEFINED, JsValue::from_str)),
            ("gen", inner.tabs.borrow().as_ref().map_or(JsValue::UNDEFINED, |t| JsValue::from_str(&t.generation.borrow()))),
        ],
    );
    if let Some(tabs) = inner.tabs.borrow().as_ref() {
        post(&tabs.close, &msg);
    }
}

fn on_message(inner: &Rc<Inner>, msg: &JsValue) {
    match field(msg, "t").as_string().as_deref() {
        Some("tokens") => {
            let Some(exp) = field(msg, "exp").as_f64() else { return };
            let snapshot = Snapshot {
                access_token: field(msg, "at").as_string().map(AccessToken::new),
                refresh_token: field(msg, "rt").as_string().map(RefreshToken::new),
                scope: field(msg, "scope").as_string(),
                expires_at: WallMillis(exp.max(0.0) as u64),
            };
            let taken = inner.st.borrow_mut().m.restore(snapshot, js::now()).taken();
            if let (true, Some(gen), Some(tabs)) = (taken, field(msg, "gen").as_string(), inner.tabs.borrow().as_ref()) {
                *tabs.generation.borrow_mut() = gen;
            }
            drive(inner, &JsValue::UNDEFINED);
        }
        Some("signout") => {
            let _ = inner.st.borrow_mut().m.sign_out(); // the tab that signed out revokes
            drive(inner, &JsValue::UNDEFINED);
        }
        Some("hello") => share(inner),
        _ => {}
    }
}

/// The page is shown again, or the network is back: both clocks re-read, the token
/// re-checked at once (a timer may not have fired while the tab slept).
fn wake(inner: &Rc<Inner>) {
    inner.st.borrow_mut().m.handle_timeout(js::now());
    drive(inner, &JsValue::UNDEFINED);
}

fn err(e: Error) -> JsValue {
    js_error(&e)
}

fn get_str(o: &JsValue, k: &str) -> Result<Option<String>, JsValue> {
    let v = field(o, k);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string().map(Some).ok_or_else(|| err(Error::config(k.to_owned(), "must be a string")))
}

#[wasm_bindgen]
impl TokenClient {
    /// `createAuthorizationUrl({ state?, extraParams? })`: where to send the user. In a
    /// browser the pending sign-in waits in sessionStorage and this resolves to the URL;
    /// elsewhere it resolves to `{ url, state, codeVerifier, nonce }` for the app's session.
    #[wasm_bindgen(js_name = createAuthorizationUrl)]
    pub fn create_authorization_url(&self, options: JsValue) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let state = get_str(&options, "state")?;
            let extra: Vec<(String, String)> = match js::plain_entries(&field(&options, "extraParams")) {
                Some(entries) => entries
                    .iter()
                    .map(|pair| {
                        let pair = Array::from(&pair);
                        let k = pair.get(0).as_string().unwrap_or_default();
                        match pair.get(1).as_string() {
                            Some(v) => Ok((k, v)),
                            None => Err(err(Error::config(k, "must be a string"))),
                        }
                    })
                    .collect::<Result<_, _>>()?,
                None => Vec::new(),
            };
            let (p, url) = start_sign_in(&inner, state, &extra, &signin::StepUp::default()).await.map_err(err)?;
            let browser = inner.st.borrow().m.runtime() == Runtime::Browser;
            let key = scope_key(&inner).unwrap_or_default();
            if browser && save_pending(&key, &p.state, &p.verifier, p.nonce.clone()) {
                return Ok(JsValue::from_str(&url));
            }
            let o = Object::new();
            js::set(&o, "url", &JsValue::from_str(&url));
            js::set(&o, "state", &JsValue::from_str(&p.state));
            js::set(&o, "codeVerifier", &JsValue::from_str(&p.verifier));
            js::set(&o, "nonce", &p.nonce.as_deref().map_or(JsValue::UNDEFINED, JsValue::from_str));
            Ok(o.into())
        })
    }

    /// `completeAuthorization(callbackUrl, saved?)`: checks the callback against the
    /// pending sign-in (from sessionStorage, or `saved`: `{ state, codeVerifier, nonce }`),
    /// exchanges the code, and removes the code from the address bar.
    #[wasm_bindgen(js_name = completeAuthorization)]
    pub fn complete_authorization(&self, callback_url: JsValue, saved: JsValue) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let params = callback_pairs(&callback_url)
                .ok_or_else(|| err(Error::config("callbackUrl", "is not an absolute URL")))?;
            let key = scope_key(&inner).ok_or_else(|| {
                err(Error::config("grant", "completeAuthorization() needs grant \"authorization_code\""))
            })?;
            // Taken whatever happens next: a pending sign-in is used once.
            let from_storage = take_pending(&key).and_then(|s| parse_pending(&s));
            let pending = match from_storage {
                Some(p) => Some(p),
                None if saved.is_object() => Some(Pending {
                    state: get_str(&saved, "state")?.unwrap_or_default(),
                    verifier: get_str(&saved, "codeVerifier")?
                        .ok_or_else(|| err(Error::config("codeVerifier", "is required")))?,
                    nonce: get_str(&saved, "nonce")?,
                }),
                None => None,
            };
            clean_history(&callback_url);
            finish_sign_in(&inner, &params, pending.as_ref()).await.map_err(|e| inner.error(&e))?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Whether a user's session is held (a token, or a refresh token to get one).
    #[wasm_bindgen(getter, js_name = isAuthorized)]
    pub fn is_authorized(&self) -> bool {
        self.inner.st.borrow().m.is_authorized()
    }

    /// Revokes the session at the server (RFC 7009, when it has a revocation endpoint),
    /// forgets it here and in this browser's other tabs. Resolves once revoked; a failed
    /// revocation rejects, and the session is forgotten all the same.
    #[wasm_bindgen(js_name = signOut)]
    pub fn sign_out(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let revoke = inner.st.borrow_mut().m.sign_out();
            drive(&inner, &JsValue::UNDEFINED);
            if let Some(key) = scope_key(&inner) {
                let _ = take_pending(&key);
            }
            if let Some(tabs) = inner.tabs.borrow().as_ref() {
                post(&tabs.close, &message("signout", &[]));
            }
            let Some(req) = revoke else { return Ok(JsValue::UNDEFINED) };
            let fetch = inner.st.borrow().fetch.clone();
            revoke_at_server(&inner, fetch, &req).await.map(|_| JsValue::UNDEFINED).map_err(err)
        })
    }
}

/// A new sign-in for `inner`'s client (authorization code grant): its pending state and
/// the URL to send the user to. The one flow of `tokenkit/signin` and the broker: the
/// core makes the verifier, state, nonce and URL; WebCrypto the randomness and digest.
pub(super) async fn start_sign_in(inner: &Rc<Inner>, state: Option<String>, extra: &[(String, String)], step: &signin::StepUp) -> Result<(Pending, String), Error> {
    super::client::discovered(inner, &JsValue::UNDEFINED).await?;
    let scope = match inner.st.borrow().m.config().map(|c| &c.source) {
        Some(Source::Endpoint(ep)) => ep.scope.clone(),
        _ => return Err(Error::Disposed),
    };
    let p = signin::pending(&random_bytes(RANDOM_BYTES as u32).to_vec(), state, scope.as_deref())?;
    let digest = JsFuture::from(sha256(&p.verifier)).await.map_err(|_| Error::config("crypto", "WebCrypto's SHA-256 is unavailable"))?;
    let challenge = signin::code_challenge(&Uint8Array::new(&digest).to_vec());
    let authorize = {
        let st = inner.st.borrow();
        let Some(Source::Endpoint(ep)) = st.m.config().map(|c| &c.source) else { return Err(Error::Disposed) };
        let Grant::AuthorizationCode(ac) = &ep.grant else {
            return Err(Error::config("grant", "createAuthorizationUrl() needs grant \"authorization_code\""));
        };
        signin::authorize(ep, ac, &p, &challenge, extra, step, None, st.m.runtime())?
    };
    let url = match authorize {
        signin::Authorize::Redirect(url) => url,
        signin::Authorize::Push(req) => push(inner, req).await?,
    };
    Ok((p, url))
}

/// Pushes a sign-in's authorization request (RFC 9126) and reads the answer: the URL the
/// user goes to. A key-based client signs an assertion per attempt; with DPoP each attempt
/// carries a fresh proof, and a nonce demand is answered once (the machine says when).
async fn push(inner: &Rc<Inner>, req: crate::proto::http::HttpRequest) -> Result<String, Error> {
    use crate::proto::http::{Body, HttpResponse};
    let target = super::convert::parse_url(&req.url).map(|u| (u.origin, u.pathname)).unwrap_or_default();
    let mut attempt = 0;
    loop {
        let (body, headers) = body_and_headers(inner, &req).await?;
        let proof = inner.dpop_proof(|m, jti, wall| m.resource_proof("POST", &target.0, &target.1, None, wall, jti)).await?;
        if let Some(p) = proof {
            headers.push(&Array::of2(&JsValue::from_str("DPoP"), &JsValue::from_str(&p)));
        }
        const CAP: u32 = crate::proto::http::MAX_BODY_BYTES as u32;
        let sent = js::post_token(inner.fetch_fn(), &req.url, &headers, Some(&body), req.redirect, req.cache, req.credentials, None, CAP);
        let a: Array = JsFuture::from(sent).await.map_err(|_| Error::network("the pushed authorization request endpoint", &req.url, ""))?.unchecked_into();
        let status = a.get(0).as_f64().unwrap_or(0.0) as u16;
        let body = match a.get(2).as_string().map(|text| js_sys::JSON::parse(&text)) {
            Some(Ok(json)) => Body::Json(super::convert::to_value(&json, 1)),
            Some(Err(_)) => Body::NotJson,
            None => Body::TooLarge,
        };
        let error = match &body {
            Body::Json(crate::proto::value::Value::Object(f)) => match crate::proto::value::get(f, "error") {
                Some(crate::proto::value::Value::Str(e)) => Some(e.clone()),
                _ => None,
            },
            _ => None,
        };
        let nonce = a.get(3).as_string();
        let again = inner.st.borrow_mut().m.server_answer(&target.0, attempt, status, error.as_deref(), nonce.as_deref());
        if again {
            attempt += 1;
            continue;
        }
        let st = inner.st.borrow();
        let Some(Source::Endpoint(ep)) = st.m.config().map(|c| &c.source) else { return Err(Error::Disposed) };
        let Grant::AuthorizationCode(ac) = &ep.grant else { return Err(Error::Disposed) };
        return signin::pushed(ep, ac, &HttpResponse { status, retry_after: None, dpop_nonce: None, body });
    }
}

/// Completes a sign-in: the callback's `params` are checked against `pending` (state,
/// then the RFC 9207 issuer, then error or code), the code is redeemed through the
/// machine, and the ID token's nonce is checked; a nonce that is not ours signs out.
pub(super) async fn finish_sign_in(inner: &Rc<Inner>, params: &[(String, String)], pending: Option<&Pending>) -> Result<(), Error> {
    // The discovered metadata says whether the callback must carry iss (RFC 9207).
    super::client::discovered(inner, &JsValue::UNDEFINED).await?;
    let (issuer, iss_required) = match inner.st.borrow().m.config().map(|c| &c.source) {
        Some(Source::Endpoint(ep)) => match &ep.grant {
            Grant::AuthorizationCode(ac) => (ac.issuer.clone(), ac.iss_required),
            _ => (None, false),
        },
        _ => (None, false),
    };
    let code = signin::callback(params, pending, issuer.as_deref(), iss_required)?;
    let Some(p) = pending else { return Err(Error::StateMismatch { reason: "no sign-in is pending" }) };
    inner.st.borrow_mut().m.exchange(code, p.verifier.clone(), js::now())?;
    drive(inner, &JsValue::UNDEFINED);
    // The exchange is the machine's flight now: waiting for a token joins it.
    super::client::token(inner, &JsValue::UNDEFINED).await?;
    let id_token = inner.st.borrow_mut().m.take_id_token();
    if let Some(jwt) = id_token {
        if let Err(e) = signin::check_nonce(p.nonce.as_deref(), id_token_nonce(jwt.expose()).as_deref()) {
            let _ = inner.st.borrow_mut().m.sign_out();
            drive(inner, &JsValue::UNDEFINED);
            return Err(e);
        }
    }
    Ok(())
}

/// The query parameters of a callback URL as pairs, or `None` if it is not an absolute URL.
pub(super) fn callback_pairs(url: &JsValue) -> Option<Vec<(String, String)>> {
    let pairs = callback_params(url)?;
    Some(
        pairs
            .iter()
            .map(|p| {
                let p = Array::from(&p);
                (p.get(0).as_string().unwrap_or_default(), p.get(1).as_string().unwrap_or_default())
            })
            .collect(),
    )
}

/// `req`'s body, with a fresh client assertion appended when it asks for one
/// (`private_key_jwt`), and its headers as fetch takes them.
async fn body_and_headers(inner: &Rc<Inner>, req: &crate::proto::http::HttpRequest) -> Result<(String, Array), Error> {
    let mut body = req.body.clone();
    if req.assertion {
        body.push_str(&inner.client_assertion().await?);
    }
    let headers = Array::new();
    for (name, value) in &req.headers {
        headers.push(&Array::of2(&JsValue::from_str(name), &JsValue::from_str(value)));
    }
    Ok((body, headers))
}

/// Sends an RFC 7009 revocation request. The server answers 200 whether or not the token
/// was valid (§2.2); anything else, or no answer, is an error.
pub(super) async fn revoke_at_server(inner: &Rc<Inner>, fetch: Option<Function>, req: &crate::proto::http::HttpRequest) -> Result<(), Error> {
    let (body, headers) = body_and_headers(inner, req).await?;
    let status = JsFuture::from(post_revocation(fetch, &req.url, &headers, &body)).await.map_err(|_| Error::network("the revocation endpoint", &req.url, ""))?;
    // [status, DPoP-Nonce, error] (js/signin.js postRevocation).
    match js_sys::Reflect::get_u32(&status, 0).ok().and_then(|s| s.as_f64()).unwrap_or(0.0) as u16 {
        200..=299 => Ok(()),
        s => Err(Error::Http { status: s, detail: "the revocation endpoint refused", retry_after: None }),
    }
}

fn parse_pending(s: &str) -> Option<Pending> {
    let f = pending_fields(&JsValue::from_str(s))?;
    Some(Pending { state: f.get(0).as_string()?, verifier: f.get(1).as_string()?, nonce: f.get(2).as_string() })
}
