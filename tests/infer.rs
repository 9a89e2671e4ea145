//! Zero-config audit of the sample (issue 4, acceptance 2): without an
//! inventory, `flowaudit audit` finds the same blocked and unexpected flows as
//! with `samples/hybrid-identity.toml`; the starter inventory written by
//! `flowaudit roles --format toml`, fed back as `--inventory`, gives the same
//! report as the inference it came from.

mod common;

use serde_json::Value;

fn run(args: &[&str]) -> (Option<i32>, String) {
    let (code, stdout, _) = common::run(args);
    (code, stdout)
}

fn audit_json(inventory: Option<&str>) -> Value {
    let mut args = vec![
        "audit",
        "samples/hybrid-identity.pcapng",
        "--format",
        "json",
    ];
    if let Some(i) = inventory {
        args.extend(["--inventory", i]);
    }
    let (_, out) = run(&args);
    serde_json::from_str(&out).expect("audit JSON")
}

/// (kind, severity, roles, transport, port, rule, how, host pairs) of the
/// blocked and unexpected findings.
fn faults(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == "blocked" || f["kind"] == "unexpected")
        .map(|f| {
            let hosts: Vec<String> = f["hosts"]
                .as_array()
                .expect("hosts")
                .iter()
                .map(|h| format!("{}>{}", h["src"], h["dst"]))
                .collect();
            format!(
                "{} {} {}->{} {}/{} {} {} {}",
                f["kind"],
                f["severity"],
                f["src_role"],
                f["dst_role"],
                f["transport"],
                f["port"],
                f["rule"],
                f["how"],
                hosts.join(",")
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn without_inventory_the_same_blocked_and_unexpected_flows() {
    let with = audit_json(Some("samples/hybrid-identity.toml"));
    let without = audit_json(None);
    let f = faults(&with);
    // The sample's manifest: six faults plus the RDP session (unexpected).
    assert_eq!(f.len(), 7, "{f:#?}");
    assert_eq!(f, faults(&without));
    // Said at the top of the report.
    let first = &without["summary"]["assumptions"][0];
    assert!(
        first
            .as_str()
            .is_some_and(|s| s.starts_with("roles inferred from the capture")),
        "{first}"
    );
    let (_, table) = run(&[
        "audit",
        "samples/hybrid-identity.pcapng",
        "--format",
        "table",
    ]);
    assert!(
        table.contains("Assumed:   roles inferred from the capture"),
        "{table}"
    );
    let (_, md) = run(&[
        "audit",
        "samples/hybrid-identity.pcapng",
        "--format",
        "markdown",
    ]);
    assert!(
        md.contains("- Assumed: roles inferred from the capture"),
        "{md}"
    );
}

#[test]
fn roles_toml_fed_back_gives_the_same_report() {
    let (code, toml) = run(&[
        "roles",
        "samples/hybrid-identity.pcapng",
        "--format",
        "toml",
    ]);
    assert_eq!(code, Some(0));
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = dir.path().join("roles.toml");
    std::fs::write(&inv, &toml).expect("write inventory");
    let inferred = audit_json(None);
    let fed_back = audit_json(Some(inv.to_str().expect("utf-8 path")));
    assert_eq!(fed_back["findings"], inferred["findings"]);
    assert_eq!(fed_back["features"], inferred["features"]);
    for k in [
        "classified",
        "unclassified",
        "ignored",
        "findings",
        "severities",
    ] {
        assert_eq!(
            fed_back["summary"][k], inferred["summary"][k],
            "summary.{k}"
        );
    }
}

#[test]
fn names_and_endpoint_mapper_evidence_in_the_report() {
    let v = audit_json(None);
    let findings = v["findings"].as_array().expect("findings");
    let sb = findings
        .iter()
        .find(|f| f["kind"] == "blocked" && f["port"] == 5671)
        .expect("the Service Bus fault");
    assert_eq!(
        sb["hosts"][0]["dst_name"],
        "contoso-health.servicebus.windows.net"
    );
    assert!(
        sb["evidence"]
            .as_array()
            .expect("evidence")
            .iter()
            .any(|e| e
                .as_str()
                .is_some_and(|e| e.contains("matches *.servicebus.windows.net serving")))
    );
    let rpc = findings
        .iter()
        .find(|f| f["rule"] == "t1-rpc-dynamic")
        .expect("dynamic RPC");
    assert!(
        rpc["evidence"]
            .as_array()
            .expect("evidence")
            .iter()
            .any(|e| e
                .as_str()
                .is_some_and(|e| e
                    .starts_with("port 49668 handed out by the endpoint mapper of 10.0.0.4 at "))),
        "{}",
        rpc["evidence"]
    );
}

#[test]
fn roles_json_lists_roles_names_and_rpc_ports() {
    let (_, out) = run(&[
        "roles",
        "samples/hybrid-identity.pcapng",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(&out).expect("roles JSON");
    let role = |addr: &str| {
        v["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .find(|h| h["addr"] == addr)
            .map(|h| h["role"].as_str().unwrap_or("").to_string())
    };
    // The sample's inventory (samples/hybrid-identity.toml) is the ground truth.
    assert_eq!(role("10.0.1.10").as_deref(), Some("sync"));
    assert_eq!(role("10.0.0.4").as_deref(), Some("dc"));
    assert_eq!(role("10.0.0.5").as_deref(), Some("dc"));
    assert_eq!(role("10.0.2.20").as_deref(), Some("adfs"));
    assert_eq!(role("192.168.100.30").as_deref(), Some("wap"));
    assert_eq!(role("203.0.113.50").as_deref(), Some("users"));
    assert_eq!(role("52.168.10.20").as_deref(), Some("azure"));
    assert_eq!(v["rpc_endpoints"][0]["port"], 49668);
    assert_eq!(v["rpc_endpoints"][0]["mapper"], "10.0.0.4");
}

#[test]
fn flows_json_lines_carry_learned_names() {
    let (_, out) = run(&[
        "flows",
        "samples/hybrid-identity.pcapng",
        "--format",
        "jsonl",
    ]);
    let conns: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let to = |ip: &str, port: u64| {
        conns
            .iter()
            .find(|c| c["id.resp_h"] == ip && c["id.resp_p"] == port)
            .expect("connection")
    };
    // Names the sample's payloads carry (src/synth/sample.rs): SNI, DNS, HTTP Host.
    assert_eq!(
        to("20.190.128.10", 443)["resp_name"],
        "login.microsoftonline.com"
    );
    assert_eq!(
        to("52.168.10.20", 5671)["resp_name"],
        "contoso-health.servicebus.windows.net"
    );
    assert_eq!(to("93.184.220.29", 80)["resp_name"], "crl.microsoft.com");
    assert!(to("10.0.0.4", 88).get("resp_name").is_none());
}

#[test]
fn with_an_inventory_a_host_known_only_by_name_is_audited_as_azure() {
    // samples/hybrid-identity.toml leaves out the CRL host 93.184.220.29; the
    // capture names it crl.microsoft.com (HTTP Host), a catalogue hostname.
    let out = assert_cmd::Command::cargo_bin("flowaudit")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "audit",
            "samples/hybrid-identity.pcapng",
            "-i",
            "samples/hybrid-identity.toml",
            "-f",
            "json",
            "--fail-on",
            "never",
        ])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    let crl = findings
        .iter()
        .find(|f| f["kind"] == "healthy" && f["rule"] == "t2-http-crl")
        .expect("the CRL download is a healthy t2-http-crl flow");
    assert_eq!(crl["hosts"][0]["dst"], "93.184.220.29");
    assert!(
        !findings
            .iter()
            .any(|f| f["kind"] == "missing" && f["rule"] == "t2-http-crl")
    );
    assert!(!findings.iter().any(|f| f["kind"] == "unclassified"));
    let assumed = doc["summary"]["assumptions"].to_string();
    assert!(assumed.contains("93.184.220.29 (crl.microsoft.com) is not in the inventory; audited as azure by its name"), "{assumed}");
}

#[test]
fn without_inventory_and_no_role_found_the_audit_says_so_once() {
    let capture = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/captures/zeek/ldap-who-am-i.pcap");
    let out = assert_cmd::Command::cargo_bin("flowaudit")
        .unwrap()
        .args(["audit", "-f", "json"])
        .arg(&capture)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc["summary"]["assumptions"][0]
            .as_str()
            .unwrap()
            .contains("none found")
    );
    let findings = doc["findings"].as_array().unwrap();
    assert!(
        findings.iter().all(|f| f["kind"] != "missing"),
        "{findings:#?}"
    );
    assert_eq!(doc["summary"]["findings"].get("missing"), None);
}
