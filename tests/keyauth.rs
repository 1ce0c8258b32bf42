//! `private_key_jwt` (RFC 7523 §2.2, draft-ietf-oauth-rfc7523bis, FAPI 2.0 §5.3.2.1): the
//! options that configure it, the assertion's header and claims byte for byte, the token
//! and revocation requests that carry it, and the audience a resource's metadata gives.
//! The key itself never reaches the core: these rows pass the shell's view of it.
#![cfg(all(not(target_arch = "wasm32"), feature = "server"))]

mod common;

use common::{obj, parse_url, s};
use tokenkit::proto::broker::config::{BrokerConfig, Role};
use tokenkit::proto::client::config::{Config, Source};
use tokenkit::proto::client::machine::{Action, Get, Machine};
use tokenkit::proto::client::presets::GENERIC;
use tokenkit::proto::client::request::Runtime;
#[cfg(feature = "signin")]
use tokenkit::proto::client::request::Call;
use tokenkit::proto::http::{Body, HttpResponse};
use tokenkit::proto::jwk::{ClientKey, ASSERTION_LIFETIME, ASSERTION_TYPE};
use tokenkit::proto::time::{Instant, Now, WallMillis};
use tokenkit::proto::value::Value;
use tokenkit::proto::Error;


const ISSUER: &str = "https://as.example/tenant";
const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

/// The shell's view of a P-256 private JWK (js/keyauth.js `jwkView`): `d: true`, never `d` itself.
fn ec_view(kid: Option<&str>) -> Value {
    let mut p = vec![("kty", s("EC")), ("crv", s("P-256")), ("x", s(X)), ("y", s(Y)), ("d", Value::Bool(true))];
    if let Some(k) = kid {
        p.push(("kid", s(k)));
    }
    obj(&p)
}

fn opts(extra: &[(&str, Value)]) -> Vec<(String, Value)> {
    let mut o = vec![
        ("tokenUrl", s("https://as.example/tenant/oauth/token")),
        ("issuer", s(ISSUER)),
        ("clientId", s("app 1")),
        ("clientAuth", s("private_key_jwt")),
        ("clientKey", ec_view(Some("key-1"))),
    ];
    for (k, v) in extra {
        o.retain(|(p, _)| p != k);
        if *v != Value::Null {
            o.push((k, v.clone()));
        }
    }
    o.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn config(extra: &[(&str, Value)]) -> Result<Config, Error> {
    Config::from_options(&GENERIC, &Value::Object(opts(extra)), &parse_url)
}

fn b64url_json(part: &str) -> serde_json::Value {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("base64url, unpadded");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// The header and claims of an assertion's signing input, and its exact header text.
fn parts(input: &str) -> (serde_json::Value, serde_json::Value) {
    let (h, c) = input.split_once('.').expect("header.claims");
    assert!(!c.contains('.'), "a signing input has two parts: the shell adds the signature");
    (b64url_json(h), b64url_json(c))
}

#[test]
fn options_that_configure_private_key_jwt_are_checked_by_name() {
    // (what, options changed (Null: left out), the field the message names)
    type Row<'a> = (&'a str, &'a [(&'a str, Value)], &'a str);
    let rows: &[Row] = &[
        ("no key", &[("clientKey", Value::Null)], "clientKey"),
        ("a key and a secret", &[("clientSecret", s("shh"))], "clientSecret"),
        ("a key without private_key_jwt", &[("clientAuth", Value::Null)], "clientKey"),
        ("a key with client_secret_post", &[("clientAuth", s("client_secret_post")), ("clientSecret", s("shh"))], "clientKey"),
        ("no audience: neither issuer nor assertionAudience", &[("issuer", Value::Null)], "assertionAudience"),
        ("an empty audience", &[("assertionAudience", s(""))], "assertionAudience"),
        ("a public JWK (no d)", &[("clientKey", obj(&[("kty", s("EC")), ("crv", s("P-256")), ("x", s(X)), ("y", s(Y))]))], "clientKey"),
        ("an HMAC CryptoKey", &[("clientKey", obj(&[("algorithm", s("HMAC")), ("param", s("SHA-256"))]))], "clientKey"),
        ("a P-192 curve", &[("clientKey", obj(&[("kty", s("EC")), ("crv", s("P-192")), ("x", s(X)), ("y", s(Y)), ("d", Value::Bool(true))]))], "clientKey"),
        ("an RSA key missing n", &[("clientKey", obj(&[("kty", s("RSA")), ("e", s("AQAB")), ("d", Value::Bool(true))]))], "clientKey"),
        ("a kid that is not text", &[("clientKey", obj(&[("kty", s("EC")), ("crv", s("P-256")), ("x", s(X)), ("y", s(Y)), ("d", Value::Bool(true)), ("kid", Value::Num(1.0))]))], "clientKey"),
        ("a string for a key", &[("clientKey", s("-----BEGIN PRIVATE KEY-----"))], "clientKey"),
        ("client_assertion in extraParams", &[("extraParams", obj(&[("client_assertion", s("x"))]))], "extraParams.client_assertion"),
        ("the symbl dialect", &[("dialect", s("symbl")), ("tokenUrl", s("https://as.example/t")), ("clientId", Value::Null), ("appId", s("a"))], "clientAuth"),
    ];
    for (what, change, field) in rows {
        let e = config(change).expect_err(what);
        assert_eq!(e.code(), "INVALID_CONFIG", "{what}");
        let Error::InvalidConfig { field: f, .. } = &e else { unreachable!() };
        assert_eq!(f, field, "{what}: {e:?}");
    }
    // A page is no place for a private key: the shell's runtime refuses it.
    let e = config(&[]).unwrap().check_runtime(Runtime::Browser).unwrap_err();
    assert_eq!((e.code(), e.message().contains("servers")), ("INVALID_CONFIG", true), "{e:?}");
    for r in [Runtime::Node, Runtime::Workerd] {
        assert!(config(&[]).unwrap().check_runtime(r).is_ok());
    }
}

#[test]
fn the_assertion_header_and_claims_byte_for_byte() {
    // (key view, expected JWS alg, expected header JSON)
    let rows: &[(Value, &str, &str)] = &[
        (ec_view(Some("key-1")), "ES256", r#"{"alg":"ES256","kid":"key-1","typ":"client-authentication+jwt"}"#),
        (ec_view(None), "ES256", r#"{"alg":"ES256","typ":"client-authentication+jwt"}"#),
        (obj(&[("kty", s("EC")), ("crv", s("P-384")), ("x", s(X)), ("y", s(Y)), ("d", Value::Bool(true))]), "ES384", r#"{"alg":"ES384","typ":"client-authentication+jwt"}"#),
        (obj(&[("kty", s("RSA")), ("n", s("sXch")), ("e", s("AQAB")), ("d", Value::Bool(true)), ("kid", s("r\"1"))]), "RS256", r#"{"alg":"RS256","kid":"r\"1","typ":"client-authentication+jwt"}"#),
        (obj(&[("kty", s("RSA")), ("n", s("sXch")), ("e", s("AQAB")), ("alg", s("PS256")), ("d", Value::Bool(true))]), "PS256", r#"{"alg":"PS256","typ":"client-authentication+jwt"}"#),
        (obj(&[("kty", s("OKP")), ("crv", s("Ed25519")), ("x", s(X)), ("d", Value::Bool(true))]), "EdDSA", r#"{"alg":"EdDSA","typ":"client-authentication+jwt"}"#),
        (obj(&[("algorithm", s("ECDSA")), ("param", s("P-256"))]), "ES256", r#"{"alg":"ES256","typ":"client-authentication+jwt"}"#),
        (obj(&[("algorithm", s("RSA-PSS")), ("param", s("SHA-256"))]), "PS256", r#"{"alg":"PS256","typ":"client-authentication+jwt"}"#),
        (obj(&[("algorithm", s("Ed25519")), ("param", s(""))]), "EdDSA", r#"{"alg":"EdDSA","typ":"client-authentication+jwt"}"#),
    ];
    for (view, alg, header) in rows {
        let key = ClientKey::from_view(view).unwrap();
        assert_eq!(key.alg, *alg);
        let input = key.assertion("app 1", ISSUER, 1_700_000_000, &[0xfb; 16]);
        let (h, _) = input.split_once('.').unwrap();
        use base64::Engine;
        let text = String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap();
        assert_eq!(text, *header);
        let (_, c) = parts(&input);
        assert_eq!(
            c,
            serde_json::json!({"iss": "app 1", "sub": "app 1", "aud": ISSUER, "jti": "-_v7-_v7-_v7-_v7-_v7-w", "iat": 1_700_000_000u64, "exp": 1_700_000_060u64}),
        );
    }
    assert_eq!(ASSERTION_LIFETIME.0, 60, "FAPI 2.0: at most 60 s");
}

fn at(ms: u64) -> Now {
    Now { mono: Instant(ms), wall: WallMillis(1_700_000_000_000 + ms) }
}

fn send(m: &mut Machine) -> tokenkit::proto::http::HttpRequest {
    while let Some(a) = m.poll() {
        if let Action::Send(_) = a {
            return m.request().unwrap();
        }
    }
    panic!("nothing sent");
}

#[test]
fn the_token_request_carries_the_assertion_and_no_secret() {
    let cfg = config(&[("scope", s("read"))]).unwrap();
    let mut m = Machine::new(cfg, Runtime::Node, 1);
    let Get::Wait(_) = m.get(at(0)) else { panic!() };
    let req = send(&mut m);
    assert!(req.assertion, "the shell appends a signed assertion");
    assert_eq!(
        req.body,
        format!("grant_type=client_credentials&scope=read&client_id=app+1&client_assertion_type={}&client_assertion=", ASSERTION_TYPE.replace(':', "%3A"))
    );
    assert!(!req.headers.iter().any(|(k, _)| *k == "Authorization"), "no Basic credentials");
    // Each attempt's assertion is made then, with that attempt's jti and time.
    let a = m.client_assertion(WallMillis(1_700_000_000_500), &[1; 16]).unwrap();
    let b = m.client_assertion(WallMillis(1_700_000_030_999), &[2; 16]).unwrap();
    let ((_, ca), (_, cb)) = (parts(&a), parts(&b));
    assert_ne!(ca["jti"], cb["jti"]);
    assert_eq!((ca["iat"].as_u64(), cb["iat"].as_u64(), cb["exp"].as_u64()), (Some(1_700_000_000), Some(1_700_000_030), Some(1_700_000_090)));
    // assertionAudience wins over the issuer (a server that still wants its token endpoint).
    let cfg = config(&[("assertionAudience", s("https://as.example/tenant/oauth/token"))]).unwrap();
    let m = Machine::new(cfg, Runtime::Node, 1);
    assert_eq!(parts(&m.client_assertion(WallMillis(0), &[0; 16]).unwrap()).1["aud"], "https://as.example/tenant/oauth/token");
    // A client secret client's requests ask for no assertion.
    let cfg = config(&[("clientAuth", Value::Null), ("clientKey", Value::Null), ("clientSecret", s("shh"))]).unwrap();
    let m = Machine::new(cfg, Runtime::Node, 1);
    assert!(m.client_assertion(WallMillis(0), &[0; 16]).is_none());
}

#[cfg(feature = "signin")]
#[test]
fn revocation_and_code_exchange_carry_it_too() {
    let o = opts(&[
        ("grant", s("authorization_code")),
        ("authorizeUrl", s("https://as.example/tenant/authorize")),
        ("redirectUri", s("https://app.example/cb")),
        ("revocationUrl", s("https://as.example/tenant/revoke")),
    ]);
    let cfg = Config::from_options(&GENERIC, &Value::Object(o), &parse_url).unwrap();
    let Source::Endpoint(ep) = &cfg.source else { panic!() };
    for call in [
        Call::Code { code: "c", verifier: "v", redirect_uri: "https://app.example/cb" },
        Call::Refresh { refresh_token: "rt" },
        Call::Revoke { url: "https://as.example/tenant/revoke", token: "rt", hint: "refresh_token" },
    ] {
        let req = ep.request(Runtime::Node, call);
        assert!(req.assertion && req.body.ends_with("&client_assertion="), "{}", req.body);
        assert!(!req.headers.iter().any(|(k, _)| *k == "Authorization"));
    }
}

#[test]
fn a_resource_alone_gives_the_assertion_its_audience_once_discovered() {
    const API: &str = "https://api.example/v1";
    let o = opts(&[("tokenUrl", Value::Null), ("issuer", Value::Null), ("resource", s(API)), ("allowedOrigins", Value::List(vec![s("https://api.example")]))]);
    let mut m = Machine::new(Config::from_options(&GENERIC, &Value::Object(o), &parse_url).unwrap(), Runtime::Node, 7);
    assert!(m.client_assertion(WallMillis(0), &[0; 16]).is_none(), "no audience before discovery: nothing to sign");
    let ok = |b: Value| HttpResponse { status: 200, retry_after: None, dpop_nonce: None, body: Body::Json(b) };
    let Get::Wait(_) = m.get(at(0)) else { panic!() };
    let first = next_send(&mut m);
    let r = m.request().unwrap();
    assert!(!r.assertion && r.body.is_empty(), "no assertion to a metadata location");
    m.handle_response(first, Ok(ok(obj(&[("resource", s(API)), ("authorization_servers", Value::List(vec![s(ISSUER)]))]))), at(5), &parse_url);
    let second = next_send(&mut m);
    assert!(!m.request().unwrap().assertion);
    let md = obj(&[("issuer", s(ISSUER)), ("token_endpoint", s("https://as.example/tenant/oauth/token"))]);
    m.handle_response(second, Ok(ok(md)), at(10), &parse_url);
    next_send(&mut m);
    let req = m.request().unwrap();
    assert!(req.assertion && req.url == "https://as.example/tenant/oauth/token");
    assert_eq!(parts(&m.client_assertion(WallMillis(0), &[0; 16]).unwrap()).1["aud"], ISSUER, "the issuer the resource named");
}

fn next_send(m: &mut Machine) -> tokenkit::proto::client::machine::AttemptId {
    while let Some(a) = m.poll() {
        if let Action::Send(id) = a {
            return id;
        }
    }
    panic!("nothing sent");
}

#[test]
fn the_broker_takes_client_key_and_names_its_variables() {
    let env = |pairs: &[(&str, &str)], key: Option<Value>| {
        let m: std::collections::HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        BrokerConfig::from_env(Role::Edge, &|k| m.get(k).cloned(), key.as_ref(), &parse_url)
    };
    let base = [("TOKEN_URL", "https://as.example/tenant/oauth/token"), ("ISSUER", ISSUER), ("CLIENT_ID", "broker"), ("CLIENT_AUTH", "private_key_jwt"), ("PROXY_ORIGIN", "https://api.example")];
    let cfg = env(&base, Some(ec_view(Some("k")))).expect("no CLIENT_SECRET at all");
    let Source::Endpoint(ep) = &cfg.upstream.source else { panic!() };
    assert!(ep.client_secret.is_none() && ep.key_auth.is_some());
    assert_eq!(ep.key_auth.as_ref().and_then(|k| k.audience.as_deref()), Some(ISSUER));
    for (what, pairs, key, var) in [
        ("no CLIENT_KEY", base.to_vec(), None, "CLIENT_KEY"),
        ("CLIENT_KEY not JSON (the shell's empty view)", base.to_vec(), Some(s("")), "CLIENT_KEY"),
        ("a public JWK", base.to_vec(), Some(obj(&[("kty", s("EC")), ("crv", s("P-256")), ("x", s(X)), ("y", s(Y))])), "CLIENT_KEY"),
        ("CLIENT_KEY without private_key_jwt", vec![base[0], base[1], base[2], base[4], ("CLIENT_SECRET", "s")], Some(ec_view(None)), "CLIENT_KEY"),
        ("a secret too", [base.to_vec(), vec![("CLIENT_SECRET", "s")]].concat(), Some(ec_view(None)), "CLIENT_SECRET"),
        ("no ISSUER nor ASSERTION_AUDIENCE", vec![base[0], base[2], base[3], base[4]], Some(ec_view(None)), "ASSERTION_AUDIENCE"),
    ] {
        let e = env(&pairs, key).expect_err(what);
        assert_eq!(e.var, var, "{what}: {e:?}");
    }
    let ok = env(&[base[0], base[2], base[3], base[4], ("ASSERTION_AUDIENCE", "https://as.example/tenant/oauth/token")], Some(ec_view(None))).unwrap();
    let Source::Endpoint(ep) = &ok.upstream.source else { panic!() };
    assert_eq!(ep.key_auth.as_ref().and_then(|k| k.audience.as_deref()), Some("https://as.example/tenant/oauth/token"));
}

/// The key-authentication part alone: no assertion before its audience is known; the
/// issuer a resource's metadata names becomes the audience, unless one was configured.
#[test]
fn the_key_part_signs_nothing_without_an_audience_and_keeps_a_configured_one() {
    use tokenkit::proto::jwk::KeyAuth;
    let key = ClientKey::from_view(&ec_view(Some("k1"))).unwrap();
    let mut part = KeyAuth { key: key.clone(), audience: None };
    assert_eq!(part.assertion("c", 1_700_000_000, &[7; 16]), None, "nothing is signed before the audience is known");
    part.discovered("https://as.example/one");
    part.discovered("https://as.example/two");
    let input = part.assertion("c", 1_700_000_000, &[7; 16]).expect("an audience now");
    assert_eq!(input, key.assertion("c", "https://as.example/one", 1_700_000_000, &[7; 16]), "the first issuer named, not a later one");
    let mut configured = KeyAuth { key, audience: Some("https://as.example/token".into()) };
    configured.discovered("https://as.example/one");
    assert_eq!(configured.audience.as_deref(), Some("https://as.example/token"));
}
