//! Connection logs as audit input: every Zeek pair of `../shared/captures/zeek/`
//! audited from its conn.log (written by Zeek, the independent tracker) gives
//! the blocked, unexpected and healthy findings that auditing its pcap gives,
//! with the inventory `tests/real_captures.rs` uses, except what the report
//! says a log cannot show (an ICMP error tied to the connection it quotes);
//! and rotated logs, gzip'd or not, TSV or JSON lines, audit as their
//! concatenation does.

mod common;

use common::{flowaudit, shared_captures};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The audit of `inputs` with `inventory`, as JSON.
fn audit(inputs: &[&Path], inventory: &Path) -> Value {
    common::audit_json(inputs, inventory)
}

/// (kind, how, src role, dst role, transport, port, rule, connections).
type Judged = (String, String, String, String, String, u64, String, u64);

/// The findings of the kinds a log must reproduce, sorted.
fn judged(report: &Value) -> Vec<Judged> {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let mut out: Vec<_> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| {
            matches!(
                f["kind"].as_str(),
                Some("blocked" | "unexpected" | "healthy")
            )
        })
        .map(|f| {
            (
                s(&f["kind"]),
                s(&f["how"]),
                s(&f["src_role"]),
                s(&f["dst_role"]),
                s(&f["transport"]),
                f["port"].as_u64().expect("port"),
                s(&f["rule"]),
                f["count"].as_u64().expect("count"),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn zeeks_conn_logs_audit_as_their_captures_do() {
    let zeek = shared_captures().join("zeek");
    let inventories = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/real/zeek");
    let mut pairs = 0;
    let mut compared = 0;
    let mut icmp_only_in_capture = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&inventories)
        .expect("tests/real/zeek")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for inv in entries {
        let name = inv.file_name().and_then(|n| n.to_str()).expect("name");
        let capture = zeek.join(name.trim_end_matches(".toml"));
        let stem = capture.file_stem().and_then(|s| s.to_str()).expect("stem");
        let log = zeek.join(format!("{stem}.conn.log"));
        if !log.exists() {
            continue;
        }
        pairs += 1;
        let from_capture = judged(&audit(&[&capture], &inv));
        let report = audit(&[&log], &inv);
        let mut from_log = judged(&report);
        // What a log cannot show: the ICMP error quoting a connection. The
        // capture's blocked (icmp) is the log's unanswered attempt.
        let mut want = Vec::new();
        for f in from_capture {
            if f.1 == "icmp" {
                icmp_only_in_capture += 1;
                let as_log = (f.0.clone(), f.1.clone(), f.2, f.3, f.4, f.5, f.6, f.7);
                let i = from_log
                    .iter()
                    .position(|l| {
                        (&l.2, &l.3, &l.4, l.5, &l.6, l.7)
                            == (
                                &as_log.2, &as_log.3, &as_log.4, as_log.5, &as_log.6, as_log.7,
                            )
                            && (l.1 == "no-reply" || l.1 == "no-synack")
                    })
                    .unwrap_or_else(|| panic!("{name}: no unanswered counterpart of {as_log:?}"));
                from_log.remove(i);
                let warnings = report["summary"]["capture_warnings"].to_string();
                assert!(
                    warnings.contains("ICMP errors are not tied to the connections they quote"),
                    "{name}: the report does not say what the log cannot show: {warnings}"
                );
            } else {
                want.push(f);
            }
        }
        compared += want.len();
        assert_eq!(from_log, want, "{name}: conn.log vs pcap");
    }
    eprintln!(
        "{pairs} pairs, {compared} findings compared, {icmp_only_in_capture} ICMP exceptions"
    );
    assert!(pairs >= 20, "only {pairs} Zeek pairs with an inventory");
    assert!(compared >= 30, "only {compared} findings compared");
    assert!(
        icmp_only_in_capture >= 1,
        "the ICMP exception was never exercised"
    );
}

/// `text` gzip'd.
fn gzip(text: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text).expect("gzip");
    gz.finish().expect("gzip")
}

/// Rotated logs in a directory (the first part gzip'd) audit as the whole
/// log does, for Zeek's TSV and for JSON lines.
#[test]
fn rotated_logs_audit_as_their_concatenation() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let inv = root.join("samples/hybrid-identity.toml");
    let dir = tempfile::tempdir().expect("tempdir");
    for format in ["zeek", "jsonl"] {
        let out = flowaudit()
            .current_dir(root)
            .args(["flows", "-f", format, "samples/hybrid-identity.pcapng"])
            .output()
            .expect("run flowaudit");
        assert!(out.status.success());
        let whole = dir.path().join(format!("conn-{format}.log"));
        std::fs::write(&whole, &out.stdout).expect("write");
        let text = String::from_utf8(out.stdout).expect("utf-8");
        let (header, rows): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| l.starts_with('#'));
        assert!(rows.len() > 30, "{} rows", rows.len());
        let rotated = dir.path().join(format!("rotated-{format}"));
        std::fs::create_dir(&rotated).expect("mkdir");
        let head: String = header
            .iter()
            .filter(|l| !l.starts_with("#close"))
            .map(|l| format!("{l}\n"))
            .collect();
        let thirds = rows.chunks(rows.len().div_ceil(3));
        for (i, part) in thirds.enumerate() {
            let body: String = part.iter().map(|l| format!("{l}\n")).collect();
            let text = format!("{head}{body}");
            if i == 0 {
                std::fs::write(rotated.join("conn.00.log.gz"), gzip(text.as_bytes()))
            } else {
                std::fs::write(rotated.join(format!("conn.0{i}.log")), text)
            }
            .expect("write part");
        }
        let a = audit(&[&whole], &inv);
        let b = audit(&[&rotated], &inv);
        assert_eq!(a["findings"], b["findings"], "{format}");
        for k in [
            "classified",
            "unclassified",
            "ignored",
            "findings",
            "span_seconds",
        ] {
            assert_eq!(a["summary"][k], b["summary"][k], "{format}: {k}");
        }
        assert_eq!(b["captures"].as_array().map(Vec::len), Some(3));
        assert!(
            b["captures"][0]["format"]
                .as_str()
                .is_some_and(|f| f.starts_with("gzip+")),
            "{}",
            b["captures"][0]
        );
        // Something to compare: the sample's faults are there.
        assert!(judged(&a).iter().any(|f| f.0 == "blocked"));
    }
}

/// `(address, role)` of every host `flowaudit roles` infers from `input`.
fn roles_of(input: &Path) -> Vec<(String, String)> {
    let v = common::roles_json(input);
    let mut r: Vec<(String, String)> = v["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| (h["addr"].to_string(), h["role"].to_string()))
        .collect();
    r.sort();
    r
}

/// `roles` reads the logs too, and finds in each Zeek conn.log the roles it
/// finds in the capture (none of these traces names a host by DNS or SNI,
/// which a log could not show).
#[test]
fn roles_from_a_conn_log_are_the_captures() {
    let zeek = shared_captures().join("zeek");
    let mut with_roles = 0;
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&zeek)
        .expect("zeek")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".conn.log"))
        .collect();
    logs.sort();
    for log in &logs {
        let stem = log
            .to_string_lossy()
            .trim_end_matches(".conn.log")
            .to_string();
        let capture = [".pcap", ".pcapng"]
            .iter()
            .map(|ext| PathBuf::from(format!("{stem}{ext}")))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("no capture beside {log:?}"));
        let want = roles_of(&capture);
        with_roles += usize::from(!want.is_empty());
        assert_eq!(roles_of(log), want, "{log:?}");
    }
    assert!(
        logs.len() >= 20 && with_roles >= 5,
        "{} logs, {with_roles} with roles",
        logs.len()
    );
}

/// `-` reads a conn.log from stdin too, plain or gzip'd, as the file.
#[test]
fn a_conn_log_on_stdin_audits_as_the_file() {
    let zeek = shared_captures().join("zeek");
    let log = zeek.join("pop3.conn.log");
    let inv = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/real/zeek/pop3.pcap.toml");
    let want = judged(&audit(&[&log], &inv));
    assert!(!want.is_empty());
    let text = std::fs::read(&log).expect("read");
    for (what, bytes) in [("plain", text.clone()), ("gzip", gzip(&text))] {
        let out = flowaudit()
            .args(["--quiet", "audit", "--fail-on", "never", "-f", "json", "-i"])
            .arg(&inv)
            .arg("-")
            .write_stdin(bytes)
            .output()
            .expect("run flowaudit");
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(judged(&v), want, "{what}");
        assert!(
            v["captures"][0]["format"]
                .as_str()
                .is_some_and(|f| f.contains("conn.log"))
        );
    }
}
