//! Native tests of the sans-IO core: exact request bytes, response validation table,
//! expiry math with a fake clock, single-flight bookkeeping, retry schedule, config errors.
#![cfg(not(target_arch = "wasm32"))]

mod common;
use common::parse_url;
use tokenkit::proto::config::{is_loopback, Config, Preset, Source};
use tokenkit::proto::response::{
    parse_http_date, parse_retry_after, process_token_response, Body, HttpResponse, TokenSet,
};
use tokenkit::proto::retry::retry_delay;
use tokenkit::proto::state::{Cache, Completion, Lookup, TimerAction};
use tokenkit::proto::value::Value;
use tokenkit::proto::Error;

fn obj(pairs: &[(&str, Value)]) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}
fn s(v: &str) -> Value {
    Value::Str(v.to_owned())
}

fn config(preset: Preset, pairs: &[(&str, Value)]) -> Result<Config, Error> {
    Config::from_options(preset, &obj(pairs), &parse_url)
}

fn standard(extra: &[(&str, Value)]) -> Config {
    let mut pairs = vec![
        ("tokenUrl", s("https://auth.example.com/oauth2/token")),
        ("clientId", s("my client")),
        ("clientSecret", s("s3cr:t+/é")),
    ];
    pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    pairs.extend_from_slice(extra);
    config(Preset::Generic, &pairs).unwrap()
}

fn endpoint(cfg: &Config) -> &tokenkit::proto::config::Endpoint {
    match &cfg.source {
        Source::Endpoint(ep) => ep,
        Source::ApiKey { .. } => panic!("not an endpoint"),
    }
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

// ---------------------------------------------------------------- request bytes

#[test]
fn client_secret_basic_form_encodes_id_and_secret() {
    let cfg = standard(&[
        ("scope", Value::List(vec![s("read"), s("write")])),
        ("audience", s("https://api.example.com")),
        ("resource", s("https://api.example.com/v1")),
        ("extraParams", obj(&[("tenant", s("a&b"))])),
    ]);
    let req = endpoint(&cfg).token_request();
    assert_eq!(req.url, "https://auth.example.com/oauth2/token");
    assert_eq!(
        req.headers,
        vec![
            ("Content-Type", "application/x-www-form-urlencoded".to_owned()),
            ("Authorization", format!("Basic {}", b64("my+client:s3cr%3At%2B%2F%C3%A9"))),
            ("Accept", "application/json".to_owned()),
        ]
    );
    assert_eq!(
        req.body,
        "grant_type=client_credentials&scope=read+write&audience=https%3A%2F%2Fapi.example.com\
         &resource=https%3A%2F%2Fapi.example.com%2Fv1&tenant=a%26b"
    );
}

#[test]
fn client_secret_post_puts_credentials_in_body() {
    let cfg = standard(&[("clientAuth", s("client_secret_post")), ("scope", s("  a   b "))]);
    let req = endpoint(&cfg).token_request();
    assert_eq!(
        req.headers,
        vec![
            ("Content-Type", "application/x-www-form-urlencoded".to_owned()),
            ("Accept", "application/json".to_owned()),
        ]
    );
    assert_eq!(
        req.body,
        "grant_type=client_credentials&scope=a+b&client_id=my+client&client_secret=s3cr%3At%2B%2F%C3%A9"
    );
}

#[test]
fn public_client_sends_only_client_id() {
    let cfg = config(
        Preset::Generic,
        &[
            ("tokenUrl", s("http://127.0.0.1:8080/token")),
            ("clientId", s("pub")),
            ("clientAuth", s("none")),
        ],
    )
    .unwrap();
    let req = endpoint(&cfg).token_request();
    assert_eq!(req.url, "http://127.0.0.1:8080/token");
    assert_eq!(req.body, "grant_type=client_credentials&client_id=pub");
    assert!(req.headers.iter().all(|(k, _)| *k != "Authorization"));
}

#[test]
fn sypht_preset_sends_what_sypht_documents() {
    let cfg = config(Preset::Sypht, &[("clientId", s("abc")), ("clientSecret", s("x+y/z"))]).unwrap();
    assert_eq!(cfg.allowed_origins, vec!["https://api.sypht.com"]);
    let req = endpoint(&cfg).token_request();
    assert_eq!(req.url, "https://auth.sypht.com/oauth2/token");
    assert_eq!(
        req.headers,
        vec![
            ("Content-Type", "application/x-www-form-urlencoded".to_owned()),
            ("Authorization", format!("Basic {}", b64("abc:x+y/z"))),
            ("Accept", "application/json".to_owned()),
        ]
    );
    assert_eq!(
        req.body,
        "grant_type=client_credentials&audience=https%3A%2F%2Fapi.sypht.com&client_id=abc"
    );
}

#[test]
fn symbl_preset_sends_json() {
    let cfg = config(Preset::Symbl, &[("appId", s("app\"1")), ("appSecret", s("sec\\ret"))]).unwrap();
    assert_eq!(cfg.allowed_origins, vec!["https://api.symbl.ai"]);
    let req = endpoint(&cfg).token_request();
    assert_eq!(req.url, "https://api.symbl.ai/oauth2/token:generate");
    assert_eq!(
        req.headers,
        vec![
            ("Content-Type", "application/json".to_owned()),
            ("Accept", "application/json".to_owned()),
        ]
    );
    assert_eq!(
        req.body,
        r#"{"type":"application","appId":"app\"1","appSecret":"sec\\ret"}"#
    );
}

#[test]
fn presets_accept_overrides() {
    let cfg = config(
        Preset::Sypht,
        &[
            ("clientId", s("a")),
            ("clientSecret", s("b")),
            ("tokenUrl", s("http://localhost:9999/oauth2/token")),
            ("allowedOrigins", Value::List(vec![s("http://localhost:9998")])),
        ],
    )
    .unwrap();
    assert_eq!(endpoint(&cfg).token_url, "http://localhost:9999/oauth2/token");
    assert_eq!(cfg.allowed_origins, vec!["http://localhost:9998"]);
}

// ---------------------------------------------------------------- config errors

#[test]
fn config_errors_name_the_field() {
    let base = [
        ("tokenUrl", s("https://auth.example.com/token")),
        ("clientId", s("id")),
        ("clientSecret", s("secret")),
    ];
    let cases: Vec<(Vec<(&str, Value)>, &str)> = vec![
        (vec![("tokenUrl", s("not a url"))], "tokenUrl"),
        (vec![("tokenUrl", s("http://auth.example.com/token"))], "tokenUrl"),
        (vec![("tokenUrl", s("http://127.0.0.1.evil.com/token"))], "tokenUrl"),
        (vec![("tokenUrl", s("ftp://auth.example.com/token"))], "tokenUrl"),
        (vec![("tokenUrl", s("https://u:p@auth.example.com/token"))], "tokenUrl"),
        (vec![("tokenUrl", Value::Num(1.0))], "tokenUrl"),
        (vec![("clientSecret", s(""))], "clientSecret"),
        (vec![("clientId", Value::Null)], "clientId"),
        (vec![("clientSceret", s("typo"))], "clientSceret"),
        (vec![("dialect", s("soap"))], "dialect"),
        (vec![("clientAuth", s("private_key_jwt"))], "clientAuth"),
        (vec![("clientAuth", s("none"))], "clientSecret"),
        (vec![("refreshSkewSeconds", Value::Num(-1.0))], "refreshSkewSeconds"),
        (vec![("timeoutMs", s("100"))], "timeoutMs"),
        (vec![("timeoutMs", Value::Num(f64::NAN))], "timeoutMs"),
        (vec![("maxRetries", Value::Num(1.5))], "maxRetries"),
        (vec![("maxRetries", Value::Num(-2.0))], "maxRetries"),
        (vec![("scope", Value::List(vec![s("ok"), s("")]))], "scope[1]"),
        (vec![("scope", s("bad\"quote"))], "scope"),
        (vec![("extraParams", obj(&[("grant_type", s("password"))]))], "extraParams.grant_type"),
        (vec![("extraParams", obj(&[("n", Value::Num(1.0))]))], "extraParams.n"),
        (vec![("resource", s("relative/path"))], "resource"),
        (vec![("allowedOrigins", Value::List(vec![s("https://api.example.com/v1")]))], "allowedOrigins[0]"),
        (vec![("allowedOrigins", Value::List(vec![s("https://a.com"), s("http://b.com")]))], "allowedOrigins[1]"),
        (vec![("allowedOrigins", Value::Bool(true))], "allowedOrigins"),
        (vec![("apiKey", s("k"))], "tokenUrl"),
    ];
    for (overrides, field) in cases {
        let mut pairs: Vec<(&str, Value)> = base
            .iter()
            .filter(|(k, _)| !overrides.iter().any(|(o, _)| o == k))
            .cloned()
            .collect();
        pairs.extend(overrides.iter().cloned());
        let err = config(Preset::Generic, &pairs).expect_err(field);
        assert_eq!(err.code(), "INVALID_CONFIG", "{field}");
        match &err {
            Error::InvalidConfig { field: f, .. } => assert_eq!(f, field, "{}", err.message()),
            _ => unreachable!(),
        }
        assert!(err.message().starts_with(field), "{}", err.message());
        assert!(!err.message().contains("secret\""), "{}", err.message());
    }
    assert!(Config::from_options(Preset::Generic, &s("x"), &parse_url).is_err());
    let symbl = config(Preset::Symbl, &[("appId", s("a")), ("appSecret", s("b")), ("scope", s("x"))]);
    assert_eq!(symbl.unwrap_err().code(), "INVALID_CONFIG");
}

#[test]
fn loopback_hosts() {
    for h in ["localhost", "127.0.0.1", "127.255.3.4", "[::1]"] {
        assert!(is_loopback(h), "{h}");
    }
    for h in ["localhost.evil.com", "127.0.0.1.evil.com", "128.0.0.1", "[::2]", "example.com", "127.0.0"] {
        assert!(!is_loopback(h), "{h}");
    }
}

#[test]
fn api_key_config() {
    let cfg = config(
        Preset::ApiKey,
        &[("apiKey", s("k-123")), ("header", s("X-Api-Key")), ("allowedOrigins", s("https://api.example.com"))],
    )
    .unwrap();
    assert!(matches!(cfg.source, Source::ApiKey { ref header, .. } if header.as_deref() == Some("X-Api-Key")));
    for (k, v) in [("header", s("bad header")), ("apiKey", s("line\nbreak")), ("tokenUrl", s("https://a.com/t"))] {
        let mut pairs = vec![("apiKey", s("k"))];
        pairs.retain(|(key, _)| *key != k);
        pairs.push((k, v));
        let err = config(Preset::ApiKey, &pairs).unwrap_err();
        assert_eq!(err.code(), "INVALID_CONFIG");
    }
}

#[test]
fn origin_matching_is_exact() {
    let cfg = standard(&[(
        "allowedOrigins",
        Value::List(vec![s("https://API.example.com:443"), s("http://localhost:8080")]),
    )]);
    assert!(cfg.origin_allowed("https://api.example.com"));
    assert!(cfg.origin_allowed("http://localhost:8080"));
    for o in [
        "http://api.example.com",
        "https://api.example.com:8443",
        "https://evil.api.example.com",
        "https://api.example.com.evil.com",
        "http://localhost:8081",
        "null",
    ] {
        assert!(!cfg.origin_allowed(o), "{o}");
    }
}

#[test]
fn debug_never_shows_secrets() {
    let cfg = standard(&[]);
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains("s3cr"), "{dbg}");
    let key = config(Preset::ApiKey, &[("apiKey", s("super-key"))]).unwrap();
    assert!(!format!("{key:?}").contains("super-key"));
    let t = ok_token(&cfg, &[("access_token", s("tok-SECRET"))], 0);
    assert!(!format!("{t:?}").contains("tok-SECRET"));
}

// ---------------------------------------------------------------- responses

fn respond(cfg: &Config, status: u16, body: Body, retry_after: Option<&str>) -> Result<TokenSet, Error> {
    let resp = HttpResponse {
        status,
        retry_after: retry_after.map(str::to_owned),
        body,
    };
    process_token_response(cfg, endpoint(cfg), &resp, 1_000_000, 1_000_500)
}

fn ok_token(cfg: &Config, fields: &[(&str, Value)], _x: u8) -> TokenSet {
    respond(cfg, 200, Body::Json(obj(fields)), None).unwrap()
}

#[test]
fn malformed_responses_table() {
    let cfg = standard(&[]);
    let j = |f: &[(&str, Value)]| Body::Json(obj(f));
    let tok = ("access_token", s("abc"));
    let cases: Vec<(u16, Body, &str, &str)> = vec![
        (200, Body::NotJson, "INVALID_RESPONSE", "not JSON"),
        (200, Body::Json(Value::List(vec![])), "INVALID_RESPONSE", "not a JSON object"),
        (200, Body::Json(s("abc")), "INVALID_RESPONSE", "not a JSON object"),
        (200, j(&[]), "INVALID_RESPONSE", "access_token is missing"),
        (200, j(&[("access_token", Value::Null)]), "INVALID_RESPONSE", "access_token is missing"),
        (200, j(&[("access_token", s(""))]), "INVALID_RESPONSE", "access_token is empty"),
        (200, j(&[("access_token", Value::Num(5.0))]), "INVALID_RESPONSE", "access_token is not a string"),
        (200, j(&[("access_token", s("a b"))]), "INVALID_RESPONSE", "HTTP header"),
        (200, j(&[("access_token", s("a\r\nX: y"))]), "INVALID_RESPONSE", "HTTP header"),
        (200, j(&[tok.clone(), ("token_type", Value::Num(1.0))]), "INVALID_RESPONSE", "token_type"),
        (200, j(&[tok.clone(), ("token_type", s("bad type"))]), "INVALID_RESPONSE", "token_type"),
        (200, j(&[tok.clone(), ("expires_in", Value::Num(-1.0))]), "INVALID_RESPONSE", "expires_in is negative"),
        (200, j(&[tok.clone(), ("expires_in", s("soon"))]), "INVALID_RESPONSE", "expires_in is not a number"),
        (200, j(&[tok.clone(), ("expires_in", s("-5"))]), "INVALID_RESPONSE", "expires_in is not a number"),
        (200, j(&[tok.clone(), ("expires_in", Value::Bool(true))]), "INVALID_RESPONSE", "expires_in is not a number"),
        (200, j(&[tok.clone(), ("scope", Value::Num(1.0))]), "INVALID_RESPONSE", "scope is not a string"),
        (200, j(&[("error", s("invalid_client"))]), "OAUTH_ERROR", "invalid_client"),
        (302, j(std::slice::from_ref(&tok)), "INVALID_RESPONSE", "redirect"),
        (0, Body::NotJson, "INVALID_RESPONSE", "redirect"),
        (400, j(&[("error", s("invalid_scope")), ("error_description", s("no such scope"))]), "OAUTH_ERROR", "invalid_scope: no such scope"),
        (401, j(&[("error", s("invalid_client"))]), "OAUTH_ERROR", "invalid_client"),
        (401, Body::NotJson, "HTTP_ERROR", "HTTP 401"),
        (403, j(&[("error", Value::Num(3.0))]), "HTTP_ERROR", "HTTP 403"),
        (500, j(&[("error", s("server_error"))]), "HTTP_ERROR", "HTTP 500"),
        (503, Body::NotJson, "HTTP_ERROR", "HTTP 503"),
        (429, Body::NotJson, "RATE_LIMITED", "HTTP 429"),
        (429, Body::NotJson, "RATE_LIMITED", "HTTP 429"),
    ];
    for (status, body, code, needle) in cases {
        let err = respond(&cfg, status, body, None).unwrap_err();
        assert_eq!(err.code(), code, "{}", err.message());
        assert!(err.message().contains(needle), "{} !~ {needle}", err.message());
        assert_eq!(err.status(), Some(status));
    }
}

#[test]
fn error_descriptions_never_echo_the_secret() {
    let cfg = standard(&[]);
    let body = Body::Json(obj(&[
        ("error", s("invalid_client")),
        ("error_description", s("bad secret s3cr:t+/é given")),
    ]));
    // Non-ASCII descriptions are dropped entirely; try an ASCII secret too.
    let err = respond(&cfg, 401, body, None).unwrap_err();
    assert!(!err.message().contains("s3cr"), "{}", err.message());
    let cfg2 = standard(&[("clientSecret", s("hunter2"))]);
    let body = Body::Json(obj(&[("error", s("invalid_client")), ("error_description", s("secret hunter2 is wrong"))]));
    let err = respond(&cfg2, 401, body, None).unwrap_err();
    assert_eq!(err.message(), "the token endpoint refused the request (HTTP 401): invalid_client: secret [redacted] is wrong");
}

#[test]
fn valid_responses() {
    let cfg = standard(&[("scope", s("read"))]);
    let t = ok_token(&cfg, &[("access_token", s("abc")), ("token_type", s("bEaReR")), ("expires_in", Value::Num(120.9))], 0);
    assert_eq!(t.access_token.expose(), "abc");
    assert_eq!(t.token_type, "Bearer");
    assert_eq!(t.expires_at, 1_000_000 + 120_000, "counts from sent_at, whole seconds");
    assert_eq!(t.refresh_at, t.expires_at - 60_000);
    assert_eq!(t.scope.as_deref(), Some("read"), "requested scope when omitted");

    let t = ok_token(&cfg, &[("access_token", s("abc")), ("expires_in", s("90")), ("scope", s("read write"))], 0);
    assert_eq!(t.expires_at, 1_090_000);
    assert_eq!(t.refresh_at, 1_045_000, "skew limited to half the lifetime");
    assert_eq!(t.scope.as_deref(), Some("read write"));

    let t = ok_token(&cfg, &[("access_token", s("abc"))], 0);
    assert_eq!(t.expires_at, 1_000_000 + 3_600_000, "default lifetime");

    let t = ok_token(&cfg, &[("access_token", s("abc")), ("expires_in", Value::Num(1e12))], 0);
    assert_eq!(t.expires_at, 1_000_000 + 365 * 24 * 3600 * 1000, "capped at a year");

    let t = ok_token(&cfg, &[("access_token", s("abc")), ("expires_in", Value::Num(0.0))], 0);
    assert_eq!((t.expires_at, t.refresh_at), (1_000_000, 1_000_000));

    let t = ok_token(&cfg, &[("access_token", s("abc")), ("token_type", s("DPoP"))], 0);
    assert_eq!(t.token_type, "DPoP");
}

#[test]
fn symbl_responses() {
    let cfg = config(
        Preset::Symbl,
        &[("appId", s("a")), ("appSecret", s("b")), ("defaultExpiresInSeconds", Value::Num(10.0))],
    )
    .unwrap();
    let t = respond(&cfg, 200, Body::Json(obj(&[("accessToken", s("tok")), ("expiresIn", Value::Num(86400.0))])), None).unwrap();
    assert_eq!((t.access_token.expose(), t.token_type.as_str()), ("tok", "Bearer"));
    assert_eq!(t.expires_at, 1_000_000 + 86_400_000);
    let err = respond(&cfg, 200, Body::Json(obj(&[("access_token", s("tok"))])), None).unwrap_err();
    assert!(err.message().contains("accessToken is missing"));
    for (status, needle) in [
        (400, "Bad Request"),
        (401, "appId or appSecret is invalid"),
        (404, "does not exist"),
        (500, "try again later"),
    ] {
        let err = respond(&cfg, status, Body::NotJson, None).unwrap_err();
        assert_eq!(err.code(), "HTTP_ERROR");
        assert!(err.message().contains(needle), "{}", err.message());
    }
    assert_eq!(respond(&cfg, 429, Body::NotJson, Some("3")).unwrap_err(), Error::RateLimited { status: 429, retry_after: Some(3) });
}

#[test]
fn retry_after_forms() {
    assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777_000));
    assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    assert_eq!(parse_http_date("Sat, 29 Feb 2025 00:00:00 GMT").map(|_| ()), Some(()));
    assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 PST"), None);
    assert_eq!(parse_http_date("garbage"), None);
    assert_eq!(parse_retry_after("120", 0), Some(120));
    assert_eq!(parse_retry_after(" 7 ", 0), Some(7));
    assert_eq!(parse_retry_after("-1", 0), None);
    assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777_000 - 2_500), Some(3));
    assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777_000 + 9_000), Some(0));
    let cfg = standard(&[]);
    let err = respond(&cfg, 429, Body::NotJson, Some("Thu, 01 Jan 1970 00:16:41 GMT")).unwrap_err();
    assert_eq!(err, Error::RateLimited { status: 429, retry_after: Some(1) }, "date minus now (1_000_500 ms)");
}

// ---------------------------------------------------------------- retry schedule

#[test]
fn retry_schedule() {
    let net = Error::Network;
    assert_eq!(retry_delay(&net, 0, 2, 0.0), Some(250));
    assert_eq!(retry_delay(&net, 0, 2, 0.999_999), Some(499));
    assert_eq!(retry_delay(&net, 1, 2, 0.0), Some(500));
    assert_eq!(retry_delay(&net, 1, 2, 0.5), Some(750));
    assert_eq!(retry_delay(&net, 2, 2, 0.0), None, "maxRetries reached");
    assert_eq!(retry_delay(&net, 9, 10, 0.0), Some(4000), "capped step");
    assert_eq!(retry_delay(&net, 0, 2, f64::NAN), Some(250));
    let s500 = Error::Http { status: 503, detail: "" };
    assert_eq!(retry_delay(&s500, 0, 1, 0.0), Some(250));
    let rl = |s| Error::RateLimited { status: 429, retry_after: s };
    assert_eq!(retry_delay(&rl(Some(2)), 0, 2, 0.0), Some(2000), "Retry-After honoured");
    assert_eq!(retry_delay(&rl(Some(0)), 0, 2, 0.0), Some(250));
    assert_eq!(retry_delay(&rl(Some(60)), 0, 2, 0.0), Some(60_000));
    assert_eq!(retry_delay(&rl(Some(61)), 0, 2, 0.0), None, "over a minute: fail at once");
    assert_eq!(retry_delay(&rl(None), 0, 2, 0.0), Some(250));
    for never in [
        Error::OAuth { status: 401, error: "invalid_client".into(), description: None },
        Error::Http { status: 404, detail: "" },
        Error::Timeout,
        Error::InvalidResponse { status: 200, reason: "x" },
    ] {
        assert_eq!(retry_delay(&never, 0, 5, 0.0), None, "{never:?}");
    }
}

// ---------------------------------------------------------------- cache state machine

fn token_at(sent_at: u64, lifetime_s: u64, skew_s: u64) -> TokenSet {
    let expires_at = sent_at + lifetime_s * 1000;
    TokenSet {
        access_token: tokenkit::proto::Secret::new("t".into()),
        token_type: "Bearer".into(),
        expires_at,
        refresh_at: expires_at - (skew_s * 1000).min(lifetime_s * 500),
        scope: None,
        id: 0,
    }
}

#[test]
fn single_flight_and_fake_clock_expiry() {
    let mut c = Cache::default();
    // Cold cache: the first caller fetches, 999 others join.
    let Lookup::Fetch(ticket) = c.lookup(0) else { panic!() };
    for _ in 0..999 {
        assert!(matches!(c.lookup(0), Lookup::Join));
    }
    let Completion::Token { token, stored: true } = c.complete(ticket, Ok(token_at(0, 100, 10)), 50) else { panic!() };
    assert_eq!((token.expires_at, token.refresh_at), (100_000, 90_000));
    assert_eq!(c.poll_timeout(), Some(90_000));
    assert!(matches!(c.lookup(89_999), Lookup::Fresh(_)));
    // Due for refresh: exactly one fetch again.
    let Lookup::Fetch(t2) = c.lookup(90_000) else { panic!() };
    assert!(matches!(c.lookup(90_001), Lookup::Join));
    // Refresh fails while the old token is unexpired: fall back to it.
    let Completion::Fallback { token, error } = c.complete(t2, Err(Error::Network), 95_000) else { panic!() };
    assert_eq!(token.expires_at, 100_000);
    assert_eq!(error.code(), "NETWORK");
    // Once expired, failures reject.
    assert!(!c.expire(99_999));
    assert!(c.expire(100_000));
    let Lookup::Fetch(t3) = c.lookup(100_000) else { panic!() };
    assert!(matches!(c.complete(t3, Err(Error::Network), 100_001), Completion::Failed(Error::Network)));
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn timers_refresh_then_expire() {
    let mut c = Cache::default();
    let Lookup::Fetch(t) = c.lookup(0) else { panic!() };
    c.complete(t, Ok(token_at(0, 100, 10)), 0);
    assert_eq!(c.handle_timeout(50_000), TimerAction::Nothing, "spurious wake-up");
    let TimerAction::Refresh(r) = c.handle_timeout(90_000) else { panic!() };
    assert!(c.is_in_flight(r));
    assert_eq!(c.poll_timeout(), Some(100_000), "next deadline is expiry");
    assert!(matches!(c.complete(r, Err(Error::Timeout), 91_000), Completion::Fallback { .. }));
    assert_eq!(c.handle_timeout(95_000), TimerAction::Nothing, "no refresh loop after a failure");
    assert_eq!(c.poll_timeout(), Some(100_000));
    assert_eq!(c.handle_timeout(100_000), TimerAction::Expired);
    assert_eq!(c.handle_timeout(100_001), TimerAction::Nothing);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn invalidate_discards_in_flight_results() {
    let mut c = Cache::default();
    let Lookup::Fetch(old) = c.lookup(0) else { panic!() };
    c.invalidate();
    let Lookup::Fetch(new) = c.lookup(0) else { panic!("invalidate must start a new request") };
    assert!(matches!(c.complete(old, Ok(token_at(0, 100, 10)), 1), Completion::Token { stored: false, .. }));
    assert!(matches!(c.lookup(2), Lookup::Join), "the new request is still in flight");
    let Completion::Token { token, stored: true } = c.complete(new, Ok(token_at(0, 100, 10)), 3) else { panic!() };
    // A 401 with an older token id does not throw away the newer token.
    c.invalidate_token(token.id + 100);
    assert!(matches!(c.lookup(4), Lookup::Fresh(_)));
    c.invalidate_token(token.id);
    assert!(matches!(c.lookup(5), Lookup::Fetch(_)));
}

#[test]
fn broker_client_config_and_request() {
    let cfg = config(
        Preset::Generic,
        &[
            ("brokerUrl", s("https://edge.example.com/token")),
            ("credentials", s("include")),
            ("allowedOrigins", Value::List(vec![s("https://api.example.com")])),
        ],
    )
    .unwrap();
    let ep = endpoint(&cfg);
    assert_eq!(ep.credentials, "include");
    let req = ep.token_request();
    assert_eq!(req.url, "https://edge.example.com/token");
    assert_eq!(req.body, "", "no credentials leave the browser");
    assert_eq!(req.headers, vec![("Accept", "application/json".to_owned())]);
    let t = respond(&cfg, 200, Body::Json(obj(&[("access_token", s("t")), ("expires_in", Value::Num(30.0))])), None).unwrap();
    assert_eq!(t.expires_at, 1_000_000 + 30_000);
    for (k, v, field) in [
        ("clientSecret", s("x"), "clientSecret"),
        ("tokenUrl", s("https://a.com/t"), "tokenUrl"),
        ("credentials", s("all"), "credentials"),
        ("brokerUrl", s("http://edge.example.com/token"), "brokerUrl"),
    ] {
        let mut pairs = vec![("brokerUrl", s("https://edge.example.com/token"))];
        pairs.retain(|(key, _)| *key != k);
        pairs.push((k, v));
        match config(Preset::Generic, &pairs).unwrap_err() {
            Error::InvalidConfig { field: f, .. } => assert_eq!(f, field),
            e => panic!("{e:?}"),
        }
    }
}
