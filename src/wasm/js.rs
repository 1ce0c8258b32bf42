//! Bindings to `js/shell.js` and the few globals the shell uses.

#[allow(unused_imports)]
use crate::prelude::*;

#[cfg(feature = "broker")]
use js_sys::{Function, Object, Promise, Set};
use wasm_bindgen::prelude::*;
#[cfg(feature = "broker")]
use web_sys::AbortSignal;

#[cfg(feature = "broker")]
use crate::proto::client::request::Runtime;
#[cfg(feature = "broker")]
use crate::proto::time::{Instant, Now, WallMillis};

#[wasm_bindgen(module = "/js/shell.js")]
extern "C" {
    #[wasm_bindgen(js_name = tokenError)]
    pub fn token_error(
        code: &str,
        message: &str,
        status: Option<u16>,
        error: Option<String>,
        error_description: Option<String>,
        retry_after: Option<f64>,
        cause: &JsValue,
    ) -> JsValue;

    #[cfg(feature = "broker")]
    #[wasm_bindgen(js_name = errorText)]
    pub fn error_text(e: &JsValue) -> String;

    #[wasm_bindgen(js_name = parseUrl)]
    pub fn parse_url(s: &str) -> Option<Url>;

    #[wasm_bindgen(js_name = plainEntries)]
    pub fn plain_entries(v: &JsValue) -> Option<js_sys::Array>;

    #[cfg(feature = "broker")]
    #[wasm_bindgen(js_name = postToken)]
    #[allow(clippy::too_many_arguments)]
    pub fn post_token(
        fetch: Option<Function>,
        url: &str,
        headers: &js_sys::Array,
        body: Option<&str>,
        redirect: &str,
        cache: Option<&str>,
        credentials: Option<&str>,
        signal: Option<AbortSignal>,
        cap: u32,
    ) -> Promise;

    #[cfg(feature = "broker")]
    pub fn sleep(ms: f64) -> Promise;

    #[cfg(feature = "broker")]
    #[wasm_bindgen(js_name = setTimer)]
    pub fn set_timer(callback: &Function, ms: f64, keep_alive: bool) -> JsValue;

    #[cfg(feature = "broker")]
    #[wasm_bindgen(js_name = clearTimer)]
    pub fn clear_timer(handle: &JsValue);

    #[cfg(feature = "broker")]
    #[wasm_bindgen(js_name = getRuntime)]
    fn get_runtime() -> String;

    #[cfg(feature = "broker")]
    fn monotonic() -> f64;

    #[cfg(feature = "broker")]
    #[wasm_bindgen(js_name = waitUntil)]
    pub fn wait_until(ctx: &JsValue, promise: &Promise);

    #[cfg(feature = "broker")]
    pub fn subscribe(set: &Set, listener: &Function) -> Function;

    #[cfg(feature = "broker")]
    pub fn emit(set: &Set, value: &JsValue);

    #[cfg(feature = "broker")]
    /// Sets the fast-path cell: the token shell.js may serve, its header value and id, and
    /// until when.
    pub fn publish(cell: &js_sys::Object, token: Option<&str>, value: Option<&str>, id: f64, until: f64, wall_until: f64);

    /// A WHATWG `URL`.
    pub type Url;
    #[wasm_bindgen(method, getter)]
    pub fn protocol(this: &Url) -> String;
    #[wasm_bindgen(method, getter)]
    pub fn hostname(this: &Url) -> String;
    #[wasm_bindgen(method, getter)]
    pub fn origin(this: &Url) -> String;
    #[wasm_bindgen(method, getter)]
    pub fn href(this: &Url) -> String;
    #[wasm_bindgen(method, getter)]
    pub fn pathname(this: &Url) -> String;
    #[wasm_bindgen(method, getter)]
    pub fn search(this: &Url) -> String;
    #[wasm_bindgen(method, getter)]
    pub fn hash(this: &Url) -> String;
    #[wasm_bindgen(method, getter)]
    pub fn username(this: &Url) -> String;
    #[wasm_bindgen(method, getter)]
    pub fn password(this: &Url) -> String;
}

#[cfg(feature = "broker")]
/// Both clocks, read once for each input a machine is given: the monotonic clock
/// (`performance.now()`), on which every deadline is measured, and `Date.now()`.
pub fn now() -> Now {
    Now { mono: Instant(monotonic() as u64), wall: WallMillis(js_sys::Date::now() as u64) }
}

#[cfg(feature = "broker")]
/// The runtime the package entry declared.
pub fn runtime() -> Runtime {
    match get_runtime().as_str() {
        "workerd" => Runtime::Workerd,
        "node" => Runtime::Node,
        _ => Runtime::Browser,
    }
}

#[cfg(feature = "broker")]
/// Sets `key` on a fresh object; used to build small result objects.
pub fn set(obj: &Object, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(obj, &JsValue::from_str(key), value);
}
