//! Signing users in through the broker: the backend-for-frontend of
//! draft-ietf-oauth-browser-based-apps §6.1, as plain data.
//!
//! The broker runs the authorization code grant with PKCE (the same [`super::authcode`] and
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

use super::broker::{EnvError, Reply};
use super::broker_contract::upstream_reply;
use super::config::ParseUrl;
use super::encode::is_printable;
use super::error::Error;
use super::secret::Secret;
use super::time::Secs;

/// The session cookie: `__Host-` (RFC 6265bis §4.1.3.2), so it is `Secure`, for this host
/// only and `Path=/`; no other host of the site can set or overwrite it.
pub const COOKIE: &str = "__Host-tokenkit-session";

/// Sign-in settings read from the Worker's env (present when `AUTHORIZE_URL` is set).
#[derive(Debug)]
pub struct SignIn {
    /// The HMAC key of the session cookie (`SESSION_SECRET`, at least 32 characters).
    pub session_key: Secret,
    /// How long a session lasts from sign-in (`SESSION_TTL`, seconds; default a day): the
    /// cookie's `Max-Age`, and when the session object deletes what it holds.
    pub session_ttl: Secs,
}

/// Env variables of the user-session client and the client option each one sets. The
/// token endpoint and client (`TOKEN_URL`, `CLIENT_ID`, `CLIENT_SECRET`, `CLIENT_AUTH`,
/// `AUDIENCE`, `RESOURCE`) are the broker's own.
pub const SIGNIN_ENV: &[(&str, &str)] = &[
    ("AUTHORIZE_URL", "authorizeUrl"),
    ("REDIRECT_URI", "redirectUri"),
    ("REVOCATION_URL", "revocationUrl"),
    ("ISSUER", "issuer"),
    ("SIGNIN_SCOPE", "scope"),
];

/// How long a sign-in may take from `/login` to `/callback`; a session object holding only
/// an abandoned sign-in deletes it after this.
pub const PENDING_TTL: Secs = Secs(600);

/// When a session object should delete what it holds (wall-clock ms): at the session's end
/// (`until`, once signed in), else [`PENDING_TTL`] after a sign-in started at `now`, else
/// never (it holds nothing).
pub fn expiry(until: u64, pending: bool, now: u64) -> Option<u64> {
    match (until, pending) {
        (u, _) if u > 0 => Some(u),
        (_, true) => Some(now + PENDING_TTL.0 * 1000),
        _ => None,
    }
}

/// The scope asked for when `SIGNIN_SCOPE` is not set: the user's identity and a refresh token.
pub const DEFAULT_SCOPE: &str = "openid offline_access";

impl SignIn {
    /// Reads `SESSION_SECRET` and `SESSION_TTL` (the client itself is checked by `Config`).
    pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Result<SignIn, EnvError> {
        let key = get("SESSION_SECRET").ok_or(EnvError { var: "SESSION_SECRET", reason: "is required for sign-in" })?;
        if key.len() < 32 {
            return Err(EnvError { var: "SESSION_SECRET", reason: "must be at least 32 characters (random)" });
        }
        let ttl = match get("SESSION_TTL") {
            None => 86_400,
            Some(v) => match super::parse_decimal(&v, 9) {
                Some(s) if (60..=31_536_000).contains(&s) => s,
                _ => return Err(EnvError { var: "SESSION_TTL", reason: "must be whole seconds from 60 to 31536000" }),
            },
        };
        Ok(SignIn { session_key: Secret::new(key), session_ttl: Secs(ttl) })
    }
}

/// The text the cookie's MAC covers: the session id, in a context of its own.
pub fn mac_input(sid: &str) -> String {
    let mut s = String::from("tokenkit session v1\n");
    s.push_str(sid);
    s
}

/// `Set-Cookie` for session `sid` with its `mac` (base64url HMAC-SHA256 of [`mac_input`]).
/// `SameSite=Lax`: the cookie comes along on the authorization server's redirect to
/// `/callback` (a top-level GET) but not on other sites' POSTs or subrequests.
pub fn set_cookie(sid: &str, mac: &str, ttl: Secs) -> String {
    let mut c = String::from(COOKIE);
    c.push('=');
    c.push_str(sid);
    c.push('.');
    c.push_str(mac);
    c.push_str("; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=");
    super::encode_u64(&mut c, ttl.0);
    c
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie() -> String {
    let mut c = String::from(COOKIE);
    c.push_str("=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0");
    c
}

/// The session id and MAC in a `Cookie` header, if it holds a well-formed session cookie.
pub fn session_cookie(header: Option<&str>) -> Option<(&str, &str)> {
    let value = header?.split(';').find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))?;
    let (sid, mac) = value.split_once('.')?;
    let b64url = |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (b64url(sid) && b64url(mac) && sid.len() >= 43).then_some((sid, mac))
}

/// Whether `got` is `expected`, comparing every byte (timing does not reveal a prefix).
pub fn mac_ok(expected: &str, got: &str) -> bool {
    let bytes = expected.bytes().zip(got.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    expected.len() == got.len() && bytes == 0
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
    match e {
        Error::LoginRequired { .. } => Reply::error(401, "login_required", "sign in at /login"),
        Error::StateMismatch { .. } => {
            Reply::error(400, "state_mismatch", "this callback does not belong to a sign-in started in this browser")
        }
        Error::OAuth { status: 0, error, .. } => {
            // The authorization server's redirect carried an error (the user declined...).
            let mut r = Reply::error(400, "authorization_failed", "the authorization server did not sign the user in");
            r.body.pop();
            r.body.push_str(",\"upstream_error\":");
            super::encode::push_json_str(&mut r.body, error);
            r.body.push('}');
            r
        }
        Error::InvalidResponse { status: 0, .. } => {
            Reply::error(400, "bad_callback", "the callback is not a valid authorization response")
        }
        e => upstream_reply(e),
    }
}
