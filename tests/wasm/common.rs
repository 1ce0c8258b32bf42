// Shared by tests/wasm_node.rs and tests/wasm_browser.rs: the Rust surface of the wasm's
// `Core` (src/wasm/machine.rs) in Node and in headless Chromium, through wasm-bindgen's
// real conversions: what crosses to JavaScript (actions as arrays, token records, typed
// errors) and what comes back (a response's status, Retry-After and parsed body). The driver that
// carries the actions out (js/shell.js) is tested with the package in both runtimes by
// tests/wasm/cases.mjs (tests/wasm/run.mjs runs both).

use js_sys::{Array, Function, Reflect};
use tokenkit::wasm::Core;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

#[wasm_bindgen(inline_js = "export const hasNone = () => (n) => false; export const hasAuthorization = () => (n) => n === 'Authorization';")]
extern "C" {
    #[wasm_bindgen(js_name = hasNone)]
    fn has_none() -> Function;
    #[wasm_bindgen(js_name = hasAuthorization)]
    fn has_authorization() -> Function;
}

fn opts(extra: &str) -> JsValue {
    let json = format!(
        r#"{{"tokenUrl":"https://auth.example.com/token","clientId":"cid","clientSecret":"csecret","allowedOrigins":["https://api.example.com"]{extra}}}"#
    );
    js_sys::JSON::parse(&json).unwrap()
}

fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &k.into()).unwrap()
}

fn at(a: &JsValue, i: u32) -> JsValue {
    Array::from(a).get(i)
}

/// A TokenError with this code, which is a real `Error`.
fn assert_token_error(e: &JsValue, code: &str) {
    assert_eq!(get(e, "name").as_string().as_deref(), Some("TokenError"));
    assert_eq!(get(e, "code").as_string().as_deref(), Some(code));
    assert!(e.is_instance_of::<js_sys::Error>());
}

/// A body as the shell hands it over: parsed once (kind 0), not JSON (1), over the cap (2).
fn parsed(text: Option<&str>) -> (JsValue, u8) {
    match text.map(js_sys::JSON::parse) {
        Some(Ok(v)) => (v, 0),
        Some(Err(_)) => (JsValue::UNDEFINED, 1),
        None => (JsValue::UNDEFINED, 2),
    }
}

const T0: f64 = 1_000.0;
const W0: f64 = 1_700_000_000_000.0;

/// A client whose first flight has been sent: (core, flight, attempt, the send action).
fn sent(extra: &str) -> (Core, f64, f64, JsValue) {
    let mut c = Core::new(0, opts(extra), 1, 7.0).unwrap();
    let flight = c.get(T0, W0).unwrap().as_f64().expect("a flight to wait for");
    let send = c.poll(T0, W0);
    assert_eq!(at(&send, 0).as_f64(), Some(0.0), "a send action");
    let attempt = at(&send, 1).as_f64().unwrap();
    assert!(c.poll(T0, W0).is_undefined(), "one action");
    (c, flight, attempt, send)
}

#[wasm_bindgen_test]
fn configuration_errors_are_token_errors() {
    let e = Core::new(0, js_sys::JSON::parse(r#"{"tokenUrl":"http://auth.example.com/t","clientId":"a","clientSecret":"b"}"#).unwrap(), 0, 1.0)
        .err()
        .unwrap();
    assert_token_error(&e, "INVALID_CONFIG");
    assert!(get(&e, "message").as_string().unwrap().starts_with("tokenUrl:"));
}

#[wasm_bindgen_test]
fn a_flight_crosses_as_data_and_its_answer_crosses_once() {
    let (mut c, flight, attempt, send) = sent("");
    assert_eq!(at(&send, 2).as_string().as_deref(), Some("https://auth.example.com/token"));
    let headers = Array::from(&at(&send, 3));
    let auth = headers.iter().map(|h| Array::from(&h)).find(|h| h.get(0).as_string().as_deref() == Some("Authorization")).unwrap();
    assert_eq!(auth.get(1).as_string().as_deref(), Some("Basic Y2lkOmNzZWNyZXQ="));
    assert_eq!(at(&send, 4).as_string().as_deref(), Some("grant_type=client_credentials"));
    assert_eq!(at(&send, 5).as_string().as_deref(), Some("manual"), "token requests never follow redirects");
    assert_eq!(at(&send, 8).as_f64(), Some(65_536.0), "the body cap");
    assert!(c.outcome(flight, T0, W0).unwrap().is_undefined(), "pending");
    let (body, kind) = parsed(Some(r#"{"access_token":"at-1","token_type":"Bearer","expires_in":100}"#));
    c.response(attempt, 200.0, None, body, kind, T0 + 10.0, W0 + 10.0, JsValue::UNDEFINED);
    let mut kinds = Vec::new();
    let mut record = JsValue::UNDEFINED;
    while let Some(a) = Some(c.poll(T0 + 10.0, W0 + 10.0)).filter(|a| !a.is_undefined()) {
        kinds.push(at(&a, 0).as_f64().unwrap() as u8);
        if kinds.last() == Some(&3) {
            record = at(&a, 1);
        }
    }
    assert_eq!(kinds, vec![3, 2], "a token event, then the waiters wake");
    assert_eq!(at(&record, 0).as_string().as_deref(), Some("at-1"));
    assert_eq!(at(&record, 1).as_string().as_deref(), Some("Bearer at-1"));
    assert_eq!(at(&record, 3).as_f64(), Some(W0 + 100_000.0), "expiresAt: the server's lifetime from the send, on the wall clock");
    let done = c.outcome(flight, T0 + 10.0, W0 + 10.0).unwrap();
    assert_eq!(at(&done, 0).as_string().as_deref(), Some("at-1"));
    let cell = c.serving(T0 + 10.0, W0 + 10.0);
    assert_eq!(at(&cell, 0).as_string().as_deref(), Some("at-1"));
    assert_eq!(at(&cell, 3).as_f64(), Some(T0 + 50_000.0), "served until the refresh point");
    assert_eq!(at(&cell, 4).as_f64(), Some(W0 + 50_000.0), "the same on the wall clock");
    assert!(c.serving(T0 + 20.0, W0 + 20.0).is_undefined(), "unchanged");
    assert_eq!(c.deadline(), T0 + 50_000.0);
    assert!(!c.keep(), "a refresh timer keeps no script alive");
    c.invalidate(T0 + 30.0, W0 + 30.0);
    assert!(c.serving(T0 + 30.0, W0 + 30.0).is_null(), "invalidated: nothing to serve");
}

#[wasm_bindgen_test]
fn refusals_and_bad_bodies_are_typed_errors() {
    for (status, text, code) in [
        (400.0, Some(r#"{"error":"invalid_client","error_description":"no"}"#), "OAUTH_ERROR"),
        (200.0, Some("<html>"), "INVALID_RESPONSE"),
        (200.0, None, "INVALID_RESPONSE"),
        (0.0, Some(""), "INVALID_RESPONSE"),
    ] {
        let (mut c, flight, attempt, _) = sent(r#","maxRetries":0"#);
        let (body, kind) = parsed(text);
        c.response(attempt, status, None, body, kind, T0 + 5.0, W0 + 5.0, JsValue::UNDEFINED);
        let e = c.outcome(flight, T0 + 5.0, W0 + 5.0).unwrap_err();
        assert_token_error(&e, code);
        if code == "OAUTH_ERROR" {
            assert_eq!(get(&e, "error").as_string().as_deref(), Some("invalid_client"));
            assert_eq!(get(&e, "status").as_f64(), Some(400.0));
        }
    }
    let (mut c, flight, attempt, _) = sent(r#","maxRetries":0"#);
    c.response(attempt, -1.0, None, JsValue::UNDEFINED, 2, T0 + 5.0, W0 + 5.0, JsValue::UNDEFINED);
    assert_token_error(&c.outcome(flight, T0 + 5.0, W0 + 5.0).unwrap_err(), "NETWORK");
    assert!(c.mentions("fetch failed for csecret"), "a platform error naming the secret is not kept");
    assert!(!c.mentions("fetch failed"));
}

#[wasm_bindgen_test]
fn which_origins_get_which_header() {
    let c = Core::new(0, opts(""), 1, 7.0).unwrap();
    let (none, set) = (has_none(), has_authorization());
    assert_eq!(c.plan("https://api.example.com", &none).unwrap().as_deref(), Some("Authorization"));
    assert_eq!(c.plan("https://api.example.com", &set).unwrap(), None, "the caller's own header is left as is");
    assert_token_error(&c.plan("https://example.invalid", &none).unwrap_err(), "ORIGIN_NOT_ALLOWED");
}
