//! Down-scoped tokens per API: `PROXY_ROUTES` entries that name their own `audience`,
//! `resource` and `scope`, which entry a call takes its token from, the client credentials
//! request of a route's own token, and the token exchange (RFC 8693) of a signed-in user's
//! access token for one per API, byte for byte, single-flight.
#![cfg(all(not(target_arch = "wasm32"), feature = "signin", feature = "server"))]

mod common;

use common::{obj, parse_url};
use std::collections::HashMap;
use tokenkit::proto::broker::config::{proxy_routes, BrokerConfig, Role, TokenTarget};
use tokenkit::proto::client::machine::{Action, Get, Machine};
use tokenkit::proto::client::request::Runtime;
use tokenkit::proto::http::{Body, HttpResponse};
use tokenkit::proto::time::{Instant, Now, WallMillis};
use tokenkit::proto::value::Value;
use tokenkit::proto::AccessToken;

fn env(role: Role, pairs: &[(&str, &str)]) -> BrokerConfig {
    let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    BrokerConfig::from_env(role, &|k| m.get(k).cloned(), None, &parse_url).unwrap()
}

const ROUTES: &str = "GET POST /orders/ audience=orders-api scope=orders:read scope=orders:write, POST /orders/refunds resource=https://api.example/refunds, GET /billing/ audience=billing-api, GET /orders/public, GET /";

#[test]
fn route_entries_take_audience_resource_and_scope_after_the_path() {
    let r = proxy_routes(ROUTES, &parse_url).unwrap();
    assert_eq!(r.len(), 5);
    assert_eq!(r[0].token, Some(TokenTarget { audience: Some("orders-api".into()), resource: None, scope: Some("orders:read orders:write".into()) }));
    assert_eq!(r[1].token, Some(TokenTarget { audience: None, resource: Some("https://api.example/refunds".into()), scope: None }));
    assert_eq!((r[3].token.as_ref(), r[4].token.as_ref()), (None, None));
    // (entry, what the message says)
    for (entry, why) in [
        ("GET /x audience=", "need a value"),
        ("GET /x audience=a audience=b", "once each"),
        ("GET /x resource=/relative", "absolute URL"),
        ("GET /x resource=https://a.example/#f", "absolute URL"),
        ("GET /x scope=a\"b", "not allowed in a scope"),
        ("GET /x colour=blue", "scope= words only"),
        ("GET audience=a /x", "words only"),
        ("audience=a", "methods then a path"),
    ] {
        let e = proxy_routes(entry, &parse_url).unwrap_err();
        assert_eq!(e.var, "PROXY_ROUTES");
        assert!(e.reason.contains(why), "{entry}: {}", e.reason);
    }
}

fn base() -> Vec<(&'static str, &'static str)> {
    vec![
        ("TOKEN_URL", "https://as.example/token"),
        ("CLIENT_ID", "broker"),
        ("CLIENT_SECRET", "s3cret"),
        ("SCOPE", "everything"),
        ("PROXY_ORIGIN", "https://api.example"),
        ("PROXY_ROUTES", ROUTES),
    ]
}

#[test]
fn a_call_takes_the_token_of_the_most_specific_entry_that_allows_its_method() {
    let cfg = env(Role::Edge, &base());
    // (API path, method, the entry whose token, None: the deployment's)
    for (path, method, route) in [
        ("/orders/7", "GET", Some(0)),
        ("/orders/7", "POST", Some(0)),
        ("/orders/refunds", "POST", Some(1)),
        // The most specific entry decides: it allows POST only, so a GET is refused (405)
        // rather than sent with the broader entry's token.
        ("/orders/refunds", "GET", None),
        ("/orders/public", "GET", None),
        ("/billing/x", "GET", Some(2)),
        ("/billing/x", "POST", None),
        ("/other", "GET", None),
    ] {
        assert_eq!(cfg.token_route(path, method), route, "{method} {path}");
    }
    // Each route's own token is its own credential set (its own TOKEN_CACHE object).
    let sets: Vec<String> = [0, 1, 2].iter().map(|i| cfg.route_credential_set(*i).unwrap()).collect();
    assert!(sets[0] != sets[1] && sets[1] != sets[2] && !sets.contains(&cfg.credential_set()));
    assert_eq!(cfg.route_credential_set(3), None);
    // The object learns which route from its request's query.
    assert_eq!((cfg.cached_route(Some("2")), cfg.cached_route(Some("3")), cfg.cached_route(Some("x")), cfg.cached_route(None)), (Some(2), None, None, None));
}

fn at(ms: u64) -> Now {
    Now { mono: Instant(ms), wall: WallMillis(1_700_000_000_000 + ms) }
}

fn sends(m: &mut Machine) -> Vec<tokenkit::proto::client::machine::AttemptId> {
    let mut out = Vec::new();
    while let Some(a) = m.poll() {
        if let Action::Send(id) = a {
            out.push(id);
        }
    }
    out
}

fn ok(b: Value) -> HttpResponse {
    HttpResponse { status: 200, retry_after: None, dpop_nonce: None, body: Body::Json(b) }
}


#[test]
fn a_routes_own_client_credentials_request_carries_its_audience_resource_and_scope() {
    let cfg = env(Role::Edge, &base());
    let mut m = Machine::new(cfg.route_client(0).unwrap(), Runtime::Workerd, 1);
    let Get::Wait(_) = m.get(at(0)) else { panic!() };
    sends(&mut m);
    assert_eq!(m.request().unwrap().body, "grant_type=client_credentials&scope=orders%3Aread+orders%3Awrite&audience=orders-api");
    let m = Machine::new(cfg.route_client(1).unwrap(), Runtime::Workerd, 1);
    assert_eq!(m.request().unwrap().body, "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example%2Frefunds");
    assert!(cfg.route_client(3).is_none(), "an entry without a token of its own has no client");
}

#[test]
fn a_signed_in_users_token_is_exchanged_once_per_api_rfc_8693() {
    let mut pairs = base();
    pairs.extend([
        ("AUTHORIZE_URL", "https://as.example/authorize"),
        ("REDIRECT_URI", "https://broker.example/callback"),
        ("SESSION_SECRET", "0123456789abcdef0123456789abcdef"),
    ]);
    let cfg = env(Role::Session, &pairs);
    let mut m = Machine::new(cfg.exchange_client(0).unwrap(), Runtime::Workerd, 1);
    m.set_subject(AccessToken::new("user-token+1".into()));
    // 20 concurrent calls: one exchange.
    let flights: Vec<_> = (0..20).map(|_| m.get(at(0))).collect();
    assert!(flights.iter().all(|g| matches!(g, Get::Wait(_))));
    let sent = sends(&mut m);
    assert_eq!(sent.len(), 1, "single flight");
    let req = m.request().unwrap();
    assert_eq!(req.url, "https://as.example/token");
    assert_eq!(
        req.body,
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=user-token%2B1\
         &subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token\
         &requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token\
         &scope=orders%3Aread+orders%3Awrite&audience=orders-api"
    );
    assert!(req.headers.iter().any(|(k, v)| *k == "Authorization" && v.starts_with("Basic ")), "the broker authenticates");
    m.handle_response(sent[0], Ok(ok(obj(&[("access_token", Value::Str("orders-token".into())), ("issued_token_type", Value::Str("urn:ietf:params:oauth:token-type:access_token".into())), ("token_type", Value::Str("Bearer".into())), ("expires_in", Value::Num(300.0))]))), at(5), &parse_url);
    let Get::Ready(t) = m.get(at(6)) else { panic!("cached") };
    assert_eq!(t.access_token.expose(), "orders-token");
    // A newer user token: the exchanged one stays in use until it is due.
    m.set_subject(AccessToken::new("user-token-2".into()));
    assert!(matches!(m.get(at(7)), Get::Ready(_)));
    assert!(sends(&mut m).is_empty());
    // Without a subject the machine sends nothing (nothing to exchange).
    let mut m = Machine::new(cfg.exchange_client(2).unwrap(), Runtime::Workerd, 1);
    let _ = m.get(at(0));
    assert!(m.request().is_none());
    assert!(cfg.exchange_client(3).is_none());
}
