//! cargo-fuzz target: see `fuzz/src/payload_target.rs` (`payload_bytes`).
#![no_main]

#[path = "../src/payload_target.rs"]
mod payload_target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| payload_target::payload_bytes(data));
