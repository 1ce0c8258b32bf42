//! URLs as the platform's parser sees them, and the rules for where secrets and tokens
//! may go: https, or plain http on a loopback host; no user name or password; origins only
//! where an origin is asked for.

#[allow(unused_imports)]
use crate::prelude::*;

use super::error::Error;

/// A URL as the platform's URL parser sees it (`new URL(s)` in the shell).
#[derive(Clone, Debug, Default)]
pub struct UrlParts {
    /// The scheme with its colon, e.g. `https:`.
    pub protocol: String,
    /// The host name without port; IPv6 hosts keep their brackets (`[::1]`).
    pub hostname: String,
    /// The serialized origin, e.g. `https://api.example.com:8443`.
    pub origin: String,
    /// The whole normalized URL.
    pub href: String,
    /// The path, e.g. `/`.
    pub pathname: String,
    /// Whether the URL has a query string.
    pub has_query: bool,
    /// Whether the URL has a fragment.
    pub has_fragment: bool,
    /// Whether the URL carries a user name or password.
    pub has_credentials: bool,
}

/// The platform's URL parser: `None` for strings that are not absolute URLs.
pub type ParseUrl<'a> = &'a dyn Fn(&str) -> Option<UrlParts>;

/// Whether `host` (a `URL.hostname`) is a loopback host: `localhost`, 127.0.0.0/8 or `[::1]`.
pub fn is_loopback(host: &str) -> bool {
    if host == "localhost" || host == "[::1]" {
        return true;
    }
    let mut parts = host.split('.');
    parts.next() == Some("127")
        && parts.clone().count() == 3
        && parts.all(|p| super::encode::parse_decimal(p, 3).is_some())
}

/// Why `u` may not receive secrets or tokens, if it may not: https, or plain http on a
/// loopback host only; no user name or password.
fn insecure(u: &UrlParts) -> Option<&'static str> {
    match u.protocol.as_str() {
        "https:" => {}
        "http:" if is_loopback(&u.hostname) => {}
        "http:" => return Some("must use https (plain http is allowed only for localhost, 127.0.0.0/8 and [::1])"),
        _ => return Some("must be an https URL"),
    }
    u.has_credentials.then_some("must not contain a user name or password")
}

/// `s` as a URL that may receive secrets or tokens, or the [`Error`] naming `field`.
pub fn secure_url(s: &str, field: &str, parse_url: ParseUrl<'_>) -> Result<UrlParts, Error> {
    let u = parse_url(s).ok_or_else(|| Error::config(field, "is not an absolute URL"))?;
    match insecure(&u) {
        Some(reason) => Err(Error::config(field, reason)),
        None => Ok(u),
    }
}

/// A secure origin (`scheme://host[:port]`, nothing else) serialized as `URL.origin`, or
/// why `s` is not one. Shared by `allowedOrigins` and the broker's origin variables.
pub fn parse_origin(s: &str, parse_url: ParseUrl<'_>) -> Result<String, &'static str> {
    let u = parse_url(s).ok_or("is not an absolute URL")?;
    if let Some(reason) = insecure(&u) {
        return Err(reason);
    }
    if u.pathname != "/" || u.has_query || u.has_fragment {
        return Err("must be an origin only (scheme://host[:port]) with no path, query or fragment");
    }
    Ok(u.origin)
}
