//! cargo-fuzz target: see `fuzz/src/audit_target.rs` (`audit_bytes`).
#![no_main]

// The audit body takes its limits from the shared bodies.
#[path = "../src/targets.rs"]
mod targets;

#[path = "../src/audit_target.rs"]
mod audit_target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| audit_target::audit_bytes(data));
