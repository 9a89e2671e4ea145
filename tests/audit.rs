//! `flowaudit audit` end to end: golden outputs of the sample, the JSON schema,
//! exit statuses, and the same verdicts over IPv6 and pcapng as over IPv4 and pcap.

mod common;

use common::flowaudit;
use flowaudit::synth::{Conversation, Link, TcpSession, Trace, UdpSession, icmp_error};
use flowaudit::time::Duration;
use serde_json::Value;
use std::path::PathBuf;

fn audit_sample(format: &str) -> (Option<i32>, String) {
    let out = flowaudit()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "audit",
            "samples/hybrid-identity.pcapng",
            "--inventory",
            "samples/hybrid-identity.toml",
            "--format",
            format,
        ])
        .env("NO_COLOR", "1")
        .output()
        .expect("run flowaudit");
    (
        out.status.code(),
        String::from_utf8(out.stdout).expect("utf-8"),
    )
}

/// The tool version changes with releases; the golden files should not.
fn without_version(json: &str) -> String {
    json.replace(
        &format!("\"version\": \"{}\"", env!("CARGO_PKG_VERSION")),
        "\"version\": \"X\"",
    )
}

#[test]
fn golden_table() {
    let (code, out) = audit_sample("table");
    assert_eq!(
        code,
        Some(1),
        "the sample holds errors, so --fail-on error exits 1"
    );
    insta::assert_snapshot!("sample_table", out);
}

#[test]
fn golden_json() {
    let (_, out) = audit_sample("json");
    insta::assert_snapshot!("sample_json", without_version(&out));
}

#[test]
fn golden_markdown() {
    let (_, out) = audit_sample("markdown");
    insta::assert_snapshot!("sample_markdown", out);
}

#[test]
fn golden_html() {
    let (_, out) = audit_sample("html");
    let generator = format!("flowaudit {}", env!("CARGO_PKG_VERSION"));
    assert!(out.contains(&generator), "the page names its generator");
    insta::assert_snapshot!("sample_html", out.replace(&generator, "flowaudit X"));
}

#[test]
fn golden_csv() {
    let (_, out) = audit_sample("csv");
    insta::assert_snapshot!("sample_csv", out);
}

#[test]
fn sample_json_validates_against_the_documented_schema() {
    let (_, out) = audit_sample("json");
    let doc: Value = serde_json::from_str(&out).expect("JSON");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/audit.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    // The schema must be able to fail: a finding with an unknown kind is rejected.
    let mut bad = doc.clone();
    bad["findings"][0]["kind"] = Value::from("fine");
    assert!(!validator.is_valid(&bad));
}

#[test]
fn sample_faults_are_blocked_findings_with_their_how() {
    use flowaudit::synth::sample::FAULTS;
    let (_, out) = audit_sample("json");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    for f in FAULTS {
        let how = match f.handshake {
            "rejected" => "rst",
            "icmp-unreachable" => "icmp",
            "unanswered" if f.proto == "udp" => "no-reply",
            _ => "no-synack",
        };
        let hit = findings.iter().any(|x| {
            x["kind"] == "blocked"
                && x["transport"] == f.proto
                && x["port"] == f.port
                && x["how"] == how
                && x["hosts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|h| h["src"] == f.src && h["dst"] == f.dst)
        });
        assert!(hit, "no blocked finding for {f:?}");
    }
    // "works to one DC, fails to the other": the sample's GC port does exactly that.
    let gc = findings
        .iter()
        .find(|x| x["kind"] == "blocked" && x["port"] == 3268)
        .unwrap();
    let evidence = gc["evidence"].to_string();
    assert!(
        evidence.contains("10.0.0.4") && evidence.contains("10.0.0.5"),
        "{evidence}"
    );
    // RDP from the sync server to a DC is in no table.
    assert!(
        findings
            .iter()
            .any(|x| x["kind"] == "unexpected" && x["port"] == 3389)
    );
}

#[test]
fn fail_on_sets_the_exit_status() {
    for (fail_on, want) in [("error", 1), ("warning", 1), ("never", 0)] {
        let code = flowaudit()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "audit",
                "samples/hybrid-identity.pcapng",
                "-i",
                "samples/hybrid-identity.toml",
                "-f",
                "json",
                "--fail-on",
                fail_on,
            ])
            .output()
            .unwrap()
            .status
            .code();
        assert_eq!(code, Some(want), "--fail-on {fail_on}");
    }
    // A healthy capture passes --fail-on error.
    let mut s = TcpSession::new(
        "10.0.1.10:50000".parse().unwrap(),
        "10.0.0.4:389".parse().unwrap(),
        1,
        2,
    );
    s.handshake().client_data(10).server_data(10).close();
    let mut t = Trace::new(Link::ethernet());
    t.add(&s);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ok.pcap"), t.to_pcap()).unwrap();
    std::fs::write(
        dir.path().join("inv.toml"),
        "features = []\n[roles]\nsync = [\"10.0.1.10\"]\ndc = [\"10.0.0.4\"]\n",
    )
    .unwrap();
    let out = flowaudit()
        .args(["audit", "-f", "json"])
        .arg(dir.path().join("ok.pcap"))
        .arg("--inventory")
        .arg(dir.path().join("inv.toml"))
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors: Vec<&Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert_eq!(
        out.status.code(),
        Some(if errors.is_empty() { 0 } else { 1 }),
        "{errors:#?}"
    );
}

#[test]
fn bad_inventory_and_rules_exit_2_with_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inv.toml");
    std::fs::write(
        &inv,
        "features = [\"password-hash-sync\"]\n[roles]\nsyncc = [\"10.0.1.10\"]\n",
    )
    .unwrap();
    let out = flowaudit()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["audit", "samples/hybrid-identity.pcapng", "--inventory"])
        .arg(&inv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:3:1", inv.display())), "{err}");
    assert!(err.contains("sync, dc, azure, adfs, wap, users"), "{err}");

    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "[[rule]]\nid = \"x\"\nbogus = 1\n").unwrap();
    let out = flowaudit()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "audit",
            "samples/hybrid-identity.pcapng",
            "-i",
            "samples/hybrid-identity.toml",
            "--rules",
        ])
        .arg(&rules)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:3:", rules.display())), "{err}");
}

/// A small deployment with one fault of each kind, over either address family.
fn scenario(v6: bool) -> (Trace, String) {
    let a = |v4: &str, v6s: &str| if v6 { v6s.to_string() } else { v4.to_string() };
    let sa = |ip: String, port: u16| -> std::net::SocketAddr {
        std::net::SocketAddr::new(ip.parse().unwrap(), port)
    };
    let (sync, dc1, dc2, router) = (
        a("10.0.1.10", "fd00::1:10"),
        a("10.0.0.4", "fd00::4"),
        a("10.0.0.5", "fd00::5"),
        a("10.0.1.1", "fd00::1:1"),
    );
    let mut t = Trace::new(Link::ethernet());
    let mut ok = TcpSession::new(sa(sync.clone(), 50_001), sa(dc1.clone(), 389), 10, 20);
    ok.handshake().client_data(100).server_data(900).close();
    let mut gc_ok = TcpSession::new(sa(sync.clone(), 50_002), sa(dc1.clone(), 3268), 10, 20)
        .starting_at(ok.now());
    gc_ok.handshake().close();
    let mut gc_rst = TcpSession::new(sa(sync.clone(), 50_003), sa(dc2.clone(), 3268), 10, 0)
        .starting_at(gc_ok.now());
    gc_rst.reject();
    let mut smb = TcpSession::new(sa(sync.clone(), 50_004), sa(dc2.clone(), 445), 10, 0)
        .starting_at(gc_rst.now());
    smb.unanswered(2, Duration::from_secs(1));
    let mut dns =
        UdpSession::new(sa(sync.clone(), 50_005), sa(dc2.clone(), 53)).starting_at(smb.now());
    dns.request(40);
    t.add(&ok).add(&gc_ok).add(&gc_rst).add(&smb).add(&dns);
    let q = &dns.packets()[0];
    let code = if v6 { 1 } else { 13 };
    let kind = if v6 { 1 } else { 3 };
    t.push_ip(
        flowaudit::time::Timestamp(q.ts.0 + 500_000),
        &icmp_error(router.parse().unwrap(), kind, code, &q.ip),
    );
    let mut rdp = TcpSession::new(sa(sync.clone(), 50_006), sa(dc1.clone(), 3389), 10, 20)
        .starting_at(flowaudit::time::Timestamp(dns.now().0 + 2_000_000_000));
    rdp.handshake().client_data(500).server_data(500).close();
    let mut tail = TcpSession::new(sa(sync.clone(), 50_007), sa(dc1.clone(), 389), 10, 20)
        .starting_at(flowaudit::time::Timestamp(rdp.now().0 + 60_000_000_000));
    tail.handshake().close();
    t.add(&rdp).add(&tail).sort();
    let inv = format!(
        "features = [\"password-hash-sync\", \"seamless-sso\"]\n[roles]\nsync = [\"{sync}\"]\ndc = [\"{dc1}\", \"{dc2}\"]\n"
    );
    (t, inv)
}

/// Findings with addresses and times replaced by role-relative names, so the
/// IPv4 and IPv6 runs can be compared.
fn normalised(json: &[u8], v6: bool) -> Vec<Value> {
    let doc: Value = serde_json::from_slice(json).unwrap();
    let mut text = doc["findings"].to_string();
    for (v4, v6s, name) in [
        ("10.0.1.10", "fd00::1:10", "SYNC"),
        ("10.0.0.4", "fd00::4", "DC1"),
        ("10.0.0.5", "fd00::5", "DC2"),
        ("10.0.1.1", "fd00::1:1", "ROUTER"),
    ] {
        text = text.replace(if v6 { v6s } else { v4 }, name);
    }
    text = text.replace("ipv6.", "ip.").replace("icmpv6", "icmp");
    let mut v: Vec<Value> = serde_json::from_str(&text).unwrap();
    for f in &mut v {
        // ICMPv6 and ICMPv4 name the prohibition differently; the verdict is what must agree.
        f.as_object_mut().unwrap().remove("evidence");
        f.as_object_mut().unwrap().remove("wireshark_filter");
    }
    v
}

#[test]
fn ipv6_and_pcapng_give_the_same_findings_as_ipv4_and_pcap() {
    let dir = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for v6 in [false, true] {
        let (trace, inv) = scenario(v6);
        std::fs::write(dir.path().join("inv.toml"), inv).unwrap();
        for (ext, bytes) in [("pcap", trace.to_pcap()), ("pcapng", trace.to_pcapng())] {
            let cap = dir.path().join(format!("c.{ext}"));
            std::fs::write(&cap, bytes).unwrap();
            let out = flowaudit()
                .args(["audit", "-f", "json"])
                .arg(&cap)
                .arg("-i")
                .arg(dir.path().join("inv.toml"))
                .output()
                .unwrap();
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            results.push((v6, ext, normalised(&out.stdout, v6)));
        }
    }
    let (_, _, reference) = &results[0];
    let kinds: Vec<&str> = reference
        .iter()
        .filter_map(|f| f["kind"].as_str())
        .collect();
    for k in ["blocked", "unexpected", "healthy"] {
        assert!(
            kinds.contains(&k),
            "reference run lacks a {k} finding: {reference:#?}"
        );
    }
    for (v6, ext, findings) in &results[1..] {
        assert_eq!(findings, reference, "v6={v6} {ext}");
    }
}

#[test]
fn output_file_is_written_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let out = flowaudit()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "audit",
            "samples/hybrid-identity.pcapng",
            "-i",
            "samples/hybrid-identity.toml",
            "--fail-on",
            "never",
            "-o",
        ])
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stdout.is_empty(),
        "the report went to the file, not stdout"
    );
    // Written to a file, the default format is the machine one.
    let doc: Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).expect("a complete JSON report");
    assert_eq!(doc["schema_version"], 1);

    // A run that fails leaves no report and no temporary file behind.
    let failed = dir.path().join("failed.json");
    let out = flowaudit()
        .args(["flows", "/nonexistent/capture.pcap", "-o"])
        .arg(&failed)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!failed.exists());
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("report.json")]);
}
