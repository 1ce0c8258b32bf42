//! The properties the fuzz targets check, one function per target. Shared with
//! tests/fuzz_corpus.rs, which replays fuzz/corpus/ through them on stable in `make test`.
//! Each asserts more than "no panic": what a successful parse must mean.

use crate::common::{json_value, parse_url};
use tokenkit::proto::MAX_EXPIRES_IN;
use tokenkit::proto::broker::config::BrokerConfig;
use tokenkit::proto::broker::rate::client_key;
use tokenkit::proto::broker::route::{forward_header, proxy_target, Incoming};
use tokenkit::proto::client::config::{Config, Source};
use tokenkit::proto::client::presets::{PresetSpec, API_KEY, GENERIC, SYMBL, SYPHT};
use tokenkit::proto::client::response::process_token_response;
use tokenkit::proto::client::sign::{self, Plan};
use tokenkit::proto::http::parse_challenges;
use tokenkit::proto::http::{parse_retry_after, Body, HttpResponse};
use tokenkit::proto::time::{Secs, WallMillis};
use tokenkit::proto::value::Value;

/// A fixed wall clock: 2026-11-23T00:00:00Z.
const NOW: WallMillis = WallMillis(1_795_392_000_000);

fn json(data: &[u8]) -> Option<Value> {
    serde_json::from_slice::<serde_json::Value>(data).ok().map(|j| json_value(&j, 8))
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

fn base_config(preset: &'static PresetSpec, opts: &[(&str, Value)]) -> Config {
    let v = Value::Object(opts.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect());
    Config::from_options(preset, &v, &parse_url).expect("a valid base configuration")
}

fn s(v: &str) -> Value {
    Value::Str(v.to_owned())
}

/// `v` with every occurrence of `from` in its strings replaced by `to`.
fn swap(v: &Value, from: &str, to: &str) -> Value {
    match v {
        Value::Str(x) => Value::Str(x.replace(from, to)),
        Value::List(l) => Value::List(l.iter().map(|x| swap(x, from, to)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.replace(from, to), swap(x, from, to))).collect()),
        other => other.clone(),
    }
}

/// Token responses of both dialects: a token is only ever accepted from a 2xx JSON object
/// holding it as a non-empty printable string, with a lifetime clamped to [10 s, 1 year];
/// no error message carries the token.
pub fn token_response(data: &[u8]) {
    let [sel, st, body @ ..] = data else { return };
    let symbl = sel & 1 == 1;
    const STATUSES: [u16; 10] = [200, 201, 204, 0, 302, 400, 401, 429, 500, 503];
    let status = STATUSES[usize::from(*st) % STATUSES.len()];
    let cfg = if symbl {
        base_config(&SYMBL, &[("appId", s("app")), ("appSecret", s("app-secret-value"))])
    } else {
        base_config(
            &GENERIC,
            &[("tokenUrl", s("https://auth.example.com/token")), ("clientId", s("id")), ("clientSecret", s("client-secret-value"))],
        )
    };
    let Source::Endpoint(ep) = &cfg.source else { return };
    let parsed = json(body);
    let retry = (sel & 2 == 2).then(|| text(&body[..body.len().min(40)]));
    let resp = HttpResponse { dpop_nonce: None, status, retry_after: retry, body: parsed.clone().map_or(Body::NotJson, Body::Json) };
    let field = if symbl { "accessToken" } else { "access_token" };
    let sent = match &parsed {
        Some(Value::Object(f)) => f.iter().rev().find(|(k, _)| k == field).map(|(_, v)| v.clone()),
        _ => None,
    };
    match process_token_response(ep, &cfg.timing, &resp, NOW) {
        Ok(issued) => {
            assert!((200..300).contains(&status), "a token from status {status}");
            let t = issued.access_token.expose();
            assert!(!t.is_empty() && t.bytes().all(|b| (0x20..0x7f).contains(&b)), "an unprintable token was accepted");
            assert!(matches!(&sent, Some(Value::Str(v)) if v == t), "the token is not the one the body held");
            assert!(issued.lifetime <= MAX_EXPIRES_IN, "lifetime {:?}", issued.lifetime);
        }
        Err(e) => {
            // The token may show in a message only as part of tokenkit's own text: the same
            // answer with the token replaced everywhere by another must still say it.
            if let (Some(Value::Str(t)), Some(Value::Object(f))) = (&sent, &parsed) {
                if t.len() >= 8 && e.message().contains(t.as_str()) {
                    let other: String = core::iter::repeat(if t.contains('Z') { 'Y' } else { 'Z' }).take(t.chars().count()).collect();
                    let swapped = swap(&Value::Object(f.clone()), t, &other);
                    let resp2 = HttpResponse { dpop_nonce: None, status, retry_after: resp.retry_after.clone(), body: Body::Json(swapped) };
                    let again = process_token_response(ep, &cfg.timing, &resp2, NOW).err().map(|e| e.message()).unwrap_or_default();
                    assert!(again.contains(t.as_str()), "an error message carries the token");
                }
            }
            assert!(e.message().len() <= 600, "a long error message");
        }
    }
}

/// `Retry-After`: delta-seconds round-trip exactly; HTTP-dates never land in the past
/// (a past date is 0) nor beyond what the clock can hold.
pub fn retry_after(data: &[u8]) {
    let v = text(data);
    let got = parse_retry_after(&v, NOW);
    let t = v.trim();
    if !t.is_empty() && t.len() <= 12 && t.bytes().all(|b| b.is_ascii_digit()) {
        assert_eq!(got, t.parse::<u64>().ok().map(Secs), "delta-seconds {t:?}");
    }
    if let Ok(n) = u32::try_from(data.len()) {
        assert_eq!(parse_retry_after(&n.to_string(), NOW), Some(Secs(u64::from(n))));
    }
}

/// `WWW-Authenticate`: every challenge has a token scheme and a printable `error`; a
/// Bearer challenge built around a token-character error is read back exactly.
pub fn www_authenticate(data: &[u8]) {
    let v = text(data);
    for c in parse_challenges(&v) {
        assert!(!c.scheme.is_empty() && tokenkit::proto::http::is_token(&c.scheme), "scheme {:?}", c.scheme);
        if let Some(e) = &c.error {
            assert!(e.chars().all(|ch| !ch.is_control()), "error {e:?}");
        }
    }
    let err: String = v.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(40).collect();
    if !err.is_empty() {
        let built = format!("Basic realm=\"x, y\", Bearer realm=\"api\", error=\"{err}\"");
        let got = parse_challenges(&built);
        assert!(got.iter().any(|c| c.scheme.eq_ignore_ascii_case("Bearer") && c.error.as_deref() == Some(err.as_str())), "{built}");
    }
}

/// Configuration from any JSON, for every preset: an accepted configuration only holds
/// allowed origins that are exactly serialized origins, and its `Debug` never shows a
/// secret.
pub fn config(data: &[u8]) {
    let Some(v) = json(data) else { return };
    for preset in [&GENERIC, &SYPHT, &SYMBL, &API_KEY] {
        let Ok(cfg) = Config::from_options(preset, &v, &parse_url) else { continue };
        for o in &cfg.allowed_origins {
            assert_eq!(parse_url(o).map(|u| u.origin).as_deref(), Some(o.as_str()), "allowed origin {o:?}");
        }
        if let Value::Object(f) = &v {
            for (k, val) in f {
                if let (true, Value::Str(secret)) = (matches!(k.as_str(), "clientSecret" | "appSecret" | "apiKey"), val) {
                    if secret.len() >= 8 && format!("{cfg:?}").contains(secret.as_str()) {
                        // Shown only if it comes from another (non-secret) field: with this
                        // secret's value changed, Debug must still hold the text.
                        let other: String = core::iter::repeat(if secret.contains('Z') { 'Y' } else { 'Z' }).take(secret.chars().count()).collect();
                        let changed = Value::Object(f.iter().map(|(n, x)| (n.clone(), if n == k { Value::Str(other.clone()) } else { x.clone() })).collect());
                        if let Ok(cfg2) = Config::from_options(preset, &changed, &parse_url) {
                            assert!(format!("{cfg2:?}").contains(secret.as_str()), "Debug shows {k}");
                        }
                    }
                }
            }
        }
    }
}

/// Origin matching: a token is attached only for a URL whose origin is exactly an allowed
/// one (scheme, host and port), never a look-alike.
pub fn origin(data: &[u8]) {
    let v = text(data);
    let (allowed, candidate) = v.split_once('\n').unwrap_or(("https://api.example.com", &v));
    let opts = Value::Object(vec![
        ("tokenUrl".to_owned(), s("https://auth.example.com/token")),
        ("clientId".to_owned(), s("id")),
        ("clientSecret".to_owned(), s("client-secret-value")),
        ("allowedOrigins".to_owned(), Value::List(vec![s(allowed)])),
    ]);
    let Ok(cfg) = Config::from_options(&GENERIC, &opts, &parse_url) else { return };
    let Some(target) = parse_url(candidate) else { return };
    let ok = cfg.origin_allowed(&target.origin);
    let Some(a) = parse_url(allowed) else { return };
    if ok {
        assert_eq!((&target.protocol, &target.hostname, &target.origin), (&a.protocol, &a.hostname, &a.origin), "{candidate:?} matched {allowed:?}");
    }
    if let Ok(Plan::Sign) = sign::plan(&cfg, &target.origin, false) {
        assert!(ok, "a token planned for {candidate:?}");
    }
}

/// The broker's path and header handling: a proxy target always stays on PROXY_ORIGIN,
/// credentials are never forwarded, client keys never panic, routing never panics.
pub fn broker(data: &[u8]) {
    let v = text(data);
    let mut parts = v.splitn(4, '\n');
    let (rest, query, header, method) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or("GET"));
    const ORIGIN: &str = "https://api.example.com";
    if let Ok(url) = proxy_target(ORIGIN, rest, query) {
        assert!(url.starts_with("https://api.example.com/"), "{url}");
        let u = parse_url(&url).expect("a proxy target parses");
        assert_eq!(u.origin, ORIGIN, "{url}");
        assert!(!u.pathname.split('/').any(|seg| seg == ".." || seg == "."), "{url}");
    }
    for name in ["Authorization", "COOKIE", "x-broker-key", "Host", "cf-connecting-ip", "X-Forwarded-For"] {
        assert!(!forward_header(name, header), "{name} forwarded");
    }
    let _ = forward_header(header, rest);
    let key = client_key(rest);
    if rest.contains(':') {
        assert!(key.ends_with("/64"), "{key}");
    }
    let env = |k: &str| match k {
        "TOKEN_URL" => Some("https://auth.example.com/token".to_owned()),
        "CLIENT_ID" => Some("id".to_owned()),
        "CLIENT_SECRET" => Some("client-secret-value".to_owned()),
        "ALLOWED_ORIGINS" => Some("https://app.example.com".to_owned()),
        "PROXY_ORIGIN" => Some(ORIGIN.to_owned()),
        "BROKER_KEYS" => Some("k1".to_owned()),
        _ => None,
    };
    let cfg = BrokerConfig::from_env(tokenkit::proto::broker::config::Role::Edge, &env, None, &parse_url).expect("a valid broker configuration");
    // PROXY_ROUTES from the input: an accepted table has paths from `/`, and a call takes
    // the token only of an entry that covers its path, allows its method and names one.
    if let Ok(routes) = tokenkit::proto::broker::config::proxy_routes(query, &parse_url) {
        assert!(routes.iter().all(|r| r.path.starts_with('/') && !r.methods.is_empty()), "{routes:?}");
        let routed = BrokerConfig { proxy_routes: routes, ..BrokerConfig::from_env(tokenkit::proto::broker::config::Role::Edge, &env, None, &parse_url).expect("valid") };
        let path = ["/", rest].concat();
        if let Some(i) = routed.token_route(&path, method) {
            let r = &routed.proxy_routes[i];
            assert!(r.token.is_some() && r.methods.iter().any(|m| m == method), "{r:?} for {method} {path}");
            assert!(routed.route_client(i).is_some());
        }
    }
    let path = ["/", rest].concat();
    let incoming = Incoming { method, path: &path, query, origin: Some(header).filter(|h| !h.is_empty()), broker_key: None, request_headers: Some(query), csrf: Some("1") };
    if let Ok(route) = cfg.route(&incoming) {
        assert!(matches!(route, tokenkit::proto::broker::route::Route::Health), "{route:?} without a key");
    }
}

/// Authorization server metadata (discovery): a document is only ever taken from a 200 JSON
/// object naming exactly the configured issuer, with a token endpoint that is a secure URL
/// (https, or http on a loopback host) without a fragment, and the one it names; only a 404
/// or 410 sends the client to the next location; no error message carries the document's
/// values.
pub fn metadata(data: &[u8]) {
    use tokenkit::proto::discovery::{read, Read};
    let [st, body @ ..] = data else { return };
    const ISSUER: &str = "https://as.example.com/tenant";
    const STATUSES: [u16; 10] = [200, 200, 200, 0, 302, 404, 410, 403, 429, 503];
    let status = STATUSES[usize::from(*st) % STATUSES.len()];
    let parsed = json(body);
    let resp = HttpResponse { dpop_nonce: None, status, retry_after: None, body: parsed.clone().map_or(Body::NotJson, Body::Json) };
    let member = |k: &str| match &parsed {
        Some(Value::Object(f)) => f.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
        _ => None,
    };
    match read(ISSUER, &resp, &parse_url) {
        Read::Found(m) => {
            assert_eq!(status, 200, "a document from status {status}");
            assert_eq!(member("issuer"), Some(s(ISSUER)), "a document that is not the issuer's");
            let Some(Value::Str(given)) = member("token_endpoint") else { panic!("a token endpoint the document did not give") };
            let u = parse_url(&given).expect("a token endpoint that is no URL");
            assert_eq!(m.token_endpoint, u.href, "not the document's token endpoint");
            assert!(!u.has_fragment && (u.protocol == "https:" || tokenkit::proto::url::is_loopback(&u.hostname) && u.protocol == "http:"), "an insecure token endpoint was taken: {given}");
            assert_eq!((m.token_origin.as_str(), m.token_path.as_str()), (u.origin.as_str(), u.pathname.as_str()));
        }
        Read::NotHere => assert!(matches!(status, 404 | 410), "the next location after status {status}"),
        Read::Failed(e) => {
            assert_eq!(e.code(), "INVALID_METADATA");
            let msg = e.message();
            // A value may show in the message only as part of tokenkit's own text: the same
            // answer with it replaced everywhere must still say it.
            for k in ["issuer", "token_endpoint", "authorization_endpoint", "revocation_endpoint"] {
                if let (Some(Value::Str(v)), Some(doc)) = (member(k), &parsed) {
                    if v.len() >= 8 && msg.contains(v.as_str()) {
                        let other: String = core::iter::repeat(if v.contains('Z') { 'Y' } else { 'Z' }).take(v.chars().count()).collect();
                        let resp2 = HttpResponse { body: Body::Json(swap(doc, &v, &other)), status, retry_after: None, dpop_nonce: None };
                        let again = match read(ISSUER, &resp2, &parse_url) {
                            Read::Failed(e) => e.message(),
                            _ => String::new(),
                        };
                        assert!(again.contains(v.as_str()), "an error message carries the document's {k}");
                    }
                }
            }
        }
    }
}
