//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the
//! fuzz targets' bodies on stable Rust, so CI checks every input the fuzzer
//! kept (seeds and anything it found) without a nightly toolchain.

#[path = "../fuzz/src/targets.rs"]
mod targets;

#[path = "../fuzz/src/config_targets.rs"]
mod config_targets;

#[path = "../fuzz/src/audit_target.rs"]
mod audit_target;

#[path = "../fuzz/src/payload_target.rs"]
mod payload_target;

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str, body: fn(&[u8])) -> usize {
    let files = corpus(target);
    for f in &files {
        let data = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let r = std::panic::catch_unwind(|| body(&data));
        assert!(r.is_ok(), "{target}: {} panicked", f.display());
    }
    files.len()
}

#[test]
fn fuzz_read_corpus() {
    assert!(replay("fuzz_read", targets::read_bytes) >= 20);
}

#[test]
fn fuzz_decode_corpus() {
    assert!(replay("fuzz_decode", targets::decode_bytes) >= 20);
    // Whole capture files are valid decode inputs too (the first byte picks a link type).
    assert!(replay("fuzz_read", targets::decode_bytes) >= 20);
}

#[test]
fn the_decode_framing_counts_every_frame() {
    // Ground truth built here: three frames (the last without its full length)
    // on raw IPv4, none of them decodable as TCP/UDP/ICMP; the body asserts
    // the decoder counted exactly three frames.
    let mut data = vec![5u8]; // LINKS[5] = RAW
    data.extend([0, 2, 0x45, 0]);
    data.extend([0, 1, 0x60]);
    data.extend([0, 9, 0x45]);
    targets::decode_bytes(&data);
}

#[test]
fn fuzz_rules_corpus() {
    assert!(replay("fuzz_rules", config_targets::rules_bytes) >= 1);
}

#[test]
fn fuzz_inventory_corpus() {
    assert!(replay("fuzz_inventory", config_targets::inventory_bytes) >= 1);
}

#[test]
fn fuzz_audit_corpus() {
    assert!(replay("fuzz_audit", audit_target::audit_bytes) >= 8);
}

#[test]
fn fuzz_audit_seeds_reach_every_kind_of_finding() {
    // The replay above only means something if the seeds reach the audit's
    // findings: the pieces of the bundled sample, audited with its inventory
    // through the CLI, must between them report the blocked, missing,
    // unexpected and healthy flows the sample was built with
    // (src/synth/sample.rs).
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for seed in corpus("fuzz_audit") {
        let name = seed.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("sample-part") {
            continue;
        }
        let data = std::fs::read(&seed).unwrap();
        let cap = dir.path().join(format!("{name}.pcapng"));
        std::fs::write(&cap, &data[1..]).unwrap();
        let out = assert_cmd::Command::cargo_bin("flowaudit")
            .unwrap()
            .args([
                "-q",
                "audit",
                "--format",
                "json",
                "--fail-on",
                "never",
                "-i",
            ])
            .arg(root.join("samples/hybrid-identity.toml"))
            .arg(&cap)
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for f in doc["findings"].as_array().unwrap() {
            kinds.insert(f["kind"].as_str().unwrap().to_string());
        }
    }
    for kind in ["blocked", "missing", "unexpected", "healthy"] {
        assert!(kinds.contains(kind), "no {kind} finding: {kinds:?}");
    }
}

#[test]
fn fuzz_payload_corpus() {
    assert!(replay("fuzz_payload", payload_target::payload_bytes) >= 10);
    // Every prefix of every seed, as a truncated capture would cut it.
    for f in corpus("fuzz_payload") {
        let data = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for n in 0..data.len() {
            let r = std::panic::catch_unwind(|| payload_target::payload_bytes(&data[..n]));
            assert!(r.is_ok(), "{} cut at {n} panicked", f.display());
        }
    }
}

/// The TLS seeds reach the failure each was written for (and the healthy
/// ones none), so the fuzzer starts from every path of the follower.
#[test]
fn fuzz_payload_tls_seeds_reach_their_failures() {
    use flowaudit::learn::failure::FailureKind::*;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/fuzz_payload");
    for (seed, want) in [
        ("tls12_intercepted_zscaler", Some(TlsIntercepted)),
        ("tls_alert_handshake_failure", Some(TlsAlert)),
        ("tls_reset_after_hello", Some(TlsResetAfterHello)),
        ("tls10_legacy_client", Some(TlsLegacyVersion)),
        ("tls12_microsoft_certificate", None),
        ("tls13_healthy", None),
    ] {
        let data = std::fs::read(dir.join(seed)).unwrap();
        let kinds: Vec<_> = payload_target::payload_failures(&data)
            .iter()
            .map(|f| f.kind)
            .collect();
        assert_eq!(kinds, Vec::from_iter(want), "{seed}");
    }
}
