//! The agents outside the main page's tables (issue 17, "Catalogue"): their
//! flows audited end to end on captures the synth builder writes, so what
//! happened on the wire is known. Expected values come from the Microsoft
//! pages the rules cite (443 works, so the 8080 status reports are not
//! needed) and from the test's own inventory, never from a previous run.

mod common;

use flowaudit::synth::{Link, TcpSession, Trace};
use flowaudit::time::Timestamp;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

const SYNC: &str = "10.0.1.10";
const DC: &str = "10.0.0.4";
const AGENT: &str = "10.0.1.20";
const ADFS: &str = "10.0.2.20";
const WAP: &str = "10.0.3.30";
const LB: &str = "10.0.2.5";
const USER: &str = "10.0.50.7";

fn sa(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().expect("address"), port)
}

fn at(t0: Timestamp, secs: i64) -> Timestamp {
    Timestamp(t0.0 + secs * 1_000_000_000)
}

/// One working TCP connection from `c` to `s:port`, `secs` into the capture.
fn works(t: &mut Trace, c: &str, cport: u16, s: &str, port: u16, secs: i64) {
    let mut x = TcpSession::new(sa(c, cport), sa(s, port), 1, 2)
        .starting_at(at(flowaudit::synth::START, secs));
    x.handshake().client_data(300).server_data(900).close();
    t.add(&x);
}

/// The sync server's every-cycle flows every 90 s for 31.5 minutes, so the
/// capture covers a whole 30-min sync cycle (no silence of 2 minutes) and an
/// absent every-cycle flow would be an error.
fn background(t: &mut Trace) {
    for i in 0..22u16 {
        let (p, secs) = (40_000 + i * 10, i64::from(i) * 90);
        works(t, SYNC, p, DC, 389, secs);
        works(t, SYNC, p + 1, DC, 88, secs);
        works(t, SYNC, p + 2, DC, 53, secs);
        works(t, SYNC, p + 3, "20.190.151.7", 443, secs);
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// `flowaudit audit --format json` of the trace with this inventory.
fn audit(dir: &Path, t: &Trace, inventory: &str) -> Value {
    let cap = dir.join("capture.pcap");
    std::fs::write(&cap, t.to_pcap()).expect("write capture");
    write(dir, "inventory.toml", inventory);
    serde_json::from_str(&report(dir, "json")).expect("JSON report")
}

/// The audit, in `format`, of the capture and inventory [`audit`] wrote.
fn report(dir: &Path, format: &str) -> String {
    let (cap, inv) = (dir.join("capture.pcap"), dir.join("inventory.toml"));
    let (code, out, err) = common::run(&[
        "audit".as_ref(),
        cap.as_os_str(),
        "--inventory".as_ref(),
        inv.as_os_str(),
        "--format".as_ref(),
        format.as_ref(),
        "--fail-on".as_ref(),
        "never".as_ref(),
    ]);
    assert_eq!(code, Some(0), "stderr: {err}");
    out
}

fn findings<'a>(doc: &'a Value, kind: &str) -> Vec<&'a Value> {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

/// The finding of this kind about this rule, if any.
fn about<'a>(doc: &'a Value, kind: &str, rule: &str) -> Option<&'a Value> {
    findings(doc, kind).into_iter().find(|f| f["rule"] == rule)
}

fn pta_inventory() -> String {
    format!(
        "features = [\"password-hash-sync\", \"pass-through-auth\"]\n[roles]\n\
         sync = [\"{SYNC}\"]\ndc = [\"{DC}\"]\nagent = [\"{AGENT}\"]\n"
    )
}

#[test]
fn a_pta_agent_on_443_alone_misses_nothing_on_8080() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Trace::new(Link::ethernet());
    background(&mut t);
    // The standalone agent talks to an Entra ID address of endpoint set 56
    // that the inventory does not list, on 443 only; so does the agent on
    // the sync server.
    works(&mut t, AGENT, 50_000, "20.190.128.77", 443, 10);
    works(&mut t, AGENT, 50_001, "20.190.128.77", 443, 1000);
    works(&mut t, SYNC, 50_002, "40.126.12.9", 443, 20);
    t.sort();
    let doc = audit(dir.path(), &t, &pta_inventory());

    assert!(
        doc["summary"]["covered_seconds"].as_f64().unwrap() >= 1800.0,
        "the capture covers a sync cycle: {:#}",
        doc["summary"]
    );
    for rule in ["pta-agent-status", "pta-sync-status"] {
        assert!(
            about(&doc, "missing", rule).is_none(),
            "443 works, so {rule} (8080) is not missing: {doc:#}"
        );
    }
    // The agent's 443 is the PTA page's rule, to the azure role, though the
    // inventory names no azure host: the address is in the catalogue's range.
    let h = about(&doc, "healthy", "pta-agent-https").expect("healthy PTA agent");
    assert_eq!(
        (&h["src_role"], &h["dst_role"]),
        (&"agent".into(), &"azure".into())
    );
    assert_eq!(h["hosts"][0]["dst"], "20.190.128.77");
    assert!(
        findings(&doc, "unexpected").is_empty() && findings(&doc, "unclassified").is_empty(),
        "{doc:#}"
    );
}

#[test]
fn with_443_failing_the_8080_fallback_is_only_an_info() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Trace::new(Link::ethernet());
    background(&mut t);
    // The agent's 443 is dropped and it never tries 8080.
    let mut blocked = TcpSession::new(sa(AGENT, 50_000), sa("20.190.128.77", 443), 1, 2)
        .starting_at(at(flowaudit::synth::START, 10));
    blocked.unanswered(2, flowaudit::time::Duration(1_000_000_000));
    t.add(&blocked).sort();
    let doc = audit(dir.path(), &t, &pta_inventory());
    let b = about(&doc, "blocked", "pta-agent-https").expect("blocked 443");
    assert_eq!(b["severity"], "error", "{b:#}");
    // The finding names the rule's page and section; a table rule's does not.
    assert_eq!(
        b["page"],
        "https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-pta-quick-start"
    );
    assert_eq!(b["section"], "Step 1: Check the prerequisites");
    let t1 = about(&doc, "healthy", "t1-ldap").expect("sync LDAP works");
    assert!(
        t1.get("page").is_none() && t1.get("section").is_none(),
        "{t1:#}"
    );
    // The change request to open it cites them too.
    let csv = report(dir.path(), "firewall-csv");
    let row = csv
        .lines()
        .find(|l| l.contains("pta-agent-https"))
        .unwrap_or_else(|| panic!("no row to open: {csv}"));
    assert!(
        row.contains("how-to-connect-pta-quick-start")
            && row.contains("Step 1: Check the prerequisites"),
        "{row}"
    );
    let m = about(&doc, "missing", "pta-agent-status").expect("8080 judged");
    assert_eq!(m["severity"], "info", "{m:#}");
    assert_eq!(m["port"], 8080);
    assert!(
        m["evidence"].as_array().unwrap().iter().any(|e| e
            .as_str()
            .unwrap()
            .contains("section \"Step 1: Check the prerequisites\"")),
        "the evidence names the page's section: {m:#}"
    );
    // The sync server's own PTA 443 works: its 8080 rule is not judged.
    assert!(
        about(&doc, "missing", "pta-sync-status").is_none(),
        "{doc:#}"
    );
}

/// One capture with every new agent's flow, between the roles the pages name.
fn agents_trace() -> Trace {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t);
    // Seamless SSO: a desktop asks a DC for a ticket, then hands it to
    // autologon.microsoftazuread-sso.com (an Entra ID address).
    works(&mut t, USER, 51_000, DC, 88, 30);
    works(&mut t, USER, 51_001, "20.190.130.5", 443, 31);
    // The AD FS load balancer probes the farm and the proxy on 80.
    works(&mut t, LB, 51_100, ADFS, 80, 40);
    works(&mut t, LB, 51_101, WAP, 80, 41);
    // A Cloud Sync agent / connector server: LDAP to the DC (a domain
    // member), 443 to Entra ID's newer ranges, 80 for CRLs.
    works(&mut t, AGENT, 51_200, DC, 389, 50);
    works(&mut t, AGENT, 51_201, "20.231.130.1", 443, 51);
    works(&mut t, AGENT, 51_202, "20.20.40.2", 443, 52);
    // The WAP forwards to AD FS; a user reaches the WAP.
    works(&mut t, WAP, 51_300, ADFS, 443, 60);
    works(&mut t, "203.0.113.9", 51_301, WAP, 443, 61);
    // Not allowed by any rule: remote desktop from the load balancer.
    works(&mut t, LB, 51_400, ADFS, 3389, 70);
    t.sort();
    t
}

fn agents_inventory(features: &str) -> String {
    format!(
        "features = [{features}]\n[roles]\nsync = [\"{SYNC}\"]\ndc = [\"{DC}\"]\n\
         agent = [\"{AGENT}\"]\nadfs = [\"{ADFS}\"]\nwap = [\"{WAP}\"]\nlb = [\"{LB}\"]\n\
         users = [\"{USER}\", \"203.0.113.0/24\"]\n"
    )
}

#[test]
fn the_new_agents_flows_are_allowed_between_their_roles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = agents_trace();
    let doc = audit(
        dir.path(),
        &t,
        &agents_inventory(
            "\"password-hash-sync\", \"seamless-sso\", \"adfs\", \"cloud-sync\", \
             \"private-network-connector\"",
        ),
    );
    for (rule, src, dst) in [
        ("sso-client-kerberos", "users", "dc"),
        ("sso-client-https", "users", "azure"),
        ("adfs-lb-probe", "lb", "adfs"),
        ("cloud-sync-https", "agent", "azure"),
    ] {
        let h = about(&doc, "healthy", rule).unwrap_or_else(|| panic!("{rule}: {doc:#}"));
        assert_eq!(
            (h["src_role"].as_str(), h["dst_role"].as_str()),
            (Some(src), Some(dst))
        );
    }
    // The probe of the WAP is the same rule, towards the other role.
    assert!(
        findings(&doc, "healthy")
            .iter()
            .any(|f| f["rule"] == "adfs-lb-probe" && f["dst_role"] == "wap"),
        "{doc:#}"
    );
    // The same connections serve the private network connector's rule.
    let pnc = about(&doc, "healthy", "connector-https").expect("connector healthy");
    assert_eq!(pnc["src_role"], "agent");
    assert_eq!(pnc["hosts_total"], 2, "{pnc:#}");
    // Only the remote desktop is unexpected; nothing reaches a host of no role.
    let unexpected = findings(&doc, "unexpected");
    assert_eq!(unexpected.len(), 1, "{doc:#}");
    assert_eq!(unexpected[0]["port"], 3389);
    assert_eq!(unexpected[0]["src_role"], "lb");
    assert!(findings(&doc, "unclassified").is_empty(), "{doc:#}");
}

#[test]
fn without_their_features_the_same_flows_are_unexpected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = agents_trace();
    // No Seamless SSO, no Cloud Sync, no connector: their flows are allowed
    // only by rules of features the inventory does not enable.
    let doc = audit(
        dir.path(),
        &t,
        &agents_inventory("\"password-hash-sync\", \"adfs\""),
    );
    let unexpected = findings(&doc, "unexpected");
    for (src, dst, port, feature) in [
        ("users", "dc", 88, "seamless-sso"),
        ("users", "azure", 443, "seamless-sso"),
        // Three features' rules allow it; the evidence names the first.
        ("agent", "azure", 443, "which the inventory does not enable"),
    ] {
        let f = unexpected
            .iter()
            .find(|f| f["src_role"] == src && f["dst_role"] == dst && f["port"] == port)
            .unwrap_or_else(|| panic!("{src} -> {dst} {port}: {doc:#}"));
        assert!(f.to_string().contains(feature), "{f:#}");
    }
    // The probe needs only adfs, which is enabled.
    assert!(about(&doc, "healthy", "adfs-lb-probe").is_some(), "{doc:#}");
}

#[test]
fn a_load_balancer_is_judged_only_when_the_deployment_has_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Trace::new(Link::ethernet());
    background(&mut t);
    works(&mut t, WAP, 51_300, ADFS, 443, 60);
    t.sort();
    let base = format!(
        "features = [\"password-hash-sync\", \"adfs\"]\n[roles]\nsync = [\"{SYNC}\"]\n\
         dc = [\"{DC}\"]\nadfs = [\"{ADFS}\"]\nwap = [\"{WAP}\"]\n"
    );
    // No load balancer in the inventory: nothing to say about its probe.
    let doc = audit(dir.path(), &t, &base);
    assert!(
        !doc.to_string().contains("adfs-lb-probe"),
        "no lb, no probe finding: {doc:#}"
    );
    // One listed that never probes: an info, since the probe is recommended.
    let doc = audit(dir.path(), &t, &format!("{base}lb = [\"{LB}\"]\n"));
    let m = about(&doc, "missing", "adfs-lb-probe").expect("judged with an lb");
    assert_eq!(m["severity"], "info", "{m:#}");
}
