//! Native tests of the broker's decisions (src/proto/broker/).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::parse_url;
use std::collections::HashMap;
use tokenkit::proto::broker::config::{config_error_reply, listed_origins, misconfigured, BrokerConfig, EnvError, Role};
use tokenkit::proto::broker::contract::upstream_reply;
use tokenkit::proto::broker::rate::RateLimiter;
use tokenkit::proto::broker::route::{forward_header, proxy_target, Incoming, Route};
use tokenkit::proto::broker::token_reply;
use tokenkit::proto::client::config::Config;
use tokenkit::proto::client::presets::GENERIC;
use tokenkit::proto::client::response::{process_token_response, TokenId, TokenSet};
use tokenkit::proto::client::retry::retry_delay;
use tokenkit::proto::http::{Body, HttpResponse};
use tokenkit::proto::time::{Instant, Secs, WallMillis};
use tokenkit::proto::value::Value;
use tokenkit::proto::{AccessToken, Error};

fn env(pairs: &[(&str, &str)]) -> Result<BrokerConfig, tokenkit::proto::broker::config::EnvError> {
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
    BrokerConfig::from_env(Role::Edge, &|k| m.get(k).cloned(), None, &parse_url)
}

/// A request as a page of the app sends it: with the CSRF header.
fn req<'a>(method: &'a str, path: &'a str, origin: Option<&'a str>) -> Incoming<'a> {
    Incoming { method, path, query: "", origin, broker_key: None, request_headers: None, csrf: Some("1") }
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
    assert_eq!(
        c.cors_headers(app),
        vec![
            ("Vary", "Origin".into()),
            ("Access-Control-Allow-Origin", "https://app.example.com".into()),
            ("Access-Control-Expose-Headers", "Retry-After".into())
        ]
    );
    assert_eq!(c.cors_headers(Some("https://evil.example.com")), vec![("Vary", "Origin".into())]);
    // The number the shell turns into headers once: which allowed origin, from 1; 0 none.
    for (origin, n) in [(app, 1), (Some("http://localhost:5173"), 2), (None, 0), (Some("https://evil.example.com"), 0), (Some("https://app.example.com:444"), 0), (Some("HTTPS://app.example.com"), 0), (Some(""), 0)] {
        assert_eq!(c.cors_origin(origin), n, "{origin:?}");
        assert_eq!(c.cors_of(n), c.cors_headers(origin), "{origin:?}");
    }
    assert_eq!(c.cors_of(3), vec![("Vary", "Origin".into())], "a number past the list allows no origin");
    assert_eq!(c.cors_of(2)[1], ("Access-Control-Allow-Origin", "http://localhost:5173".into()));
    assert_eq!(c.route(&req("DELETE", "/proxy/v1/items/3", app)), Ok(Route::Proxy("https://api.example.com/v1/items/3".into())));

    let keyed = env(&[("BROKER_KEYS", "k1")]).unwrap();
    assert_eq!(keyed.route(&req("POST", "/token", None)).unwrap_err().status, 401);
    assert_eq!(keyed.route(&Incoming { broker_key: Some("k1"), ..req("POST", "/token", None) }), Ok(Route::Token));
    // An Origin header is no credential: anyone can send one (curl, Node).
    assert_eq!(keyed.route(&req("POST", "/token", app)).unwrap_err().status, 401, "an allowed Origin does not stand in for the key");
    assert_eq!(keyed.route(&req("GET", "/proxy/x", app)).unwrap_err().status, 401);
    assert_eq!(keyed.route(&Incoming { broker_key: Some("k1"), ..req("POST", "/token", app) }), Ok(Route::Token));
    assert_eq!(keyed.route(&req("OPTIONS", "/token", app)).unwrap_err().status, 204, "a preflight cannot carry the key");
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
        // Path parameters on a dot segment: a servlet container resolves `..;` as `..`.
        "..;/admin", "a/..;x/b", ".;/x", "%2e%2e;/admin",
    ] {
        assert!(proxy_target(o, bad, "").is_err(), "{bad}");
    }
    // Other encodings and path parameters elsewhere are the API's business.
    for good in ["a%20b", "a%2Bb", "a;v=1/b", "caf%C3%A9"] {
        assert!(proxy_target(o, good, "").is_ok(), "{good}");
    }
    // Encoded unreserved characters are the same path to every server (RFC 3986 §6.2.2.2):
    // decoded before any check, and sent decoded.
    use tokenkit::proto::broker::route::decode_unreserved;
    for (sent, same) in [("api/%62illing/charge", "api/billing/charge"), ("a%7Eb%7e", "a~b~"), ("%41%2D%5F%2e", "A-_."), ("caf%C3%A9%20x", "caf%C3%A9%20x"), ("é%41", "éA"), ("%4", "%4"), ("%", "%")] {
        assert_eq!(decode_unreserved(sent), same, "{sent}");
    }
    let c = env(&[]).unwrap();
    assert_eq!(c.route(&req("GET", "/proxy/a%7Eb/%2E%2E/admin", None)).unwrap_err().status, 400, "dot segments, decoded first");
    assert_eq!(c.route(&req("GET", "/proxy/v1/%69tems", None)), Ok(Route::Proxy("https://api.example.com/v1/items".into())));
}

#[test]
fn nested_proxy_routes_the_most_specific_entry_decides_methods_and_token() {
    let c = env(&[("PROXY_ROUTES", "GET POST /api/ audience=general, GET /api/billing/ audience=billing, GET PUT /api/billing/invoices scope=inv")]).unwrap();
    let route = |method: &'static str, path: &'static str| c.route(&req(method, path, None));
    let status = |method, path| route(method, path).map_or_else(|r| r.status, |_| 200);
    for (method, path, expect, token) in [
        ("GET", "/proxy/api/items", 200, Some(0)),
        ("POST", "/proxy/api/items", 200, Some(0)),
        ("GET", "/proxy/api/billing/charge", 200, Some(1)),
        // The attacker's path: a broader entry's methods and token never apply under a narrower one.
        ("POST", "/proxy/api/billing/charge", 405, None),
        ("PUT", "/proxy/api/billing/invoices", 200, Some(2)),
        ("POST", "/proxy/api/billing/invoices", 405, None),
        // The same path in another case, encoded, or with path parameters.
        ("POST", "/proxy/api/BILLING/charge", 400, None),
        ("GET", "/proxy/api/Billing/charge", 400, None),
        ("POST", "/proxy/api/%62illing/charge", 405, None),
        ("GET", "/proxy/api/%62illing/charge", 200, Some(1)),
        // A trailing slash does not tell two paths apart (Express): billing decides.
        ("POST", "/proxy/api/billing", 405, None),
        ("GET", "/proxy/api/billing", 200, Some(1)),
        ("PUT", "/proxy/api/billing/invoices/", 200, Some(2)),
        ("POST", "/proxy/api/billing;x=1/charge", 400, None),
        ("POST", "/proxy/API/items", 400, None),
        ("GET", "/proxy/other", 404, None),
    ] {
        assert_eq!(status(method, path), expect, "{method} {path}");
        if expect == 200 {
            let api_path = tokenkit::proto::broker::route::decode_unreserved(&path["/proxy".len()..]).into_owned();
            assert_eq!(c.token_route(&api_path, method), token, "{method} {path}");
        }
    }
    // A method override in the query (Laravel, method-override middleware) with PROXY_ROUTES.
    for q in ["_method=DELETE", "a=1&_METHOD=DELETE", "%5Fmethod=DELETE"] {
        let r = c.route(&Incoming { query: q, ..req("POST", "/proxy/api/items", None) }).unwrap_err();
        assert_eq!(r.status, 400, "{q}");
    }
    assert!(c.route(&Incoming { query: "method=x&_methods=1", ..req("POST", "/proxy/api/items", None) }).is_ok());
    let Err(r) = route("POST", "/proxy/api/billing/charge") else { panic!() };
    assert!(r.headers.iter().any(|(k, v)| *k == "Allow" && v == "GET, OPTIONS"), "{:?}", r.headers);
    assert_eq!(c.token_route("/api/billing/charge", "POST"), None, "no other entry's token, ever");
    // Entries of the same path add up; each method takes its own entry's token.
    let same = env(&[("PROXY_ROUTES", "GET /v1/ audience=read, POST /v1/ audience=write")]).unwrap();
    assert_eq!((same.token_route("/v1/x", "GET"), same.token_route("/v1/x", "POST")), (Some(0), Some(1)));
    assert_eq!(same.route(&req("POST", "/proxy/v1/x", None)).map(|_| ()), Ok(()));
    // An entry may not hold what a request may not.
    assert_eq!(env(&[("PROXY_ROUTES", "GET /a;b/")]).unwrap_err().var, "PROXY_ROUTES");
    // An entry's encoded letters are decoded as a request's are: `/%61pi/` is `/api/`.
    let decoded = env(&[("PROXY_ROUTES", "GET /%61pi/ audience=a")]).unwrap();
    assert_eq!(decoded.token_route("/api/x", "GET"), Some(0));
}

#[test]
fn what_the_api_answers_is_relayed_only_as_the_brokers_policy_allows() {
    use tokenkit::proto::broker::{relayable_status, relayed_header};
    for h in ["Access-Control-Allow-Origin", "access-control-allow-credentials", "Access-Control-Expose-Headers", "Set-Cookie", "Clear-Site-Data", "Strict-Transport-Security", "Alt-Svc", "NEL", "Report-To", "Reporting-Endpoints", "Accept-CH", "Service-Worker-Allowed", "Set-Login", "Refresh"] {
        assert!(!relayed_header(h, 200), "{h}");
    }
    for h in ["Content-Type", "Cache-Control", "ETag", "WWW-Authenticate", "Retry-After", "Location", "X-Request-Id"] {
        assert!(relayed_header(h, 200), "{h}");
    }
    // A redirect's Location would be followed by the browser as the broker's own.
    for status in [301, 302, 303, 307, 308] {
        assert!(!relayed_header("Location", status) && relayed_header("Content-Type", status), "{status}");
    }
    assert!(relayed_header("location", 201), "a created resource's Location is the API's to give");
    for (status, ok) in [(199, false), (100, false), (101, false), (0, false), (200, true), (204, true), (399, true), (599, true), (600, false), (999, false)] {
        assert_eq!(relayable_status(status), ok, "{status}");
    }
}

#[test]
fn headers_forwarded_to_the_api() {
    for h in ["Authorization", "cookie", "Host", "X-Broker-Key", "DPoP", "Cf-Access-Jwt-Assertion", "cf-turnstile-response", "Connection", "keep-alive", "Transfer-Encoding", "Upgrade", "TE", "Proxy-Authorization",
        // What an API could trust as the network's word, not the caller's.
        "X-HTTP-Method-Override", "X-Method-Override", "X-HTTP-Method", "X-Original-URL", "X-Rewrite-URL", "X-Forwarded-Host", "X-Forwarded-For", "x-forwarded-proto", "Forwarded", "X-Real-IP", "True-Client-IP", "Cf-Access-Authenticated-User-Email", "CF-Connecting-IP", "cf-ipcountry",
        "Remote-User", "X-Remote-User", "X-Auth-Request-Email", "X-Goog-Authenticated-User-Email", "X-Amzn-Oidc-Identity", "X-MS-Client-Principal-Name", "X-Envoy-Original-Path", "Via", "X-Original-Host"] {
        assert!(!forward_header(h, ""), "{h}");
    }
    assert!(!forward_header("X-Hop", "close, x-hop"), "named in Connection");
    for h in ["Content-Type", "Accept", "X-Request-Id", "If-None-Match", "Idempotency-Key", "X-Api-Version", "traceparent"] {
        assert!(forward_header(h, "close"), "{h}");
    }
}

#[test]
fn credentialed_cors_only_when_configured_and_only_for_allowed_origins() {
    let app = Some("https://app.example.com");
    let plain = env(&[]).unwrap();
    assert!(!plain.cors_headers(app).iter().any(|(k, _)| *k == "Access-Control-Allow-Credentials"));
    let cred = env(&[("ALLOW_CREDENTIALS", "true")]).unwrap();
    assert!(cred.cors_headers(app).contains(&("Access-Control-Allow-Credentials", "true".into())));
    assert_eq!(cred.cors_headers(Some("https://evil.example.com")), vec![("Vary", "Origin".into())]);
    assert_eq!(env(&[("ALLOW_CREDENTIALS", "yes")]).unwrap_err().var, "ALLOW_CREDENTIALS");
}

#[test]
fn rate_limiter_memory_is_bounded_and_ipv6_counts_by_64() {
    use tokenkit::proto::broker::rate::{client_key, RATE_CLIENTS};
    assert_eq!(client_key("203.0.113.9"), "203.0.113.9");
    assert_eq!(client_key("2001:db8:0:1::5"), client_key("2001:0DB8:0000:0001:ffff:1:2:3"), "one /64");
    assert_ne!(client_key("2001:db8:0:1::5"), client_key("2001:db8:0:2::5"));
    assert_eq!(client_key("::1"), "0:0:0:0::/64");
    let mut r = RateLimiter::default();
    // An attacker rotating through addresses: after the cap they share one bucket.
    let mut allowed = 0;
    for i in 0..(RATE_CLIENTS + 500) {
        let ip = format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255);
        for _ in 0..3 {
            if r.check(&ip, 2, Instant(1_000)).is_ok() {
                allowed += 1;
            }
        }
    }
    assert_eq!(allowed, RATE_CLIENTS * 2 + 2, "clients beyond the cap share one bucket of 2");
    assert!(r.clients() <= RATE_CLIENTS);
    // Two idle minutes later every bucket is gone (they would be full anyway).
    r.check("198.51.100.1", 2, Instant(61_000)).unwrap();
    r.check("198.51.100.1", 2, Instant(122_000)).unwrap();
    assert_eq!(r.clients(), 1);
    // A client seen within the last minute keeps its bucket across the turn of a generation.
    let mut r = RateLimiter::default();
    assert!(r.check("1.1.1.1", 1, Instant(59_000)).is_ok());
    assert!(r.check("1.1.1.1", 1, Instant(60_500)).is_err(), "the bucket moved to the new generation, still empty");
}

#[test]
fn rate_limit_per_client_with_retry_after() {
    let mut r = RateLimiter::default();
    for _ in 0..3 {
        assert_eq!(r.check("1.2.3.4", 3, Instant(0)), Ok(()));
    }
    assert_eq!(r.check("1.2.3.4", 3, Instant(0)), Err(Secs(20)), "one token per 20 s at 3/min");
    assert_eq!(r.check("5.6.7.8", 3, Instant(0)), Ok(()), "another client has its own bucket");
    assert_eq!(r.check("1.2.3.4", 3, Instant(20_000)), Ok(()), "refilled");
    assert_eq!(r.check("1.2.3.4", 0, Instant(20_000)), Ok(()), "0 disables");
}

#[test]
fn token_reply_carries_the_remaining_life() {
    let t = TokenSet {
        access_token: AccessToken::new("tok".into()),
        expires_at: Instant(100_000),
        refresh_at: Instant(90_000),
        scope: None,
        id: TokenId(1),
    };
    let r = token_reply(&t, false, Instant(40_500));
    assert_eq!(r.body, r#"{"access_token":"tok","token_type":"Bearer","expires_in":59}"#);
    assert!(r.headers.contains(&("Cache-Control", "no-store".into())));
}

/// The contract end to end: the broker's reply to each upstream failure, read back by a
/// `TokenClient({ brokerUrl })`: the code it sees, and whether it retries.
#[test]
fn broker_contract_round_trip() {
    let client = Config::from_options(
        &GENERIC,
        &Value::Object(vec![("brokerUrl".into(), Value::Str("https://edge.example.com/token".into()))]),
        &parse_url,
    )
    .unwrap();
    let tokenkit::proto::client::config::Source::Endpoint(ep) = &client.source else { panic!() };
    let oauth = |status, error: &str| Error::OAuth { status, error: error.into(), description: Some("SECRET-VALUE".into()) };
    let http = |status, retry_after| Error::Http { status, detail: "", retry_after };
    // upstream failure, broker status, broker code, client code, client retries?
    let cases = [
        (Error::network("the token endpoint", "https://auth.example.com/t", ""), 502, "upstream_unavailable", "HTTP_ERROR", true),
        (Error::Timeout { what: "the token endpoint", after: tokenkit::proto::time::Millis(10_000) }, 504, "upstream_timeout", "HTTP_ERROR", true),
        (http(500, None), 502, "upstream_unavailable", "HTTP_ERROR", true),
        (http(503, Some(Secs(7))), 429, "upstream_rate_limited", "RATE_LIMITED", true),
        (http(404, None), 400, "upstream_rejected", "OAUTH_ERROR", false),
        (Error::InvalidResponse { status: 200, reason: "x" }, 502, "upstream_invalid_response", "HTTP_ERROR", true),
        (Error::RateLimited { status: 429, retry_after: Some(Secs(12)) }, 429, "upstream_rate_limited", "RATE_LIMITED", true),
        (oauth(401, "invalid_client"), 400, "upstream_rejected", "OAUTH_ERROR", false),
        (oauth(400, "invalid_scope"), 400, "upstream_rejected", "OAUTH_ERROR", false),
        (Error::Disposed, 500, "broker_misconfigured", "OAUTH_ERROR", false),
    ];
    for (upstream, status, code, client_code, retried) in cases {
        let r = upstream_reply(&upstream);
        assert_eq!(r.status, status, "{upstream:?}");
        assert!(!r.body.contains("SECRET-VALUE"), "{}", r.body);
        let json: serde_like::Obj = serde_like::parse(&r.body);
        assert_eq!(json.get("error"), Some(code), "{upstream:?}");
        let retry_after = r.headers.iter().find(|(k, _)| *k == "Retry-After").map(|(_, v)| v.clone());
        let resp = HttpResponse { dpop_nonce: None, status: r.status, retry_after, body: Body::Json(json.value()) };
        let seen = process_token_response(ep, &client.timing, &resp, WallMillis(0)).unwrap_err();
        assert_eq!(seen.code(), client_code, "{upstream:?} -> {}", seen.message());
        assert_eq!(retry_delay(&seen, 0, 2, 0.0).is_some(), retried, "{upstream:?} retried?");
        if let Some(s) = upstream.retry_after() {
            assert_eq!(seen.retry_after(), Some(s), "Retry-After passes through");
            assert_eq!(retry_delay(&seen, 0, 2, 0.0), Some(s.ms()), "and is honoured");
        }
    }
    let r = upstream_reply(&oauth(401, "invalid_client"));
    assert!(r.body.contains(r#""upstream_error":"invalid_client""#), "{}", r.body);
    // An isolate passes on its TokenCache object's own failure (500 broker_misconfigured,
    // which its client reads as final) as that, not as upstream's refusal.
    let from_object = tokenkit::proto::broker::contract::client_error(500, &[("error".into(), Value::Str("broker_misconfigured".into()))], None);
    let r = upstream_reply(&from_object);
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.body.contains(r#""error":"broker_misconfigured""#), "{}", r.body);
}

/// Just enough JSON for the flat string objects the broker sends.
mod serde_like {
    use tokenkit::proto::value::Value;
    pub struct Obj(Vec<(String, String)>);
    impl Obj {
        pub fn get(&self, k: &str) -> Option<&str> {
            self.0.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
        }
        pub fn value(&self) -> Value {
            Value::Object(self.0.iter().map(|(k, v)| (k.clone(), Value::Str(v.clone()))).collect())
        }
    }
    pub fn parse(s: &str) -> Obj {
        let inner = s.trim().strip_prefix('{').unwrap().strip_suffix('}').unwrap();
        let mut out = Vec::new();
        let mut parts = inner.split("\",\"");
        for p in &mut parts {
            let p = p.trim_matches('"');
            let (k, v) = p.split_once("\":\"").unwrap();
            out.push((k.to_owned(), v.replace("\\\"", "\"")));
        }
        Obj(out)
    }
}

#[test]
fn rate_verdict_binding_first_buckets_as_fallback() {
    use tokenkit::proto::broker::rate::{rate_verdict, BINDING_RETRY_AFTER};
    let mut r = RateLimiter::default();
    let t = Instant(1_000);
    // The binding decides when it answered, whatever the isolate's buckets say.
    assert_eq!(rate_verdict(Some(false), &mut r, "a", 600, t), Err(BINDING_RETRY_AFTER));
    assert_eq!(rate_verdict(Some(true), &mut r, "a", 1, t), Ok(()));
    assert_eq!(rate_verdict(Some(true), &mut r, "a", 1, t), Ok(()), "the binding said yes: no bucket spent");
    // No binding, or it failed: the buckets.
    assert_eq!(rate_verdict(None, &mut r, "a", 1, t), Ok(()));
    assert!(rate_verdict(None, &mut r, "a", 1, t).is_err());
}

/// The sign-in (backend-for-frontend) env on top of [`env`]'s.
#[cfg(feature = "signin")]
fn signin_env(pairs: &[(&str, &str)]) -> Result<BrokerConfig, tokenkit::proto::broker::config::EnvError> {
    let mut all = vec![
        ("AUTHORIZE_URL", "https://auth.example.com/authorize"),
        ("REDIRECT_URI", "https://edge.example.com/callback"),
        ("SESSION_SECRET", "0123456789abcdef0123456789abcdef-KEY"),
    ];
    all.extend_from_slice(pairs);
    env(&all)
}

#[cfg(feature = "signin")]
#[test]
fn signin_env_and_routes() {
    use tokenkit::proto::broker::bff::DEFAULT_SCOPE;
    use tokenkit::proto::client::config::{Grant, Source};
    for (pairs, var) in [
        (vec![("REDIRECT_URI", "")], "REDIRECT_URI"),
        (vec![("REDIRECT_URI", "http://edge.example.com/callback")], "REDIRECT_URI"),
        (vec![("AUTHORIZE_URL", "not a url")], "AUTHORIZE_URL"),
        (vec![("REVOCATION_URL", "http://auth.example.com/revoke")], "REVOCATION_URL"),
        (vec![("SESSION_SECRET", "")], "SESSION_SECRET"),
        (vec![("SESSION_SECRET", "short-KEY")], "SESSION_SECRET"),
        (vec![("SESSION_TTL", "5")], "SESSION_TTL"),
    ] {
        let e = signin_env(&pairs).unwrap_err();
        assert_eq!(e.var, var, "{pairs:?}");
        assert!(!config_error_reply(&e).body.contains("KEY"), "never the value");
    }
    let c = signin_env(&[]).unwrap();
    assert!(c.signs_in());
    let (s, client) = c.signin.as_ref().unwrap();
    assert_eq!(s.session_ttl, Secs(86_400));
    assert!(!format!("{s:?}{client:?}").contains("0123456789abcdef"), "Debug hides the session key");
    let Source::Endpoint(ep) = &client.source else { panic!() };
    assert!(matches!(ep.grant, Grant::AuthorizationCode(_)));
    assert_eq!(ep.scope.as_deref(), Some(DEFAULT_SCOPE));
    assert!(!env(&[]).unwrap().signs_in());

    // Sign-in routes exist only in sign-in mode; /token does not; navigations need no key.
    let keyed = signin_env(&[("BROKER_KEYS", "k1")]).unwrap();
    for (m, p, r) in [("GET", "/login", Route::Login), ("GET", "/callback", Route::Callback), ("GET", "/session", Route::Session), ("POST", "/logout", Route::Logout)] {
        assert_eq!(keyed.route(&req(m, p, None)), Ok(r), "{p}");
        assert_eq!(env(&[]).unwrap().route(&req(m, p, None)).unwrap_err().status, 404, "{p} without sign-in");
    }
    assert_eq!(keyed.route(&req("POST", "/token", None)).unwrap_err().status, 404);
    assert_eq!(keyed.route(&req("GET", "/proxy/x", None)).unwrap_err().status, 401, "the proxy still needs the key");
    assert_eq!(keyed.route(&req("POST", "/login", None)).unwrap_err().status, 405);
    assert_eq!(keyed.route(&req("POST", "/logout", Some("https://evil.example"))).unwrap_err().status, 403);
}

#[cfg(feature = "signin")]
#[test]
fn session_cookie_and_return_target() {
    use tokenkit::proto::broker::bff::{clear_cookie, mac_input, mac_ok, return_target, session_cookie, set_cookie, CookieKind, COOKIE, PENDING_COOKIE};
    let sid = "A".repeat(43);
    // The session cookie: Strict, __Host-Http-; the pending sign-in's: Lax, 10 minutes at most.
    for (kind, name, same_site) in [(CookieKind::Session, COOKIE, "SameSite=Strict"), (CookieKind::Pending, PENDING_COOKIE, "SameSite=Lax")] {
        let c = set_cookie(kind, &sid, "mac_-1", Secs(3600));
        for flag in ["Path=/", "Secure", "HttpOnly", same_site, "Max-Age=3600"] {
            assert!(c.split("; ").any(|a| a == flag), "{flag} in {c}");
        }
        assert!(c.starts_with(&format!("{name}={sid}.mac_-1;")), "{c}");
        assert!(c.starts_with("__Host-Http-"), "{c}");
        let cleared = clear_cookie(kind);
        assert!(cleared.starts_with(&format!("{name}=;")) && cleared.ends_with("Max-Age=0"), "{cleared}");
        let header = format!("a=1; {name}={sid}.mac_-1; b=2");
        assert_eq!(session_cookie(Some(&header), kind), Some((sid.as_str(), "mac_-1")));
        for bad in [format!("{name}={sid}"), format!("{name}=short.mac"), format!("{name}={sid}.m=c"), format!("x{name}={sid}.mac")] {
            assert_eq!(session_cookie(Some(&bad), kind), None, "{bad}");
        }
    }
    // Each cookie is read only under its own name, and MACs of the two never coincide.
    assert_eq!(session_cookie(Some(&format!("{PENDING_COOKIE}={sid}.mac")), CookieKind::Session), None);
    assert_eq!(session_cookie(Some(&format!("__Host-tokenkit-session={sid}.mac")), CookieKind::Session), None, "the old Lax cookie");
    assert_ne!(mac_input(CookieKind::Session, &sid), mac_input(CookieKind::Pending, &sid));
    assert!(mac_ok("abc", "abc"));
    assert!(!mac_ok("abc", "abd") && !mac_ok("abc", "ab") && !mac_ok("abc", "abcd"));

    let allowed = vec!["https://app.example.com".to_owned()];
    assert_eq!(return_target(None, &allowed, &parse_url).unwrap(), "https://app.example.com/");
    assert_eq!(return_target(Some("/done?x=1"), &allowed, &parse_url).unwrap(), "/done?x=1");
    assert_eq!(return_target(Some("https://app.example.com/a"), &allowed, &parse_url).unwrap(), "https://app.example.com/a");
    for bad in ["//evil.example/", "/\\evil.example", "https://evil.example/", "https://app.example.com.evil.example/", "javascript:alert(1)"] {
        assert_eq!(return_target(Some(bad), &allowed, &parse_url).unwrap_err().status, 400, "{bad}");
    }
}

#[test]
fn access_claims_table() {
    use tokenkit::proto::broker::gate::{access_claims, Access};
    let a = Access { team: "https://team.cloudflareaccess.com".into(), aud: "AUD".into() };
    let s = |v: &str| Value::Str(v.into());
    let obj = |e: Vec<(&str, Value)>| Value::Object(e.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
    let head = |alg: &str| obj(vec![("alg", s(alg)), ("kid", s("k1"))]);
    let claims = |iss: &str, aud: Value, exp: f64, nbf: Option<f64>| {
        let mut c = vec![("iss", s(iss)), ("aud", aud), ("exp", Value::Num(exp))];
        if let Some(n) = nbf {
            c.push(("nbf", Value::Num(n)));
        }
        obj(c)
    };
    let now = 1_000_000.0;
    let at = tokenkit::proto::time::Now { mono: Instant(5), wall: tokenkit::proto::time::WallMillis(1_000_000_000) };
    let team = "https://team.cloudflareaccess.com";
    let ok = claims(team, Value::List(vec![s("AUD")]), now + 10.0, Some(now));
    assert_eq!(access_claims(&head("RS256"), &ok, &a, at), Ok("k1".to_owned()));
    assert_eq!(access_claims(&head("RS256"), &claims(team, s("AUD"), now + 10.0, None), &a, at), Ok("k1".to_owned()));
    assert!(access_claims(&head("RS256"), &claims(team, s("AUD"), now - 30.0, None), &a, at).is_ok(), "within the leeway");
    for (h, c, why) in [
        (head("HS256"), ok.clone(), "HS256"),
        (head("none"), ok.clone(), "none"),
        (obj(vec![("alg", s("RS256"))]), ok.clone(), "no kid"),
        (head("RS256"), claims("https://evil.cloudflareaccess.com", s("AUD"), now + 10.0, None), "issuer"),
        (head("RS256"), claims(team, s("OTHER"), now + 10.0, None), "aud"),
        (head("RS256"), claims(team, Value::List(vec![]), now + 10.0, None), "empty aud"),
        (head("RS256"), claims(team, s("AUD"), now - 61.0, None), "expired"),
        (head("RS256"), claims(team, s("AUD"), now + 600.0, Some(now + 120.0)), "nbf"),
        (head("RS256"), obj(vec![("iss", s(team)), ("aud", s("AUD"))]), "no exp"),
        (head("RS256"), Value::Null, "not an object"),
    ] {
        assert!(access_claims(&h, &c, &a, at).is_err(), "{why}");
    }
}

#[test]
fn access_jwks_selection_table() {
    use tokenkit::proto::broker::gate::{access_keys, RsaKey};
    let s = |v: &str| Value::Str(v.into());
    let obj = |e: Vec<(&str, Value)>| Value::Object(e.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
    let rsa = |kid: &str, extra: Vec<(&str, Value)>| {
        let mut k = vec![("kty", s("RSA")), ("kid", s(kid)), ("n", s("N")), ("e", s("AQAB"))];
        k.extend(extra);
        obj(k)
    };
    let jwks = |keys: Vec<Value>| obj(vec![("keys", Value::List(keys))]);
    let key = |kid: &str| RsaKey { kid: kid.into(), n: "N".into(), e: "AQAB".into() };
    let keys = jwks(vec![
        rsa("plain", vec![]),
        rsa("sig", vec![("use", s("sig"))]),
        rsa("null-use", vec![("use", Value::Null)]),
        rsa("enc", vec![("use", s("enc"))]),
        obj(vec![("kty", s("EC")), ("kid", s("ec")), ("crv", s("P-256")), ("x", s("X")), ("y", s("Y"))]),
        obj(vec![("kty", s("RSA")), ("n", s("N")), ("e", s("AQAB"))]),
        obj(vec![("kty", s("RSA")), ("kid", Value::Num(1.0)), ("n", s("N")), ("e", s("AQAB"))]),
        obj(vec![("kty", s("RSA")), ("kid", s("no-n")), ("e", s("AQAB"))]),
        s("not a key"),
    ]);
    assert_eq!(access_keys(200, &keys), Some(vec![key("plain"), key("sig"), key("null-use")]), "RSA signing keys with a kid, n and e");
    assert_eq!(access_keys(200, &jwks(vec![])), Some(vec![]), "an empty JWKS replaces the keys");
    for (status, body, why) in [
        (302, keys.clone(), "a redirect is never followed"),
        (500, keys.clone(), "a server error"),
        (0, Value::Null, "unreachable"),
        (200, Value::Null, "not JSON"),
        (200, obj(vec![("keys", s("x"))]), "keys not a list"),
    ] {
        assert_eq!(access_keys(status, &body), None, "{why}: the old keys stay");
    }
}

#[test]
fn gate_keys_turnstile_and_env() {
    use tokenkit::proto::broker::gate::{jwks_stale, siteverify_body, turnstile_needed, turnstile_verdict, JWKS_MAX_AGE, JWKS_MIN_REFETCH};
    let t0 = Instant(1_000);
    assert!(jwks_stale(None, None, false, t0));
    assert!(jwks_stale(None, Some(t0), false, t0), "cold: a Worker request cannot wait on another's fetch");
    assert!(!jwks_stale(Some(t0), None, true, Instant(t0.0 + JWKS_MAX_AGE.0 - 1)));
    assert!(jwks_stale(Some(t0), None, true, Instant(t0.0 + JWKS_MAX_AGE.0)));
    assert!(!jwks_stale(Some(t0), None, false, Instant(t0.0 + JWKS_MIN_REFETCH.0 - 1)), "unknown kids do not flood the team");
    assert!(jwks_stale(Some(t0), None, false, Instant(t0.0 + JWKS_MIN_REFETCH.0)));
    // A fetch for an unknown kid under way (started, not ended): the next unknown kid waits
    // for the minute to pass from its start, not from the end of the last one.
    let later = Instant(t0.0 + JWKS_MIN_REFETCH.0 + 5);
    assert!(!jwks_stale(Some(t0), Some(later), false, Instant(later.0 + 1)), "one fetch in flight: no second");
    assert!(jwks_stale(Some(t0), Some(later), false, Instant(later.0 + JWKS_MIN_REFETCH.0)));

    let obj = |e: Vec<(&str, Value)>| Value::Object(e.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
    let good = obj(vec![("success", Value::Bool(true)), ("hostname", Value::Str("app.example.com".into()))]);
    let allowed = ["app.example.com", "localhost"];
    assert_eq!(turnstile_verdict(200, &good, Some("app.example.com"), &allowed), Ok(()));
    assert!(turnstile_verdict(200, &good, Some("evil.example"), &allowed).is_err());
    assert!(turnstile_verdict(500, &good, Some("app.example.com"), &allowed).is_err());
    assert!(turnstile_verdict(200, &obj(vec![("success", Value::Bool(false))]), None, &allowed).is_err());
    assert!(turnstile_verdict(200, &obj(vec![("success", Value::Str("true".into()))]), None, &allowed).is_err());
    assert!(turnstile_verdict(200, &Value::Null, None, &allowed).is_err());
    // No Origin (a script left it out): the widget must still have been solved on a site
    // the broker serves, not on the attacker's own site with the same sitekey.
    assert_eq!(turnstile_verdict(200, &good, None, &allowed), Ok(()));
    let elsewhere = obj(vec![("success", Value::Bool(true)), ("hostname", Value::Str("evil.example".into()))]);
    assert!(turnstile_verdict(200, &elsewhere, None, &allowed).is_err());
    assert_eq!(tokenkit::proto::broker::gate::origin_host("http://localhost:5173"), "localhost");
    assert_eq!(tokenkit::proto::broker::gate::origin_host("https://app.example.com"), "app.example.com");
    assert_eq!(tokenkit::proto::broker::gate::origin_host("http://[::1]:8080"), "[::1]");

    // Whether a call needs a Turnstile token never depends on its Origin header (which a
    // script can omit or forge): only on another proof (a valid key, Access).
    let proxy = Route::Proxy("https://api.example.com/x".into());
    assert!(turnstile_needed(false, &Route::Token, false) && turnstile_needed(false, &proxy, false));
    assert!(!turnstile_needed(false, &Route::Token, true) && !turnstile_needed(false, &proxy, true), "a key or Access stands in");
    assert!(turnstile_needed(true, &Route::Login, false) && !turnstile_needed(true, &proxy, false), "sign-in: at /login only");
    assert!(!turnstile_needed(false, &Route::Health, false));
    // With Turnstile, a key and a widget's token are alternatives: routing lets a keyless
    // call through to the Turnstile gate, which then needs the widget's token.
    let either = env(&[("TURNSTILE_SECRET", "s"), ("BROKER_KEYS", "k1")]).unwrap();
    assert_eq!(either.route(&req("POST", "/token", None)), Ok(Route::Token));
    assert_eq!(env(&[("BROKER_KEYS", "k1")]).unwrap().route(&req("POST", "/token", None)).unwrap_err().status, 401, "keys alone: a key");
    use tokenkit::proto::broker::gate::proved_otherwise;
    let keyed = env(&[("TURNSTILE_SECRET", "s"), ("BROKER_KEYS", "k1")]).unwrap();
    for (cfg, key, proved) in [
        (&keyed, Some("k1"), true),
        (&keyed, Some("k2"), false),
        (&keyed, None, false),
        (&env(&[("TURNSTILE_SECRET", "s")]).unwrap(), None, false),
        (&env(&[("TURNSTILE_SECRET", "s")]).unwrap(), Some(""), false),
        (&env(&[("TURNSTILE_SECRET", "s"), ("ACCESS_TEAM_DOMAIN", "https://t.cloudflareaccess.com"), ("ACCESS_AUD", "a")]).unwrap(), None, true),
    ] {
        assert_eq!(proved_otherwise(cfg, key), proved, "{key:?}");
    }

    let c = env(&[("TURNSTILE_SECRET", "TS-SECRET")]).unwrap();
    let t = c.turnstile.as_ref().unwrap();
    assert_eq!(siteverify_body(t, "a b&c", Some("2001:db8::1")), "secret=TS-SECRET&response=a+b%26c&remoteip=2001%3Adb8%3A%3A1");
    assert!(!format!("{c:?}").contains("TS-SECRET"), "Debug hides the Turnstile secret");
    for (pairs, var) in [
        (vec![("ACCESS_TEAM_DOMAIN", "https://t.cloudflareaccess.com")], "ACCESS_AUD"),
        (vec![("ACCESS_AUD", "x")], "ACCESS_TEAM_DOMAIN"),
        (vec![("ACCESS_TEAM_DOMAIN", "http://t.example.com"), ("ACCESS_AUD", "x")], "ACCESS_TEAM_DOMAIN"),
        (vec![("TURNSTILE_SECRET", "s"), ("TURNSTILE_VERIFY_URL", "http://verify.example.com/x")], "TURNSTILE_VERIFY_URL"),
    ] {
        assert_eq!(env(&pairs).unwrap_err().var, var, "{pairs:?}");
    }
}


/// The shell's view of a `DPOP_KEY` secret (js/broker.js `dpopView`): its public members and
/// `alg` as given, `d: true` for a private key.
#[cfg(feature = "dpop")]
fn key_view(members: &[(&str, &str)], private: bool) -> Value {
    let mut o: Vec<(String, Value)> = members.iter().map(|(k, v)| (k.to_string(), Value::Str(v.to_string()))).collect();
    o.push(("d".to_owned(), Value::Bool(private)));
    Value::Object(o)
}

#[cfg(feature = "dpop")]
#[test]
fn dpop_env_keying_and_routes() {
    use tokenkit::proto::broker::route::{after_401, After401};
    use tokenkit::proto::client::sign::scheme;
    let ec = [("kty", "EC"), ("crv", "P-256"), ("x", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"), ("y", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0")];
    // DPOP is true or false; DPOP_KEY needs DPOP=true, and must be a private JWK of a kind
    // WebCrypto signs with. Every error names the variable, never the value.
    assert_eq!(env(&[("DPOP", "yes")]).unwrap_err().var, "DPOP");
    let off = env(&[]).unwrap();
    assert!(!off.dpop());
    assert_eq!(off.dpop_keying(Some(&key_view(&ec, true)), false).unwrap_err().var, "DPOP_KEY");
    assert_eq!(off.dpop_keying(None, true), Ok(None), "no DPoP: no key needed, shared or not");
    let on = env(&[("DPOP", "true")]).unwrap();
    assert!(on.dpop());
    assert_eq!(on.dpop_keying(None, false), Ok(None), "a lone isolate makes its own key");
    assert_eq!(on.dpop_keying(Some(&key_view(&ec, true)), true), Ok(Some(("ECDSA", "P-256"))));
    let rsa = [("kty", "RSA"), ("n", "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw"), ("e", "AQAB")];
    for (view, want) in [
        (key_view(&ec, false), Err("public key")),
        (Value::Null, Err("not JSON")),
        (key_view(&[("kty", "EC"), ("crv", "P-192"), ec[2], ec[3]], true), Err("curve")),
        (key_view(&[ec[0], ec[1], ec[2]], true), Err("no y")),
        (key_view(&[("kty", "oct"), ("k", "c2VjcmV0")], true), Err("HMAC")),
        (key_view(&[ec[0], ec[1], ec[2], ec[3], ("alg", "ES384")], true), Err("alg of another curve")),
        (key_view(&[ec[0], ("crv", "P-384"), ec[2], ec[3]], true), Ok(("ECDSA", "P-384"))),
        (key_view(&[("kty", "OKP"), ("crv", "Ed25519"), ("x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")], true), Ok(("Ed25519", ""))),
        (key_view(&rsa, true), Ok(("RSASSA-PKCS1-v1_5", "SHA-256"))),
        (key_view(&[rsa[0], rsa[1], rsa[2], ("alg", "PS256")], true), Ok(("RSA-PSS", "SHA-256"))),
        (key_view(&[rsa[0], rsa[1], rsa[2], ("alg", "RS512")], true), Err("an alg no proof is made with")),
    ] {
        match (on.dpop_keying(Some(&view), false), want) {
            (Ok(got), Ok(w)) => assert_eq!(got, Some(w)),
            (Err(e), Err(why)) => assert_eq!(e.var, "DPOP_KEY", "{why}"),
            (got, want) => panic!("{view:?}: {got:?}, wanted {want:?}"),
        }
    }
    // Tokens used in more than one isolate need the one key in DPOP_KEY: the token cache's
    // isolates, its object, sign-in's session objects and the edge that proxies for them.
    assert_eq!(on.dpop_keying(None, true).unwrap_err().var, "DPOP_KEY");
    let signin = signin_env(&[("DPOP", "true")]).unwrap();
    assert_eq!(signin.dpop_keying(None, false).unwrap_err().var, "DPOP_KEY");
    assert!(signin.dpop_keying(Some(&key_view(&ec, true)), false).is_ok());
    let get = |k: &str| [("TOKEN_URL", "https://auth.example.com/token"), ("CLIENT_ID", "id"), ("CLIENT_SECRET", "S"), ("DPOP", "true")].iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
    let object = BrokerConfig::from_env(Role::TokenCache, &get, None, &parse_url).unwrap();
    assert!(object.dpop(), "the token cache's object reads DPOP");
    assert_eq!(object.dpop_keying(None, false).unwrap_err().var, "DPOP_KEY");

    // Both clients send the DPoP scheme and expect DPoP answers; the isolates' client of the
    // token cache's object too (the object's answer says DPoP).
    assert_eq!(scheme(&on.upstream), "DPoP ");
    assert_eq!(scheme(&off.upstream), "Bearer ");
    assert_eq!(scheme(&signin.signin.as_ref().unwrap().1), "DPoP ");
    assert_eq!(scheme(&on.shared_cache_config(None, &parse_url).unwrap()), "DPoP ");
    assert_eq!(scheme(&off.shared_cache_config(None, &parse_url).unwrap()), "Bearer ");
    // An isolate waits for the object as long as the object's upstream flight may take (a
    // slow upstream is not an unreachable object), and never asks it twice.
    let timing = &off.shared_cache_config(None, &parse_url).unwrap().timing;
    let upstream = off.upstream.timing.deadline.0 + tokenkit::proto::client::config::MIN_INTERVAL.ms().0;
    assert!(timing.timeout.0 > upstream && timing.deadline.0 >= timing.timeout.0, "{timing:?}");
    assert_eq!(timing.max_retries, 0);
    let t = TokenSet::lasting(AccessToken::new("tok".into()), None, Instant(0), tokenkit::proto::time::Millis(60_000), tokenkit::proto::time::Millis(0), TokenId(1));
    assert!(token_reply(&t, true, Instant(0)).body.contains(r#""token_type":"DPoP""#));
    let from_object = HttpResponse { status: 200, retry_after: None, dpop_nonce: None, body: Body::Json(common::json_value(&serde_json::from_str(&token_reply(&t, false, Instant(0)).body).unwrap(), 1)) };
    let shared = on.shared_cache_config(None, &parse_url).unwrap();
    let tokenkit::proto::client::config::Source::Endpoint(ep) = &shared.source else { panic!() };
    let e = process_token_response(ep, &shared.timing, &from_object, WallMillis(0)).unwrap_err();
    assert!(matches!(&e, Error::UnsupportedTokenType { token_type, expected: "DPoP", .. } if token_type == "Bearer"), "a Bearer token where the deployment's are DPoP-bound: {e:?}");

    // A DPoP-bound token is no use to a browser: /token is not served (the object still
    // answers its isolates).
    let r = on.route(&req("POST", "/token", Some("https://app.example.com"))).unwrap_err();
    assert_eq!((r.status, r.body.contains("/proxy/")), (404, true));
    assert_eq!(object.route(&req("POST", "/token", None)), Ok(Route::Token));
    assert!(matches!(on.route(&req("GET", "/proxy/x", Some("https://app.example.com"))), Ok(Route::Proxy(_))));

    // The proxy's 401 rules: a nonce challenge is answered once for a bodiless request and
    // never refuses the token; anything else is the token's holder's to judge, never replayed.
    let nonce = Some(r#"DPoP error="use_dpop_nonce", algs="ES256""#);
    for (dpop, www, bodiless, replayed, want) in [
        (true, nonce, true, false, After401::Replay),
        (true, nonce, true, true, After401::Kept),
        (true, nonce, false, false, After401::Kept),
        (true, Some(r#"DPoP error="invalid_token""#), true, false, After401::Refused),
        (true, Some(r#"Bearer error="use_dpop_nonce""#), true, false, After401::Refused),
        (true, None, true, false, After401::Refused),
        (false, nonce, true, false, After401::Refused),
    ] {
        assert_eq!(after_401(dpop, www, bodiless, replayed), want, "{www:?} bodiless={bodiless} replayed={replayed}");
    }
}

#[cfg(feature = "signin")]
#[test]
fn issuer_alone_configures_the_upstream_client_by_discovery() {
    use tokenkit::proto::client::config::Source;
    let c = env(&[("TOKEN_URL", ""), ("ISSUER", "https://auth.example.com/tenant")]).unwrap();
    let Source::Endpoint(ep) = &c.upstream.source else { panic!() };
    assert_eq!(ep.discover.as_ref().map(|d| d.urls[0].as_str()), Some("https://auth.example.com/.well-known/oauth-authorization-server/tenant"));
    assert!(c.credential_set().starts_with("https://auth.example.com/tenant\n"), "the token cache's object is named for the issuer");
    // TOKEN_URL wins; neither is an error naming TOKEN_URL; a bad ISSUER names ISSUER.
    let both = env(&[("ISSUER", "https://auth.example.com/tenant")]).unwrap();
    let Source::Endpoint(ep) = &both.upstream.source else { panic!() };
    assert!(ep.discover.is_none());
    assert_eq!(env(&[("TOKEN_URL", "")]).unwrap_err().var, "TOKEN_URL");
    assert_eq!(env(&[("TOKEN_URL", ""), ("ISSUER", "http://auth.example.com")]).unwrap_err().var, "ISSUER");
    // Sign-in too, turned on by REDIRECT_URI alone when ISSUER names the server: every
    // endpoint discovered.
    let by_issuer = env(&[("TOKEN_URL", ""), ("ISSUER", "https://auth.example.com"), ("REDIRECT_URI", "https://edge.example.com/callback"), ("SESSION_SECRET", "0123456789abcdef0123456789abcdef-KEY")]).unwrap();
    assert!(by_issuer.signs_in());
    let Source::Endpoint(ep) = &by_issuer.signin.as_ref().unwrap().1.source else { panic!() };
    assert!(ep.discover.is_some());
    let tokenkit::proto::client::config::Grant::AuthorizationCode(ac) = &ep.grant else { panic!() };
    assert_eq!(ac.authorize_url, "", "discovered later");
    assert_eq!(env(&[("REDIRECT_URI", "https://edge.example.com/callback"), ("SESSION_SECRET", "0123456789abcdef0123456789abcdef-KEY")]).unwrap_err().var, "AUTHORIZE_URL", "explicit URLs but no authorization endpoint");
    // (AUTHORIZE_URL given, the token and revocation endpoints discovered.)
    let signin = signin_env(&[("TOKEN_URL", ""), ("ISSUER", "https://auth.example.com")]).unwrap();
    let Source::Endpoint(ep) = &signin.signin.as_ref().unwrap().1.source else { panic!() };
    assert!(ep.discover.is_some());
}

#[cfg(feature = "signin")]
#[test]
fn login_step_up_reaches_the_session_object() {
    use tokenkit::proto::broker::bff::{begin_body, parse_begin, SignIn};
    let bounded = |extra: &str| SignIn::from_env(&|k| (k == "STEP_UP_SCOPES").then(|| extra.to_owned()), false).unwrap();
    let none = bounded("");
    let admin = bounded("admin, billing:write");
    let configured = Some("openid offline_access");
    let body = begin_body("https://app.example.com/after", Some("urn:mfa"), Some("60"), Some("openid admin"), &admin, configured).unwrap();
    let (back, step) = parse_begin(&body);
    assert_eq!((back.as_str(), step.acr_values.as_deref(), step.max_age, step.scope.as_deref()), ("https://app.example.com/after", Some("urn:mfa"), Some(60), Some("openid offline_access admin")));
    let (back, step) = parse_begin(&begin_body("https://app.example.com/", None, None, None, &none, configured).unwrap());
    assert_eq!((back.as_str(), step.acr_values, step.max_age, step.scope), ("https://app.example.com/", None, None, None));
    // An older object's record: the body was the return target alone.
    assert_eq!(parse_begin("https://app.example.com/x").0, "https://app.example.com/x");
    for (acr, max_age) in [(None, Some("soon")), (None, Some("-1")), (Some(""), None), (Some("a\u{1}b"), None)] {
        let r = begin_body("https://app.example.com/", acr, max_age, None, &none, configured).unwrap_err();
        assert_eq!(r.status, 400, "{acr:?} {max_age:?}");
    }
    // Any site can send a browser to /login: a query's scope never replaces SIGNIN_SCOPE, and
    // adds only what STEP_UP_SCOPES allows (nothing by default).
    for (signin, asked, want) in [
        (&none, "openid", Some("openid offline_access")),
        (&none, "admin", None),
        (&none, "openid admin", None),
        (&admin, "admin", Some("openid offline_access admin")),
        (&admin, "billing:write admin", Some("openid offline_access billing:write admin")),
        (&admin, "admin root", None),
        (&admin, "email", None),
    ] {
        match (begin_body("/", None, None, Some(asked), signin, configured), want) {
            (Ok(b), Some(w)) => assert_eq!(parse_begin(&b).1.scope.as_deref(), Some(w), "{asked}"),
            (Err(r), None) => assert_eq!((r.status, r.body.contains("STEP_UP_SCOPES")), (400, true), "{asked}"),
            (got, want) => panic!("{asked}: {got:?}, wanted {want:?}"),
        }
    }
    assert_eq!(SignIn::from_env(&|k| (k == "STEP_UP_SCOPES").then(|| "a\"b".to_owned()), false).unwrap_err().var, "STEP_UP_SCOPES");
}

#[test]
fn a_broken_configuration_tells_a_listed_page_which_variable_and_no_one_else() {
    let env: HashMap<&str, String> = [("ALLOWED_ORIGINS", "https://app.example, not an origin, http://localhost:5173".to_owned())].into();
    let listed = listed_origins(&|k| env.get(k).cloned(), &parse_url);
    assert_eq!(listed, ["https://app.example", "http://localhost:5173"], "entries that are not origins are skipped");
    let e = EnvError { var: "CLIENT_SECRET", reason: "is required" };
    let header = |r: &tokenkit::proto::http::Reply, n: &str| r.headers.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
    // (method, origin, status, readable by the page)
    for (method, origin, status, readable) in [
        ("POST", Some("https://app.example"), 500, true),
        ("OPTIONS", Some("https://app.example"), 204, true),
        ("GET", Some("http://localhost:5173"), 500, true),
        ("POST", Some("https://evil.example"), 500, false),
        ("OPTIONS", Some("https://evil.example"), 500, false),
        ("POST", Some("https://app.example.evil.example"), 500, false),
        ("POST", None, 500, false),
    ] {
        let r = misconfigured(&e, &listed, method, origin, Some("content-type"));
        assert_eq!(r.status, status, "{method} {origin:?}");
        assert_eq!(header(&r, "Access-Control-Allow-Origin").as_deref(), origin.filter(|_| readable), "{method} {origin:?}");
        assert_eq!(header(&r, "Vary").as_deref(), Some("Origin"));
        if status == 500 {
            assert_eq!(r.body, config_error_reply(&e).body, "the variable's name, nothing else");
        }
        assert_eq!(header(&r, "Access-Control-Max-Age"), None, "a preflight is not cached past the fix");
    }
    // Nothing listed (or ALLOWED_ORIGINS itself broken beyond reading): no page may read it.
    let r = misconfigured(&e, &[], "POST", Some("https://app.example"), None);
    assert_eq!((r.status, header(&r, "Access-Control-Allow-Origin")), (500, None));
}

/// What the shell could not reach or use, as the browser is told of it: each kind the shell can
/// name (src/boundary.rs `failed`) has its reply here, and no other number is one.
#[test]
fn the_shells_failures_have_one_reply_each() {
    use tokenkit::boundary::failed;
    use tokenkit::proto::broker::ShellFailure;
    let rows = [
        (failed::SESSION_STORE, 502, "session_unavailable"),
        (failed::API, 502, "api_unavailable"),
        (failed::SESSION_KEY, 500, "broker_misconfigured"),
    ];
    for (n, status, error) in rows {
        let r = ShellFailure::from_number(n).unwrap().reply();
        assert_eq!(r.status, status, "{n}");
        assert!(r.body.contains(&format!("\"error\":\"{error}\"")), "{n}: {}", r.body);
    }
    assert_eq!(ShellFailure::from_number(3), None);
}

/// A request header the edge does not read ([`BrokerConfig::reads`]: the shell passes
/// none then), or Access-Control-Request-Headers on a request that is not a preflight (the
/// shell reads it on `OPTIONS` only), cannot change any decision: the route, its refusals,
/// what proves a caller;
/// and the client's address goes unread only where no rate limit keys buckets by it. Every
/// configuration row, every request row, each unread header added.
#[test]
fn a_header_the_edge_does_not_read_changes_nothing() {
    use tokenkit::proto::broker::gate::proved_otherwise;
    let mut configs = vec![
        ("plain", env(&[("RATE_LIMIT", "0")]).unwrap(), false),
        ("no proxy", env(&[("RATE_LIMIT", "0"), ("PROXY_ORIGIN", "")]).unwrap(), false),
        ("keys", env(&[("RATE_LIMIT", "0"), ("BROKER_KEYS", "k1")]).unwrap(), false),
        ("rate limit", env(&[("RATE_LIMIT", "5")]).unwrap(), false),
        ("rate binding", env(&[("RATE_LIMIT", "0")]).unwrap(), true),
        ("turnstile", env(&[("RATE_LIMIT", "0"), ("TURNSTILE_SECRET", "s")]).unwrap(), false),
        ("keys and turnstile", env(&[("RATE_LIMIT", "0"), ("TURNSTILE_SECRET", "s"), ("BROKER_KEYS", "k1")]).unwrap(), false),
        ("proxy routes, no proxy origin", env(&[("RATE_LIMIT", "0"), ("PROXY_ORIGIN", ""), ("PROXY_ROUTES", "GET /me")]).unwrap(), false),
    ];
    #[cfg(feature = "signin")]
    {
        configs.push(("sign-in", signin_env(&[("RATE_LIMIT", "0")]).unwrap(), false));
        configs.push(("sign-in, no proxy", signin_env(&[("RATE_LIMIT", "0"), ("PROXY_ORIGIN", "")]).unwrap(), false));
    }
    let requests = [
        ("POST", "/token"),
        ("OPTIONS", "/token"),
        ("GET", "/proxy/me"),
        ("OPTIONS", "/proxy/me"),
        ("GET", "/healthz"),
        ("GET", "/session"),
        ("POST", "/logout"),
        ("GET", "/login"),
    ];
    let mut unread = 0;
    for (name, cfg, binding) in &configs {
        // (A header that must be read is read: with Broker.reads forced to 0, tests/node 12,
        // 16 and 17 fail, for the key, the CSRF header, the client's address and the cookie.)
        let reads = cfg.reads(*binding);
        for (method, path) in requests {
            for origin in [Some("https://app.example.com"), Some("https://evil.example"), None] {
                let bare = Incoming { method, path, query: "", origin, broker_key: None, request_headers: None, csrf: None };
                let decide = |r: &Incoming<'_>| (format!("{:?}", cfg.route(r)), proved_otherwise(cfg, r.broker_key));
                let base = decide(&bare);
                if !reads.broker_key {
                    unread += 1;
                    assert_eq!(decide(&Incoming { broker_key: Some("k1"), ..bare }), base, "{name} {method} {path} {origin:?}: X-Broker-Key");
                }
                if !reads.csrf {
                    unread += 1;
                    assert_eq!(decide(&Incoming { csrf: Some("1"), ..bare }), base, "{name} {method} {path} {origin:?}: Tokenkit-Request");
                }
                if method != "OPTIONS" {
                    unread += 1;
                    let headers = Some("authorization, x-anything");
                    assert_eq!(decide(&Incoming { request_headers: headers, ..bare }), base, "{name} {method} {path} {origin:?}: Access-Control-Request-Headers");
                }
                if !reads.client_ip {
                    // The client's address keys the buckets: unread, every client shares one,
                    // which no limit of 0 can tell from its own.
                    assert_eq!(cfg.rate_per_minute, 0, "{name}: a rate limit reads the client's address");
                }
            }
        }
    }
    assert!(unread > 0, "some configuration leaves a header unread");
    // A broken configuration's answers too.
    let e = env(&[("TOKEN_URL", "")]).unwrap_err();
    let listed = ["https://app.example.com".to_owned()];
    for (method, _) in requests.iter().filter(|(m, _)| *m != "OPTIONS") {
        for origin in [Some("https://app.example.com"), None] {
            assert_eq!(misconfigured(&e, &listed, method, origin, Some("x-anything")), misconfigured(&e, &listed, method, origin, None), "{method} {origin:?}");
        }
    }
}
