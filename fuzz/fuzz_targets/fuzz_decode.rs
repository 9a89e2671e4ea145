//! cargo-fuzz target: see `fuzz/src/targets.rs` (`decode_bytes`).
#![no_main]

#[path = "../src/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::decode_bytes(data));
