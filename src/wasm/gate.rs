//! The broker's opt-in gates in the isolate (decisions in [`crate::proto::broker::gate`]):
//! Cloudflare Access tokens checked with WebCrypto against the team's keys (cached), and
//! Turnstile tokens checked with siteverify.

#[allow(unused_imports)]
use crate::prelude::*;

use core::cell::RefCell;

use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::proto::broker::config::BrokerConfig;
use crate::proto::broker::gate::{self, Access};
use crate::proto::broker::route::Route;
use crate::proto::http::Reply;
use crate::proto::time::Instant;
use crate::proto::value::Value;
use super::convert::{parse_url, to_value};
use super::js;

#[wasm_bindgen(module = "/js/broker.js")]
extern "C" {
    #[wasm_bindgen(js_name = jwtParts)]
    fn jwt_parts(jwt: &str) -> Option<Array>;
    #[wasm_bindgen(js_name = importRsa)]
    fn import_rsa(n: &str, e: &str) -> Promise;
    #[wasm_bindgen(js_name = verifyRs256)]
    fn verify_rs256(key: &JsValue, input: &JsValue, sig: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = askJson)]
    fn ask_json(url: &str, form: Option<String>) -> Promise;
}

/// What a request brings to the gates.
pub(super) struct Pass<'a> {
    pub route: &'a Route,
    /// `Cf-Access-Jwt-Assertion`.
    pub access_jwt: Option<String>,
    /// The `Origin` header (a browser caller, or a script that says it is one).
    pub origin: Option<&'a str>,
    /// The `X-Broker-Key` header.
    pub broker_key: Option<&'a str>,
    /// `CF-Turnstile-Response`, or the `cf-turnstile-response` query parameter of `/login`.
    pub turnstile: Option<String>,
    /// `CF-Connecting-IP`.
    pub ip: Option<&'a str>,
    /// The broker's own host (a widget on its own page, before `/login`).
    pub host: Option<String>,
}

/// Access signing keys: when the last fetch ended, when the last one started, and
/// `(kid, CryptoKey)`.
type Keys = (Option<Instant>, Option<Instant>, Vec<(String, JsValue)>);

/// The Access keys this isolate holds.
#[derive(Default)]
pub(super) struct Gates {
    keys: RefCell<Keys>,
}

impl Gates {
    /// Whether `cfg` has a gate for this route at all (no future machinery otherwise).
    pub fn apply(cfg: &BrokerConfig, route: &Route, broker_key: Option<&str>) -> bool {
        cfg.access.is_some() || (cfg.turnstile.is_some() && gate::turnstile_needed(cfg.signs_in(), route, gate::proved_otherwise(cfg, broker_key)))
    }

    /// Every configured gate the request must pass, Access first.
    pub async fn check(&self, cfg: &BrokerConfig, pass: Pass<'_>) -> Result<(), Reply> {
        if let Some(access) = &cfg.access {
            let jwt = pass.access_jwt.as_deref().ok_or_else(|| gate::refused("access_denied", "no Cloudflare Access token"))?;
            self.access(access, jwt).await.map_err(|why| gate::refused("access_denied", why))?;
        }
        let proved = gate::proved_otherwise(cfg, pass.broker_key);
        if let Some(t) = cfg.turnstile.as_ref().filter(|_| gate::turnstile_needed(cfg.signs_in(), pass.route, proved)) {
            let token = pass.turnstile.as_deref().filter(|t| !t.is_empty() && t.len() <= 2048);
            let why = match cfg.broker_keys.is_empty() {
                true => "send a Turnstile token (CF-Turnstile-Response)",
                false => "send a Turnstile token (CF-Turnstile-Response) or a valid X-Broker-Key",
            };
            let token = token.ok_or_else(|| gate::refused("turnstile_required", why))?;
            let host = pass.origin.and_then(parse_url).map(|u| u.hostname);
            let (status, body) = ask(&t.verify_url, Some(gate::siteverify_body(t, token, pass.ip))).await;
            let allowed: Vec<&str> = cfg.allowed_origins.iter().map(|o| gate::origin_host(o)).chain(pass.host.as_deref()).collect();
            gate::turnstile_verdict(status, &body, host.as_deref(), &allowed).map_err(|why| gate::refused("turnstile_failed", why))?;
        }
        Ok(())
    }

    /// Checks an Access token: claims by the core, the RS256 signature by WebCrypto.
    async fn access(&self, access: &Access, jwt: &str) -> Result<(), &'static str> {
        let parts = jwt_parts(jwt).ok_or("the Access token is not a JWT")?;
        let now_secs = js::now().wall.0 as f64 / 1000.0;
        let kid = gate::access_claims(&to_value(&parts.get(0), 4), &to_value(&parts.get(1), 4), access, now_secs)?;
        // Each request that finds the keys stale fetches them itself: in Workers a request
        // cannot wait on another request's fetch. Once fetched they serve for an hour.
        let (checked, started) = (self.keys.borrow().0, self.keys.borrow().1);
        if gate::jwks_stale(checked, started, self.key(&kid).is_some(), js::now().mono) {
            self.keys.borrow_mut().1 = Some(js::now().mono);
            self.fetch_keys(access).await;
        }
        let key = self.key(&kid).ok_or("the Access token's key is not one of the team's")?;
        let ok = JsFuture::from(verify_rs256(&key, &parts.get(2), &parts.get(3))).await;
        match ok.ok().and_then(|v| v.as_bool()) {
            Some(true) => Ok(()),
            _ => Err("the Access token's signature is not valid"),
        }
    }

    fn key(&self, kid: &str) -> Option<JsValue> {
        self.keys.borrow().2.iter().find(|(k, _)| k == kid).map(|(_, v)| v.clone())
    }

    /// Fetches the team's keys; a failed fetch keeps the old ones (and waits to try again).
    async fn fetch_keys(&self, access: &Access) {
        let (status, body) = ask(&access.certs_url(), None).await;
        let found = gate::access_keys(status, &body);
        let mut imported = Vec::new();
        for k in found.iter().flatten() {
            // A key WebCrypto will not take is skipped like one the core did not choose.
            if let Ok(key) = JsFuture::from(import_rsa(&k.n, &k.e)).await {
                imported.push((k.kid.clone(), key));
            }
        }
        let mut keys = self.keys.borrow_mut();
        keys.0 = Some(js::now().mono);
        if found.is_some() {
            keys.2 = imported;
        }
    }
}

/// `askJson`'s answer as (status, body); (0, null) when nothing came back.
async fn ask(url: &str, form: Option<String>) -> (u16, Value) {
    match JsFuture::from(ask_json(url, form)).await {
        Ok(a) => {
            let a = Array::from(&a);
            (a.get(0).as_f64().unwrap_or(0.0) as u16, to_value(&a.get(1), 3))
        }
        Err(_) => (0, Value::Null),
    }
}
