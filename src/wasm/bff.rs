//! Signing users in through the broker (backend-for-frontend). Every decision is in
//! [`crate::proto::broker::bff`] (cookies, the session's lifecycle, its record) and in the one
//! sign-in flow shared with `tokenkit/signin` ([`super::signin::start_sign_in`],
//! [`super::signin::finish_sign_in`]); this carries them out.
//!
//! Two halves. The broker isolate (`TokenBroker`) answers `/login`, `/callback`,
//! `/logout`, `/session` and the user's `/proxy/` calls: it checks a cookie's MAC and asks
//! the session's Durable Object. The object (`BrokerSession`, wrapped by the `UserSession`
//! class in worker/index.js, one per browser session) holds the pending sign-in and the
//! user's tokens in a token client of its own: the same machine as `tokenkit/signin`, so a
//! refresh is single-flight for all of the user's requests, which all reach this one
//! object. It writes its record to the object's storage whenever the session machine says
//! storage is behind, so a session outlives the object's eviction.

#[allow(unused_imports)]
use crate::prelude::*;

use alloc::rc::Rc;
use core::cell::RefCell;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::{Request, Response};

use crate::proto::Error;
use crate::proto::broker::bff::{self, Completed, CookieKind, Next, Record, SessionOp, SignIn, TokenVerdict, UserSession};
use crate::proto::broker::config::{config_error_reply, BrokerConfig, EnvError, Role, TokenTarget};
use crate::proto::client::request::Runtime;
use crate::proto::http::Reply;
use crate::proto::time::Secs;
use super::broker::respond;
use super::client::{drive, token, Inner};
use super::convert::{parse_url, to_value};
use super::js;
use super::signin::{callback_pairs, finish_sign_in, random_bytes, revoke_at_server, start_sign_in};

#[wasm_bindgen(module = "/js/broker.js")]
extern "C" {
    #[wasm_bindgen(js_name = sessionFetch)]
    fn session_fetch(ns: &JsValue, sid: &str, url: &str, body: &str) -> Promise;
    #[wasm_bindgen(js_name = sessionMac)]
    fn session_mac(key: &str, text: &str) -> Promise;
    #[wasm_bindgen(js_name = parseRecord)]
    fn parse_record(saved: &JsValue) -> JsValue;
}

fn b64url(bytes: &[u8]) -> String {
    let mut out = String::new();
    crate::proto::encode_base64url(&mut out, bytes);
    out
}

fn no_store(status: u16, body: &str) -> Reply {
    Reply { status, headers: Vec::new(), body: body.to_owned() }.with("Cache-Control", "no-store")
}

/// The broker isolate's side: the `SESSIONS` namespace and the sign-in settings.
pub(super) struct Front<'a> {
    pub sessions: &'a JsValue,
    pub cfg: &'a BrokerConfig,
    pub signin: &'a SignIn,
}

impl Front<'_> {
    async fn mac(&self, kind: CookieKind, sid: &str) -> Result<String, Reply> {
        let misconfigured = || Reply::error(500, "broker_misconfigured", "the session key could not be used");
        let key = self.signin.session_key.as_ref().ok_or_else(misconfigured)?;
        let v = JsFuture::from(session_mac(key.expose(), &bff::mac_input(kind, sid))).await;
        v.ok().and_then(|v| v.as_string()).ok_or_else(misconfigured)
    }

    /// The session id of `kind`'s cookie if its MAC is ours; `None` for no cookie or a
    /// forged one (which never costs a Durable Object request).
    async fn session(&self, cookie: Option<&str>, kind: CookieKind) -> Option<String> {
        let (sid, mac) = bff::session_cookie(cookie, kind)?;
        let expected = self.mac(kind, sid).await.ok()?;
        bff::mac_ok(&expected, mac).then(|| sid.to_owned())
    }

    /// Asks session `sid`'s object: `(status, body)`.
    async fn ask(&self, sid: &str, op: SessionOp, body: &str) -> Result<(u16, String), Reply> {
        let unavailable = || Reply::error(502, "session_unavailable", "the session store could not be reached");
        let resp = JsFuture::from(session_fetch(self.sessions, sid, &op.url(), body)).await.map_err(|_| unavailable())?;
        let resp: Response = resp.unchecked_into();
        let status = resp.status();
        let body = JsFuture::from(resp.text().map_err(|_| unavailable())?).await.map_err(|_| unavailable())?;
        Ok((status, body.as_string().unwrap_or_default()))
    }

    /// The object's answer: its body on 200, else its error reply passed on.
    async fn ask_ok(&self, sid: &str, op: SessionOp, body: &str) -> Result<String, Reply> {
        match self.ask(sid, op, body).await? {
            (200, b) => Ok(b),
            (status, body) => Err(Reply { status, headers: Vec::new(), body }),
        }
    }

    /// `GET /login?return_to=`: a new session (a fresh id, never one the browser brought:
    /// a session or sign-in it already has is ended first), its pending sign-in in its
    /// object, its cookie, and the redirect to the authorization server.
    pub async fn login(&self, return_to: Option<String>, step: [Option<String>; 3], cookie: Option<&str>) -> Reply {
        let r = async {
            let back = bff::return_target(return_to.as_deref(), &self.cfg.allowed_origins, &parse_url)?;
            // Step-up (RFC 9470) from /login's query: checked here, begun by the object.
            let [acr, max_age, scope] = &step;
            let configured = self.cfg.signin.as_ref().and_then(|(_, c)| match &c.source {
                crate::proto::client::config::Source::Endpoint(ep) => ep.scope.as_deref(),
                _ => None,
            });
            let begin = bff::begin_body(&back, acr.as_deref(), max_age.as_deref(), scope.as_deref(), self.signin, configured)?;
            for kind in [CookieKind::Session, CookieKind::Pending] {
                if let Some(old) = self.session(cookie, kind).await {
                    let _ = self.ask(&old, SessionOp::Logout, "").await;
                }
            }
            let sid = b64url(&random_bytes(32).to_vec());
            let mac = self.mac(CookieKind::Pending, &sid).await?;
            let url = self.ask_ok(&sid, SessionOp::Begin, &begin).await?;
            Ok::<_, Reply>(
                no_store(302, "")
                    .with("Location", url)
                    .with("Set-Cookie", bff::set_cookie(CookieKind::Pending, &sid, &mac, bff::PENDING_TTL)),
            )
        };
        r.await.unwrap_or_else(|e| e)
    }

    /// `GET /callback`: the object of the sign-in this browser started (its pending
    /// cookie, the only thing this route reads) checks the callback and redeems the code;
    /// the pending cookie is cleared either way, and a session cookie set on success.
    pub async fn callback(&self, url: &str, cookie: Option<&str>) -> Reply {
        let r = match self.session(cookie, CookieKind::Pending).await {
            None => bff::session_reply(&Error::StateMismatch { reason: "no sign-in cookie" }),
            Some(sid) => match self.ask_ok(&sid, SessionOp::Complete, url).await {
                Ok(body) => match (Completed::decode(&body), self.mac(CookieKind::Session, &sid).await) {
                    (Some(done), Ok(mac)) => no_store(302, "")
                        .with("Location", done.return_to)
                        .with("Set-Cookie", bff::set_cookie(CookieKind::Session, &sid, &mac, done.max_age))
                        .with("Set-Cookie", bff::clear_old_cookie()),
                    (_, Err(e)) => e,
                    (None, _) => Reply::error(502, "session_unavailable", "the session store answered out of contract"),
                },
                Err(e) => e,
            },
        };
        r.with("Set-Cookie", bff::clear_cookie(CookieKind::Pending))
    }

    /// `POST /logout`: the object revokes and forgets; the cookies are removed either way.
    pub async fn logout(&self, cookie: Option<&str>) -> Reply {
        let revoked = match self.session(cookie, CookieKind::Session).await {
            Some(sid) => self.ask_ok(&sid, SessionOp::Logout, "").await.is_ok_and(|b| b == "revoked"),
            None => false,
        };
        let body = if revoked { "{\"signedOut\":true,\"revoked\":true}" } else { "{\"signedOut\":true,\"revoked\":false}" };
        no_store(200, body).with("Set-Cookie", bff::clear_cookie(CookieKind::Session)).with("Set-Cookie", bff::clear_old_cookie())
    }

    /// `GET /session`: `{"signedIn": bool}`.
    pub async fn status(&self, cookie: Option<&str>) -> Reply {
        let signed_in = match self.session(cookie, CookieKind::Session).await {
            Some(sid) => self.ask_ok(&sid, SessionOp::Status, "").await.is_ok_and(|b| b == "1"),
            None => false,
        };
        no_store(200, if signed_in { "{\"signedIn\":true}" } else { "{\"signedIn\":false}" })
    }

    /// The user's access token for a `/proxy/` call (from the session's object, which
    /// refreshes it if due), and the session it belongs to.
    /// `route`: the `PROXY_ROUTES` entry whose own token the call takes: the user's
    /// exchanged for one for that API (RFC 8693), by the session's object.
    pub async fn user_token(&self, cookie: Option<&str>, route: Option<usize>) -> Result<(String, String), Reply> {
        let sid = self
            .session(cookie, CookieKind::Session)
            .await
            .ok_or_else(|| bff::session_reply(&Error::LoginRequired { reason: "no session" }))?;
        let mut body = String::new();
        if let Some(i) = route {
            crate::proto::encode_u64(&mut body, i as u64);
        }
        let t = self.ask_ok(&sid, SessionOp::Token, &body).await?;
        Ok((sid, t))
    }

    /// The API refused `token`: the object drops it if it still holds it.
    pub async fn refused(&self, sid: &str, token: &str) {
        let _ = self.ask(sid, SessionOp::Refused, token).await;
    }
}

/// A session's Durable Object state, in wasm: `new BrokerSession(env, saved, persist)`,
/// then `handle(request)` for the broker isolate's requests and `expire()` for the
/// object's alarm. `saved` is what `persist` last stored (or null); `persist(text, deleteAt)`
/// stores the record (`text` null: delete it) and sets the alarm.
#[wasm_bindgen(skip_typescript)]
pub struct BrokerSession {
    s: Rc<Session>,
}

struct Session {
    client: Result<Rc<Inner>, EnvError>,
    /// What each `PROXY_ROUTES` entry's token is for (RFC 8693 exchanges), `None` for an
    /// entry that names no token of its own.
    targets: Vec<Option<TokenTarget>>,
    /// Their machines, made on first use: the user's token exchanged for each API, cached
    /// and single-flight per session and API; forgotten when the session ends.
    exchanged: RefCell<Vec<(usize, Rc<Inner>)>>,
    /// What the exchange clients sign with: the session client's DPoP key and client key.
    dpop: Option<super::client::DpopSource>,
    env: JsValue,
    ttl: Secs,
    /// The session's lifecycle (the decisions).
    life: RefCell<UserSession>,
    persist: Function,
}

#[wasm_bindgen]
impl BrokerSession {
    #[wasm_bindgen(constructor)]
    pub fn new(env: JsValue, saved: JsValue, persist: Function) -> BrokerSession {
        let get = |k: &str| js_sys::Reflect::get(&env, &JsValue::from_str(k)).ok().and_then(|v| v.as_string());
        let signin = BrokerConfig::from_env(Role::Session, &get, super::broker::secret_key_view(&env, "CLIENT_KEY").as_ref(), &parse_url).and_then(|c| {
            // The session's tokens are used by the edge's isolates: one key, DPOP_KEY.
            let dpop = super::broker::dpop_source(&c, &env, true)?;
            let targets: Vec<Option<TokenTarget>> = c.proxy_routes.iter().map(|r| r.token.clone()).collect();
            c.signin.map(|s| (s, dpop, targets)).ok_or(EnvError { var: "AUTHORIZE_URL", reason: "is required for sign-in" })
        });
        let ttl = signin.as_ref().map_or(Secs(0), |((s, _), ..)| s.session_ttl);
        let (mut targets, mut exchange_dpop) = (Vec::new(), None);
        let client = signin.map(|((_, c), dpop, routes)| {
            targets = routes;
            exchange_dpop = dpop.clone();
            let inner = Inner::new(c, None, Runtime::Workerd);
            *inner.dpop.borrow_mut() = dpop;
            *inner.key_env.borrow_mut() = env.clone();
            inner
        });
        let record = Record::decode(&to_value(&parse_record(&saved), 4));
        let (life, tokens) = UserSession::restore(record, js::now().wall.0);
        let s = Session { client, targets, exchanged: RefCell::new(Vec::new()), dpop: exchange_dpop, env: env.clone(), ttl, life: RefCell::new(life), persist };
        if let (Some(t), Ok(inner)) = (tokens, &s.client) {
            let taken = inner.st.borrow_mut().m.restore(t, js::now());
            s.life.borrow_mut().restored(taken.token());
        }
        BrokerSession { s: Rc::new(s) }
    }

    /// Answers one request of the broker isolate, `POST <SESSION_URL><op>`.
    pub fn handle(&self, request: Request) -> Promise {
        let s = self.s.clone();
        future_to_promise(async move {
            let op = SessionOp::from_url(&request.url());
            let body = match request.text() {
                Ok(p) => JsFuture::from(p).await.ok().and_then(|v| v.as_string()).unwrap_or_default(),
                Err(_) => String::new(),
            };
            let reply = match (&s.client, op) {
                (Err(e), _) => config_error_reply(e),
                (Ok(_), None | Some(SessionOp::Expire)) => Reply::error(404, "not_found", "unknown session operation"),
                (Ok(inner), Some(op)) => s.run(inner, op, body).await,
            };
            Ok(respond(reply, &[]).into())
        })
    }

    /// The object's alarm: a session whose time is up, or an abandoned sign-in, is
    /// revoked and forgotten as at sign-out.
    pub fn expire(&self) -> Promise {
        let s = self.s.clone();
        future_to_promise(async move {
            if let Ok(inner) = &s.client {
                s.run(inner, SessionOp::Expire, String::new()).await;
            }
            Ok(JsValue::UNDEFINED)
        })
    }
}

fn ok(body: impl Into<String>) -> Reply {
    Reply { status: 200, headers: Vec::new(), body: body.into() }
}

impl Session {
    /// Carries out `op` as the session machine says, then writes the record if it is behind.
    async fn run(&self, inner: &Rc<Inner>, op: SessionOp, body: String) -> Reply {
        let authorized = inner.st.borrow().m.is_authorized();
        let next = self.life.borrow_mut().op(op, js::now().wall.0, authorized);
        let reply = match next {
            Next::Answer(b) => Ok(ok(b)),
            Next::Fail(e) => Err(e),
            Next::SignIn => {
                let (return_to, step) = bff::parse_begin(&body);
                match start_sign_in(inner, None, &[], &step).await {
                    Ok((p, url)) => {
                        self.life.borrow_mut().begun(p, return_to, js::now().wall.0);
                        Ok(ok(url))
                    }
                    Err(e) => Err(e),
                }
            }
            Next::Complete(p) => {
                let params = callback_pairs(&JsValue::from_str(&body)).unwrap_or_default();
                match finish_sign_in(inner, &params, Some(&p.pending)).await {
                    Ok(()) => {
                        let (expires, refreshable) = match inner.st.borrow().m.session() {
                            Some((t, rt)) => (js::now().wall_at(t.expires_at).0, rt.is_some()),
                            None => (0, false),
                        };
                        let done = self.life.borrow_mut().completed(p.return_to, js::now().wall.0, self.ttl, expires, refreshable);
                        Ok(ok(done.encode()))
                    }
                    Err(e) => {
                        self.end(inner).await;
                        Err(e)
                    }
                }
            }
            Next::Token => {
                let r = token(inner, &JsValue::UNDEFINED).await;
                let verdict = self.life.borrow_mut().token_result(r.as_ref().map(|t| t.id));
                match (verdict, r) {
                    // A route's own token: the user's exchanged for one for that API. A
                    // refresh may have rotated the refresh token: it is written before the new
                    // access token goes anywhere (an exchange, the API), so an eviction cannot
                    // bring back the spent one.
                    (TokenVerdict::Serve, Ok(t)) => {
                        self.save(inner).await;
                        match crate::proto::parse_decimal(&body, 4) {
                            None => Ok(ok(t.access_token.expose())),
                            Some(i) => self.exchange(inner, i as usize, t.access_token).await.map(ok),
                        }
                    }
                    (TokenVerdict::End, Err(e)) => {
                        self.end(inner).await;
                        Err(e)
                    }
                    (_, Err(e)) => Err(e),
                    (_, Ok(_)) => Err(Error::Disposed),
                }
            }
            Next::Refused => {
                let id = inner.st.borrow().m.session().filter(|(t, _)| t.access_token.expose() == body).map(|(t, _)| t.id);
                if let Some(id) = id {
                    inner.refused(id, None, false);
                }
                // Or one of its exchanged tokens: that route's next call exchanges anew.
                for (_, x) in self.exchanged.borrow().iter() {
                    let id = x.st.borrow().m.session().filter(|(t, _)| t.access_token.expose() == body).map(|(t, _)| t.id);
                    if let Some(id) = id {
                        x.refused(id, None, false);
                    }
                }
                Ok(ok(""))
            }
            Next::End(then) => {
                let revoked = self.end(inner).await;
                then.map(|()| ok(if revoked { "revoked" } else { "" }))
            }
        };
        self.save(inner).await;
        reply.unwrap_or_else(|e| bff::session_reply(&e))
    }

    /// The user's access token `subject` exchanged for route `i`'s token (RFC 8693), by
    /// that route's client: its token while valid, else one exchange however many calls
    /// wait for it.
    async fn exchange(&self, inner: &Rc<Inner>, i: usize, subject: crate::proto::AccessToken) -> Result<String, Error> {
        let known = self.exchanged.borrow().iter().find(|(r, _)| *r == i).map(|(_, x)| x.clone());
        let client = match known {
            Some(x) => x,
            None => {
                let target = self.targets.get(i).and_then(Option::as_ref).ok_or(Error::config("PROXY_ROUTES", "this entry names no token of its own"))?;
                // From the session's client as it stands: its endpoints are discovered already.
                let cfg = inner.st.borrow().m.config().map(|c| crate::proto::broker::config::exchange_client(c, target)).ok_or(Error::Disposed)?;
                let x = Inner::new(cfg, None, Runtime::Workerd);
                *x.dpop.borrow_mut() = self.dpop.clone();
                *x.key_env.borrow_mut() = self.env.clone();
                self.exchanged.borrow_mut().push((i, x.clone()));
                x
            }
        };
        client.st.borrow_mut().m.set_subject(subject);
        token(&client, &JsValue::UNDEFINED).await.map(|t| t.access_token.expose().to_owned())
    }

    /// Ends the session: revoked at the server (when it has a revocation endpoint), and
    /// nothing kept here. Whether the server confirmed the revocation.
    async fn end(&self, inner: &Rc<Inner>) -> bool {
        // The exchanged tokens go with the session, revoked at the same endpoint.
        let mut revocations = Vec::new();
        for (_, x) in self.exchanged.borrow_mut().drain(..) {
            let mut xm = x.st.borrow_mut();
            if let Some(req) = xm.m.session().and_then(|(t, _)| inner.st.borrow().m.revocation(t.access_token.expose(), "access_token")) {
                revocations.push(req);
            }
            xm.m.dispose();
        }
        let revoke = inner.st.borrow_mut().m.sign_out();
        drive(inner, &JsValue::UNDEFINED);
        self.life.borrow_mut().ended();
        self.save(inner).await;
        for req in &revocations {
            let _ = revoke_at_server(inner, None, req).await;
        }
        let Some(req) = revoke else { return false };
        revoke_at_server(inner, None, &req).await.is_ok()
    }

    /// Writes the record if the session machine says storage is behind.
    async fn save(&self, inner: &Rc<Inner>) {
        if !self.life.borrow().behind() {
            return; // saved already (a session that ended), or nothing changed
        }
        let tokens = inner.st.borrow_mut().m.snapshot(js::now());
        let Some(record) = self.life.borrow_mut().take_record(tokens) else { return };
        let text = record.encode().map_or(JsValue::NULL, |t| JsValue::from_str(&t));
        let delete_at = record.delete_at().map_or(JsValue::UNDEFINED, |x| JsValue::from_f64(x as f64));
        if let Ok(p) = self.persist.call2(&JsValue::UNDEFINED, &text, &delete_at) {
            if let Ok(p) = p.dyn_into::<Promise>() {
                let _ = JsFuture::from(p).await;
            }
        }
    }
}
