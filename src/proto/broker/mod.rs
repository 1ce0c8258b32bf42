//! The edge token broker's decisions, sans-IO: configuration from the Worker's env
//! ([`config`]), routing, CORS and the proxy ([`route`]), rate limiting ([`rate`]), the
//! gates ([`gate`]), the answers a `TokenClient({ brokerUrl })` reads ([`contract`]), the
//! user session ([`bff`]), and the replies below.
//!
//! The broker holds the client secret and hands browsers a short-lived token (`POST /token`)
//! or proxies their API calls with the token attached (`/proxy/<path>`): the token handler
//! (backend-for-frontend) pattern. See <https://datatracker.ietf.org/doc/html/draft-ietf-oauth-browser-based-apps>.

#[allow(unused_imports)]
use crate::prelude::*;

use super::client::response::TokenSet;
use super::encode::{push_json_str, push_u64};
use super::error::Error;
use super::http::Reply;
use super::time::Instant;

#[cfg(feature = "signin")]
pub mod bff;
pub mod config;
pub mod contract;
pub mod gate;
pub mod rate;
pub mod route;

/// `200 {"access_token","token_type","expires_in"}` with the token's remaining lifetime;
/// `token_type` is `DPoP` for a DPoP-bound token (`dpop`), else `Bearer`.
pub fn token_reply(t: &TokenSet, dpop: bool, now: Instant) -> Reply {
    Reply { body: token_body(t, dpop, now), ..token_head() }
}

/// The status and headers of every [`token_reply`], with no body: the same for each token
/// (a shell asks once, then only for bodies). No cache on the way may keep a token.
pub fn token_head() -> Reply {
    Reply { status: 200, headers: vec![("Cache-Control", "no-store".to_owned())], body: String::new() }
}

/// [`token_reply`]'s body.
pub fn token_body(t: &TokenSet, dpop: bool, now: Instant) -> String {
    token_body_of(t.access_token.expose(), dpop, now.until(t.expires_at).0 / 1000)
}

/// The body of a token reply of `token`, which expires in `expires_in` seconds: for the
/// token a flight gave its waiters, answered even when it is not kept (one that expires on
/// arrival).
pub fn token_body_of(token: &str, dpop: bool, expires_in: u64) -> String {
    // Sized once: the cached `/token` answer is the broker's hot path.
    let mut body = String::with_capacity(token.len() + 72);
    body.push_str("{\"access_token\":");
    push_json_str(&mut body, token);
    body.push_str(if dpop { ",\"token_type\":\"DPoP\",\"expires_in\":" } else { ",\"token_type\":\"Bearer\",\"expires_in\":" });
    push_u64(&mut body, expires_in);
    body.push('}');
    body
}

/// What the broker's shell could not reach or use, as the browser is told of it: the one
/// place these replies are written (js/broker.js names them with the boundary's `failed`
/// group, src/boundary.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShellFailure {
    /// The `SESSIONS` Durable Object could not be reached.
    SessionStore,
    /// The API behind `/proxy/` could not be reached (a network error, or a redirect).
    Api,
    /// WebCrypto could not use the session cookies' key, made from `SESSION_SECRET` (a
    /// configuration error).
    SessionKey,
}

impl ShellFailure {
    /// The failure a shell names by its number, if it is one.
    pub fn from_number(n: u8) -> Option<ShellFailure> {
        use crate::boundary::failed;
        match n {
            failed::SESSION_STORE => Some(ShellFailure::SessionStore),
            failed::API => Some(ShellFailure::Api),
            failed::SESSION_KEY => Some(ShellFailure::SessionKey),
            _ => None,
        }
    }

    /// What the browser is told.
    pub fn reply(self) -> Reply {
        match self {
            ShellFailure::SessionStore => Reply::error(502, "session_unavailable", "the session store could not be reached"),
            ShellFailure::Api => Reply::error(502, "api_unavailable", "the API could not be reached"),
            ShellFailure::SessionKey => Reply::error(500, "broker_misconfigured", "the session key could not be used"),
        }
    }
}

/// Which token cache serves an isolate: the deployment's Durable Object, or its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheKind {
    /// `TOKEN_CACHE` bound: one token per deployment.
    DurableObject,
    /// This isolate's own.
    Isolate,
}

/// `GET /healthz`: which token cache and which rate limit serve. With a `RATE_LIMITER`
/// binding its own limit applies and `RATE_LIMIT` sets only the isolate's buckets that
/// decide when the binding fails: the body names both, so `RATE_LIMIT=5` beside a binding
/// of 600 a minute is never silently taken for the limit.
pub fn health_reply(cache: CacheKind, binding: bool, per_minute: u32) -> Reply {
    let mut body = String::from(match cache {
        CacheKind::DurableObject => "{\"ok\":true,\"cache\":\"durable-object\"",
        CacheKind::Isolate => "{\"ok\":true,\"cache\":\"isolate\"",
    });
    body.push_str(match (binding, per_minute) {
        (true, _) => ",\"rateLimit\":\"binding\",\"fallbackPerMinute\":",
        (false, 0) => ",\"rateLimit\":\"off\"",
        (false, _) => ",\"rateLimit\":\"isolate\",\"perMinute\":",
    });
    if binding || per_minute > 0 {
        push_u64(&mut body, u64::from(per_minute));
    }
    body.push('}');
    Reply { status: 200, headers: Vec::new(), body }
}

/// Whether an isolate asks upstream itself when the deployment's `TokenCache` object did
/// not give it a token: when the object could not be reached (an object that throws, or is
/// reset or overloaded, makes its stub's fetch fail), did not answer in time, or did not
/// answer as the contract says; the isolate's own request may well work. Not when the
/// object answered with upstream's failure: a refusal (an OAuth error) would be refused
/// again, and a 5xx (`upstream_unavailable`, `upstream_invalid_response`,
/// `upstream_timeout`) comes after the object ran the retry schedule against upstream, so
/// one more request from every isolate would only multiply the load on a failing server.
pub fn cache_failed(e: &Error) -> bool {
    cache_failed_code(e.code())
}

/// [`cache_failed`] by the failure's code, as JavaScript holds it.
pub fn cache_failed_code(code: &str) -> bool {
    matches!(code, "NETWORK" | "TIMEOUT" | "INVALID_RESPONSE")
}

/// The header of an isolate's token request to its `TokenCache` object that names the token
/// an API refused (the object's answer, passed on by the isolate). The object drops that
/// token if it still holds it, so the next caller gets a fresh one; a refusal of an older
/// token (another isolate's, arriving late) drops nothing. Only the object reads it: the
/// edge's `/token` ignores it, so no caller can make the broker drop its token.
pub const REFUSED_HEADER: &str = "Tokenkit-Refused";

/// Response headers of the API that never reach the browser through `/proxy/`, because the
/// browser would take them as the broker origin's own: state kept for that origin (cookies,
/// cleared site data, HSTS, alternative services, reporting and error-logging endpoints,
/// client hints, a service worker's scope, the login status), or its CORS policy (the
/// broker's own headers decide who may read a response: an API's
/// `Access-Control-Allow-Credentials` or `-Origin` must never stand in for them).
pub const DROPPED_RESPONSE_HEADERS: &[&str] = &[
    "set-cookie",
    "set-cookie2",
    "clear-site-data",
    "strict-transport-security",
    "public-key-pins",
    "public-key-pins-report-only",
    "alt-svc",
    "nel",
    "report-to",
    "reporting-endpoints",
    "accept-ch",
    "critical-ch",
    "service-worker-allowed",
    "set-login",
    "activate-storage-access",
    "origin-agent-cluster",
    "attribution-reporting-register-source",
    "attribution-reporting-register-trigger",
    "observe-browsing-topics",
    "refresh",
    "timing-allow-origin",
];

/// Whether the API's response header `name` reaches the browser through `/proxy/` in an
/// answer with `status`: not one of [`DROPPED_RESPONSE_HEADERS`], no `Access-Control-*`
/// header (CORS is the broker's), and no `Location` on a redirect. The browser would follow
/// that redirect as the broker's own: a relative one resolves on the broker's origin, and
/// fetch sends it again with the session cookie and `Tokenkit-Request` (a 307 with the method
/// and body), so an API that can be made to redirect (`?next=`) could aim the user's session
/// at `/logout` or another route. The 3xx itself reaches the page, without `Location`.
pub fn relayed_header(name: &str, status: u16) -> bool {
    let n = name.to_ascii_lowercase();
    let redirect = (300..400).contains(&status) && n == "location";
    !redirect && !n.starts_with("access-control-") && !DROPPED_RESPONSE_HEADERS.contains(&n.as_str())
}

/// Whether the API's answer can be relayed as it is: a status a `Response` can carry
/// (200 to 599). Anything else (a 1xx the runtime passed up, or a number out of range) is
/// answered `502 api_unavailable`. The reason phrase is never relayed (HTTP/2 has none,
/// and one `Response` refuses would fail the relay).
pub fn relayable_status(status: u16) -> bool {
    (200..=599).contains(&status)
}
