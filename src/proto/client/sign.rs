//! Signing API requests: whether a request gets the token, and in which header.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::proto::error::Error;
use super::config::{Config, Source};
use super::response::{TokenId, TokenSet, NEVER};

/// What to do with a request the caller asked tokenkit to sign.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// Attach the token (and replay once on a refused token, per [`super::machine::Machine::unauthorized`]).
    Sign,
    /// The caller set the token header itself: send as is, fetch no token, never replay.
    AsIs,
}

/// Decides for a request to `origin` (a serialized `URL.origin`) whose token header the
/// caller did or did not set.
///
/// # Security
/// A request to an origin outside `allowedOrigins` is refused before anything is sent
/// (not even a token is fetched), whoever set the header.
pub fn plan(cfg: &Config, origin: &str, caller_set_header: bool) -> Result<Plan, Error> {
    if !cfg.origin_allowed(origin) {
        return Err(Error::OriginNotAllowed { origin: origin.to_owned() });
    }
    Ok(if caller_set_header { Plan::AsIs } else { Plan::Sign })
}

/// The header that carries `token` to an API: `Authorization: Bearer <token>` (`DPoP
/// <token>` with `dpop` on), or an API
/// key's own header with the key as is.
pub fn authorization<'a>(cfg: &'a Config, token: &TokenSet) -> (&'a str, String) {
    if let Source::ApiKey { header: Some(h), .. } = &cfg.source {
        return (h, token.access_token.expose().to_owned());
    }
    let mut v = String::from(scheme(cfg));
    v.push_str(token.access_token.expose());
    ("Authorization", v)
}

/// The `Authorization` scheme, with its space, of `cfg`'s tokens: their type, `DPoP `
/// (RFC 9449 §7.1) when `dpop` is on, else `Bearer `.
pub fn scheme(cfg: &Config) -> &'static str {
    let dpop = crate::proto::DPOP && matches!(&cfg.source, Source::Endpoint(ep) if ep.dpop.is_some());
    if dpop { "DPoP " } else { "Bearer " }
}

/// The name of the header [`authorization`] sets.
pub fn header_name(cfg: &Config) -> &str {
    match &cfg.source {
        Source::ApiKey { header: Some(h), .. } => h,
        _ => "Authorization",
    }
}

/// For API key clients: the key as a token that never expires.
pub fn static_token(cfg: &Config) -> Option<TokenSet> {
    match &cfg.source {
        Source::ApiKey { key, .. } => Some(TokenSet {
            access_token: crate::proto::AccessToken::from_api_key(key),
            expires_at: NEVER,
            refresh_at: NEVER,
            scope: None,
            id: TokenId(0),
        }),
        Source::Endpoint(_) => None,
    }
}
