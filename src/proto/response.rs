//! Validating token responses: status first, then JSON, then fields.

#[allow(unused_imports)]
use crate::prelude::*;

use super::config::{is_token, Config, Dialect, Endpoint};
use super::encode::replace_all;
use super::error::Error;
use super::secret::Secret;
use super::value::{get, Value};
use super::{Millis, MAX_EXPIRES_IN_SECS};

/// A token endpoint's answer as plain data.
pub struct HttpResponse {
    /// The HTTP status; 0 for a browser's opaque redirect (`redirect: "manual"`).
    pub status: u16,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// The body, parsed as JSON by the shell (`JSON.parse`).
    pub body: Body,
}

/// A response body.
pub enum Body {
    /// The body parsed as JSON.
    Json(Value),
    /// The body is not JSON (or could not be read).
    NotJson,
}

/// A validated access token with its timing.
#[derive(Clone, Debug)]
pub struct TokenSet {
    /// The access token.
    pub access_token: Secret,
    /// The token type for the `Authorization` header (`Bearer` normalised).
    pub token_type: String,
    /// When the token expires (ms epoch), counted from when the request was sent.
    pub expires_at: Millis,
    /// When to refresh: `expires_at - refreshSkew`, but never earlier than half-way
    /// through the token's life, so a short-lived token cannot cause a refresh storm.
    pub refresh_at: Millis,
    /// The granted scope (the requested one if the server did not say).
    pub scope: Option<String>,
    /// Which stored token this is; the cache assigns it. Lets a caller that saw a 401
    /// invalidate exactly the token it used, not a newer one.
    pub id: u64,
}

/// An `expires_at` for tokens that never expire (API keys).
pub const NEVER: Millis = Millis::MAX;

/// Turns the token endpoint's answer into a [`TokenSet`] or a precise [`Error`].
///
/// `sent_at` is when the request was sent: expiry counts from then, not from when the
/// answer arrived. `now` is used only to turn an HTTP-date `Retry-After` into seconds.
///
/// See <https://www.rfc-editor.org/rfc/rfc6749#section-5.1> and §5.2.
pub fn process_token_response(
    cfg: &Config,
    ep: &Endpoint,
    resp: &HttpResponse,
    sent_at: Millis,
    now: Millis,
) -> Result<TokenSet, Error> {
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
    if status == 429 {
        return Err(Error::RateLimited {
            status,
            retry_after: resp
                .retry_after
                .as_deref()
                .and_then(|v| parse_retry_after(v, now)),
        });
    }
    if !(200..300).contains(&status) {
        return Err(match ep.dialect {
            Dialect::Symbl => Error::Http {
                status,
                detail: symbl_meaning(status),
            },
            Dialect::OAuth2 | Dialect::Broker => match fields.and_then(|f| oauth_error(f, status, ep)) {
                Some(e) if status < 500 => e,
                _ => Error::Http { status, detail: "" },
            },
        });
    }

    let Some(fields) = fields else {
        return Err(Error::invalid(
            status,
            match resp.body {
                Body::NotJson => "the body is not JSON",
                Body::Json(_) => "the body is not a JSON object",
            },
        ));
    };
    let (token_key, expires_key) = match ep.dialect {
        Dialect::OAuth2 | Dialect::Broker => ("access_token", "expires_in"),
        Dialect::Symbl => ("accessToken", "expiresIn"),
    };
    if ep.dialect != Dialect::Symbl && get(fields, "access_token").is_none() {
        // Some servers send an RFC 6749 error with a 200.
        if let Some(e) = oauth_error(fields, status, ep) {
            return Err(e);
        }
    }
    let access_token = match get(fields, token_key) {
        None => return Err(Error::invalid(status, missing(ep.dialect, 0))),
        Some(Value::Str(s)) if s.is_empty() => {
            return Err(Error::invalid(status, missing(ep.dialect, 1)))
        }
        Some(Value::Str(s)) => s,
        Some(_) => return Err(Error::invalid(status, missing(ep.dialect, 2))),
    };
    if !access_token.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(Error::invalid(
            status,
            "the access token contains characters that cannot be sent in an HTTP header",
        ));
    }
    let token_type = match ep.dialect {
        Dialect::Symbl => "Bearer".to_owned(),
        Dialect::OAuth2 | Dialect::Broker => match get(fields, "token_type") {
            None => "Bearer".to_owned(),
            Some(Value::Str(t)) if t.eq_ignore_ascii_case("bearer") => "Bearer".to_owned(),
            Some(Value::Str(t)) if is_token(t) => t.clone(),
            Some(_) => {
                return Err(Error::invalid(
                    status,
                    "token_type is not a valid authentication scheme name",
                ))
            }
        },
    };
    let expires_in = match get(fields, expires_key) {
        None => cfg.default_expires_in_secs,
        Some(Value::Num(n)) if *n < 0.0 => {
            return Err(Error::invalid(status, "expires_in is negative"))
        }
        Some(Value::Num(n)) if n.is_finite() => *n as u64, // whole seconds, rounded down
        Some(Value::Str(s)) if !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.bytes().fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0'))
        }
        Some(_) => return Err(Error::invalid(status, "expires_in is not a number")),
    }
    .min(MAX_EXPIRES_IN_SECS);
    let scope = match (ep.dialect, get(fields, "scope")) {
        (Dialect::OAuth2 | Dialect::Broker, Some(Value::Str(s))) => Some(s.clone()),
        (Dialect::OAuth2 | Dialect::Broker, Some(_)) => {
            return Err(Error::invalid(status, "scope is not a string"))
        }
        _ => ep.scope.clone(),
    };

    let lifetime = expires_in * 1000;
    let expires_at = sent_at.saturating_add(lifetime);
    Ok(TokenSet {
        access_token: Secret::new(access_token.clone()),
        token_type,
        expires_at,
        refresh_at: expires_at - cfg.refresh_skew_ms.min(lifetime / 2),
        scope,
        id: 0,
    })
}

fn missing(dialect: Dialect, what: usize) -> &'static str {
    const OAUTH2: [&str; 3] = [
        "access_token is missing",
        "access_token is empty",
        "access_token is not a string",
    ];
    const SYMBL: [&str; 3] = [
        "accessToken is missing",
        "accessToken is empty",
        "accessToken is not a string",
    ];
    let table = if dialect == Dialect::Symbl { SYMBL } else { OAUTH2 };
    table.get(what).copied().unwrap_or("")
}

/// An RFC 6749 §5.2 error body, if `fields` is one. `error` must be a printable code;
/// `error_description` is kept only if printable, shortened, and with the client secret
/// blotted out in case a server echoes it.
fn oauth_error(fields: &[(String, Value)], status: u16, ep: &Endpoint) -> Option<Error> {
    let printable = |s: &str| s.bytes().all(|b| (0x20..0x7f).contains(&b));
    let Some(Value::Str(error)) = get(fields, "error") else {
        return None;
    };
    if error.is_empty() || error.len() > 64 || !printable(error) {
        return None;
    }
    let description = match get(fields, "error_description") {
        Some(Value::Str(d)) if !d.is_empty() && printable(d) => {
            let mut d: String = d.chars().take(300).collect();
            if let Some(secret) = &ep.client_secret {
                if !secret.expose().is_empty() {
                    d = replace_all(&d, secret.expose(), "[redacted]");
                }
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

/// Symbl's documented meaning of each status of its token endpoint.
fn symbl_meaning(status: u16) -> &'static str {
    match status {
        400 => "Bad Request: the request is invalid (check appId and appSecret)",
        401 => "Unauthorized: the appId or appSecret is invalid",
        404 => "Not Found: the specified resource does not exist (check tokenUrl)",
        500 => "Internal Server Error: Symbl had a problem with its server; try again later",
        _ => "",
    }
}

/// Parses `Retry-After` (delta-seconds or an IMF-fixdate) into seconds from `now`.
///
/// See <https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3>.
pub fn parse_retry_after(value: &str, now: Millis) -> Option<u64> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(if v.len() > 12 {
            u64::MAX / 1000
        } else {
            v.bytes().fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0'))
        });
    }
    let at = parse_http_date(v)?;
    Some(at.saturating_sub(now).div_ceil(1000))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) into ms since the epoch.
pub fn parse_http_date(s: &str) -> Option<Millis> {
    let mut it = s.split_ascii_whitespace();
    let _weekday = it.next().filter(|w| w.len() == 4 && w.ends_with(','))?;
    let day = num(it.next()?, 2)?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month_name = it.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as u64 + 1;
    let year = num(it.next()?, 4)?;
    let mut hms = it.next()?.split(':');
    let (h, m, sec) = (num(hms.next()?, 2)?, num(hms.next()?, 2)?, num(hms.next()?, 2)?);
    if it.next()? != "GMT" || it.next().is_some() || hms.next().is_some() {
        return None;
    }
    if year < 1970 || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), years since 1970 only.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(((days * 24 + h) * 60 + m) * 60_000 + sec * 1000)
}

fn num(s: &str, len: usize) -> Option<u64> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.bytes().fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0')))
}
