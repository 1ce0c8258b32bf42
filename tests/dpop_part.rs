//! The client's DPoP part (src/proto/dpop.rs `DpopPart`) on its own, and the machine's use of
//! it in every build: a part with its own state and tests, not a branch of the machine. These
//! run in every feature set; tests/dpop.rs has the machine's DPoP rules (the DPoP builds).

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{ec_jwk, parse_url, s};
use tokenkit::proto::client::config::Config;
use tokenkit::proto::client::machine::Machine;
use tokenkit::proto::client::presets::GENERIC;
use tokenkit::proto::client::request::Runtime;
use tokenkit::proto::dpop::{DpopKey, DpopPart};
use tokenkit::proto::time::WallMillis;
use tokenkit::proto::value::Value;

const AS: &str = "https://as.example";

fn key() -> DpopKey {
    DpopKey::new("ECDSA", "P-256", &ec_jwk()).unwrap()
}

#[test]
fn no_proof_before_the_key_and_none_after_it_is_forgotten() {
    let mut p = DpopPart::default();
    assert_eq!(p.proof("POST", "https://as.example/token", AS, 1, &[7; 16], None), None);
    p.set_key(key());
    assert!(p.proof("POST", "https://as.example/token", AS, 1, &[7; 16], None).is_some());
    p.forget();
    assert!(p.key().is_none());
    assert_eq!(p.proof("POST", "https://as.example/token", AS, 1, &[7; 16], None), None);
}

#[test]
fn a_proof_carries_the_nonce_of_its_own_server_only_and_forget_drops_them() {
    let mut p = DpopPart::default();
    p.set_key(key());
    assert!(p.take_nonce(AS, "n-1"));
    assert!(!p.take_nonce(AS, "n-1"), "the same nonce again is not new");
    let claims = |p: &DpopPart, origin: &str| p.proof("GET", "https://x.example/r", origin, 1, &[7; 16], None).unwrap();
    assert!(decoded(&claims(&p, AS)).contains("\"nonce\":\"n-1\""));
    assert!(!decoded(&claims(&p, "https://other.example")).contains("nonce"), "another server's nonce is never sent");
    p.forget();
    p.set_key(key());
    assert!(!decoded(&claims(&p, AS)).contains("nonce"), "forget drops the nonces too");
}

#[test]
fn a_servers_nonce_demand_is_answered_once_and_only_with_a_new_nonce() {
    // attempt, status, error, the answer's nonce, send again?, why
    type Row<'a> = (u32, u16, Option<&'a str>, Option<&'a str>, bool, &'a str);
    let rows: &[Row] = &[
        (0, 400, Some("use_dpop_nonce"), Some("n-1"), true, "the demand with a new nonce: send again"),
        (1, 400, Some("use_dpop_nonce"), Some("n-2"), false, "the second attempt is never sent again"),
        (0, 400, Some("use_dpop_nonce"), None, false, "a demand without a nonce cannot be met"),
        (0, 400, Some("invalid_request"), Some("n-3"), false, "another error is not a demand (the nonce is kept)"),
        (0, 401, Some("use_dpop_nonce"), Some("n-4"), false, "only a 400 is the server's demand (§8)"),
        (0, 200, None, Some("n-5"), false, "a success's nonce is kept, nothing is sent again"),
    ];
    for (attempt, status, error, nonce, want, why) in rows {
        let mut p = DpopPart::default();
        assert_eq!(p.server_answer(AS, *attempt, *status, *error, *nonce), *want, "{why}");
    }
    // The nonce the server named is the one held after its demand: asked again for the same
    // nonce, it is not new, so nothing is sent a third time.
    let mut p = DpopPart::default();
    assert!(p.server_answer(AS, 0, 400, Some("use_dpop_nonce"), Some("n-1")));
    assert!(!p.server_answer(AS, 0, 400, Some("use_dpop_nonce"), Some("n-1")));
}

/// A client without `dpop` (every build's, and the only kind a build without DPoP can make)
/// never proves, keeps no nonce and never sends again for one, even handed a key.
#[test]
fn a_machine_without_dpop_never_uses_the_part() {
    let opts = Value::Object(vec![
        ("tokenUrl".to_owned(), s("https://as.example/token")),
        ("clientId".to_owned(), s("id")),
        ("clientSecret".to_owned(), s("secret")),
    ]);
    let mut m = Machine::new(Config::from_options(&GENERIC, &opts, &parse_url).unwrap(), Runtime::Node, 1);
    m.set_dpop_key(key());
    assert!(m.dpop_key().is_none());
    assert_eq!(m.token_proof(WallMillis(1_700_000_000_000), &[7; 16]), None);
    assert_eq!(m.resource_proof("GET", "https://api.example", "/r", None, WallMillis(1_700_000_000_000), &[7; 16]), None);
    assert!(!m.server_answer(AS, 0, 400, Some("use_dpop_nonce"), Some("n-1")));
}

fn decoded(input: &str) -> String {
    use base64::Engine;
    let claims = input.split('.').nth(1).unwrap();
    String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap()
}

/// `htm` is the method fetch sends: the six it normalises upper-cased whatever their case,
/// any other as given (a proof saying `PATCH` for a `patch` request would be refused).
#[test]
fn htm_is_the_method_fetch_sends() {
    use tokenkit::proto::dpop::htm;
    let rows: &[(Option<&str>, &str)] = &[
        (None, "GET"),
        (Some("get"), "GET"),
        (Some("Post"), "POST"),
        (Some("delete"), "DELETE"),
        (Some("head"), "HEAD"),
        (Some("options"), "OPTIONS"),
        (Some("put"), "PUT"),
        (Some("patch"), "patch"),
        (Some("PATCH"), "PATCH"),
        (Some("PROPFIND"), "PROPFIND"),
    ];
    for (m, want) in rows {
        assert_eq!(htm(*m), *want, "{m:?}");
    }
}
