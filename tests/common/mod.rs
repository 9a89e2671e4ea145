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

/// `ns` nanoseconds since the epoch as UTC ISO 8601 at microsecond precision,
/// rounded half up: the calendar part from `date -u` (an oracle independent
/// of flowaudit's own calendar code), the fraction by integer arithmetic.
pub fn iso_utc(ns: i64) -> String {
    let micros = (ns + 500).div_euclid(1000);
    let (secs, frac) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%S"])
        .output()
        .expect("run date");
    assert!(out.status.success(), "date -u -d @{secs} failed");
    let day = String::from_utf8(out.stdout).expect("utf-8");
    format!("{}.{frac:06}Z", day.trim())
}

/// Runs `flowaudit ARGS` from the repository's root with `NO_COLOR` set;
/// (exit status, stdout, stderr).
pub fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (Option<i32>, String, String) {
    let out = flowaudit()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run flowaudit");
    (
        out.status.code(),
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        String::from_utf8(out.stderr).expect("utf-8 stderr"),
    )
}

/// `flowaudit audit` of the bundled sample with its inventory and
/// `--fail-on never`, then `extra`: its stdout (the exit status must be 0).
pub fn sample_audit(extra: &[&str]) -> String {
    let mut args = vec![
        "audit",
        "samples/hybrid-identity.pcapng",
        "--inventory",
        "samples/hybrid-identity.toml",
        "--fail-on",
        "never",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = run(&args);
    assert_eq!(code, Some(0), "{err}");
    out
}

/// `flowaudit audit` of `inputs` with `inventory`, as its JSON report
/// (`--fail-on never`: the exit status says only whether it ran).
pub fn audit_json(inputs: &[&std::path::Path], inventory: &std::path::Path) -> serde_json::Value {
    let out = flowaudit()
        .args(["--quiet", "audit", "--fail-on", "never", "-f", "json", "-i"])
        .arg(inventory)
        .args(inputs)
        .output()
        .expect("run flowaudit");
    assert!(
        out.status.success(),
        "{inputs:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// `flowaudit roles -f json` of one input, as its JSON document.
pub fn roles_json(input: &std::path::Path) -> serde_json::Value {
    let out = flowaudit()
        .args(["--quiet", "roles", "-f", "json"])
        .arg(input)
        .output()
        .expect("run flowaudit");
    assert!(out.status.success(), "{input:?}");
    serde_json::from_slice(&out.stdout).expect("JSON")
}
