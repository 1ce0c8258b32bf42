#![cfg(target_arch = "wasm32")]
//! The wasm tests, in Node.
include!("wasm/common.rs");
