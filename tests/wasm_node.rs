#![cfg(target_arch = "wasm32")]
//! The wasm tests, in Node.
const RUNTIME: &str = "nd";
include!("wasm/common.rs");
