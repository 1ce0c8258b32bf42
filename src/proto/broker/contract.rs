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

/// The reply for an upstream failure of the broker's own token request.
pub fn upstream_reply(e: &Error) -> Reply {
    match e {
        Error::RateLimited { retry_after, .. } | Error::Http { status: 503, retry_after: retry_after @ Some(_), .. } => {
            let mut secs = String::new();
            push_u64(&mut secs, retry_after.unwrap_or(Secs(30)).0);
            let mut r = Reply::error(429, "upstream_rate_limited", "the token endpoint is rate limiting; retry later");
            r.headers.push(("Retry-After", secs));
            r
        }
        Error::OAuth { error, .. } => {
            let mut r = rejected();
            r.body.pop();
            r.body.push_str(",\"upstream_error\":");
            push_json_str(&mut r.body, error);
            r.body.push('}');
            r
        }
        Error::Http { status, .. } if *status < 500 => rejected(),
        Error::InvalidResponse { .. } | Error::UnsupportedTokenType { .. } => {
            Reply::error(502, "upstream_invalid_response", "the token endpoint's answer was not a valid token response")
        }
        Error::Timeout { .. } => Reply::error(504, "upstream_timeout", "the token endpoint did not answer in time"),
        Error::Network { .. } | Error::Http { .. } => {
            Reply::error(502, "upstream_unavailable", "the token endpoint could not be reached or failed")
        }
        // Names the setting (both parts are the code's own text, never a value).
        Error::InvalidConfig { field, reason } => {
            let mut m = field.clone();
            m.push_str(": ");
            m.push_str(reason);
            Reply::error(500, "broker_misconfigured", &m)
        }
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
