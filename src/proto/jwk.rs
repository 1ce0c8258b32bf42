//! Signing keys as the core sees them: WebCrypto's algorithms and the JWS `alg` of each,
//! and the public view of a private JWK the shell imports. The private members never
//! enter wasm memory: the shell hands the JWK to WebCrypto's `importKey` and gives the
//! core a view of it (its public members, `alg`, `kid`, and `d: true`).

#[allow(unused_imports)]
use crate::prelude::*;

use super::value::{get, Value};

/// WebCrypto's algorithm of a signing key (`key.algorithm.name`, and its `namedCurve` or
/// `hash.name`) → the JWS `alg` and the JWK members that name the key (`kty`, and the
/// members of its RFC 7638 thumbprint in their sorted order, `crv` first where there is one).
pub(crate) const ALGS: &[AlgRow] = &[
    ("ECDSA", "P-256", "ES256", "EC", &["crv", "kty", "x", "y"]),
    ("ECDSA", "P-384", "ES384", "EC", &["crv", "kty", "x", "y"]),
    ("ECDSA", "P-521", "ES512", "EC", &["crv", "kty", "x", "y"]),
    ("Ed25519", "", "EdDSA", "OKP", &["crv", "kty", "x"]),
    ("RSASSA-PKCS1-v1_5", "SHA-256", "RS256", "RSA", &["e", "kty", "n"]),
    ("RSA-PSS", "SHA-256", "PS256", "RSA", &["e", "kty", "n"]),
];

/// A row of [`ALGS`]: WebCrypto name, curve or hash, JWS `alg`, JWK `kty`, thumbprint members.
pub(crate) type AlgRow = (&'static str, &'static str, &'static str, &'static str, &'static [&'static str]);

/// The longest key member read (an RSA-8192 modulus is 1,366 characters).
const MAX_MEMBER: usize = 2048;

/// The row of [`ALGS`] for WebCrypto's `name` and `param`.
pub(crate) fn row(name: &str, param: &str) -> Option<&'static AlgRow> {
    ALGS.iter().find(|a| a.0 == name && (a.1 == param || a.0 == "Ed25519"))
}

/// Whether `s` is a non-empty base64url string no longer than a key member can be.
pub(crate) fn is_base64url(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_MEMBER && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The WebCrypto algorithm (`name` and its curve or hash, as [`ALGS`] names them) to
/// import a private JWK with, for a server-side key given as a secret (the broker's
/// `DPOP_KEY` and `CLIENT_KEY`, a server's `clientKey`). `jwk` is the shell's view of it:
/// the public members and `alg` as given, and `d` as `true` when the JWK has its private
/// member (the private key itself never enters wasm memory: WebCrypto imports it). RSA
/// keys are RS256 unless `alg` says PS256.
pub fn private_jwk_algorithm(jwk: &Value) -> Result<(&'static str, &'static str), &'static str> {
    let r = private_jwk_row(jwk)?.ok_or("must be a private JWK (JSON object)")?;
    Ok((r.0, r.1))
}

fn private_jwk_row(jwk: &Value) -> Result<Option<&'static AlgRow>, &'static str> {
    let Value::Object(jwk) = jwk else { return Ok(None) };
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
    let Some(row) = row else {
        return Err("must be an EC (P-256, P-384, P-521), Ed25519 (OKP) or RSA (RS256, PS256) private JWK");
    };
    if !row.4.iter().all(|&m| m == "kty" || m == "crv" || text(m).is_some_and(is_base64url)) {
        return Err("is missing a public member of its key type");
    }
    Ok(Some(row))
}

/// A compact JWS's signing input: `header` (base64url already) `.` base64url(`claims`).
/// The shell appends `.` and the signature.
pub(crate) fn signing_input(header: &str, claims: &str) -> String {
    let mut out = String::with_capacity(header.len() + 1 + claims.len() * 4 / 3 + 3);
    out.push_str(header);
    out.push('.');
    crate::proto::encode::push_base64url(&mut out, claims.as_bytes());
    out
}

/// The longest `kid` put in an assertion's header.
const MAX_KID: usize = 256;

/// How long a client assertion is good for: `exp` is this long after `iat` (FAPI 2.0 and
/// draft-ietf-oauth-rfc7523bis ask for a short life; the server refuses a reused `jti`
/// until it lapses).
pub const ASSERTION_LIFETIME: crate::proto::time::Secs = crate::proto::time::Secs(60);

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What a request fails with when WebCrypto could not import or sign with the client's
/// key (the core cannot tell a JWK's private members are wrong: it never sees them);
/// `option` names where the key came from (`clientKey`, or the broker's `CLIENT_KEY`).
pub fn key_refused(option: &'static str) -> crate::proto::error::Error {
    crate::proto::error::Error::config(option, "could not be imported or used by WebCrypto (check its kty, crv, alg and private members)")
}

/// How many random bytes the shell draws for each assertion's `jti` (128 bits).
pub const ASSERTION_JTI_BYTES: usize = 16;

/// A client's signing key for `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9):
/// what the core knows of it (its algorithm and `kid`), never the key. The shell holds
/// the key in WebCrypto and signs each assertion's signing input
/// ([`ClientKey::assertion`]).
#[derive(Clone, Debug)]
pub struct ClientKey {
    /// The JWS `alg` the shell signs with.
    pub alg: &'static str,
    /// The WebCrypto algorithm (name, and its curve or hash) to import a JWK with.
    pub import: (&'static str, &'static str),
    /// The assertion header, base64url-encoded: `alg`, `kid` (when the JWK has one), `typ`.
    header: String,
}

impl ClientKey {
    /// The key the shell describes in `view`: a private JWK's view (see
    /// [`private_jwk_algorithm`]; its `kid` goes into every header), or a `CryptoKey`'s,
    /// `{ algorithm, param }` (its `algorithm.name`, and its curve or hash).
    pub fn from_view(view: &Value) -> Result<ClientKey, &'static str> {
        let Value::Object(o) = view else { return Err("must be a private CryptoKey or a private JWK") };
        let text = |k| match get(o, k) {
            Some(Value::Str(s)) => Some(s.as_str()),
            _ => None,
        };
        let row = match text("algorithm") {
            Some(name) => row(name, text("param").unwrap_or_default())
                .ok_or("must be an ECDSA (P-256, P-384, P-521), Ed25519, RSASSA-PKCS1-v1_5 or RSA-PSS (SHA-256) signing key")?,
            None => private_jwk_row(view)?.ok_or("must be a private CryptoKey or a private JWK")?,
        };
        let kid = match get(o, "kid") {
            None => None,
            Some(Value::Str(k)) if !k.is_empty() && k.len() <= MAX_KID && crate::proto::encode::is_printable(k) => Some(k.as_str()),
            Some(_) => return Err("has a kid that is not a short printable string"),
        };
        let mut header = String::from("{\"alg\":\"");
        header.push_str(row.2);
        if let Some(k) = kid {
            header.push_str("\",\"kid\":");
            crate::proto::encode::push_json_str(&mut header, k);
        } else {
            header.push('"');
        }
        // Explicit typing (draft-ietf-oauth-rfc7523bis §5): the JWT cannot pass for another kind.
        header.push_str(",\"typ\":\"client-authentication+jwt\"}");
        let mut encoded = String::new();
        crate::proto::encode::push_base64url(&mut encoded, header.as_bytes());
        Ok(ClientKey { alg: row.2, import: (row.0, row.1), header: encoded })
    }

    /// The signing input (`header.claims`, base64url) of a client assertion for client
    /// `client_id` to the authorization server `aud` (its issuer identifier, as a string),
    /// made at `iat` (seconds since the epoch) with `jti` (fresh random bytes: never two
    /// requests with one assertion). `exp` is [`ASSERTION_LIFETIME`] after `iat`.
    ///
    /// See <https://www.rfc-editor.org/rfc/rfc7523#section-3>.
    pub fn assertion(&self, client_id: &str, aud: &str, iat: u64, jti: &[u8]) -> String {
        use crate::proto::encode::{push_base64url, push_json_str, push_u64};
        let mut claims = String::from("{\"iss\":");
        push_json_str(&mut claims, client_id);
        claims.push_str(",\"sub\":");
        push_json_str(&mut claims, client_id);
        claims.push_str(",\"aud\":");
        push_json_str(&mut claims, aud);
        claims.push_str(",\"jti\":\"");
        push_base64url(&mut claims, jti);
        claims.push_str("\",\"iat\":");
        push_u64(&mut claims, iat);
        claims.push_str(",\"exp\":");
        push_u64(&mut claims, iat + ASSERTION_LIFETIME.0);
        claims.push('}');
        signing_input(&self.header, &claims)
    }
}

/// A client's `private_key_jwt` authentication (RFC 7523 §2.2): its key and the audience of
/// its assertions, the issuer identifier unless `assertionAudience` names another. The
/// servers' builds' [`KeyPart`].
#[derive(Clone, Debug)]
pub struct KeyAuth {
    /// What the core knows of the key (its algorithm and `kid`); the shell holds the key.
    pub key: ClientKey,
    /// The `aud` of the assertions: `assertionAudience`, else the issuer identifier
    /// (configured, or discovered from a resource's metadata: `None` until then).
    pub audience: Option<String>,
}

impl KeyAuth {
    /// The signing input of an assertion by client `client_id` at `iat` with `jti`
    /// ([`ClientKey::assertion`]); `None` before the audience is known (nothing is sent then).
    pub fn assertion(&self, client_id: &str, iat: u64, jti: &[u8]) -> Option<String> {
        Some(self.key.assertion(client_id, self.audience.as_deref()?, iat, jti))
    }

    /// A resource's metadata named the authorization server `issuer`: the assertions'
    /// audience, unless one was configured.
    pub fn discovered(&mut self, issuer: &str) {
        self.audience.get_or_insert_with(|| issuer.to_owned());
    }
}

/// The key-authentication part a build carries: [`KeyAuth`] in the servers' builds, else
/// [`NoKeyAuth`], which cannot exist (a page must never hold a private key, and the browser
/// builds' configuration refuses `private_key_jwt`), so its every use compiles to nothing.
#[cfg(feature = "server")]
pub type KeyPart = KeyAuth;
/// The key-authentication part a build carries (see the servers' builds' documentation).
#[cfg(not(feature = "server"))]
pub type KeyPart = NoKeyAuth;

/// The key-authentication part of the browser builds: a type with no values, so an
/// `Option<NoKeyAuth>` is always `None` and the compiler drops every path that uses one.
#[derive(Clone, Debug)]
pub enum NoKeyAuth {}

impl NoKeyAuth {
    /// Never called (there is no value to call it on).
    pub fn assertion(&self, _: &str, _: u64, _: &[u8]) -> Option<String> {
        match *self {}
    }
    /// Never called.
    pub fn discovered(&mut self, _: &str) {
        match *self {}
    }
}
