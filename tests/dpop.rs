//! DPoP (RFC 9449) in the core: the proofs (src/proto/dpop.rs), the nonces per origin, and
//! the machine's rules for a nonce challenge and a token's type. Each table row names the
//! mistake it guards against.
#![cfg(all(not(target_arch = "wasm32"), feature = "dpop"))]

mod common;

use base64::Engine;
use common::{ec_jwk, parse_url};
use tokenkit::proto::client::config::Config;
use tokenkit::proto::client::machine::{Action, Get, Machine, Outcome};
use tokenkit::proto::client::presets::GENERIC;
use tokenkit::proto::client::request::Runtime;
use tokenkit::proto::dpop::{is_nonce_error, nonce_challenge, DpopKey, Nonces, MAX_NONCES, MAX_NONCE_LEN};
use tokenkit::proto::http::{Body, HttpResponse};
use tokenkit::proto::time::{Instant, Now, WallMillis};
use tokenkit::proto::value::Value;
use tokenkit::proto::Error;

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

fn obj(pairs: &[(&str, Value)]) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

fn b64(s: &str) -> String {
    String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap()
}

/// The proof's header and claims, decoded.
fn parts(input: &str) -> (String, String) {
    let (h, c) = input.split_once('.').unwrap();
    (b64(h), b64(c))
}

#[test]
fn a_proof_carries_the_public_key_only_and_the_claims_of_its_request() {
    let key = DpopKey::new("ECDSA", "P-256", &ec_jwk()).unwrap();
    assert_eq!(key.alg, "ES256");
    // RFC 7638 §3.2: the required members only, sorted, no whitespace (not key_ops, not ext).
    let thumb = r#"{"crv":"P-256","kty":"EC","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
    assert_eq!(key.thumbprint_input, thumb);
    let jti = [7u8; 16];
    // (what, htm, htu, ath, nonce, claims)
    type Row<'a> = (&'a str, &'a str, &'a str, Option<&'a [u8]>, Option<&'a str>, String);
    let rows: &[Row] = &[
        ("a token request without a nonce: no ath, no nonce", "POST", "https://as.example/token", None, None,
            r#"{"jti":"BwcHBwcHBwcHBwcHBwcHBw","htm":"POST","htu":"https://as.example/token","iat":1700000000}"#.to_owned()),
        ("the server's nonce goes in", "POST", "https://as.example/token", None, Some("n-1"),
            r#"{"jti":"BwcHBwcHBwcHBwcHBwcHBw","htm":"POST","htu":"https://as.example/token","iat":1700000000,"nonce":"n-1"}"#.to_owned()),
        ("a resource request: ath of the token", "GET", "https://api.example/data", Some(&[0xff; 32]), None,
            r#"{"jti":"BwcHBwcHBwcHBwcHBwcHBw","htm":"GET","htu":"https://api.example/data","iat":1700000000,"ath":"__________________________________________8"}"#.to_owned()),
        ("a method fetch does not normalise, and a URL needing escapes, as JSON", "patch", "https://api.example/a\"b", None, None,
            r#"{"jti":"BwcHBwcHBwcHBwcHBwcHBw","htm":"patch","htu":"https://api.example/a\"b","iat":1700000000}"#.to_owned()),
    ];
    for (what, htm, htu, ath, nonce, claims) in rows {
        let (header, got) = parts(&key.proof(htm, htu, 1_700_000_000, &jti, *ath, *nonce));
        assert_eq!(header, format!(r#"{{"alg":"ES256","jwk":{thumb},"typ":"dpop+jwt"}}"#), "{what}");
        assert_eq!(&got, claims, "{what}");
    }
    // A fresh jti per proof: the same inputs with other random bytes give another proof.
    assert_ne!(key.proof("POST", "https://as.example/token", 1, &[1; 16], None, None), key.proof("POST", "https://as.example/token", 1, &[2; 16], None, None));
}

#[test]
fn only_keys_a_proof_can_be_made_with_are_taken() {
    let okp = obj(&[("kty", s("OKP")), ("crv", s("Ed25519")), ("x", s("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"))]);
    let rsa = obj(&[("kty", s("RSA")), ("n", s("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")), ("e", s("AQAB"))]);
    assert_eq!(DpopKey::new("Ed25519", "", &okp).unwrap().thumbprint_input, r#"{"crv":"Ed25519","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#);
    let rs = DpopKey::new("RSASSA-PKCS1-v1_5", "SHA-256", &rsa).unwrap();
    assert_eq!((rs.alg, &rs.thumbprint_input[..14]), ("RS256", r#"{"e":"AQAB","k"#));
    assert_eq!(DpopKey::new("RSA-PSS", "SHA-256", &rsa).unwrap().alg, "PS256");
    let with = |k: &str, v: Value| match ec_jwk() {
        Value::Object(mut o) => {
            o.retain(|(n, _)| n != k);
            if !matches!(v, Value::Null) {
                o.push((k.into(), v));
            }
            Value::Object(o)
        }
        _ => unreachable!(),
    };
    // (what, name, param, jwk)
    let refused: &[(&str, &str, &str, Value)] = &[
        ("an encryption key", "RSA-OAEP", "SHA-256", rsa.clone()),
        ("a hash no alg names", "RSASSA-PKCS1-v1_5", "SHA-1", rsa.clone()),
        ("a curve that is not the key's", "ECDSA", "P-384", ec_jwk()),
        ("another kty", "ECDSA", "P-256", with("kty", s("RSA"))),
        ("no y", "ECDSA", "P-256", with("y", Value::Null)),
        ("x not base64url", "ECDSA", "P-256", with("x", s("f83O+J3D/xF1="))),
        ("x empty", "ECDSA", "P-256", with("x", s(""))),
        ("not an object", "ECDSA", "P-256", s("{}")),
        ("an RSA key as Ed25519", "Ed25519", "", rsa.clone()),
    ];
    for (what, name, param, jwk) in refused {
        match DpopKey::new(name, param, jwk) {
            Err(Error::InvalidConfig { field, .. }) => assert_eq!(field, "dpop.keyPair", "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn nonces_are_kept_per_origin_bounded_and_only_when_well_formed() {
    let mut n = Nonces::default();
    assert!(n.take("https://as.example", "a1"));
    assert!(n.take("https://api.example", "r1"));
    // A nonce is for the server that gave it (RFC 9449 §9): never another origin's.
    assert_eq!((n.get("https://as.example"), n.get("https://api.example"), n.get("https://other.example")), (Some("a1"), Some("r1"), None));
    assert!(!n.take("https://as.example", "a1"), "the same nonce again is not new");
    assert!(n.take("https://as.example", "a2"), "a new one replaces it");
    assert_eq!(n.get("https://as.example"), Some("a2"));
    // §8.1: nonce = 1*NQCHAR (%x21 / %x23-5B / %x5D-7E); too long is not kept either.
    for bad in ["", "has space", "quo\"te", "back\\slash", "tab\t", "caf\u{e9}", &"x".repeat(MAX_NONCE_LEN + 1)] {
        assert!(!n.take("https://as.example", bad), "{bad:?}");
        assert_eq!(n.get("https://as.example"), Some("a2"), "{bad:?} left the nonce held");
    }
    assert!(n.take("https://as.example", &"x".repeat(MAX_NONCE_LEN)));
    // Bounded: the oldest origin goes first.
    let mut n = Nonces::default();
    for i in 0..=MAX_NONCES {
        n.take(&format!("https://s{i}.example"), "v");
    }
    assert_eq!(n.get("https://s0.example"), None);
    assert_eq!(n.get(&format!("https://s{MAX_NONCES}.example")), Some("v"));
    n.clear();
    assert_eq!(n.get(&format!("https://s{MAX_NONCES}.example")), None);
}

#[test]
fn nonce_demands_are_read_exactly() {
    let oauth = |status, error: &str| Error::OAuth { status, error: error.into(), description: None };
    assert!(is_nonce_error(&oauth(400, "use_dpop_nonce")));
    for (what, e) in [("a substring", oauth(400, "use_dpop_nonce_please")), ("another status", oauth(401, "use_dpop_nonce")), ("another error", oauth(400, "invalid_dpop_proof"))] {
        assert!(!is_nonce_error(&e), "{what}");
    }
    let rows: &[(Option<&str>, bool)] = &[
        (Some(r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#), true),
        (Some(r#"dpop algs="ES256", error="use_dpop_nonce""#), true),
        (Some(r#"Bearer realm="x", DPoP error="use_dpop_nonce""#), true),
        (Some(r#"Bearer error="use_dpop_nonce""#), false),
        (Some(r#"DPoP error="invalid_token""#), false),
        (Some(r#"DPoP error_description="use_dpop_nonce""#), false),
        (None, false),
    ];
    for (www, want) in rows {
        assert_eq!(nonce_challenge(*www), *want, "{www:?}");
    }
}

// ------------------------------------------------------------------ the machine

fn config(dpop: bool) -> Config {
    let mut o = vec![
        ("tokenUrl".to_owned(), s("https://as.example/oauth/token?tenant=1")),
        ("clientId".to_owned(), s("id")),
        ("clientSecret".to_owned(), s("secret")),
        ("allowedOrigins".to_owned(), Value::List(vec![s("https://api.example")])),
    ];
    if dpop {
        o.push(("dpop".to_owned(), Value::Bool(true)));
    }
    Config::from_options(&GENERIC, &Value::Object(o), &parse_url).unwrap()
}

fn at(ms: u64) -> Now {
    Now { mono: Instant(ms), wall: WallMillis(1_700_000_000_000 + ms) }
}

fn json(pairs: &[(&str, Value)]) -> Body {
    Body::Json(obj(pairs))
}

fn answer(status: u16, nonce: Option<&str>, body: Body) -> Result<HttpResponse, Error> {
    Ok(HttpResponse { status, retry_after: None, dpop_nonce: nonce.map(str::to_owned), body })
}

fn token(kind: &str) -> Body {
    json(&[("access_token", s("tok")), ("token_type", s(kind)), ("expires_in", Value::Num(300.0))])
}

fn nonce_error() -> Body {
    json(&[("error", s("use_dpop_nonce"))])
}

/// Drains the machine's actions: the attempts it sends, and whether a flight settled.
fn drain(m: &mut Machine) -> (Vec<tokenkit::proto::client::machine::AttemptId>, bool) {
    let (mut sends, mut woke) = (Vec::new(), false);
    while let Some(a) = m.poll() {
        match a {
            Action::Send(id) => sends.push(id),
            Action::Wake => woke = true,
            _ => {}
        }
    }
    (sends, woke)
}

fn dpop_machine() -> Machine {
    let mut m = Machine::new(config(true), Runtime::Node, 1);
    m.set_dpop_key(DpopKey::new("ECDSA", "P-256", &ec_jwk()).unwrap());
    m
}

#[test]
fn the_token_endpoint_gets_a_fresh_proof_per_attempt_and_its_nonce_retry_happens_once() {
    let mut m = dpop_machine();
    let Get::Wait(flight) = m.get(at(0)) else { panic!() };
    let (sends, _) = drain(&mut m);
    let first = parts(&m.token_proof(WallMillis(1_700_000_000_000), &[1; 16]).unwrap()).1;
    // htu is the endpoint's origin and path: never its query (RFC 9449 §4.2).
    assert_eq!(first, r#"{"jti":"AQEBAQEBAQEBAQEBAQEBAQ","htm":"POST","htu":"https://as.example/oauth/token","iat":1700000000}"#);
    // 400 use_dpop_nonce with a nonce: sent again at once, with the nonce, no retry counted.
    m.handle_response(sends[0], answer(400, Some("n1"), nonce_error()), at(10), &parse_url);
    let (again, woke) = drain(&mut m);
    assert_eq!((again.len(), woke), (1, false), "one immediate resend, the waiter still waits");
    let second = parts(&m.token_proof(WallMillis(1_700_000_000_010), &[2; 16]).unwrap()).1;
    assert!(second.ends_with(r#","nonce":"n1"}"#), "{second}");
    // A server that demands a new nonce every time: the second demand fails the request.
    m.handle_response(again[0], answer(400, Some("n2"), nonce_error()), at(20), &parse_url);
    let (none, woke) = drain(&mut m);
    assert_eq!((none.len(), woke), (0, true), "never a second nonce retry");
    assert!(matches!(m.outcome(flight), Outcome::Done(Err(Error::OAuth { ref error, .. })) if error == "use_dpop_nonce"));
    // The nonce of that last answer is kept for the next request.
    let Get::Wait(_) = m.get(at(10_000)) else { panic!() };
    drain(&mut m);
    assert!(parts(&m.token_proof(WallMillis(0), &[3; 16]).unwrap()).1.ends_with(r#","nonce":"n2"}"#));
}

#[test]
fn a_nonce_demand_without_a_new_nonce_is_not_sent_again() {
    for (what, nonce) in [("no DPoP-Nonce header", None), ("a malformed one", Some("bad nonce")), ("the nonce already sent", Some("n1"))] {
        let mut m = dpop_machine();
        let Get::Wait(flight) = m.get(at(0)) else { panic!() };
        let (sends, _) = drain(&mut m);
        if nonce == Some("n1") {
            // The server gave n1 on an earlier answer; the proof carried it; it asks again with n1.
            m.handle_response(sends[0], answer(400, Some("n1"), nonce_error()), at(1), &parse_url);
            let (again, _) = drain(&mut m);
            m.handle_response(again[0], answer(400, Some("n1"), nonce_error()), at(2), &parse_url);
        } else {
            m.handle_response(sends[0], answer(400, nonce, nonce_error()), at(1), &parse_url);
        }
        let (more, woke) = drain(&mut m);
        assert_eq!((more.len(), woke), (0, true), "{what}");
        assert!(matches!(m.outcome(flight), Outcome::Done(Err(_))), "{what}");
    }
}

#[test]
fn a_nonce_on_a_success_is_kept_for_the_next_request() {
    let mut m = dpop_machine();
    let Get::Wait(_) = m.get(at(0)) else { panic!() };
    let (sends, _) = drain(&mut m);
    m.handle_response(sends[0], answer(200, Some("next"), token("DPoP")), at(5), &parse_url);
    drain(&mut m);
    assert!(parts(&m.token_proof(WallMillis(0), &[4; 16]).unwrap()).1.ends_with(r#","nonce":"next"}"#));
}

#[test]
fn with_dpop_only_dpop_tokens_are_taken_and_sent_with_their_scheme() {
    // (what, dpop on, token_type, taken)
    let rows: &[(&str, bool, Option<&str>, bool)] = &[
        ("DPoP with dpop on", true, Some("DPoP"), true),
        ("the type in another case (RFC 6749 §5.1: case-insensitive)", true, Some("dpop"), true),
        ("a Bearer answer to a DPoP request: a token any thief could use", true, Some("Bearer"), false),
        ("no token_type with dpop on: not known to be bound", true, None, false),
        ("DPoP without the option", false, Some("DPoP"), false),
        ("Bearer without the option", false, Some("Bearer"), true),
    ];
    for (what, dpop, kind, taken) in rows {
        let mut m = if *dpop { dpop_machine() } else { Machine::new(config(false), Runtime::Node, 1) };
        let Get::Wait(flight) = m.get(at(0)) else { panic!() };
        let (sends, _) = drain(&mut m);
        let body = match kind {
            Some(k) => token(k),
            None => json(&[("access_token", s("tok")), ("expires_in", Value::Num(300.0))]),
        };
        m.handle_response(sends[0], answer(200, None, body), at(5), &parse_url);
        drain(&mut m);
        match (m.outcome(flight), taken) {
            (Outcome::Done(Ok(t)), true) => {
                let header = tokenkit::proto::client::sign::authorization(m.config().unwrap(), &t).1;
                assert_eq!(header, if *dpop { "DPoP tok" } else { "Bearer tok" }, "{what}");
            }
            (Outcome::Done(Err(Error::UnsupportedTokenType { token_type, expected, .. })), false) => {
                assert_eq!(expected, if *dpop { "DPoP" } else { "Bearer" }, "{what}");
                assert_eq!(token_type, kind.unwrap_or("(none)"), "{what}: names what came back");
            }
            (other, _) => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn a_resource_servers_nonce_challenge_keeps_the_token_and_is_answered_once() {
    let mut m = dpop_machine();
    let Get::Wait(_) = m.get(at(0)) else { panic!() };
    let (sends, _) = drain(&mut m);
    m.handle_response(sends[0], answer(200, Some("as-nonce"), token("DPoP")), at(5), &parse_url);
    drain(&mut m);
    let Get::Ready(t) = m.get(at(6)) else { panic!() };
    // The resource server's nonce is its own: the token endpoint's never goes there.
    let proof = parts(&m.resource_proof("GET", "https://api.example", "/data", Some(&[0; 32]), WallMillis(0), &[5; 16]).unwrap()).1;
    assert!(!proof.contains("nonce"), "{proof}");
    m.take_nonce("https://api.example", "rs-nonce");
    let www = Some(r#"DPoP error="use_dpop_nonce""#);
    assert!(m.unauthorized(t.id, www, true), "send again with the nonce");
    assert!(!m.unauthorized(t.id, www, false), "not a body that cannot be sent again (a stream)");
    let Get::Ready(still) = m.get(at(7)) else { panic!("a nonce challenge dropped the token") };
    assert_eq!(still.id, t.id);
    let proof = parts(&m.resource_proof("GET", "https://api.example", "/data", Some(&[0; 32]), WallMillis(0), &[6; 16]).unwrap()).1;
    assert!(proof.ends_with(r#","nonce":"rs-nonce"}"#), "{proof}");
    // A challenge of the Bearer scheme does not speak of a DPoP token: it is kept.
    assert!(!m.unauthorized(t.id, Some(r#"Bearer error="invalid_token""#), true));
    assert!(matches!(m.get(at(8)), Get::Ready(_)));
    // A refused DPoP token (DPoP error="invalid_token": RFC 9449 §7.1) is dropped and the
    // request sent again once with a new one, as a Bearer token is.
    assert!(m.unauthorized(t.id, Some(r#"DPoP error="invalid_token""#), true));
    assert!(matches!(m.get(at(9)), Get::Wait(_)), "the refused token was kept");
    drain(&mut m);
    // dispose() forgets the key and the nonces.
    m.dispose();
    assert!(m.dpop_key().is_none());
    assert!(m.resource_proof("GET", "https://api.example", "/data", Some(&[0; 32]), WallMillis(0), &[7; 16]).is_none());
}

#[test]
fn the_option_is_checked() {
    let opts = |dpop: Value, dialect: Option<&str>| {
        let mut o = vec![("tokenUrl".to_owned(), s("https://as.example/token")), ("clientId".to_owned(), s("id")), ("clientSecret".to_owned(), s("x")), ("dpop".to_owned(), dpop)];
        if let Some(d) = dialect {
            o.push(("dialect".to_owned(), s(d)));
        }
        Config::from_options(&GENERIC, &Value::Object(o), &parse_url)
    };
    assert!(opts(Value::Bool(true), None).is_ok());
    assert!(opts(Value::Bool(false), None).is_ok_and(|c| matches!(c.source, tokenkit::proto::client::config::Source::Endpoint(ref ep) if ep.dpop.is_none())));
    assert!(opts(obj(&[("keyPair", Value::Other)]), None).is_ok());
    for (what, v, dialect, reason) in [
        ("a string", s("yes"), None, "must be true, false or { keyPair } (a CryptoKeyPair)"),
        ("an unknown member", obj(&[("keyPair", Value::Other), ("persist", Value::Bool(true))]), None, "must be true, false or { keyPair } (a CryptoKeyPair)"),
        ("no keyPair", obj(&[]), None, "must be true, false or { keyPair } (a CryptoKeyPair)"),
        ("Symbl's JSON endpoint", Value::Bool(true), Some("symbl"), "needs the oauth2 dialect"),
    ] {
        match opts(v, dialect) {
            Err(Error::InvalidConfig { field, reason: r }) => assert_eq!((field.as_str(), r), ("dpop", reason), "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    for (what, v, dialect, reason) in [("a number", Value::Num(1.0), None, "must be true, false or { keyPair } (a CryptoKeyPair)")] {
        match opts(v, dialect) {
            Err(Error::InvalidConfig { field, reason: r }) => assert_eq!((field.as_str(), r), ("dpop", reason), "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn the_revocation_endpoint_nonce_demand_is_answered_once() {
    let mut m = dpop_machine();
    let rv = "https://rv.example";
    let proof_nonce = |m: &Machine| parts(&m.resource_proof("POST", rv, "/revoke", None, WallMillis(0), &[3; 16]).unwrap()).1;
    // (status, error, DPoP-Nonce, attempt) -> send again?
    for (status, error, nonce, attempt, again) in [
        (400, Some("use_dpop_nonce"), Some("r1"), 0, true),
        (400, Some("use_dpop_nonce"), Some("r2"), 1, false), // a new nonce every time: two requests, no storm
        (400, Some("use_dpop_nonce"), Some("r2"), 0, false), // not a new nonce: sending again cannot help
        (400, Some("use_dpop_nonce"), None, 0, false),
        (400, Some("invalid_request"), Some("r3"), 0, false),
        (401, Some("use_dpop_nonce"), Some("r4"), 0, false),
        (200, None, Some("r5"), 0, false),
        (400, Some("use_dpop_nonce"), Some("bad nonce\u{7f}"), 0, false), // not 1*NQCHAR: ignored
    ] {
        assert_eq!(m.server_answer(rv, attempt, status, error, nonce), again, "{status} {error:?} {nonce:?} attempt {attempt}");
    }
    // Every well-formed nonce was taken, 2xx included: the next proof carries the last.
    assert!(proof_nonce(&m).ends_with(r#","nonce":"r5"}"#), "{}", proof_nonce(&m));
    // The token endpoint's nonce is another origin's.
    assert!(!parts(&m.token_proof(WallMillis(0), &[4; 16]).unwrap()).1.contains("r5"));
    // Without DPoP nothing is taken or sent again.
    let mut plain = Machine::new(config(false), Runtime::Node, 1);
    assert!(!plain.server_answer(rv, 0, 400, Some("use_dpop_nonce"), Some("x")));
}

/// tests/fixtures/rows/htu.json, the table tests/node/23-dpop also reads: the platform's
/// origin and pathname of each URL become the proof's htu, and the method fetch sends its
/// htm. The Node test checks the platform gives those parts; this, that the core's claims
/// are made of them and nothing else (no query, no fragment).
#[test]
fn htu_is_the_platforms_origin_and_path_shared_rows() {
    let table: serde_json::Value = serde_json::from_str(include_str!("fixtures/rows/htu.json")).unwrap();
    let m = dpop_machine();
    for row in table["rows"].as_array().unwrap() {
        let f = |k: &str| row[k].as_str().unwrap();
        let proof = m.resource_proof(f("htm"), f("origin"), f("pathname"), Some(&[0; 32]), WallMillis(1_700_000_000_000), &[9; 16]).unwrap();
        let claims: serde_json::Value = serde_json::from_str(&parts(&proof).1).unwrap();
        assert_eq!((claims["htu"].as_str(), claims["htm"].as_str()), (Some(f("htu")), Some(f("htm"))), "{}", f("url"));
    }
}

/// `dpop_jkt` binds the code to the key only where the client outlives the redirect: a page
/// makes a new key when it comes back, so a code bound to the old one could not be redeemed.
#[test]
fn only_a_client_that_outlives_the_redirect_binds_its_code() {
    for (runtime, dpop, want) in [(Runtime::Node, true, true), (Runtime::Workerd, true, true), (Runtime::Browser, true, false), (Runtime::Node, false, false)] {
        assert_eq!(Machine::new(config(dpop), runtime, 1).binds_code(), want, "{runtime:?} dpop={dpop}");
    }
}
