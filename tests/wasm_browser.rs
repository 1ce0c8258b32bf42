#![cfg(target_arch = "wasm32")]
//! The wasm tests, in headless Chromium.
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
include!("wasm/common.rs");
