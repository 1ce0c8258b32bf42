//! Configuration by discovery: an authorization server's metadata (RFC 8414, then OpenID
//! Connect Discovery 1.0 §4) read strictly, before the first token request; or first a
//! protected resource's (RFC 9728), which names the authorization server.
//!
//! A client configured with `issuer` and no `tokenUrl` fetches the metadata once, from
//! `/.well-known/oauth-authorization-server` with the issuer's path inserted after it (RFC
//! 8414 §3.1), and, when that is not there (404 or 410), from the issuer's path with
//! `/.well-known/openid-configuration` appended. The document's `issuer` must equal the
//! configured one exactly (RFC 8414 §3.3: this is what stops a document from naming another
//! server's endpoints), and every endpoint it names must be a URL the client would accept
//! as an option (https, or http on a loopback host). Until then nothing is sent to any
//! endpoint it names. The fetch is a flight of the client machine: one per client, shared by
//! concurrent callers, retried with backoff after a network failure or a 5xx, never through
//! a redirect, and capped in size like token bodies.

#[allow(unused_imports)]
use crate::prelude::*;

use super::error::{Error, AS_METADATA, RESOURCE_METADATA};
use super::http::{Body, HttpResponse};
use super::url::{secure_url, ParseUrl};
use super::value::{get, Value};

/// The two places metadata is looked for, in order.
const WELL_KNOWN: [&str; 2] = ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"];

/// The metadata locations of an issuer whose URL (as the platform parses it) has `origin`
/// and `pathname`: RFC 8414's (its path inserted after the well-known one, a terminating
/// "/" removed first: §3.1), then OpenID Connect's (the well-known path appended).
pub fn metadata_urls(origin: &str, pathname: &str) -> [String; 2] {
    let path = pathname.strip_suffix('/').unwrap_or(pathname);
    let url = |a: &str, b: &str| {
        let mut u = String::from(origin);
        u.push_str(a);
        u.push_str(b);
        u
    };
    let [rfc8414, openid] = WELL_KNOWN;
    [url(rfc8414, path), url(path, openid)]
}

/// The metadata location of a protected resource whose identifier (as the platform parses
/// it) has `origin` and `pathname` (RFC 9728 §3.1: its path inserted after the well-known
/// one, a terminating "/" removed first).
pub fn resource_metadata_url(origin: &str, pathname: &str) -> String {
    let mut url = String::from(origin);
    url.push_str("/.well-known/oauth-protected-resource");
    url.push_str(pathname.strip_suffix('/').unwrap_or(pathname));
    url
}

/// Reads a protected resource's metadata (RFC 9728 §3.2): it must be a 200 JSON object
/// whose `resource` is exactly the configured `resource` (§3.3) and whose
/// `authorization_servers` names at least one issuer that can be discovered from. Returns
/// the first, and its metadata locations.
pub fn read_resource(resource: &str, resp: &HttpResponse, parse_url: ParseUrl<'_>) -> Result<(String, [String; 2]), Error> {
    let status = resp.status;
    let bad = |reason| Error::Metadata { what: RESOURCE_METADATA, status, reason };
    if matches!(status, 404 | 410) {
        return Err(bad("the resource has no metadata (RFC 9728)"));
    }
    answered(status, RESOURCE_METADATA)?;
    let fields = match &resp.body {
        Body::Json(Value::Object(fields)) => fields,
        Body::TooLarge => return Err(bad("it is larger than 64 KB")),
        _ => return Err(bad("it is not a JSON object")),
    };
    match get(fields, "resource") {
        Some(Value::Str(r)) if r == resource => {}
        _ => return Err(bad("it names another resource than the configured one (RFC 9728 §3.3)")),
    }
    let first = match get(fields, "authorization_servers") {
        Some(Value::List(servers)) => servers.first(),
        _ => None,
    };
    let Some(Value::Str(issuer)) = first else {
        return Err(bad("it names no authorization server"));
    };
    let urls = check_issuer(issuer, parse_url).map_err(|_| bad("the resource's authorization server is not an https issuer without query or fragment"))?;
    Ok((issuer.clone(), urls))
}

/// Whether a metadata location answered 200. A redirect is not followed; 429 and 5xx are
/// tried again with backoff (client::retry), as a token endpoint's would be.
fn answered(status: u16, what: &'static str) -> Result<(), Error> {
    let reason = match status {
        200 => return Ok(()),
        0 | 300..=399 => "its location answered with a redirect, which is not followed",
        429 | 500..=599 => "its location is failing or rate limiting",
        _ => "its location did not answer 200",
    };
    Err(Error::Metadata { what, status, reason })
}

/// Whether `issuer` can be discovered from: an https URL (http on a loopback host) with no
/// query and no fragment (RFC 8414 §2). `Err` names what is wrong; `Ok` holds its metadata
/// locations ([`metadata_urls`]).
pub fn check_issuer(issuer: &str, parse_url: ParseUrl<'_>) -> Result<[String; 2], Error> {
    let u = secure_url(issuer, "issuer", parse_url)?;
    if u.has_query || u.has_fragment {
        return Err(Error::config("issuer", "must have no ?query and no #fragment (RFC 8414 §2)"));
    }
    Ok(metadata_urls(&u.origin, &u.pathname))
}

/// What an authorization server's metadata says that the client uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// `token_endpoint` (required), as the platform's URL parser serialises it.
    pub token_endpoint: String,
    /// Its origin and path (a DPoP proof's target).
    pub token_origin: String,
    /// Its path.
    pub token_path: String,
    /// `authorization_endpoint`, if it has one.
    #[cfg(feature = "signin")]
    pub authorization_endpoint: Option<String>,
    /// `revocation_endpoint` (RFC 7009), if it has one.
    #[cfg(feature = "signin")]
    pub revocation_endpoint: Option<String>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207 §3): the server promises
    /// an `iss` on every authorization response, so one without it is refused.
    #[cfg(feature = "signin")]
    pub iss_parameter_supported: bool,
    /// `pushed_authorization_request_endpoint` (RFC 9126 §5), if it has one (read by the
    /// servers' builds: pages do not push).
    #[cfg(all(feature = "signin", feature = "server"))]
    pub par_endpoint: Option<String>,
    /// `require_pushed_authorization_requests` (RFC 9126 §5): every authorization request
    /// must be pushed.
    #[cfg(all(feature = "signin", feature = "server"))]
    pub require_par: bool,
}

/// What one metadata answer means.
#[derive(Debug)]
pub enum Read {
    /// The document, checked.
    Found(Metadata),
    /// Not at this location (404 or 410): try the next.
    NotHere,
    /// A failure (the retry rules decide whether it is tried again).
    Failed(Error),
}

/// Reads the answer at a metadata location of `issuer`. The document must be a JSON object
/// whose `issuer` is exactly `issuer` and whose `token_endpoint` (and any other endpoint
/// the client uses) is a secure URL without a fragment.
pub fn read(issuer: &str, resp: &HttpResponse, parse_url: ParseUrl<'_>) -> Read {
    let status = resp.status;
    let bad = |detail| Read::Failed(Error::Metadata { what: AS_METADATA, status, reason: detail });
    match status {
        404 | 410 => return Read::NotHere,
        _ => {
            if let Err(e) = answered(status, AS_METADATA) {
                return Read::Failed(e);
            }
        }
    }
    let fields = match &resp.body {
        Body::Json(Value::Object(fields)) => fields,
        Body::Json(_) => return bad("it is not a JSON object"),
        Body::NotJson => return bad("it is not JSON"),
        Body::TooLarge => return bad("it is larger than 64 KB"),
    };
    match get(fields, "issuer") {
        Some(Value::Str(s)) if s == issuer => {}
        Some(Value::Str(_)) => return bad("its issuer is not the configured one (RFC 8414 §3.3): nothing is sent to its endpoints"),
        _ => return bad("it has no issuer string"),
    }
    // The token, authorization and revocation endpoints, each a secure URL when present.
    let endpoint = |k: &str| -> Result<Option<crate::proto::url::UrlParts>, Error> {
        match get(fields, k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Str(s)) => match secure_url(s, k, parse_url) {
                Ok(u) if !u.has_fragment => Ok(Some(u)),
                _ => Err(Error::Metadata { what: AS_METADATA, status, reason: "an endpoint it names is not an https URL (http only on a loopback host) without a #fragment" }),
            },
            Some(_) => Err(Error::Metadata { what: AS_METADATA, status, reason: "an endpoint it names is not a string" }),
        }
    };
    let token_endpoint = match endpoint("token_endpoint") {
        Ok(Some(u)) => u,
        Ok(None) => return bad("it has no token_endpoint"),
        Err(e) => return Read::Failed(e),
    };
    // What signing users in reads (a build without it reads the token endpoint only).
    #[cfg(feature = "signin")]
    let (authorization_endpoint, revocation_endpoint, iss_parameter_supported) = {
        let (a, r) = match (endpoint("authorization_endpoint"), endpoint("revocation_endpoint")) {
            (Ok(a), Ok(r)) => (a.map(|u| u.href), r.map(|u| u.href)),
            (Err(e), _) | (_, Err(e)) => return Read::Failed(e),
        };
        let iss = match get(fields, "authorization_response_iss_parameter_supported") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return bad("its authorization_response_iss_parameter_supported is not a boolean"),
        };
        (a, r, iss)
    };
    // Pushed authorization requests (RFC 9126 §5): the servers' builds push.
    #[cfg(all(feature = "signin", feature = "server"))]
    let (par_endpoint, require_par) = {
        let par = match endpoint("pushed_authorization_request_endpoint") {
            Ok(p) => p.map(|u| u.href),
            Err(e) => return Read::Failed(e),
        };
        let required = match get(fields, "require_pushed_authorization_requests") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return bad("its require_pushed_authorization_requests is not a boolean"),
        };
        if required && par.is_none() {
            return bad("it requires pushed authorization requests but names no pushed_authorization_request_endpoint");
        }
        (par, required)
    };
    Read::Found(Metadata {
        token_endpoint: token_endpoint.href,
        token_origin: token_endpoint.origin,
        token_path: token_endpoint.pathname,
        #[cfg(feature = "signin")]
        authorization_endpoint,
        #[cfg(feature = "signin")]
        revocation_endpoint,
        #[cfg(feature = "signin")]
        iss_parameter_supported,
        #[cfg(all(feature = "signin", feature = "server"))]
        par_endpoint,
        #[cfg(all(feature = "signin", feature = "server"))]
        require_par,
    })
}
