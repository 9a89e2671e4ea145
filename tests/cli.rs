//! The command line says what it does (issue 19, item 10): options that have
//! no effect on a command are not offered by it, and the README describes
//! `--threads` as `--help` does.

mod common;

use common::flowaudit;

fn help(cmd: &str) -> String {
    let out = flowaudit().args([cmd, "--help"]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn pipeline_options_belong_to_the_commands_that_track_connections() {
    // info reads and decodes only: no tracker, one thread.
    let info = help("info");
    for opt in ["--threads", "--max-connections"] {
        assert!(!info.contains(opt), "info --help offers {opt}:\n{info}");
        let sample = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/samples/hybrid-identity.pcapng"
        );
        let out = flowaudit()
            .args(["info", opt, "1", sample])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "info {opt} is refused");
    }
    for cmd in ["audit", "flows", "roles"] {
        let h = help(cmd);
        assert!(
            h.contains("--threads") && h.contains("--max-connections"),
            "{cmd}:\n{h}"
        );
    }
}

/// Words of `s`, whitespace and Markdown code marks dropped.
fn words(s: &str) -> String {
    s.replace('`', "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn the_readme_describes_threads_as_help_does() {
    let h = help("audit");
    // The --threads entry: from its line to the next option.
    let start = h.find("--threads <N>").unwrap();
    let rest = &h[start + "--threads <N>".len()..];
    let end = rest.find("\n      --").unwrap_or(rest.len());
    let text = words(&rest[..end]);
    let text = text.split(" [default").next().unwrap();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        words(&readme).contains(text),
        "README.md does not say what --help says about --threads: {text:?}"
    );
}

/// `1 warning`, `2 warnings`: `n` with its noun.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[test]
fn the_summary_counts_in_english_and_no_features_reads_none() {
    use flowaudit::synth::{Link, TcpSession, Trace, UdpSession};
    // A sync server whose required flows all work (DNS, Kerberos, LDAP to
    // the DC, HTTPS to Entra ID's published range), and one RDP session to
    // the DC, which no rule allows: exactly one warning.
    let mut t = Trace::new(Link::ethernet());
    for (dst, sport) in [
        ("10.0.0.4:88", 50000),
        ("10.0.0.4:389", 50001),
        ("20.190.128.10:443", 50002),
        ("10.0.0.4:3389", 50003),
    ] {
        let mut s = TcpSession::new(
            format!("10.0.1.10:{sport}").parse().unwrap(),
            dst.parse().unwrap(),
            1,
            2,
        );
        s.handshake().client_data(10).server_data(10).close();
        t.add(&s);
    }
    let mut dns = UdpSession::new(
        "10.0.1.10:50004".parse().unwrap(),
        "10.0.0.4:53".parse().unwrap(),
    );
    dns.request(40).response(80);
    t.add(&dns);
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("one.pcap");
    t.save(&cap).unwrap();
    let inv = dir.path().join("inv.toml");
    std::fs::write(
        &inv,
        "features = []\n[roles]\nsync = [\"10.0.1.10\"]\ndc = [\"10.0.0.4\"]\n",
    )
    .unwrap();
    let audit = |format: &str| {
        let out = flowaudit()
            .args(["audit", "--fail-on", "never", "-f", format, "-i"])
            .arg(&inv)
            .arg(&cap)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout).unwrap()
    };
    let doc: serde_json::Value = serde_json::from_str(&audit("json")).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    let n = |sev: &str| findings.iter().filter(|f| f["severity"] == sev).count() as u64;
    assert_eq!(n("warning"), 1, "{findings:#?}");
    let classified = doc["summary"]["classified"].as_u64().unwrap();
    let want = format!(
        "{}, {}, {} info; {} classified",
        count(n("error"), "error", "errors"),
        count(n("warning"), "warning", "warnings"),
        n("info"),
        count(classified, "connection", "connections"),
    );
    let table = audit("table");
    assert!(table.contains(&want), "want {want:?} in\n{table}");
    assert!(audit("markdown").contains(&want));
    assert_eq!(doc["features"], serde_json::json!([]));
    assert!(table.lines().any(|l| l == "Features:  none"), "{table}");
    assert!(audit("markdown").lines().any(|l| l == "- Features: none"));
}

#[test]
fn the_readme_says_how_to_install_and_that_a_piped_report_is_json() {
    let readme =
        words(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap());
    assert!(readme.contains("cargo install --path ."));
    assert!(
        readme.contains("when stdout is not a terminal (piped, redirected, -o FILE) it is JSON"),
        "README does not say the piped report is JSON"
    );
    // And it is so: assert_cmd pipes stdout.
    let out = flowaudit()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "audit",
            "samples/hybrid-identity.pcapng",
            "--fail-on",
            "never",
        ])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["schema_version"], 1);
}

/// Issue 19, item 10: on a real SMB capture with no role to infer, `roles`
/// says what it saw and why that is not a domain controller.
#[test]
fn roles_says_what_fell_short_on_a_real_capture() {
    let cap = common::shared_captures().join("zeek-nobaseline/smb2_krb.pcap");
    let out = flowaudit().arg("roles").arg(&cap).output().expect("run");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("No roles inferred."), "{text}");
    // The SMB server of the capture, on the port it answered.
    assert!(text.contains("172.19.23.143 answered on 445"), "{text}");
    assert!(
        text.contains("a domain controller answers Kerberos 88, LDAP 389 and SMB 445"),
        "{text}"
    );
    assert!(text.contains("--format toml"), "{text}");
}
