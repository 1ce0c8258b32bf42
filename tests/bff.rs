//! Native tests of the broker's roles, its RFC 10017 defences (CSRF header, proxy routes)
//! and the user session's machine and record (src/proto/broker/config.rs, route.rs, bff.rs).
#![cfg(all(not(target_arch = "wasm32"), feature = "signin", feature = "server"))]

mod common;

use common::parse_url;
use std::collections::HashMap;
use tokenkit::proto::broker::bff::{Completed, Next, Record, SessionOp, TokenVerdict, UserSession, PENDING_TTL};
use tokenkit::proto::broker::config::{BrokerConfig, EnvError, Role};
use tokenkit::proto::broker::rate::rate_limited_reply;
use tokenkit::proto::broker::route::{Incoming, Route};
use tokenkit::proto::broker::{cache_failed, health_reply, CacheKind};
use tokenkit::proto::client::machine::Snapshot;
use tokenkit::proto::client::response::TokenId;
use tokenkit::proto::signin::Pending;
use tokenkit::proto::time::{Secs, WallMillis};
use tokenkit::proto::value::Value;
use tokenkit::proto::{AccessToken, Error, RefreshToken};

/// Every opt-in feature at once: what a deployment that combines them gives each role.
const FULL: &[(&str, &str)] = &[
    ("TOKEN_URL", "https://auth.example.com/token"),
    ("CLIENT_ID", "id"),
    ("CLIENT_SECRET", "SECRET-VALUE"),
    ("SCOPE", "read"),
    ("ALLOWED_ORIGINS", "https://app.example.com"),
    ("ALLOW_CREDENTIALS", "true"),
    ("PROXY_ORIGIN", "https://api.example.com"),
    ("BROKER_KEYS", "k1"),
    ("RATE_LIMIT", "5"),
    ("ACCESS_TEAM_DOMAIN", "https://team.cloudflareaccess.com"),
    ("ACCESS_AUD", "AUD"),
    ("TURNSTILE_SECRET", "TS"),
    ("AUTHORIZE_URL", "https://auth.example.com/authorize"),
    ("REDIRECT_URI", "https://edge.example.com/callback"),
    ("SESSION_SECRET", "0123456789abcdef0123456789abcdef-KEY"),
];

/// [`FULL`] without the gates and the sign-in: a broker that hands out and proxies the
/// deployment's token, behind `BROKER_KEYS`.
fn proxying() -> Vec<(&'static str, &'static str)> {
    let drop = ["RATE_LIMIT", "ACCESS_TEAM_DOMAIN", "ACCESS_AUD", "TURNSTILE_SECRET", "AUTHORIZE_URL", "REDIRECT_URI", "SESSION_SECRET"];
    FULL.iter().copied().filter(|(k, _)| !drop.contains(k)).collect()
}

fn cfg(role: Role, pairs: &[(&str, &str)]) -> Result<BrokerConfig, EnvError> {
    let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    BrokerConfig::from_env(role, &|k| m.get(k).cloned(), None, &parse_url)
}

fn incoming<'a>(method: &'a str, path: &'a str, origin: Option<&'a str>, csrf: Option<&'a str>) -> Incoming<'a> {
    Incoming { method, path, query: "", origin, broker_key: Some("k1"), request_headers: None, csrf }
}

#[test]
fn each_role_reads_only_its_variables() {
    let edge = cfg(Role::Edge, FULL).unwrap();
    assert!(edge.access.is_some() && edge.turnstile.is_some() && edge.signs_in() && !edge.broker_keys.is_empty());
    assert_eq!(edge.rate_per_minute, 5);

    // The token cache: the upstream client and nothing else, whatever the env holds.
    let cache = cfg(Role::TokenCache, FULL).unwrap();
    assert!(cache.access.is_none() && cache.turnstile.is_none() && !cache.signs_in());
    assert!(cache.allowed_origins.is_empty() && cache.broker_keys.is_empty() && cache.proxy_origin.is_none());
    assert_eq!(cache.rate_per_minute, 0);
    assert_eq!(cache.credential_set(), edge.credential_set(), "the object the edge names is the one that serves it");
    // An isolate's request (no Origin, no key, no Access token, no header) is served...
    let inner = Incoming { method: "POST", path: "/token", query: "", origin: None, broker_key: None, request_headers: None, csrf: None };
    assert_eq!(cache.route(&inner), Ok(Route::Token));
    // ...and it answers nothing else.
    for (m, p) in [("GET", "/healthz"), ("GET", "/proxy/x"), ("GET", "/login"), ("GET", "/token")] {
        assert_eq!(cache.route(&Incoming { method: m, path: p, ..inner }).unwrap_err().status, 404, "{m} {p}");
    }
    // A bad gate variable cannot break the object either: it never reads it.
    let mut bad = FULL.to_vec();
    bad.push(("ACCESS_TEAM_DOMAIN", "http://not-https.example"));
    bad.retain(|(k, v)| *k != "ACCESS_TEAM_DOMAIN" || v.starts_with("http:"));
    assert_eq!(cfg(Role::Edge, &bad).unwrap_err().var, "ACCESS_TEAM_DOMAIN");
    assert!(cfg(Role::TokenCache, &bad).is_ok());

    // The session object: the sign-in client and the session's lifetime; no gates, no
    // cookie key (it never sees a cookie).
    let session = cfg(Role::Session, FULL).unwrap();
    assert!(session.signs_in() && session.access.is_none() && session.turnstile.is_none());
    assert!(session.broker_keys.is_empty() && session.allowed_origins.is_empty());
    assert!(session.signin.as_ref().unwrap().0.session_key.is_none());
    assert!(edge.signin.as_ref().unwrap().0.session_key.is_some());
    for var in ["RATE_LIMIT", "BROKER_KEYS", "ACCESS_AUD", "TURNSTILE_SECRET", "ALLOWED_ORIGINS", "SESSION_SECRET"] {
        assert!(!Role::TokenCache.reads(var) && !Role::Session.reads(var), "{var}");
        assert!(Role::Edge.reads(var));
    }
    // The tokens PROXY_ROUTES entries name (one per API) are the objects' to hold too.
    assert!(Role::TokenCache.reads("PROXY_ROUTES") && Role::Session.reads("PROXY_ROUTES"));
}

#[test]
fn the_csrf_header_is_required_on_every_route_that_acts_as_the_user() {
    let edge = cfg(Role::Edge, FULL).unwrap();
    let app = Some("https://app.example.com");
    let proxy = Route::Proxy("https://api.example.com/me".into());
    for (method, path, ok) in [
        ("GET", "/proxy/me", proxy.clone()),
        ("POST", "/proxy/me", proxy),
        ("GET", "/session", Route::Session),
        ("POST", "/logout", Route::Logout),
    ] {
        assert_eq!(edge.route(&incoming(method, path, app, Some("1"))), Ok(ok), "{method} {path}");
        for csrf in [None, Some(""), Some("0"), Some("true")] {
            let r = edge.route(&incoming(method, path, app, csrf)).unwrap_err();
            assert_eq!((r.status, r.body.contains("csrf_header_required")), (403, true), "{method} {path} {csrf:?}");
            // Without an Origin (a top-level navigation, a form from the same site) too.
            assert_eq!(edge.route(&incoming(method, path, None, csrf)).unwrap_err().status, 403, "{method} {path}");
        }
    }
    // Navigations the authorization server and the app make need none (they cannot send one).
    assert_eq!(edge.route(&incoming("GET", "/login", None, None)), Ok(Route::Login));
    assert_eq!(edge.route(&incoming("GET", "/callback", None, None)), Ok(Route::Callback));
    // The preflight that a header forces is answered for the app's origin only.
    let pre = |origin| edge.route(&Incoming { request_headers: Some("tokenkit-request"), ..incoming("OPTIONS", "/session", origin, None) });
    let r = pre(app).unwrap_err();
    assert_eq!(r.status, 204);
    assert!(r.headers.iter().any(|(k, v)| *k == "Access-Control-Allow-Headers" && v == "tokenkit-request"));
    assert_eq!(pre(Some("https://evil.example")).unwrap_err().status, 403);
    assert_eq!(pre(None).unwrap_err().status, 403);
}

#[test]
fn proxy_routes_allow_methods_per_path() {
    let mut env = proxying();
    env.push(("PROXY_ROUTES", "GET /me, GET POST /items/, delete /items/old"));
    let c = cfg(Role::Edge, &env).unwrap();
    let route = |m: &str, p: &str| c.route(&incoming(m, p, None, Some("1")));
    assert_eq!(route("GET", "/proxy/me"), Ok(Route::Proxy("https://api.example.com/me".into())));
    assert_eq!(route("POST", "/proxy/items/1"), Ok(Route::Proxy("https://api.example.com/items/1".into())));
    assert!(route("DELETE", "/proxy/items/old").is_ok(), "methods are matched case-insensitively in the env");
    for (m, p, status, allow) in [
        ("POST", "/proxy/me", 405, Some("GET, OPTIONS")),
        ("DELETE", "/proxy/items/1", 405, Some("GET, POST, OPTIONS")),
        ("GET", "/proxy/messages", 404, None),
        ("GET", "/proxy/me/x", 404, None),
        // `/items/` covers `/items` too (a trailing slash does not tell two paths apart).
        ("PUT", "/proxy/items", 405, Some("GET, POST, OPTIONS")),
        ("GET", "/proxy/admin/", 404, None),
    ] {
        let r = route(m, p).unwrap_err();
        assert_eq!(r.status, status, "{m} {p}");
        assert!(r.body.starts_with("{\"error\":"), "JSON: {}", r.body);
        assert_eq!(r.headers.iter().find(|(k, _)| *k == "Allow").map(|(_, v)| v.as_str()), allow, "{m} {p}");
    }
    let pre = c.route(&Incoming { origin: Some("https://app.example.com"), ..incoming("OPTIONS", "/proxy/items/2", None, None) }).unwrap_err();
    assert!(pre.headers.contains(&("Access-Control-Allow-Methods", "GET, POST, OPTIONS".to_owned())), "{:?}", pre.headers);
    for bad in ["/me", "GET", "GET me", "OPTIONS /x", "TRACE /x", "GET /a/../b", "GET /a//b", "G3T /x", ","] {
        let mut env = proxying();
        env.push(("PROXY_ROUTES", bad));
        assert_eq!(cfg(Role::Edge, &env).unwrap_err().var, "PROXY_ROUTES", "{bad}");
    }
    // Unset: every method but OPTIONS, CONNECT and TRACE, to every path.
    let open = cfg(Role::Edge, &proxying()).unwrap();
    assert!(open.route(&incoming("PATCH", "/proxy/anything", None, Some("1"))).is_ok());
    assert_eq!(open.route(&incoming("TRACE", "/proxy/anything", None, Some("1"))).unwrap_err().status, 405);
}

#[test]
fn health_names_the_cache_and_which_rate_limit_governs() {
    for (cache, binding, per_minute, body) in [
        (CacheKind::DurableObject, false, 0, r#"{"ok":true,"cache":"durable-object","rateLimit":"off"}"#),
        (CacheKind::Isolate, false, 600, r#"{"ok":true,"cache":"isolate","rateLimit":"isolate","perMinute":600}"#),
        // A binding decides; RATE_LIMIT only when it fails, and /healthz says so.
        (CacheKind::DurableObject, true, 5, r#"{"ok":true,"cache":"durable-object","rateLimit":"binding","fallbackPerMinute":5}"#),
        (CacheKind::Isolate, true, 0, r#"{"ok":true,"cache":"isolate","rateLimit":"binding","fallbackPerMinute":0}"#),
    ] {
        assert_eq!(health_reply(cache, binding, per_minute).body, body);
    }
    let r = rate_limited_reply(Secs(7));
    assert_eq!((r.status, r.headers.clone()), (429, vec![("Retry-After", "7".to_owned())]));
}

#[test]
fn which_token_cache_failures_the_isolate_answers_itself() {
    for (e, fallback) in [
        (Error::network("the broker", "https://token-cache.tokenkit.invalid/token", ""), true),
        (Error::Timeout { what: "the token endpoint", after: tokenkit::proto::time::Millis(1) }, true),
        // The object answered with upstream's failure, after its own retries.
        (Error::Http { status: 502, detail: "", retry_after: None }, false),
        (Error::Http { status: 504, detail: "", retry_after: None }, false),
        (Error::InvalidResponse { status: 200, reason: "x" }, true),
        (Error::OAuth { status: 401, error: "invalid_client".into(), description: None }, false),
        (Error::OAuth { status: 403, error: "access_denied".into(), description: None }, false),
        (Error::Disposed, false),
    ] {
        assert_eq!(cache_failed(&e), fallback, "{e:?}");
    }
}

/// The time of a session input: the wall clock at `wall` ms (the session reads no other).
fn at(wall: u64) -> tokenkit::proto::time::Now {
    tokenkit::proto::time::Now { mono: tokenkit::proto::time::Instant(7), wall: WallMillis(wall) }
}

fn pending(state: &str) -> Pending {
    Pending { state: state.into(), verifier: "v".repeat(43), nonce: Some("n0".into()) }
}

fn tokens(at: &str, exp: u64) -> Snapshot {
    Snapshot { access_token: Some(AccessToken::new(at.into())), refresh_token: Some(RefreshToken::new("RT".into())), scope: Some("openid".into()), expires_at: WallMillis(exp) }
}

const T0: u64 = 1_700_000_000_000;

#[test]
fn the_session_machine() {
    let mut s = UserSession::default();
    // Not signed in yet: a token is refused without ending anything; status says no.
    assert!(matches!(s.op(SessionOp::Token, at(T0), false), Next::Fail(Error::LoginRequired { .. })));
    assert_eq!(s.op(SessionOp::Status, at(T0), false), Next::Answer("0".into()));
    assert_eq!(s.op(SessionOp::Begin, at(T0), false), Next::SignIn);
    assert!(!s.behind(), "nothing to write yet");
    s.begun(pending("s1"), "https://app.example.com/".into(), at(T0));
    assert!(s.behind());
    let r = s.take_record(None).expect("the pending sign-in is written");
    assert!(!s.behind());
    assert_eq!(r.delete_at(), Some(WallMillis(T0 + PENDING_TTL.0 * 1000)), "an abandoned sign-in is deleted in 10 minutes");
    assert!(s.take_record(None).is_none(), "written once");
    // A token asked for mid-sign-in leaves the sign-in alone.
    assert!(matches!(s.op(SessionOp::Token, at(T0 + 1), false), Next::Fail(Error::LoginRequired { .. })));
    assert!(s.take_record(None).is_none());
    // The callback takes the pending sign-in: once.
    let Next::Complete(p) = s.op(SessionOp::Complete, at(T0 + 2), false) else { panic!() };
    assert_eq!(p.pending.state, "s1");
    assert!(matches!(s.op(SessionOp::Complete, at(T0 + 3), false), Next::Fail(Error::StateMismatch { .. })), "used once");
    // Signed in: a day, or less when nothing can renew the token.
    let done = s.completed(p.return_to.clone(), at(T0 + 2), Secs(86_400), WallMillis(T0 + 300_000), true);
    assert_eq!(done, Completed { return_to: "https://app.example.com/".into(), max_age: Secs(86_400) });
    let mut short = UserSession::default();
    assert_eq!(short.completed("/".into(), at(T0), Secs(86_400), WallMillis(T0 + 300_000), false).max_age, Secs(300), "no refresh token: the access token's life");
    assert_eq!(s.op(SessionOp::Status, at(T0 + 5), true), Next::Answer("1".into()));
    assert_eq!(s.op(SessionOp::Status, at(T0 + 5), false), Next::Answer("0".into()), "no tokens held: not signed in");
    assert_eq!(s.op(SessionOp::Token, at(T0 + 5), true), Next::Token);
    // Storage: a new token is written once, however many calls see it.
    assert_eq!(s.token_result(Ok(TokenId(1))), TokenVerdict::Serve);
    let r = s.take_record(Some((Some(TokenId(1)), tokens("AT1", T0 + 300_000)))).unwrap();
    assert_eq!((r.until, r.delete_at()), (WallMillis(T0 + 2 + 86_400_000), Some(WallMillis(T0 + 2 + 86_400_000))));
    assert_eq!(s.token_result(Ok(TokenId(1))), TokenVerdict::Serve);
    assert!(s.take_record(Some((Some(TokenId(1)), tokens("AT1", T0 + 300_000)))).is_none());
    assert_eq!(s.token_result(Ok(TokenId(2))), TokenVerdict::Serve);
    assert!(s.take_record(Some((Some(TokenId(2)), tokens("AT2", T0 + 600_000)))).is_some(), "a refreshed token is written");
    // A failure that is not the grant's: the session goes on. invalid_grant: it ends.
    assert_eq!(s.token_result(Err(&Error::network("the token endpoint", "", ""))), TokenVerdict::Fail);
    assert_eq!(s.token_result(Err(&Error::LoginRequired { reason: "invalid_grant" })), TokenVerdict::End);
    // Its time up: the next call ends it.
    assert!(matches!(s.op(SessionOp::Token, at(T0 + 2 + 86_400_000), true), Next::End(Err(Error::LoginRequired { .. }))));
    s.ended();
    let r = s.take_record(Some((Some(TokenId(2)), tokens("AT2", T0)))).unwrap();
    assert!(r.encode().is_none(), "nothing is kept: storage is deleted");
    assert_eq!(s.op(SessionOp::Logout, at(T0), false), Next::End(Ok(())));
}

#[test]
fn the_alarm_ends_only_what_is_due() {
    let mut s = UserSession::default();
    s.begun(pending("s"), "/".into(), at(T0));
    // Early: the pending sign-in stays, and the record is written again (the alarm re-armed).
    assert_eq!(s.op(SessionOp::Expire, at(T0 + 1), false), Next::Answer(String::new()));
    assert!(s.take_record(None).is_some());
    assert_eq!(s.op(SessionOp::Expire, at(T0 + PENDING_TTL.0 * 1000), false), Next::End(Ok(())));
    let mut s = UserSession::default();
    s.completed("/".into(), at(T0), Secs(60), WallMillis(T0 + 3_600_000), true);
    assert_eq!(s.op(SessionOp::Expire, at(T0 + 59_999), true), Next::Answer(String::new()));
    assert_eq!(s.op(SessionOp::Expire, at(T0 + 60_000), true), Next::End(Ok(())));
    // A callback after its sign-in lapsed is refused.
    let mut s = UserSession::default();
    s.begun(pending("s"), "/".into(), at(T0));
    assert!(matches!(s.op(SessionOp::Complete, at(T0 + PENDING_TTL.0 * 1000), false), Next::Fail(Error::StateMismatch { .. })));
}

fn json(s: &str) -> Value {
    // A small JSON reader for the test (objects, strings, non-negative integers).
    fn parse(b: &[u8], i: &mut usize) -> Value {
        match b[*i] {
            b'{' => {
                *i += 1;
                let mut o = Vec::new();
                while b[*i] != b'}' {
                    if b[*i] == b',' {
                        *i += 1;
                    }
                    let Value::Str(k) = parse(b, i) else { panic!() };
                    *i += 1; // ':'
                    o.push((k, parse(b, i)));
                }
                *i += 1;
                Value::Object(o)
            }
            b'"' => {
                let start = *i + 1;
                *i = start + b[start..].iter().position(|&c| c == b'"').unwrap();
                let v = String::from_utf8(b[start..*i].to_vec()).unwrap();
                *i += 1;
                Value::Str(v)
            }
            _ => {
                let start = *i;
                while b[*i].is_ascii_digit() {
                    *i += 1;
                }
                Value::Num(std::str::from_utf8(&b[start..*i]).unwrap().parse().unwrap())
            }
        }
    }
    parse(s.as_bytes(), &mut 0)
}

#[test]
fn the_session_record_round_trips_and_reads_the_old_format_once() {
    let r = Record {
        pending: Some(tokenkit::proto::broker::bff::PendingSignIn { pending: pending("st"), return_to: "/back".into(), lapses: WallMillis(T0 + 9) }),
        tokens: Some(tokens("AT", T0 + 300_000)),
        until: WallMillis(T0 + 86_400_000),
    };
    let text = r.encode().unwrap();
    assert!(text.starts_with("{\"v\":2,\"pending\":{"), "{text}");
    for field in ["\"state\":\"st\"", "\"returnTo\":\"/back\"", "\"accessToken\":\"AT\"", "\"refreshToken\":\"RT\"", "\"until\":", "\"deleteAt\":"] {
        assert!(text.contains(field), "{field} in {text}");
    }
    let back = Record::decode(&json(&text)).unwrap();
    assert_eq!(back.encode().unwrap(), text, "round trip");
    assert!(!format!("{back:?}").contains("\"AT\""), "Debug redacts");
    assert!(!format!("{back:?}").contains("RT\""));

    // The previous release's record: short keys, no version.
    let s = |v: &str| Value::Str(v.into());
    let n = |v: u64| Value::Num(v as f64);
    let old = Value::Object(
        [("ps", s("st")), ("pv", s("vv")), ("pr", s("/b")), ("pn", s("nn")), ("at", s("AT")), ("rt", s("RT")), ("sc", s("openid")), ("exp", n(T0 + 5)), ("u", n(T0 + 10)), ("x", n(T0 + 10))]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    );
    let r = Record::decode(&old).unwrap();
    let p = r.pending.as_ref().unwrap();
    assert_eq!((p.pending.state.as_str(), p.pending.verifier.as_str(), p.pending.nonce.as_deref(), p.return_to.as_str()), ("st", "vv", Some("nn"), "/b"));
    let t = r.tokens.as_ref().unwrap();
    assert_eq!((t.access_token.as_ref().unwrap().expose(), t.refresh_token.as_ref().unwrap().expose(), t.expires_at.0, r.until), ("AT", "RT", T0 + 5, WallMillis(T0 + 10)));
    assert!(r.encode().unwrap().starts_with("{\"v\":2"), "written back in this format");
    // Restored: a live session takes up its tokens. An ended one takes them up too, so that
    // what it holds is revoked: its first call, or its alarm, ends it (and deletes storage).
    let (s1, t1) = UserSession::restore(Record::decode(&old), at(T0 + 9));
    assert!(s1.live(at(T0 + 9)) && t1.is_some());
    let (mut s2, t2) = UserSession::restore(Record::decode(&old), at(T0 + 11));
    assert!(!s2.live(at(T0 + 11)) && t2.is_some(), "an ended session's tokens come back to be revoked");
    assert!(matches!(s2.op(SessionOp::Token, at(T0 + 11), true), Next::End(Err(Error::LoginRequired { .. }))));
    let (mut s3, _) = UserSession::restore(Record::decode(&old), at(T0 + 11));
    assert_eq!(s3.op(SessionOp::Expire, at(T0 + 11), true), Next::End(Ok(())), "the alarm revokes it");
    s3.ended();
    assert!(s3.take_record(None).unwrap().encode().is_none(), "an ended session's storage is deleted");
    for junk in [Value::Null, s("x"), Value::Object(vec![("v".into(), n(9))]), Value::Object(vec![])] {
        assert!(Record::decode(&junk).is_none(), "{junk:?}");
    }
}

#[test]
fn a_session_whose_access_token_lapsed_keeps_and_restores_its_refresh_token() {
    // Written while the access token had lapsed (the machine holds its refresh token alone).
    let r = Record { pending: None, tokens: Some(Snapshot { access_token: None, expires_at: WallMillis(0), ..tokens("", 0) }), until: WallMillis(T0 + 86_400_000) };
    let text = r.encode().unwrap();
    assert!(text.contains("\"refreshToken\":\"RT\"") && !text.contains("accessToken"), "{text}");
    let (mut s, t) = UserSession::restore(Record::decode(&json(&text)), at(T0 + 3_600_000));
    let t = t.expect("the refresh token comes back");
    assert!(t.access_token.is_none() && t.refresh_token.unwrap().expose() == "RT");
    assert_eq!(s.op(SessionOp::Token, at(T0 + 3_600_000), true), Next::Token, "the call refreshes");
    // Taken up by the machine as a refresh token alone (restored(None)): the token the
    // refresh brings is written.
    s.restored(None);
    assert_eq!(s.token_result(Ok(TokenId(1))), TokenVerdict::Serve);
    assert!(s.behind(), "the rotated refresh token is written");
    // A record with neither token is not a session.
    let empty = r#"{"v":2,"tokens":{"v":1,"until":1}}"#;
    assert!(Record::decode(&json(empty)).unwrap().tokens.is_none());
}

#[test]
fn operations_and_answers_between_edge_and_object() {
    for op in [SessionOp::Begin, SessionOp::Complete, SessionOp::Token, SessionOp::Status, SessionOp::Refused, SessionOp::Logout] {
        assert_eq!(SessionOp::from_url(&op.url()), Some(op));
    }
    assert_eq!(SessionOp::from_url(&SessionOp::Expire.url()), None, "the alarm is never a request");
    assert_eq!(SessionOp::from_url("https://evil.example/token"), None);
    let c = Completed { return_to: "https://app.example.com/a?b=1".into(), max_age: Secs(300) };
    assert_eq!(Completed::decode(&c.encode()), Some(c));
    assert_eq!(Completed::decode("x\n/"), None);
}
