#![no_main]
//! Fuzz target `metadata`: the property in fuzz/props.rs of the same name.

#[path = "../../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;
#[path = "../props.rs"]
#[allow(dead_code)]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::metadata(data));
