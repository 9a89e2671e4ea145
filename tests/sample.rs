//! The bundled sample capture: it must be exactly what the builder writes
//! (so its ground truth, `synth::sample::FAULTS`, describes it), and `flows`
//! must find every fault in it and nothing else failing.
//! `FLOWAUDIT_BLESS=1 cargo test --test sample` rewrites the file after a
//! deliberate change to the scenario.

mod common;

use common::flowaudit;
use flowaudit::synth::sample;
use serde_json::Value;
use std::path::PathBuf;

fn sample_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples/hybrid-identity.pcapng")
}

#[test]
fn committed_sample_is_what_the_builder_writes() {
    let built = sample::hybrid_identity().to_pcapng();
    if std::env::var_os("FLOWAUDIT_BLESS").is_some() {
        std::fs::write(sample_path(), &built).expect("write sample");
    }
    let committed = std::fs::read(sample_path()).expect("read samples/hybrid-identity.pcapng");
    assert!(
        committed == built,
        "samples/hybrid-identity.pcapng differs from synth::sample::hybrid_identity(); \
         run FLOWAUDIT_BLESS=1 cargo test --test sample if the change is deliberate"
    );
}

#[test]
fn flows_finds_exactly_the_sample_faults() {
    let out = flowaudit()
        .args(["flows", "--format", "jsonl"])
        .arg(sample_path())
        .output()
        .expect("run flowaudit");
    assert_eq!(out.status.code(), Some(0));
    let rows: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let failed: Vec<&Value> = rows
        .iter()
        .filter(|r| {
            matches!(
                r["handshake"].as_str(),
                Some("rejected" | "unanswered" | "icmp-unreachable" | "closed-early")
            )
        })
        .collect();
    for f in sample::FAULTS {
        let hit = failed.iter().any(|r| {
            r["id.orig_h"] == f.src
                && r["id.resp_h"] == f.dst
                && r["proto"] == f.proto
                && r["id.resp_p"] == f.port
                && r["handshake"] == f.handshake
        });
        assert!(hit, "fault not found: {f:?}");
    }
    assert_eq!(
        failed.len(),
        sample::FAULTS.len(),
        "unexpected failures: {failed:#?}"
    );
    // Everything else in the scenario is healthy.
    for r in rows.iter().filter(|r| !failed.contains(r)) {
        let want = match r["proto"].as_str() {
            Some("tcp") => "established",
            Some("udp") => "answered",
            _ => "none",
        };
        assert_eq!(r["handshake"], want, "{r}");
    }
}
