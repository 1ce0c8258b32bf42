//! Signing users in through the broker: the backend-for-frontend of
//! draft-ietf-oauth-browser-based-apps §6.1, as plain data.
//!
//! The broker runs the authorization code grant with PKCE (the same [`crate::proto::signin`] and
//! machine as `tokenkit/signin`) as a confidential client: `/login` starts it, `/callback`
//! exchanges the code with the secret only the broker holds, `/proxy/` calls the API as the
//! user, `/logout` revokes. The browser holds one cookie naming its session; the tokens live
//! in that session's Durable Object (its memory and its storage), never in the browser.
//!
//! Why a Durable Object and not an encrypted cookie: a refresh token is used once when the
//! server rotates it. Concurrent requests of one user, carrying the same cookie to different
//! isolates, would each spend it, and the second use revokes the grant (RFC 9700 §4.14.2).
//! Every request of a session reaches its one object, where the machine single-flights the
//! refresh. A cookie also cannot be taken back: a copied encrypted cookie stays valid until
//! it expires, while a session object forgets its tokens at `/logout`.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::proto::client::machine::Snapshot;
use crate::proto::client::response::TokenId;
use crate::proto::encode::is_printable;
use crate::proto::error::Error;
use crate::proto::http::Reply;
use crate::proto::secret::{AccessToken, BrokerKey, RefreshToken};
use crate::proto::signin::Pending;
use crate::proto::time::{Now, Secs, WallMillis};
use crate::proto::url::ParseUrl;
use crate::proto::value::{get, Value};
use super::config::EnvError;
use super::contract::{failure_reply, Failure};

/// The session cookie, `SameSite=Strict` (RFC 10017 §6.1.3.2): sent only on requests the
/// broker's own site starts, never on a navigation from another site. `__Host-Http-`
/// (RFC 6265bis §4.1.3.4): `Secure`, this host only, `Path=/`, and set over HTTP only, so
/// no script of the site can set or overwrite it.
pub const COOKIE: &str = "__Host-Http-tokenkit-session";

/// The pending sign-in's cookie, `SameSite=Lax` so that it comes along on the
/// authorization server's redirect to `/callback` (a top-level GET from its site). Only
/// `/callback` reads it, and clears it; it lasts [`PENDING_TTL`] at most.
pub const PENDING_COOKIE: &str = "__Host-Http-tokenkit-signin";

/// The cookie of the previous release (`SameSite=Lax`): never accepted, and cleared at
/// sign-in and sign-out so browsers do not keep sending it.
pub const OLD_COOKIE: &str = "__Host-tokenkit-session";

/// Which of the two cookies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieKind {
    /// [`COOKIE`]: a signed-in session.
    Session,
    /// [`PENDING_COOKIE`]: a sign-in under way.
    Pending,
}

impl CookieKind {
    fn name(self) -> &'static str {
        match self {
            CookieKind::Session => COOKIE,
            CookieKind::Pending => PENDING_COOKIE,
        }
    }

    fn attributes(self) -> &'static str {
        match self {
            CookieKind::Session => "; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=",
            CookieKind::Pending => "; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=",
        }
    }
}

/// Sign-in settings read from the Worker's env (present when `AUTHORIZE_URL` is set).
#[derive(Debug)]
pub struct SignIn {
    /// The HMAC key of the cookies (`SESSION_SECRET`, at least 32 characters). Only the
    /// edge reads it: the session objects never see a cookie.
    pub session_key: Option<BrokerKey>,
    /// How long a session lasts at most from sign-in (`SESSION_TTL`, seconds; default a
    /// day); never longer than the user's tokens can be renewed (see [`UserSession`]).
    pub session_ttl: Secs,
    /// The scope values `/login?scope=` may add to `SIGNIN_SCOPE` for a step-up
    /// (`STEP_UP_SCOPES`, space- or comma-separated; none by default). Any site can send a
    /// browser to `/login`: what it asks for is bounded by the operator, and the configured
    /// scope is always asked for too.
    pub step_up_scopes: Vec<String>,
}

/// Env variables of the user-session client and the client option each one sets. The
/// token endpoint and client (`TOKEN_URL`, `CLIENT_ID`, `CLIENT_SECRET`, `CLIENT_AUTH`,
/// `AUDIENCE`, `RESOURCE`) are the broker's own.
pub const SIGNIN_ENV: &[(&str, &str)] = &[
    ("AUTHORIZE_URL", "authorizeUrl"),
    ("REDIRECT_URI", "redirectUri"),
    ("REVOCATION_URL", "revocationUrl"),
    ("ISSUER", "issuer"),
    // Pushed authorization requests (RFC 9126); else the discovered endpoint, when the
    // server requires it or the broker authenticates (it always does: a secret or a key).
    ("PAR_URL", "parUrl"),
    ("SIGNIN_SCOPE", "scope"),
];

/// How long a sign-in may take from `/login` to `/callback`; a session object holding only
/// an abandoned sign-in deletes it after this.
pub const PENDING_TTL: Secs = Secs(600);

/// The scope asked for when `SIGNIN_SCOPE` is not set: the user's identity and a refresh token.
pub const DEFAULT_SCOPE: &str = "openid offline_access";

impl SignIn {
    /// Reads `SESSION_SECRET` (when `edge`: the objects have no use for it) and
    /// `SESSION_TTL` (the client itself is checked by `Config`).
    pub fn from_env(get: &dyn Fn(&str) -> Option<String>, edge: bool) -> Result<SignIn, EnvError> {
        let session_key = match get("SESSION_SECRET") {
            None if edge => return Err(EnvError { var: "SESSION_SECRET", reason: "is required for sign-in" }),
            Some(k) if k.len() < 32 => {
                return Err(EnvError { var: "SESSION_SECRET", reason: "must be at least 32 characters (random)" })
            }
            k => k.map(BrokerKey::new),
        };
        let ttl = match get("SESSION_TTL") {
            None => 86_400,
            Some(v) => match crate::proto::parse_decimal(&v, 9) {
                Some(s) if (60..=31_536_000).contains(&s) => s,
                _ => return Err(EnvError { var: "SESSION_TTL", reason: "must be whole seconds from 60 to 31536000" }),
            },
        };
        let mut step_up_scopes = Vec::new();
        for v in get("STEP_UP_SCOPES").iter().flat_map(|v| v.split([' ', ','])).filter(|v| !v.is_empty()) {
            crate::proto::client::config::scope(&Value::Str(v.to_owned()))
                .map_err(|_| EnvError { var: "STEP_UP_SCOPES", reason: "holds a character not allowed in a scope (RFC 6749 §3.3)" })?;
            step_up_scopes.push(v.to_owned());
        }
        Ok(SignIn { session_key, session_ttl: Secs(ttl), step_up_scopes })
    }
}

/// The text a cookie's MAC covers: the session id, in a context of its own per kind, so
/// a pending sign-in's cookie can never stand in for a session's.
pub fn mac_input(kind: CookieKind, sid: &str) -> String {
    let mut s = String::from(match kind {
        CookieKind::Session => "tokenkit session v2\n",
        CookieKind::Pending => "tokenkit sign-in v1\n",
    });
    s.push_str(sid);
    s
}

/// `Set-Cookie` for `kind` naming session `sid` with its `mac` (base64url HMAC-SHA256 of
/// [`mac_input`]), for `max_age`.
pub fn set_cookie(kind: CookieKind, sid: &str, mac: &str, max_age: Secs) -> String {
    let mut c = String::from(kind.name());
    c.push('=');
    c.push_str(sid);
    c.push('.');
    c.push_str(mac);
    c.push_str(kind.attributes());
    crate::proto::encode_u64(&mut c, max_age.0);
    c
}

/// `Set-Cookie` that removes `kind`'s cookie.
pub fn clear_cookie(kind: CookieKind) -> String {
    let mut c = String::from(kind.name());
    c.push('=');
    c.push_str(kind.attributes());
    c.push('0');
    c
}

/// `Set-Cookie` that removes the previous release's session cookie.
pub fn clear_old_cookie() -> String {
    let mut c = String::from(OLD_COOKIE);
    c.push_str("=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0");
    c
}

/// The session id and MAC in `kind`'s cookie of a `Cookie` header, if well formed.
pub fn session_cookie(header: Option<&str>, kind: CookieKind) -> Option<(&str, &str)> {
    let value = header?.split(';').find_map(|c| c.trim().strip_prefix(kind.name())?.strip_prefix('='))?;
    let (sid, mac) = value.split_once('.')?;
    let b64url = |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (b64url(sid) && b64url(mac) && sid.len() >= 43).then_some((sid, mac))
}

/// Whether `got` is `expected`, comparing every byte (timing does not reveal a prefix).
pub fn mac_ok(expected: &str, got: &str) -> bool {
    crate::proto::encode::ct_eq(expected, got)
}

/// Where `/callback` sends the browser once signed in: `requested` (`/login?return_to=`) if
/// it is a URL on one of `allowed_origins` or a path on the broker, else the first allowed
/// origin's `/` (or the broker's `/`). Never another site: an open redirect would hand a
/// signed-in user to an attacker's page.
pub fn return_target(requested: Option<&str>, allowed_origins: &[String], parse_url: ParseUrl<'_>) -> Result<String, Reply> {
    let fallback = || allowed_origins.first().map_or_else(|| "/".to_owned(), |o| [o.as_str(), "/"].concat());
    let Some(r) = requested.filter(|r| !r.is_empty()) else { return Ok(fallback()) };
    let bad = || Reply::error(400, "bad_return_to", "return_to must be a path here or a URL on an allowed origin");
    if !is_printable(r) || r.contains('\\') {
        return Err(bad());
    }
    if r.starts_with('/') {
        return if r.starts_with("//") { Err(bad()) } else { Ok(r.to_owned()) };
    }
    match parse_url(r) {
        Some(u) if allowed_origins.contains(&u.origin) => Ok(u.href),
        _ => Err(bad()),
    }
}

/// The reply for a session's failure, as the browser sees it (never a token or secret).
pub fn session_reply(e: &Error) -> Reply {
    session_failure_reply(&Failure::from(e))
}

/// [`session_reply`] of a failure as JavaScript held it.
pub fn session_failure_reply(f: &Failure) -> Reply {
    match (f.code.as_str(), f.status) {
        ("LOGIN_REQUIRED", _) => Reply::error(401, "login_required", "sign in at /login"),
        ("STATE_MISMATCH", _) => Reply::error(400, "state_mismatch", "this callback does not belong to a sign-in started in this browser"),
        ("OAUTH_ERROR", Some(0)) => {
            // The authorization server's redirect carried an error (the user declined...).
            let mut r = Reply::error(400, "authorization_failed", "the authorization server did not sign the user in");
            r.body.pop();
            r.body.push_str(",\"upstream_error\":");
            crate::proto::encode::push_json_str(&mut r.body, f.error.as_deref().unwrap_or(""));
            r.body.push('}');
            r
        }
        ("INVALID_RESPONSE", Some(0)) => Reply::error(400, "bad_callback", "the callback is not a valid authorization response"),
        _ => failure_reply(f),
    }
}

/// Where the edge's requests to a `UserSession` object go (its stub ignores the host);
/// the path names the [`SessionOp`].
pub const SESSION_URL: &str = "https://session.tokenkit.invalid/";

/// What the edge asks of a session's object (the path of its request), and the alarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionOp {
    /// Start a sign-in (body: where the browser goes after it); answers the authorization URL.
    Begin,
    /// The callback (body: its URL); answers a [`Completed`].
    Complete,
    /// The user's access token (refreshed if due).
    Token,
    /// `1` if signed in, else `0`.
    Status,
    /// The API refused this access token (body).
    Refused,
    /// Revoke and forget; answers `revoked` if the server confirmed.
    Logout,
    /// The object's alarm: its time is up (never sent by the edge).
    Expire,
}

const OPS: &[(SessionOp, &str)] = &[
    (SessionOp::Begin, "begin"),
    (SessionOp::Complete, "complete"),
    (SessionOp::Token, "token"),
    (SessionOp::Status, "status"),
    (SessionOp::Refused, "refused"),
    (SessionOp::Logout, "logout"),
];

impl SessionOp {
    /// The URL of this operation's request to the object.
    pub fn url(self) -> String {
        let mut u = String::from(SESSION_URL);
        u.push_str(OPS.iter().find(|(op, _)| *op == self).map_or("", |(_, n)| n));
        u
    }

    /// The operation a request to the object names (`None`: unknown, or the alarm's).
    pub fn from_url(url: &str) -> Option<SessionOp> {
        let name = url.strip_prefix(SESSION_URL)?;
        OPS.iter().find(|(_, n)| *n == name).map(|(op, _)| *op)
    }
}

/// The object's answer to [`SessionOp::Complete`]: where the browser goes, and how long
/// the session cookie lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completed {
    /// The page the sign-in started for.
    pub return_to: String,
    /// The session's remaining life.
    pub max_age: Secs,
}

impl Completed {
    /// `<max_age>\n<return_to>` (a return target is printable: no newline).
    pub fn encode(&self) -> String {
        let mut s = String::new();
        crate::proto::encode_u64(&mut s, self.max_age.0);
        s.push('\n');
        s.push_str(&self.return_to);
        s
    }

    /// The inverse of [`Completed::encode`].
    pub fn decode(s: &str) -> Option<Completed> {
        let (age, back) = s.split_once('\n')?;
        Some(Completed { max_age: Secs(crate::proto::parse_decimal(age, 12)?), return_to: back.to_owned() })
    }
}

/// A sign-in under way in a session object.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    /// What the callback is checked against.
    pub pending: Pending,
    /// Where the browser goes once signed in.
    pub return_to: String,
    /// When it lapses: a callback after this is refused.
    pub lapses: WallMillis,
}

impl core::fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PendingSignIn { .. }")
    }
}

/// What a session object keeps in storage so that it outlives eviction.
#[derive(Debug, Default)]
pub struct Record {
    /// A sign-in under way.
    pub pending: Option<PendingSignIn>,
    /// The user's tokens, once signed in.
    pub tokens: Option<Snapshot>,
    /// When the session ends (0: not signed in).
    pub until: WallMillis,
}

/// The version [`Record::encode`] writes.
pub const RECORD_VERSION: u64 = 2;

impl Record {
    /// When the object deletes it all (its alarm): the session's end once signed in,
    /// else when the pending sign-in lapses, else never (it holds nothing).
    pub fn delete_at(&self) -> Option<WallMillis> {
        match (self.until, &self.pending) {
            (u, _) if u.0 > 0 => Some(u),
            (_, Some(p)) => Some(p.lapses),
            _ => None,
        }
    }

    /// The record as JSON with named fields and its version, or `None` when it holds
    /// nothing (the object deletes its storage).
    pub fn encode(&self) -> Option<String> {
        if self.pending.is_none() && (self.tokens.is_none() || self.until.0 == 0) {
            return None;
        }
        let mut s = String::from("{\"v\":");
        crate::proto::encode_u64(&mut s, RECORD_VERSION);
        let str_field = |s: &mut String, k: &str, v: &str| {
            s.push_str(",\"");
            s.push_str(k);
            s.push_str("\":");
            crate::proto::encode::push_json_str(s, v);
        };
        let num_field = |s: &mut String, k: &str, v: u64| {
            s.push_str(",\"");
            s.push_str(k);
            s.push_str("\":");
            crate::proto::encode_u64(s, v);
        };
        if let Some(p) = &self.pending {
            s.push_str(",\"pending\":{\"v\":1");
            str_field(&mut s, "state", &p.pending.state);
            str_field(&mut s, "verifier", &p.pending.verifier);
            if let Some(n) = &p.pending.nonce {
                str_field(&mut s, "nonce", n);
            }
            str_field(&mut s, "returnTo", &p.return_to);
            num_field(&mut s, "lapses", p.lapses.0);
            s.push('}');
        }
        if let (Some(t), true) = (&self.tokens, self.until.0 > 0) {
            s.push_str(",\"tokens\":{\"v\":1");
            if let Some(at) = &t.access_token {
                str_field(&mut s, "accessToken", at.expose());
            }
            if let Some(rt) = &t.refresh_token {
                str_field(&mut s, "refreshToken", rt.expose());
            }
            if let Some(sc) = &t.scope {
                str_field(&mut s, "scope", sc);
            }
            num_field(&mut s, "expiresAt", t.expires_at.0);
            num_field(&mut s, "until", self.until.0);
            s.push('}');
        }
        if let Some(x) = self.delete_at() {
            num_field(&mut s, "deleteAt", x.0);
        }
        s.push('}');
        Some(s)
    }

    /// Reads a stored record: this version's, or the previous release's (an object with
    /// keys `ps pv pr pn at rt sc exp u`), which is written back in this format at the
    /// next change. `None`: not a record (nothing is restored).
    pub fn decode(v: &Value) -> Option<Record> {
        let Value::Object(o) = v else { return None };
        let s = |o: &[(String, Value)], k: &str| match get(o, k) {
            Some(Value::Str(s)) => Some(s.clone()),
            _ => None,
        };
        let n = |o: &[(String, Value)], k: &str| match get(o, k) {
            Some(Value::Num(n)) if *n >= 0.0 && n.is_finite() => Some(*n as u64),
            _ => None,
        };
        let obj = |k: &str| match get(o, k) {
            Some(Value::Object(o)) => Some(o.as_slice()),
            _ => None,
        };
        match n(o, "v") {
            Some(RECORD_VERSION) => {
                let pending = obj("pending").and_then(|p| {
                    Some(PendingSignIn {
                        pending: Pending { state: s(p, "state")?, verifier: s(p, "verifier")?, nonce: s(p, "nonce") },
                        return_to: s(p, "returnTo")?,
                        lapses: WallMillis(n(p, "lapses")?),
                    })
                });
                let tokens = obj("tokens").and_then(|t| {
                    let (access_token, refresh_token) = (s(t, "accessToken").map(AccessToken::new), s(t, "refreshToken").map(RefreshToken::new));
                    // A session whose access token had lapsed when it was written holds its
                    // refresh token alone.
                    (access_token.is_some() || refresh_token.is_some()).then_some(())?;
                    Some((Snapshot { access_token, refresh_token, scope: s(t, "scope"), expires_at: WallMillis(n(t, "expiresAt").unwrap_or(0)) }, n(t, "until")?))
                });
                let (tokens, until) = tokens.map_or((None, 0), |(t, u)| (Some(t), u));
                Some(Record { pending, tokens, until: WallMillis(until) })
            }
            Some(_) => None,
            None => {
                // The previous release's record: short keys, no version.
                let pending = match (s(o, "ps"), s(o, "pv"), s(o, "pr")) {
                    (Some(state), Some(verifier), Some(return_to)) => Some(PendingSignIn {
                        pending: Pending { state, verifier, nonce: s(o, "pn") },
                        return_to,
                        lapses: WallMillis(n(o, "x").unwrap_or(0)),
                    }),
                    _ => None,
                };
                let tokens = match (s(o, "at"), n(o, "exp"), n(o, "u")) {
                    (Some(at), Some(exp), Some(u)) => Some((
                        Snapshot { access_token: Some(AccessToken::new(at)), refresh_token: s(o, "rt").map(RefreshToken::new), scope: s(o, "sc"), expires_at: WallMillis(exp) },
                        u,
                    )),
                    _ => None,
                };
                let (tokens, until) = tokens.map_or((None, 0), |(t, u)| (Some(t), u));
                (pending.is_some() || tokens.is_some()).then_some(Record { pending, tokens, until: WallMillis(until) })
            }
        }
    }
}

/// A user session's lifecycle in its Durable Object, beside the token client machine that
/// holds the user's tokens: whether anyone is signed in, until when, the sign-in under
/// way, and when what it holds must be written to storage. Every input comes with the time
/// ([`Now`]); what it keeps is on the wall clock ([`WallMillis`]), as the object's storage and
/// alarm are.
#[derive(Debug, Default)]
pub struct UserSession {
    pending: Option<PendingSignIn>,
    /// When the session ends (0: not signed in).
    until: WallMillis,
    /// The token last written to storage, so a token is written once however many calls saw it.
    saved: Option<TokenId>,
    /// Whether storage is behind.
    dirty: bool,
}

/// What the shell does next for an operation.
#[derive(Debug, PartialEq)]
pub enum Next {
    /// Answer with this body (200).
    Answer(String),
    /// Refuse with this error.
    Fail(Error),
    /// Make a sign-in's authorization URL (the shared flow), then [`UserSession::begun`].
    SignIn,
    /// Check the callback against this sign-in and redeem its code (the shared flow),
    /// then [`UserSession::completed`].
    Complete(PendingSignIn),
    /// Get the user's token from the client machine, then [`UserSession::token_result`].
    Token,
    /// Tell the client machine the API refused the body's token.
    Refused,
    /// End the session (the client machine signs out and its revocation is sent), then
    /// [`UserSession::ended`]; `Err`: the failure to answer with after ending.
    End(Result<(), Error>),
}

/// What the user's token request came to.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenVerdict {
    /// Serve the token.
    Serve,
    /// Refuse with the error; the session goes on.
    Fail,
    /// The grant is gone (`invalid_grant`, ...): end the session, then refuse.
    End,
}

impl UserSession {
    /// A session from what storage held at `now` (or nothing), and the tokens
    /// the client machine should take up: whatever the record holds, also once the
    /// session's time is up (what it holds is then revoked by the first operation, the
    /// object's alarm at the latest: [`SessionOp::Token`] and [`SessionOp::Expire`] end it).
    /// A lapsed sign-in is dropped.
    pub fn restore(record: Option<Record>, now: Now) -> (UserSession, Option<Snapshot>) {
        let Some(r) = record else { return (UserSession::default(), None) };
        let pending = r.pending.filter(|p| p.lapses > now.wall);
        let s = UserSession { pending, until: if r.tokens.is_some() { r.until } else { WallMillis(0) }, saved: None, dirty: false };
        (s, r.tokens)
    }

    /// Sets the id of the token the machine took up from storage (`None`: its refresh
    /// token alone, so the first token it fetches is written).
    pub fn restored(&mut self, id: Option<TokenId>) {
        self.saved = id;
    }

    /// Whether someone is signed in at `now`.
    pub fn live(&self, now: Now) -> bool {
        self.until > now.wall
    }

    /// The first step of `op` at `now`. `authorized`: whether the client machine
    /// holds the user's tokens.
    #[must_use]
    pub fn op(&mut self, op: SessionOp, now: Now, authorized: bool) -> Next {
        let (wall, none) = (now.wall, WallMillis(0));
        match op {
            SessionOp::Begin => Next::SignIn,
            SessionOp::Complete => {
                // A pending sign-in is used once, whatever happens next.
                let p = self.pending.take();
                self.dirty |= p.is_some();
                match p {
                    None => Next::Fail(Error::StateMismatch { reason: "no sign-in is pending (completed already, or started elsewhere)" }),
                    Some(p) if p.lapses <= wall => Next::Fail(Error::StateMismatch { reason: "the sign-in took too long" }),
                    Some(p) => Next::Complete(p),
                }
            }
            SessionOp::Token if self.until == none => {
                // Not signed in (yet): a sign-in this browser has under way must survive.
                Next::Fail(Error::LoginRequired { reason: "no user is signed in" })
            }
            SessionOp::Token if self.until <= wall => Next::End(Err(Error::LoginRequired { reason: "the session has ended" })),
            SessionOp::Token => Next::Token,
            SessionOp::Status => Next::Answer(if self.live(now) && authorized { "1" } else { "0" }.to_owned()),
            SessionOp::Refused => Next::Refused,
            SessionOp::Logout => Next::End(Ok(())),
            SessionOp::Expire => {
                let due = (self.until > none && self.until <= wall) || (self.until == none && self.pending.as_ref().is_some_and(|p| p.lapses <= wall));
                if due || (self.until == none && self.pending.is_none()) {
                    Next::End(Ok(()))
                } else {
                    // Early (or re-armed): what is live stays; the record says when to come back.
                    self.dirty = true;
                    Next::Answer(String::new())
                }
            }
        }
    }

    /// A sign-in started at `now`: its URL is the answer.
    pub fn begun(&mut self, pending: Pending, return_to: String, now: Now) {
        self.pending = Some(PendingSignIn { pending, return_to, lapses: WallMillis(now.wall.0 + PENDING_TTL.ms().0) });
        self.dirty = true;
    }

    /// The code was redeemed at `now`: the session lasts `ttl`, and never past the access
    /// token's expiry (`token_expires`) when there is no refresh token to renew it.
    /// Answers the edge with a [`Completed`].
    pub fn completed(&mut self, return_to: String, now: Now, ttl: Secs, token_expires: WallMillis, refreshable: bool) -> Completed {
        let mut until = WallMillis(now.wall.0 + ttl.ms().0);
        if !refreshable {
            until = until.min(token_expires);
        }
        self.until = until;
        self.saved = None;
        self.dirty = true;
        Completed { return_to, max_age: Secs((until.0.saturating_sub(now.wall.0)) / 1000) }
    }

    /// What the client machine's answer to [`Next::Token`] means.
    #[must_use]
    pub fn token_result(&mut self, r: Result<TokenId, &Error>) -> TokenVerdict {
        match r {
            Ok(id) => {
                self.dirty |= self.saved != Some(id);
                TokenVerdict::Serve
            }
            Err(Error::LoginRequired { .. }) => TokenVerdict::End,
            Err(_) => TokenVerdict::Fail,
        }
    }

    /// The session was ended: nothing is held or kept.
    pub fn ended(&mut self) {
        self.pending = None;
        self.until = WallMillis(0);
        self.saved = None;
        self.dirty = true;
    }

    /// Whether storage is behind this session (so [`Self::take_record`] has a record).
    pub fn behind(&self) -> bool {
        self.dirty
    }

    /// The record to write if storage is behind (`Some(None)`: delete it), given the
    /// tokens the client machine holds (`id` names them).
    #[must_use]
    pub fn take_record(&mut self, tokens: Option<(Option<TokenId>, Snapshot)>) -> Option<Record> {
        if !core::mem::take(&mut self.dirty) {
            return None;
        }
        let (id, tokens) = match tokens.filter(|_| self.until.0 > 0) {
            Some((id, t)) => (id, Some(t)),
            None => (None, None),
        };
        self.saved = id;
        Some(Record { pending: self.pending.clone(), tokens, until: self.until })
    }
}

/// What `/login` asks the session's object to begin: where to return, and the step-up
/// (RFC 9470) or scope a resource server's challenge named, from `/login`'s own query
/// (`acr_values`, `max_age`, `scope`): one line each, for [`parse_begin`]. `Err` is the 400 for a
/// step-up that is not valid (checked here, at the edge, before any object is asked).
///
/// # Security
/// Any site can send a browser to `/login`. A query's `scope` only adds to `configured`
/// (`SIGNIN_SCOPE`), and only values `signin.step_up_scopes` allows: the scope asked for is
/// the configured one, then the added values.
pub fn begin_body(return_to: &str, acr_values: Option<&str>, max_age: Option<&str>, scope: Option<&str>, signin: &SignIn, configured: Option<&str>) -> Result<String, Reply> {
    let scope = match scope.filter(|s| !s.is_empty()) {
        None => None,
        Some(asked) => {
            let mut full: Vec<&str> = configured.map(|c| c.split(' ').filter(|v| !v.is_empty()).collect()).unwrap_or_default();
            for v in asked.split(' ').filter(|v| !v.is_empty()) {
                if !signin.step_up_scopes.iter().any(|a| a == v) && !full.contains(&v) {
                    return Err(Reply::error(400, "invalid_request", "scope: may only add values STEP_UP_SCOPES allows"));
                }
                if !full.contains(&v) {
                    full.push(v);
                }
            }
            Some(full.join(" "))
        }
    };
    let scope = scope.as_deref();
    step_up(acr_values, max_age, scope).map_err(|e| Reply::error(400, "invalid_request", &e.message()))?;
    let mut body = String::from(return_to);
    for v in [acr_values, max_age, scope] {
        body.push('\n');
        body.push_str(v.unwrap_or(""));
    }
    Ok(body)
}

/// The return target and the step-up of a [`begin_body`] (empty lines: none).
pub fn parse_begin(body: &str) -> (String, crate::proto::signin::StepUp) {
    let mut lines = body.split('\n');
    let return_to = lines.next().unwrap_or("").to_owned();
    let mut field = || lines.next().filter(|v| !v.is_empty());
    let (acr, max_age, scope) = (field(), field(), field());
    (return_to, step_up(acr, max_age, scope).unwrap_or_default())
}

fn step_up(acr_values: Option<&str>, max_age: Option<&str>, scope: Option<&str>) -> Result<crate::proto::signin::StepUp, Error> {
    let mut opts = Vec::new();
    if let Some(sc) = scope {
        opts.push(("scope".to_owned(), Value::Str(sc.to_owned())));
    }
    if let Some(a) = acr_values {
        opts.push(("acrValues".to_owned(), Value::Str(a.to_owned())));
    }
    if let Some(m) = max_age {
        let n = crate::proto::encode::parse_decimal(m, 10).ok_or(Error::config("max_age", "must be a whole number of seconds (RFC 9470)"))?;
        opts.push(("maxAge".to_owned(), Value::Num(n as f64)));
    }
    crate::proto::signin::StepUp::from_options(&opts)
}
