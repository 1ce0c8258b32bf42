//! `WWW-Authenticate` challenges, and what a 401 means for the token we sent.
//!
//! See <https://www.rfc-editor.org/rfc/rfc9110#section-11.6.1> (syntax) and
//! <https://www.rfc-editor.org/rfc/rfc6750#section-3.1> (Bearer error codes).

#[allow(unused_imports)]
use crate::prelude::*;

/// One challenge: its auth scheme and, if present, its `error` parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The auth scheme as sent (compare case-insensitively).
    pub scheme: String,
    /// The `error` auth-param (unquoted), e.g. `invalid_token`.
    pub error: Option<String>,
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
        } else if !super::config::is_token(head) {
            // Not a scheme (found by fuzzing: garbage was kept as one): skip the item.
            continue;
        } else {
            out.push(Challenge {
                scheme: head.to_owned(),
                error: None,
            });
            (!rest.is_empty()).then_some(rest)
        };
        if let (Some(p), Some(current)) = (param, out.last_mut()) {
            if let Some((name, v)) = p.split_once('=') {
                if name.trim().eq_ignore_ascii_case("error") && current.error.is_none() {
                    // An unprintable `error` is kept as an error no rule matches (found by
                    // fuzzing: control characters came through), never as text to show.
                    let e = unquote(v.trim());
                    current.error = Some(if super::encode::is_printable(&e) { e } else { "(unprintable)".to_owned() });
                }
            }
        }
    }
    out
}

/// Whether a 401 answering a request we signed says our token itself was refused, so a
/// new token may help:
/// - no challenge at all (a bare 401), or only `Bearer` challenges without an `error`;
/// - a `Bearer` challenge with `error="invalid_token"` (expired, revoked, malformed).
///
/// Not for `insufficient_scope` or `invalid_request` (a new token changes nothing), nor
/// when the server challenges another scheme only (it wants other credentials).
pub fn token_refused(www_authenticate: Option<&str>) -> bool {
    let challenges = www_authenticate.map(parse_challenges).unwrap_or_default();
    let bearer = |c: &&Challenge| c.scheme.eq_ignore_ascii_case("bearer");
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
