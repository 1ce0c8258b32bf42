//! Signing a user in: the authorization code grant with PKCE (RFC 6749 §4.1, RFC 7636,
//! RFC 9700 §2.1.1), as plain data. The shell supplies the randomness
//! (`crypto.getRandomValues`) and the SHA-256 digest (WebCrypto); everything else — the
//! verifier, the challenge, the authorization URL and what a callback means — is decided
//! here.

#[allow(unused_imports)]
use crate::prelude::*;

use super::client::config::{AuthCode, Endpoint};
use super::encode::{is_printable, push_base64url, push_form};
use super::error::Error;
use super::value::{get, Value};

/// Random bytes the shell must supply for one sign-in: 32 for the PKCE verifier, 16 for
/// `state`, 16 for `nonce`.
pub const RANDOM_BYTES: usize = 64;

/// What one sign-in attempt must remember across the redirect.
#[derive(Clone, PartialEq, Eq)]
pub struct Pending {
    /// The `state` sent, to be found again in the callback.
    pub state: String,
    /// The PKCE `code_verifier`: 43 base64url characters (256 bits).
    pub verifier: String,
    /// The OpenID Connect `nonce` sent, when `openid` is in scope.
    pub nonce: Option<String>,
}

impl core::fmt::Debug for Pending {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Pending { .. }")
    }
}

/// The shortest `state` a sign-in may have (an app's own, or a saved one brought back).
pub const MIN_STATE: usize = 16;

/// A new sign-in attempt from `random` ([`RANDOM_BYTES`] bytes from a CSPRNG). `state`: the
/// caller's own (at least 16 printable characters), else a random one.
pub fn pending(random: &[u8], state: Option<String>, scope: Option<&str>) -> Result<Pending, Error> {
    let (Some(v), Some(s), Some(n)) = (random.get(..32), random.get(32..48), random.get(48..64)) else {
        return Err(Error::config("random", "too few random bytes"));
    };
    let b64 = |bytes: &[u8]| {
        let mut out = String::new();
        push_base64url(&mut out, bytes);
        out
    };
    let state = match state {
        Some(s) if s.len() >= MIN_STATE && is_printable(&s) => s,
        Some(_) => return Err(Error::config("state", "must be at least 16 printable characters (it must be unguessable)")),
        None => b64(s),
    };
    let openid = scope.is_some_and(|sc| sc.split(' ').any(|t| t == "openid"));
    Ok(Pending { state, verifier: b64(v), nonce: openid.then(|| b64(n)) })
}

/// The S256 `code_challenge`: BASE64URL(SHA256(verifier)), given the digest (RFC 7636 §4.2).
pub fn code_challenge(sha256: &[u8]) -> String {
    let mut out = String::new();
    push_base64url(&mut out, sha256);
    out
}

/// Names the authorization URL sets itself; `extraParams` may not.
const SET_BY_US: &[&str] = &[
    "request_uri",
    "request",
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "dpop_jkt",
    "acr_values",
    "max_age",
];

/// What one sign-in asks beyond the client's defaults: step-up authentication (RFC 9470
/// §4: `acr_values`, `max_age`, from a resource server's `insufficient_user_authentication`
/// challenge) or more scope (RFC 6750 `insufficient_scope`).
#[derive(Debug, Default)]
pub struct StepUp {
    /// The scope to ask for instead of the client's `scope`.
    pub scope: Option<String>,
    /// Space-separated authentication context class references, in order of preference.
    pub acr_values: Option<String>,
    /// The most seconds since the user last authenticated.
    pub max_age: Option<u64>,
}

impl StepUp {
    /// Reads `createAuthorizationUrl()`'s `scope`, `acrValues` and `maxAge` (`opts`: its
    /// options object).
    pub fn from_options(opts: &[(String, Value)]) -> Result<StepUp, Error> {
        let scope = get(opts, "scope").map(crate::proto::client::config::scope).transpose()?;
        let acr_values = match get(opts, "acrValues") {
            None | Some(Value::Null) => None,
            Some(Value::Str(a)) if !a.trim().is_empty() && a.len() <= 1024 && is_printable(a) => Some(a.trim().to_owned()),
            Some(_) => return Err(Error::config("acrValues", "must be a non-empty string of space-separated ACR values (RFC 9470)")),
        };
        let max_age = match get(opts, "maxAge") {
            None | Some(Value::Null) => None,
            Some(Value::Num(n)) if *n >= 0.0 && *n <= 1e10 && (*n as u64) as f64 == *n => Some(*n as u64),
            Some(_) => return Err(Error::config("maxAge", "must be a whole number of seconds, 0 or more (RFC 9470)")),
        };
        Ok(StepUp { scope, acr_values, max_age })
    }
}

/// The URL to send the user to (RFC 6749 §4.1.1, RFC 7636 §4.3). `extra`: the caller's
/// own parameters (`prompt`, `login_hint`, ...), after ours. `dpop_jkt`: the thumbprint of
/// the DPoP key the code will be bound to (RFC 9449 §10), when `dpop` is on.
pub fn authorization_url(
    ep: &Endpoint,
    ac: &AuthCode,
    p: &Pending,
    challenge: &str,
    extra: &[(String, String)],
    step: &StepUp,
    dpop_jkt: Option<&str>,
) -> Result<String, Error> {
    let params = authorization_params(ep, ac, p, challenge, extra, step, dpop_jkt)?;
    Ok(with_query(&ac.authorize_url, &params))
}

/// `url` with the form-encoded `params` added to its query.
fn with_query(url: &str, params: &str) -> String {
    let mut out = String::from(url);
    out.push(if out.contains('?') { '&' } else { '?' });
    out.push_str(params);
    out
}

/// How a sign-in's user reaches the authorization endpoint. (No `Debug`: a pushed request
/// carries the client's credentials.)
pub enum Authorize {
    /// Sent there with every parameter in the URL.
    Redirect(String),
    /// The parameters are pushed first (RFC 9126): send this request (its answer goes to
    /// [`pushed`]), then the user goes with `client_id` and `request_uri` alone. (The
    /// servers' builds: pages do not push.)
    #[cfg(feature = "server")]
    Push(crate::proto::http::HttpRequest),
}

/// The authorization request of a sign-in: a redirect with its parameters, or, with a
/// pushed authorization request endpoint ([`AuthCode::par_url`]), the request that pushes
/// them with the client's authentication (RFC 9126 §2.1). Arguments as for
/// [`authorization_url`].
#[allow(clippy::too_many_arguments)]
pub fn authorize(
    ep: &Endpoint,
    ac: &AuthCode,
    p: &Pending,
    challenge: &str,
    extra: &[(String, String)],
    step: &StepUp,
    dpop_jkt: Option<&str>,
    runtime: crate::proto::client::request::Runtime,
) -> Result<Authorize, Error> {
    let params = authorization_params(ep, ac, p, challenge, extra, step, dpop_jkt)?;
    #[cfg(feature = "server")]
    if let Some(url) = &ac.par_url {
        return Ok(Authorize::Push(ep.request(runtime, crate::proto::client::request::Call::Par { url, params: &params })));
    }
    #[cfg(not(feature = "server"))]
    let _ = runtime;
    Ok(Authorize::Redirect(with_query(&ac.authorize_url, &params)))
}

/// The longest `request_uri` taken from a PAR answer.
#[cfg(feature = "server")]
const MAX_REQUEST_URI: usize = 2048;

/// What the pushed authorization request endpoint answered (RFC 9126 §2.2, §2.3): the URL
/// to send the user to, the authorization endpoint with `client_id` and `request_uri` only;
/// or why not (`OAUTH_ERROR` for an RFC 6749 error body, `HTTP_ERROR` for another status,
/// `INVALID_RESPONSE` for a body that is not the answer).
#[cfg(feature = "server")]
pub fn pushed(ep: &Endpoint, ac: &AuthCode, resp: &crate::proto::http::HttpResponse) -> Result<String, Error> {
    use crate::proto::http::Body;
    let status = resp.status;
    let fields = match &resp.body {
        Body::Json(Value::Object(f)) => Some(f.as_slice()),
        _ => None,
    };
    if !(200..300).contains(&status) {
        if let Some(e) = fields.and_then(|f| crate::proto::client::response::oauth_error(f, status, ep)) {
            return Err(e);
        }
        return Err(Error::Http { status, detail: "the pushed authorization request endpoint refused", retry_after: None });
    }
    let fields = fields.ok_or(Error::invalid(status, "the pushed authorization request's answer is not a JSON object"))?;
    let request_uri = match get(fields, "request_uri") {
        Some(Value::Str(u)) if !u.is_empty() && u.len() <= MAX_REQUEST_URI && is_printable(u) => u,
        _ => return Err(Error::invalid(status, "the pushed authorization request's answer has no request_uri")),
    };
    if !matches!(get(fields, "expires_in"), Some(Value::Num(n)) if *n > 0.0) {
        return Err(Error::invalid(status, "the pushed authorization request's answer has no positive expires_in"));
    }
    let mut params = String::from("client_id=");
    push_form(&mut params, &ep.client_id);
    params.push_str("&request_uri=");
    push_form(&mut params, request_uri);
    Ok(with_query(&ac.authorize_url, &params))
}

/// The authorization request's parameters, form-encoded (RFC 6749 §4.1.1, RFC 7636 §4.3):
/// the query of a redirect, or the body of a pushed authorization request (RFC 9126).
pub fn authorization_params(
    ep: &Endpoint,
    ac: &AuthCode,
    p: &Pending,
    challenge: &str,
    extra: &[(String, String)],
    step: &StepUp,
    dpop_jkt: Option<&str>,
) -> Result<String, Error> {
    let mut url = String::new();
    let mut param = |name: &str, value: &str| {
        if !url.is_empty() {
            url.push('&');
        }
        push_form(&mut url, name);
        url.push('=');
        push_form(&mut url, value);
    };
    param("response_type", "code");
    param("client_id", &ep.client_id);
    param("redirect_uri", &ac.redirect_uri);
    if let Some(s) = step.scope.as_ref().or(ep.scope.as_ref()) {
        param("scope", s);
    }
    param("state", &p.state);
    param("code_challenge", challenge);
    param("code_challenge_method", "S256");
    if let Some(n) = &p.nonce {
        param("nonce", n);
    }
    if let Some(r) = &ep.resource {
        param("resource", r);
    }
    if let Some(j) = dpop_jkt {
        param("dpop_jkt", j);
    }
    if let Some(a) = &step.acr_values {
        param("acr_values", a);
    }
    if let Some(m) = step.max_age {
        let mut v = String::new();
        crate::proto::encode::push_u64(&mut v, m);
        param("max_age", &v);
    }
    for (k, v) in extra {
        if k.is_empty() || SET_BY_US.contains(&k.as_str()) {
            let mut field = String::from("extraParams.");
            field.push_str(k);
            return Err(Error::config(field, "is set by tokenkit itself"));
        }
        param(k, v);
    }
    Ok(url)
}

/// What the authorization server's redirect back means: the code to exchange, or why not.
/// `params`: the callback URL's query parameters; `pending`: the attempt this client
/// started (`None`: none is pending).
///
/// The order matters: a callback whose `state` is not ours is refused before anything in
/// it is believed, its `error` included (RFC 6749 §10.12); a mix-up defence (RFC 9207)
/// refuses an `iss` that is not the configured issuer.
pub fn callback(params: &[(String, String)], pending: Option<&Pending>, issuer: Option<&str>, iss_required: bool) -> Result<String, Error> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some(p) = pending else {
        return Err(Error::StateMismatch { reason: "no sign-in is pending here (completed already, or started elsewhere)" });
    };
    // A saved sign-in the app kept itself (`completeAuthorization(url, saved)`) must bring
    // the unguessable state it was started with: an empty one would match a callback with
    // an empty `state=`, which anyone can make (RFC 6749 §10.12).
    if p.state.len() < MIN_STATE || !is_printable(&p.state) {
        return Err(Error::config("state", "must be at least 16 printable characters (it must be unguessable)"));
    }
    if !(43..=128).contains(&p.verifier.len()) {
        return Err(Error::config("codeVerifier", "must be 43 to 128 characters (RFC 7636)"));
    }
    match get("state") {
        Some(s) if s == p.state => {}
        Some(_) => return Err(Error::StateMismatch { reason: "its state is not the one this sign-in sent" }),
        None => return Err(Error::StateMismatch { reason: "it has no state" }),
    }
    match (issuer, get("iss")) {
        (Some(expected), Some(iss)) if iss != expected => {
            return Err(Error::invalid(0, "the callback's iss is not the configured issuer (RFC 9207)"));
        }
        // The server's metadata promises an iss on every authorization response, error
        // responses included (RFC 9207 §2.4): one without it may come from another server.
        (_, None) if iss_required => {
            return Err(Error::invalid(0, "the callback has no iss, which the server's metadata promises (RFC 9207)"));
        }
        _ => {}
    }
    if let Some(error) = get("error") {
        let shown = |s: &str, max: usize| (is_printable(s) && !s.is_empty()).then(|| s.chars().take(max).collect::<String>());
        return Err(Error::OAuth {
            status: 0,
            error: shown(error, 64).unwrap_or_else(|| "(unprintable)".to_owned()),
            description: get("error_description").and_then(|d| shown(d, 300)),
        });
    }
    match get("code") {
        Some(c) if !c.is_empty() && is_printable(c) => Ok(c.to_owned()),
        _ => Err(Error::invalid(0, "the callback has no code")),
    }
}

/// Checks the ID token's `nonce` claim (read by the shell) against the one sent.
pub fn check_nonce(sent: Option<&str>, claim: Option<&str>) -> Result<(), Error> {
    match (sent, claim) {
        (Some(s), Some(c)) if s == c => Ok(()),
        (Some(_), _) => Err(Error::invalid(200, "the ID token's nonce is not the one this sign-in sent")),
        (None, _) => Ok(()),
    }
}
