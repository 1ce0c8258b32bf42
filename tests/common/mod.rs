//! Helpers shared by the native test crates.

use tokenkit::proto::url::UrlParts;
use tokenkit::proto::value::Value;

/// JSON to the core's [`Value`] as the shell converts it (`JSON.parse`, then `depth` levels of
/// arrays and objects kept; deeper ones are [`Value::Other`]).
#[allow(dead_code)] // not every test crate reads JSON
pub fn json_value(j: &serde_json::Value, depth: u8) -> Value {
    use serde_json::Value as J;
    match j {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => Value::Num(n.as_f64().unwrap_or(f64::NAN)),
        J::String(s) => Value::Str(s.clone()),
        _ if depth == 0 => Value::Other,
        J::Array(a) => Value::List(a.iter().map(|v| json_value(v, depth - 1)).collect()),
        J::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), json_value(v, depth - 1))).collect()),
    }
}

/// A string value.
#[allow(dead_code)] // not every test crate builds values
pub fn s(v: &str) -> Value {
    Value::Str(v.into())
}

/// An object value from `(name, value)` pairs, in their order.
#[allow(dead_code)]
pub fn obj(pairs: &[(&str, Value)]) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

/// A small stand-in for `new URL(s)`: enough for the URLs these tests use.
pub fn parse_url(s: &str) -> Option<UrlParts> {
    let (scheme, rest) = s.split_once("://")?;
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let (rest, frag) = match rest.split_once('#') {
        Some((r, _)) => (r, true),
        None => (rest, false),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (creds, hostport) = match authority.rsplit_once('@') {
        Some((_, h)) => (true, h),
        None => (false, authority),
    };
    let scheme = scheme.to_ascii_lowercase();
    let (host, port) = if hostport.starts_with('[') {
        let end = hostport.find(']')?;
        (&hostport[..=end], hostport[end + 1..].strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let host = host.to_ascii_lowercase();
    let default = matches!((scheme.as_str(), port), ("https", Some("443")) | ("http", Some("80")));
    let port = port.filter(|p| !p.is_empty() && !default);
    let origin = match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    };
    Some(UrlParts {
        protocol: format!("{scheme}:"),
        hostname: host,
        href: match query {
            Some(q) => format!("{origin}{path}?{q}"),
            None => format!("{origin}{path}"),
        },
        origin,
        pathname: path.to_owned(),
        has_query: query.is_some(),
        has_fragment: frag,
        has_credentials: creds,
    })
}

/// An EC P-256 public key as WebCrypto's exportKey("jwk") gives it: with `key_ops` and `ext`.
#[allow(dead_code)]
pub fn ec_jwk() -> Value {
    obj(&[
        ("key_ops", Value::List(vec![s("verify")])),
        ("ext", Value::Bool(true)),
        ("kty", s("EC")),
        ("x", s("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU")),
        ("y", s("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0")),
        ("crv", s("P-256")),
    ])
}
