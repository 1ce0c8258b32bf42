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

/// WebCrypto's algorithm of a signing key (`key.algorithm.name`, and its `namedCurve` or
/// `hash.name`) → the JWS `alg` and the JWK members that name the key (`kty`, and the
/// members of its RFC 7638 thumbprint in their sorted order, `crv` first where there is one).
const ALGS: &[AlgRow] = &[
    ("ECDSA", "P-256", "ES256", "EC", &["crv", "kty", "x", "y"]),
    ("ECDSA", "P-384", "ES384", "EC", &["crv", "kty", "x", "y"]),
    ("ECDSA", "P-521", "ES512", "EC", &["crv", "kty", "x", "y"]),
    ("Ed25519", "", "EdDSA", "OKP", &["crv", "kty", "x"]),
    ("RSASSA-PKCS1-v1_5", "SHA-256", "RS256", "RSA", &["e", "kty", "n"]),
    ("RSA-PSS", "SHA-256", "PS256", "RSA", &["e", "kty", "n"]),
];

/// The longest key member read (an RSA-8192 modulus is 1,366 characters).
const MAX_MEMBER: usize = 2048;

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
        let mut out = self.header.clone();
        out.push('.');
        push_base64url(&mut out, claims.as_bytes());
        out
    }

    /// The JWS `alg` for a key whose WebCrypto algorithm is `name` with `param`.
    pub fn alg(name: &str, param: &str) -> Result<&'static str, Error> {
        Ok(row(name, param)?.2)
    }
}

/// The WebCrypto algorithm (`name` and its curve or hash, as [`ALGS`] names them) to
/// import a private JWK with, for a server-side key given as a secret (the broker's
/// `DPOP_KEY`). `jwk` is the shell's view of it: the public members and `alg` as given,
/// and `d` as `true` when the JWK has its private member (the private key itself never
/// enters wasm memory: WebCrypto imports it). RSA keys are RS256 unless `alg` says PS256.
pub fn private_jwk_algorithm(jwk: &Value) -> Result<(&'static str, &'static str), &'static str> {
    let Value::Object(jwk) = jwk else { return Err("must be a private JWK (JSON object)") };
    let text = |k| match get(jwk, k) {
        Some(Value::Str(s)) => Some(s.as_str()),
        _ => None,
    };
    if get(jwk, "d") != Some(&Value::Bool(true)) {
        return Err("must be a private JWK: it has no \"d\"");
    }
    let row = match (text("kty"), text("crv"), text("alg")) {
        (Some("RSA"), _, None | Some("RS256")) => ALGS.iter().find(|a| a.2 == "RS256"),
        (Some("RSA"), _, Some("PS256")) => ALGS.iter().find(|a| a.2 == "PS256"),
        (Some("OKP"), Some("Ed25519"), None | Some("EdDSA" | "Ed25519")) => ALGS.iter().find(|a| a.3 == "OKP"),
        (Some("EC"), Some(crv), alg) => ALGS.iter().find(|a| a.3 == "EC" && a.1 == crv && alg.map_or(true, |g| g == a.2)),
        _ => None,
    };
    let Some(&(name, param, _, _, members)) = row else {
        return Err("must be an EC (P-256, P-384, P-521), Ed25519 (OKP) or RSA (RS256, PS256) private JWK");
    };
    if !members.iter().all(|&m| m == "kty" || m == "crv" || text(m).is_some_and(is_base64url)) {
        return Err("is missing a public member of its key type");
    }
    Ok((name, param))
}

type AlgRow = (&'static str, &'static str, &'static str, &'static str, &'static [&'static str]);

/// The row of [`ALGS`] for WebCrypto's `name` and `param`.
fn row(name: &str, param: &str) -> Result<&'static AlgRow, Error> {
    ALGS.iter()
        .find(|a| a.0 == name && (a.1 == param || a.0 == "Ed25519"))
        .ok_or(Error::config("dpop.keyPair", "must be an ECDSA (P-256, P-384, P-521), Ed25519, RSASSA-PKCS1-v1_5 or RSA-PSS (SHA-256) key pair"))
}

/// How many random bytes the shell draws for each proof's `jti` (RFC 9449 §4.2 asks for
/// enough that a collision is negligible: 128 bits, where 96 would do).
pub const JTI_BYTES: usize = 16;

fn is_base64url(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_MEMBER && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

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
