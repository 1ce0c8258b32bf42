//! The exported `Core` of the client builds (`tokenkit`, `tokenkit/signin`, `tokenkit/dpop`,
//! each with its servers' twin): the client machine
//! ([`crate::proto::client::machine::Machine`]) behind a synchronous interface.
//!
//! Nothing here waits. js/shell.js (with js/signin.js, js/dpop.js and js/server.js) owns every
//! promise, `fetch`, `AbortController`, timer, listener and `ctx.waitUntil`, and calls in with
//! one reading of both clocks per input; each call does what the machine says and returns.
//! What the machine asks the shell to do comes out of [`Core::poll`] one action at a time, as
//! plain arrays (see [`Core::poll`]), and what may be served without asking comes out of
//! [`Core::serving`]. A token response goes in once, as its status, `Retry-After` and the body
//! the shell's one `JSON.parse` left ([`Core::response`]). The broker's token clients are
//! `Core`s too, made from its configuration (src/wasm/broker.rs) and driven by the same
//! JavaScript driver (js/broker.js hands them to js/shell.js).

#[allow(unused_imports)]
use crate::prelude::*;

use js_sys::Array;
use wasm_bindgen::prelude::*;

use crate::boundary::{action, body, runtime, status};
use crate::proto::client::presets::{GENERIC, PRESETS};
#[cfg(feature = "dpop")]
use crate::proto::dpop::{DpopKey, JTI_BYTES};
use crate::proto::client::machine::{Action, AttemptId, FlightId, Get, Machine, Outcome, Serving};
use crate::proto::client::request::Runtime;
use crate::proto::client::response::{TokenId, TokenSet, NEVER};
use crate::proto::client::sign::{self, Plan};
#[cfg(feature = "server")]
use crate::proto::jwk::ASSERTION_JTI_BYTES;
use crate::proto::http::{first_challenge, Body, HttpResponse, MAX_BODY_BYTES};
use crate::proto::time::{Instant, Now, WallMillis};
use crate::proto::{Config, Error};
use super::convert::{js_error, parse_url, to_value};
#[cfg(feature = "signin")]
use crate::proto::client::config::{AuthCode, Endpoint, Grant, Source};
#[cfg(feature = "signin")]
use crate::proto::client::machine::{generation_of, lock_hold, Snapshot};
#[cfg(feature = "signin")]
use crate::proto::signin::{self, Pending};
#[cfg(feature = "signin")]
use crate::proto::value::Value;
#[cfg(feature = "signin")]
use crate::proto::{AccessToken, RefreshToken};

/// A token client's decisions; js/client.js's `TokenClient` carries them out.
#[wasm_bindgen(skip_typescript)]
pub struct Core {
    m: Machine,
    /// What [`Core::serving`] last said: it answers `undefined` ("unchanged") until it changes.
    published: Option<Option<(TokenId, Instant)>>,
    /// The `nonce` of the sign-in being completed, for its ID token.
    #[cfg(feature = "signin")]
    nonce: Option<String>,
    /// What the client's key options are called where they were set, for errors about them:
    /// `CLIENT_KEY` and `DPOP_KEY` (the broker's env); a client's are [`OPTION_KEYS`].
    #[cfg(feature = "broker")]
    keys: (&'static str, &'static str),
}

/// The client-key and DPoP-key options, as a client's options name them.
const OPTION_KEYS: (&str, &str) = ("clientKey", "dpop");

/// What a request's answer is when nothing was sent because WebCrypto could not import or
/// sign with the client's key (js/server.js rejects with it).
const KEY_REFUSED: f64 = status::KEY_REFUSED as f64;
/// ... or could not make, import or sign with the DPoP key (js/dpop.js).
const DPOP_KEY_FAILED: f64 = status::KEY_FAILED as f64;

/// Both clocks as the shell read them for one input.
pub(super) fn now(mono: f64, wall: f64) -> Now {
    Now { mono: Instant(mono as u64), wall: WallMillis(wall as u64) }
}

fn num(n: u64) -> JsValue {
    JsValue::from_f64(n as f64)
}

// An action of one value is `Array::of2(kind, value)`: its value is at slot 1.
const _: () = assert!(crate::boundary::value::SLOT == 1);

/// An action's kind (src/boundary.rs).
fn act(kind: u8) -> JsValue {
    JsValue::from(kind)
}

/// A body as the shell's one `JSON.parse` left it: `kind` 0, the parsed `body` (read
/// `depth` levels deep); 1, not JSON; 2, larger than the cap.
fn body_of(body: &JsValue, kind: u8, depth: u8) -> Body {
    match kind {
        body::JSON => Body::Json(to_value(body, depth)),
        body::NOT_JSON => Body::NotJson,
        _ => Body::TooLarge,
    }
}

fn str_or_null(s: Option<&str>) -> JsValue {
    s.map_or(JsValue::NULL, JsValue::from_str)
}

#[wasm_bindgen]
impl Core {
    /// A client of preset `preset` (its index in [`PRESETS`]) configured by
    /// `options`, in `runtime` (0 browser, 1 Node, 2 workerd); `seed` seeds the backoff
    /// jitter. Throws `INVALID_CONFIG`.
    #[wasm_bindgen(constructor)]
    pub fn new(preset: u8, options: JsValue, runtime: u8, seed: f64) -> Result<Core, JsValue> {
        let preset = PRESETS.get(preset as usize).copied().unwrap_or(&GENERIC);
        let runtime = match runtime {
            runtime::NODE => Runtime::Node,
            runtime::WORKERD => Runtime::Workerd,
            _ => Runtime::Browser,
        };
        let cfg = Config::from_options(preset, &to_value(&options, 3), &parse_url).and_then(|c| c.check_runtime(runtime)).map_err(|e| js_error(&e))?;
        Ok(Core {
            m: Machine::new(cfg, runtime, seed as u64),
            published: None,
            #[cfg(feature = "signin")]
            nonce: None,
            #[cfg(feature = "broker")]
            keys: OPTION_KEYS,
        })
    }

    /// A caller wants a token: its record (see [`record`]) at once, or the id of the
    /// flight to wait for (a number); throws the failure.
    pub fn get(&mut self, mono: f64, wall: f64) -> Result<JsValue, JsValue> {
        let now = now(mono, wall);
        match self.m.get(now) {
            Get::Ready(t) => Ok(self.record(&t, now)),
            Get::Wait(FlightId(id)) => Ok(num(id)),
            Get::Fail(e) => Err(js_error(&e)),
        }
    }

    /// Where flight `id` stands: `undefined` still running, `null` gone (ask [`Core::get`]
    /// again), a token record, or throws its failure.
    pub fn outcome(&self, id: f64, mono: f64, wall: f64) -> Result<JsValue, JsValue> {
        match self.m.outcome(FlightId(id as u64)) {
            Outcome::Pending => Ok(JsValue::UNDEFINED),
            Outcome::Gone => Ok(JsValue::NULL),
            Outcome::Done(Ok(t)) => Ok(self.record(&t, now(mono, wall))),
            Outcome::Done(Err(e)) => Err(js_error(&e)),
        }
    }

    /// The timer fired, or the shell looked (a page shown again, the network back).
    pub fn timeout(&mut self, mono: f64, wall: f64) {
        self.m.handle_timeout(now(mono, wall));
    }

    /// The answer to attempt `attempt`: its status (0: an opaque redirect), `Retry-After`,
    /// and its body as the shell's one `JSON.parse` left it: `body` is the parsed value when
    /// `kind` is 0; 1: not JSON; 2: larger than the cap. `status` below 0: no answer (the
    /// request failed: the shell keeps the platform's error as the `cause`); nothing was sent
    /// because WebCrypto could not import or sign with the client's key ([`KEY_REFUSED`], the
    /// servers' builds), or make or use its DPoP key ([`DPOP_KEY_FAILED`]): `INVALID_CONFIG`
    /// naming that option.
    /// `dpop_nonce` is its `DPoP-Nonce` header (the DPoP build reads it; the others are
    /// given it and drop it).
    #[allow(clippy::too_many_arguments)]
    pub fn response(&mut self, attempt: f64, status: f64, retry_after: Option<String>, body: JsValue, kind: u8, mono: f64, wall: f64, dpop_nonce: JsValue) {
        let dpop_nonce = if crate::proto::DPOP { dpop_nonce.as_string() } else { None };
        let result = if crate::proto::SERVER && status == KEY_REFUSED {
            Err(crate::proto::jwk::key_refused(self.keys().0))
        } else if crate::proto::DPOP && status == DPOP_KEY_FAILED {
            Err(self.dpop_failed())
        } else if status < 0.0 {
            Err(self.m.unreachable())
        } else {
            Ok(HttpResponse {
                status: status as u16,
                retry_after,
                dpop_nonce,
                // Two levels: a resource's metadata lists its authorization servers.
                body: body_of(&body, kind, 2),
            })
        };
        self.m.handle_response(AttemptId(attempt as u64), result, now(mono, wall), &parse_url);
    }


    /// The caller's `invalidate()`.
    pub fn invalidate(&mut self, mono: f64, wall: f64) {
        self.m.invalidate(now(mono, wall));
    }

    /// The API answered 401 (with `www`, its `WWW-Authenticate`) to a request signed with
    /// token `id`: whether to send it again (never when it is not `replayable`).
    pub fn refused(&mut self, id: f64, www: Option<String>, replayable: bool) -> bool {
        self.m.unauthorized(TokenId(id as u64), www.as_deref(), replayable)
    }

    /// The header that carries the token on a request to `origin`, or `undefined` to send
    /// it as is (`has(name)` says the caller set that header). Throws
    /// `ORIGIN_NOT_ALLOWED` before anything is sent.
    pub fn plan(&self, origin: &str, has: &js_sys::Function) -> Result<Option<String>, JsValue> {
        let cfg = self.m.config().ok_or_else(|| js_error(&Error::Disposed))?;
        let name = sign::header_name(cfg);
        let set = has.call1(&JsValue::NULL, &JsValue::from_str(name))?.is_truthy();
        Ok(match sign::plan(cfg, origin, set).map_err(|e| js_error(&e))? {
            Plan::Sign => Some(name.to_owned()),
            Plan::AsIs => None,
        })
    }

    /// The next thing to do, or `undefined`:
    /// - `[0, attempt, url, [[name, value], ...], body, redirect, cache, credentials, cap,
    ///   lock, assertion]`: send the token request as this attempt, read at most `cap` bytes of
    ///   its body, and report with [`Core::response`]; `lock`: a user's refresh in a page,
    ///   sent holding the browser lock of its tokens' generation ([`Machine::generation`]),
    ///   else `undefined`; `assertion`: the body ends in `client_assertion=`, for a fresh one
    ///   (`private_key_jwt`). One layout in every build (`undefined`/false where the build
    ///   has neither);
    /// - `[1, attempt]`: abort that attempt;
    /// - `[2]`: a flight finished: every waiter checks [`Core::outcome`];
    /// - `[3, record]`: a new token: emit `"token"`;
    /// - `[4]`: the token lapsed with no replacement: emit `"expired"`;
    /// - `[5, error]`: a token request finally failed: emit `"error"`;
    /// - `[6]` (sign-in build): a user's tokens came from the server (with a new
    ///   generation): tell the other tabs ([`Core::snapshot`]).
    pub fn poll(&mut self, mono: f64, wall: f64) -> JsValue {
        let Some(action) = self.m.poll() else { return JsValue::UNDEFINED };
        match action {
            Action::Send(AttemptId(a)) => {
                // Disposed since it was queued: nothing to send.
                let Some(req) = self.m.request() else { return self.poll(mono, wall) };
                // A GET (the authorization server's metadata) has no body: `undefined`.
                let body = if req.method == "GET" { JsValue::UNDEFINED } else { JsValue::from_str(&req.body) };
                let out = Array::of5(&act(action::SEND), &num(a), &JsValue::from_str(&req.url), &pairs(&req.headers), &body);
                let opt = |v: Option<&str>| v.map_or(JsValue::UNDEFINED, JsValue::from_str);
                out.push(&JsValue::from_str(req.redirect));
                out.push(&opt(req.cache));
                out.push(&opt(req.credentials));
                out.push(&num(MAX_BODY_BYTES as u64));
                // The same layout in every build: a build without the feature says false.
                // A user's refresh in a page: the name of the browser lock it is sent holding.
                out.push(&self.lock_slot(req.lock));
                // private_key_jwt: the body ends in `client_assertion=`, for a fresh assertion.
                out.push(&JsValue::from_bool(req.assertion));
                out.into()
            }
            // `[kind, value]`: the value at the boundary's `value::SLOT`.
            Action::Abort(AttemptId(a)) => Array::of2(&act(action::ABORT), &num(a)).into(),
            Action::Wake => Array::of1(&act(action::WAKE)).into(),
            Action::Token(t) => Array::of2(&act(action::TOKEN), &self.record(&t, now(mono, wall))).into(),
            Action::Expired => Array::of1(&act(action::EXPIRED)).into(),
            Action::Error(e) => Array::of2(&act(action::ERROR), &js_error(&e)).into(),
            #[cfg(feature = "signin")]
            Action::Share => Array::of1(&act(action::SHARE)).into(),
            // Only a signed-in user's tokens are shared, and this build signs no one in.
            #[cfg(not(feature = "signin"))]
            Action::Share => self.poll(mono, wall),
        }
    }

    /// When the shell's one timer should fire (monotonic ms), or -1 for none.
    pub fn deadline(&self) -> f64 {
        self.m.poll_timeout().map_or(-1.0, |at| at.0 as f64)
    }

    /// Whether that timer keeps Node alive: only while a caller awaits the flight (a
    /// refresh or expiry timer never keeps a finished script alive).
    pub fn keep(&self) -> bool {
        self.m.keep_alive()
    }

    /// What the shell may serve without asking, if it changed since the last call
    /// (`undefined`: unchanged): `[token, headerValue, id, until, wallUntil]`, the token
    /// served while the monotonic clock is before `until` and the wall clock before
    /// `wallUntil`, or `null`: nothing, ask.
    pub fn serving(&mut self, mono: f64, wall: f64) -> JsValue {
        let serving = self.m.serving(now(mono, wall));
        let key = serving.as_ref().map(|s| (s.token.id, s.until));
        if self.published == Some(key) {
            return JsValue::UNDEFINED;
        }
        let out = match (serving, self.m.config()) {
            (Some(s), Some(cfg)) => Some((s, cfg)),
            _ => None,
        }
        .map_or(JsValue::NULL, |(s, cfg)| self.cell(&s, cfg));
        self.published = Some(key);
        out
    }

    /// Whether `text` (a platform error's) contains the secret: then it is not kept as a
    /// `NETWORK` error's `cause`.
    pub fn mentions(&self, text: &str) -> bool {
        self.m.config().is_some_and(|cfg| cfg.mentions_secret(text))
    }

    /// The first challenge of a `WWW-Authenticate` value ([`first_challenge`]) as one
    /// line per field, `scheme`, `error`, `errorDescription`, `scope`, `acrValues`,
    /// `resourceMetadata`, `realm`, `maxAge` (absent: empty; every value is printable, so
    /// holds no line break), or `undefined`: js/shell.js `challenge()`.
    pub fn challenge(www_authenticate: &str) -> Option<String> {
        let (scheme, fields, max_age) = first_challenge(www_authenticate)?;
        let mut out = scheme;
        for v in fields {
            out.push('\n');
            out.push_str(v.as_deref().unwrap_or(""));
        }
        out.push('\n');
        if let Some(m) = max_age {
            crate::proto::encode_u64(&mut out, m);
        }
        Some(out)
    }

    /// Whether the client was disposed.
    pub fn gone(&self) -> bool {
        self.m.config().is_none()
    }

    /// Aborts the request in flight, fails its waiters with `DISPOSED`, drops the
    /// configuration, secrets and token.
    pub fn dispose(&mut self) {
        self.m.dispose();
    }
}

impl Core {
    /// The send action's `lock` slot: the generation of the tokens when the request is sent
    /// holding their lock (`lock`), else `undefined`.
    fn lock_slot(&self, lock: bool) -> JsValue {
        if lock {
            return num(self.m.generation());
        }
        JsValue::UNDEFINED
    }

    /// The names of the client-key and DPoP-key options, for errors about them.
    fn keys(&self) -> (&'static str, &'static str) {
        #[cfg(feature = "broker")]
        return self.keys;
        #[cfg(not(feature = "broker"))]
        OPTION_KEYS
    }

    /// What a request fails with when the DPoP key could not be made or used.
    fn dpop_failed(&self) -> Error {
        crate::proto::dpop::key_failed(self.keys().1)
    }

    /// A client of configuration `cfg` (the broker's, made from the Worker's env), in
    /// `runtime`; `seed` seeds the backoff jitter.
    #[cfg(feature = "broker")]
    pub(super) fn of(cfg: Config, runtime: Runtime, seed: f64) -> Core {
        Core { m: Machine::new(cfg, runtime, seed as u64), published: None, nonce: None, keys: ("CLIENT_KEY", "DPOP_KEY") }
    }

    /// Takes up the tokens a session object's storage held: the id of the access token
    /// taken (`None`: its refresh token alone, or nothing).
    #[cfg(feature = "broker")]
    pub(super) fn restore_snapshot(&mut self, t: Snapshot, mono: f64, wall: f64) -> Option<TokenId> {
        self.m.restore(t, now(mono, wall)).token()
    }

    /// When the user's access token expires (wall-clock ms at `wall`), and whether a refresh
    /// token can renew it.
    #[cfg(feature = "broker")]
    pub(super) fn session_expiry(&self, mono: f64, wall: f64) -> (WallMillis, bool) {
        match self.m.session() {
            Some((t, rt)) => (now(mono, wall).wall_at(t.expires_at), rt.is_some()),
            None => (WallMillis(0), false),
        }
    }

    /// The session as storage keeps it ([`Machine::snapshot`]).
    #[cfg(feature = "broker")]
    pub(super) fn snapshot_of(&mut self, mono: f64, wall: f64) -> Option<(Option<TokenId>, Snapshot)> {
        self.m.snapshot(now(mono, wall))
    }

    /// The token exchange client of `target` from this sign-in client as it stands.
    #[cfg(feature = "broker")]
    pub(super) fn config_for_exchange(&self, target: &crate::proto::broker::config::TokenTarget) -> Option<Config> {
        self.m.config().map(|c| crate::proto::broker::config::exchange_client(c, target))
    }
}

/// The broker's part of [`Core`] (the Worker build): what its token clients are told by the
/// other holders of their tokens, and a token exchange's subject.
#[cfg(feature = "broker")]
#[wasm_bindgen]
impl Core {
    /// The body of the broker contract's answer (`POST /token`'s; its status and headers are
    /// `Broker.tokenHead`) with the token held now, else the id of the flight to wait for (a
    /// number); throws the failure. What [`Core::get`] is for a client, in one call.
    pub fn answer(&mut self, mono: f64, wall: f64) -> Result<JsValue, JsValue> {
        let now = now(mono, wall);
        match self.m.get(now) {
            Get::Ready(t) => Ok(JsValue::from_str(&crate::proto::broker::token_body(&t, self.dpop_scheme(), now.mono))),
            Get::Wait(FlightId(id)) => Ok(num(id)),
            Get::Fail(e) => Err(js_error(&e)),
        }
    }

    /// The body of the broker contract's reply with the token a flight gave its waiters
    /// (`token`, expiring at wall-clock `expires_at` ms) at `wall`, `token_type` this client's
    /// as in [`Core::answer`]. Answered even when the token is not kept (it expired on
    /// arrival): a waiting request is answered with its flight's token, never sent to ask again.
    #[wasm_bindgen(js_name = replyWith)]
    pub fn reply_with(&self, token: &str, expires_at: f64, wall: f64) -> String {
        let secs = ((expires_at - wall).max(0.0) / 1000.0) as u64;
        crate::proto::broker::token_body_of(token, self.dpop_scheme(), secs)
    }

    /// Whether this client's tokens are DPoP-bound (its contract replies say so).
    fn dpop_scheme(&self) -> bool {
        self.m.config().is_some_and(|c| sign::scheme(c) == "DPoP ")
    }

    /// Whether token `id` is still the one held.
    pub fn holds(&self, id: f64) -> bool {
        self.m.held().is_some_and(|t| t.id == TokenId(id as u64))
    }

    /// An isolate says an API refused `token`, which this (`TokenCache` object's) client
    /// gave it: dropped if it is still the one held ([`Machine::refused_elsewhere`]).
    #[wasm_bindgen(js_name = refusedElsewhere)]
    pub fn refused_elsewhere(&mut self, token: &str) -> bool {
        self.m.refused_elsewhere(token)
    }

    /// The API refused `token`, the user's (a session object's client, or an exchanged one):
    /// dropped if it is the session's, as a 401 to a call it signed would.
    #[wasm_bindgen(js_name = refusedToken)]
    pub fn refused_token(&mut self, token: &str) {
        self.m.refused_by_value(token);
    }

    /// A token exchange client's subject: the user's access token (RFC 8693 §2.1).
    pub fn subject(&mut self, token: String) {
        self.m.set_subject(AccessToken::new(token));
    }

    /// The RFC 7009 revocation, at this (sign-in) client's endpoint, of the access token
    /// `other` (an exchange client of the same session) holds: `[url, headers, body,
    /// assertion]` as [`Core::sign_out`] gives it, or `undefined`.
    #[wasm_bindgen(js_name = revocationOf)]
    pub fn revocation_of(&self, other: &Core) -> JsValue {
        let req = other.m.session().and_then(|(t, _)| self.m.revocation(t.access_token.expose(), "access_token"));
        req.map_or(JsValue::UNDEFINED, |req| Array::of4(&JsValue::from_str(&req.url), &pairs(&req.headers), &JsValue::from_str(&req.body), &JsValue::from_bool(req.assertion)).into())
    }
}

impl Core {
    /// `[token, headerValue, id, until, wallUntil]` of what may be served ([`Core::serving`]).
    fn cell(&self, s: &Serving<'_>, cfg: &Config) -> JsValue {
        let never = |i: Instant| if i == NEVER { f64::INFINITY } else { i.0 as f64 };
        let wall_until = if s.until == NEVER { f64::INFINITY } else { s.wall_until.0 as f64 };
        Array::of5(
            &JsValue::from_str(s.token.access_token.expose()),
            &JsValue::from_str(&sign::authorization(cfg, s.token).1),
            &num(s.token.id.0),
            &JsValue::from_f64(never(s.until)),
            &JsValue::from_f64(wall_until),
        )
        .into()
    }

    /// `[accessToken, headerValue, id, expiresAt, refreshAt, scope]`: a token as the shell
    /// hands it out, its instants as epoch ms read off the wall clock `now` (`null` for an
    /// API key, which never expires).
    fn record(&self, t: &TokenSet, now: Now) -> JsValue {
        let at = |i: Instant| if i == NEVER { JsValue::NULL } else { num(now.wall_at(i).0) };
        let value = self.m.config().map(|cfg| sign::authorization(cfg, t).1).unwrap_or_default();
        let out = Array::of5(
            &JsValue::from_str(t.access_token.expose()),
            &JsValue::from_str(&value),
            &num(t.id.0),
            &at(t.expires_at),
            &at(t.refresh_at),
        );
        out.push(&str_or_null(t.scope.as_deref()));
        out.into()
    }
}

/// The sign-in build's part of [`Core`] (the `tokenkit/signin` entry): every decision of a
/// sign-in (the pending state, the authorization URL, what a callback means, the nonce,
/// revocation, which session another tab's message holds). js/signin.js carries them
/// out: WebCrypto's randomness and digest, sessionStorage, the channel to the other tabs,
/// Web Locks, the revocation request.
#[cfg(feature = "signin")]
#[wasm_bindgen]
impl Core {
    /// The name of this client's channel and the key of its pending sign-in (the token
    /// endpoint and the client, not secret), or `undefined` for a client that signs no one in.
    #[wasm_bindgen(js_name = scopeKey)]
    pub fn scope_key(&self) -> Option<String> {
        let (ep, _) = self.user()?;
        let mut key = String::from("tokenkit ");
        key.push_str(&ep.token_url);
        key.push(' ');
        key.push_str(&ep.client_id);
        Some(key)
    }

    /// Whether this is a page's sign-in client, which joins its origin's tabs and keeps a
    /// pending sign-in itself ([`Machine::in_page`]).
    #[wasm_bindgen(js_name = inPage)]
    pub fn in_page(&self) -> bool {
        self.m.in_page()
    }

    /// A new sign-in from `random` ([`signin::RANDOM_BYTES`] bytes from a CSPRNG) and the
    /// caller's `state`, if any: `[state, codeVerifier, nonce]`.
    pub fn pending(&self, random: &[u8], state: Option<String>) -> Result<Array, JsValue> {
        let (ep, _) = self.user().ok_or_else(|| js_error(&needs("createAuthorizationUrl()")))?;
        let p = signin::pending(random, state, ep.scope.as_deref()).map_err(|e| js_error(&e))?;
        Ok(Array::of3(&JsValue::from_str(&p.state), &JsValue::from_str(&p.verifier), &str_or_null(p.nonce.as_deref())))
    }

    /// The endpoints are still to be discovered from `issuer`: the id of the flight to wait
    /// for, else `undefined` ([`Machine::discover`]).
    pub fn discover(&mut self, mono: f64, wall: f64) -> Option<f64> {
        self.m.discover(now(mono, wall)).map(|FlightId(id)| id as f64)
    }

    /// Where to send the user for the pending sign-in `[state, verifier, nonce]`, given the
    /// SHA-256 digest of its verifier and `options` (`extraParams`, step-up); with DPoP,
    /// `jkt` is the SHA-256 of the key's thumbprint input ([`Core::dpop_thumbprint`]). A
    /// URL, or in the servers' builds with a PAR endpoint the request that pushes it first
    /// (RFC 9126), whose answer [`Core::pushed`] reads.
    #[wasm_bindgen(js_name = authorizationUrl)]
    pub fn authorization_url(&self, state: String, verifier: String, nonce: Option<String>, digest: &[u8], options: JsValue, jkt: JsValue) -> Result<JsValue, JsValue> {
        let (ep, ac) = self.user().ok_or_else(|| js_error(&needs("createAuthorizationUrl()")))?;
        let options = match to_value(&options, 2) {
            Value::Object(o) => o,
            _ => Vec::new(),
        };
        let step = signin::StepUp::from_options(&options).map_err(|e| js_error(&e))?;
        let extra: Vec<(String, String)> = match crate::proto::value::get(&options, "extraParams").cloned().unwrap_or(Value::Null) {
            Value::Null => Vec::new(),
            Value::Object(pairs) => pairs
                .into_iter()
                .map(|(k, v)| match v {
                    Value::Str(v) => Ok((k, v)),
                    _ => Err(js_error(&Error::config(k, "must be a string"))),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(js_error(&Error::config("extraParams", "must be an object of strings"))),
        };
        let p = Pending { state, verifier, nonce };
        // Read only by the DPoP build (the others are never given one).
        let jkt = if crate::proto::DPOP && !jkt.is_undefined() { Some(signin::code_challenge(&js_sys::Uint8Array::new(&jkt).to_vec())) } else { None };
        match signin::authorize(ep, ac, &p, &signin::code_challenge(digest), &extra, &step, jkt.as_deref(), self.m.runtime()).map_err(|e| js_error(&e))? {
            signin::Authorize::Redirect(url) => Ok(JsValue::from_str(&url)),
            // Pushed first (RFC 9126), the answer given to `pushed`:
            // `[url, headers, body, assertion, redirect, cache, credentials, cap]`.
            #[cfg(feature = "server")]
            signin::Authorize::Push(req) => {
                let out = Array::of4(&JsValue::from_str(&req.url), &pairs(&req.headers), &JsValue::from_str(&req.body), &JsValue::from_bool(req.assertion));
                let opt = |v: Option<&str>| v.map_or(JsValue::UNDEFINED, JsValue::from_str);
                out.push(&JsValue::from_str(req.redirect));
                out.push(&opt(req.cache));
                out.push(&opt(req.credentials));
                out.push(&num(MAX_BODY_BYTES as u64));
                Ok(out.into())
            }
        }
    }

    #[cfg(feature = "server")]
    /// What the pushed authorization request endpoint answered: `status` (below 0: no
    /// answer), the body (`kind` 0: parsed JSON, 1: not JSON, 2: too large). Returns the
    /// URL to send the user to (`client_id` and `request_uri` only); throws why not.
    pub fn pushed(&self, status: f64, body: JsValue, kind: u8) -> Result<String, JsValue> {
        let (ep, ac) = self.user().ok_or_else(|| js_error(&needs("createAuthorizationUrl()")))?;
        if status < 0.0 {
            return Err(js_error(&if crate::proto::SERVER && status == KEY_REFUSED {
                crate::proto::jwk::key_refused(self.keys().0)
            } else if crate::proto::DPOP && status == DPOP_KEY_FAILED {
                self.dpop_failed()
            } else {
                Error::network("the pushed authorization request endpoint", ac.par_url.as_deref().unwrap_or(""), "")
            }));
        }
        let body = body_of(&body, kind, 1);
        signin::pushed(ep, ac, &HttpResponse { status: status as u16, retry_after: None, dpop_nonce: None, body }).map_err(|e| js_error(&e))
    }

    /// Checks a callback's query `params` (`[[name, value], ...]`) against the pending
    /// sign-in (`state` `undefined`: none is pending) and redeems its code: the flight to
    /// wait for. Throws what the callback means (a mismatch, the server's error).
    pub fn callback(&mut self, params: JsValue, state: Option<String>, verifier: Option<String>, nonce: Option<String>, mono: f64, wall: f64) -> Result<f64, JsValue> {
        let (_, ac) = self.user().ok_or_else(|| js_error(&needs("completeAuthorization()")))?;
        let (issuer, iss_required) = (ac.issuer.clone(), ac.iss_required);
        let params: Vec<(String, String)> = match to_value(&params, 2) {
            Value::List(items) => items
                .into_iter()
                .filter_map(|p| match p {
                    Value::List(kv) => match <[Value; 2]>::try_from(kv) {
                        Ok([Value::Str(k), Value::Str(v)]) => Some((k, v)),
                        _ => None,
                    },
                    _ => None,
                })
                .collect(),
            _ => return Err(js_error(&Error::config("callbackUrl", "is not an absolute URL"))),
        };
        let pending = match (state, verifier) {
            (Some(state), Some(verifier)) => Some(Pending { state, verifier, nonce }),
            (Some(_), None) => return Err(js_error(&Error::config("codeVerifier", "is required"))),
            _ => None,
        };
        let code = signin::callback(&params, pending.as_ref(), issuer.as_deref(), iss_required).map_err(|e| js_error(&e))?;
        let Some(p) = pending else { return Err(js_error(&Error::StateMismatch { reason: "no sign-in is pending" })) };
        self.nonce = p.nonce;
        let FlightId(id) = self.m.exchange(code, p.verifier, now(mono, wall)).map_err(|e| js_error(&e))?;
        Ok(id as f64)
    }

    /// The ID token of the sign-in just completed, once, for the shell to read its `nonce`
    /// claim (`undefined`: none came).
    #[wasm_bindgen(js_name = idToken)]
    pub fn id_token(&mut self) -> Option<String> {
        self.m.take_id_token().map(|t| t.expose().to_owned())
    }

    /// The sign-in's last check: the ID token's `nonce` claim (`undefined`: none) against
    /// the one sent. One that is not ours signs the session out, and throws.
    pub fn nonce(&mut self, claim: Option<String>) -> Result<(), JsValue> {
        let sent = self.nonce.take();
        signin::check_nonce(sent.as_deref(), claim.as_deref()).map_err(|e| {
            let _ = self.m.sign_out();
            js_error(&e)
        })
    }

    /// Whether a user's session is held (a token, or a refresh token to get one).
    pub fn authorized(&self) -> bool {
        self.m.is_authorized()
    }

    /// Forgets the session (signed out here or in another tab) and returns the RFC 7009
    /// revocation request to send, `[url, [[name, value], ...], body]`, if there is one.
    #[wasm_bindgen(js_name = signOut)]
    pub fn sign_out(&mut self) -> JsValue {
        let Some(req) = self.m.sign_out() else { return JsValue::UNDEFINED };
        Array::of4(&JsValue::from_str(&req.url), &pairs(&req.headers), &JsValue::from_str(&req.body), &JsValue::from_bool(req.assertion)).into()
    }

    /// What the revocation endpoint at `url` answered (`status` below 0: nothing): the server
    /// answers 200 whether or not the token was valid (RFC 7009 §2.2); anything else, or
    /// no answer, throws.
    pub fn revoked(&self, status: f64, url: &str) -> Result<(), JsValue> {
        match status {
            s if s < 0.0 => Err(js_error(&Error::network("the revocation endpoint", url, ""))),
            s if (200.0..300.0).contains(&s) => Ok(()),
            s => Err(js_error(&Error::Http { status: s as u16, detail: "the revocation endpoint refused", retry_after: None })),
        }
    }

    /// The session as it leaves for another tab: `[accessToken, refreshToken, expiresAt
    /// (wall ms), scope, generation]`, or `undefined` if none is held.
    pub fn snapshot(&mut self, mono: f64, wall: f64) -> JsValue {
        let Some((_, t)) = self.m.snapshot(now(mono, wall)) else { return JsValue::UNDEFINED };
        let out = Array::of5(
            &t.access_token.as_ref().map_or(JsValue::UNDEFINED, |a| JsValue::from_str(a.expose())),
            &t.refresh_token.as_ref().map_or(JsValue::UNDEFINED, |r| JsValue::from_str(r.expose())),
            &num(t.expires_at.0),
            &t.scope.as_deref().map_or(JsValue::UNDEFINED, JsValue::from_str),
            &num(self.m.generation()),
        );
        out.into()
    }

    /// Takes up another tab's session (see [`Core::snapshot`]): its tokens, or its refresh
    /// token alone when the access token lapsed, and their generation; whether anything
    /// was taken ([`Machine::restore_shared`]).
    #[allow(clippy::too_many_arguments)]
    pub fn restore(&mut self, access_token: Option<String>, refresh_token: Option<String>, expires_at: f64, scope: Option<String>, generation: Option<f64>, mono: f64, wall: f64) -> bool {
        let snapshot = Snapshot {
            access_token: access_token.map(AccessToken::new),
            refresh_token: refresh_token.map(RefreshToken::new),
            scope,
            expires_at: WallMillis(expires_at.max(0.0) as u64),
        };
        self.m.restore_shared(snapshot, generation.and_then(generation_of), now(mono, wall)).taken()
    }

    /// How long the tab that sent a refresh keeps its lock, by the answer's `status`.
    #[wasm_bindgen(js_name = lockHold)]
    pub fn lock_hold(&self, status: f64) -> f64 {
        lock_hold(status as u16).0 as f64
    }
}

#[cfg(feature = "signin")]
impl Core {
    /// The endpoint and authorization-code settings of a client that signs users in.
    fn user(&self) -> Option<(&Endpoint, &AuthCode)> {
        let Source::Endpoint(ep) = &self.m.config()?.source else { return None };
        let Grant::AuthorizationCode(ac) = &ep.grant else { return None };
        Some((ep, ac))
    }
}

#[cfg(feature = "signin")]
fn needs(method: &'static str) -> Error {
    Error::config("grant", match method {
        "completeAuthorization()" => "completeAuthorization() needs grant \"authorization_code\"",
        _ => "createAuthorizationUrl() needs grant \"authorization_code\"",
    })
}

fn pairs(headers: &[(&'static str, String)]) -> Array {
    let out = Array::new();
    for (name, value) in headers {
        out.push(&Array::of2(&JsValue::from_str(name), &JsValue::from_str(value)));
    }
    out
}

/// The DPoP build's part of [`Core`] (the `tokenkit/dpop` entry): the client's public key,
/// each proof's signing input, the resource servers' nonces. js/shell.js has WebCrypto make
/// the key pair and sign; the private key never enters wasm memory.
#[cfg(feature = "dpop")]
#[wasm_bindgen]
impl Core {
    /// Takes the client's DPoP key: its WebCrypto algorithm `name` with `param` (the curve
    /// or hash) and its public JWK. Returns the JWS `alg` to sign with; throws
    /// `INVALID_CONFIG` for a key no proof can be made with.
    #[wasm_bindgen(js_name = dpopKey)]
    pub fn dpop_key(&mut self, name: &str, param: &str, jwk: JsValue) -> Result<String, JsValue> {
        let key = DpopKey::new(name, param, &to_value(&jwk, 1)).map_err(|e| js_error(&e))?;
        let alg = key.alg.to_owned();
        self.m.set_dpop_key(key);
        Ok(alg)
    }

    /// The JWS `alg` of a DPoP key whose WebCrypto algorithm is `name` with `param`;
    /// throws `INVALID_CONFIG` for one no proof can be made with (checked before any
    /// request, when the app brings its own key pair).
    #[wasm_bindgen(js_name = dpopAlg)]
    pub fn dpop_alg(&self, name: &str, param: &str) -> Result<String, JsValue> {
        DpopKey::alg(name, param).map(|a| a.to_owned()).map_err(|e| js_error(&e))
    }

    /// The signing input of the DPoP proof for the token request being sent, with `jti`
    /// ([`JTI_BYTES`] random bytes) at `wall`; `undefined` without DPoP or its key.
    #[wasm_bindgen(js_name = tokenProof)]
    pub fn token_proof(&self, jti: &[u8], wall: f64) -> Option<String> {
        self.m.token_proof(WallMillis(wall as u64), jti).filter(|_| jti.len() >= JTI_BYTES)
    }

    /// The signing input of the DPoP proof for a `method` request (as the caller gave it,
    /// `undefined` for fetch's default: [`crate::proto::dpop::htm`] says what is sent) to `origin` and
    /// `pathname`, with `ath` (the SHA-256 of the token attached; empty for a request to the
    /// authorization server, which carries none) and `jti` at `wall`.
    #[allow(clippy::too_many_arguments)]
    pub fn proof(&self, method: Option<String>, origin: &str, pathname: &str, ath: &[u8], jti: &[u8], wall: f64) -> Option<String> {
        let ath = if ath.is_empty() { None } else { Some(ath) };
        let htm = crate::proto::dpop::htm(method.as_deref());
        self.m.resource_proof(&htm, origin, pathname, ath, WallMillis(wall as u64), jti).filter(|_| jti.len() >= JTI_BYTES)
    }

    /// The RFC 7638 thumbprint input of the client's DPoP key (its SHA-256 is `dpop_jkt`),
    /// once the key is given.
    #[wasm_bindgen(js_name = dpopThumbprint)]
    pub fn dpop_thumbprint(&self) -> Option<String> {
        self.m.dpop_key().map(|k| k.thumbprint_input.clone())
    }

    /// Whether a sign-in sends `dpop_jkt` ([`Machine::binds_code`]).
    #[wasm_bindgen(js_name = bindsCode)]
    pub fn binds_code(&self) -> bool {
        self.m.binds_code()
    }

    /// Forgets the DPoP key and every nonce (a signed-out session's: the next one gets a
    /// new key).
    #[wasm_bindgen(js_name = dpopForget)]
    pub fn dpop_forget(&mut self) {
        self.m.forget_dpop();
    }

    /// The revocation endpoint's answer to `attempt` (0 first) at `origin`: its status,
    /// `error` and `DPoP-Nonce` (empty: none). Whether to send it again with a fresh proof
    /// ([`Machine::server_answer`]).
    #[wasm_bindgen(js_name = serverAnswer)]
    pub fn server_answer(&mut self, origin: &str, attempt: u32, status: u16, error: &str, nonce: &str) -> bool {
        self.m.server_answer(origin, attempt, status, Some(error), Some(nonce).filter(|n| !n.is_empty()))
    }

    /// A resource server's `DPoP-Nonce` for `origin`'s next proof.
    #[wasm_bindgen(js_name = dpopNonce)]
    pub fn dpop_nonce(&mut self, origin: &str, value: &str) {
        self.m.take_nonce(origin, value);
    }
}

/// `private_key_jwt` (the servers' builds): what the shell needs to import the client's key
/// and sign each assertion. The key itself stays in WebCrypto (js/server.js).
#[cfg(feature = "server")]
#[wasm_bindgen]
impl Core {
    /// The client's `private_key_jwt` key as WebCrypto imports and signs with it: `[name,
    /// param, alg]` (its algorithm, its curve or hash, the JWS `alg`), or `undefined`.
    #[wasm_bindgen(js_name = clientKey)]
    pub fn client_key(&self) -> JsValue {
        match self.m.config().map(|c| &c.source) {
            Some(crate::proto::client::config::Source::Endpoint(ep)) => ep.key_auth.as_ref().map(|a| &a.key).map_or(JsValue::UNDEFINED, |k| {
                Array::of3(&JsValue::from_str(k.import.0), &JsValue::from_str(k.import.1), &JsValue::from_str(k.alg)).into()
            }),
            _ => JsValue::UNDEFINED,
        }
    }

    /// The signing input of the client assertion for the request being sent, with `jti`
    /// ([`ASSERTION_JTI_BYTES`] random bytes) at `wall` ([`Machine::client_assertion`]).
    #[wasm_bindgen(js_name = clientAssertion)]
    pub fn client_assertion(&self, jti: &[u8], wall: f64) -> Option<String> {
        self.m.client_assertion(WallMillis(wall as u64), jti).filter(|_| jti.len() >= ASSERTION_JTI_BYTES)
    }
}
