//! The one error type of tokenkit, with a stable code per variant.
//!
//! The four buckets of oauth2-rs: the server said no ([`Error::OAuth`]), the transport
//! failed ([`Error::Network`], [`Error::Timeout`], [`Error::Http`], [`Error::RateLimited`]),
//! the answer could not be understood ([`Error::InvalidResponse`]), the caller misconfigured
//! ([`Error::InvalidConfig`]). Messages never contain a secret or a token.

#[allow(unused_imports)]
use crate::prelude::*;

use super::encode::push_u64;
use super::time::{Millis, Secs};

/// Everything that can go wrong, each with a stable [`Error::code`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The options are wrong; `field` names the option (e.g. `tokenUrl`, `scope[1]`).
    InvalidConfig {
        /// The option's name as the caller wrote it.
        field: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A request got no answer at all (the host could not be resolved or reached, the
    /// connection failed, or in a browser the answer was withheld: CORS).
    Network {
        /// Which request: `the token endpoint`, `the authorization server's metadata`, ...
        what: &'static str,
        /// The host it was sent to (`auth.example.com:8443`): never a path or a query.
        host: String,
        /// What to check, for the runtime and the request (empty: nothing to add).
        hint: &'static str,
    },
    /// A request attempt got no complete answer in time.
    Timeout {
        /// Which request: `the token endpoint`, `the authorization server's metadata`, ...
        what: &'static str,
        /// How long the attempt waited: `timeoutMs`, or less where `deadlineMs` cut it.
        after: Millis,
    },
    /// The token endpoint answered with an RFC 6749 §5.2 error body.
    ///
    /// See <https://www.rfc-editor.org/rfc/rfc6749#section-5.2>.
    OAuth {
        /// The HTTP status.
        status: u16,
        /// The `error` code, e.g. `invalid_client`.
        error: String,
        /// The `error_description`, if the server sent a printable one.
        description: Option<String>,
    },
    /// Any other non-2xx answer.
    Http {
        /// The HTTP status.
        status: u16,
        /// What the status means for this endpoint (e.g. Symbl's documented meanings).
        detail: &'static str,
        /// A 503's `Retry-After`, honoured before the next attempt.
        retry_after: Option<Secs>,
    },
    /// The token endpoint answered 429 (or asked for a wait we will not make).
    RateLimited {
        /// The HTTP status (429, or 503 with a long `Retry-After`).
        status: u16,
        /// How long the server asked us to wait, from `Retry-After`.
        retry_after: Option<Secs>,
    },
    /// A 2xx answer that is not a valid token response, or a redirect.
    InvalidResponse {
        /// The HTTP status (0 for a browser's opaque redirect).
        status: u16,
        /// What was wrong, never what the body contained.
        reason: &'static str,
    },
    /// The authorization server's metadata (discovery from `issuer`: RFC 8414) could not be
    /// used: not found at either location, not JSON, another issuer's, an endpoint that is
    /// not a secure URL, a redirect. Nothing was sent to any endpoint it names.
    Metadata {
        /// Whose: [`AS_METADATA`] or [`RESOURCE_METADATA`].
        what: &'static str,
        /// The HTTP status (0 for a browser's opaque redirect).
        status: u16,
        /// What was wrong, never what the document contained.
        reason: &'static str,
    },
    /// A token of another type than the client uses (RFC 6749 §7.1): Bearer, or DPoP when
    /// `dpop` is on (a Bearer token then would not be bound to the client's key).
    UnsupportedTokenType {
        /// The HTTP status.
        status: u16,
        /// The `token_type` the server sent (printable and short, else a placeholder).
        token_type: String,
        /// The type the client uses: `"Bearer"` or `"DPoP"`.
        expected: &'static str,
    },
    /// The request's origin is not in `allowedOrigins`; nothing was sent.
    OriginNotAllowed {
        /// The request's origin (scheme, host, port), which is not secret.
        origin: String,
    },
    /// The client was disposed.
    Disposed,
    #[cfg(feature = "signin")]
    /// A user's session is needed and there is none (never signed in, signed out, or the
    /// refresh token was refused): sign in again.
    LoginRequired {
        /// Why, e.g. the authorization server's `invalid_grant`.
        reason: &'static str,
    },
    #[cfg(feature = "signin")]
    /// The authorization callback does not belong to the sign-in this client started (its
    /// `state` differs, or no sign-in is pending); nothing was exchanged.
    StateMismatch {
        /// What did not match.
        reason: &'static str,
    },
}

/// Every `err.code` a JavaScript caller can meet, in one place: [`Error::code`]'s (the sign-in's
/// too, in every build), and `WASM_UNAVAILABLE`, which the package's loader raises before any
/// wasm runs. The package's `TokenErrorCode` type and its `tokenkit/codes` constants are
/// generated from this list (scripts/assemble.mjs).
pub const CODES: &[&str] = &[
    "INVALID_CONFIG",
    "NETWORK",
    "TIMEOUT",
    "OAUTH_ERROR",
    "HTTP_ERROR",
    "RATE_LIMITED",
    "INVALID_RESPONSE",
    "INVALID_METADATA",
    "ORIGIN_NOT_ALLOWED",
    "DISPOSED",
    "WASM_UNAVAILABLE",
    "LOGIN_REQUIRED",
    "STATE_MISMATCH",
];

/// [`Error::Metadata`] of an authorization server (RFC 8414 / OpenID discovery).
pub const AS_METADATA: &str = "the authorization server's metadata";
/// [`Error::Metadata`] of a protected resource (RFC 9728).
pub const RESOURCE_METADATA: &str = "the resource's metadata";

impl Error {
    /// The stable code JavaScript callers branch on (`err.code`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidConfig { .. } => "INVALID_CONFIG",
            Error::Network { .. } => "NETWORK",
            Error::Timeout { .. } => "TIMEOUT",
            Error::OAuth { .. } => "OAUTH_ERROR",
            Error::Http { .. } => "HTTP_ERROR",
            Error::RateLimited { .. } => "RATE_LIMITED",
            Error::InvalidResponse { .. } | Error::UnsupportedTokenType { .. } => "INVALID_RESPONSE",
            Error::Metadata { .. } => "INVALID_METADATA",
            Error::OriginNotAllowed { .. } => "ORIGIN_NOT_ALLOWED",
            Error::Disposed => "DISPOSED",
            #[cfg(feature = "signin")]
            Error::LoginRequired { .. } => "LOGIN_REQUIRED",
            #[cfg(feature = "signin")]
            Error::StateMismatch { .. } => "STATE_MISMATCH",
        }
    }

    /// The HTTP status the error came with, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::OAuth { status, .. }
            | Error::Http { status, .. }
            | Error::RateLimited { status, .. }
            | Error::InvalidResponse { status, .. }
            | Error::Metadata { status, .. }
            | Error::UnsupportedTokenType { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The `Retry-After` the server sent with this error, if any.
    pub fn retry_after(&self) -> Option<Secs> {
        match self {
            Error::RateLimited { retry_after, .. } | Error::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A human-readable message; never contains a secret or a token.
    pub fn message(&self) -> String {
        let mut m = String::new();
        match self {
            Error::InvalidConfig { field, reason } => {
                m.push_str(field);
                m.push_str(": ");
                m.push_str(reason);
            }
            Error::Network { what, host, hint } => {
                m.push_str(what);
                if !host.is_empty() {
                    m.push_str(" at ");
                    m.push_str(host);
                }
                m.push_str(" could not be reached");
                m.push_str(hint);
            }
            Error::Timeout { what, after } => {
                m.push_str(what);
                m.push_str(" did not answer within ");
                push_u64(&mut m, after.0);
                m.push_str(" ms (timeoutMs, within deadlineMs)");
            }
            Error::OAuth {
                status,
                error,
                description,
            } => {
                if *status == 0 {
                    m.push_str("the authorization server refused the sign-in: ");
                } else {
                    m.push_str("the token endpoint refused the request (HTTP ");
                    push_u64(&mut m, u64::from(*status));
                    m.push_str("): ");
                }
                m.push_str(error);
                if let Some(d) = description {
                    m.push_str(": ");
                    m.push_str(d);
                }
            }
            Error::Http { status, detail, .. } => {
                m.push_str("the token endpoint answered HTTP ");
                push_u64(&mut m, u64::from(*status));
                if !detail.is_empty() {
                    m.push_str(": ");
                    m.push_str(detail);
                }
            }
            Error::RateLimited {
                status,
                retry_after,
            } => {
                m.push_str("the token endpoint is rate limiting (HTTP ");
                push_u64(&mut m, u64::from(*status));
                m.push(')');
                if let Some(s) = retry_after {
                    m.push_str("; retry after ");
                    push_u64(&mut m, s.0);
                    m.push_str(" s");
                }
            }
            Error::InvalidResponse { status, reason } => {
                m.push_str("invalid token response (HTTP ");
                push_u64(&mut m, u64::from(*status));
                m.push_str("): ");
                m.push_str(reason);
            }
            Error::Metadata { what, status, reason } => {
                m.push_str(what);
                m.push_str(" could not be used (HTTP ");
                push_u64(&mut m, u64::from(*status));
                m.push_str("): ");
                m.push_str(reason);
            }
            Error::UnsupportedTokenType { status, token_type, expected } => {
                m.push_str("invalid token response (HTTP ");
                push_u64(&mut m, u64::from(*status));
                m.push_str("): token_type \"");
                m.push_str(token_type);
                m.push_str("\" is not supported; this client uses ");
                m.push_str(expected);
                m.push_str(if crate::proto::DPOP && *expected == "DPoP" {
                    " tokens (dpop is on: a Bearer token would not be bound to the client's key)"
                } else {
                    " tokens (RFC 6749 §7.1; DPoP tokens need the dpop option)"
                });
            }
            Error::OriginNotAllowed { origin } => {
                m.push_str("the origin ");
                m.push_str(origin);
                m.push_str(" is not in allowedOrigins; the request was not sent");
            }
            Error::Disposed => m.push_str("the client was disposed"),
            #[cfg(feature = "signin")]
            Error::LoginRequired { reason } => {
                m.push_str("the user must sign in: ");
                m.push_str(reason);
            }
            #[cfg(feature = "signin")]
            Error::StateMismatch { reason } => {
                m.push_str("the authorization callback was refused: ");
                m.push_str(reason);
                m.push_str("; nothing was exchanged");
            }
        }
        m
    }

    /// No answer from `what` at `url` (only its host is kept), with `hint` (see
    /// [`Error::Network`]).
    pub fn network(what: &'static str, url: &str, hint: &'static str) -> Self {
        // Byte scans, not str patterns: a char-set pattern costs kilobytes of wasm.
        let b = url.as_bytes();
        let mut start = b.windows(3).position(|w| w == b"://").map_or(0, |i| i + 3);
        let mut end = start;
        while let Some(c) = b.get(end).filter(|c| !matches!(c, b'/' | b'?' | b'#')) {
            // A userinfo part is never shown (it may hold credentials).
            if *c == b'@' {
                start = end + 1;
            }
            end += 1;
        }
        Error::Network { what, host: url.get(start..end).unwrap_or("").to_owned(), hint }
    }

    pub(crate) fn config(field: impl Into<String>, reason: &'static str) -> Self {
        Error::InvalidConfig {
            field: field.into(),
            reason,
        }
    }

    pub(crate) fn invalid(status: u16, reason: &'static str) -> Self {
        Error::InvalidResponse { status, reason }
    }
}
