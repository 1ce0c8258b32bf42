// Shared by tests/wasm_node.rs and tests/wasm_browser.rs: the same tests in Node and in
// headless Chromium, with real timers. The token server is simulated in the test's own
// realm (tests/wasm/sim.js, through the client's `fetch` option), so `wasm-pack test --node`
// and `wasm-pack test --headless --chrome` need nothing started by hand. One test per
// runtime goes through the real `fetch` to tests/fixtures/server.mjs: `make test`
// (tests/wasm/run.mjs) starts it and passes its origin in TOKENKIT_FIXTURE at compile
// time; without it that test says it is skipped and passes.

use js_sys::{Function, Promise, Reflect};
use tokenkit::wasm::TokenClient;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

#[wasm_bindgen(inline_js = "
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const getJson = async (url) => (await fetch(url)).json();
export const counter = () => { const f = (x) => { f.calls.push(x); }; f.calls = []; return f; };
export const calls = (f) => f.calls;
")]
extern "C" {
    fn sleep(ms: f64) -> Promise;
    #[wasm_bindgen(js_name = getJson)]
    fn get_json(url: &str) -> Promise;
    fn counter() -> Function;
    fn calls(f: &Function) -> js_sys::Array;
}

#[wasm_bindgen(module = "/tests/wasm/sim.js")]
extern "C" {
    #[wasm_bindgen(js_name = simFetcher)]
    fn sim_fetcher() -> Function;
    #[wasm_bindgen(js_name = simRequests)]
    fn sim_requests(key: &str) -> u32;
}

/// The simulated token server's origin (tests/wasm/sim.js).
const SIM: &str = "https://tokens.test";

/// The real fixture's origin, when `make test` started it.
const FIXTURE: Option<&str> = option_env!("TOKENKIT_FIXTURE");

fn key(name: &str) -> String {
    // Node and Chromium runs share one fixture: keep their scenario keys apart.
    format!("{RUNTIME}-{name}")
}

/// Options for a client of the simulated server (scenario `k`).
fn opts(k: &str, query: &str, extra: &str) -> JsValue {
    let o = real_opts(SIM, k, query, extra);
    Reflect::set(&o, &"fetch".into(), &sim_fetcher()).unwrap();
    o
}

/// Options for a client of the server at `origin`, through the platform's own `fetch`.
fn real_opts(origin: &str, k: &str, query: &str, extra: &str) -> JsValue {
    let json = format!(
        r#"{{"tokenUrl":"{origin}/s/{k}/token?{query}","clientId":"cid","clientSecret":"csecret","allowedOrigins":["{origin}"]{extra}}}"#
    );
    js_sys::JSON::parse(&json).unwrap()
}

async fn wait(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

/// Token requests scenario `k` of the simulated server has had.
async fn log_len(k: &str) -> u32 {
    sim_requests(k)
}

/// Waits until `done()` holds, checking every 50 ms, for at most `ms`: ordering by the
/// event itself, not by a guessed sleep.
async fn until(ms: f64, done: impl Fn() -> bool) -> bool {
    let start = js_sys::Date::now();
    while !done() {
        if js_sys::Date::now() - start > ms {
            return false;
        }
        wait(sleep(50.0)).await.unwrap();
    }
    true
}

fn code(e: &JsValue) -> String {
    Reflect::get(e, &"code".into()).unwrap().as_string().unwrap_or_default()
}

#[wasm_bindgen_test]
async fn token_is_fetched_once_and_cached() {
    let k = key("cache");
    let c = TokenClient::new(opts(&k, "ttl=60", "")).unwrap();
    let a = wait(c.get_token(JsValue::UNDEFINED)).await.unwrap().as_string().unwrap();
    let b = wait(c.get_token(JsValue::UNDEFINED)).await.unwrap().as_string().unwrap();
    assert_eq!(a, b);
    assert!(a.starts_with("tok-"));
    assert_eq!(log_len(&k).await, 1);
    let info = wait(c.get_token_info(JsValue::UNDEFINED)).await.unwrap();
    let expires = Reflect::get(&info, &"expiresAt".into()).unwrap().as_f64().unwrap();
    let left = expires - js_sys::Date::now();
    assert!(left > 55_000.0 && left <= 60_000.0, "{left}");
    c.dispose();
}

#[wasm_bindgen_test]
async fn concurrent_calls_share_one_request() {
    let k = key("flight");
    let c = TokenClient::new(opts(&k, "seq=slow:100&ttl=60", "")).unwrap();
    let all = js_sys::Array::new();
    for _ in 0..200 {
        all.push(&c.get_token(JsValue::UNDEFINED));
    }
    let tokens = wait(Promise::all(&all)).await.unwrap();
    let tokens = js_sys::Array::from(&tokens);
    assert_eq!(tokens.length(), 200);
    assert!(tokens.iter().all(|t| t == tokens.get(0)));
    assert_eq!(log_len(&k).await, 1);
    c.dispose();
}

#[wasm_bindgen_test]
async fn refresh_timer_really_fires() {
    // 10 s tokens, skew 5 s: the timer refreshes at 5 s with no call. A second client,
    // disposed, got its token first: its timer, had dispose left it, would have fired (and
    // its request reached the server) before the first client's.
    let gone = key("timer-disposed");
    let d = TokenClient::new(opts(&gone, "ttl=10", r#","refreshSkewSeconds":5"#)).unwrap();
    wait(d.get_token(JsValue::UNDEFINED)).await.unwrap();
    d.dispose();
    let k = key("timer");
    let c = TokenClient::new(opts(&k, "ttl=10", r#","refreshSkewSeconds":5"#)).unwrap();
    let seen = counter();
    let _off = c.on("token".into(), seen.clone().into()).unwrap();
    wait(c.get_token(JsValue::UNDEFINED)).await.unwrap();
    assert_eq!(calls(&seen).length(), 1);
    assert!(until(9_000.0, || calls(&seen).length() == 2).await, "proactive refresh with no call");
    assert_eq!(log_len(&k).await, 2);
    assert_eq!(log_len(&gone).await, 1, "dispose cancels the timer");
    c.dispose();
}

#[wasm_bindgen_test]
async fn expired_event_when_refresh_fails() {
    // The refresh at 5 s fails (one error), the 5 s cooldown reaches expiry at 10 s: expired.
    let k = key("expired");
    let c = TokenClient::new(opts(&k, "ttl=10&seq=ok,500", r#","maxRetries":0,"refreshSkewSeconds":5"#)).unwrap();
    let expired = counter();
    let errors = counter();
    let _a = c.on("expired".into(), expired.clone().into()).unwrap();
    let _b = c.on("error".into(), errors.clone().into()).unwrap();
    wait(c.get_token(JsValue::UNDEFINED)).await.unwrap();
    assert!(until(9_000.0, || calls(&errors).length() == 1).await, "background refresh failed");
    assert_eq!(code(&calls(&errors).get(0)), "HTTP_ERROR");
    assert_eq!(calls(&expired).length(), 0, "the old token is still valid");
    assert!(until(9_000.0, || calls(&expired).length() == 1).await, "token lapsed without replacement");
    assert_eq!(calls(&errors).length(), 1, "one attempt per cooldown");
    c.dispose();
}

#[wasm_bindgen_test]
async fn signing_only_to_allowed_origins() {
    // fetch() and sign() are carried out by js/shell.js (tests/node covers them); the core's
    // part is here: which origins get which header, and its value.
    let k = key("sign");
    let c = TokenClient::new(opts(&k, "ttl=60", "")).unwrap();
    let none = web_sys::Headers::new().unwrap();
    assert_eq!(c.plan(SIM, &none).unwrap().as_deref(), Some("Authorization"));
    let mine = web_sys::Headers::new().unwrap();
    mine.set("authorization", "Basic x").unwrap();
    assert_eq!(c.plan(SIM, &mine).unwrap(), None, "the caller's own header is left as is");
    let err = c.plan("https://example.invalid", &none).unwrap_err();
    assert_eq!(code(&err), "ORIGIN_NOT_ALLOWED");
    let name = Reflect::get(&err, &"name".into()).unwrap();
    assert_eq!(name.as_string().as_deref(), Some("TokenError"));
    assert!(err.is_instance_of::<js_sys::Error>());
    let auth = js_sys::Array::from(&wait(c.auth(JsValue::UNDEFINED)).await.unwrap());
    let token = wait(c.get_token(JsValue::UNDEFINED)).await.unwrap().as_string().unwrap();
    assert_eq!(auth.get(0).as_string().unwrap(), format!("Bearer {token}"));
    assert!(!c.refused(auth.get(1).as_f64().unwrap(), Some("Bearer".into()), false), "never a replay it cannot send");
    assert_eq!(log_len(&k).await, 1);
    let again = js_sys::Array::from(&wait(c.auth(JsValue::UNDEFINED)).await.unwrap());
    assert!(c.refused(again.get(1).as_f64().unwrap(), None, true), "a refused token: replay with a new one");
    assert_ne!(again.get(0).as_string(), auth.get(0).as_string());
    assert_eq!(log_len(&k).await, 2);
    c.dispose();
}

#[wasm_bindgen_test]
async fn timeout_aborts_hung_request() {
    let k = key("hang");
    let c = TokenClient::new(opts(&k, "seq=hang", r#","timeoutMs":300"#)).unwrap();
    let err = wait(c.get_token(JsValue::UNDEFINED)).await.unwrap_err();
    assert_eq!(code(&err), "TIMEOUT");
    c.dispose();
}

#[wasm_bindgen_test]
async fn retries_then_succeeds() {
    let k = key("retry");
    let c = TokenClient::new(opts(&k, "seq=503,503,ok", "")).unwrap();
    assert!(wait(c.get_token(JsValue::UNDEFINED)).await.is_ok());
    assert_eq!(log_len(&k).await, 3);
    c.dispose();
}

#[wasm_bindgen_test]
async fn config_errors_throw_token_errors() {
    let err = TokenClient::new(
        js_sys::JSON::parse(r#"{"tokenUrl":"http://auth.example.com/t","clientId":"a","clientSecret":"b"}"#).unwrap(),
    )
    .err()
    .unwrap();
    assert_eq!(code(&err), "INVALID_CONFIG");
    let msg = Reflect::get(&err, &"message".into()).unwrap().as_string().unwrap();
    assert!(msg.starts_with("tokenUrl:"), "{msg}");
}

#[wasm_bindgen_test]
async fn real_fetch_against_the_fixture() {
    // The platform's own fetch (no `fetch` option) against tests/fixtures/server.mjs.
    let Some(fixture) = FIXTURE else {
        console_log!("skipped real_fetch_against_the_fixture: TOKENKIT_FIXTURE is not set (make test starts the fixture)");
        return;
    };
    let k = key("real");
    let c = TokenClient::new(real_opts(fixture, &k, "seq=503,ok&ttl=60", "")).unwrap();
    let a = wait(c.get_token(JsValue::UNDEFINED)).await.unwrap().as_string().unwrap();
    let b = wait(c.get_token(JsValue::UNDEFINED)).await.unwrap().as_string().unwrap();
    assert_eq!(a, b);
    assert!(a.starts_with("tok-"));
    let log = wait(get_json(&format!("{fixture}/s/{k}/log"))).await.unwrap();
    assert_eq!(js_sys::Array::from(&log).length(), 2, "a 503, then the token");
    let first = js_sys::Array::from(&log).get(0);
    let body = Reflect::get(&first, &"body".into()).unwrap().as_string().unwrap();
    assert!(body.contains("grant_type=client_credentials"), "{body}");
    c.dispose();
}
