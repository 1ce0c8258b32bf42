//! Signing users in through the broker (backend-for-frontend; decisions in
//! [`crate::proto::bff`] and [`crate::proto::authcode`]).
//!
//! Two halves. The broker isolate (`TokenBroker`) answers `/login`, `/callback`,
//! `/logout`, `/session` and the user's `/proxy/` calls: it checks the session cookie's MAC
//! and asks the session's Durable Object. The object (`BrokerSession`, wrapped by the
//! `UserSession` class in worker/index.js, one per browser session) holds the pending
//! sign-in and the user's tokens in a token client of its own: the same machine as
//! `tokenkit/signin`, so a refresh is single-flight for all of the user's requests, which
//! all reach this one object. It saves what it holds to the object's storage on every
//! change, so a session outlives the object's eviction.

#[allow(unused_imports)]
use crate::prelude::*;

use alloc::rc::Rc;
use core::cell::{Cell, RefCell};

use js_sys::{Function, Object, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::{Request, Response};

use super::broker::respond;
use super::client::{drive, token, Inner};
use super::convert::parse_url;
use super::js;
use super::signin::{callback_pairs, id_token_nonce, random_bytes, revoke_at_server, sha256};
use crate::proto::authcode::{self, Pending, RANDOM_BYTES};
use crate::proto::bff::{self, SignIn};
use crate::proto::broker::{config_error_reply, BrokerConfig, EnvError, Reply};
use crate::proto::config::{Grant, Source};
use crate::proto::request::Runtime;
use crate::proto::response::{Issued, TokenId};
use crate::proto::time::{Millis, Secs};
use crate::proto::{Error, Secret};

#[wasm_bindgen(module = "/js/broker.js")]
extern "C" {
    #[wasm_bindgen(js_name = sessionFetch)]
    fn session_fetch(ns: &JsValue, sid: &str, op: &str, body: &str) -> Promise;
    #[wasm_bindgen(js_name = sessionMac)]
    fn session_mac(key: &str, text: &str) -> Promise;
}

fn b64url(bytes: &[u8]) -> String {
    let mut out = String::new();
    crate::proto::encode_base64url(&mut out, bytes);
    out
}

/// The broker isolate's side: the `SESSIONS` namespace and the sign-in settings.
pub(super) struct Front<'a> {
    pub sessions: &'a JsValue,
    pub cfg: &'a BrokerConfig,
    pub signin: &'a SignIn,
}

impl Front<'_> {
    async fn mac(&self, sid: &str) -> Result<String, Reply> {
        let v = JsFuture::from(session_mac(self.signin.session_key.expose(), &bff::mac_input(sid))).await;
        v.ok().and_then(|v| v.as_string()).ok_or_else(|| Reply::error(500, "broker_misconfigured", "the session key could not be used"))
    }

    /// The session id of a cookie whose MAC is ours; `None` for no cookie or a forged one
    /// (which never costs a Durable Object request).
    async fn session(&self, cookie: Option<&str>) -> Option<String> {
        let (sid, mac) = bff::session_cookie(cookie)?;
        let expected = self.mac(sid).await.ok()?;
        bff::mac_ok(&expected, mac).then(|| sid.to_owned())
    }

    /// Asks session `sid`'s object: `(status, body)`.
    async fn ask(&self, sid: &str, op: &str, body: &str) -> Result<(u16, String), Reply> {
        let unavailable = || Reply::error(502, "session_unavailable", "the session store could not be reached");
        let resp = JsFuture::from(session_fetch(self.sessions, sid, op, body)).await.map_err(|_| unavailable())?;
        let resp: Response = resp.unchecked_into();
        let status = resp.status();
        let body = JsFuture::from(resp.text().map_err(|_| unavailable())?).await.map_err(|_| unavailable())?;
        Ok((status, body.as_string().unwrap_or_default()))
    }

    /// The object's answer: its body on 200, else its error reply passed on.
    async fn ask_ok(&self, sid: &str, op: &str, body: &str) -> Result<String, Reply> {
        match self.ask(sid, op, body).await? {
            (200, b) => Ok(b),
            (status, body) => Err(Reply { status, headers: Vec::new(), body }),
        }
    }

    /// `GET /login?return_to=`: a new session (a fresh id, never one the browser brought:
    /// a session it already has is ended first), its pending sign-in in its object, and the
    /// redirect to the authorization server.
    pub async fn login(&self, return_to: Option<String>, cookie: Option<&str>) -> Reply {
        let r = async {
            let back = bff::return_target(return_to.as_deref(), &self.cfg.allowed_origins, &parse_url)?;
            if let Some(old) = self.session(cookie).await {
                let _ = self.ask(&old, "logout", "").await;
            }
            let sid = b64url(&random_bytes(32).to_vec());
            let mac = self.mac(&sid).await?;
            let url = self.ask_ok(&sid, "begin", &back).await?;
            let r = Reply { status: 302, headers: vec![("Cache-Control", "no-store".to_owned())], body: String::new() };
            Ok::<_, Reply>(r.with("Location", url).with("Set-Cookie", bff::set_cookie(&sid, &mac, self.signin.session_ttl)))
        };
        r.await.unwrap_or_else(|e| e)
    }

    /// `GET /callback`: the session's object checks the callback against its pending
    /// sign-in and exchanges the code; the browser goes back to the app.
    pub async fn callback(&self, url: &str, cookie: Option<&str>) -> Reply {
        let Some(sid) = self.session(cookie).await else {
            return bff::session_reply(&Error::StateMismatch { reason: "no session cookie" });
        };
        match self.ask_ok(&sid, "complete", url).await {
            Ok(back) => {
                let r = Reply { status: 302, headers: vec![("Cache-Control", "no-store".to_owned())], body: String::new() };
                r.with("Location", back)
            }
            Err(e) => e,
        }
    }

    /// `POST /logout`: the object revokes and forgets; the cookie is removed either way.
    pub async fn logout(&self, cookie: Option<&str>) -> Reply {
        let revoked = match self.session(cookie).await {
            Some(sid) => self.ask_ok(&sid, "logout", "").await.is_ok_and(|b| b == "revoked"),
            None => false,
        };
        let body = if revoked { "{\"signedOut\":true,\"revoked\":true}" } else { "{\"signedOut\":true,\"revoked\":false}" };
        let r = Reply { status: 200, headers: vec![("Cache-Control", "no-store".to_owned())], body: body.to_owned() };
        r.with("Set-Cookie", bff::clear_cookie())
    }

    /// `GET /session`: `{"signedIn": bool}`.
    pub async fn status(&self, cookie: Option<&str>) -> Reply {
        let signed_in = match self.session(cookie).await {
            Some(sid) => self.ask_ok(&sid, "status", "").await.is_ok_and(|b| b == "1"),
            None => false,
        };
        let body = if signed_in { "{\"signedIn\":true}" } else { "{\"signedIn\":false}" };
        Reply { status: 200, headers: vec![("Cache-Control", "no-store".to_owned())], body: body.to_owned() }
    }

    /// The user's access token for a `/proxy/` call (from the session's object, which
    /// refreshes it if due), and the session it belongs to.
    pub async fn user_token(&self, cookie: Option<&str>) -> Result<(String, String), Reply> {
        let sid = self
            .session(cookie)
            .await
            .ok_or_else(|| bff::session_reply(&Error::LoginRequired { reason: "no session" }))?;
        let t = self.ask_ok(&sid, "token", "").await?;
        Ok((sid, t))
    }

    /// The API refused `token`: the object drops it if it still holds it.
    pub async fn refused(&self, sid: &str, token: &str) {
        let _ = self.ask(sid, "refused", token).await;
    }
}

/// A session's Durable Object state, in wasm: `new BrokerSession(env, saved, persist)`,
/// then `handle(request)` for the broker isolate's internal requests. `saved` is what
/// `persist` last stored (or null); `persist(record | null)` stores (null: deletes).
#[wasm_bindgen(skip_typescript)]
pub struct BrokerSession {
    s: Rc<Session>,
}

struct Session {
    client: Result<Rc<Inner>, EnvError>,
    ttl: Secs,
    issuer: Option<String>,
    scope: Option<String>,
    /// The sign-in started here and where the browser goes after it.
    pending: RefCell<Option<(Pending, String)>>,
    /// When the session ends (wall-clock ms; 0: not signed in).
    until: Cell<u64>,
    /// The token last saved, so a token is written once however many calls saw it.
    saved: Cell<Option<TokenId>>,
    persist: Function,
}

fn field(o: &JsValue, k: &str) -> JsValue {
    js_sys::Reflect::get(o, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
}

#[wasm_bindgen]
impl BrokerSession {
    #[wasm_bindgen(constructor)]
    pub fn new(env: JsValue, saved: JsValue, persist: Function) -> BrokerSession {
        let get = |k: &str| js_sys::Reflect::get(&env, &JsValue::from_str(k)).ok().and_then(|v| v.as_string());
        let cfg = BrokerConfig::from_env(&get, &parse_url);
        let signin = cfg.and_then(|c| c.signin.ok_or(EnvError { var: "AUTHORIZE_URL", reason: "is required for sign-in" }));
        let (ttl, issuer, scope) = match &signin {
            Ok((s, c)) => match &c.source {
                Source::Endpoint(ep) => (
                    s.session_ttl,
                    match &ep.grant {
                        Grant::AuthorizationCode(ac) => ac.issuer.clone(),
                        Grant::ClientCredentials => None,
                    },
                    ep.scope.clone(),
                ),
                _ => (s.session_ttl, None, None),
            },
            Err(_) => (Secs(0), None, None),
        };
        let client = signin.map(|(_, c)| Inner::new(c, None, Runtime::Workerd));
        let s = Session {
            client,
            ttl,
            issuer,
            scope,
            pending: RefCell::new(None),
            until: Cell::new(0),
            saved: Cell::new(None),
            persist,
        };
        s.restore(&saved);
        BrokerSession { s: Rc::new(s) }
    }

    /// Answers one internal request, `POST https://session/<op>`.
    pub fn handle(&self, request: Request) -> Promise {
        let s = self.s.clone();
        future_to_promise(async move {
            let op = request.url().rsplit('/').next().unwrap_or_default().to_owned();
            let body = match request.text() {
                Ok(p) => JsFuture::from(p).await.ok().and_then(|v| v.as_string()).unwrap_or_default(),
                Err(_) => String::new(),
            };
            let reply = match &s.client {
                Err(e) => config_error_reply(e),
                Ok(inner) => s.op(inner, &op, body).await.unwrap_or_else(|e| bff::session_reply(&e)),
            };
            Ok(respond(reply, &[]).into())
        })
    }
}

fn ok(body: impl Into<String>) -> Result<Reply, Error> {
    Ok(Reply { status: 200, headers: Vec::new(), body: body.into() })
}

impl Session {
    async fn op(&self, inner: &Rc<Inner>, op: &str, body: String) -> Result<Reply, Error> {
        let live = self.until.get() > js::wall().0;
        match op {
            "begin" => {
                let p = authcode::pending(&random_bytes(RANDOM_BYTES as u32).to_vec(), None, self.scope.as_deref())?;
                let digest = JsFuture::from(sha256(&p.verifier)).await.map_err(|_| Error::Network)?;
                let challenge = authcode::code_challenge(&Uint8Array::new(&digest).to_vec());
                let url = {
                    let st = inner.st.borrow();
                    let Some(Source::Endpoint(ep)) = st.m.config().map(|c| &c.source) else { return Err(Error::Disposed) };
                    let Grant::AuthorizationCode(ac) = &ep.grant else { return Err(Error::Disposed) };
                    authcode::authorization_url(ep, ac, &p, &challenge, &[])?
                };
                *self.pending.borrow_mut() = Some((p, body));
                self.save().await;
                ok(url)
            }
            "complete" => {
                // A pending sign-in is used once, whatever happens next.
                let pending = self.pending.borrow_mut().take();
                self.save().await;
                let params = callback_pairs(&JsValue::from_str(&body)).unwrap_or_default();
                let code = authcode::callback(&params, pending.as_ref().map(|(p, _)| p), self.issuer.as_deref())?;
                let Some((p, back)) = pending else { return Err(Error::StateMismatch { reason: "no sign-in is pending" }) };
                inner.st.borrow_mut().m.exchange(code, p.verifier.clone(), js::now())?;
                drive(inner, &JsValue::UNDEFINED);
                token(inner, &JsValue::UNDEFINED).await?;
                let id_token = inner.st.borrow_mut().m.take_id_token();
                if let Some(jwt) = id_token {
                    let claim = id_token_nonce(jwt.expose());
                    if let Err(e) = authcode::check_nonce(p.nonce.as_deref(), claim.as_deref()) {
                        self.forget(inner).await;
                        return Err(e);
                    }
                }
                self.until.set(js::wall().0 + self.ttl.0 * 1000);
                self.save().await;
                ok(back)
            }
            "token" => {
                // Not signed in (yet): a sign-in this browser has under way must survive.
                if self.until.get() == 0 {
                    return Err(Error::LoginRequired { reason: "no user is signed in" });
                }
                if !live {
                    self.forget(inner).await;
                    return Err(Error::LoginRequired { reason: "the session has ended" });
                }
                match token(inner, &JsValue::UNDEFINED).await {
                    Ok(t) => {
                        if self.saved.get() != Some(t.id) {
                            self.save().await;
                        }
                        ok(t.access_token.expose())
                    }
                    Err(e @ Error::LoginRequired { .. }) => {
                        self.forget(inner).await;
                        Err(e)
                    }
                    Err(e) => Err(e),
                }
            }
            "status" => ok(if live && inner.st.borrow().m.is_authorized() { "1" } else { "0" }),
            "refused" => {
                let id = inner.st.borrow().m.session().filter(|(t, _)| t.access_token.expose() == body).map(|(t, _)| t.id);
                if let Some(id) = id {
                    inner.refused(id, None, false);
                }
                ok("")
            }
            "logout" => ok(if self.forget(inner).await { "revoked" } else { "" }),
            _ => Ok(Reply::error(404, "not_found", "unknown session operation")),
        }
    }

    /// Ends the session: revoked at the server (when it has a revocation endpoint), and
    /// nothing kept here or in storage. Whether the server confirmed the revocation.
    async fn forget(&self, inner: &Rc<Inner>) -> bool {
        let revoke = inner.st.borrow_mut().m.sign_out();
        drive(inner, &JsValue::UNDEFINED);
        self.pending.borrow_mut().take();
        self.until.set(0);
        self.save().await;
        let Some(req) = revoke else { return false };
        revoke_at_server(None, &req).await.is_ok()
    }

    /// Stores what this session holds (`persist(null)` when it holds nothing).
    async fn save(&self) {
        let record = Object::new();
        let mut any = false;
        let mut put = |k: &str, v: &str| {
            js::set(&record, k, &JsValue::from_str(v));
            any = true;
        };
        if let Some((p, back)) = self.pending.borrow().as_ref() {
            put("ps", &p.state);
            put("pv", &p.verifier);
            put("pr", back);
            if let Some(n) = &p.nonce {
                put("pn", n);
            }
        }
        let mut id = None;
        if let Ok(inner) = &self.client {
            let st = inner.st.borrow();
            if let (Some((t, rt)), true) = (st.m.session(), self.until.get() > 0) {
                id = Some(t.id);
                put("at", t.access_token.expose());
                if let Some(rt) = rt {
                    put("rt", rt.expose());
                }
                if let Some(sc) = &t.scope {
                    put("sc", sc);
                }
                let exp = js::wall().0 + js::now().until(t.expires_at).0;
                js::set(&record, "exp", &JsValue::from_f64(exp as f64));
                js::set(&record, "u", &JsValue::from_f64(self.until.get() as f64));
            }
        }
        self.saved.set(id);
        // When the object deletes it all (its alarm): the session's end, or an abandoned sign-in's.
        if let Some(x) = bff::expiry(self.until.get(), self.pending.borrow().is_some(), js::wall().0) {
            js::set(&record, "x", &JsValue::from_f64(x as f64));
        }
        let arg = if any { JsValue::from(record) } else { JsValue::NULL };
        if let Ok(p) = self.persist.call1(&JsValue::UNDEFINED, &arg) {
            if let Ok(p) = p.dyn_into::<Promise>() {
                let _ = JsFuture::from(p).await;
            }
        }
    }

    /// Takes up what [`Session::save`] stored (after the object was evicted).
    fn restore(&self, saved: &JsValue) {
        if !saved.is_object() {
            return;
        }
        let s = |k: &str| field(saved, k).as_string();
        if let (Some(state), Some(verifier), Some(back)) = (s("ps"), s("pv"), s("pr")) {
            *self.pending.borrow_mut() = Some((Pending { state, verifier, nonce: s("pn") }, back));
        }
        let (Some(at), Some(exp), Some(until), Ok(inner)) =
            (s("at"), field(saved, "exp").as_f64(), field(saved, "u").as_f64(), &self.client)
        else {
            return;
        };
        let left = Millis((exp - js::wall().0 as f64).max(0.0) as u64);
        let issued = Issued {
            access_token: Secret::new(at),
            lifetime: Secs(left.0 / 1000),
            scope: s("sc"),
            refresh_token: s("rt").map(Secret::new),
            id_token: None,
        };
        inner.st.borrow_mut().m.adopt(issued, js::now());
        self.until.set(until as u64);
        self.saved.set(inner.st.borrow().m.session().map(|(t, _)| t.id));
    }
}
