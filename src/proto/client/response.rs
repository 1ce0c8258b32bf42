//! Validating token responses: status first, then JSON, then fields.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::proto::MAX_EXPIRES_IN;
use crate::proto::broker::contract;
use crate::proto::encode::{is_printable, parse_decimal, replace_all};
use crate::proto::error::Error;
use crate::proto::http::{parse_retry_after, Body, HttpResponse};
use crate::proto::secret::{AccessToken, IdToken, RefreshToken};
use crate::proto::time::{Instant, Secs, WallMillis};
use crate::proto::value::{get, Value};
use super::config::{Endpoint, Grant, Timing};
use super::presets::Errors;

/// A valid token response: the token and how long it lives, not yet placed in time.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The access token (a Bearer token: nothing else is accepted).
    pub access_token: AccessToken,
    /// The lifetime the server gave, at most a year (0: under a second; used by the callers
    /// waiting for it and not kept).
    pub lifetime: Secs,
    /// The granted scope (the requested one if the server did not say).
    pub scope: Option<String>,
    /// A user's refresh token (authorization code grant only; `None`: keep the one held).
    pub refresh_token: Option<RefreshToken>,
    /// The OpenID Connect ID token, kept only to check its `nonce` after a sign-in.
    pub id_token: Option<IdToken>,
}

/// Which token the cache holds; assigned by the state machine. A 401 invalidates only
/// the token it was sent with, never a newer one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenId(pub u64);

/// A held access token with its timing on the monotonic clock.
#[derive(Clone, Debug)]
pub struct TokenSet {
    /// The access token.
    pub access_token: AccessToken,
    /// When the token expires, counted from when its request was sent.
    pub expires_at: Instant,
    /// When to refresh: `expires_at - refreshSkew`, but never earlier than half-way
    /// through the token's life, so a short-lived token cannot cause a refresh storm.
    pub refresh_at: Instant,
    /// The granted scope.
    pub scope: Option<String>,
    /// Which token this is.
    pub id: TokenId,
}

/// An `expires_at` for tokens that never expire (API keys).
pub const NEVER: Instant = Instant(u64::MAX);

impl TokenSet {
    /// Places `issued` in time: it was requested at `sent_at`.
    pub fn new(issued: Issued, sent_at: Instant, skew: crate::proto::time::Millis, id: TokenId) -> TokenSet {
        TokenSet::lasting(issued.access_token, issued.scope, sent_at, issued.lifetime.ms(), skew, id)
    }

    /// A token valid for `life` from `from`, refreshed `skew` (at most half its life) early.
    pub fn lasting(access_token: AccessToken, scope: Option<String>, from: Instant, life: crate::proto::time::Millis, skew: crate::proto::time::Millis, id: TokenId) -> TokenSet {
        let expires_at = from + life;
        TokenSet { access_token, expires_at, refresh_at: expires_at - skew.min(crate::proto::time::Millis(life.0 / 2)), scope, id }
    }
}

/// Turns the token endpoint's answer into an [`Issued`] token or a precise [`Error`].
///
/// `wall` (`Date.now()`) only turns an HTTP-date `Retry-After` into seconds.
///
/// See <https://www.rfc-editor.org/rfc/rfc6749#section-5.1> and §5.2.
pub fn process_token_response(
    ep: &Endpoint,
    timing: &Timing,
    resp: &HttpResponse,
    wall: WallMillis,
) -> Result<Issued, Error> {
    let status = resp.status;
    let fields: Option<&[(String, Value)]> = match &resp.body {
        Body::Json(Value::Object(entries)) => Some(entries),
        _ => None,
    };
    if status == 0 || (300..400).contains(&status) {
        return Err(Error::invalid(
            status,
            "the token endpoint answered with a redirect, and token requests never follow redirects",
        ));
    }
    let retry_after = resp.retry_after.as_deref().and_then(|v| parse_retry_after(v, wall));
    if !(200..300).contains(&status) {
        if ep.wire.errors == Errors::Broker {
            return Err(contract::client_error(status, fields.unwrap_or(&[]), retry_after));
        }
        return Err(match status {
            429 => Error::RateLimited { status, retry_after },
            // Only RFC 6749 has §5.2 error bodies; other formats are read by status.
            _ => match fields.filter(|_| ep.wire.errors == Errors::Rfc6749).and_then(|f| oauth_error(f, status, ep)) {
                Some(e) if status < 500 => e,
                _ => Error::Http {
                    status,
                    detail: ep.wire.meaning(status),
                    retry_after: if status == 503 { retry_after } else { None },
                },
            },
        });
    }

    let Some(fields) = fields else {
        return Err(Error::invalid(
            status,
            match resp.body {
                Body::NotJson => "the body is not JSON",
                Body::TooLarge => "the body is larger than 64 KB",
                Body::Json(_) => "the body is not a JSON object",
            },
        ));
    };
    let (token_key, expires_key) = (ep.wire.token_field, ep.wire.expires_field);
    if ep.wire.errors != Errors::ByStatus && get(fields, token_key).is_none() {
        // Some servers send an RFC 6749 error with a 200.
        if let Some(e) = oauth_error(fields, status, ep) {
            return Err(e);
        }
    }
    let which = |i: usize| ep.wire.token_problems.get(i).copied().unwrap_or("");
    let access_token = match get(fields, token_key) {
        None => return Err(Error::invalid(status, which(0))),
        Some(Value::Str(s)) if s.is_empty() => return Err(Error::invalid(status, which(1))),
        Some(Value::Str(s)) => s,
        Some(_) => return Err(Error::invalid(status, which(2))),
    };
    if !access_token.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(Error::invalid(
            status,
            "the access token contains characters that cannot be sent in an HTTP header",
        ));
    }
    // RFC 6749 §7.1: a client must not use a token whose type it does not understand.
    // tokenkit speaks Bearer (RFC 6750), or DPoP (RFC 9449) when `dpop` is on, and then
    // nothing else: a Bearer answer to a DPoP request is a token any thief could use. Case
    // does not matter (§5.1). A missing type is Bearer's (most servers omit it), never DPoP's.
    let dpop = crate::proto::DPOP && ep.dpop.is_some();
    let expected = if dpop { "DPoP" } else { "Bearer" };
    match get(fields, "token_type") {
        None if !dpop => {}
        Some(Value::Str(t)) if t.eq_ignore_ascii_case(expected) => {}
        None => return Err(Error::UnsupportedTokenType { status, token_type: "(none)".to_owned(), expected }),
        Some(Value::Str(t)) => {
            // Named in the message only if short, printable, and not carrying the token
            // (found by fuzzing: a token_type that held the access token echoed it).
            let shown = if t.len() <= 40 && is_printable(t) && !crate::proto::encode::contains(t, access_token) {
                t.clone()
            } else {
                "(not shown)".to_owned()
            };
            return Err(Error::UnsupportedTokenType { status, token_type: shown, expected });
        }
        Some(_) => return Err(Error::invalid(status, "token_type is not a string")),
    }
    let expires_in = match get(fields, expires_key) {
        None => timing.default_expires_in,
        Some(Value::Num(n)) if *n < 0.0 => return Err(Error::invalid(status, "expires_in is negative")),
        Some(Value::Num(n)) if n.is_finite() => Secs(*n as u64), // whole seconds, rounded down
        Some(Value::Str(s)) => Secs(parse_decimal(s, 12).ok_or(Error::invalid(status, "expires_in is not a number"))?),
        Some(_) => return Err(Error::invalid(status, "expires_in is not a number")),
    };
    let scope = match ep.wire.scope_field.and_then(|k| get(fields, k)) {
        Some(Value::Str(s)) => Some(s.clone()),
        Some(_) => return Err(Error::invalid(status, "scope is not a string")),
        None => ep.scope.clone(),
    };
    let user = crate::proto::SIGNIN && matches!(ep.grant, Grant::AuthorizationCode(_));
    let refresh_token = match get(fields, "refresh_token").filter(|_| user) {
        None => None,
        Some(Value::Str(s)) if !s.is_empty() && s.bytes().all(|b| (0x20..0x7f).contains(&b)) => Some(RefreshToken::new(s.clone())),
        Some(_) => return Err(Error::invalid(status, "refresh_token is not a printable string")),
    };
    let id_token = match get(fields, "id_token").filter(|_| user) {
        Some(Value::Str(s)) => Some(IdToken::new(s.clone())),
        _ => None,
    };
    // The lifetime is the server's, never stretched: a token is not attached after it. How
    // often tiny lifetimes make tokenkit ask again is the machine's rule (MIN_INTERVAL).
    Ok(Issued {
        access_token: AccessToken::new(access_token.clone()),
        lifetime: expires_in.min(MAX_EXPIRES_IN),
        scope,
        refresh_token,
        id_token,
    })
}

/// An RFC 6749 §5.2 error body, if `fields` is one. `error` must be a printable code;
/// `error_description` is kept only if printable, shortened, and with the client secret
/// blotted out in case a server echoes it.
pub(crate) fn oauth_error(fields: &[(String, Value)], status: u16, ep: &Endpoint) -> Option<Error> {
    let Some(Value::Str(error)) = get(fields, "error") else {
        return None;
    };
    if error.is_empty() || error.len() > 64 || !is_printable(error) {
        return None;
    }
    let description = match get(fields, "error_description") {
        Some(Value::Str(d)) if !d.is_empty() && is_printable(d) => {
            let mut d: String = d.chars().take(300).collect();
            if let Some(secret) = ep.client_secret.as_ref().filter(|s| !s.expose().is_empty()) {
                d = replace_all(&d, secret.expose(), "[redacted]");
            }
            Some(d)
        }
        _ => None,
    };
    Some(Error::OAuth {
        status,
        error: error.clone(),
        description,
    })
}

