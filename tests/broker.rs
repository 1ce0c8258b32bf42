//! Native tests of the broker's decisions (src/proto/broker.rs).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::parse_url;
use std::collections::HashMap;
use tokenkit::proto::broker::{
    config_error_reply, forward_header, proxy_target, token_reply, upstream_error_reply, BrokerConfig, Incoming,
    RateLimiter, Route,
};
use tokenkit::proto::response::TokenSet;
use tokenkit::proto::{Error, Secret};

fn env(pairs: &[(&str, &str)]) -> Result<BrokerConfig, tokenkit::proto::broker::EnvError> {
    let mut m: HashMap<String, String> = [
        ("TOKEN_URL", "https://auth.example.com/token"),
        ("CLIENT_ID", "id"),
        ("CLIENT_SECRET", "SECRET-VALUE"),
        ("ALLOWED_ORIGINS", "https://app.example.com, http://localhost:5173"),
        ("PROXY_ORIGIN", "https://api.example.com"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in pairs {
        if v.is_empty() {
            m.remove(*k);
        } else {
            m.insert(k.to_string(), v.to_string());
        }
    }
    BrokerConfig::from_env(&|k| m.get(k).cloned(), &parse_url)
}

fn req<'a>(method: &'a str, path: &'a str, origin: Option<&'a str>) -> Incoming<'a> {
    Incoming { method, path, query: "", origin, broker_key: None, request_headers: None }
}

#[test]
fn env_errors_name_the_variable_never_the_value() {
    for (pairs, var) in [
        (vec![("TOKEN_URL", "")], "TOKEN_URL"),
        (vec![("TOKEN_URL", "http://auth.example.com/t")], "TOKEN_URL"),
        (vec![("CLIENT_ID", "")], "CLIENT_ID"),
        (vec![("CLIENT_SECRET", "")], "CLIENT_SECRET"),
        (vec![("CLIENT_AUTH", "jwt")], "CLIENT_AUTH"),
        (vec![("DIALECT", "xml")], "DIALECT"),
        (vec![("ALLOWED_ORIGINS", "https://app.example.com/path")], "ALLOWED_ORIGINS"),
        (vec![("PROXY_ORIGIN", "http://api.example.com")], "PROXY_ORIGIN"),
        (vec![("RATE_LIMIT", "lots")], "RATE_LIMIT"),
    ] {
        let e = env(&pairs).unwrap_err();
        assert_eq!(e.var, var, "{pairs:?}");
        let r = config_error_reply(&e);
        assert_eq!(r.status, 500);
        assert!(r.body.contains(var) && !r.body.contains("SECRET-VALUE"), "{}", r.body);
    }
    let ok = env(&[("SCOPE", "a b"), ("DIALECT", "oauth2"), ("BROKER_KEYS", "k1, k2"), ("RATE_LIMIT", "0")]).unwrap();
    assert_eq!(ok.allowed_origins, vec!["https://app.example.com", "http://localhost:5173"]);
    assert_eq!(ok.upstream.allowed_origins, vec!["https://api.example.com"]);
    assert!(!format!("{ok:?}").contains("SECRET-VALUE"));
    assert!(ok.key_ok(Some("k2")) && !ok.key_ok(Some("k")) && !ok.key_ok(Some("k22")) && !ok.key_ok(None));
}

#[test]
fn routing_cors_and_methods() {
    let c = env(&[]).unwrap();
    let app = Some("https://app.example.com");
    assert_eq!(c.route(&req("POST", "/token", app)), Ok(Route::Token));
    assert_eq!(c.route(&req("POST", "/token", None)), Ok(Route::Token), "no keys configured");
    assert_eq!(c.route(&req("GET", "/healthz", None)), Ok(Route::Health));
    assert_eq!(c.route(&req("GET", "/token", app)).unwrap_err().status, 405);
    assert!(c.route(&req("GET", "/token", app)).unwrap_err().headers.contains(&("Allow", "POST, OPTIONS".into())));
    assert_eq!(c.route(&req("POST", "/healthz", app)).unwrap_err().status, 405);
    assert_eq!(c.route(&req("GET", "/nope", app)).unwrap_err().status, 404);
    assert_eq!(c.route(&req("POST", "/token", Some("https://evil.example.com"))).unwrap_err().status, 403);
    assert_eq!(c.route(&req("POST", "/token", Some("https://app.example.com:444"))).unwrap_err().status, 403);
    let pre = c.route(&Incoming { request_headers: Some("content-type"), ..req("OPTIONS", "/token", app) }).unwrap_err();
    assert_eq!(pre.status, 204);
    assert!(pre.headers.contains(&("Access-Control-Allow-Headers", "content-type".into())));
    assert_eq!(c.route(&req("OPTIONS", "/token", Some("https://evil.example.com"))).unwrap_err().status, 403);
    assert_eq!(c.route(&req("OPTIONS", "/token", None)).unwrap_err().status, 403);
    assert_eq!(c.cors_headers(app).len(), 2);
    assert_eq!(c.cors_headers(Some("https://evil.example.com")), vec![("Vary", "Origin".into())]);
    assert_eq!(c.route(&req("DELETE", "/proxy/v1/items/3", app)), Ok(Route::Proxy("https://api.example.com/v1/items/3".into())));

    let keyed = env(&[("BROKER_KEYS", "k1")]).unwrap();
    assert_eq!(keyed.route(&req("POST", "/token", None)).unwrap_err().status, 401);
    assert_eq!(keyed.route(&Incoming { broker_key: Some("k1"), ..req("POST", "/token", None) }), Ok(Route::Token));
    assert_eq!(keyed.route(&req("POST", "/token", app)), Ok(Route::Token), "browsers from allowed origins need no key");
    assert_eq!(keyed.route(&req("GET", "/healthz", None)), Ok(Route::Health));
    let no_proxy = env(&[("PROXY_ORIGIN", "")]).unwrap();
    assert_eq!(no_proxy.route(&req("GET", "/proxy/x", app)).unwrap_err().status, 404);
}

#[test]
fn proxy_paths_cannot_leave_the_proxy_origin() {
    let o = "https://api.example.com";
    assert_eq!(proxy_target(o, "v1/items", "a=1&b=%2F").unwrap(), "https://api.example.com/v1/items?a=1&b=%2F");
    assert_eq!(proxy_target(o, "", "").unwrap(), "https://api.example.com/");
    assert_eq!(proxy_target(o, "a%20b/c.json", "").unwrap(), "https://api.example.com/a%20b/c.json");
    for bad in [
        "../admin", "a/../../b", "%2e%2e/admin", "a/%2E%2E/b", ".%2e/x", "./x", "a/./b", "a%2fb", "a%2Fb",
        "a\\b", "a%5cb", "/evil.com/x", "a//b", "https://evil.com/x", "https:evil.com", "//evil.com", "a\tb",
    ] {
        assert!(proxy_target(o, bad, "").is_err(), "{bad}");
    }
}

#[test]
fn headers_forwarded_to_the_api() {
    for h in ["Authorization", "cookie", "Host", "X-Broker-Key", "Connection", "keep-alive", "Transfer-Encoding", "Upgrade", "TE", "Proxy-Authorization"] {
        assert!(!forward_header(h, ""), "{h}");
    }
    assert!(!forward_header("X-Hop", "close, x-hop"), "named in Connection");
    for h in ["Content-Type", "Accept", "X-Request-Id", "If-None-Match"] {
        assert!(forward_header(h, "close"), "{h}");
    }
}

#[test]
fn rate_limit_per_client_with_retry_after() {
    let mut r = RateLimiter::default();
    for _ in 0..3 {
        assert_eq!(r.check("1.2.3.4", 3, 0), Ok(()));
    }
    assert_eq!(r.check("1.2.3.4", 3, 0), Err(20), "one token per 20 s at 3/min");
    assert_eq!(r.check("5.6.7.8", 3, 0), Ok(()), "another client has its own bucket");
    assert_eq!(r.check("1.2.3.4", 3, 20_000), Ok(()), "refilled");
    assert_eq!(r.check("1.2.3.4", 0, 20_000), Ok(()), "0 disables");
}

#[test]
fn replies() {
    let t = TokenSet {
        access_token: Secret::new("tok".into()),
        token_type: "Bearer".into(),
        expires_at: 100_000,
        refresh_at: 90_000,
        scope: None,
        id: 1,
    };
    let r = token_reply(&t, 40_500);
    assert_eq!(r.body, r#"{"access_token":"tok","token_type":"Bearer","expires_in":59}"#);
    assert!(r.headers.contains(&("Cache-Control", "no-store".into())));
    let cases = [
        (Error::Network, 502),
        (Error::Timeout, 502),
        (Error::Http { status: 503, detail: "" }, 502),
        (Error::Http { status: 401, detail: "" }, 500),
        (Error::InvalidResponse { status: 200, reason: "x" }, 502),
        (Error::RateLimited { status: 429, retry_after: Some(12) }, 503),
        (Error::OAuth { status: 401, error: "invalid_client".into(), description: Some("secret SECRET-VALUE".into()) }, 500),
    ];
    for (e, status) in cases {
        let r = upstream_error_reply(&e);
        assert_eq!(r.status, status, "{e:?}");
        assert!(!r.body.contains("SECRET-VALUE"), "{}", r.body);
    }
    let r = upstream_error_reply(&Error::RateLimited { status: 429, retry_after: Some(12) });
    assert!(r.headers.contains(&("Retry-After", "12".into())));
    let r = upstream_error_reply(&Error::OAuth { status: 401, error: "invalid_client".into(), description: None });
    assert!(r.body.contains(r#""upstream_error":"invalid_client""#), "{}", r.body);
}
