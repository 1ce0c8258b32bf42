//! Native tests of signing a user in: PKCE (RFC 7636 Appendix B), the authorization URL,
//! what a callback means, the sign-in's token requests, and the user session in the state
//! machine (refresh with rotation, invalid_grant, other tabs' tokens, sign-out, sleep).
#![cfg(all(not(target_arch = "wasm32"), feature = "signin"))]

mod common;
use common::parse_url;
use sha2::{Digest, Sha256};
use tokenkit::proto::client::config::{Config, Grant, Source};
use tokenkit::proto::client::presets::GENERIC;
use tokenkit::proto::client::machine::{Action, Get, Machine, Outcome, Restored, Snapshot, MIN_RESTORE};
use tokenkit::proto::client::request::{Call, Runtime};
use tokenkit::proto::http::{Body, HttpResponse};
use tokenkit::proto::signin::{authorization_url, callback, check_nonce, code_challenge, pending, Pending, StepUp};
use tokenkit::proto::time::{Instant, Now, WallMillis};
use tokenkit::proto::value::Value;
use tokenkit::proto::{AccessToken, Error, RefreshToken};

fn s(v: &str) -> Value {
    Value::Str(v.to_owned())
}

fn opts(extra: &[(&str, Value)]) -> Vec<(String, Value)> {
    let mut pairs: Vec<(String, Value)> = vec![
        ("grant".into(), s("authorization_code")),
        ("authorizeUrl".into(), s("https://auth.example.com/authorize")),
        ("tokenUrl".into(), s("https://auth.example.com/token")),
        ("revocationUrl".into(), s("https://auth.example.com/revoke")),
        ("clientId".into(), s("spa")),
        ("clientAuth".into(), s("none")),
        ("redirectUri".into(), s("https://app.example.com/callback")),
        ("scope".into(), s("openid offline_access read")),
    ];
    for (k, v) in extra {
        pairs.retain(|(n, _)| n != k);
        if !matches!(v, Value::Null) {
            pairs.push((k.to_string(), v.clone()));
        }
    }
    pairs
}

fn config(extra: &[(&str, Value)]) -> Result<Config, Error> {
    Config::from_options(&GENERIC, &Value::Object(opts(extra)), &parse_url)
}

fn parts(cfg: &Config) -> (&tokenkit::proto::client::config::Endpoint, &tokenkit::proto::client::config::AuthCode) {
    match &cfg.source {
        Source::Endpoint(ep) => match &ep.grant {
            Grant::AuthorizationCode(ac) => (ep, ac),
            _ => panic!("not a sign-in client"),
        },
        Source::ApiKey { .. } => panic!("not an endpoint"),
    }
}

// ---------------------------------------------------------------- PKCE

#[test]
fn pkce_matches_rfc_7636_appendix_b() {
    // The appendix's 32 random octets, its verifier and its challenge.
    let octets = [
        116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77, 105, 214, 191, 240, 91,
        88, 5, 88, 83, 132, 141, 121,
    ];
    let mut random = octets.to_vec();
    random.extend([7u8; 32]);
    let p = pending(&random, None, Some("read")).unwrap();
    assert_eq!(p.verifier, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    let digest = Sha256::digest(p.verifier.as_bytes());
    assert_eq!(code_challenge(&digest), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    assert_eq!(p.nonce, None, "no nonce without openid");
    assert_eq!(p.state.len(), 22, "128 bits of state, base64url");
    assert!(p.state.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
}

#[test]
fn state_and_nonce() {
    let random: Vec<u8> = (0..64).collect();
    let p = pending(&random, None, Some("openid profile")).unwrap();
    assert_eq!(p.nonce.as_deref().map(str::len), Some(22));
    assert_ne!(p.nonce.as_deref(), Some(p.state.as_str()));
    let mine = pending(&random, Some("app-state-0123456789".into()), None).unwrap();
    assert_eq!(mine.state, "app-state-0123456789");
    let short = pending(&random, Some("guessable".into()), None).unwrap_err();
    assert_eq!(short.code(), "INVALID_CONFIG");
    assert!(pending(&random[..40], None, None).is_err(), "too few random bytes");
}

// ---------------------------------------------------------------- the authorization URL

#[test]
fn authorization_url_carries_exactly_the_sign_in_parameters() {
    let cfg = config(&[("resource", s("https://api.example.com/"))]).unwrap();
    let (ep, ac) = parts(&cfg);
    let p = Pending { state: "st".into(), verifier: "v".into(), nonce: Some("n0".into()) };
    let url = authorization_url(ep, ac, &p, "CH", &[("prompt".into(), "login".into()), ("login_hint".into(), "a b@c".into())], &StepUp::default(), None).unwrap();
    assert_eq!(
        url,
        "https://auth.example.com/authorize?response_type=code&client_id=spa\
         &redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&scope=openid+offline_access+read\
         &state=st&code_challenge=CH&code_challenge_method=S256&nonce=n0\
         &resource=https%3A%2F%2Fapi.example.com%2F&prompt=login&login_hint=a+b%40c"
    );
    // An authorize URL with its own query keeps it.
    let cfg = config(&[("authorizeUrl", s("https://login.example.com/authorize?p=B2C_1_signin"))]).unwrap();
    let (ep, ac) = parts(&cfg);
    let url = authorization_url(ep, ac, &p, "CH", &[], &StepUp::default(), None).unwrap();
    assert!(url.starts_with("https://login.example.com/authorize?p=B2C_1_signin&response_type=code&"), "{url}");
    for name in ["state", "code_challenge", "redirect_uri", "nonce", "client_id", "scope", "dpop_jkt", ""] {
        let e = authorization_url(ep, ac, &p, "CH", &[(name.into(), "x".into())], &StepUp::default(), None).unwrap_err();
        assert_eq!(e.code(), "INVALID_CONFIG", "{name}");
    }
    // With DPoP, the key's thumbprint binds the code to it (RFC 9449 §10), before the
    // caller's own parameters.
    let url = authorization_url(ep, ac, &p, "CH", &[("prompt".into(), "login".into())], &StepUp::default(), Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")).unwrap();
    assert!(url.ends_with("&nonce=n0&dpop_jkt=NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs&prompt=login"), "{url}");
    for name in ["acr_values", "max_age"] {
        assert!(authorization_url(ep, ac, &p, "CH", &[(name.into(), "x".into())], &StepUp::default(), None).is_err(), "{name}: only through acrValues / maxAge");
    }
}

#[test]
fn step_up_asks_for_the_acr_max_age_and_scope_a_challenge_named() {
    let cfg = config(&[]).unwrap();
    let (ep, ac) = parts(&cfg);
    let p = Pending { state: "st".into(), verifier: "v".into(), nonce: None };
    let opts = |pairs: &[(&str, Value)]| pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<Vec<_>>();
    // RFC 9470 §4: acr_values and max_age on the authorization request; a challenge's scope
    // replaces the client's for this sign-in.
    let step = StepUp::from_options(&opts(&[("acrValues", s("urn:mfa  phr")), ("maxAge", Value::Num(300.0)), ("scope", Value::List(vec![s("openid"), s("admin")]))])).unwrap();
    let url = authorization_url(ep, ac, &p, "CH", &[], &step, None).unwrap();
    assert!(url.contains("&scope=openid+admin&state=st&"), "{url}");
    assert!(url.ends_with("&acr_values=urn%3Amfa++phr&max_age=300"), "{url}");
    assert!(!url.contains("offline_access"), "the step-up's scope, not the client's: {url}");
    let none = StepUp::from_options(&opts(&[])).unwrap();
    assert!(!authorization_url(ep, ac, &p, "CH", &[], &none, None).unwrap().contains("max_age"));
    assert!(StepUp::from_options(&opts(&[("maxAge", Value::Num(0.0))])).unwrap().max_age == Some(0), "max_age=0: authenticate now");
    for (k, v) in [("maxAge", Value::Num(-1.0)), ("maxAge", Value::Num(1.5)), ("maxAge", s("300")), ("acrValues", s(" ")), ("acrValues", Value::Num(1.0)), ("scope", Value::Num(1.0))] {
        let e = StepUp::from_options(&opts(&[(k, v.clone())])).unwrap_err();
        assert!(matches!(&e, Error::InvalidConfig { field, .. } if field.starts_with(k)), "{k}={v:?}: {e:?}");
    }
}

// ---------------------------------------------------------------- callbacks

#[test]
fn callback_table() {
    let p = Pending { state: "good-state-0123456".into(), verifier: "v".repeat(43), nonce: None };
    let q = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    let iss = Some("https://auth.example.com");
    type Row<'a> = (&'a str, Vec<(String, String)>, Option<&'a Pending>, Result<&'a str, &'a str>);
    let rows: Vec<Row> = vec![
        ("a code with our state", q(&[("code", "c1"), ("state", "good-state-0123456")]), Some(&p), Ok("c1")),
        ("the matching iss", q(&[("code", "c1"), ("state", "good-state-0123456"), ("iss", "https://auth.example.com")]), Some(&p), Ok("c1")),
        ("nothing pending", q(&[("code", "c1"), ("state", "good-state-0123456")]), None, Err("STATE_MISMATCH")),
        ("another state", q(&[("code", "c1"), ("state", "evil")]), Some(&p), Err("STATE_MISMATCH")),
        ("no state", q(&[("code", "c1")]), Some(&p), Err("STATE_MISMATCH")),
        ("an error with another state is not believed", q(&[("error", "access_denied"), ("state", "evil")]), Some(&p), Err("STATE_MISMATCH")),
        ("an error with our state", q(&[("error", "access_denied"), ("error_description", "no"), ("state", "good-state-0123456")]), Some(&p), Err("OAUTH_ERROR")),
        ("another issuer (mix-up)", q(&[("code", "c1"), ("state", "good-state-0123456"), ("iss", "https://evil.example.com")]), Some(&p), Err("INVALID_RESPONSE")),
        ("no code", q(&[("state", "good-state-0123456")]), Some(&p), Err("INVALID_RESPONSE")),
        ("an empty code", q(&[("code", ""), ("state", "good-state-0123456")]), Some(&p), Err("INVALID_RESPONSE")),
    ];
    for (name, params, pend, want) in rows {
        let got = callback(&params, pend, iss, false);
        match (got, want) {
            (Ok(code), Ok(w)) => assert_eq!(code, w, "{name}"),
            (Err(e), Err(w)) => assert_eq!(e.code(), w, "{name}: {}", e.message()),
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
    let e = callback(&q(&[("error", "access_denied"), ("error_description", "The user said no"), ("state", "good-state-0123456")]), Some(&p), iss, false).unwrap_err();
    assert_eq!(e.message(), "the authorization server refused the sign-in: access_denied: The user said no");
    // Mix-up (RFC 9207 §2.4): when the server's metadata promises an iss, a callback
    // without one is refused, error callbacks included; with the right one it passes.
    for params in [q(&[("code", "c1"), ("state", "good-state-0123456")]), q(&[("error", "access_denied"), ("state", "good-state-0123456")])] {
        let e = callback(&params, Some(&p), iss, true).unwrap_err();
        assert!(e.code() == "INVALID_RESPONSE" && e.message().contains("no iss"), "{params:?}: {e:?}");
    }
    assert_eq!(callback(&q(&[("code", "c1"), ("state", "good-state-0123456"), ("iss", "https://auth.example.com")]), Some(&p), iss, true).unwrap(), "c1");
    assert!(check_nonce(Some("n"), Some("n")).is_ok());
    assert_eq!(check_nonce(Some("n"), Some("m")).unwrap_err().code(), "INVALID_RESPONSE");
    assert_eq!(check_nonce(Some("n"), None).unwrap_err().code(), "INVALID_RESPONSE");
    assert!(check_nonce(None, None).is_ok());
}

// ---------------------------------------------------------------- configuration

#[test]
fn sign_in_options_are_checked() {
    let err = |extra: &[(&str, Value)]| config(extra).map(|_| ()).unwrap_err();
    let field = |e: Error| match e {
        Error::InvalidConfig { field, .. } => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(err(&[("authorizeUrl", Value::Null)])), "authorizeUrl");
    assert_eq!(field(err(&[("redirectUri", Value::Null)])), "redirectUri");
    assert_eq!(field(err(&[("authorizeUrl", s("http://auth.example.com/authorize"))])), "authorizeUrl");
    assert_eq!(field(err(&[("redirectUri", s("http://app.example.com/cb"))])), "redirectUri");
    assert_eq!(field(err(&[("redirectUri", s("https://app.example.com/cb#x"))])), "redirectUri");
    assert_eq!(field(err(&[("grant", s("implicit"))])), "grant");
    assert!(config(&[("redirectUri", s("http://localhost:5173/cb"))]).is_ok(), "loopback http is allowed");
    // Sign-in options without the grant are a mistake, not ignored.
    let cc = Config::from_options(
        &GENERIC,
        &Value::Object(vec![
            ("tokenUrl".into(), s("https://auth.example.com/token")),
            ("clientId".into(), s("a")),
            ("clientSecret".into(), s("b")),
            ("redirectUri".into(), s("https://app.example.com/cb")),
        ]),
        &parse_url,
    );
    assert_eq!(field(cc.map(|_| ()).unwrap_err()), "redirectUri");
    // A confidential client signs users in too (client_secret_basic by default).
    let conf = config(&[("clientAuth", Value::Null), ("clientSecret", s("shh"))]).unwrap();
    assert!(matches!(&conf.source, Source::Endpoint(ep) if ep.client_secret.is_some()));
}

// ---------------------------------------------------------------- requests

#[test]
fn exchange_refresh_and_revocation_requests() {
    let cfg = config(&[]).unwrap();
    let (ep, _) = parts(&cfg);
    let code = ep.request(Runtime::Browser, Call::Code { code: "c/1", verifier: "ver", redirect_uri: "https://app.example.com/callback" });
    assert_eq!(code.url, "https://auth.example.com/token");
    assert_eq!(code.body, "grant_type=authorization_code&code=c%2F1&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&code_verifier=ver&client_id=spa");
    assert!(!code.lock);
    let refresh = ep.request(Runtime::Browser, Call::Refresh { refresh_token: "rt+1" });
    assert_eq!(refresh.body, "grant_type=refresh_token&refresh_token=rt%2B1&client_id=spa", "no scope: a refresh keeps the granted one");
    assert!(refresh.lock, "a browser refresh holds the cross-tab lock");
    assert!(!ep.request(Runtime::Node, Call::Refresh { refresh_token: "r" }).lock);
    let revoke = ep.request(Runtime::Browser, Call::Revoke { url: "https://auth.example.com/revoke", token: "rt", hint: "refresh_token" });
    assert_eq!(revoke.url, "https://auth.example.com/revoke");
    assert_eq!(revoke.body, "token=rt&token_type_hint=refresh_token&client_id=spa");
    assert_eq!(revoke.redirect, "manual");
    // A confidential client authenticates every one of them.
    let conf = config(&[("clientAuth", Value::Null), ("clientSecret", s("shh"))]).unwrap();
    let (ep, _) = parts(&conf);
    let r = ep.request(Runtime::Node, Call::Refresh { refresh_token: "rt" });
    assert_eq!(r.body, "grant_type=refresh_token&refresh_token=rt");
    assert!(r.headers.iter().any(|(k, v)| *k == "Authorization" && v == "Basic c3BhOnNoaA=="));
}

// ---------------------------------------------------------------- the user session

fn tokens(at: &str, rt: Option<&str>, expires_in: f64) -> HttpResponse {
    let mut f = vec![("access_token".to_owned(), s(at)), ("token_type".to_owned(), s("Bearer")), ("expires_in".to_owned(), Value::Num(expires_in))];
    if let Some(rt) = rt {
        f.push(("refresh_token".to_owned(), s(rt)));
    }
    HttpResponse { dpop_nonce: None, status: 200, retry_after: None, body: Body::Json(Value::Object(f)) }
}

fn oauth_error(code: &str) -> HttpResponse {
    HttpResponse { dpop_nonce: None, status: 400, retry_after: None, body: Body::Json(Value::Object(vec![("error".into(), s(code))])) }
}

/// Drains the actions: (sends, aborts, shares, expired, errors).
fn drain(m: &mut Machine) -> (Vec<tokenkit::proto::client::machine::AttemptId>, usize, usize, usize, usize) {
    let (mut sends, mut aborts, mut shares, mut expired, mut errors) = (Vec::new(), 0, 0, 0, 0);
    while let Some(a) = m.poll() {
        match a {
            Action::Send(id) => sends.push(id),
            Action::Abort(_) => aborts += 1,
            Action::Share => shares += 1,
            Action::Expired => expired += 1,
            Action::Error(_) => errors += 1,
            _ => {}
        }
    }
    (sends, aborts, shares, expired, errors)
}

/// A machine of `cfg` whose user signed in at `now`: its exchange answered with
/// `at` and refresh token `rt`, lasting 100 s.
fn signed_in(cfg: Config, runtime: Runtime, at: &str, rt: Option<&str>, now: Now) -> Machine {
    let mut m = Machine::new(cfg, runtime, 1);
    m.exchange("c".into(), "v".into(), now).unwrap();
    let (sends, ..) = drain(&mut m);
    m.handle_response(sends[0], Ok(tokens(at, rt, 100.0)), now, &parse_url);
    drain(&mut m);
    m
}

/// Both clocks `ms` after `wall`, moving together (no suspend, no jump).
fn clock(wall: WallMillis, ms: u64) -> Now {
    Now { mono: Instant(ms), wall: WallMillis(wall.0 + ms) }
}

fn body(m: &Machine) -> String {
    m.request().map(|r| r.body).unwrap_or_default()
}

#[test]
fn a_user_session_from_sign_in_to_sign_out() {
    let wall = WallMillis(1_700_000_000_000);
    let mut m = Machine::new(config(&[]).unwrap(), Runtime::Browser, 1);
    // Not signed in: no token request, a typed error.
    assert!(matches!(m.get(clock(wall, 0)), Get::Fail(Error::LoginRequired { .. })));
    assert!(!m.is_authorized());
    assert_eq!(drain(&mut m).0.len(), 0);

    // Sign-in: the code is exchanged once, never retried.
    let flight = m.exchange("code-1".into(), "verifier-1".into(), clock(wall, 10)).unwrap();
    let (sends, ..) = drain(&mut m);
    assert!(body(&m).starts_with("grant_type=authorization_code&code=code-1&"));
    let unreachable = m.unreachable();
    m.handle_response(sends[0], Err(unreachable), clock(wall, 20), &parse_url);
    assert!(matches!(m.outcome(flight), Outcome::Done(Err(Error::Network { .. }))), "a code is single-use: no retry");
    let flight = m.exchange("code-2".into(), "verifier-2".into(), clock(wall, 30)).unwrap();
    let (sends, ..) = drain(&mut m);
    m.handle_response(sends[0], Ok(tokens("at1", Some("rt1"), 100.0)), clock(wall, 40), &parse_url);
    let (_, _, shares, ..) = drain(&mut m);
    assert_eq!(shares, 1, "other tabs are told");
    assert!(matches!(m.outcome(flight), Outcome::Done(Ok(t)) if t.access_token.expose() == "at1"));
    assert!(m.is_authorized());

    // At the refresh point the refresh token is used, and the rotated one replaces it.
    m.handle_timeout(clock(wall, 30 + 50_000));
    let (sends, ..) = drain(&mut m);
    assert_eq!(sends.len(), 1);
    assert_eq!(body(&m), "grant_type=refresh_token&refresh_token=rt1&client_id=spa");
    assert!(m.request().unwrap().lock);
    m.handle_response(sends[0], Ok(tokens("at2", Some("rt2"), 100.0)), clock(wall, 50_100), &parse_url);
    drain(&mut m);
    assert!(matches!(m.get(clock(wall, 50_200)), Get::Ready(t) if t.access_token.expose() == "at2"));
    m.invalidate(clock(wall, 50_300));
    drain(&mut m);
    let Get::Wait(_) = m.get(clock(wall, 50_400)) else { panic!("an invalidated token is refreshed") };
    assert_eq!(body(&m), "grant_type=refresh_token&refresh_token=rt2&client_id=spa");
    let (sends, ..) = drain(&mut m);
    // A server that does not rotate: the refresh token is kept.
    m.handle_response(sends[0], Ok(tokens("at3", None, 100.0)), clock(wall, 50_500), &parse_url);
    drain(&mut m);
    m.invalidate(clock(wall, 50_600));
    let Get::Wait(_) = m.get(clock(wall, 50_700)) else { panic!() };
    assert_eq!(body(&m), "grant_type=refresh_token&refresh_token=rt2&client_id=spa");

    // The refresh token is refused: the session ends, waiters are told to sign in.
    let Get::Wait(w) = m.get(clock(wall, 50_710)) else { panic!() };
    let (sends, ..) = drain(&mut m);
    m.handle_response(sends[0], Ok(oauth_error("invalid_grant")), clock(wall, 50_800), &parse_url);
    let (_, _, _, _, errors) = drain(&mut m);
    assert_eq!(errors, 1, "one \"error\" event");
    assert!(matches!(m.outcome(w), Outcome::Done(Err(Error::LoginRequired { .. }))));
    assert!(!m.is_authorized());
    assert!(matches!(m.get(clock(wall, 50_900)), Get::Fail(Error::LoginRequired { .. })));
    assert_eq!(drain(&mut m).0.len(), 0, "and nothing is sent without a session");
}

#[test]
fn invalid_grant_on_a_background_refresh_expires_the_session() {
    let wall = WallMillis(0);
    let mut m = signed_in(config(&[]).unwrap(), Runtime::Node, "at1", Some("rt1"), clock(wall, 0));
    m.handle_timeout(clock(wall, 50_000));
    let (sends, ..) = drain(&mut m);
    m.handle_response(sends[0], Ok(oauth_error("invalid_grant")), clock(wall, 50_010), &parse_url);
    let (_, _, _, expired, errors) = drain(&mut m);
    assert_eq!((expired, errors), (1, 1), "\"expired\" and \"error\", so the app can sign in again");
    assert!(matches!(m.get(clock(wall, 50_020)), Get::Fail(Error::LoginRequired { .. })), "the old access token is not served either");
    // Other errors keep the session: the old token is served while it lasts.
    let mut m = signed_in(config(&[]).unwrap(), Runtime::Node, "at1", Some("rt1"), clock(wall, 0));
    m.handle_timeout(clock(wall, 50_000));
    let (sends, ..) = drain(&mut m);
    m.handle_response(sends[0], Ok(oauth_error("invalid_request")), clock(wall, 50_010), &parse_url);
    drain(&mut m);
    assert!(matches!(m.get(clock(wall, 50_020)), Get::Ready(t) if t.access_token.expose() == "at1"));
    assert!(m.is_authorized());
}

#[test]
fn tokens_from_another_tab_call_off_this_tabs_refresh() {
    let wall = WallMillis(1_700_000_000_000);
    let mut m = Machine::new(config(&[]).unwrap(), Runtime::Browser, 1);
    // What another tab (or storage) holds: 100 s left on the wall clock.
    let snap = |at: &str, rt: &str, left: u64| Snapshot {
        access_token: Some(AccessToken::new(at.into())),
        refresh_token: Some(RefreshToken::new(rt.into())),
        scope: Some("openid".into()),
        expires_at: WallMillis(wall.0 + left),
    };
    // Restoring before any sign-in: a new tab joins the session.
    assert!(matches!(m.restore(snap("at1", "rt1", 100_999), clock(wall, 0)), Restored::Token(_)));
    let (sends, _, shares, ..) = drain(&mut m);
    assert!(sends.is_empty() && shares == 0, "restored tokens are not shared back");
    assert!(matches!(m.get(clock(wall, 1)), Get::Ready(t) if t.access_token.expose() == "at1"));
    // The snapshot this machine gives back has the same wall-clock expiry and tokens.
    let (_, back) = m.snapshot(clock(wall, 40_000)).unwrap();
    assert_eq!(back.expires_at, WallMillis(wall.0 + 100_999), "expiry crosses on the wall clock, to the millisecond");
    assert_eq!((back.access_token.as_ref().unwrap().expose(), back.refresh_token.as_ref().unwrap().expose(), back.scope.as_deref()), ("at1", "rt1", Some("openid")));
    // An older session (it lasts no longer than the one held) is refused: its refresh token
    // may have been spent since.
    assert_eq!(m.restore(snap("old", "rt-old", 50_000), clock(wall, 2)), Restored::Nothing);
    assert!(matches!(m.get(clock(wall, 3)), Get::Ready(t) if t.access_token.expose() == "at1"));
    // This tab's refresh is waiting (for the lock, say) when another tab's tokens arrive.
    m.invalidate(clock(wall, 2));
    let Get::Wait(w) = m.get(clock(wall, 3)) else { panic!() };
    let (sends, ..) = drain(&mut m);
    assert_eq!(body(&m), "grant_type=refresh_token&refresh_token=rt1&client_id=spa");
    assert!(m.restore(snap("at2", "rt2", 200_000), clock(wall, 4)).taken());
    let (_, aborts, ..) = drain(&mut m);
    assert_eq!(aborts, 1, "the refresh is called off (its lock callback sees the abort)");
    assert!(matches!(m.outcome(w), Outcome::Done(Ok(t)) if t.access_token.expose() == "at2"));
    m.handle_response(sends[0], Ok(tokens("late", Some("rt-late"), 100.0)), clock(wall, 5), &parse_url);
    assert!(matches!(m.get(clock(wall, 6)), Get::Ready(t) if t.access_token.expose() == "at2"), "a stale answer is ignored");
    m.invalidate(clock(wall, 7));
    let _ = m.get(clock(wall, 8));
    assert_eq!(body(&m), "grant_type=refresh_token&refresh_token=rt2&client_id=spa", "the restored refresh token is used");
    // Less than MIN_RESTORE left, already expired, or no access token at all: the access
    // token is not worth taking up, but the refresh token is the session. A machine that
    // holds none takes it up and refreshes on its first call (a session object restored
    // after any idle time; a new tab joining a session whose access token lapsed).
    for (why, snapshot) in [
        ("less than MIN_RESTORE left", snap("x", "y", MIN_RESTORE.0 - 1)),
        ("expired", Snapshot { expires_at: WallMillis(wall.0 - 5), ..snap("x", "y", 0) }),
        ("no access token", Snapshot { access_token: None, expires_at: WallMillis(0), ..snap("x", "y", 0) }),
    ] {
        let mut fresh = Machine::new(config(&[]).unwrap(), Runtime::Browser, 1);
        assert_eq!(fresh.restore(snapshot, clock(wall, 0)), Restored::Refresh, "{why}");
        assert!(fresh.is_authorized() && fresh.session().is_none(), "{why}");
        let Get::Wait(w) = fresh.get(clock(wall, 1)) else { panic!("{why}: a call refreshes") };
        let (sends, ..) = drain(&mut fresh);
        assert_eq!(body(&fresh), "grant_type=refresh_token&refresh_token=y&client_id=spa", "{why}");
        fresh.handle_response(sends[0], Ok(tokens("at-new", Some("y2"), 300.0)), clock(wall, 2), &parse_url);
        assert!(matches!(fresh.outcome(w), Outcome::Done(Ok(t)) if t.access_token.expose() == "at-new"), "{why}");
        // What it writes back holds the rotated refresh token.
        let (id, back) = fresh.snapshot(clock(wall, 3)).unwrap();
        assert!(id.is_some() && back.refresh_token.unwrap().expose() == "y2", "{why}");
    }
    // Once its access token lapses, a machine's snapshot still carries its refresh token.
    let mut lapsing = Machine::new(config(&[]).unwrap(), Runtime::Browser, 1);
    assert!(lapsing.restore(snap("x", "y", 5_000), clock(wall, 0)).taken());
    let (id, kept) = lapsing.snapshot(clock(wall, 6_000)).unwrap();
    assert!(id.is_none() && kept.access_token.is_none() && kept.refresh_token.unwrap().expose() == "y");
    // A refresh token alone never replaces a session this machine holds.
    assert_eq!(m.restore(Snapshot { access_token: None, ..snap("x", "other", 0) }, clock(wall, 9)), Restored::Nothing);
    // Without a refresh token a lapsed snapshot holds nothing.
    let mut fresh = Machine::new(config(&[]).unwrap(), Runtime::Browser, 1);
    assert_eq!(fresh.restore(Snapshot { refresh_token: None, ..snap("x", "y", 10) }, clock(wall, 0)), Restored::Nothing);
    assert!(fresh.session().is_none() && fresh.snapshot(clock(wall, 0)).is_none() && !fresh.is_authorized());
    assert!(matches!(fresh.restore(snap("x", "y", MIN_RESTORE.0), clock(wall, 0)), Restored::Token(_)));
    // During this machine's own sign-in, another tab's session does not replace it.
    let mut signing = Machine::new(config(&[]).unwrap(), Runtime::Browser, 1);
    signing.exchange("c".into(), "v".into(), clock(wall, 0)).unwrap();
    assert_eq!(signing.restore(snap("x", "y", 100_000), clock(wall, 1)), Restored::Nothing);
    // A client-credentials client never restores.
    let cc = Config::from_options(
        &GENERIC,
        &Value::Object(vec![
            ("tokenUrl".into(), s("https://auth.example.com/token")),
            ("clientId".into(), s("a")),
            ("clientSecret".into(), s("b")),
        ]),
        &parse_url,
    )
    .unwrap();
    let mut m = Machine::new(cc, Runtime::Browser, 1);
    assert_eq!(m.restore(snap("x", "y", 100_000), clock(wall, 0)), Restored::Nothing);
    assert!(m.session().is_none());
}

#[test]
fn sign_out_revokes_the_refresh_token_and_forgets_everything() {
    let wall = WallMillis(0);
    let mut m = signed_in(config(&[]).unwrap(), Runtime::Browser, "at1", Some("rt1"), clock(wall, 0));
    let revoke = m.sign_out().expect("a revocation request");
    assert_eq!(revoke.url, "https://auth.example.com/revoke");
    assert_eq!(revoke.body, "token=rt1&token_type_hint=refresh_token&client_id=spa");
    assert!(!m.is_authorized());
    assert!(matches!(m.get(clock(wall, 1)), Get::Fail(Error::LoginRequired { .. })));
    assert!(m.sign_out().is_none(), "nothing left to revoke");
    // Without a refresh token the access token is revoked; without an endpoint, nothing.
    let mut m = signed_in(config(&[]).unwrap(), Runtime::Browser, "at1", None, clock(wall, 0));
    assert_eq!(m.sign_out().unwrap().body, "token=at1&token_type_hint=access_token&client_id=spa");
    let mut m = signed_in(config(&[("revocationUrl", Value::Null)]).unwrap(), Runtime::Browser, "at1", Some("rt"), clock(wall, 0));
    assert!(m.sign_out().is_none());
    assert!(!m.is_authorized());
}

#[test]
fn a_token_whose_time_passed_in_suspend_is_not_served() {
    // A laptop sleeps: the monotonic clock stands still, the wall clock does not.
    let slept = Now { mono: Instant(0), wall: WallMillis(1_000_000) };
    let mut m = signed_in(config(&[]).unwrap(), Runtime::Browser, "at1", Some("rt1"), slept);
    assert!(m.serving(slept).is_some());
    // An hour asleep: 10 ms of monotonic time, 3,600 s of wall time. The first input after
    // it (here a caller) carries both clocks: the token is not handed out, a refresh starts.
    let woke = Now { mono: Instant(10), wall: WallMillis(1_000_000 + 3_600_000) };
    assert!(matches!(m.get(woke), Get::Wait(_)), "a token whose time passed in suspend is not served");
    assert!(m.serving(woke).is_none());
    assert_eq!(body(&m), "grant_type=refresh_token&refresh_token=rt1&client_id=spa");
}

#[test]
fn a_wall_clock_that_runs_ahead_shortens_a_tokens_life_and_one_set_back_changes_nothing() {
    let t0 = Now { mono: Instant(0), wall: WallMillis(10_000_000) };
    let mut m = signed_in(config(&[]).unwrap(), Runtime::Browser, "at1", Some("rt1"), t0);
    let before = m.serving(t0).map(|s| s.until).unwrap();
    // Set back, then 1.5 s ahead of the monotonic clock (under SUSPEND_GAP: drift).
    m.handle_timeout(Now { mono: Instant(1_000), wall: WallMillis(5_000_000) });
    let drift = Now { mono: Instant(2_000), wall: WallMillis(5_002_500) };
    m.handle_timeout(drift);
    assert_eq!(m.serving(drift).map(|s| s.until), Some(before));
    // A forward step of 3.5 s over 1 s of monotonic time: 2.5 s unaccounted for, over
    // SUSPEND_GAP, so taken for a suspend: the token's deadlines move that much earlier.
    let step = Now { mono: Instant(3_000), wall: WallMillis(5_002_500 + 3_500) };
    m.handle_timeout(step);
    let after = m.serving(step).map(|s| s.until).unwrap();
    assert_eq!(after, Instant(before.0 - 2_500), "a forward wall step over SUSPEND_GAP ends the token's life early");
    assert!(matches!(m.get(Now { mono: Instant(3_001), wall: WallMillis(step.wall.0 + 1) }), Get::Ready(_)));
}

#[test]
fn a_refresh_keeps_its_tab_lock_only_when_the_server_took_it() {
    use tokenkit::proto::client::machine::{lock_hold, LOCK_HOLD};
    use tokenkit::proto::time::Millis;
    for (status, hold) in [(200, LOCK_HOLD), (204, LOCK_HOLD), (299, LOCK_HOLD), (0, Millis(0)), (199, Millis(0)), (302, Millis(0)), (400, Millis(0)), (401, Millis(0)), (503, Millis(0))] {
        assert_eq!(lock_hold(status), hold, "{status}");
    }
}

/// The lock a page's refresh is sent holding: one per generation of tokens, shared by the
/// tabs that took the same tokens up; a new one with each set from the server.
#[test]
fn a_pages_refresh_holds_the_lock_of_its_tokens_generation() {
    let wall = WallMillis(1_700_000_000_000);
    let a = signed_in(config(&[]).unwrap(), Runtime::Browser, "at1", Some("rt1"), clock(wall, 0));
    let gen_a = a.generation();
    assert!(gen_a < 1 << 53, "a JavaScript number");
    // Another tab (its own seed: its own generation) takes A's tokens up, and their generation.
    let mut a = a;
    let mut b = Machine::new(config(&[]).unwrap(), Runtime::Browser, 99 << 11);
    assert_ne!(b.generation(), gen_a, "each tab starts with its own");
    let (_, shared) = a.snapshot(clock(wall, 1)).unwrap();
    let (_, again) = a.snapshot(clock(wall, 1)).unwrap();
    assert!(b.restore_shared(shared, Some(gen_a), clock(wall, 1)).taken());
    assert_eq!(b.generation(), gen_a, "the tabs holding one refresh token queue on one lock");
    // B's refresh is sent holding that lock.
    b.invalidate(clock(wall, 2));
    let _ = b.get(clock(wall, 3));
    let (sends, ..) = drain(&mut b);
    assert!(b.request().unwrap().lock, "a page's refresh is locked");
    // Its new tokens, from the server: a new generation (the tabs still on rt1 queue on the old lock).
    b.handle_response(sends[0], Ok(tokens("at2", Some("rt2"), 100.0)), clock(wall, 4), &parse_url);
    let (_, _, shares, ..) = drain(&mut b);
    assert_eq!(shares, 1);
    assert_ne!(b.generation(), gen_a, "new tokens from the server, a new generation");
    assert!(b.generation() < 1 << 53);
    // Nothing taken, nothing adopted: A already holds a token lasting as long as this older one.
    assert_eq!(a.restore_shared(again, Some(123), clock(wall, 5)), Restored::Nothing);
    assert_eq!(a.generation(), gen_a, "a generation comes only with tokens taken up");
    // What is not a generation is not adopted: the tokens are, this tab keeps its own.
    for (why, given) in [("absent", None), ("2^53", Some(1 << 53)), ("larger", Some(u64::MAX))] {
        let mut c = Machine::new(config(&[]).unwrap(), Runtime::Browser, 7 << 11);
        let own = c.generation();
        let (_, snap) = b.snapshot(clock(wall, 6)).unwrap();
        assert!(c.restore_shared(snap, given, clock(wall, 6)).taken(), "{why}");
        assert_eq!(c.generation(), own, "{why}");
    }
    // Off a page no lock is held (Node, Workers, the broker's session objects).
    let mut n = signed_in(config(&[]).unwrap(), Runtime::Node, "at1", Some("rt1"), clock(wall, 0));
    n.invalidate(clock(wall, 1));
    let _ = n.get(clock(wall, 2));
    drain(&mut n);
    assert!(!n.request().unwrap().lock);
}

#[test]
fn a_saved_sign_in_without_its_state_is_refused_before_anything_is_sent() {
    // completeAuthorization(url, saved) with a saved sign-in the app kept itself: an empty or
    // short state would match a callback anyone can make (`?state=&code=...`).
    let v = "v".repeat(43);
    let params = |state: &str| vec![("state".to_owned(), state.to_owned()), ("code".to_owned(), "c".to_owned())];
    for (state, verifier, field) in [
        ("", v.as_str(), "state"),
        ("short", v.as_str(), "state"),
        ("fifteen-chars-x", v.as_str(), "state"),
        ("sixteen-chars-xy", "too-short", "codeVerifier"),
    ] {
        let p = Pending { state: state.into(), verifier: verifier.into(), nonce: None };
        let e = callback(&params(state), Some(&p), None, false).unwrap_err();
        assert!(e.code() == "INVALID_CONFIG" && matches!(&e, Error::InvalidConfig { field: f, .. } if f == field), "{state:?}: {e:?}");
    }
    let p = Pending { state: "sixteen-chars-xy".into(), verifier: v, nonce: None };
    assert_eq!(callback(&params("sixteen-chars-xy"), Some(&p), None, false).unwrap(), "c");
}

/// Only a page's sign-in client joins its origin's tabs and keeps the pending sign-in itself;
/// a server's app keeps that in the user's own session, and a client credentials client
/// signs no one in.
#[test]
fn a_pages_sign_in_client_shares_with_tabs_and_keeps_its_pending_sign_in() {
    let cc = || {
        let o = vec![("tokenUrl".to_owned(), s("https://auth.example.com/token")), ("clientId".to_owned(), s("svc")), ("clientSecret".to_owned(), s("x"))];
        Config::from_options(&GENERIC, &Value::Object(o), &parse_url).unwrap()
    };
    let rows = [
        (config(&[]).unwrap(), Runtime::Browser, true),
        (config(&[]).unwrap(), Runtime::Node, false),
        (config(&[]).unwrap(), Runtime::Workerd, false),
        (cc(), Runtime::Browser, false),
    ];
    for (cfg, runtime, want) in rows {
        let m = Machine::new(cfg, runtime, 1);
        assert_eq!(m.in_page(), want, "{runtime:?}");
    }
}

/// The user-session part alone: which refusals end a session (exactly `invalid_grant`),
/// a rotation without a new refresh token keeps the old one, and each set the server
/// gives renews the generation (53 bits, a JavaScript number).
#[test]
fn the_session_part_ends_only_on_invalid_grant_and_keeps_an_unrotated_refresh_token() {
    use tokenkit::proto::client::machine::session::UserSession;
    let oauth = |error: &str| Error::OAuth { status: 400, error: error.into(), description: None };
    let mut part = UserSession::new(0xdead_beef_0000_0000);
    assert_eq!(part.generation(), 0xdead_beef_0000_0000 >> 11);
    for (e, ends) in [
        (oauth("invalid_grant"), true),
        (oauth("invalid_client"), false),
        (oauth("invalid_grant "), false),
        (oauth("INVALID_GRANT"), false),
        (Error::Http { status: 400, detail: "", retry_after: None }, false),
        (Error::Disposed, false),
    ] {
        assert_eq!(part.ends(&e), ends, "{e:?}");
    }
    assert_eq!(part.ended().code(), "LOGIN_REQUIRED");
    assert_eq!(part.missing().code(), "LOGIN_REQUIRED");
    assert!(part.refresh_token().is_none());
    part.rotated(Some(RefreshToken::new("rt-1".into())));
    part.rotated(None);
    assert_eq!(part.refresh_token().map(|r| r.expose()), Some("rt-1"));
    part.rotated(Some(RefreshToken::new("rt-2".into())));
    assert_eq!(part.refresh_token().map(|r| r.expose()), Some("rt-2"));
    part.renewed(u64::MAX);
    assert_eq!(part.generation(), (1 << 53) - 1);
    part.forget();
    assert!(part.refresh_token().is_none());
}

/// Another tab's generation as the number it crossed as: only an integer below 2^53 is one.
#[test]
fn a_generation_from_another_tab_is_an_integer_below_2_53() {
    use tokenkit::proto::client::machine::generation_of;
    for (n, g) in [
        (0.0, Some(0)),
        (42.0, Some(42)),
        (9_007_199_254_740_991.0, Some((1 << 53) - 1)),
        (9_007_199_254_740_992.0, None),
        (1.5, None),
        (-1.0, None),
        (-0.5, None),
        (f64::NAN, None),
        (f64::INFINITY, None),
    ] {
        assert_eq!(generation_of(n), g, "{n}");
    }
}
