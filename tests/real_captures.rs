//! Verdicts on the real captures of `../shared/captures/`, each audited with
//! the inventory beside it in `tests/real/` (built by one rule, stated in
//! each file, and checked by hand), checked against tshark as the
//! independent oracle: every `blocked` finding (any severity) and every
//! `missing` error must be what tshark sees in the same file.
//!
//! tshark must be installed (`.ci/run` installs it); `FLOWAUDIT_NO_TSHARK=1`
//! skips the test with a message, for machines without it.

mod common;

use common::{flowaudit, shared_captures};
use serde_json::Value;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Frames of `capture` that match the display filter `filter`, by tshark.
fn tshark_count(capture: &Path, filter: &str) -> usize {
    let out = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(capture)
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .unwrap_or_else(|e| panic!("tshark: {e}"));
    assert!(
        out.status.success() || !out.stdout.is_empty(),
        "tshark failed on {} with {filter}: {}",
        capture.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

/// `ip.src==a` or `ipv6.src==a`.
fn addr(field: &str, a: &str) -> String {
    let v6 = a.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv6());
    format!("{}.{field}=={a}", if v6 { "ipv6" } else { "ip" })
}

/// Every inventory under `tests/real/`, with the capture it is for.
fn cases() -> Vec<(PathBuf, PathBuf)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "toml") {
                out.push(p);
            }
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/real");
    let mut invs = Vec::new();
    walk(&root, &mut invs);
    invs.into_iter()
        .map(|inv| {
            let rel = inv
                .strip_prefix(&root)
                .unwrap_or(&inv)
                .with_extension("")
                .to_path_buf();
            (shared_captures().join(rel), inv)
        })
        .collect()
}

/// The host pairs (src, dst) of the healthy findings on this transport and port.
fn healthy_pairs(doc: &Value, proto: &str, port: u64) -> Vec<(String, String)> {
    doc["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["kind"] == "healthy" && f["transport"] == proto && f["port"] == port)
        .flat_map(|f| f["hosts"].as_array().cloned().unwrap_or_default())
        .map(|h| {
            (
                h["src"].as_str().unwrap_or("").to_string(),
                h["dst"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// What tshark must see for one host pair of a blocked finding; `Err` says
/// how tshark contradicts it.
fn check_blocked(
    cap: &Path,
    how: &str,
    proto: &str,
    port: u64,
    (s, d): (&str, &str),
    also_works: bool,
) -> Result<String, String> {
    let fwd = format!("{} && {}", addr("src", s), addr("dst", d));
    let back = format!("{} && {}", addr("src", d), addr("dst", s));
    let count = |f: &str| tshark_count(cap, f);
    let req = if proto == "tcp" {
        format!("{fwd} && tcp.dstport=={port} && tcp.flags.syn==1 && tcp.flags.ack==0")
    } else {
        format!("{fwd} && udp.dstport=={port}")
    };
    let sent = count(&req);
    if sent == 0 {
        return Err(format!("tshark sees no request: {req}"));
    }
    let check = |filter: String, want_some: bool| -> Result<String, String> {
        let n = count(&filter);
        match (want_some, n) {
            (true, 0) => Err(format!("tshark sees none of: {filter}")),
            (false, n) if n > 0 && !also_works => {
                Err(format!("tshark sees {n} frames of: {filter}"))
            }
            _ => Ok(format!("{filter}: {n}")),
        }
    };
    match how {
        "rst" => check(
            format!("{back} && tcp.srcport=={port} && tcp.flags.reset==1"),
            true,
        ),
        "no-synack" => check(
            format!("{back} && tcp.srcport=={port} && tcp.flags.syn==1 && tcp.flags.ack==1"),
            false,
        ),
        "no-reply" => check(format!("{back} && udp.srcport=={port}"), false),
        "icmp" => check(
            format!(
                "(icmp.type==3 || icmp.type==11 || icmpv6.type==1 || icmpv6.type==3) && {} && {proto}.dstport=={port}",
                addr("dst", s)
            ),
            true,
        ),
        "reset-after-handshake" => {
            check(
                format!("{back} && tcp.srcport=={port} && tcp.flags.reset==1"),
                true,
            )?;
            check(format!("{back} && tcp.srcport=={port} && tcp.len>0"), false)
        }
        other => Err(format!("unknown how {other}")),
    }
}

#[test]
fn blocked_findings_and_errors_agree_with_tshark() {
    if std::env::var_os("FLOWAUDIT_NO_TSHARK").is_some() {
        eprintln!("FLOWAUDIT_NO_TSHARK is set: not checking the real captures against tshark");
        return;
    }
    let has_tshark = Command::new("tshark").arg("-v").output().is_ok();
    assert!(
        has_tshark,
        "tshark is not installed (.ci/run installs it; FLOWAUDIT_NO_TSHARK=1 skips this test)"
    );
    let cases = cases();
    assert!(
        cases.len() >= 60,
        "{} inventories under tests/real",
        cases.len()
    );
    let mut checked = Vec::new();
    let mut wrong = Vec::new();
    for (cap, inv) in &cases {
        assert!(
            cap.exists(),
            "{} names a capture that is not there",
            inv.display()
        );
        let out = flowaudit()
            .arg("audit")
            .arg(cap)
            .arg("--inventory")
            .arg(inv)
            .args(["--format", "json", "--fail-on", "never", "-q"])
            .output()
            .expect("run flowaudit");
        assert_eq!(out.status.code(), Some(0), "{}", cap.display());
        let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let name = cap
            .strip_prefix(shared_captures())
            .unwrap_or(cap)
            .display()
            .to_string();
        for f in doc["findings"].as_array().into_iter().flatten() {
            let kind = f["kind"].as_str().unwrap_or("");
            let proto = f["transport"].as_str().unwrap_or("");
            let port = f["port"].as_u64().unwrap_or(0);
            match kind {
                "blocked" => {
                    let how = f["how"].as_str().unwrap_or("");
                    let works = healthy_pairs(&doc, proto, port);
                    for h in f["hosts"].as_array().into_iter().flatten() {
                        let s = h["src"].as_str().unwrap_or("");
                        let d = h["dst"].as_str().unwrap_or("");
                        let also = works.iter().any(|(a, b)| a == s && b == d);
                        match check_blocked(cap, how, proto, port, (s, d), also) {
                            Ok(what) => checked
                                .push(format!("{name}: {how} {proto}/{port} {s} -> {d}: {what}")),
                            Err(why) => wrong.push(format!(
                                "{name}: blocked {how} {proto}/{port} {s} -> {d}: {why}"
                            )),
                        }
                    }
                }
                "missing" if f["severity"] == "error" => {
                    // The rule's roles, by the inventory's hosts.
                    let text = std::fs::read_to_string(inv).expect("inventory");
                    let table: toml::Table = text.parse().expect("inventory TOML");
                    let hosts = |role: &Value| -> Vec<String> {
                        role.as_str()
                            .and_then(|r| table.get("roles")?.get(r)?.as_array().cloned())
                            .unwrap_or_default()
                            .iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    };
                    let (srcs, dsts) = (hosts(&f["src_role"]), hosts(&f["dst_role"]));
                    let ports = f["ports"].as_str().unwrap_or("0");
                    let (lo, hi) = ports.split_once('-').unwrap_or((ports, ports));
                    for s in &srcs {
                        for d in &dsts {
                            let filter = format!(
                                "{} && {} && ((tcp.dstport>={lo} && tcp.dstport<={hi}) || (udp.dstport>={lo} && udp.dstport<={hi}))",
                                addr("src", s),
                                addr("dst", d)
                            );
                            let n = tshark_count(cap, &filter);
                            if n == 0 {
                                checked.push(format!("{name}: missing {ports}: {filter}: 0"));
                            } else {
                                wrong.push(format!("{name}: missing {ports} {s} -> {d}: tshark sees {n} frames of {filter}"));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    eprintln!("checked against tshark ({}):", checked.len());
    for c in &checked {
        eprintln!("  {c}");
    }
    assert!(
        wrong.is_empty(),
        "tshark contradicts:\n{}",
        wrong.join("\n")
    );
    assert!(
        !checked.is_empty(),
        "nothing to check: the oracle must be able to fail"
    );
}
