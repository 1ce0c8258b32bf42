//! HTTP as the core sees it: requests and responses as plain data, the broker's own
//! replies, the header grammar (RFC 9110 tokens, header values, `WWW-Authenticate`
//! challenges), `Retry-After` and HTTP dates.

#[allow(unused_imports)]
use crate::prelude::*;

use super::encode::{is_printable, parse_decimal, push_json_str};
use super::time::{Secs, WallMillis};
use super::value::Value;

/// A token request to send: always `POST`, never following redirects.
///
/// # Security
/// Holds the client secret (in `body` or the `Authorization` header). It deliberately has no
/// `Debug` implementation, so it cannot end up in a log line.
pub struct HttpRequest {
    /// `POST` for token requests and revocations; `GET` for metadata (discovery).
    pub method: &'static str,
    /// The token endpoint URL (or the revocation endpoint's, or a metadata location).
    pub url: String,
    /// Header names and values, in sending order.
    pub headers: Vec<(&'static str, String)>,
    /// The request body.
    pub body: String,
    /// Always `"manual"`: a redirect would carry the credentials to wherever it points.
    pub redirect: &'static str,
    /// `"no-store"`, or `None` where the platform has no HTTP cache and older Workers
    /// compatibility dates reject the field.
    pub cache: Option<&'static str>,
    /// The fetch `credentials` mode (`"omit"` unless a broker client asks for cookies), or
    /// `None` in Workers, which have no cookie jar and may reject the field.
    pub credentials: Option<&'static str>,
    /// Send it holding the browser's cross-tab lock for this client (a refresh: a rotating
    /// refresh token must be used once, by one tab).
    pub lock: bool,
    /// The body ends in `client_assertion=`: the shell appends a fresh signed client
    /// assertion (`private_key_jwt`, RFC 7523 §2.2), a new one for every attempt, whose
    /// signing input the machine makes ([`crate::proto::client::machine::Machine::client_assertion`]).
    pub assertion: bool,
}

/// A token endpoint's answer as plain data.
pub struct HttpResponse {
    /// The HTTP status; 0 for a browser's opaque redirect (`redirect: "manual"`).
    pub status: u16,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// The `DPoP-Nonce` header, if any (RFC 9449 §8): read only when `dpop` is on.
    pub dpop_nonce: Option<String>,
    /// The body, parsed as JSON by the shell (`JSON.parse`).
    pub body: Body,
}

/// A response body.
pub enum Body {
    /// The body parsed as JSON.
    Json(Value),
    /// The body is not JSON (or could not be read).
    NotJson,
    /// The body was longer than [`MAX_BODY_BYTES`]: the shell stopped reading it.
    TooLarge,
}

/// The most of a token endpoint's body the shell reads (js/shell.js `postToken` stops
/// there and reports [`Body::TooLarge`]): a 50 MB or endless body must not fill memory.
pub const MAX_BODY_BYTES: usize = 65_536;

/// How much of a revocation endpoint's 400 body the shell reads for its `error` (a DPoP
/// nonce demand names itself there: RFC 9449 §8); a larger body is not read, as not JSON.
pub const REVOCATION_ERROR_BYTES: usize = 4_096;

/// A response the broker sends without going anywhere.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Extra headers (CORS, `Allow`, `Retry-After`...).
    pub headers: Vec<(&'static str, String)>,
    /// A JSON body, or empty for 204.
    pub body: String,
}

impl Reply {
    /// A JSON error: `{"error": code, "message": message}`.
    pub fn error(status: u16, code: &str, message: &str) -> Reply {
        let mut body = String::from("{\"error\":");
        push_json_str(&mut body, code);
        body.push_str(",\"message\":");
        push_json_str(&mut body, message);
        body.push('}');
        Reply { status, headers: Vec::new(), body }
    }

    /// The reply with one more header.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

/// Whether `s` is an RFC 9110 token (header names, auth schemes).
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `s` can be sent in a header value as is: visible ASCII and inner spaces only,
/// so it can never smuggle a CR/LF or be altered by the platform's header normalisation.
pub fn is_header_value(s: &str) -> bool {
    !s.is_empty() && !s.starts_with(' ') && !s.ends_with(' ') && is_printable(s)
}

// `WWW-Authenticate` challenges, and what a 401 means for the token we sent: syntax from
// RFC 9110 §11.6.1, Bearer error codes from RFC 6750 §3.1.

/// One challenge: its auth scheme and, if present, its `error` parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The auth scheme as sent (compare case-insensitively).
    pub scheme: String,
    /// The `error` auth-param (unquoted), e.g. `invalid_token`.
    pub error: Option<String>,
    /// Its other auth-params, names lower-cased, values unquoted; only printable ones are
    /// kept, the first of a name only, at most [`MAX_PARAMS`].
    pub params: Vec<(String, String)>,
}

/// The most auth-params kept of one challenge.
pub const MAX_PARAMS: usize = 16;

impl Challenge {
    /// The auth-param `name` (lower case), if it was sent.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// The first challenge of a `WWW-Authenticate` value, as an app branches on it: the
/// scheme, and the RFC 6750 §3 / RFC 9470 §3 / RFC 9728 §5.1 parameters
/// `[error, error_description, scope, acr_values, max_age, resource_metadata, realm]`
/// (`max_age` only when it is a whole number of seconds). `None` when there is none.
pub fn first_challenge(www_authenticate: &str) -> Option<(String, [Option<String>; 6], Option<u64>)> {
    let c = parse_challenges(www_authenticate).into_iter().next()?;
    let p = |n: &str| c.param(n).map(str::to_owned);
    let max_age = c.param("max_age").and_then(|v| super::encode::parse_decimal(v, 10));
    let fields = [c.error.clone(), p("error_description"), p("scope"), p("acr_values"), p("resource_metadata"), p("realm")];
    Some((c.scheme, fields, max_age))
}

/// Parses a `WWW-Authenticate` value into its challenges, tolerantly: commas inside
/// quoted strings are respected, unknown parameters and token68 values are skipped.
///
/// `challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]`, comma-separated.
pub fn parse_challenges(value: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    for item in split_outside_quotes(value) {
        let item = item.trim_matches(|c| c == ' ' || c == '\t');
        if item.is_empty() {
            continue;
        }
        // `scheme rest` starts a challenge; `name=value` continues the current one.
        let (head, rest) = match item.find([' ', '\t']) {
            Some(i) => (item.get(..i).unwrap_or(""), item.get(i..).unwrap_or("").trim_start()),
            None => (item, ""),
        };
        let param = if head.contains('=') || rest.starts_with('=') {
            Some(item)
        } else if !super::http::is_token(head) {
            // Not a scheme (found by fuzzing: garbage was kept as one): skip the item.
            continue;
        } else {
            out.push(Challenge {
                scheme: head.to_owned(),
                error: None,
                params: Vec::new(),
            });
            (!rest.is_empty()).then_some(rest)
        };
        if let (Some(p), Some(current)) = (param, out.last_mut()) {
            if let Some((name, v)) = p.split_once('=') {
                let name = name.trim();
                if name.eq_ignore_ascii_case("error") {
                    if current.error.is_none() {
                        // An unprintable `error` is kept as an error no rule matches (found by
                        // fuzzing: control characters came through), never as text to show.
                        let e = unquote(v.trim());
                        current.error = Some(if super::encode::is_printable(&e) { e } else { "(unprintable)".to_owned() });
                    }
                } else if current.params.len() < MAX_PARAMS && super::http::is_token(name) {
                    let name = name.to_ascii_lowercase();
                    let v = unquote(v.trim());
                    if super::encode::is_printable(&v) && current.param(&name).is_none() {
                        current.params.push((name, v));
                    }
                }
            }
        }
    }
    out
}

/// Whether a 401 answering a request we signed says our token itself was refused, so a
/// new token may help:
/// - no challenge at all (a bare 401), or only challenges of our token's scheme without
///   an `error`;
/// - a challenge of our scheme with `error="invalid_token"` (expired, revoked, malformed).
///
/// Our scheme is `Bearer`, or `DPoP` for DPoP tokens (RFC 9449 §7.1, with RFC 6750's error
/// codes). Not for `insufficient_scope` or `invalid_request` (a new token changes
/// nothing), nor when the server challenges another scheme only (it wants other
/// credentials).
pub fn token_refused(www_authenticate: Option<&str>) -> bool {
    scheme_refused(www_authenticate, "bearer")
}

/// [`token_refused`] for a token sent with `scheme` (lower-case).
pub fn scheme_refused(www_authenticate: Option<&str>, scheme: &str) -> bool {
    let challenges = www_authenticate.map(parse_challenges).unwrap_or_default();
    let bearer = |c: &&Challenge| c.scheme.eq_ignore_ascii_case(scheme);
    if challenges.iter().filter(bearer).any(|c| c.error.as_deref() == Some("invalid_token")) {
        return true;
    }
    challenges.iter().all(|c| bearer(&c) && c.error.is_none())
}

fn split_outside_quotes(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, b) in s.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                parts.push(s.get(start..i).unwrap_or(""));
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(s.get(start..).unwrap_or(""));
    parts
}

fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return v.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        if c == '\\' && !escaped {
            escaped = true;
        } else {
            out.push(c);
            escaped = false;
        }
    }
    out
}

/// Parses `Retry-After`: delta-seconds, or an HTTP-date in any of its three forms, as
/// seconds from `now` (a date in the past is 0).
///
/// See <https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3>.
pub fn parse_retry_after(value: &str, now: WallMillis) -> Option<Secs> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long waits saturate; the retry rules refuse them anyway.
        return Some(Secs(parse_decimal(v, 12).unwrap_or(u64::MAX / 1000)));
    }
    let at = parse_http_date(v, now)?;
    Some(super::time::Millis(at.0.saturating_sub(now.0)).secs_ceil())
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

const LONG_DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// Parses an HTTP-date (RFC 9110 §5.6.7) into ms since the epoch: the preferred
/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) and the obsolete RFC 850
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`) forms.
/// Impossible dates (`30 Feb`, hour 24) are `None`. `now` resolves RFC 850's two-digit
/// year: one more than 50 years ahead is taken from the previous century.
pub fn parse_http_date(s: &str, now: WallMillis) -> Option<WallMillis> {
    let mut it = s.split_ascii_whitespace();
    let first = it.next()?;
    let (day, month, year, time) = if let Some(weekday) = first.strip_suffix(',') {
        let parsed = if DAYS.contains(&weekday) {
            let (d, m, y, t) = (it.next()?, it.next()?, it.next()?, it.next()?);
            (num(d, 2, 2)?, month(m)?, num(y, 4, 4)?, t)
        } else if LONG_DAYS.contains(&weekday) {
            let mut dmy = it.next()?.split('-');
            let (d, m, y) = (dmy.next()?, dmy.next()?, dmy.next()?);
            if dmy.next().is_some() {
                return None;
            }
            (num(d, 2, 2)?, month(m)?, full_year(num(y, 2, 2)?, now), it.next()?)
        } else {
            return None;
        };
        if it.next()? != "GMT" {
            return None;
        }
        parsed
    } else {
        if !DAYS.contains(&first) {
            return None;
        }
        let (m, d, t, y) = (it.next()?, it.next()?, it.next()?, it.next()?);
        (num(d, 1, 2)?, month(m)?, num(y, 4, 4)?, t)
    };
    if it.next().is_some() {
        return None;
    }
    let mut hms = time.split(':');
    let (h, m, sec) = (num(hms.next()?, 2, 2)?, num(hms.next()?, 2, 2)?, num(hms.next()?, 2, 2)?);
    if hms.next().is_some() || year < 1970 || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(WallMillis(((days * 24 + h) * 60 + m) * 60_000 + sec * 1000))
}

fn month(m: &str) -> Option<u64> {
    MONTHS.iter().position(|x| *x == m).map(|i| i as u64 + 1)
}

fn num(s: &str, min_len: usize, max_len: usize) -> Option<u64> {
    (s.len() >= min_len).then(|| parse_decimal(s, max_len)).flatten()
}

fn is_leap(y: u64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm), for years from 1970.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    (era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy).saturating_sub(719_468)
}

/// The year `now` falls in (close enough: 365.2425-day years from 1970).
fn current_year(now: WallMillis) -> u64 {
    1970 + now.0 / 31_556_952_000
}

fn full_year(yy: u64, now: WallMillis) -> u64 {
    let this = current_year(now);
    let candidate = this - this % 100 + yy;
    if candidate > this + 50 {
        candidate - 100
    } else {
        candidate
    }
}
