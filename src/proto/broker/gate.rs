//! The broker's opt-in gates beyond `BROKER_KEYS`, as plain data: Cloudflare Access (a
//! signed JWT that Access adds to every request it let through) and Cloudflare Turnstile
//! (a one-use proof, from a widget in the page, that a person is at the browser). The shell
//! does the I/O: WebCrypto verifies signatures, `fetch` gets the keys and asks siteverify.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::proto::encode::push_form;
use crate::proto::http::Reply;
use crate::proto::secret::BrokerKey;
use crate::proto::time::{Instant, Millis};
use crate::proto::url::{parse_origin, ParseUrl};
use crate::proto::value::{get, Value};
use super::config::EnvError;
use super::route::Route;

/// Cloudflare Access in front of the broker (`ACCESS_TEAM_DOMAIN` and `ACCESS_AUD`).
#[derive(Debug, Clone)]
pub struct Access {
    /// The team domain, an origin (`https://<team>.cloudflareaccess.com`): the tokens' issuer.
    pub team: String,
    /// The Access application's audience tag.
    pub aud: String,
}

/// Turnstile for browser callers (`TURNSTILE_SECRET`).
#[derive(Debug)]
pub struct Turnstile {
    /// The widget's secret key.
    pub secret: BrokerKey,
    /// Where tokens are checked (`TURNSTILE_VERIFY_URL`, else Cloudflare's siteverify).
    pub verify_url: String,
}

/// Cloudflare's Turnstile siteverify endpoint.
pub const SITEVERIFY: &str = "https://challenges.cloudflare.com/turnstile/v0/siteverify";

/// How far a token's `exp`/`nbf` may be off this machine's clock, in seconds.
pub const LEEWAY_SECS: f64 = 60.0;

/// Access keys are fetched again after this long.
pub const JWKS_MAX_AGE: Millis = Millis(3_600_000);

/// A token with a key id not in the cached keys fetches them again, at most this often
/// (Access rotates keys; a flood of made-up key ids must not become a flood of fetches).
pub const JWKS_MIN_REFETCH: Millis = Millis(60_000);

/// Reads `ACCESS_TEAM_DOMAIN` and `ACCESS_AUD` (both or neither).
pub fn access_from_env(get: &dyn Fn(&str) -> Option<String>, parse_url: ParseUrl<'_>) -> Result<Option<Access>, EnvError> {
    match (get("ACCESS_TEAM_DOMAIN"), get("ACCESS_AUD")) {
        (None, None) => Ok(None),
        (Some(team), Some(aud)) => {
            let team = parse_origin(&team, parse_url).map_err(|reason| EnvError { var: "ACCESS_TEAM_DOMAIN", reason })?;
            Ok(Some(Access { team, aud }))
        }
        (Some(_), None) => Err(EnvError { var: "ACCESS_AUD", reason: "is required with ACCESS_TEAM_DOMAIN" }),
        (None, Some(_)) => Err(EnvError { var: "ACCESS_TEAM_DOMAIN", reason: "is required with ACCESS_AUD" }),
    }
}

/// Reads `TURNSTILE_SECRET` and `TURNSTILE_VERIFY_URL`.
pub fn turnstile_from_env(get: &dyn Fn(&str) -> Option<String>, parse_url: ParseUrl<'_>) -> Result<Option<Turnstile>, EnvError> {
    let Some(secret) = get("TURNSTILE_SECRET") else { return Ok(None) };
    let verify_url = match get("TURNSTILE_VERIFY_URL") {
        None => SITEVERIFY.to_owned(),
        Some(u) => {
            let bad = EnvError { var: "TURNSTILE_VERIFY_URL", reason: "must be an https URL (http only for loopback)" };
            let parsed = parse_url(&u).ok_or(bad.clone())?;
            parse_origin(&parsed.origin, parse_url).map_err(|_| bad)?;
            parsed.href
        }
    };
    Ok(Some(Turnstile { secret: BrokerKey::new(secret), verify_url }))
}

impl Access {
    /// Where Access publishes its signing keys (a JWKS).
    pub fn certs_url(&self) -> String {
        [self.team.as_str(), "/cdn-cgi/access/certs"].concat()
    }
}

/// Whether the cached Access keys must be fetched (again): no fetch has completed yet
/// (`checked_at`: the end of the last one, whatever it brought), the keys are older than
/// [`JWKS_MAX_AGE`], or the token's key is missing and no fetch started (`started_at`) in
/// the last [`JWKS_MIN_REFETCH`]. The start counts, not the end: tokens naming made-up key
/// ids, arriving while one fetch is under way, start no other.
pub fn jwks_stale(checked_at: Option<Instant>, started_at: Option<Instant>, kid_known: bool, now: Instant) -> bool {
    match checked_at {
        // Cold: a Worker request cannot wait on another's fetch, so each fetches.
        None => true,
        Some(at) => {
            let started = started_at.map_or(at, |s| s.max(at));
            at.until(now) >= JWKS_MAX_AGE || (!kid_known && started.until(now) >= JWKS_MIN_REFETCH)
        }
    }
}

/// One RSA public key of a JWKS: its `kid` and the base64url modulus and exponent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaKey {
    /// The key id an Access token's header names.
    pub kid: String,
    /// The modulus, base64url.
    pub n: String,
    /// The public exponent, base64url.
    pub e: String,
}

/// The keys of a JWKS answer (`status`, parsed body) that can verify an Access token:
/// `kty: RSA` with a string `kid`, `n` and `e`, and `use` absent or `sig`; anything else
/// is skipped. `None` when the answer is not a 200 JWKS (a redirect too: never followed),
/// so the caller keeps the keys it had.
pub fn access_keys(status: u16, body: &Value) -> Option<Vec<RsaKey>> {
    if status != 200 {
        return None;
    }
    let Value::Object(doc) = body else { return None };
    let Some(Value::List(keys)) = get(doc, "keys") else { return None };
    let s = |k: &[(String, Value)], name: &str| match get(k, name) {
        Some(Value::Str(v)) => Some(v.clone()),
        _ => None,
    };
    let usable = |k: &[(String, Value)]| {
        let sig = matches!(get(k, "use"), None | Some(Value::Null)) || s(k, "use").as_deref() == Some("sig");
        (s(k, "kty").as_deref() == Some("RSA") && sig).then(|| Some(RsaKey { kid: s(k, "kid")?, n: s(k, "n")?, e: s(k, "e")? }))?
    };
    Some(keys.iter().filter_map(|k| if let Value::Object(k) = k { usable(k) } else { None }).collect())
}

/// Checks an Access token's header and claims (its signature is the shell's, with the key
/// of the returned `kid`): `RS256` only (never `none` or a MAC whose key is public),
/// issued by the team, for this application, and within its lifetime at `now` (its `exp` and
/// `nbf` are Unix seconds, on the wall clock).
pub fn access_claims(header: &Value, claims: &Value, access: &Access, now: crate::proto::time::Now) -> Result<String, &'static str> {
    let now = now.wall.0 as f64 / 1000.0;
    let (Value::Object(h), Value::Object(c)) = (header, claims) else { return Err("the token is not a JWT") };
    if get(h, "alg") != Some(&Value::Str("RS256".to_owned())) {
        return Err("the token is not signed with RS256");
    }
    let Some(Value::Str(kid)) = get(h, "kid") else { return Err("the token names no key") };
    if get(c, "iss") != Some(&Value::Str(access.team.clone())) {
        return Err("the token is not from this Access team");
    }
    let aud_ok = match get(c, "aud") {
        Some(Value::Str(a)) => *a == access.aud,
        Some(Value::List(l)) => l.iter().any(|a| *a == Value::Str(access.aud.clone())),
        _ => false,
    };
    if !aud_ok {
        return Err("the token is not for this application");
    }
    match get(c, "exp") {
        Some(Value::Num(exp)) if *exp + LEEWAY_SECS > now => {}
        Some(Value::Num(_)) => return Err("the token has expired"),
        _ => return Err("the token has no expiry"),
    }
    if let Some(Value::Num(nbf)) = get(c, "nbf") {
        if *nbf - LEEWAY_SECS > now {
            return Err("the token is not valid yet");
        }
    }
    Ok(kid.clone())
}

/// The siteverify request body for widget token `response` from `remote_ip`.
pub fn siteverify_body(t: &Turnstile, response: &str, remote_ip: Option<&str>) -> String {
    let mut b = String::from("secret=");
    push_form(&mut b, t.secret.expose());
    b.push_str("&response=");
    push_form(&mut b, response);
    if let Some(ip) = remote_ip {
        b.push_str("&remoteip=");
        push_form(&mut b, ip);
    }
    b
}

/// What siteverify's answer means for a caller whose `Origin` host is `origin_host`:
/// `success` must be `true`, and the widget must have been solved on a site the broker
/// serves: the caller's own host when it sent an `Origin`, else the host of one of
/// `allowed_origins` (a script can leave `Origin` out; that must not widen what passes).
pub fn turnstile_verdict(status: u16, body: &Value, origin_host: Option<&str>, allowed_hosts: &[&str]) -> Result<(), &'static str> {
    let Value::Object(f) = body else { return Err("Turnstile could not check the token") };
    if status != 200 {
        return Err("Turnstile could not check the token");
    }
    if get(f, "success") != Some(&Value::Bool(true)) {
        return Err("the Turnstile token is invalid, expired or used");
    }
    match (get(f, "hostname"), origin_host) {
        (Some(Value::Str(h)), Some(o)) if h != o => Err("the Turnstile token was solved on another site"),
        (Some(Value::Str(h)), None) if !allowed_hosts.contains(&h.as_str()) => Err("the Turnstile token was solved on another site"),
        _ => Ok(()),
    }
}

/// Whether a request on `route` must bring a Turnstile token. Without sign-in: every call
/// to `/token` and `/proxy/` (in the `CF-Turnstile-Response` header), unless it `proved`
/// itself another way (a valid `X-Broker-Key`, or Cloudflare Access). Never on whether it
/// sent an `Origin`: a script can leave that header out or forge it. With sign-in: `/login`
/// (the widget's form field `cf-turnstile-response`), since the session it starts is the
/// proof later calls carry.
pub fn turnstile_needed(signs_in: bool, route: &Route, proved: bool) -> bool {
    match route {
        Route::Login => signs_in,
        Route::Token | Route::Proxy(_) => !signs_in && !proved,
        _ => false,
    }
}

/// Whether a caller proved itself in a way that stands in for Turnstile: a valid
/// `X-Broker-Key` (`broker_key`), or Cloudflare Access (checked on every request before
/// Turnstile when configured). Servers cannot solve a widget; they hold a key or pass Access.
pub fn proved_otherwise(cfg: &super::config::BrokerConfig, broker_key: Option<&str>) -> bool {
    cfg.access.is_some() || cfg.key_ok(broker_key)
}

/// The host of a serialized origin (`https://app.example.com:8443` -> `app.example.com`),
/// as siteverify names where a widget was solved.
pub fn origin_host(origin: &str) -> &str {
    let rest = origin.split_once("://").map_or(origin, |(_, r)| r);
    match rest.rsplit_once(':') {
        Some((host, port)) if !rest.ends_with(']') && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => rest,
    }
}

/// The refusal of a gate: 403 with why (never a token or key).
pub fn refused(code: &str, why: &str) -> Reply {
    Reply::error(403, code, why)
}
