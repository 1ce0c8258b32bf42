//! DPoP (RFC 9449): the proofs a client sends with its requests, the nonces servers hand
//! it, and when a nonce challenge is answered by sending again.
//!
//! The key pair stays in WebCrypto: the core learns only the public key (as a JWK, to put
//! in each proof's header and to name it by its RFC 7638 thumbprint), builds each proof's
//! signing input ([`DpopKey::proof`]), and the shell has WebCrypto sign it. No private key
//! ever enters wasm memory.

#[allow(unused_imports)]
use crate::prelude::*;

use super::encode::{push_base64url, push_json_str, push_u64};
use super::error::Error;
use super::http::parse_challenges;
use super::jwk::{is_base64url, AlgRow};
use super::value::{get, Value};

/// The public half of the client's DPoP key, as its proofs carry it.
#[derive(Clone, Debug)]
pub struct DpopKey {
    /// The JWS `alg` (RFC 7518) the shell signs with.
    pub alg: &'static str,
    /// The proof header, base64url-encoded: `typ`, `alg` and the public `jwk` only.
    header: String,
    /// The RFC 7638 thumbprint input: the key's required members, sorted, no whitespace.
    /// The shell's SHA-256 of it is `dpop_jkt`.
    pub thumbprint_input: String,
}

impl DpopKey {
    /// The key whose WebCrypto algorithm is `name` with `param` (its curve or hash; empty
    /// for Ed25519) and whose public JWK (`exportKey("jwk")`) is `jwk`.
    pub fn new(name: &str, param: &str, jwk: &Value) -> Result<DpopKey, Error> {
        let bad = |reason| Err(Error::config("dpop.keyPair", reason));
        let &(_, curve, alg, kty, members) = row(name, param)?;
        let Value::Object(jwk) = jwk else { return bad("has a public key that does not export as a JWK") };
        let mut json = String::from("{");
        for &m in members {
            let v = match (m, get(jwk, m)) {
                ("kty", Some(Value::Str(v))) if v == kty => v,
                ("crv", Some(Value::Str(v))) if v == curve || (kty == "OKP" && v == "Ed25519") => v,
                ("x" | "y" | "n" | "e", Some(Value::Str(v))) if is_base64url(v) => v,
                _ => return bad("has a public key whose JWK is not one of its algorithm"),
            };
            if json.len() > 1 {
                json.push(',');
            }
            push_json_str(&mut json, m);
            json.push(':');
            push_json_str(&mut json, v);
        }
        json.push('}');
        let mut header = String::from("{\"alg\":");
        push_json_str(&mut header, alg);
        header.push_str(",\"jwk\":");
        header.push_str(&json);
        header.push_str(",\"typ\":\"dpop+jwt\"}");
        let mut encoded = String::new();
        push_base64url(&mut encoded, header.as_bytes());
        Ok(DpopKey { alg, header: encoded, thumbprint_input: json })
    }

    /// The signing input (`header.claims`, base64url) of a proof for a request with
    /// method `htm` to `htu` (the URL's origin and path: no query, no fragment), made at
    /// `iat` (seconds since the epoch), with `jti` (random bytes, new for every attempt),
    /// `ath` (the SHA-256 of the access token it goes with, for a resource server) and the
    /// server's `nonce`, if it gave one.
    pub fn proof(&self, htm: &str, htu: &str, iat: u64, jti: &[u8], ath: Option<&[u8]>, nonce: Option<&str>) -> String {
        let mut claims = String::from("{\"jti\":\"");
        push_base64url(&mut claims, jti);
        claims.push_str("\",\"htm\":");
        push_json_str(&mut claims, htm);
        claims.push_str(",\"htu\":");
        push_json_str(&mut claims, htu);
        claims.push_str(",\"iat\":");
        push_u64(&mut claims, iat);
        if let Some(ath) = ath {
            claims.push_str(",\"ath\":\"");
            push_base64url(&mut claims, ath);
            claims.push('"');
        }
        if let Some(n) = nonce {
            claims.push_str(",\"nonce\":");
            push_json_str(&mut claims, n);
        }
        claims.push('}');
        super::jwk::signing_input(&self.header, &claims)
    }

    /// The JWS `alg` for a key whose WebCrypto algorithm is `name` with `param`.
    pub fn alg(name: &str, param: &str) -> Result<&'static str, Error> {
        Ok(row(name, param)?.2)
    }
}

/// What a request fails with when WebCrypto could not make the client's DPoP key, or import
/// or sign with the one given; nothing was sent. `option` names where the key came from
/// (`dpop`, or the broker's `DPOP_KEY`).
pub fn key_failed(option: &'static str) -> Error {
    Error::config(option, "could not be imported or made by WebCrypto")
}

/// How many random bytes the shell draws for each proof's `jti` (RFC 9449 §4.2 asks for
/// enough that a collision is negligible: 128 bits, where 96 would do).
pub const JTI_BYTES: usize = 16;


/// How many servers' nonces a client keeps (each origin its own: RFC 9449 §8 and §9, a
/// nonce is for the server that issued it). The oldest goes first.
pub const MAX_NONCES: usize = 8;

/// The longest nonce kept; a longer one is ignored (the next proof goes without, and the
/// server may ask again).
pub const MAX_NONCE_LEN: usize = 512;

/// The nonces servers gave, by origin.
#[derive(Debug, Default)]
pub struct Nonces(Vec<(String, String)>);

impl Nonces {
    /// Takes `value` (a response's `DPoP-Nonce`, 2xx or not: RFC 9449 §8.2) as `origin`'s
    /// nonce. A value that is not `1*NQCHAR` (§8.1), or longer than [`MAX_NONCE_LEN`],
    /// is ignored. Returns whether the nonce held for `origin` changed.
    pub fn take(&mut self, origin: &str, value: &str) -> bool {
        let ok = !value.is_empty() && value.len() <= MAX_NONCE_LEN && value.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !ok || self.get(origin) == Some(value) {
            return false;
        }
        self.0.retain(|(o, _)| o != origin);
        if self.0.len() >= MAX_NONCES {
            self.0.remove(0);
        }
        self.0.push((origin.to_owned(), value.to_owned()));
        true
    }

    /// The nonce `origin` gave last, if it is kept.
    pub fn get(&self, origin: &str) -> Option<&str> {
        self.0.iter().find(|(o, _)| o == origin).map(|(_, n)| n.as_str())
    }

    /// Forgets every nonce (dispose, sign-out).
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// A client's DPoP part (RFC 9449): the public half of its key, once the shell has it, and
/// the nonces servers gave. It knows nothing of the client's configuration: the machine asks
/// it only when its configuration binds tokens ([`crate::proto::client::config::DpopTarget`]),
/// which no build without DPoP allows, so those builds carry none of this code.
#[derive(Debug, Default)]
pub struct DpopPart {
    key: Option<DpopKey>,
    nonces: Nonces,
}

impl DpopPart {
    /// Takes the public half of the key (js: the key pair's public JWK).
    pub fn set_key(&mut self, key: DpopKey) {
        self.key = Some(key);
    }

    /// The key, once given.
    pub fn key(&self) -> Option<&DpopKey> {
        self.key.as_ref()
    }

    /// The signing input of a proof for `htm` at `htu`, made at Unix second `iat` with `jti`,
    /// carrying `ath` and `origin`'s nonce, if it gave one. `None` before the key is given.
    pub fn proof(&self, htm: &str, htu: &str, origin: &str, iat: u64, jti: &[u8], ath: Option<&[u8]>) -> Option<String> {
        Some(self.key.as_ref()?.proof(htm, htu, iat, jti, ath, self.nonces.get(origin)))
    }

    /// Takes `origin`'s `DPoP-Nonce` (any status: §8.2); whether it was a new one.
    pub fn take_nonce(&mut self, origin: &str, value: &str) -> bool {
        self.nonces.take(origin, value)
    }

    /// The answer of an authorization server at `origin` to a request other than a token
    /// request (a revocation, a pushed authorization request), sent as its `attempt` (0
    /// first): takes its nonce, and says whether to send again with a fresh proof. Once, and
    /// only when the server demanded the nonce it just gave (`400` `use_dpop_nonce`: §8).
    pub fn server_answer(&mut self, origin: &str, attempt: u32, status: u16, error: Option<&str>, nonce: Option<&str>) -> bool {
        let fresh = nonce.is_some_and(|n| self.nonces.take(origin, n));
        fresh && attempt == 0 && demands_nonce(status, error.unwrap_or_default())
    }

    /// Forgets the key and every nonce (dispose, sign-out): the next session is bound to a
    /// new key (a key lives as long as the refresh token bound to it, no longer).
    pub fn forget(&mut self) {
        self.key = None;
        self.nonces.clear();
    }
}

/// A proof's `htm` for a request whose method the caller gave as `method` (`None`: fetch's
/// default, GET): the method fetch sends. Fetch upper-cases DELETE, GET, HEAD, OPTIONS, POST
/// and PUT whatever their case, and sends any other method as given (`patch` stays `patch`),
/// so the proof names what the server receives (RFC 9449 §4.2: `htm` is the request's method).
pub fn htm(method: Option<&str>) -> String {
    let Some(m) = method else { return "GET".to_owned() };
    match ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"].iter().find(|n| n.eq_ignore_ascii_case(m)) {
        Some(n) => (*n).to_owned(),
        None => m.to_owned(),
    }
}

/// The DPoP part a build carries: [`DpopPart`] in the DPoP builds, else [`NoDpop`], which
/// holds nothing and never proves. The one place the feature decides: the machine has no
/// branch for it, and a build without DPoP carries none of the part's state or code.
#[cfg(feature = "dpop")]
pub type Part = DpopPart;
/// The DPoP part a build carries (see the DPoP builds' documentation).
#[cfg(not(feature = "dpop"))]
pub type Part = NoDpop;

/// The DPoP part of a build without DPoP: the same inputs as [`DpopPart`], none of its state;
/// never a key, a proof or a nonce (such a build's configuration refuses `dpop`, so the
/// machine never asks).
#[derive(Debug, Default)]
pub struct NoDpop;

#[allow(clippy::unused_self)]
impl NoDpop {
    /// Ignored.
    pub fn set_key(&mut self, _: DpopKey) {}
    /// None.
    pub fn key(&self) -> Option<&DpopKey> {
        None
    }
    /// None.
    pub fn proof(&self, _: &str, _: &str, _: &str, _: u64, _: &[u8], _: Option<&[u8]>) -> Option<String> {
        None
    }
    /// Never new.
    pub fn take_nonce(&mut self, _: &str, _: &str) -> bool {
        false
    }
    /// Never again.
    pub fn server_answer(&mut self, _: &str, _: u32, _: u16, _: Option<&str>, _: Option<&str>) -> bool {
        false
    }
    /// Nothing to forget.
    pub fn forget(&mut self) {}
}

/// Whether a token endpoint's error is its demand for a nonce (RFC 9449 §8: `400`,
/// `error=use_dpop_nonce`), compared exactly, never as a substring.
pub fn is_nonce_error(e: &Error) -> bool {
    matches!(e, Error::OAuth { status, error, .. } if demands_nonce(*status, error))
}

/// Whether an authorization server's answer with `status` and body `error` is its demand
/// for a nonce (RFC 9449 §8), whichever of its endpoints answered.
pub fn demands_nonce(status: u16, error: &str) -> bool {
    status == 400 && error == "use_dpop_nonce"
}

/// Whether a resource server's `WWW-Authenticate` demands a nonce (RFC 9449 §9: a `DPoP`
/// challenge with `error="use_dpop_nonce"`). Such a 401 does not say the token was refused.
pub fn nonce_challenge(www_authenticate: Option<&str>) -> bool {
    www_authenticate
        .map(parse_challenges)
        .unwrap_or_default()
        .iter()
        .any(|c| c.scheme.eq_ignore_ascii_case("dpop") && c.error.as_deref() == Some("use_dpop_nonce"))
}

/// The row of the key algorithms for WebCrypto's `name` and `param`, or the error naming
/// the `dpop.keyPair` option.
fn row(name: &str, param: &str) -> Result<&'static AlgRow, Error> {
    super::jwk::row(name, param)
        .ok_or(Error::config("dpop.keyPair", "must be an ECDSA (P-256, P-384, P-521), Ed25519, RSASSA-PKCS1-v1_5 or RSA-PSS (SHA-256) key pair"))
}
