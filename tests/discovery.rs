//! Configuration by discovery (src/proto/discovery.rs): where the metadata is looked for,
//! how strictly it is read, and the client machine fetching it once before the first token
//! request. Each row names the rule it guards.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::parse_url;
use tokenkit::proto::client::config::{Config, Source};
use tokenkit::proto::client::machine::{Action, AttemptId, Get, Machine, Outcome};
use tokenkit::proto::client::presets::GENERIC;
use tokenkit::proto::client::request::Runtime;
use tokenkit::proto::discovery::{check_issuer, metadata_urls, read, Metadata, Read};
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

const ISSUER: &str = "https://as.example/tenant";

fn doc(extra: &[(&str, Value)]) -> Body {
    let mut pairs = vec![("issuer", s(ISSUER)), ("token_endpoint", s("https://as.example/tenant/oauth/token"))];
    for (k, v) in extra {
        pairs.retain(|(p, _)| p != k);
        pairs.push((k, v.clone()));
    }
    Body::Json(obj(&pairs))
}

fn ok(status: u16, body: Body) -> HttpResponse {
    HttpResponse { status, retry_after: None, dpop_nonce: None, body }
}

#[test]
fn the_metadata_locations_rfc_8414_path_insertion_then_openid() {
    for (issuer, first, second) in [
        ("https://as.example", "https://as.example/.well-known/oauth-authorization-server", "https://as.example/.well-known/openid-configuration"),
        ("https://as.example/", "https://as.example/.well-known/oauth-authorization-server", "https://as.example/.well-known/openid-configuration"),
        ("https://as.example/tenant/1", "https://as.example/.well-known/oauth-authorization-server/tenant/1", "https://as.example/tenant/1/.well-known/openid-configuration"),
        ("https://as.example/tenant/", "https://as.example/.well-known/oauth-authorization-server/tenant", "https://as.example/tenant/.well-known/openid-configuration"),
        ("http://127.0.0.1:9000/realms/x", "http://127.0.0.1:9000/.well-known/oauth-authorization-server/realms/x", "http://127.0.0.1:9000/realms/x/.well-known/openid-configuration"),
    ] {
        let u = parse_url(issuer).unwrap();
        assert_eq!(metadata_urls(&u.origin, &u.pathname), [first.to_owned(), second.to_owned()], "{issuer}");
        assert_eq!(check_issuer(issuer, &parse_url).unwrap(), [first.to_owned(), second.to_owned()], "{issuer}");
    }
}

#[test]
fn the_issuer_option_is_checked() {
    let cfg = |issuer: &str| {
        let o = vec![("issuer".to_owned(), s(issuer)), ("clientId".to_owned(), s("id")), ("clientSecret".to_owned(), s("secret"))];
        Config::from_options(&GENERIC, &Value::Object(o), &parse_url)
    };
    for bad in ["http://as.example", "https://as.example/?tenant=1", "https://as.example/#x", "as.example", ""] {
        let e = cfg(bad).unwrap_err();
        assert!(matches!(&e, Error::InvalidConfig { field, .. } if field == "issuer" || field == "tokenUrl"), "{bad}: {e:?}");
    }
    let Source::Endpoint(ep) = &cfg(ISSUER).unwrap().source else { panic!() };
    assert_eq!((ep.token_url.as_str(), ep.discover.as_ref().map(|d| d.issuer.as_str())), ("", Some(ISSUER)), "nothing to send to until discovered");
    // Explicit URLs win: no discovery.
    let o = vec![("issuer".to_owned(), s(ISSUER)), ("tokenUrl".to_owned(), s("https://as.example/t")), ("clientId".to_owned(), s("id")), ("clientSecret".to_owned(), s("x"))];
    let Source::Endpoint(ep) = &Config::from_options(&GENERIC, &Value::Object(o), &parse_url).unwrap().source else { panic!() };
    assert!(ep.discover.is_none());
    assert_eq!(ep.token_url, "https://as.example/t");
}

#[test]
fn metadata_is_read_strictly() {
    let found = |r: Read| match r {
        Read::Found(m) => Ok(m),
        Read::NotHere => Err("not here".to_owned()),
        Read::Failed(e) => Err(e.code().to_owned() + ": " + &e.message()),
    };
    let read_one = |resp: HttpResponse| found(read(ISSUER, &resp, &parse_url));
    let m = read_one(ok(200, doc(&[
        ("revocation_endpoint", s("https://as.example/revoke")),
        ("authorization_response_iss_parameter_supported", Value::Bool(true)),
        ("pushed_authorization_request_endpoint", s("https://as.example/par")),
        ("require_pushed_authorization_requests", Value::Bool(true)),
    ])))
    .unwrap();
    assert_eq!(
        m,
        Metadata {
            token_endpoint: "https://as.example/tenant/oauth/token".into(),
            token_origin: "https://as.example".into(),
            token_path: "/tenant/oauth/token".into(),
            #[cfg(feature = "signin")]
            authorization_endpoint: None,
            #[cfg(feature = "signin")]
            revocation_endpoint: Some("https://as.example/revoke".into()),
            #[cfg(feature = "signin")]
            iss_parameter_supported: true,
            #[cfg(all(feature = "signin", feature = "server"))]
            par_endpoint: Some("https://as.example/par".into()),
            #[cfg(all(feature = "signin", feature = "server"))]
            require_par: true,
        }
    );
    // (what, answer, the error's words) — every failure is INVALID_METADATA, naming no value.
    #[cfg_attr(not(feature = "signin"), allow(unused_mut))]
    let mut rows: Vec<(&str, HttpResponse, &str)> = vec![
        ("another issuer's document (mix-up: RFC 8414 §3.3)", ok(200, doc(&[("issuer", s("https://evil.example/tenant"))])), "not the configured one"),
        ("the issuer with a trailing slash is another string", ok(200, doc(&[("issuer", s("https://as.example/tenant/"))])), "not the configured one"),
        ("no issuer", ok(200, Body::Json(obj(&[("token_endpoint", s("https://as.example/t"))]))), "no issuer"),
        ("issuer not a string", ok(200, doc(&[("issuer", Value::Num(1.0))])), "no issuer"),
        ("no token_endpoint", ok(200, Body::Json(obj(&[("issuer", s(ISSUER))]))), "no token_endpoint"),
        ("token_endpoint not a string", ok(200, doc(&[("token_endpoint", Value::Bool(true))])), "not a string"),
        ("a plain-http token_endpoint", ok(200, doc(&[("token_endpoint", s("http://as.example/token"))])), "not an https URL"),
        ("a token_endpoint with a fragment", ok(200, doc(&[("token_endpoint", s("https://as.example/token#x"))])), "not an https URL"),
        ("a relative token_endpoint", ok(200, doc(&[("token_endpoint", s("/token"))])), "not an https URL"),
        ("HTML", ok(200, Body::NotJson), "not JSON"),
        ("a JSON array", ok(200, Body::Json(Value::List(vec![]))), "not a JSON object"),
        ("larger than the cap", ok(200, Body::TooLarge), "larger than 64 KB"),
        ("a redirect (Node, Workers)", ok(302, Body::NotJson), "redirect"),
        ("a browser's opaque redirect", ok(0, Body::NotJson), "redirect"),
        ("403", ok(403, Body::NotJson), "did not answer 200"),
        ("503 (tried again)", ok(503, Body::NotJson), "failing"),
    ];
    // The sign-in's endpoints are read (and checked) only by the builds that sign users in.
    #[cfg(feature = "signin")]
    rows.extend([
        ("a plain-http revocation_endpoint", ok(200, doc(&[("revocation_endpoint", s("http://as.example/r"))])), "not an https URL"),
        ("an authorization_endpoint of the wrong type", ok(200, doc(&[("authorization_endpoint", Value::List(vec![]))])), "not a string"),
        ("the iss flag of the wrong type", ok(200, doc(&[("authorization_response_iss_parameter_supported", s("true"))])), "not a boolean"),
    ]);
    // PAR's (RFC 9126 §5), only by the servers' sign-in builds.
    #[cfg(all(feature = "signin", feature = "server"))]
    rows.extend([
        ("PAR required but no endpoint (RFC 9126 §5)", ok(200, doc(&[("require_pushed_authorization_requests", Value::Bool(true))])), "names no pushed_authorization_request_endpoint"),
        ("require_pushed_authorization_requests not a boolean", ok(200, doc(&[("require_pushed_authorization_requests", s("true"))])), "not a boolean"),
        ("a PAR endpoint on plain http", ok(200, doc(&[("pushed_authorization_request_endpoint", s("http://as.example/par"))])), "not an https URL"),
    ]);
    for (what, resp, words) in rows {
        let e = read_one(resp).unwrap_err();
        assert!(e.starts_with("INVALID_METADATA: ") && e.contains(words), "{what}: {e}");
        assert!(!e.contains("evil"), "{what}: never the document's values");
    }
    assert!(matches!(read(ISSUER, &ok(404, Body::NotJson), &parse_url), Read::NotHere));
    assert!(matches!(read(ISSUER, &ok(410, Body::NotJson), &parse_url), Read::NotHere));
}

// ------------------------------------------------------------------ the machine

fn client() -> Machine {
    let o = vec![
        ("issuer".to_owned(), s(ISSUER)),
        ("clientId".to_owned(), s("id")),
        ("clientSecret".to_owned(), s("secret")),
        ("allowedOrigins".to_owned(), Value::List(vec![s("https://api.example")])),
    ];
    Machine::new(Config::from_options(&GENERIC, &Value::Object(o), &parse_url).unwrap(), Runtime::Node, 7)
}

fn at(ms: u64) -> Now {
    Now { mono: Instant(ms), wall: WallMillis(1_700_000_000_000 + ms) }
}

/// The attempts the machine sends now, with what each asks.
fn sends(m: &mut Machine) -> Vec<(AttemptId, &'static str, String)> {
    let mut out = Vec::new();
    while let Some(a) = m.poll() {
        if let Action::Send(id) = a {
            let r = m.request().unwrap();
            out.push((id, r.method, r.url));
        }
    }
    out
}

fn token() -> Body {
    Body::Json(obj(&[("access_token", s("tok")), ("token_type", s("Bearer")), ("expires_in", Value::Num(300.0))]))
}

#[test]
fn one_metadata_fetch_per_client_then_the_token_request_at_once() {
    let mut m = client();
    let Get::Wait(flight) = m.get(at(0)) else { panic!() };
    // 100 concurrent callers share the one flight: one metadata fetch.
    for _ in 0..100 {
        assert!(matches!(m.get(at(1)), Get::Wait(f) if f == flight));
    }
    let first = sends(&mut m);
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].1, first[0].2.as_str()), ("GET", "https://as.example/.well-known/oauth-authorization-server/tenant"));
    let req = m.request().unwrap();
    assert!(req.body.is_empty() && !req.headers.iter().any(|(k, _)| *k == "Authorization"), "no credentials to a metadata location");
    assert_eq!(req.redirect, "manual");
    // Not there: the OpenID location, at once.
    m.handle_response(first[0].0, Ok(ok(404, Body::NotJson)), at(5), &parse_url);
    let second = sends(&mut m);
    assert_eq!((second[0].1, second[0].2.as_str()), ("GET", "https://as.example/tenant/.well-known/openid-configuration"));
    // Found: the token request goes to its token_endpoint, at once.
    m.handle_response(second[0].0, Ok(ok(200, doc(&[]))), at(10), &parse_url);
    let third = sends(&mut m);
    assert_eq!((third[0].1, third[0].2.as_str()), ("POST", "https://as.example/tenant/oauth/token"));
    m.handle_response(third[0].0, Ok(ok(200, token())), at(20), &parse_url);
    assert!(matches!(m.outcome(flight), Outcome::Done(Ok(_))));
    // The next token request (after invalidate) asks no metadata again.
    m.invalidate(at(30));
    let Get::Wait(_) = m.get(at(31_000)) else { panic!() };
    let next = sends(&mut m);
    assert_eq!((next[0].1, next[0].2.as_str()), ("POST", "https://as.example/tenant/oauth/token"));
}

#[test]
fn a_metadata_request_that_times_out_is_named_as_such() {
    let mut m = client();
    let Get::Wait(flight) = m.get(at(0)) else { panic!() };
    let first = sends(&mut m);
    assert_eq!(first[0].1, "GET");
    // Each attempt times out (10 s), retries included: the error names the metadata, not the token endpoint.
    let mut now = 0;
    while !matches!(m.outcome(flight), Outcome::Done(_)) && now < 120_000 {
        now += 1_000;
        m.handle_timeout(at(now));
        let _ = sends(&mut m);
    }
    let Outcome::Done(Err(e)) = m.outcome(flight) else { panic!("no outcome by {now} ms") };
    assert_eq!(e.code(), "TIMEOUT");
    assert!(e.message().starts_with("the authorization server's metadata did not answer within "), "{}", e.message());
}

#[test]
fn another_issuers_metadata_fails_and_nothing_is_sent_to_its_endpoints() {
    let mut m = client();
    let Get::Wait(flight) = m.get(at(0)) else { panic!() };
    let first = sends(&mut m);
    let evil = doc(&[("issuer", s("https://evil.example")), ("token_endpoint", s("https://evil.example/token"))]);
    m.handle_response(first[0].0, Ok(ok(200, evil)), at(5), &parse_url);
    assert!(sends(&mut m).is_empty(), "no request to the document's endpoints, and no second location");
    assert!(matches!(m.outcome(flight), Outcome::Done(Err(Error::Metadata { .. }))));
    // The next caller discovers again (the document is not kept).
    let Get::Wait(_) = m.get(at(10)) else { panic!() };
    let again = sends(&mut m);
    assert_eq!(again[0].1, "GET");
}

#[test]
fn a_failing_metadata_location_is_tried_again_with_backoff_and_neither_location_is_an_error() {
    let mut m = client();
    let Get::Wait(flight) = m.get(at(0)) else { panic!() };
    let first = sends(&mut m);
    m.handle_response(first[0].0, Ok(ok(503, Body::NotJson)), at(5), &parse_url);
    assert!(sends(&mut m).is_empty(), "not at once: backoff");
    let at_retry = m.poll_timeout().unwrap();
    assert!(at_retry > Instant(5));
    m.handle_timeout(Now { mono: at_retry, wall: WallMillis(1_700_000_000_000 + at_retry.0) });
    let retry = sends(&mut m);
    assert_eq!((retry[0].1, retry[0].2.as_str()), ("GET", "https://as.example/.well-known/oauth-authorization-server/tenant"), "the same location again");
    // A network failure too; then 404 at both: INVALID_METADATA.
    m.handle_response(retry[0].0, Ok(ok(404, Body::NotJson)), at(at_retry.0 + 1), &parse_url);
    let second = sends(&mut m);
    m.handle_response(second[0].0, Ok(ok(404, Body::NotJson)), at(at_retry.0 + 2), &parse_url);
    assert!(sends(&mut m).is_empty());
    match m.outcome(flight) {
        Outcome::Done(Err(e)) => assert!(e.code() == "INVALID_METADATA" && e.message().contains("either well-known location"), "{e:?}"),
        other => panic!("{other:?}"),
    }
}

// ------------------------------------------------------------------ challenges

#[test]
fn the_first_challenge_is_read_for_apps_to_branch_on() {
    use tokenkit::proto::http::first_challenge;
    let f = |www: &str| first_challenge(www).map(|(scheme, fields, max_age)| (scheme, fields.map(|v| v.unwrap_or_default()), max_age));
    let strings = |a: [&str; 6]| a.map(str::to_owned);
    // (header, scheme, [error, error_description, scope, acr_values, resource_metadata, realm], max_age)
    let rows: Vec<(&str, &str, [&str; 6], Option<u64>)> = vec![
        (r#"Bearer error="insufficient_scope", scope="read write", resource_metadata="https://api.example/.well-known/oauth-protected-resource""#, "Bearer", ["insufficient_scope", "", "read write", "", "https://api.example/.well-known/oauth-protected-resource", ""], None),
        // RFC 9470 §3's example.
        (r#"Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="myACR""#, "Bearer", ["insufficient_user_authentication", "A different authentication level is required", "", "myACR", "", ""], None),
        (r#"Bearer error="insufficient_user_authentication", error_description="More recent authentication is required", max_age="5""#, "Bearer", ["insufficient_user_authentication", "More recent authentication is required", "", "", "", ""], Some(5)),
        // Names in any case, tokens unquoted, the first of a name kept; only the first challenge.
        (r#"DPoP REALM=api, Max_Age=300, max_age=1, algs="ES256", Bearer error="invalid_token""#, "DPoP", ["", "", "", "", "", "api"], Some(300)),
        // A comma inside quotes is not a separator; a max_age that is not a number is dropped.
        (r#"Bearer scope="a, b", max_age="soon""#, "Bearer", ["", "", "a, b", "", "", ""], None),
        // An unprintable value is not kept (never text to show).
        ("Bearer error_description=\"bad\u{7}\"", "Bearer", ["", "", "", "", "", ""], None),
    ];
    for (www, scheme, fields, max_age) in rows {
        assert_eq!(f(www), Some((scheme.to_owned(), strings(fields), max_age)), "{www}");
    }
    assert_eq!(f(""), None);
    assert_eq!(f("  ,  "), None);
    assert_eq!(f("=garbage"), None);
}

#[cfg(feature = "signin")]
#[test]
fn a_sign_in_discovers_its_endpoints_and_the_iss_promise_first() {
    use tokenkit::proto::client::config::Grant;
    let o = vec![
        ("issuer".to_owned(), s(ISSUER)),
        ("grant".to_owned(), s("authorization_code")),
        ("clientId".to_owned(), s("spa")),
        ("clientAuth".to_owned(), s("none")),
        ("redirectUri".to_owned(), s("https://app.example/cb")),
    ];
    let mut m = Machine::new(Config::from_options(&GENERIC, &Value::Object(o), &parse_url).unwrap(), Runtime::Browser, 3);
    let flight = m.discover(at(0)).unwrap();
    assert_eq!(m.discover(at(1)), Some(flight), "callers share the one discovery");
    let first = sends(&mut m);
    assert_eq!(first[0].1, "GET");
    let md = doc(&[
        ("authorization_endpoint", s("https://as.example/tenant/authorize")),
        ("revocation_endpoint", s("https://as.example/tenant/revoke")),
        ("authorization_response_iss_parameter_supported", Value::Bool(true)),
    ]);
    m.handle_response(first[0].0, Ok(ok(200, md)), at(5), &parse_url);
    assert!(sends(&mut m).is_empty(), "the metadata only: no token request");
    assert!(matches!(m.outcome(flight), Outcome::Gone), "done: its waiters ask again");
    assert_eq!(m.discover(at(6)), None, "discovered");
    let Some(Config { source: Source::Endpoint(ep), .. }) = m.config() else { panic!() };
    let Grant::AuthorizationCode(ac) = &ep.grant else { panic!() };
    assert_eq!((ac.authorize_url.as_str(), ac.revocation_url.as_deref(), ac.iss_required), ("https://as.example/tenant/authorize", Some("https://as.example/tenant/revoke"), true));
    assert_eq!(ep.token_url, "https://as.example/tenant/oauth/token");
    // A document without an authorization endpoint cannot sign anyone in.
    let o = vec![("issuer".to_owned(), s(ISSUER)), ("grant".to_owned(), s("authorization_code")), ("clientId".to_owned(), s("spa")), ("clientAuth".to_owned(), s("none")), ("redirectUri".to_owned(), s("https://app.example/cb"))];
    let mut m = Machine::new(Config::from_options(&GENERIC, &Value::Object(o), &parse_url).unwrap(), Runtime::Browser, 3);
    let flight = m.discover(at(0)).unwrap();
    let first = sends(&mut m);
    m.handle_response(first[0].0, Ok(ok(200, doc(&[]))), at(5), &parse_url);
    assert!(matches!(m.outcome(flight), Outcome::Done(Err(Error::Metadata { reason, .. })) if reason.contains("authorization_endpoint")));
    // Explicit URLs: nothing to discover, and no iss promise.
    assert_eq!(client_with_urls().discover(at(0)), None);
}

#[cfg(feature = "signin")]
fn client_with_urls() -> Machine {
    let o = vec![("tokenUrl".to_owned(), s("https://as.example/t")), ("clientId".to_owned(), s("id")), ("clientSecret".to_owned(), s("x"))];
    Machine::new(Config::from_options(&GENERIC, &Value::Object(o), &parse_url).unwrap(), Runtime::Node, 1)
}

// ------------------------------------------------------------------ RFC 9728

#[test]
fn a_resource_alone_names_its_authorization_server_rfc_9728() {
    use tokenkit::proto::discovery::{read_resource, resource_metadata_url};
    for (resource, url) in [
        ("https://api.example", "https://api.example/.well-known/oauth-protected-resource"),
        ("https://api.example/", "https://api.example/.well-known/oauth-protected-resource"),
        ("https://api.example/v1/", "https://api.example/.well-known/oauth-protected-resource/v1"),
    ] {
        let u = parse_url(resource).unwrap();
        assert_eq!(resource_metadata_url(&u.origin, &u.pathname), url, "{resource}");
    }
    const API: &str = "https://api.example/v1";
    let prm = |pairs: &[(&str, Value)]| ok(200, Body::Json(obj(pairs)));
    let servers = |v: &[&str]| Value::List(v.iter().map(|x| s(x)).collect());
    let (issuer, urls) = read_resource(API, &prm(&[("resource", s(API)), ("authorization_servers", servers(&[ISSUER, "https://other.example"]))]), &parse_url).unwrap();
    assert_eq!((issuer.as_str(), urls[0].as_str()), (ISSUER, "https://as.example/.well-known/oauth-authorization-server/tenant"), "the first authorization server");
    for (what, resp, words) in [
        ("another resource's metadata (RFC 9728 §3.3)", prm(&[("resource", s("https://evil.example/v1")), ("authorization_servers", servers(&[ISSUER]))]), "another resource"),
        ("no resource", prm(&[("authorization_servers", servers(&[ISSUER]))]), "another resource"),
        ("no authorization servers", prm(&[("resource", s(API))]), "no authorization server"),
        ("an empty list", prm(&[("resource", s(API)), ("authorization_servers", servers(&[]))]), "no authorization server"),
        ("a plain-http issuer", prm(&[("resource", s(API)), ("authorization_servers", servers(&["http://as.example"]))]), "not an https issuer"),
        ("404", ok(404, Body::NotJson), "no metadata"),
        ("a redirect", ok(302, Body::NotJson), "redirect"),
        ("HTML", ok(200, Body::NotJson), "not a JSON object"),
    ] {
        let e = read_resource(API, &resp, &parse_url).unwrap_err();
        assert!(e.code() == "INVALID_METADATA" && e.message().contains(words), "{what}: {e:?}");
        assert!(e.message().starts_with("the resource's metadata could not be used (HTTP "), "{what}: names whose metadata: {}", e.message());
    }
    // The machine: the resource's metadata, then its authorization server's, then the token
    // request to that server, carrying the resource (RFC 8707).
    // A public client: a resource's metadata may choose its server (a client secret may not).
    let o = vec![("resource".to_owned(), s(API)), ("clientId".to_owned(), s("id")), ("clientAuth".to_owned(), s("none")), ("allowedOrigins".to_owned(), Value::List(vec![s("https://api.example")]))];
    let mut m = Machine::new(Config::from_options(&GENERIC, &Value::Object(o), &parse_url).unwrap(), Runtime::Node, 7);
    let Get::Wait(flight) = m.get(at(0)) else { panic!() };
    let first = sends(&mut m);
    assert_eq!((first[0].1, first[0].2.as_str()), ("GET", "https://api.example/.well-known/oauth-protected-resource/v1"));
    m.handle_response(first[0].0, Ok(prm(&[("resource", s(API)), ("authorization_servers", servers(&[ISSUER]))])), at(5), &parse_url);
    let second = sends(&mut m);
    assert_eq!((second[0].1, second[0].2.as_str()), ("GET", "https://as.example/.well-known/oauth-authorization-server/tenant"));
    m.handle_response(second[0].0, Ok(ok(200, doc(&[]))), at(10), &parse_url);
    let third = sends(&mut m);
    assert_eq!((third[0].1, third[0].2.as_str()), ("POST", "https://as.example/tenant/oauth/token"));
    assert!(m.request().unwrap().body.contains("resource=https%3A%2F%2Fapi.example%2Fv1"), "resource on the token request");
    m.handle_response(third[0].0, Ok(ok(200, token())), at(20), &parse_url);
    assert!(matches!(m.outcome(flight), Outcome::Done(Ok(_))));
    // Another resource's metadata: nothing sent to the server it names.
    let o = vec![("resource".to_owned(), s(API)), ("clientId".to_owned(), s("id")), ("clientAuth".to_owned(), s("none"))];
    let mut m = Machine::new(Config::from_options(&GENERIC, &Value::Object(o), &parse_url).unwrap(), Runtime::Node, 7);
    let Get::Wait(flight) = m.get(at(0)) else { panic!() };
    let first = sends(&mut m);
    m.handle_response(first[0].0, Ok(prm(&[("resource", s("https://api.example/v2")), ("authorization_servers", servers(&["https://evil.example"]))])), at(5), &parse_url);
    assert!(sends(&mut m).is_empty());
    assert!(matches!(m.outcome(flight), Outcome::Done(Err(Error::Metadata { .. }))));
}

#[test]
fn a_client_secret_goes_only_to_a_server_the_configuration_names() {
    // A resource's metadata is written by whoever controls the API (or a path on it): with
    // a resource alone it would choose where the secret is sent.
    const API: &str = "https://api.example/v1";
    let cfg = |pairs: &[(&str, &str)]| {
        let o: Vec<(String, Value)> = [("clientId", "id")].iter().chain(pairs.iter()).map(|(k, v)| (k.to_string(), s(v))).collect();
        Config::from_options(&GENERIC, &Value::Object(o), &parse_url)
    };
    for (pairs, ok) in [
        (vec![("resource", API), ("clientSecret", "x")], false),
        (vec![("resource", API), ("clientSecret", "x"), ("clientAuth", "client_secret_post")], false),
        (vec![("resource", API), ("clientSecret", "x"), ("resourceMetadata", "https://api.example/prm")], false),
        (vec![("resource", API), ("clientSecret", "x"), ("issuer", ISSUER)], true),
        (vec![("resource", API), ("clientSecret", "x"), ("tokenUrl", "https://as.example/t")], true),
        (vec![("resource", API), ("clientAuth", "none")], true),
    ] {
        match cfg(&pairs) {
            Ok(_) => assert!(ok, "{pairs:?}"),
            Err(e) => {
                assert!(!ok, "{pairs:?}: {e:?}");
                assert!(e.code() == "INVALID_CONFIG" && matches!(&e, Error::InvalidConfig { field, .. } if field == "issuer"), "{pairs:?}: {e:?}");
                assert!(!e.message().contains("x\""), "the secret is not in the message");
            }
        }
    }
}

#[test]
fn a_401s_resource_metadata_url_is_taken_on_the_resources_origin_only() {
    let cfg = |pairs: &[(&str, &str)]| {
        let mut o = vec![("clientId".to_owned(), s("id")), ("clientAuth".to_owned(), s("none"))];
        o.extend(pairs.iter().map(|(k, v)| (k.to_string(), s(v))));
        Config::from_options(&GENERIC, &Value::Object(o), &parse_url)
    };
    let c = cfg(&[("resource", "https://api.example/v1"), ("resourceMetadata", "https://api.example/meta/prm.json")]).unwrap();
    let Source::Endpoint(ep) = &c.source else { panic!() };
    assert_eq!(ep.discover.as_ref().map(|d| d.urls[0].as_str()), Some("https://api.example/meta/prm.json"));
    for (pairs, why) in [
        (vec![("resource", "https://api.example/v1"), ("resourceMetadata", "https://evil.example/prm")], "another origin"),
        (vec![("resource", "https://api.example/v1"), ("resourceMetadata", "http://api.example/prm")], "not https"),
        (vec![("resource", "https://api.example/v1"), ("resourceMetadata", "https://api.example/prm#x")], "a fragment"),
        (vec![("issuer", ISSUER), ("resource", "https://api.example/v1"), ("resourceMetadata", "https://api.example/prm")], "not a resource alone"),
        (vec![("tokenUrl", "https://as.example/t"), ("resourceMetadata", "https://api.example/prm")], "not a resource alone"),
    ] {
        let e = cfg(&pairs).unwrap_err();
        assert!(matches!(&e, Error::InvalidConfig { field, .. } if field == "resourceMetadata"), "{why}: {e:?}");
    }
}

#[test]
fn a_request_with_no_answer_names_the_request_and_its_host_and_what_to_check() {
    let client = |pairs: &[(&str, &str)], runtime| {
        let o: Vec<(String, Value)> = [("clientId", "id"), ("clientAuth", "none")].iter().chain(pairs.iter()).map(|(k, v)| (k.to_string(), s(v))).collect();
        Machine::new(Config::from_options(&GENERIC, &Value::Object(o), &parse_url).unwrap(), runtime, 1)
    };
    for (pairs, runtime, want) in [
        (vec![("tokenUrl", "https://auth.exmaple.com:8443/oauth/token?x=1")], Runtime::Node, "the token endpoint at auth.exmaple.com:8443 could not be reached"),
        (vec![("issuer", ISSUER)], Runtime::Node, "the authorization server's metadata at as.example could not be reached (check the issuer's host, or give tokenUrl)"),
        (vec![("resource", "https://api.example/v1")], Runtime::Workerd, "the resource's metadata at api.example could not be reached (check the issuer's host, or give tokenUrl)"),
        (vec![("tokenUrl", "https://auth.example.com/token")], Runtime::Browser, "the token endpoint at auth.example.com could not be reached (in a browser this is most often CORS: that server must allow this page's origin)"),
    ] {
        let m = client(&pairs, runtime);
        let e = m.unreachable();
        assert_eq!((e.code(), e.message().as_str()), ("NETWORK", want), "{pairs:?}");
    }
    let broker = Machine::new(Config::from_options(&GENERIC, &Value::Object(vec![("brokerUrl".into(), s("https://edge.example.com/token"))]), &parse_url).unwrap(), Runtime::Browser, 1);
    assert!(broker.unreachable().message().starts_with("the broker at edge.example.com could not be reached"));
    // Only the host: never a path, a query, or a user name and password.
    let e = Error::network("the revocation endpoint", "https://user:pw@auth.example.com/revoke?token=x", "");
    assert_eq!(e.message(), "the revocation endpoint at auth.example.com could not be reached");
}
