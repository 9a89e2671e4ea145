//! cargo-fuzz target: see `fuzz/src/targets.rs` (`read_bytes`).
#![no_main]

#[path = "../src/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::read_bytes(data));
