//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The shared capture corpus (`../shared/captures`, beside the repository; CI has it there too).
pub fn shared_captures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/captures")
}

/// One row of `MANIFEST.tsv`, keyed by its header names.
pub type ManifestRow = std::collections::BTreeMap<String, String>;

/// Parses `MANIFEST.tsv` (tab-separated with a header row).
pub fn manifest() -> Vec<ManifestRow> {
    let path = shared_captures().join("MANIFEST.tsv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("manifest header").split('\t').collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            header
                .iter()
                .zip(l.split('\t'))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// The `flowaudit` binary under test.
pub fn flowaudit() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("flowaudit").expect("binary built")
}
