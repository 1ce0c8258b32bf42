//! Bindings to `js/shell.js` and the few globals the shell uses.

#[allow(unused_imports)]
use crate::prelude::*;

use wasm_bindgen::prelude::*;

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

    #[wasm_bindgen(js_name = parseUrl)]
    pub fn parse_url(s: &str) -> Option<Url>;

    #[wasm_bindgen(js_name = plainEntries)]
    pub fn plain_entries(v: &JsValue) -> Option<js_sys::Array>;

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
