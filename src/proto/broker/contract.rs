//! The broker ↔ client contract: what a tokenkit broker answers, and what a
//! `TokenClient({ brokerUrl })` makes of it. One table, used by both sides, so a refusal
//! that retrying cannot fix is never retried, and an upstream rate limit is honoured.
//!
//! | `error` | status | client `code` | retried by the client |
//! |---|---|---|---|
//! | `upstream_rejected` | 400 | `OAUTH_ERROR` | no: the broker's credentials or request were refused |
//! | `upstream_rate_limited` | 429 + `Retry-After` | `RATE_LIMITED` | after `Retry-After` |
//! | `rate_limited` | 429 + `Retry-After` | `RATE_LIMITED` | after `Retry-After` |
//! | `upstream_unavailable` | 502 | `HTTP_ERROR` | yes |
//! | `upstream_invalid_response` | 502 | `HTTP_ERROR` | yes |
//! | `upstream_timeout` | 504 | `HTTP_ERROR` | yes |
//! | `broker_misconfigured` | 500 | `OAUTH_ERROR` | no: an operator must fix it |
//! | `origin_not_allowed`, `broker_key_required`, … | 4xx | `OAUTH_ERROR` | no |
//!
//! Every body is `{"error", "message"}` (RFC 6749 §5.2-shaped: `error` is a code), never the
//! secret, the upstream's description or a stack trace.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::proto::encode::{is_printable, push_json_str, push_u64};
use crate::proto::error::Error;
use crate::proto::http::Reply;
use crate::proto::time::Secs;
use crate::proto::value::{get, Value};

/// Codes that mean "do not retry" even on a 5xx status.
const FINAL: &[&str] = &["broker_misconfigured"];

/// A failure as it crosses to JavaScript and back: the public face of a `TokenError`
/// (`code`, `status`, `error`, `retryAfter`, `message`). The broker's requests are driven
/// from JavaScript, which holds what a token request failed with in this form; the replies
/// below are decided from it alone, so what a browser is told depends on nothing else.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// [`Error::code`].
    pub code: String,
    /// [`Error::status`].
    pub status: Option<u16>,
    /// The RFC 6749 §5.2 `error` of an [`Error::OAuth`].
    pub error: Option<String>,
    /// [`Error::retry_after`].
    pub retry_after: Option<Secs>,
    /// [`Error::message`] (never a secret or a token).
    pub message: String,
}

impl From<&Error> for Failure {
    fn from(e: &Error) -> Failure {
        let error = match e {
            Error::OAuth { error, .. } => Some(error.clone()),
            _ => None,
        };
        Failure { code: e.code().to_owned(), status: e.status(), error, retry_after: e.retry_after(), message: e.message() }
    }
}

/// The reply for an upstream failure of the broker's own token request.
pub fn upstream_reply(e: &Error) -> Reply {
    failure_reply(&Failure::from(e))
}

/// [`upstream_reply`] of a failure as JavaScript held it.
pub fn failure_reply(f: &Failure) -> Reply {
    match (f.code.as_str(), f.status) {
        ("RATE_LIMITED", _) | ("HTTP_ERROR", Some(503)) if f.code == "RATE_LIMITED" || f.retry_after.is_some() => {
            let mut secs = String::new();
            push_u64(&mut secs, f.retry_after.unwrap_or(Secs(30)).0);
            let mut r = Reply::error(429, "upstream_rate_limited", "the token endpoint is rate limiting; retry later");
            r.headers.push(("Retry-After", secs));
            r
        }
        // The TokenCache object could not get a token for a reason of its own (its
        // configuration): passed on as what it is, not as upstream's refusal.
        ("OAUTH_ERROR", Some(s)) if s >= 500 => Reply::error(500, "broker_misconfigured", "the broker could not get a token"),
        ("OAUTH_ERROR", _) => {
            let mut r = rejected();
            r.body.pop();
            r.body.push_str(",\"upstream_error\":");
            push_json_str(&mut r.body, f.error.as_deref().unwrap_or(""));
            r.body.push('}');
            r
        }
        ("HTTP_ERROR", Some(s)) if s < 500 => rejected(),
        ("INVALID_RESPONSE", _) => Reply::error(502, "upstream_invalid_response", "the token endpoint's answer was not a valid token response"),
        ("TIMEOUT", _) => Reply::error(504, "upstream_timeout", "the token endpoint did not answer in time"),
        ("NETWORK" | "HTTP_ERROR", _) => Reply::error(502, "upstream_unavailable", "the token endpoint could not be reached or failed"),
        // Names the setting (the code's own text, `field: reason`, never a value).
        ("INVALID_CONFIG", _) => Reply::error(500, "broker_misconfigured", &f.message),
        _ => Reply::error(500, "broker_misconfigured", "the broker could not get a token"),
    }
}

fn rejected() -> Reply {
    Reply::error(400, "upstream_rejected", "the token endpoint refused the broker's credentials or request")
}

/// What a broker client makes of a non-2xx broker reply: `fields` is the JSON body (empty
/// if it was not an object), `retry_after` the parsed header.
pub fn client_error(status: u16, fields: &[(String, Value)], retry_after: Option<Secs>) -> Error {
    if status == 429 {
        return Error::RateLimited { status, retry_after };
    }
    let text = |k| match get(fields, k) {
        Some(Value::Str(s)) if !s.is_empty() && s.len() <= 300 && is_printable(s) => Some(s.clone()),
        _ => None,
    };
    match text("error") {
        Some(code) if status < 500 || FINAL.contains(&code.as_str()) => Error::OAuth {
            status,
            error: code,
            description: text("message"),
        },
        _ => Error::Http {
            status,
            detail: "",
            retry_after: if status == 503 { retry_after } else { None },
        },
    }
}
