//! cargo-fuzz target: see `fuzz/src/config_targets.rs` (`inventory_bytes`).
#![no_main]

// Each target uses one of the shared bodies.
#[allow(dead_code)]
#[path = "../src/config_targets.rs"]
mod config_targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| config_targets::inventory_bytes(data));
