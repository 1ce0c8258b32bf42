//! Native tests of the sans-IO core: exact request bytes, response validation table,
//! expiry math with a fake clock, single-flight bookkeeping, retry schedule, config errors.
#![cfg(not(target_arch = "wasm32"))]

mod common;
use common::{json_value, parse_url};
use tokenkit::proto::Error;
use tokenkit::proto::client::config::{Config, Source};
use tokenkit::proto::client::presets::{PresetSpec, API_KEY, GENERIC, SYMBL, SYPHT};
use tokenkit::proto::client::request::Runtime;
use tokenkit::proto::client::response::{process_token_response, Issued};
use tokenkit::proto::client::retry::retry_delay;
use tokenkit::proto::http::{parse_http_date, parse_retry_after, Body, HttpResponse};
use tokenkit::proto::time::{Millis, Secs, WallMillis};
use tokenkit::proto::url::is_loopback;
use tokenkit::proto::value::Value;

fn obj(pairs: &[(&str, Value)]) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}
fn s(v: &str) -> Value {
    Value::Str(v.to_owned())
}

fn config(preset: &'static PresetSpec, pairs: &[(&str, Value)]) -> Result<Config, Error> {
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
    config(&GENERIC, &pairs).unwrap()
}

fn endpoint(cfg: &Config) -> &tokenkit::proto::client::config::Endpoint {
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
    let req = endpoint(&cfg).token_request(Runtime::Browser);
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
    let req = endpoint(&cfg).token_request(Runtime::Browser);
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
        &GENERIC,
        &[
            ("tokenUrl", s("http://127.0.0.1:8080/token")),
            ("clientId", s("pub")),
            ("clientAuth", s("none")),
        ],
    )
    .unwrap();
    let req = endpoint(&cfg).token_request(Runtime::Browser);
    assert_eq!(req.url, "http://127.0.0.1:8080/token");
    assert_eq!(req.body, "grant_type=client_credentials&client_id=pub");
    assert!(req.headers.iter().all(|(k, _)| *k != "Authorization"));
}

#[test]
fn sypht_preset_sends_what_sypht_documents() {
    let cfg = config(&SYPHT, &[("clientId", s("abc")), ("clientSecret", s("x+y/z"))]).unwrap();
    assert_eq!(cfg.allowed_origins, vec!["https://api.sypht.com"]);
    let req = endpoint(&cfg).token_request(Runtime::Browser);
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
    let cfg = config(&SYMBL, &[("appId", s("app\"1")), ("appSecret", s("sec\\ret"))]).unwrap();
    assert_eq!(cfg.allowed_origins, vec!["https://api.symbl.ai"]);
    let req = endpoint(&cfg).token_request(Runtime::Browser);
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
fn symbl_dialect_through_the_constructor_takes_app_names() {
    let cfg = config(
        &GENERIC,
        &[("dialect", s("symbl")), ("tokenUrl", s("https://api.symbl.ai/oauth2/token:generate")), ("appId", s("a")), ("appSecret", s("b"))],
    )
    .unwrap();
    assert_eq!(endpoint(&cfg).token_request(Runtime::Browser).body, r#"{"type":"application","appId":"a","appSecret":"b"}"#);
    let err = config(&GENERIC, &[("tokenUrl", s("https://a.example.com/t")), ("appId", s("a")), ("clientSecret", s("b"))]).unwrap_err();
    assert_eq!(err.message(), "appId: is not a known option (check the spelling)", "only with dialect symbl");
}

#[test]
fn presets_accept_overrides() {
    let cfg = config(
        &SYPHT,
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

/// tests/fixtures/rows/config.json, the table tests/node/08-config also reads, and the rows
/// JSON cannot write (NaN).
#[test]
fn config_errors_name_the_field() {
    let table: serde_json::Value = serde_json::from_str(include_str!("fixtures/rows/config.json")).unwrap();
    let base = table["base"].as_object().unwrap();
    let mut cases: Vec<(Vec<(String, Value)>, String)> = Vec::new();
    for row in table["rows"].as_array().unwrap() {
        let set = row["set"].as_object().unwrap();
        let mut pairs: Vec<(String, Value)> = base.iter().filter(|(k, _)| !set.contains_key(*k)).map(|(k, v)| (k.clone(), json_value(v, u8::MAX))).collect();
        pairs.extend(set.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), json_value(v, u8::MAX))));
        // A page's build refuses server-only options by the option that asks for them.
        let field = match row["pageField"].as_str() {
            Some(f) if !cfg!(feature = "server") => f,
            _ => row["field"].as_str().unwrap(),
        };
        cases.push((pairs, field.to_owned()));
    }
    assert!(cases.len() >= 40);
    let mut nan: Vec<(String, Value)> = base.iter().map(|(k, v)| (k.clone(), json_value(v, u8::MAX))).collect();
    nan.push(("timeoutMs".into(), Value::Num(f64::NAN)));
    cases.push((nan, "timeoutMs".into()));
    for (pairs, field) in cases {
        let err = Config::from_options(&GENERIC, &Value::Object(pairs), &parse_url).expect_err(&field);
        assert_eq!(err.code(), "INVALID_CONFIG", "{field}");
        match &err {
            Error::InvalidConfig { field: f, .. } => assert_eq!(f, &field, "{}", err.message()),
            _ => unreachable!(),
        }
        assert!(err.message().starts_with(&field), "{}", err.message());
        assert!(!err.message().contains("TOPSECRET"), "{}", err.message());
    }
    assert!(Config::from_options(&GENERIC, &s("x"), &parse_url).is_err());
    let symbl = config(&SYMBL, &[("appId", s("a")), ("appSecret", s("b")), ("scope", s("x"))]);
    assert_eq!(symbl.unwrap_err().code(), "INVALID_CONFIG");
}

#[test]
fn config_messages_name_the_limit() {
    let base = [("tokenUrl", s("https://auth.example.com/token")), ("clientId", s("id")), ("clientSecret", s("x"))];
    for (k, v, message) in [
        ("maxRetries", Value::Num(11.0), "maxRetries: must be at most 10"),
        ("timeoutMs", Value::Num(0.5), "timeoutMs: must be at least 1"),
        ("timeoutMs", Value::Num(3e9), "timeoutMs: must be at most 2147483647 (the timer limit)"),
        ("deadlineMs", Value::Num(0.0), "deadlineMs: must be at least 1"),
        ("refreshSkewSeconds", Value::Num(4e7), "refreshSkewSeconds: must be at most 31536000 (a year)"),
        ("defaultExpiresInSeconds", Value::Num(9.0), "defaultExpiresInSeconds: must be at least 10 (the shortest lifetime tokenkit keeps a token for)"),
    ] {
        let mut pairs = base.to_vec();
        pairs.push((k, v));
        assert_eq!(config(&GENERIC, &pairs).unwrap_err().message(), message);
    }
    let err = config(&GENERIC, &[("clientId", s("id")), ("clientSecret", s("x"))]).unwrap_err();
    assert_eq!(err.message(), "tokenUrl: is required (or issuer, resource, brokerUrl or apiKey)");
    assert_eq!(
        Error::Timeout { what: "the token endpoint", after: Millis(10_000) }.message(),
        "the token endpoint did not answer within 10000 ms (timeoutMs, within deadlineMs)"
    );
    assert_eq!(
        Error::Timeout { what: "the authorization server's metadata", after: Millis(2_000) }.message(),
        "the authorization server's metadata did not answer within 2000 ms (timeoutMs, within deadlineMs)"
    );
}

#[test]
fn secrets_are_recognised_in_platform_text() {
    let cfg = standard(&[("clientSecret", s("hunter2-xyz"))]);
    assert!(cfg.mentions_secret("connect failed: hunter2-xyz@auth"));
    assert!(!cfg.mentions_secret("connect ECONNREFUSED 127.0.0.1:9"));
    let public = config(&GENERIC, &[("tokenUrl", s("https://a.example.com/t")), ("clientId", s("id")), ("clientAuth", s("none"))]).unwrap();
    assert!(!public.mentions_secret("anything"), "a public client has no secret");
    let key = config(&API_KEY, &[("apiKey", s("key-123")), ("allowedOrigins", s("https://api.example.com"))]).unwrap();
    assert!(key.mentions_secret("bad key-123"));
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
        &API_KEY,
        &[("apiKey", s("k-123")), ("header", s("X-Api-Key")), ("allowedOrigins", s("https://api.example.com"))],
    )
    .unwrap();
    assert!(matches!(cfg.source, Source::ApiKey { ref header, .. } if header.as_deref() == Some("X-Api-Key")));
    for (k, v) in [("header", s("bad header")), ("apiKey", s("line\nbreak")), ("tokenUrl", s("https://a.com/t"))] {
        let mut pairs = vec![("apiKey", s("k")), ("allowedOrigins", s("https://api.example.com"))];
        pairs.retain(|(key, _)| *key != k);
        pairs.push((k, v));
        let err = config(&API_KEY, &pairs).unwrap_err();
        assert_eq!(err.code(), "INVALID_CONFIG");
        assert!(err.message().starts_with(k), "{}", err.message());
    }
    let err = config(&API_KEY, &[("apiKey", s("k"))]).unwrap_err();
    assert_eq!(err.message(), "allowedOrigins: is required for an API key (the origins that may receive it)");
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
    let key = config(&API_KEY, &[("apiKey", s("super-key")), ("allowedOrigins", s("https://api.example.com"))]).unwrap();
    assert!(!format!("{key:?}").contains("super-key"));
    let t = ok_token(&cfg, &[("access_token", s("tok-SECRET"))], 0);
    assert!(!format!("{t:?}").contains("tok-SECRET"));
}

// ---------------------------------------------------------------- responses

fn respond(cfg: &Config, status: u16, body: Body, retry_after: Option<&str>) -> Result<Issued, Error> {
    let resp = HttpResponse {
        dpop_nonce: None,
        status,
        retry_after: retry_after.map(str::to_owned),
        body,
    };
    process_token_response(endpoint(cfg), &cfg.timing, &resp, WallMillis(1_000_500))
}

fn ok_token(cfg: &Config, fields: &[(&str, Value)], _x: u8) -> Issued {
    respond(cfg, 200, Body::Json(obj(fields)), None).unwrap()
}

/// What the shell hands the core for a body's text: `JSON.parse`, one level of fields kept.
fn body_of(text: &str) -> Body {
    serde_json::from_str::<serde_json::Value>(text).map_or(Body::NotJson, |j| Body::Json(json_value(&j, 1)))
}

/// tests/fixtures/rows/responses.json, the table tests/node/02-validation also reads: each
/// refused answer's code, status and message.
#[test]
fn malformed_responses_table() {
    let cfg = standard(&[]);
    let rows: serde_json::Value = serde_json::from_str(include_str!("fixtures/rows/responses.json")).unwrap();
    let rows = rows["rows"].as_array().unwrap();
    assert!(rows.len() >= 30);
    for row in rows {
        let (name, status) = (row["name"].as_str().unwrap(), row["status"].as_u64().unwrap() as u16);
        let (code, needle) = (row["code"].as_str().unwrap(), row["message"].as_str().unwrap());
        let err = respond(&cfg, status, body_of(row["body"].as_str().unwrap()), None).expect_err(name);
        assert_eq!(err.code(), code, "{name}: {}", err.message());
        assert!(err.message().contains(needle), "{name}: {} !~ {needle}", err.message());
        assert_eq!(err.status(), Some(status), "{name}");
    }
    // What only the core sees: a body over the cap, and an opaque redirect (status 0).
    for (status, body, needle) in [(200, Body::TooLarge, "larger than 64 KB"), (0, Body::NotJson, "redirect")] {
        let err = respond(&cfg, status, body, None).unwrap_err();
        assert_eq!(err.code(), "INVALID_RESPONSE");
        assert!(err.message().contains(needle), "{}", err.message());
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
    assert_eq!(t.lifetime, Secs(120), "whole seconds");
    assert_eq!(t.scope.as_deref(), Some("read"), "requested scope when omitted");

    let t = ok_token(&cfg, &[("access_token", s("abc")), ("expires_in", s("90")), ("scope", s("read write"))], 0);
    assert_eq!(t.lifetime, Secs(90));
    assert_eq!(t.scope.as_deref(), Some("read write"));

    let t = ok_token(&cfg, &[("access_token", s("abc"))], 0);
    assert_eq!(t.lifetime, Secs(3600), "default lifetime, token_type may be omitted");

    let t = ok_token(&cfg, &[("access_token", s("abc")), ("expires_in", Value::Num(1e12))], 0);
    assert_eq!(t.lifetime, Secs(365 * 24 * 3600), "capped at a year");

    // Honest expiry: a tiny lifetime is the server's, never stretched (how often tokenkit
    // asks again is the machine's MIN_INTERVAL: tests/machine.rs).
    for (short, whole) in [(0.0, 0), (3.0, 3), (9.99, 9)] {
        let t = ok_token(&cfg, &[("access_token", s("abc")), ("expires_in", Value::Num(short))], 0);
        assert_eq!(t.lifetime, Secs(whole), "expires_in {short}: the server's lifetime");
    }
}

#[test]
fn resource_is_sent_exactly_as_given() {
    for r in ["https://api.example.com", "https://api.example.com/", "https://API.example.com:443/v1?x=1"] {
        let cfg = standard(&[("resource", s(r))]);
        let mut want = String::from("resource=");
        url_encode_into(&mut want, r);
        assert!(endpoint(&cfg).token_request(Runtime::Browser).body.contains(&want), "{r}");
    }
}

fn url_encode_into(out: &mut String, v: &str) {
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

#[test]
fn request_policy_travels_as_data() {
    let cfg = standard(&[]);
    let browser = endpoint(&cfg).token_request(Runtime::Browser);
    assert_eq!((browser.redirect, browser.cache, browser.credentials), ("manual", Some("no-store"), Some("omit")));
    let workers = endpoint(&cfg).token_request(Runtime::Workerd);
    assert_eq!((workers.redirect, workers.cache, workers.credentials), ("manual", None, None), "workerd rejects cache/credentials");
}

#[test]
fn symbl_responses() {
    let cfg = config(
        &SYMBL,
        &[("appId", s("a")), ("appSecret", s("b")), ("defaultExpiresInSeconds", Value::Num(10.0))],
    )
    .unwrap();
    let t = respond(&cfg, 200, Body::Json(obj(&[("accessToken", s("tok")), ("expiresIn", Value::Num(86400.0))])), None).unwrap();
    assert_eq!(t.access_token.expose(), "tok");
    assert_eq!(t.lifetime, Secs(86_400));
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
    assert_eq!(respond(&cfg, 429, Body::NotJson, Some("3")).unwrap_err(), Error::RateLimited { status: 429, retry_after: Some(Secs(3)) });
}

#[test]
fn retry_after_forms() {
    let now = WallMillis(784_111_777_000 - 2_500); // 2.5 s before Sun, 06 Nov 1994 08:49:37 GMT
    let at = Some(WallMillis(784_111_777_000));
    // RFC 9110 §5.6.7: the preferred form and both obsolete forms mean the same instant.
    assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", now), at);
    assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", now), at);
    assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994", now), at);
    assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", now), Some(WallMillis(0)));
    assert!(parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT", now).is_some(), "a leap day");
    // RFC 850's two-digit year: more than 50 years ahead means the previous century.
    let in_2026 = WallMillis(1_795_000_000_000);
    assert_eq!(parse_http_date("Friday, 01-Jan-77 00:00:00 GMT", in_2026), parse_http_date("Sat, 01 Jan 1977 00:00:00 GMT", in_2026));
    assert_eq!(parse_http_date("Sunday, 01-Jan-30 00:00:00 GMT", in_2026), parse_http_date("Tue, 01 Jan 2030 00:00:00 GMT", in_2026));
    for impossible in [
        "Sat, 29 Feb 2025 00:00:00 GMT",
        "Mon, 30 Feb 2024 00:00:00 GMT",
        "Mon, 31 Apr 2024 00:00:00 GMT",
        "Mon, 00 Jan 2024 00:00:00 GMT",
        "Mon, 01 Jan 2024 24:00:00 GMT",
        "Mon, 01 Jan 2024 23:60:00 GMT",
        "Mon, 01 Foo 2024 00:00:00 GMT",
        "Sun, 06 Nov 1994 08:49:37 PST",
        "Sun, 06 Nov 1994 08:49:37 GMT extra",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sun Nov 31 08:49:37 1994",
        "garbage",
        "",
    ] {
        assert_eq!(parse_http_date(impossible, now), None, "{impossible:?}");
    }
    assert_eq!(parse_retry_after("120", now), Some(Secs(120)));
    assert_eq!(parse_retry_after(" 7 ", now), Some(Secs(7)));
    assert_eq!(parse_retry_after("-1", now), None);
    assert_eq!(parse_retry_after("1.5", now), None);
    assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Secs(3)), "rounded up");
    assert_eq!(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now), Some(Secs(3)));
    assert_eq!(parse_retry_after("Sun Nov  6 08:49:37 1994", now), Some(Secs(3)));
    assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", WallMillis(784_111_786_000)), Some(Secs(0)), "in the past");
    let cfg = standard(&[]);
    let err = respond(&cfg, 429, Body::NotJson, Some("Thu, 01 Jan 1970 00:16:41 GMT")).unwrap_err();
    assert_eq!(err, Error::RateLimited { status: 429, retry_after: Some(Secs(1)) }, "date minus now (1_000_500 ms)");
    // 503 carries its Retry-After too (RFC 9110 §10.2.3); other 5xx do not.
    let err = respond(&cfg, 503, Body::NotJson, Some("4")).unwrap_err();
    assert_eq!((err.code(), err.retry_after()), ("HTTP_ERROR", Some(Secs(4))));
    assert_eq!(respond(&cfg, 500, Body::NotJson, Some("4")).unwrap_err().retry_after(), None);
}

// ---------------------------------------------------------------- retry schedule

#[test]
fn retry_schedule() {
    let ms = |n| Some(Millis(n));
    let net = Error::network("the token endpoint", "https://auth.example.com/token", "");
    assert_eq!(retry_delay(&net, 0, 2, 0.0), ms(250));
    assert_eq!(retry_delay(&net, 0, 2, 0.999_999), ms(499));
    assert_eq!(retry_delay(&net, 1, 2, 0.0), ms(500));
    assert_eq!(retry_delay(&net, 1, 2, 0.5), ms(750));
    assert_eq!(retry_delay(&net, 2, 2, 0.0), None, "maxRetries reached");
    assert_eq!(retry_delay(&net, 9, 10, 0.0), ms(4000), "capped step");
    assert_eq!(retry_delay(&net, 0, 2, f64::NAN), ms(250));
    assert_eq!(retry_delay(&Error::Timeout { what: "the token endpoint", after: Millis(10_000) }, 0, 2, 0.0), ms(250), "a timeout is retried like a network error");
    let http = |status, retry_after| Error::Http { status, detail: "", retry_after };
    assert_eq!(retry_delay(&http(503, None), 0, 1, 0.0), ms(250));
    assert_eq!(retry_delay(&http(503, Some(Secs(3))), 0, 1, 0.0), ms(3000), "503 Retry-After honoured");
    let rl = |s: Option<u64>| Error::RateLimited { status: 429, retry_after: s.map(Secs) };
    assert_eq!(retry_delay(&rl(Some(2)), 0, 2, 0.0), ms(2000), "Retry-After honoured");
    assert_eq!(retry_delay(&rl(Some(0)), 0, 2, 0.0), ms(250));
    assert_eq!(retry_delay(&rl(Some(600)), 0, 2, 0.0), ms(600_000), "the deadline, not this, refuses long waits");
    assert_eq!(retry_delay(&rl(None), 0, 2, 0.0), ms(250));
    for never in [
        Error::OAuth { status: 401, error: "invalid_client".into(), description: None },
        http(404, None),
        Error::InvalidResponse { status: 200, reason: "x" },
        Error::UnsupportedTokenType { status: 200, token_type: "mac".into(), expected: "Bearer" },
    ] {
        assert_eq!(retry_delay(&never, 0, 5, 0.0), None, "{never:?}");
    }
}

#[test]
fn broker_client_config_and_request() {
    let cfg = config(
        &GENERIC,
        &[
            ("brokerUrl", s("https://edge.example.com/token")),
            ("credentials", s("include")),
            ("allowedOrigins", Value::List(vec![s("https://api.example.com")])),
        ],
    )
    .unwrap();
    let ep = endpoint(&cfg);
    assert_eq!(ep.credentials, tokenkit::proto::client::config::Credentials::Include);
    let req = ep.token_request(Runtime::Browser);
    assert_eq!(req.url, "https://edge.example.com/token");
    assert_eq!(req.body, "", "no credentials leave the browser");
    assert_eq!(req.headers, vec![("Accept", "application/json".to_owned())]);
    let t = respond(&cfg, 200, Body::Json(obj(&[("access_token", s("t")), ("expires_in", Value::Num(30.0))])), None).unwrap();
    assert_eq!(t.lifetime, Secs(30));
    // A broker's expires_in is the token's exact remaining life: never stretched to the
    // 10 s floor a token server's tiny lifetimes get (found by the soak: isolates served a
    // copy of the deployment's token for up to 9 s after it expired).
    let t = respond(&cfg, 200, Body::Json(obj(&[("access_token", s("t")), ("expires_in", Value::Num(3.0))])), None).unwrap();
    assert_eq!(t.lifetime, Secs(3));
    let t = respond(&cfg, 200, Body::Json(obj(&[("access_token", s("t")), ("expires_in", Value::Num(0.0))])), None).unwrap();
    assert_eq!(t.lifetime, Secs(0), "under a second left: not stretched to one (the soak served such tokens after they expired)");
    for (k, v, field) in [
        ("clientSecret", s("x"), "clientSecret"),
        ("tokenUrl", s("https://a.com/t"), "tokenUrl"),
        ("credentials", s("all"), "credentials"),
        ("brokerUrl", s("http://edge.example.com/token"), "brokerUrl"),
    ] {
        let mut pairs = vec![("brokerUrl", s("https://edge.example.com/token"))];
        pairs.retain(|(key, _)| *key != k);
        pairs.push((k, v));
        match config(&GENERIC, &pairs).unwrap_err() {
            Error::InvalidConfig { field: f, .. } => assert_eq!(f, field),
            e => panic!("{e:?}"),
        }
    }
}

/// Every error's code is in the one list the package's type and constants are generated from.
#[test]
fn every_error_code_is_in_the_generated_list() {
    use tokenkit::proto::error::CODES;
    #[cfg_attr(not(feature = "signin"), allow(unused_mut))]
    let mut errors = vec![
        Error::InvalidConfig { field: "x".into(), reason: "r" },
        Error::network("the token endpoint", "https://a.example/t", ""),
        Error::Timeout { what: "the token endpoint", after: Millis(1) },
        Error::OAuth { status: 400, error: "invalid_client".into(), description: None },
        Error::Http { status: 500, detail: "", retry_after: None },
        Error::RateLimited { status: 429, retry_after: None },
        Error::InvalidResponse { status: 200, reason: "r" },
        Error::Metadata { what: tokenkit::proto::error::AS_METADATA, status: 404, reason: "r" },
        Error::UnsupportedTokenType { status: 200, token_type: "mac".into(), expected: "Bearer" },
        Error::OriginNotAllowed { origin: "https://x.example".into() },
        Error::Disposed,
    ];
    #[cfg(feature = "signin")]
    errors.extend([Error::LoginRequired { reason: "r" }, Error::StateMismatch { reason: "r" }]);
    for e in &errors {
        assert!(CODES.contains(&e.code()), "{} is not in CODES", e.code());
    }
    let mut sorted = CODES.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), CODES.len(), "no code twice");
    // The codes no Rust error carries: the loader's, and (without sign-in) the sign-in's.
    let js_only: Vec<&&str> = CODES.iter().filter(|c| !errors.iter().any(|e| e.code() == **c)).collect();
    let expected: &[&str] = if cfg!(feature = "signin") { &["WASM_UNAVAILABLE"] } else { &["WASM_UNAVAILABLE", "LOGIN_REQUIRED", "STATE_MISMATCH"] };
    assert_eq!(js_only, expected.iter().collect::<Vec<_>>());
}
